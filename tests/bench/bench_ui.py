"""Console UI benchmark: the full app, headless, receiving 10,000 responses from the embedded server.

Run: ``python tests/bench/bench_ui.py`` (``--count``, ``--size``, ``--rounds`` to vary).

Each phase runs in its own child process against the same server child, so peak RSS is per phase:

- **bare client**: ``RemSvcClient.stream`` iterated to the end, nothing else (the baseline);
- **app**: ``ConsoleApp`` running headless at 120x40: the commands go in the editor, the run key is
  pressed, the pane's worker journals every response and the results table, summary and output view
  update until the dispatch ends; a probe task in the app's event loop records every stall, reported
  separately for starting the dispatch, while responses stream in, and the 2 s after it ended;
- **app idle**: the same app, same editor text, started and stopped without dispatching (RSS baseline).

Printed: app time / bare time (target <= 1.10x), the longest event-loop stall while starting the
dispatch (key press to first result: parsing, validation, journal start record, rows; target
< 50 ms) and while responses stream in (target < 50 ms), and peak RSS of each phase for ``--count``
results of ``--size`` bytes each. The journal is written by its own thread (``Journal(background=
True)``); the stalls show what is left on the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_env import child_env  # the script's own directory is on sys.path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def output_command(size: int) -> str:
    """One shell builtin printing exactly ``size`` bytes: no extra process per command."""
    return f"printf '%0{size - 1}d\\n' 0"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def bare_phase(port: int, count: int, size: int) -> dict:
    from console.remsvc.client import RemSvcClient
    from console.remsvc.model import Command, CommandResult, StreamFinished, Target

    commands = [Command(output_command(size))] * count
    results = 0
    async with RemSvcClient(Target("bench", "127.0.0.1", port)) as client:
        start = time.perf_counter()
        cpu = cpu_seconds()
        async for event in client.stream(commands):
            if isinstance(event, CommandResult):
                results += 1
            elif isinstance(event, StreamFinished) and not event.ok:
                raise SystemExit(f"bare stream failed: {event.error}")
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
    assert results == count, f"bare client got {results} of {count}"
    return {"seconds": elapsed, "cpu_s": cpu, "rss_mib": peak_rss_mib()}


async def app_phase(port: int, count: int, size: int, idle: bool) -> dict:
    from console.remsvc.model import CmdState, Target
    from console.settings import Settings
    from console.ui.app import ConsoleApp
    from console.ui.context import ConsoleContext

    workdir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    settings = Settings(journal_dir=workdir / "journal", save_dir=workdir / "saved", fanout_confirm_threshold=10)
    text = "\n".join([output_command(size)] * count)
    ctx = ConsoleContext(settings=settings, targets=[Target("bench", "127.0.0.1", port)],
                         editor_text=text, poll_status=False)
    app = ConsoleApp(ctx)
    service_ms: list[float] = []
    real_start = ctx.service.start

    def timed_start(*args, **kwargs):
        """The dispatch service's share of the start-up stall: checks, journal start record."""
        began = time.perf_counter()
        try:
            return real_start(*args, **kwargs)
        finally:
            service_ms.append((time.perf_counter() - began) * 1000.0)

    ctx.service.start = timed_start
    stalls: list[tuple[float, float]] = []
    probing = True

    async def probe() -> None:
        """Sleep 5 ms at a time; any lateness is time the loop spent on something else."""
        loop = asyncio.get_running_loop()
        tick = 0.005
        while probing:
            before = loop.time()
            await asyncio.sleep(tick)
            after = loop.time()
            stalls.append((after, after - before - tick))

    async with app.run_test(headless=True, size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        if idle:
            return {"rss_mib": peak_rss_mib()}
        pane = app.dispatch_pane
        loop = asyncio.get_running_loop()
        probe_task = asyncio.create_task(probe())
        await asyncio.sleep(0.1)
        pressed = loop.time()
        start = time.perf_counter()
        cpu = cpu_seconds()
        await pilot.press("ctrl+r")
        while pane.model is None or pane.model.counts[CmdState.DONE] == 0:
            await asyncio.sleep(0.001)
        first_result = loop.time()
        while pane.model.running:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
        ended = loop.time()
        await asyncio.sleep(2.0)
        probing = False
        await probe_task
        done = pane.model.counts[CmdState.DONE]
        journal_lines = sum(len(p.read_text().splitlines()) for p in (workdir / "journal").glob("*.jsonl"))
    assert done == count, f"app shows {done} of {count} done"
    assert journal_lines == count + 3, f"journal holds {journal_lines} lines for {count} results"
    during = [s for t, s in stalls if first_result < t <= ended]
    return {
        "seconds": elapsed,
        "cpu_s": cpu,
        "start_stall_ms": max((s for t, s in stalls if pressed < t <= first_result), default=0.0) * 1000.0,
        "service_start_ms": sum(service_ms),
        "max_stall_ms": max(during) * 1000.0,
        "p99_stall_ms": statistics.quantiles(during, n=100)[98] * 1000.0,
        "after_stall_ms": max((s for t, s in stalls if t > ended), default=0.0) * 1000.0,
        "rss_mib": peak_rss_mib(),
    }


def run_phase(phase: str, port: int, count: int, size: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--port", str(port), "--count", str(count), "--size", str(size)],
        capture_output=True, text=True, check=False, env=child_env(),
    )
    if out.returncode != 0:
        raise SystemExit(f"{phase} phase failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "console", "serve", "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=child_env())
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="responses per stream (default 10000)")
    parser.add_argument("--size", type=int, default=1024, help="bytes of stdout per response (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="bare/app pairs to run; medians are printed (default 3)")
    parser.add_argument("--phase", choices=("bare", "app", "idle"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "bare":
        print(json.dumps(asyncio.run(bare_phase(args.port, args.count, args.size))))
        return 0
    if args.phase in ("app", "idle"):
        print(json.dumps(asyncio.run(app_phase(args.port, args.count, args.size, args.phase == "idle"))))
        return 0

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    proc, port = start_server()
    try:
        run_phase("bare", port, min(args.count, 500), args.size)
        bare, app = [], []
        for round_no in range(1, args.rounds + 1):
            bare.append(run_phase("bare", port, args.count, args.size))
            app.append(run_phase("app", port, args.count, args.size))
            print(f"round {round_no}: bare {bare[-1]['seconds']:.2f}s ({bare[-1]['cpu_s']:.2f}s CPU)  "
                  f"app {app[-1]['seconds']:.2f}s ({app[-1]['cpu_s']:.2f}s CPU)  "
                  f"ratio {app[-1]['seconds'] / bare[-1]['seconds']:.3f}x  start stall {app[-1]['start_stall_ms']:.1f} ms  "
                  f"max stall {app[-1]['max_stall_ms']:.1f} ms  after {app[-1]['after_stall_ms']:.1f} ms")
        idle = run_phase("idle", port, args.count, args.size)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    bare_s = statistics.median(r["seconds"] for r in bare)
    app_s = statistics.median(r["seconds"] for r in app)
    ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(app, bare))
    stall = max(r["max_stall_ms"] for r in app)
    p99 = statistics.median(r["p99_stall_ms"] for r in app)
    start_stall = max(r["start_stall_ms"] for r in app)
    service_start = max(r["service_start_ms"] for r in app)
    after_stall = max(r["after_stall_ms"] for r in app)
    print()
    print(f"{args.count} responses of {args.size} B, median of {args.rounds} round(s):")
    bare_cpu = statistics.median(r["cpu_s"] for r in bare)
    app_cpu = statistics.median(r["cpu_s"] for r in app)
    print(f"  bare client        {bare_s:8.2f} s   {args.count / bare_s:7.0f} responses/s   CPU {bare_cpu:.2f} s")
    print(f"  app (headless)     {app_s:8.2f} s   {args.count / app_s:7.0f} responses/s   CPU {app_cpu:.2f} s")
    print(f"  app / bare         {ratio:8.3f}x   median of per-round ratios (target <= 1.10x) {'OK' if ratio <= 1.10 else 'MISSED'}")
    print(f"  start-up stall     {start_stall:8.1f} ms  (key press to first result: parse, check, journal, "
          f"{args.count} rows; target < 50 ms) {'OK' if start_stall < 50 else 'MISSED'}; "
          f"of which DispatchService.start {service_start:.1f} ms")
    print(f"  streaming stall    {stall:8.1f} ms  (longest while responses arrive; target < 50 ms) "
          f"{'OK' if stall < 50 else 'MISSED'}; p99 {p99:.1f} ms")
    print(f"  longest stall in the 2 s after it ended {after_stall:.1f} ms")
    print(f"  peak RSS: bare client {statistics.median(r['rss_mib'] for r in bare):.1f} MiB, "
          f"app idle {idle['rss_mib']:.1f} MiB, app after {args.count} x {args.size} B results "
          f"{statistics.median(r['rss_mib'] for r in app):.1f} MiB")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

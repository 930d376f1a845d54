"""Health watching cost: 50 Airflow API endpoints polled every second for a minute.

Run: ``python tests/bench/bench_health.py`` (``--endpoints``, ``--interval``, ``--seconds`` to vary).
The endpoints are served by the fault-injection server in a child process, so only the console's
own CPU is counted. Three phases in one process, each measured with ``time.process_time()``:

1. idle: the same process with an event loop and nothing to do (the floor);
2. bare: the same requests (3 per endpoint per interval) with plain pooled httpx clients and no
   parsing, history or scheduling — what any poller must at least pay;
3. console: ``HealthPoller`` with every probe, history, transitions and an event consumer.

Targets: the console phase under 5 % of one core, and memory flat once the history rings are full:
RSS growth under 2 MiB and Python's allocated-block count stable between the end of warm-up
(rings full: ``--history`` samples) and the end of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from console.health.http_probes import PATHS, HttpSettings  # noqa: E402
from console.health.results import State  # noqa: E402
from console.health.watch import build_poller  # noqa: E402

CPU_TARGET_PCT = 5.0
RSS_GROWTH_TARGET_MIB = 2.0


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.http_fault_server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"fault server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


async def measure(seconds: float, body) -> tuple[float, float, float]:
    """Run ``body`` for ``seconds``; return (CPU % of one core, of which kernel %, wall seconds)."""
    t0, wall0 = os.times(), time.perf_counter()
    await body(seconds)
    t1, wall = os.times(), time.perf_counter() - wall0
    user, system = t1.user - t0.user, t1.system - t0.system
    return 100.0 * (user + system) / wall, 100.0 * system / wall, wall


async def idle(seconds: float) -> None:
    await asyncio.sleep(seconds)


def bare_phase(urls: list[str], interval: float):
    async def body(seconds: float) -> None:
        clients = [httpx.AsyncClient(timeout=5.0) for _ in urls]
        paths = [PATHS[name] for name in ("dag_processing", "monitor", "execution")]
        deadline = time.perf_counter() + seconds

        async def one(client: httpx.AsyncClient, url: str) -> None:
            while time.perf_counter() < deadline:
                await asyncio.gather(*(client.get(url + p) for p in paths))
                await asyncio.sleep(interval)

        await asyncio.gather(*(one(c, u) for c, u in zip(clients, urls)))
        for client in clients:
            await client.aclose()

    return body


def console_phase(urls: list[str], interval: float, history: int, samples: list[tuple[float, float, int]],
                  counts: dict):
    async def body(seconds: float) -> None:
        poller = build_poller(urls, interval=interval, http=HttpSettings(connect_timeout=3.0, read_timeout=5.0),
                              history_size=history)
        start = time.perf_counter()

        async def consume() -> None:
            async for event in poller.events():
                counts["events"] += 1
                if event.snapshot.state is not State.UP:
                    counts["not_up"] += 1

        async with poller:
            consumer = asyncio.create_task(consume())
            while (elapsed := time.perf_counter() - start) < seconds:
                samples.append((elapsed, rss_mib(), sys.getallocatedblocks()))
                await asyncio.sleep(min(5.0, seconds - elapsed))
        await consumer
        samples.append((time.perf_counter() - start, rss_mib(), sys.getallocatedblocks()))
        counts["history_len"] = max(len(poller.history(k)) for k in poller.keys)

    return body


async def main(args: argparse.Namespace) -> int:
    idle_rss = rss_mib()
    server, port = start_server()
    try:
        urls = [f"http://127.0.0.1:{port}/healthy/ep{i:02d}" for i in range(args.endpoints)]
        load0 = os.getloadavg()
        print(f"health benchmark: {args.endpoints} endpoints x 4 probes, interval {args.interval:g} s, "
              f"{args.seconds:g} s; load average {load0[0]:.2f}")
        idle_pct, idle_sys, _ = await measure(args.baseline_seconds, idle)
        bare_pct, bare_sys, _ = await measure(args.baseline_seconds, bare_phase(urls, args.interval))
        samples: list[tuple[float, float, int]] = []
        counts = {"events": 0, "not_up": 0, "history_len": 0}
        console_pct, console_sys, wall = await measure(
            args.seconds, console_phase(urls, args.interval, args.history, samples, counts))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    warmup = args.history * args.interval + 5.0
    _, warm_rss, warm_blocks = next((x for x in samples if x[0] >= warmup), samples[0])
    _, end_rss, end_blocks = samples[-1]
    growth = end_rss - warm_rss
    polls_per_s = counts["events"] / wall
    print(f"  idle process           CPU {idle_pct:6.2f} % of one core (kernel {idle_sys:.2f} %)")
    print(f"  bare httpx, same load  CPU {bare_pct:6.2f} %               (kernel {bare_sys:.2f} %)")
    print(f"  console HealthPoller   CPU {console_pct:6.2f} %               (kernel {console_sys:.2f} %; "
          f"{polls_per_s:.0f} polls/s, "
          f"{counts['not_up']} not up, {console_pct / bare_pct if bare_pct else float('nan'):.2f}x bare)")
    print(f"  RSS idle process {idle_rss:.1f} MiB; console phase start {samples[0][1]:.1f} MiB, rings full "
          f"({counts['history_len']} samples, t={warmup:g} s) {warm_rss:.1f} MiB, end {end_rss:.1f} MiB "
          f"(growth {growth:+.2f} MiB)")
    print(f"  Python allocated blocks: rings full {warm_blocks:,}, end {end_blocks:,} "
          f"({(end_blocks - warm_blocks) / warm_blocks:+.2%})")
    print("  RSS samples (MiB): " + ", ".join(f"{t:.0f}s={rss:.1f}" for t, rss, _ in samples))
    cpu_ok = console_pct < CPU_TARGET_PCT
    mem_ok = growth < RSS_GROWTH_TARGET_MIB
    load1 = os.getloadavg()
    print(f"  CPU target < {CPU_TARGET_PCT:g} %: {'PASS' if cpu_ok else 'FAIL'};  "
          f"RSS growth < {RSS_GROWTH_TARGET_MIB:g} MiB: {'PASS' if mem_ok else 'FAIL'};  "
          f"load average at end {load1[0]:.2f}")
    return 0 if cpu_ok and mem_ok and counts["not_up"] == 0 else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--history", type=int, default=20,
                        help="history ring size (samples); memory is compared once the rings are full")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))

"""Dispatch benchmarks: the embedded server, the console's client path and fan-out, each against a baseline.

Run: ``python tests/bench/bench_dispatch.py`` (``--only server|client|fanout``, ``--commands``,
``--rounds``, ``--servers`` to vary). Every figure is a ratio against a baseline measured in the same
run, alternating with it, so the ratios hold on any machine:

- server: ``remsvc-console serve`` against a minimal grpc.aio server doing the same process starts
  (``subprocess.run`` of ``/bin/sh -c CMD`` straight in its stream handler; also the same in a thread),
  all driven by the same bare client; wall time and the server process's own CPU per command.
- client: ``run --json --no-journal`` as a whole process, and the in-process client path (the
  DispatchService that ``run`` and the TUI use), against a bare grpc.aio client; the server answers
  without spawning anything, so the client is what is measured.
- fan-out: 20 embedded servers x 50 ``sleep 0.02`` at default options against the slowest server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from console.remsvc._pb import remsvc_pb2, remsvc_pb2_grpc  # noqa: E402
from console.remsvc.model import command_hash  # noqa: E402
from bench_env import child_env  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
BARE_CLIENT = """\
import asyncio, sys, grpc
from console.remsvc._pb import remsvc_pb2
from console.remsvc.model import command_hash

async def main(address, count):
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.stream_stream("/RS.RemSvc/RemCmdStrm",
            request_serializer=remsvc_pb2.RemCmdMsg.SerializeToString,
            response_deserializer=remsvc_pb2.RemResMsg.FromString)()
        async def write():
            for tid in range(1, count + 1):
                await call.write(remsvc_pb2.RemCmdMsg(cmd="true", tid=tid, hsh=command_hash("true")))
            await call.done_writing()
        writer = asyncio.create_task(write())
        answers = [answer async for answer in call]
        await writer
    assert len(answers) == count

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


# ---------------------------------------------------------------------------------------------- servers

def run_shell(cmd: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["/bin/sh", "-c", cmd], stdin=subprocess.DEVNULL, capture_output=True,
                          start_new_session=True, check=False)


def answer(request: remsvc_pb2.RemCmdMsg, done: subprocess.CompletedProcess[bytes]) -> remsvc_pb2.RemResMsg:
    return remsvc_pb2.RemResMsg(rc=done.returncode, tid=request.tid, hsh=request.hsh,
                                out=done.stdout.decode(errors="replace"), err=done.stderr.decode(errors="replace"))


class MinimalSpawningServicer(remsvc_pb2_grpc.RemSvcServicer):
    """The least a Python gRPC server can do per command: one blocking ``subprocess.run`` on its loop."""

    async def RemCmdStrm(self, request_iterator, context):
        async for request in request_iterator:
            yield answer(request, run_shell(request.cmd))


class MinimalThreadedServicer(remsvc_pb2_grpc.RemSvcServicer):
    """The same, but starting processes off the event loop (``asyncio.to_thread``), as ours must."""

    async def RemCmdStrm(self, request_iterator, context):
        async for request in request_iterator:
            yield answer(request, await asyncio.to_thread(run_shell, request.cmd))


class FastServicer(remsvc_pb2_grpc.RemSvcServicer):
    """Answers every command at once with rc 0, spawning nothing: never the bottleneck for a client."""

    async def RemCmdStrm(self, request_iterator, context):
        async for request in request_iterator:
            yield remsvc_pb2.RemResMsg(rc=0, tid=request.tid, hsh=request.hsh)


async def serve(servicer: remsvc_pb2_grpc.RemSvcServicer) -> None:
    server = grpc.aio.server()
    remsvc_pb2_grpc.add_RemSvcServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


def start(argv: list[str]) -> tuple[subprocess.Popen, str]:
    env = child_env()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"{argv} did not start: {line!r}")
    return proc, line.split()[-1]


def start_embedded() -> tuple[subprocess.Popen, str]:
    return start([sys.executable, "-m", "console", "serve", "--port", "0", "--log-level", "warning"])


def start_bench_server(kind: str) -> tuple[subprocess.Popen, str]:
    return start([sys.executable, __file__, "--serve", kind])


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(10)


def process_cpu_s(pid: int) -> float:
    """User + system CPU of one process itself (not its children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# ---------------------------------------------------------------------------------------------- clients

async def bare_stream(address: str, count: int, cmd: str = "true") -> float:
    """Write every command, read every answer, nothing else; returns the wall time."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.stream_stream(
            "/RS.RemSvc/RemCmdStrm",
            request_serializer=remsvc_pb2.RemCmdMsg.SerializeToString,
            response_deserializer=remsvc_pb2.RemResMsg.FromString,
        )()
        start_s = time.perf_counter()

        async def write():
            for tid in range(1, count + 1):
                await call.write(remsvc_pb2.RemCmdMsg(cmd=cmd, tid=tid, hsh=command_hash(cmd)))
            await call.done_writing()

        writer = asyncio.create_task(write())
        answers = [answer async for answer in call]
        await writer
        elapsed = time.perf_counter() - start_s
    assert len(answers) == count and all(a.rc == 0 for a in answers), "bare client: missing or failed answers"
    return elapsed


async def console_dispatch(addresses: list[str], count: int, cmd: str = "true", *, tui: bool = False) -> float:
    """The console's own path: DispatchService, fan-out, typed events handed to a callback as they
    arrive; returns the wall time. As ``run --no-journal`` drives it, or with ``tui`` as the Dispatch
    pane does (an event per command sent too, each kept for the next refresh)."""
    from console.dispatch_service import DispatchOptions, DispatchService
    from console.remsvc.model import Command, Target

    targets = [Target(f"s{i}", *_host_port(a)) for i, a in enumerate(addresses)]
    options = DispatchOptions(src="bench", via="tui" if tui else "run")
    commands = [Command(cmd=cmd, src=options.src) for _ in range(count)]
    kept: list = []
    start_s = time.perf_counter()
    run = DispatchService(journal_enabled=False, sent_events=tui).start(targets, commands, options, confirmed=True)
    outcome = await run.complete(kept.append if tui else None)
    elapsed = time.perf_counter() - start_s
    finished = [o.finished for o in outcome.outcomes.values()]
    assert len(finished) == len(targets) and all(e is not None and e.ok for e in finished), \
        [e.error for e in finished if e is not None and not e.ok]
    return elapsed


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def timed_cpu(func, *args) -> tuple[float, float]:
    """Wall seconds (as the function reports them) and this process's CPU seconds for one call."""
    cpu = time.process_time()
    wall = func(*args)
    return wall, time.process_time() - cpu


def child_run(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of a whole child process (interpreter start included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start_s = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    wall = time.perf_counter() - start_s
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-800:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# ---------------------------------------------------------------------------------------------- benches

def bench_server(n: int, rounds: int) -> None:
    servers = {
        "minimal": start_bench_server("minimal"),
        "threaded": start_bench_server("threaded"),
        "ours": start_embedded(),
    }
    try:
        for _, address in servers.values():
            asyncio.run(bare_stream(address, 200))  # warm every server
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, (proc, address) in servers.items():
                cpu = process_cpu_s(proc.pid)
                wall = asyncio.run(bare_stream(address, n))
                runs[name].append((wall, process_cpu_s(proc.pid) - cpu))
    finally:
        stop([proc for proc, _ in servers.values()])
    med = {name: tuple(statistics.median(x) for x in zip(*v)) for name, v in runs.items()}
    labels = {
        "minimal": "minimal grpc.aio, subprocess.run on loop",
        "threaded": "minimal grpc.aio, subprocess.run in thread",
        "ours": "embedded server (remsvc-console serve)",
    }
    print(f"server: one stream of {n} `true` from a bare client, median of {rounds} alternating rounds")
    for name, (wall, cpu) in med.items():
        print(f"  {labels[name]:<43}: {wall:6.3f} s {n / wall:6.0f} cmds/s  server CPU {cpu / n * 1000:.3f} ms/cmd")
    (ow, oc) = med["ours"]
    for name in ("minimal", "threaded"):
        (bw, bc) = med[name]
        goal = " (target <= 1.15x)" if name == "minimal" else ""
        print(f"  ratio embedded/{name:<27}: {ow / bw:6.3f}x time{goal}, {oc / bc:.3f}x server CPU")
    print("  (compiled RemSvc server, seeds README: ~1,350 cmds/s quiet, 786-792 under load, 0.24 ms CPU/cmd)")


def bench_client(n: int, rounds: int) -> None:
    fast, address = start_bench_server("fast")
    env = child_env({k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "REMSVC_CONSOLE_"))},
                    AIRFLOW_CONN_BENCH=f"remsvc://{address}")
    stdin = b"true\n" * n
    run_argv = [sys.executable, "-m", "console", "run", "--conn", "bench", "--cmd", "-", "--json", "--no-journal"]
    bare_argv = [sys.executable, "-c", BARE_CLIENT, address, str(n)]
    try:
        asyncio.run(bare_stream(address, 200))
        asyncio.run(console_dispatch([address], 200))
        child_run(bare_argv, env)
        child_run(run_argv, env, stdin)
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in ("bare", "ours", "tui", "bare proc", "run proc")}
        server_cpu = []
        for _ in range(rounds):
            cpu = process_cpu_s(fast.pid)
            runs["bare"].append(timed_cpu(lambda: asyncio.run(bare_stream(address, n))))
            server_cpu.append(process_cpu_s(fast.pid) - cpu)
            runs["ours"].append(timed_cpu(lambda: asyncio.run(console_dispatch([address], n))))
            runs["tui"].append(timed_cpu(lambda: asyncio.run(console_dispatch([address], n, tui=True))))
            runs["bare proc"].append(child_run(bare_argv, env))
            runs["run proc"].append(child_run(run_argv, env, stdin))
    finally:
        stop([fast])
    med = {k: tuple(statistics.median(x) for x in zip(*v)) for k, v in runs.items()}
    print(f"client: one stream of {n} `true` to a server that answers without spawning, median of {rounds} rounds")
    busy = statistics.median(server_cpu) / med["bare"][0]
    print(f"  fast server: {statistics.median(server_cpu) / n * 1000:.3f} ms CPU per answer, busy {busy:.0%} of the "
          f"bare client's run (bare client {med['bare'][1] / n * 1000:.3f} ms CPU per answer)")
    for label, base, ours in (("in-process, as run drives it: DispatchService vs bare grpc.aio", "bare", "ours"),
                              ("in-process, as the Dispatch pane drives it (sent events too)", "bare", "tui"),
                              ("whole process: run --json --no-journal vs bare client", "bare proc", "run proc")):
        (bw, bc), (ow, oc) = med[base], med[ours]
        print(f"  {label}")
        print(f"    bare    : {bw:6.3f} s wall  {bc / n * 1000:.3f} ms CPU/cmd")
        print(f"    console : {ow:6.3f} s wall  {oc / n * 1000:.3f} ms CPU/cmd")
        print(f"    ratio   : {ow / bw:6.3f}x wall (target <= 1.10x), {oc / bc:.3f}x CPU (target <= 1.25x)")


def bench_fanout(servers: int, per_server: int, command: str) -> None:
    started = [start_embedded() for _ in range(servers)]
    addresses = [address for _, address in started]
    try:
        asyncio.run(console_dispatch(addresses, 2, command))  # warm every server
        singles = [asyncio.run(console_dispatch([address], per_server, command)) for address in addresses]
        together = asyncio.run(console_dispatch(addresses, per_server, command))
    finally:
        stop([proc for proc, _ in started])
    slowest = max(singles)
    print(f"fan-out: {servers} servers x {per_server} `{command}` at default options (DispatchService)")
    print(f"  slowest single server alone : {slowest:6.3f} s  (fastest {min(singles):.3f} s)")
    print(f"  all {servers} servers at once     : {together:6.3f} s")
    print(f"  ratio fan-out/slowest       : {together / slowest:6.3f}x  (target <= 1.4x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("server", "client", "fanout"), action="append")
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--server-commands", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--per-server", type=int, default=50)
    parser.add_argument("--fanout-command", default="sleep 0.02",
                        help="command for the fan-out run; it waits rather than burns CPU, as on separate hosts")
    parser.add_argument("--serve", choices=("minimal", "threaded", "fast"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        servicers = {"minimal": MinimalSpawningServicer, "threaded": MinimalThreadedServicer, "fast": FastServicer}
        asyncio.run(serve(servicers[args.serve]()))
        return
    only = set(args.only or ("server", "client", "fanout"))
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, grpcio {grpc.__version__}, "
          f"load {os.getloadavg()[0]:.2f}")
    if "server" in only:
        bench_server(args.server_commands, args.rounds)
    if "client" in only:
        bench_client(args.commands, args.rounds)
    if "fanout" in only:
        bench_fanout(args.servers, args.per_server, args.fanout_command)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

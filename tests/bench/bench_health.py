"""Health watching cost: 10 Airflow API servers, 5 supervisord instances and 20 RemSvc servers every 5 s.

Run: ``python tests/bench/bench_health.py`` (``--seconds``, ``--rounds``, ``--interval``, ``--api``,
``--supervisors``, ``--remsvc`` to vary). Every peer runs in child processes (the fault-injection HTTP server answering
like Airflow, real supervisord instances on unix sockets, the embedded RemSvc server), so only the
console's own CPU is counted. Three phases in one process, each measured with ``os.times()``:

1. idle: the same process with an event loop and nothing to do (the floor);
2. bare: the same requests on the same schedule (interval ± the poller's jitter) with plain pooled httpx clients (GET for the API
   servers, the XML-RPC POST for supervisord) and plain grpc.aio calls (Ping, GetStatus), no
   parsing, history or scheduling — what any watcher must at least pay;
3. console: ``HealthPoller`` with every probe, history, transitions and an event consumer.

Bare and console alternate for ``--rounds`` rounds, each measured after a warm-up round, and the
figures are the totals over all rounds, so other work on the machine weighs on both alike.

Targets: the console phase under 2 % of one core, and at most 1.15x the bare phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

import grpc
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from console.health.http_probes import PATHS, HttpSettings  # noqa: E402
from console.health.poller import DEFAULT_JITTER  # noqa: E402
from console.health.results import State  # noqa: E402
from console.health.supervisor_address import parse_supervisor_url  # noqa: E402
from console.health.watch import build_poller  # noqa: E402
from console.remsvc._pb import remsvc_pb2  # noqa: E402
from console.remsvc.client import METHOD_PING, METHOD_STATUS  # noqa: E402
from console.remsvc.model import Target  # noqa: E402
from tests.helpers.remsvc_server import start_server_process  # noqa: E402
from tests.helpers.supervisord import Program, Supervisord  # noqa: E402

CPU_TARGET_PCT = 2.0
RATIO_TARGET = 1.15
PERIODIC = ("dag_processing", "monitor", "execution")


def start_http_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.http_fault_server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"fault server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


class Meter:
    """CPU and wall time from ``start()`` (after a phase's warm-up round) to ``stop()``."""

    def start(self) -> None:
        self.t0, self.wall0 = os.times(), time.perf_counter()

    def stop(self) -> None:
        self.t1, self.wall = os.times(), time.perf_counter() - self.wall0

    @property
    def pct(self) -> float:
        return 100.0 * ((self.t1.user - self.t0.user) + (self.t1.system - self.t0.system)) / self.wall


async def measure(seconds: float, body) -> tuple[float, float, int]:
    """Run ``body`` for ``seconds`` after its warm-up; return (CPU % of one core, wall seconds, requests made).

    Each phase first makes its clients and one round of requests (connections opened, TLS contexts
    built), then starts the meter: the figures are the steady cost of watching.
    """
    meter = Meter()
    requests = await body(seconds, meter)
    return meter.pct, meter.wall, requests


async def idle(seconds: float, meter: Meter) -> int:
    meter.start()
    await asyncio.sleep(seconds)
    meter.stop()
    return 0


async def every(interval: float, seconds: float, one_round) -> int:
    """Call ``one_round()`` every ``interval`` ± the console's jitter until ``seconds`` are up.

    The same spread as the console's poller (``DEFAULT_JITTER``): endpoints polled in lockstep
    would share event-loop wake-ups that a real, spread-out watcher does not get.
    """
    deadline = time.perf_counter() + seconds
    done = 0
    while time.perf_counter() < deadline:
        await asyncio.sleep(interval * (1.0 + random.uniform(-DEFAULT_JITTER, DEFAULT_JITTER)))
        done += await one_round()
    return done


def bare_phase(urls: list[str], sockets: list[str], targets: list[Target], interval: float):
    async def body(seconds: float, meter: Meter) -> int:
        http = [httpx.AsyncClient(timeout=5.0) for _ in urls]
        rpc = [httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=s), timeout=5.0) for s in sockets]
        channels = [grpc.aio.insecure_channel(t.address) for t in targets]
        payload = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()

        def api(client: httpx.AsyncClient, url: str):
            async def one_round() -> int:
                await asyncio.gather(*(client.get(url + PATHS[p]) for p in PERIODIC))
                return len(PERIODIC)
            return one_round

        def supervisor(client: httpx.AsyncClient):
            async def one_round() -> int:
                await client.post("http://localhost/RPC2", content=payload, headers={"Content-Type": "text/xml"})
                return 1
            return one_round

        def remsvc(channel: grpc.aio.Channel):
            ping = channel.unary_unary(METHOD_PING, request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=remsvc_pb2.PongMsg.FromString)
            status = channel.unary_unary(METHOD_STATUS, request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=remsvc_pb2.StatusMsg.FromString)

            async def one_round() -> int:
                await ping(remsvc_pb2.PingMsg(seq=1, time=time.time_ns(), data="bench"), timeout=5)
                await status(remsvc_pb2.Empty(), timeout=5)
                return 2
            return one_round

        rounds = ([api(c, u) for c, u in zip(http, urls)] + [supervisor(c) for c in rpc]
                  + [remsvc(ch) for ch in channels])
        await asyncio.gather(*(r() for r in rounds))
        meter.start()
        counts = await asyncio.gather(*(every(interval, seconds, r) for r in rounds))
        meter.stop()
        for client in http + rpc:
            await client.aclose()
        for channel in channels:
            await channel.close()
        return sum(counts)

    return body


def console_phase(urls: list[str], sockets: list[str], targets: list[Target], interval: float, counts: dict):
    async def body(seconds: float, meter: Meter) -> int:
        poller = build_poller(urls, targets, supervisors=[parse_supervisor_url(f"unix://{s}") for s in sockets],
                              interval=interval, http=HttpSettings(connect_timeout=3.0, read_timeout=5.0))

        async def consume() -> None:
            async for event in poller.events():
                counts["events"] += 1
                if event.snapshot.state is not State.UP:
                    counts["not_up"] += 1
                    counts["why"] = event.snapshot.result.detail

        await poller.poll_once()
        counts["events"] = 0
        consumer = asyncio.create_task(consume())
        await poller.start(polled=True)  # each endpoint's next round comes one interval after the first
        meter.start()
        await asyncio.sleep(seconds)
        meter.stop()
        await poller.stop()
        await consumer
        return counts["events"]

    return body


async def main(args: argparse.Namespace) -> int:
    http_proc, port = start_http_server()
    work = Path(tempfile.mkdtemp(prefix="bench-health-"))
    loop_script = work / "loop.py"
    loop_script.write_text("import time\nwhile True: time.sleep(1)\n")
    supervisors = []
    server = None
    try:
        for i in range(args.supervisors):
            programs = [Program(f"job{j}", f"{sys.executable} {loop_script}", {"startsecs": "0"}) for j in range(3)]
            supervisors.append(Supervisord(work / f"sv{i}", programs).start())
        server = start_server_process()
        urls = [f"http://127.0.0.1:{port}/healthy/api{i:02d}" for i in range(args.api)]
        sockets = [str(sv.socket_path) for sv in supervisors]
        targets = [server.target(f"remsvc_{i:02d}") for i in range(args.remsvc)]
        load0 = os.getloadavg()
        print(f"health benchmark: {args.api} API servers (3 periodic probes each), {args.supervisors} supervisord "
              f"(3 programs each), {args.remsvc} RemSvc servers; interval {args.interval:g} s, "
              f"{args.rounds} rounds of {args.seconds:g} s per phase, alternating; load average {load0[0]:.2f}")
        idle_pct, _, _ = await measure(min(10.0, args.seconds), idle)
        counts = {"events": 0, "not_up": 0, "why": ""}
        totals = {"bare": [0.0, 0.0, 0], "console": [0.0, 0.0, 0]}
        for n in range(args.rounds):
            # Alternating the phases spreads other work on the machine over both.
            for name, body in (("bare", bare_phase(urls, sockets, targets, args.interval)),
                               ("console", console_phase(urls, sockets, targets, args.interval, counts))):
                pct, wall, done = await measure(args.seconds, body)
                totals[name][0] += pct * wall
                totals[name][1] += wall
                totals[name][2] += done
            print(f"  round {n + 1}: bare {totals['bare'][0] / totals['bare'][1]:.3f} %, console "
                  f"{totals['console'][0] / totals['console'][1]:.3f} % (cumulative)")
        bare_pct, bare_wall, bare_requests = totals["bare"][0] / totals["bare"][1], totals["bare"][1], totals["bare"][2]
        console_pct, console_wall, events = (totals["console"][0] / totals["console"][1], totals["console"][1],
                                             totals["console"][2])
    finally:
        http_proc.stdin.close()
        http_proc.wait(timeout=10)
        for sv in supervisors:
            sv.stop()
        if server is not None:
            server.stop()
    ratio = console_pct / bare_pct if bare_pct else float("nan")
    print(f"  idle process           CPU {idle_pct:6.3f} % of one core")
    print(f"  bare httpx + grpc.aio  CPU {bare_pct:6.3f} % ({bare_requests / bare_wall:.1f} requests/s)")
    print(f"  console HealthPoller   CPU {console_pct:6.3f} % ({events / console_wall:.1f} probe results/s, "
          f"{counts['not_up']} not up{': ' + counts['why'] if counts['why'] else ''})")
    print(f"  console / bare         {ratio:.2f}x")
    cpu_ok = console_pct < CPU_TARGET_PCT
    ratio_ok = ratio <= RATIO_TARGET
    load1 = os.getloadavg()
    print(f"  CPU target < {CPU_TARGET_PCT:g} % of one core: {'PASS' if cpu_ok else 'FAIL'};  "
          f"ratio target <= {RATIO_TARGET:g}x bare: {'PASS' if ratio_ok else 'FAIL'};  "
          f"load average at end {load1[0]:.2f}")
    return 0 if cpu_ok and ratio_ok and counts["not_up"] == 0 else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", type=int, default=10)
    parser.add_argument("--supervisors", type=int, default=5)
    parser.add_argument("--remsvc", type=int, default=20)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=40.0, help="seconds per phase per round")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))

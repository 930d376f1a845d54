"""A hostile or buggy RemSvc peer: answers for tids never sent, repeated tids, bytes that are no reply.

The peer is a real grpc.aio server on loopback speaking ``RS.RemSvc/RemCmdStrm``, scripted per test.
None of its lies may become a result: each is a protocol error (state FAILED, exit 5), named in the
output, and journaled along with every genuine answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable

import grpc
import pytest

from console.remsvc._pb import remsvc_pb2
from console.remsvc.client import RemSvcClient
from console.remsvc.model import Command, CommandResult, ProtocolViolation, StreamFinished, StreamStatus, Target
from tests.helpers.raw_server import serve_stream

GARBAGE = b"\xff\xff\xff\xff\x0fnot a RemResMsg"


def reply(tid: int, rc: int = 0, out: str = "") -> bytes:
    return remsvc_pb2.RemResMsg(rc=rc, tid=tid, out=out, err="", hsh="").SerializeToString()


def honest_then(extra: Callable[[int], list[bytes]]):
    """Answer each command truthfully after the replies ``extra(tid)`` puts before it."""
    def script(msg) -> list[bytes]:
        return [*extra(msg.tid), reply(msg.tid, 0, f"real {msg.tid}\n")]
    return script


SCRIPTS = {
    "phantom": honest_then(lambda tid: [reply(999, 0, "phantom\n"), reply(101), reply(-5)] if tid == 1 else []),
    "duplicate": lambda msg: (
        [reply(1, 1, "first answer\n"), reply(1, 0, "second answer\n")] if msg.tid == 1 else [reply(msg.tid, 0, "ok\n")]
    ),
    "garbage": honest_then(lambda tid: [GARBAGE] if tid == 2 else []),
}


class HostileServer:
    def __init__(self, script: Callable[[remsvc_pb2.RemCmdMsg], list[bytes]]):
        self.script = script
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> HostileServer:
        async def stream(request_iterator, context):
            async for raw in request_iterator:
                for answer in self.script(remsvc_pb2.RemCmdMsg.FromString(raw)):
                    yield answer

        self.server, self.port = await serve_stream(stream)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.server.stop(None)


async def stream_events(port: int, count: int) -> list:
    async with RemSvcClient(Target("hostile", "127.0.0.1", port)) as client:
        return [e async for e in client.stream([Command(f"echo {i}") for i in range(1, count + 1)], timeout=30)]


async def test_answers_for_tids_never_sent_are_protocol_errors_not_results():
    async with HostileServer(SCRIPTS["phantom"]) as server:
        events = await stream_events(server.port, 2)
    results = [e for e in events if isinstance(e, CommandResult)]
    violations = [e for e in events if isinstance(e, ProtocolViolation)]
    assert [(r.tid, r.out) for r in results] == [(1, "real 1\n"), (2, "real 2\n")]
    assert [v.tid for v in violations] == [999, 101, -5]
    assert violations[0].out == "phantom\n" and "never sent" in violations[0].problem
    finished = events[-1]
    assert isinstance(finished, StreamFinished) and finished.status is StreamStatus.PROTOCOL_ERROR
    assert "tid 999, which was never sent" in finished.error and "2 more" in finished.error


async def test_a_repeated_tid_keeps_the_first_answer_and_fails_the_stream():
    async with HostileServer(SCRIPTS["duplicate"]) as server:
        events = await stream_events(server.port, 2)
    results = {e.tid: e for e in events if isinstance(e, CommandResult)}
    assert results[1].rc == 1 and results[1].out == "first answer\n"
    (violation,) = [e for e in events if isinstance(e, ProtocolViolation)]
    assert violation.tid == 1 and violation.rc == 0 and violation.out == "second answer\n"
    assert events[-1].status is StreamStatus.PROTOCOL_ERROR and "second answer for tid 1" in events[-1].error


async def test_an_undecodable_reply_is_named_with_its_bytes_and_the_stream_goes_on():
    async with HostileServer(SCRIPTS["garbage"]) as server:
        events = await stream_events(server.port, 3)
    assert sorted(e.tid for e in events if isinstance(e, CommandResult)) == [1, 2, 3]
    (violation,) = [e for e in events if isinstance(e, ProtocolViolation)]
    assert violation.tid is None and violation.raw == GARBAGE.hex()
    assert events[-1].status is StreamStatus.PROTOCOL_ERROR and "is not a RemResMsg" in events[-1].error


@pytest.mark.parametrize("case", sorted(SCRIPTS))
async def test_run_exits_5_names_the_protocol_error_and_journals_everything(tmp_path, case):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    async with HostileServer(SCRIPTS[case]) as server:
        env.update({"XDG_STATE_HOME": str(tmp_path / "state"), "AIRFLOW_CONN_H": f"remsvc://127.0.0.1:{server.port}"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console", "run", "--conn", "h", "--cmd", "echo 1", "--cmd", "echo 2", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    stderr = err.decode()
    assert proc.returncode == 5, stderr
    payload = json.loads(out)
    assert payload["state"] == "FAILED" and "protocol error" in payload["error_msg"]
    assert "protocol error" in stderr and "Traceback" not in stderr
    assert sorted(r["tid"] for r in payload["results"]) == [1, 2]
    records = [json.loads(line) for p in (tmp_path / "state").rglob("*.jsonl") for line in p.read_text().splitlines()]
    kinds = [r["k"] for r in records]
    assert kinds.count("result") == 2 and kinds.count("protocol") >= 1 and kinds[-1] == "finish"
    assert records[-1]["state"] == "FAILED"
    stream = next(r for r in records if r["k"] == "stream")
    assert stream["status"] == "protocol_error"

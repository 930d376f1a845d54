"""The async client and stream dispatch against the embedded server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest

from console.remsvc import stream as stream_module
from console.remsvc.client import RemSvcClient
from console.remsvc.errors import RemSvcError
from console.remsvc.model import (
    Command,
    CommandResult,
    CommandSent,
    CmdState,
    StreamFinished,
    StreamStatus,
    StreamTracker,
    Target,
    TRUNCATION_MARKER,
    command_hash,
)

TOKEN = "s3cret-token-value"


async def collect(target: Target, commands: list[Command], **kwargs) -> list:
    async with RemSvcClient(target) as client:
        return [event async for event in client.stream(commands, **kwargs)]


def results_of(events) -> dict[int, CommandResult]:
    return {e.tid: e for e in events if isinstance(e, CommandResult)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_stream_answers_every_tid_in_order_with_outputs(remsvc_server):
    cmds = [Command("echo one"), Command("echo two >&2; exit 3"), Command("printf '%s' \"it's \\\"quoted\\\" ünïcødé ✓\"")]
    events = await collect(remsvc_server.target("plain"), cmds)
    results = results_of(events)
    assert sorted(results) == [1, 2, 3]
    assert (results[1].rc, results[1].out) == (0, "one\n")
    assert (results[2].rc, results[2].err) == (3, "two\n")
    assert results[3].out == "it's \"quoted\" ünïcødé ✓"
    assert all(results[t].hsh == command_hash(cmds[t - 1].cmd) for t in results)
    finished = events[-1]
    assert isinstance(finished, StreamFinished) and finished.status is StreamStatus.COMPLETED
    assert finished.answered == (1, 2, 3) and finished.missing == ()
    sent = [e.tid for e in events if isinstance(e, CommandSent)]
    assert sent == [1, 2, 3]
    order = [e.tid for e in events if isinstance(e, CommandResult)]
    assert order == [1, 2, 3]


async def test_each_response_arrives_before_later_commands_finish(remsvc_server):
    """Responses are delivered as they arrive, not collected at the end of the stream."""
    cmds = [Command("echo fast"), Command("sleep 1.5; echo slow")]
    async with RemSvcClient(remsvc_server.target("live")) as client:
        seen_at = {}
        async for event in client.stream(cmds):
            if isinstance(event, CommandResult):
                seen_at[event.tid] = time.monotonic()
    assert seen_at[2] - seen_at[1] > 1.0


async def test_tracker_reports_running_as_lowest_sent_unanswered(remsvc_server):
    cmds = [Command("sleep 0.5"), Command("true"), Command("true")]
    tracker = StreamTracker("t", cmds)
    snapshots = []
    async with RemSvcClient(remsvc_server.target("t")) as client:
        async for event in client.stream(cmds):
            tracker.apply(event)
            snapshots.append((type(event).__name__, tracker.running_tid()))
    assert ("CommandSent", 1) in snapshots
    assert [r.state for r in tracker.tids.values()] == [CmdState.DONE] * 3


async def test_ping_and_status(remsvc_server):
    async with RemSvcClient(remsvc_server.target("p")) as client:
        rtt = await client.ping()
        before = await client.get_status()
        await client.rem_cmd(Command("true"))
        after = await client.get_status()
    assert 0 < rtt < 5
    assert before.rc == 0 and before.msg.startswith("state=OK")
    assert before.uptime_s is not None and before.commands is not None
    assert after.commands == before.commands + 1


async def test_rem_cmd_unary(remsvc_server):
    async with RemSvcClient(remsvc_server.target("u")) as client:
        result = await client.rem_cmd(Command("echo unary; exit 4"))
    assert (result.rc, result.out, result.tid) == (4, "unary\n", 1)


async def test_large_output_is_truncated_and_flagged(remsvc_server):
    events = await collect(remsvc_server.target("big"), [Command("head -c 300000 /dev/zero | tr '\\0' x")])
    result = results_of(events)[1]
    assert result.out_truncated and not result.err_truncated
    assert result.out == "x" * 262144 + TRUNCATION_MARKER


async def test_per_command_timeout(remsvc_server_factory):
    server = remsvc_server_factory("[server]\ncmd_timeout_ms = 500\n")
    events = await collect(server.target("slow"), [Command("sleep 5"), Command("echo after")])
    results = results_of(events)
    assert (results[1].rc, results[1].err) == (1, "process timed out")
    assert results[2].out == "after\n"


async def test_denied_command_aborts_stream_and_later_tids_never_run(remsvc_server_factory, tmp_path):
    marker = tmp_path / "ran"
    server = remsvc_server_factory("[denylist]\nno_rm = ^rm\\b\n")
    cmds = [Command("echo ok"), Command("rm -rf /nonexistent"), Command(f"touch {marker}")]
    events = await collect(server.target("deny"), cmds)
    finished = events[-1]
    assert finished.status is StreamStatus.DENIED
    assert "permission denied" in finished.error
    assert 1 in finished.answered and finished.missing == (2, 3)
    tracker = StreamTracker("deny", cmds)
    for event in events:
        tracker.apply(event)
    assert [r.state for r in tracker.tids.values()] == [CmdState.DONE, CmdState.DENIED, CmdState.DENIED]
    await asyncio.sleep(0.3)
    assert not marker.exists()


async def test_allowlist_denies_everything_else(remsvc_server_factory):
    server = remsvc_server_factory("[allowlist]\nonly_echo = ^echo \n")
    events = await collect(server.target("allow"), [Command("echo fine"), Command("id")])
    assert events[-1].status is StreamStatus.DENIED and events[-1].missing == (2,)


async def test_wrong_hash_is_reported_as_hash_rejected(remsvc_server, monkeypatch):
    real = stream_module.encode_command

    def uppercase_hash(command, tid):
        from console.remsvc._pb import remsvc_pb2

        msg = remsvc_pb2.RemCmdMsg.FromString(real(command, tid))
        msg.hsh = msg.hsh.upper() if any(c.isalpha() for c in msg.hsh) else "DEADBEEF"
        return msg.SerializeToString()

    monkeypatch.setattr(stream_module, "encode_command", uppercase_hash)
    events = await collect(remsvc_server.target("hash"), [Command("echo a")])
    finished = events[-1]
    assert finished.status is StreamStatus.HASH_REJECTED
    assert "hash mismatch" in finished.error and finished.missing == (1,)


async def test_bearer_token_right_wrong_missing(remsvc_server_factory):
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    ok = await collect(server.target("auth", bearer_token=TOKEN), [Command("echo hi")])
    assert ok[-1].ok and results_of(ok)[1].out == "hi\n"
    wrong = await collect(server.target("auth", bearer_token="not-it"), [Command("echo hi")])
    assert wrong[-1].status is StreamStatus.UNAUTHENTICATED and "invalid bearer token" in wrong[-1].error
    missing = await collect(server.target("auth"), [Command("echo hi")])
    assert missing[-1].status is StreamStatus.UNAUTHENTICATED and "missing Authorization header" in missing[-1].error
    for events in (ok, wrong, missing):
        assert all(TOKEN not in repr(e) for e in events)
    async with RemSvcClient(server.target("auth", bearer_token="nope")) as client:
        with pytest.raises(RemSvcError) as info:
            await client.ping()
    assert info.value.status is StreamStatus.UNAUTHENTICATED


async def test_connection_token_wins_over_user_metadata(remsvc_server_factory):
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    target = server.target("auth", bearer_token=TOKEN)
    async with RemSvcClient(target, metadata=[("authorization", "Bearer wrong"), ("x-trace", "1")]) as client:
        assert await client.ping() > 0


async def test_tls_with_ca_file(remsvc_server_factory, tls_material):
    ini = f"[tls]\nenabled = true\ncert = {tls_material.server_cert}\nkey = {tls_material.server_key}\n[auth]\nops = {TOKEN}\n"
    server = remsvc_server_factory(ini)
    good = server.target("tls", host="localhost", use_ssl=True, ca_cert_path=str(tls_material.ca_cert), bearer_token=TOKEN)
    events = await collect(good, [Command("echo secure")])
    assert events[-1].ok and results_of(events)[1].out == "secure\n"
    wrong_ca = server.target("tls", host="localhost", use_ssl=True, ca_cert_path=str(tls_material.other_ca_cert), bearer_token=TOKEN)
    events = await collect(wrong_ca, [Command("echo secure")])
    assert events[-1].status is StreamStatus.UNAVAILABLE
    assert "TLS handshake failed" in events[-1].error and events[-1].missing == (1,)
    plain = server.target("tls", host="localhost", bearer_token=TOKEN)
    events = await collect(plain, [Command("echo x")])
    assert events[-1].status is StreamStatus.UNAVAILABLE and events[-1].answered == ()


async def test_unreadable_ca_file_is_a_clear_error(tmp_path):
    target = Target("ca", "127.0.0.1", free_port(), use_ssl=True, ca_cert_path=str(tmp_path / "missing.pem"))
    events = await collect(target, [Command("true")])
    assert events[-1].status is StreamStatus.UNAVAILABLE
    assert "cannot read CA certificate" in events[-1].error and "missing.pem" in events[-1].error


async def test_unreachable_target_is_refused_not_hung():
    target = Target("dead", "127.0.0.1", free_port())
    events = await collect(target, [Command("true"), Command("true")], timeout=20)
    finished = events[-1]
    assert finished.status is StreamStatus.UNAVAILABLE
    assert finished.error == f"dead (127.0.0.1:{target.port}): connection refused"
    assert finished.missing == (1, 2) and finished.answered == ()


async def test_server_killed_mid_stream_keeps_answers_and_reports_missing(remsvc_server):
    cmds = [Command("echo first"), Command("echo second"), Command("sleep 30"), Command("echo never")]
    got = []
    async with RemSvcClient(remsvc_server.target("kill")) as client:
        async for event in client.stream(cmds, timeout=60):
            got.append(event)
            if isinstance(event, CommandResult) and event.tid == 2:
                remsvc_server.kill()
    results = results_of(got)
    assert [results[1].out, results[2].out] == ["first\n", "second\n"]
    finished = got[-1]
    assert finished.status is StreamStatus.CLOSED_EARLY
    assert finished.answered == (1, 2) and finished.missing == (3, 4)
    assert "after 2 of 4 answers" in finished.error


async def test_stream_deadline(remsvc_server):
    events = await collect(remsvc_server.target("dl"), [Command("echo a"), Command("sleep 10")], timeout=1.0)
    finished = events[-1]
    assert finished.status is StreamStatus.DEADLINE_EXCEEDED
    assert finished.answered == (1,) and finished.missing == (2,)
    assert "deadline exceeded after 1s" in finished.error


async def test_cancel_ends_with_cancelled_and_keeps_answers(remsvc_server):
    cmds = [Command("echo a"), Command("sleep 20"), Command("echo c")]
    async with RemSvcClient(remsvc_server.target("c")) as client:
        call = client.stream(cmds)
        events = []
        async for event in call:
            events.append(event)
            if isinstance(event, CommandResult):
                call.cancel()
    finished = events[-1]
    assert finished.status is StreamStatus.CANCELLED
    assert finished.answered == (1,) and finished.missing == (2, 3)


async def test_rejected_token_is_reported_even_when_writes_race_the_rejection(remsvc_server_factory):
    """gRPC loses the server's status when a write is in flight as the server rejects the stream;
    the client must still say the token was refused, every time."""
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    for _ in range(15):
        events = await collect(server.target("race", bearer_token="wrong"), [Command("true")] * 50)
        assert events[-1].status is StreamStatus.UNAUTHENTICATED, events[-1].error
        assert "invalid bearer token" in events[-1].error


async def test_denial_racing_writes_mid_stream_is_reported_as_the_denial(remsvc_server_factory):
    """grpc/grpc#36066: a write in flight as the server denies command 4 used to turn PERMISSION_DENIED
    into "Internal error from Core"; the client must report the denial, every time."""
    server = remsvc_server_factory("[denylist]\nno_reboot = ^reboot\n")
    padding = "p" * 20_000
    cmds = [Command("true")] * 3 + [Command("reboot now")] + [Command(f"true # {padding}")] * 300
    for _ in range(10):
        events = await collect(server.target("race"), cmds)
        finished = events[-1]
        assert finished.status is StreamStatus.DENIED, finished.error
        assert finished.error.endswith("permission denied: command denied by denylist: reboot now")
        assert finished.answered == (1, 2, 3)


async def test_a_stopped_server_is_detected_by_liveness_pings_not_the_deadline(remsvc_server):
    cmds = [Command("echo before"), Command("sleep 30"), Command("echo after")]
    events = []
    try:
        async with RemSvcClient(remsvc_server.target("stopped")) as client:
            async for event in client.stream(cmds, timeout=120, probe_after_s=1.0, probe_timeout_s=1.0):
                events.append(event)
                if isinstance(event, CommandResult):
                    os.kill(remsvc_server.pid, signal.SIGSTOP)
    finally:
        os.kill(remsvc_server.pid, signal.SIGCONT)
    finished = events[-1]
    assert finished.status is StreamStatus.NOT_RESPONDING
    assert "server not responding" in finished.error and "may have run" in finished.error
    assert finished.answered == (1,) and finished.missing == (2, 3) and finished.sent_any


async def test_a_peer_that_accepts_but_never_speaks_is_reported_not_waited_for():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        target = Target("silent", "127.0.0.1", listener.getsockname()[1])
        async with RemSvcClient(target) as client:
            events = [e async for e in client.stream([Command("true")], timeout=120, probe_after_s=1.0, probe_timeout_s=1.0)]
    finished = events[-1]
    assert finished.status is StreamStatus.NOT_RESPONDING, finished
    assert "server not responding" in finished.error and finished.answered == ()


async def test_a_long_quiet_command_on_a_live_server_is_not_a_false_alarm(remsvc_server):
    events = await collect(remsvc_server.target("quiet"), [Command("sleep 2.5; echo done")],
                           probe_after_s=0.3, probe_timeout_s=1.0)
    assert events[-1].status is StreamStatus.COMPLETED
    assert results_of(events)[1].out == "done\n"


def test_the_stream_module_does_not_import_the_client():
    """client.py builds streams; stream.py only needs what its StreamHost protocol names."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(stream_module))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "client" not in imported and not any(m and m.endswith(".client") for m in imported)


async def test_a_token_that_cannot_be_a_header_is_a_clear_error_on_every_call(remsvc_server):
    target = remsvc_server.target("badtok", bearer_token="abc\ndef")
    async with RemSvcClient(target) as client:
        for call in (client.ping, client.get_status, lambda: client.rem_cmd(Command("true"))):
            with pytest.raises(RemSvcError, match="contains a newline") as info:
                await call()
            assert "abc" not in str(info.value)
    events = await collect(target, [Command("true")])
    assert events[-1].status is StreamStatus.ERROR and "contains a newline" in events[-1].error
    assert events[-1].sent_any is False

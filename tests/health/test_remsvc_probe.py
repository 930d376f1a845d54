"""RemSvc probe against the embedded server running as a real child process."""

from __future__ import annotations

import dataclasses

from console.health.history import ProbeHistory
from console.health.remsvc_probes import RemSvcProbe, format_uptime
from console.health.results import Reason, State
from console.remsvc.client import RemSvcClient
from console.remsvc.model import Command

TOKEN = "health-probe-token-9f1c"


async def test_up_with_latency_uptime_and_commands(remsvc_server):
    probe = RemSvcProbe(remsvc_server.target("remsvc_default"))
    try:
        first = await probe.check()
        async with RemSvcClient(remsvc_server.target()) as client:
            async for _ in client.stream([Command("true"), Command("true"), Command("true")]):
                pass
        second = await probe.check()
    finally:
        await probe.aclose()
    assert (first.state, first.reason) == (State.UP, Reason.OK)
    assert first.key.endpoint == "remsvc_default" and first.key.is_remsvc
    assert first.latency_s is not None and first.latency_s > 0
    assert first.uptime_s is not None and first.commands == 0
    assert second.commands == 3
    assert "3 commands" in second.detail


async def test_command_rate_comes_from_successive_polls(remsvc_server):
    probe = RemSvcProbe(remsvc_server.target())
    history = ProbeHistory(probe.key)
    try:
        history.add(await probe.check())
        async with RemSvcClient(remsvc_server.target()) as client:
            for _ in range(4):
                await client.rem_cmd(Command("true"))
        history.add(await probe.check())
    finally:
        await probe.aclose()
    rate = history.command_rate()
    assert rate is not None and rate > 0
    samples = history.samples()
    assert rate == (samples[-1].commands - samples[0].commands) / (samples[-1].at - samples[0].at)


async def test_killed_server_is_down_and_the_probe_recovers_on_a_new_one(remsvc_server, remsvc_server_factory):
    probe = RemSvcProbe(remsvc_server.target("edge"), timeout=2.0)
    try:
        assert (await probe.check()).state is State.UP
        remsvc_server.kill()
        down = await probe.check()
        assert down.state is State.DOWN
        assert down.reason in (Reason.REFUSED, Reason.UNREACHABLE)
        assert down.detail.startswith("edge (")
        replacement = remsvc_server_factory()
        probe.target = dataclasses.replace(probe.target, port=replacement.port)
        assert (await probe.check()).state is State.UP
    finally:
        await probe.aclose()


async def test_wrong_token_is_unauthenticated_and_the_token_is_never_shown(remsvc_server_factory):
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    wrong = RemSvcProbe(server.target("secured", bearer_token="wrong-token-value"))
    right = RemSvcProbe(server.target("secured", bearer_token=TOKEN))
    try:
        denied = await wrong.check()
        allowed = await right.check()
    finally:
        await wrong.aclose()
        await right.aclose()
    assert (denied.state, denied.reason) == (State.DOWN, Reason.UNAUTHENTICATED)
    assert "invalid bearer token" in denied.detail
    assert "wrong-token-value" not in denied.detail
    assert allowed.state is State.UP
    assert TOKEN not in repr(allowed)


def test_uptime_words():
    assert [format_uptime(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m 5s", "1h 1m", "1d 1h"]

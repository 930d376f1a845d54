"""supervisord watched and driven over XML-RPC: a real supervisord on 127.0.0.1 (user and password) and on
a unix socket, with programs that run, crash into FATAL, flap in BACKOFF, exit unexpectedly and are
never started."""

from __future__ import annotations

import asyncio
import sys
from datetime import date

import pytest

from console.health.poller import HealthPoller
from console.health.results import Reason, State
from console.health.supervisor_address import SupervisorAddressError, parse_supervisor_url, read_supervisord_conf
from console.health.supervisor_control import ActionRefused, SupervisorControl
from console.health.supervisor_probe import SupervisorProbe, airflow_component, program_state
from console.journal import read_supervisor_actions
from console.safetext import is_inert
from tests.helpers.supervisord import PASSWORD, Program, Supervisord


def settle(sv) -> None:
    sv.wait_state("runner", "RUNNING")
    sv.wait_state("crasher", "FATAL")
    sv.wait_state("flapper", "BACKOFF")
    sv.wait_state("oneshot", "EXITED")


async def check(url: str):
    probe = SupervisorProbe(parse_supervisor_url(url))
    try:
        return await probe.check()
    finally:
        await probe.aclose()


@pytest.mark.parametrize("listener", ["inet", "unix"])
async def test_every_program_with_its_state_and_why(supervisord, listener):
    settle(supervisord)
    url = supervisord.inet_url if listener == "inet" else supervisord.unix_url
    result = await check(url)
    programs = {p.name: p for p in result.programs}
    states = {n: p.statename for n, p in programs.items()}
    # the flapper spends 0.2 s in STARTING between ever longer BACKOFF waits
    assert states.pop("flapper") in ("BACKOFF", "STARTING")
    assert states == {"runner": "RUNNING", "crasher": "FATAL", "oneshot": "EXITED", "idle": "STOPPED"}
    assert {n: p.state for n, p in programs.items()} == {
        "runner": State.UP, "crasher": State.DOWN, "flapper": State.DEGRADED, "oneshot": State.DOWN,
        "idle": State.ABSENT}
    runner = programs["runner"]
    assert runner.pid == supervisord.info("runner")["pid"] > 0 and runner.uptime_s is not None
    assert runner.description.startswith(f"pid {runner.pid}, uptime")
    assert programs["idle"].autostart is False and "autostart=false" in programs["idle"].why
    assert programs["oneshot"].exitstatus == 2 and "exited unexpectedly (status 2)" in programs["oneshot"].why
    assert "Exited too quickly" in programs["crasher"].spawnerr
    assert (result.state, result.reason) == (State.DOWN, Reason.UNHEALTHY)
    assert "crasher FATAL" in result.detail and "oneshot EXITED" in result.detail
    assert result.key.endpoint == (supervisord.inet_url_without_credentials if listener == "inet"
                                   else supervisord.unix_url)
    assert PASSWORD not in repr(result)


async def test_wrong_password_and_no_password_are_down_with_the_reason(supervisord):
    wrong = await check(f"http://ops:nope@127.0.0.1:{supervisord.port}")
    assert (wrong.state, wrong.reason) == (State.DOWN, Reason.UNAUTHORIZED)
    assert "wrong user name or password" in wrong.detail
    missing = await check(supervisord.inet_url_without_credentials)
    assert (missing.state, missing.reason) == (State.DOWN, Reason.UNAUTHORIZED)
    assert "needs a user name and password" in missing.detail


async def test_unreachable_supervisord_is_down_with_a_clear_reason(supervisord, tmp_path):
    sock = await check(f"unix://{tmp_path}/nothing.sock")
    assert (sock.state, sock.reason) == (State.DOWN, Reason.REFUSED)
    assert "no socket at" in sock.detail
    port = supervisord.port
    supervisord.stop()
    refused = await check(f"http://ops:{PASSWORD}@127.0.0.1:{port}")
    assert (refused.state, refused.reason) == (State.DOWN, Reason.REFUSED)
    assert PASSWORD not in refused.detail


async def test_transitions_follow_program_states(supervisord):
    settle(supervisord)
    poller = HealthPoller([SupervisorProbe(parse_supervisor_url(supervisord.unix_url))], jitter=0.0)
    try:
        await poller.poll_once()
        supervisord.rpc().supervisor.stopProcess("runner", True)
        supervisord.rpc().supervisor.startProcess("idle", True)
        await poller.poll_once()
    finally:
        await poller.stop()
    words = [t.describe() for t in poller.transitions()]
    assert "supervisor runner: RUNNING → STOPPED (stopped although autostart=true)" in words
    assert "supervisor idle: STOPPED → RUNNING" in words


async def test_start_stop_restart_are_done_and_journaled(supervisord, tmp_path):
    settle(supervisord)
    journal = tmp_path / "journal"
    control = SupervisorControl(parse_supervisor_url(supervisord.inet_url), read_only=False, journal_dir=journal)
    try:
        started = await control.act("idle", "start")
        assert started.ok and supervisord.info("idle")["statename"] == "RUNNING"
        pid = supervisord.info("idle")["pid"]
        restarted = await control.act("idle", "restart")
        assert restarted.ok and supervisord.info("idle")["pid"] not in (0, pid)
        stopped = await control.act("idle", "stop")
        assert stopped.ok and supervisord.info("idle")["statename"] == "STOPPED"
        again = await control.act("idle", "stop")
        assert not again.ok and "NOT_RUNNING" in again.detail
    finally:
        await control.aclose()
    records = read_supervisor_actions(journal, date.today())
    assert [(r["program"], r["action"], r["result"]) for r in records] == [
        ("idle", "start", "ok"), ("idle", "restart", "ok"), ("idle", "stop", "ok"), ("idle", "stop", "failed")]
    first = records[0]
    assert first["server"] == supervisord.inet_url_without_credentials and first["user"] and first["host"]
    assert PASSWORD not in (journal / f"supervisor-{date.today().isoformat()}.jsonl").read_text()


async def test_read_only_refuses_in_the_service_and_journals_the_refusal(supervisord, tmp_path):
    journal = tmp_path / "journal"
    control = SupervisorControl(parse_supervisor_url(supervisord.unix_url), read_only=True, journal_dir=journal)
    try:
        for action in ("start", "stop", "restart"):
            with pytest.raises(ActionRefused, match="read-only"):
                await control.act("idle", action)
    finally:
        await control.aclose()
    assert supervisord.info("idle")["statename"] == "STOPPED"
    records = read_supervisor_actions(journal, date.today())
    assert [(r["action"], r["result"]) for r in records] == [("start", "refused"), ("stop", "refused"),
                                                            ("restart", "refused")]


async def test_log_tail_and_follow(supervisord):
    settle(supervisord)
    control = SupervisorControl(parse_supervisor_url(supervisord.unix_url), read_only=True, journal_dir=None)
    try:
        first = await control.tail("runner")
        assert "runner up" in first.text and "tick 1" in first.text
        supervisord.wait_state("runner", "RUNNING")
        await asyncio.sleep(0.5)
        more = await control.tail("runner", offset=first.offset)
        assert more.offset > first.offset and "tick" in more.text and "runner up" not in more.text
        err = await control.tail("crasher", "stderr")
        assert "crasher: cannot open config" in err.text
    finally:
        await control.aclose()


async def test_log_text_is_inert(tmp_path):
    script = tmp_path / "evil.py"
    script.write_text("import time\nprint('\\x1b]0;owned\\x07\\x1b[2Jboom', flush=True)\ntime.sleep(60)\n")
    with Supervisord(tmp_path / "sv", [Program("evil", f"{sys.executable} -u {script}", {"startsecs": "0"})]) as sv:
        sv.wait_state("evil", "RUNNING")
        control = SupervisorControl(parse_supervisor_url(sv.unix_url), read_only=True, journal_dir=None)
        try:
            for _ in range(50):
                chunk = await control.tail("evil")
                if "boom" in chunk.text:
                    break
                await asyncio.sleep(0.1)
        finally:
            await control.aclose()
    assert "boom" in chunk.text and is_inert(chunk.text) and "␛" in chunk.text


def test_supervisord_conf_gives_inet_and_unix_with_credentials(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text("[unix_http_server]\nfile=%(here)s/run/supervisor.sock\n"
                    "[inet_http_server]\nport=*:9001\nusername=airflow\npassword=hunter22 ; generated\n"
                    "[supervisord]\nlogfile=/dev/null\n")
    inet, unix = read_supervisord_conf(conf)
    assert (inet.host, inet.port, inet.username, inet.password) == ("127.0.0.1", 9001, "airflow", "hunter22")
    assert inet.display == "http://127.0.0.1:9001" and "hunter22" not in repr(inet)
    assert unix.socket_path == str(tmp_path.resolve() / "run" / "supervisor.sock")


@pytest.mark.parametrize("text, words", [
    ("[supervisord]\n", "neither [inet_http_server] nor [unix_http_server]"),
    ("[inet_http_server]\nport=abc\n", "is not host:port"),
    ("[inet_http_server]\nport=9001\npassword={SHA}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d\n", "{SHA} hash"),
    ("not ini at all", "not an INI file"),
])
def test_supervisord_conf_errors_are_one_clear_line(tmp_path, text, words):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    with pytest.raises(SupervisorAddressError) as info:
        read_supervisord_conf(conf)
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("url, display", [
    ("http://u:p%40ss@127.0.0.1:9001", "http://127.0.0.1:9001"),
    ("127.0.0.1:9002/RPC2", "http://127.0.0.1:9002"),
    ("unix:///run/supervisor.sock", "unix:///run/supervisor.sock"),
])
def test_urls_parse_and_display_without_credentials(url, display):
    address = parse_supervisor_url(url)
    assert address.display == display
    if "p%40ss" in url:
        assert address.password == "p@ss" and "p@ss" not in repr(address)


@pytest.mark.parametrize("url", ["https://h:9001", "http://h:9001/other", "unix://", "", "http://u:topsecret@:9001"])
def test_bad_urls_are_refused_without_showing_the_password(url):
    with pytest.raises(SupervisorAddressError) as info:
        parse_supervisor_url(url)
    assert "topsecret" not in str(info.value)


@pytest.mark.parametrize("command, component", [
    ("airflow dag-processor", "dag_processor"),
    ("/opt/venv/bin/airflow scheduler --pid /tmp/x", "scheduler"),
    ("python -m airflow triggerer", "triggerer"),
    ("airflow api-server -p 8080", "api_server"),
    ("airflow celery worker", None),
    ("/usr/bin/sleep 10", None),
])
def test_airflow_component_from_the_command(command, component):
    assert airflow_component(command) == component


def test_state_mapping_says_which_stopped_programs_count():
    assert program_state("STOPPED", exitstatus=0, autostart=True, exitcodes=[0])[0] is State.DOWN
    assert program_state("STOPPED", exitstatus=0, autostart=False, exitcodes=[0])[0] is State.ABSENT
    assert program_state("EXITED", exitstatus=0, autostart=True, exitcodes=[0])[0] is State.ABSENT
    assert program_state("EXITED", exitstatus=1, autostart=True, exitcodes=[0])[0] is State.DOWN
    assert program_state("UNKNOWN", exitstatus=0, autostart=None, exitcodes=None)[0] is State.DOWN

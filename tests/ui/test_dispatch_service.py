"""The dispatch service the pane calls: no terminal involved, real servers and a real journal."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from console.dispatch_service import (
    ConfirmationRequired,
    DispatchInputError,
    DispatchOptions,
    DispatchService,
    ReadOnlyError,
    TargetCatalog,
    TargetLookupError,
    default_src,
    export_json,
    parse_commands,
    parse_timeout,
    probe_status,
    record_json,
    record_options,
    write_private,
)
from console.journal import Journal
from console.remsvc.model import Command, CommandResult, CommandSent, StreamFinished, Target


def test_editor_text_becomes_one_command_per_line():
    options = DispatchOptions(cmdtyp=1, cmdusr=" deploy ", src="me@here")
    commands = parse_commands("# check disks\n\ndf -h\r\n  echo 'a  b'  \n#  note\nuptime", options)
    assert [c.cmd for c in commands] == ["df -h", "  echo 'a  b'  ", "uptime"]
    assert {(c.cmdtyp, c.cmdusr, c.src) for c in commands} == {(1, "deploy", "me@here")}
    with pytest.raises(DispatchInputError, match="nothing to run"):
        parse_commands("# only notes\n   \n", options)
    with pytest.raises(DispatchInputError, match="cmdtyp must be 0"):
        parse_commands("ls", DispatchOptions(cmdtyp=7))


def test_timeout_field_and_default_src():
    assert parse_timeout("") is None and parse_timeout(" 90 ") == 90.0 and parse_timeout("2.5s") == 2.5
    for bad in ("soon", "-1", "0"):
        with pytest.raises(DispatchInputError):
            parse_timeout(bad)
    assert default_src("bastion-1") == "remsvc-console@bastion-1"


def test_read_only_and_confirmation_are_enforced_by_the_service(tmp_path):
    targets = [Target(f"t{i}", "127.0.0.1", 9) for i in range(4)]
    commands = [Command("true")]
    service = DispatchService(journal_dir=tmp_path / "journal", read_only=True, confirm_threshold=3)
    with pytest.raises(ReadOnlyError):
        service.start(targets, commands, DispatchOptions())
    with pytest.raises(ReadOnlyError, match="restart without it"):
        service.set_read_only(False)
    assert not (tmp_path / "journal").exists()
    open_service = DispatchService(journal_dir=tmp_path / "journal", confirm_threshold=3)
    with pytest.raises(ConfirmationRequired) as info:
        open_service.start(targets, commands, DispatchOptions())
    assert info.value.count == 4
    assert open_service.start(targets, commands, DispatchOptions(), confirmed=True).targets == targets
    with pytest.raises(DispatchInputError, match="same target"):
        open_service.start([targets[0], targets[0]], commands, DispatchOptions())
    open_service.set_read_only(True)
    open_service.set_read_only(False)
    assert not open_service.read_only


async def journal_lines_once(directory, count: int, within: float = 10.0) -> int:
    """The journal's line count once it holds ``count`` lines (the writer thread is prompt, not
    synchronous); gives up after ``within`` seconds and returns what is there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    seen = 0
    while loop.time() < deadline:
        seen = sum(len(p.read_text().splitlines()) for p in directory.glob("*.jsonl"))
        if seen >= count:
            return seen
        await asyncio.sleep(0.005)
    return seen


async def test_every_result_is_journaled_as_it_arrives(remsvc_server, tmp_path):
    secret = "tok-never-in-journal"
    target = remsvc_server.target("t")
    service = DispatchService(journal_dir=tmp_path / "journal")
    commands = parse_commands("echo one\necho two; exit 2", DispatchOptions(src="tests@host"))
    run = service.start([target], commands, DispatchOptions(src="tests@host"))
    lines_seen = []
    async for event in run:
        if isinstance(event, CommandResult):
            lines_seen.append(await journal_lines_once(tmp_path / "journal", event.tid + 1))
    assert lines_seen == [2, 3], "each result reaches the disk while the stream goes on, not at its end"
    journal_file = next((tmp_path / "journal").glob("*.jsonl"))
    assert run.outcome.state == "FAILED"
    assert run.outcome.to_json()["results"][1]["rc"] == 2
    record = Journal(tmp_path / "journal").read_dispatches()[0]
    assert record.dispatch_id == run.dispatch_id and record.state == "FAILED"
    assert record.options["src"] == "tests@host" and record.options["via"] == "tui"
    assert record_options(record) == DispatchOptions(src="tests@host")
    assert secret not in journal_file.read_text()


async def drive(run, how: str, on_event=lambda event: None) -> list:
    """Every event of ``run``, read the Dispatch pane's way (iterating) or ``run``'s (``complete``)."""
    events = []

    def take(event) -> None:
        events.append(event)
        on_event(event)

    if how == "iterate":
        async for event in run:
            take(event)
    else:
        outcome = await run.complete(take)
        assert outcome is run.outcome
    return events


DRIVES = pytest.mark.parametrize("how", ["iterate", "complete"])


@DRIVES
async def test_fan_out_outcome_and_export_shape(remsvc_server_factory, tmp_path, how):
    live = remsvc_server_factory()
    dead = remsvc_server_factory()
    dead_target = dead.target("dead")
    dead.kill()
    service = DispatchService(journal_dir=tmp_path / "journal")
    run = service.start([live.target("live"), dead_target], [Command("echo hi")], DispatchOptions())
    finished = [e for e in await drive(run, how) if isinstance(e, StreamFinished)]
    assert {f.target: f.status.value for f in finished} == {"live": "completed", "dead": "unavailable"}
    payload = run.outcome.to_json()
    assert set(payload) == {"targets"}
    assert payload["targets"]["live"] == {"state": "SUCCESS", "error_msg": None, "results": [
        {"tid": 1, "rc": 0, "out": "hi\n", "err": "", "hsh": Command("echo hi").hsh, "cmd": "echo hi"}]}
    assert payload["targets"]["dead"]["state"] == "FAILED" and "connection refused" in payload["targets"]["dead"]["error_msg"]
    assert run.outcome.error.startswith("1 of 2 targets did not succeed")
    record = service.history()[0]
    assert record_json(record) == payload
    path = export_json(payload, tmp_path / "out", "dispatch-x")
    assert json.loads(path.read_text()) == payload


def test_private_files_are_never_overwritten(tmp_path):
    first = write_private(tmp_path / "saved", "out.stdout.txt", "one")
    second = write_private(tmp_path / "saved", "out.stdout.txt", "two")
    assert first.name == "out.stdout.txt" and second.name == "out-1.stdout.txt"
    assert first.read_text() == "one" and second.read_text() == "two"
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "saved").st_mode) == 0o700


async def test_status_probe_reports_latency_or_a_short_cause(remsvc_server_factory):
    server = remsvc_server_factory()
    probe = await probe_status(server.target("t"))
    assert probe.error is None and probe.latency_ms > 0 and probe.status.startswith("uptime ")
    server.kill()
    down = await probe_status(server.target("t"), timeout=2.0)
    assert down.latency_ms is None and down.error == "connection refused"


def test_catalog_resolves_ids_globs_and_session_targets():
    env = {
        "AIRFLOW_CONN_REMSVC_WEB_1": "remsvc://web1:50051",
        "AIRFLOW_CONN_REMSVC_WEB_2": "remsvc://web2:50051",
        "AIRFLOW_CONN_POSTGRES_DEFAULT": "postgres://db:5432/x",
        "AIRFLOW_CONN_REMSVC_BAD": "remsvc://h:1?extra=%7B%22use_ssl%22%3A%20true%7D",
    }
    demo = Target("demo", "127.0.0.1", 4000, label="DEMO")
    catalog = TargetCatalog(env=env, extra=[demo])
    known, problems = catalog.scan()
    assert known[0].target is demo and known[0].source == "this session"
    assert {k.target.name for k in known[1:]} == {"remsvc_bad", "remsvc_web_1", "remsvc_web_2"}
    assert problems == []
    resolved = catalog.resolve(["demo", "remsvc_web_*", "remsvc_web_1"])
    assert [k.target.name for k in resolved] == ["demo", "remsvc_web_1", "remsvc_web_2"]
    bad = catalog.resolve(["remsvc_bad"])[0]
    assert bad.warnings and "TLS is OFF" in " ".join(bad.warnings)
    with pytest.raises(TargetLookupError, match="remsvc_nope"):
        catalog.resolve(["remsvc_nope"])


def test_services_do_not_import_textual():
    code = (
        "import sys; import console.dispatch_service, console.settings, console.demo, console.journal, "
        "console.commands.tui, console.cli; console.cli.build_parser(); "
        "print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_what_cannot_be_sent_is_refused_before_anything_is_journaled_or_sent(tmp_path):
    service = DispatchService(journal_dir=tmp_path / "journal")
    target = Target("t", "127.0.0.1", 9)
    cases = [
        ([Command("true"), Command("echo a\x00b")], target, "command 2: the command contains a NUL byte"),
        ([Command("echo \udcff")], target, "command 1: the command is not valid UTF-8"),
        ([Command("true", cmdusr="r\udcc3oot")], target, "command 1: its user is not valid UTF-8"),
        ([Command("true", src="ops\x00")], target, "command 1: its src contains a NUL byte"),
        ([Command("true")], Target("tok", "127.0.0.1", 9, bearer_token="abc\ndef"), "contains a newline"),
    ]
    for commands, where, message in cases:
        with pytest.raises(DispatchInputError, match=message):
            service.start([where], commands, DispatchOptions())
    assert not list((tmp_path / "journal").glob("*.jsonl")) and service.active == []


@DRIVES
async def test_cancel_all_names_the_reason_in_every_stream_and_the_finish_record(remsvc_server, tmp_path, how):
    service = DispatchService(journal_dir=tmp_path / "journal")
    run = service.start([remsvc_server.target("t")], [Command("echo a"), Command("sleep 30")], DispatchOptions())
    assert service.active == [run]

    def on_event(event) -> None:
        if isinstance(event, CommandResult):
            assert service.cancel_all("SIGTERM received (terminated)") == 1

    events = await drive(run, how, on_event)
    assert [type(e) for e in events if not isinstance(e, CommandSent)] == [CommandResult, StreamFinished]
    assert events[-1].error.endswith("SIGTERM received (terminated)")
    assert await service.wait_idle(1.0) and service.active == []
    assert run.outcome.state == "CANCELLED" and "SIGTERM" in run.outcome.error
    (record,) = Journal(tmp_path / "journal").read_dispatches()
    assert record.state == "CANCELLED" and record.reason == "SIGTERM received (terminated)"
    assert record.missing_tids("t") == [2]


def journaled(tmp_path):
    (record,) = Journal(tmp_path / "journal").read_dispatches()
    return record


async def test_a_run_that_never_streamed_is_journaled_as_cancelled_when_the_console_stops(remsvc_server, tmp_path):
    service = DispatchService(journal_dir=tmp_path / "journal")
    run = service.start([remsvc_server.target("t")], [Command("echo a"), Command("echo b")], DispatchOptions())
    assert run.outcome is None and service.active == [run]
    service.shutdown("console stopped")
    assert service.active == [] and run.outcome.state == "CANCELLED"
    record = journaled(tmp_path)
    assert record.state == "CANCELLED" and record.reason == "console stopped"
    assert record.missing_tids("t") == [1, 2]
    assert [e async for e in run] == [] and await run.complete() is run.outcome
    with pytest.raises(ReadOnlyError, match="console is stopping"):
        service.start([remsvc_server.target("t")], [Command("echo c")], DispatchOptions())


async def test_a_signal_closes_a_run_that_has_not_streamed_at_once(remsvc_server, tmp_path):
    service = DispatchService(journal_dir=tmp_path / "journal")
    run = service.start([remsvc_server.target("t")], [Command("echo a")], DispatchOptions())
    assert service.cancel_all("SIGTERM received (terminated)") == 1
    assert await service.wait_idle(0.5)
    assert run.outcome.error == "cancelled: SIGTERM received (terminated)"
    assert journaled(tmp_path).reason == "SIGTERM received (terminated)"


class HeldJournalService(DispatchService):
    """Holds ``start`` inside journaling until released, as a long stream prepared in a thread is."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.entered = threading.Event()
        self.release = threading.Event()

    def open_journal(self, targets):
        self.entered.set()
        assert self.release.wait(10)
        return super().open_journal(targets)


async def test_the_console_stopping_mid_preparation_waits_for_it_and_closes_the_run(remsvc_server, tmp_path):
    service = HeldJournalService(journal_dir=tmp_path / "journal")
    started: list = []
    preparing = threading.Thread(target=lambda: started.append(
        service.start([remsvc_server.target("t")], [Command("echo a")], DispatchOptions())))
    preparing.start()
    assert service.entered.wait(10)
    stopping = threading.Thread(target=service.shutdown, args=("console stopped",))
    stopping.start()
    stopping.join(0.3)
    assert stopping.is_alive(), "shutdown waits for the dispatch being prepared"
    service.release.set()
    preparing.join(10)
    stopping.join(10)
    (run,) = started
    assert run.outcome.state == "CANCELLED" and service.active == []
    record = journaled(tmp_path)
    assert record.state == "CANCELLED" and record.reason == "console stopped" and record.missing_tids("t") == [1]

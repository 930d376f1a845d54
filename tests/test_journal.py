"""The dispatch journal: private append-only JSONL per day, tokens scrubbed, damaged lines survived."""

from __future__ import annotations

import errno
import json
import stat
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from console.journal import INTERRUPTED, Journal, default_directory
from console.remsvc.model import (
    Command,
    CommandResult,
    CommandSent,
    ProtocolViolation,
    StreamFinished,
    StreamStatus,
    Target,
    command_hash,
)
from tests.helpers.remsvc_server import server_env

TOKEN = "journal-token-5e1f0c"
COMMANDS = [Command("echo one", src="tests@here"), Command("echo two", cmdusr="ops"), Command("false", cmdtyp=0)]


def targets() -> list[Target]:
    return [
        Target("web1", "10.0.0.1", 50051, use_ssl=True, ca_cert_path="/etc/ca.pem", bearer_token=TOKEN),
        Target("web2", "::1", 50052),
    ]


def result(target: str, tid: int, rc: int = 0, out: str = "", err: str = "", **flags) -> CommandResult:
    return CommandResult(target, tid, rc, out, err, command_hash(COMMANDS[tid - 1].cmd), at=1000.0 + tid,
                         elapsed_s=0.25 * tid, **flags)


def finished(target: str, status: StreamStatus, answered, missing, error=None, code=None) -> StreamFinished:
    return StreamFinished(target, status, tuple(answered), tuple(missing), error, code, elapsed_s=1.5, at=2000.0)


def run_full_dispatch(journal: Journal) -> tuple[str, list]:
    dispatch_id = journal.start(targets(), COMMANDS, options={"timeout": 30.0, "via": "test"})
    events = [
        CommandSent("web1", 1, 999.0),
        result("web1", 1, out="one\n"),
        result("web2", 1, out="one\n"),
        result("web1", 2, out="two\n", out_truncated=True),
        result("web1", 3, rc=1, err="failed\n"),
        finished("web1", StreamStatus.COMPLETED, [1, 2, 3], []),
        finished("web2", StreamStatus.DENIED, [1], [2, 3], error="web2 (::1:50052): permission denied: deny list",
                 code="PERMISSION_DENIED"),
    ]
    for event in events:
        journal.record(dispatch_id, event)
    journal.finish(dispatch_id, "FAILED", error="web2 denied")
    return dispatch_id, events


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_are_private_jsonl_with_targets_commands_results_and_missing_tids(tmp_path):
    directory = tmp_path / "state" / "remsvc-console" / "journal"
    with Journal(directory) as journal:
        dispatch_id, _ = run_full_dispatch(journal)
    for path in (tmp_path / "state", tmp_path / "state" / "remsvc-console", directory):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    path = journal.path_for(date.today())
    assert path.name == f"{date.today().isoformat()}.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    records = lines_of(path)
    assert [r["k"] for r in records] == ["start", "result", "result", "result", "result", "stream", "stream", "finish"]
    assert all(r["id"] == dispatch_id for r in records)
    start = records[0]
    assert start["user"] and start["host"]
    assert start["targets"][0] == targets()[0].describe()
    assert start["targets"][0]["token"] is True and start["targets"][0]["tls"] is True
    assert start["commands"][1] == {"tid": 2, "cmd": "echo two", "cmdtyp": 0, "cmdusr": "ops", "src": "",
                                    "hsh": command_hash("echo two")}
    assert start["options"] == {"timeout": 30.0, "via": "test"}
    assert records[3]["out_truncated"] is True and "err_truncated" not in records[3]
    assert records[6]["status"] == "denied" and records[6]["missing"] == [2, 3]
    assert records[7]["state"] == "FAILED"
    assert records[7]["missing"] == {"web1": [], "web2": [2, 3]}
    assert TOKEN not in path.read_text()


def test_default_directory_is_under_xdg_state_home(tmp_path):
    assert default_directory({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "remsvc-console" / "journal"
    assert default_directory({}) == Path.home() / ".local" / "state" / "remsvc-console" / "journal"
    journal = Journal(env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert journal.directory == tmp_path / "xdg" / "remsvc-console" / "journal"
    assert journal.directory.is_dir()


def test_each_record_reaches_the_file_before_the_call_returns(tmp_path):
    journal = Journal(tmp_path)
    dispatch_id = journal.start(targets(), COMMANDS, options={})
    path = journal.path_for(date.today())
    journal.record(dispatch_id, result("web1", 1, out="first\n"))
    assert lines_of(path)[-1]["out"] == "first\n"
    journal.record(dispatch_id, result("web1", 2, out="second\n"))
    assert lines_of(path)[-1]["out"] == "second\n"
    journal.record(dispatch_id, CommandSent("web1", 3, 1.0))
    assert len(lines_of(path)) == 3
    journal.close()


CHILD = """
import asyncio, sys
from console.journal import Journal
from console.remsvc.fanout import FanOut
from console.remsvc.model import Command, CommandResult, StreamFinished, Target

async def main(host, port, directory):
    target = Target("srv", host, int(port))
    commands = [Command("echo one"), Command("echo two"), Command("sleep 30")]
    journal = Journal(directory)
    dispatch_id = journal.start([target], commands, options={"timeout": 60})
    async for event in FanOut([target], commands, timeout=60):
        if isinstance(event, (CommandResult, StreamFinished)):
            journal.record(dispatch_id, event)

asyncio.run(main(*sys.argv[1:]))
"""


def kill_after_two_answers(script: str, tmp_path, remsvc_server) -> None:
    """Run ``script`` in a child journaling into ``tmp_path``; SIGKILL it once two answers are on disk."""
    child = subprocess.Popen([sys.executable, "-c", script, remsvc_server.host, str(remsvc_server.port), str(tmp_path)],
                             env=server_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        journal = Journal(tmp_path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and child.poll() is None:
            history = journal.read_dispatches()
            if history and len(history[0].results) == 2:
                break
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read().decode(errors="replace")
        child.kill()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        child.stderr.close()


def test_console_killed_mid_stream_leaves_every_received_response_on_disk(tmp_path, remsvc_server):
    kill_after_two_answers(CHILD, tmp_path, remsvc_server)
    history = Journal(tmp_path).read_dispatches()
    assert history.warnings == []
    (record,) = history
    assert record.interrupted and record.state == INTERRUPTED
    assert record.results[("srv", 1)].out == "one\n"
    assert record.results[("srv", 2)].out == "two\n"
    assert record.missing_tids("srv") == [3]
    xcom = record.to_xcom("srv")
    assert xcom["state"] == "FAILED"
    assert [r["tid"] for r in xcom["results"]] == [1, 2]
    assert "interrupted" in xcom["error_msg"]


def test_tokens_are_scrubbed_from_every_string_of_every_record(tmp_path):
    journal = Journal(tmp_path, redact=["given-secret-1"])
    dispatch_id = journal.start(targets(), COMMANDS, options={"note": f"Bearer {TOKEN}"})
    journal.record(dispatch_id, result("web1", 1, out=f"Authorization: Bearer {TOKEN}\n", err="given-secret-1"))
    journal.redact(["late-secret-2"])
    journal.record(dispatch_id, result("web1", 2, out="late-secret-2"))
    journal.finish(dispatch_id, "SUCCESS", error=TOKEN)
    text = journal.path_for(date.today()).read_text()
    for secret in (TOKEN, "given-secret-1", "late-secret-2"):
        assert secret not in text
    records = lines_of(journal.path_for(date.today()))
    assert records[0]["options"]["note"] == "Bearer ***"
    assert records[1]["out"] == "Authorization: Bearer ***\n"
    assert records[1]["err"] == "***"
    assert records[2]["out"] == "***"
    assert records[3]["error"] == "***"


def test_read_rebuilds_each_dispatch_newest_first(tmp_path):
    journal = Journal(tmp_path)
    first_id, events = run_full_dispatch(journal)
    second_id = journal.start(targets()[1:], COMMANDS[:1], options={})
    journal.record(second_id, result("web2", 1, out="again\n"))
    journal.record(second_id, finished("web2", StreamStatus.COMPLETED, [1], []))
    journal.finish(second_id, "SUCCESS")
    history = journal.read_dispatches()
    assert [r.dispatch_id for r in history] == [second_id, first_id]
    assert history.warnings == []
    record = history[1]
    assert record.commands == COMMANDS
    assert record.target_names == ["web1", "web2"]
    assert record.options == {"timeout": 30.0, "via": "test"}
    results = [e for e in events if isinstance(e, CommandResult)]
    assert record.results == {(r.target, r.tid): r for r in results}
    assert record.streams["web2"] == events[-1]
    assert (record.state, record.error, record.interrupted) == ("FAILED", "web2 denied", False)
    assert record.missing_tids("web2") == [2, 3] and record.missing_tids("web1") == []


def test_to_xcom_is_the_run_json_shape(tmp_path):
    journal = Journal(tmp_path)
    run_full_dispatch(journal)
    (record,) = journal.read_dispatches()
    web1 = record.to_xcom("web1")
    assert set(web1) == {"state", "results", "error_msg"}
    assert web1["state"] == "FAILED"
    assert web1["results"] == [
        {"tid": 1, "rc": 0, "out": "one\n", "err": "", "hsh": command_hash("echo one"), "cmd": "echo one"},
        {"tid": 2, "rc": 0, "out": "two\n", "err": "", "hsh": command_hash("echo two"), "cmd": "echo two"},
        {"tid": 3, "rc": 1, "out": "", "err": "failed\n", "hsh": command_hash("false"), "cmd": "false"},
    ]
    assert "tid 3" in web1["error_msg"]
    web2 = record.to_xcom("web2")
    assert web2["state"] == "FAILED" and "permission denied" in web2["error_msg"]
    assert [r["tid"] for r in web2["results"]] == [1]
    with pytest.raises(KeyError):
        record.to_xcom("web9")


def test_successful_dispatch_xcom(tmp_path):
    journal = Journal(tmp_path)
    dispatch_id = journal.start(targets()[:1], COMMANDS[:2], options={})
    journal.record(dispatch_id, result("web1", 1, out="one\n"))
    journal.record(dispatch_id, result("web1", 2, out="two\n"))
    journal.record(dispatch_id, finished("web1", StreamStatus.COMPLETED, [1, 2], []))
    journal.finish(dispatch_id, "SUCCESS")
    xcom = journal.read_dispatches()[0].to_xcom("web1")
    assert xcom["state"] == "SUCCESS" and xcom["error_msg"] is None and len(xcom["results"]) == 2


def test_truncated_trailing_line_is_skipped_with_a_warning(tmp_path):
    journal = Journal(tmp_path)
    dispatch_id = journal.start(targets()[:1], COMMANDS, options={})
    journal.record(dispatch_id, result("web1", 1, out="kept\n"))
    journal.close()
    path = journal.path_for(date.today())
    with path.open("a") as handle:
        handle.write('{"k":"result","id":"' + dispatch_id + '","target":"web1","tid":2,"rc":0,"out":"par')
    history = Journal(tmp_path).read_dispatches()
    assert len(history) == 1 and list(history[0].results) == [("web1", 1)]
    assert history[0].state == INTERRUPTED
    assert history.warnings == [f"{path}:3: truncated last line (interrupted write), skipped"]


def test_corrupt_lines_in_the_middle_are_skipped_with_file_and_line(tmp_path):
    journal = Journal(tmp_path)
    dispatch_id = journal.start(targets()[:1], COMMANDS, options={})
    journal.close()
    path = journal.path_for(date.today())
    with path.open("a") as handle:
        handle.write("this is not json\n")
        handle.write(json.dumps({"k": "stream", "id": dispatch_id, "target": "web1", "status": "bogus",
                                 "answered": [], "missing": [], "elapsed_s": 1, "at": 1}) + "\n")
        handle.write("[1, 2]\n")
        handle.write("\n")
    journal = Journal(tmp_path)
    reopened_id = journal.start(targets()[:1], COMMANDS[:1], options={})
    journal.record(reopened_id, result("web1", 1, out="after\n"))
    journal.finish(reopened_id, "SUCCESS")
    history = journal.read_dispatches()
    assert {r.dispatch_id for r in history} == {dispatch_id, reopened_id}
    assert history.warnings[0].startswith(f"{path}:2: corrupt line (")
    assert history.warnings[1].startswith(f"{path}:3: corrupt line (") and "bogus" in history.warnings[1]
    assert history.warnings[2].startswith(f"{path}:4: corrupt line (")
    assert len(history.warnings) == 3


def test_records_without_their_start_give_one_warning_per_dispatch(tmp_path):
    path = tmp_path / f"{date.today().isoformat()}.jsonl"
    lines = [json.dumps({"k": "result", "id": "lost-1", "target": "a", "tid": i, "rc": 0, "out": "", "err": "",
                         "hsh": "0", "at": 1.0, "t": 1.0}) for i in (1, 2, 3)]
    path.write_text("\n".join(lines) + "\n")
    history = Journal(tmp_path).read_dispatches()
    assert list(history) == []
    assert history.warnings == [f"{path}:1: 3 record(s) of dispatch lost-1 skipped: "
                                "its start record is missing or outside the window read"]


class Clock:
    def __init__(self, moment: datetime):
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now


def test_files_rotate_by_local_day_and_a_dispatch_spanning_midnight_is_rebuilt(tmp_path):
    clock = Clock(datetime(2026, 3, 9, 23, 59, 59))
    journal = Journal(tmp_path, clock=clock)
    dispatch_id = journal.start(targets()[:1], COMMANDS[:2], options={})
    journal.record(dispatch_id, result("web1", 1))
    clock.now += 2
    journal.record(dispatch_id, result("web1", 2))
    journal.finish(dispatch_id, "SUCCESS")
    day1, day2 = date(2026, 3, 9), date(2026, 3, 10)
    assert [r["k"] for r in lines_of(journal.path_for(day1))] == ["start", "result"]
    assert [r["k"] for r in lines_of(journal.path_for(day2))] == ["result", "finish"]
    assert stat.S_IMODE(journal.path_for(day2).stat().st_mode) == 0o600
    (record,) = journal.read_dispatches()
    assert sorted(record.results) == [("web1", 1), ("web1", 2)] and record.state == "SUCCESS"
    outside = journal.read_dispatches(since_days=0)
    assert list(outside) == [] and "outside the window" in outside.warnings[0]
    clock.now += timedelta(days=8).total_seconds()
    assert list(journal.read_dispatches(since_days=7)) == []
    assert len(journal.read_dispatches(since_days=9)) == 1


def test_misuse_is_refused_clearly(tmp_path):
    journal = Journal(tmp_path)
    with pytest.raises(ValueError, match="unknown or already finished dispatch"):
        journal.record("nope", result("web1", 1))
    dispatch_id = journal.start(targets()[:1], COMMANDS, options={})
    with pytest.raises(ValueError, match="SUCCESS, FAILED, CANCELLED"):
        journal.finish(dispatch_id, "DONE")
    journal.finish(dispatch_id, "CANCELLED")
    with pytest.raises(ValueError):
        journal.finish(dispatch_id, "CANCELLED")
    with pytest.raises(NotADirectoryError):
        Journal(journal.path_for(date.today()))


def test_a_failed_write_raises_oserror_and_the_next_write_reopens(tmp_path):
    journal = Journal(tmp_path)
    path = journal.path_for(date.today())
    path.symlink_to("/dev/full")
    with pytest.raises(OSError) as info:
        journal.start(targets()[:1], COMMANDS, options={})
    assert info.value.errno == errno.ENOSPC
    path.unlink()
    dispatch_id = journal.start(targets()[:1], COMMANDS, options={})
    journal.finish(dispatch_id, "CANCELLED")
    assert [r["k"] for r in lines_of(path)] == ["start", "finish"]


def test_ten_thousand_results_round_trip(tmp_path):
    journal = Journal(tmp_path)
    commands = [Command(f"echo {i}") for i in range(10_000)]
    dispatch_id = journal.start(targets()[:1], commands, options={})
    payload = "x" * 1024
    for tid in range(1, 10_001):
        journal.record(dispatch_id, CommandResult("web1", tid, 0, payload, "", commands[tid - 1].hsh, at=float(tid)))
    journal.record(dispatch_id, finished("web1", StreamStatus.COMPLETED, range(1, 10_001), []))
    journal.finish(dispatch_id, "SUCCESS")
    journal.close()
    (record,) = journal.read_dispatches()
    assert len(record.results) == 10_000
    xcom = record.to_xcom("web1")
    assert xcom["state"] == "SUCCESS"
    assert [r["tid"] for r in xcom["results"]] == list(range(1, 10_001))
    assert all(r["out"] == payload for r in xcom["results"])


def test_background_mode_writes_from_its_own_thread_in_batches_and_round_trips(tmp_path):
    journal = Journal(tmp_path, background=True)
    writers: list[tuple[str, int]] = []
    real = journal._write_batch

    def spy(batch):
        writers.append((threading.current_thread().name, len(batch)))
        real(batch)

    journal._write_batch = spy
    commands = [Command(f"echo {i}") for i in range(2_000)]
    dispatch_id = journal.start(targets()[:1], commands, options={})
    for tid in range(1, 2_001):
        journal.record(dispatch_id, CommandResult("web1", tid, 0, f"{tid}\n", "", commands[tid - 1].hsh, at=float(tid)))
    journal.record(dispatch_id, ProtocolViolation("web1", "an answer for tid 999, which was never sent", tid=999, rc=0,
                                                  out=f"phantom {TOKEN}\n", at=5.0))
    journal.finish(dispatch_id, "CANCELLED", error="cancelled: SIGTERM received", reason="SIGTERM received (terminated)")
    journal.close()
    assert writers and {name for name, _ in writers} == {"journal-writer"}
    assert sum(n for _, n in writers) == 2_003
    (record,) = Journal(tmp_path).read_dispatches()
    assert len(record.results) == 2_000 and len(record.commands) == 2_000
    assert record.state == "CANCELLED" and record.reason == "SIGTERM received (terminated)"
    assert record.violations == [{"target": "web1", "problem": "an answer for tid 999, which was never sent", "tid": 999,
                                  "rc": 0, "out": "phantom ***\n", "err": "", "raw": "", "at": 5.0}]


def test_background_write_failure_is_reported_and_refuses_later_records(tmp_path):
    journal = Journal(tmp_path, background=True)
    journal.path_for(date.today()).symlink_to("/dev/full")
    dispatch_id = journal.start(targets()[:1], COMMANDS, options={})
    journal.flush()
    assert journal.write_error is not None and journal.write_error.errno == errno.ENOSPC
    with pytest.raises(OSError):
        journal.record(dispatch_id, result("web1", 1))
    journal.close()


SERVICE_CHILD = """
import asyncio, sys
from console.dispatch_service import DispatchOptions, DispatchService
from console.remsvc.model import Command, Target

async def main(host, port, directory):
    service = DispatchService(journal_dir=directory)
    commands = [Command("echo one"), Command("echo two"), Command("sleep 30")]
    async for event in service.start([Target("srv", host, int(port))], commands, DispatchOptions(timeout=60)):
        pass

asyncio.run(main(*sys.argv[1:]))
"""


def test_dispatch_killed_mid_stream_has_every_answer_on_disk_with_the_writer_thread(tmp_path, remsvc_server):
    kill_after_two_answers(SERVICE_CHILD, tmp_path, remsvc_server)
    (record,) = Journal(tmp_path).read_dispatches()
    assert record.state == INTERRUPTED
    assert [record.results[("srv", t)].out for t in (1, 2)] == ["one\n", "two\n"]

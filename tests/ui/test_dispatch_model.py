"""The pane's model and the fan-out fold, fed with the event sequences the client produces."""

from __future__ import annotations

from console.remsvc.model import CmdState, Command, StreamStatus, Target
from console.ui.dispatch_model import DispatchModel, format_seconds
from console.ui.fold import describe_group, fold_by_tid
from tests.ui.scripted import finished, result, sent

A, B, C, D = (Target(n, "10.0.0.1", 50051) for n in "abcd")
COMMANDS = [Command("uname"), Command("cat /etc/app.conf")]


def test_rows_count_states_incrementally_and_time_running_rows_with_the_pane_clock():
    model = DispatchModel([A], COMMANDS, started_at=100.0)
    assert model.counts[CmdState.QUEUED] == 2
    model.apply(sent("a", 1), 100.0)
    model.apply(sent("a", 2), 100.0)
    assert model.state_of(("a", 1)) is CmdState.RUNNING
    assert model.row(0, 103.5).seconds == 3.5
    changed = model.apply(result("a", 1, 0, "Linux\n", elapsed=0.2), 104.0)
    assert changed == [0, 1]
    assert model.state_of(("a", 2)) is CmdState.RUNNING
    assert model.row(1, 106.0).seconds == 2.0
    model.apply(finished("a", (1,), (2,), StreamStatus.CLOSED_EARLY, "a (10.0.0.1:50051): connection reset"), 107.0)
    assert {state: n for state, n in model.counts.items() if n} == {CmdState.DONE: 1, CmdState.MISSING: 1}
    assert model.row(0, 0).seconds == 0.2 and model.row(0, 0).summary == "Linux"
    assert model.row(1, 0).summary == "a (10.0.0.1:50051): connection reset"
    model.finish("FAILED", "a (10.0.0.1:50051): connection reset", 107.0)
    assert model.summary(200.0) == "FAILED: closed early: a (10.0.0.1:50051): connection reset · done 1 · missing 1 · 7.0s"


def test_summary_first_line_is_inert():
    model = DispatchModel([A], COMMANDS[:1], started_at=0.0)
    model.apply(result("a", 1, 0, "\x1b]0;title\x07ok\nsecond\n"), 1.0)
    assert model.row(0, 1.0).summary == "␛]0;title␇ok"


def test_durations_format_for_a_narrow_column():
    assert [format_seconds(s) for s in (None, 0.04, 9.96, 75, 3725)] == ["", "0.0s", "10.0s", "1m15s", "1h02m"]


def test_fold_groups_identical_results_and_separates_failure_kinds():
    targets = [A, B, C, D]
    model = DispatchModel(targets, COMMANDS, started_at=0.0)
    events = [
        result("a", 1, 0, "Linux\n"), result("a", 2, 0, "port=80\n"),
        result("b", 1, 0, "Linux\n"), result("b", 2, 1, "", "process timed out"),
        result("c", 1, 0, "Linux\n"), result("c", 2, 0, "port=8080\n"),
        finished("a", (1, 2)), finished("b", (1, 2)), finished("c", (1, 2)),
        finished("d", (), (1, 2), StreamStatus.UNAVAILABLE, "d (10.0.0.1:50051): connection refused"),
    ]
    for event in events:
        model.apply(event, 1.0)
    groups = fold_by_tid(model.trackers, model.finished, model.commands, [t.name for t in targets])
    assert describe_group(groups[0]) == [
        "tid 1 · uname · unreachable: d · 3 rc 0",
        "   1 × unreachable — d",
        "   3 × rc 0: Linux — a, b, c",
    ]
    second = describe_group(groups[1])
    assert second[0] == "tid 2 · cat /etc/app.conf · unreachable: d · timed out: b · 2 rc 0 (2 different outputs)"
    assert [line.strip() for line in second[1:3]] == ["1 × unreachable — d", "1 × timed out: process timed out — b"]
    assert sorted(line.strip() for line in second[3:]) == ["1 × rc 0: port=80 — a", "1 × rc 0: port=8080 — c"]


def test_fold_headline_for_identical_output():
    model = DispatchModel([A, B], COMMANDS[:1], started_at=0.0)
    model.apply(result("a", 1, 0, "same\n"), 1.0)
    model.apply(result("b", 1, 0, "same\n"), 1.0)
    groups = fold_by_tid(model.trackers, model.finished, model.commands, ["a", "b"])
    assert describe_group(groups[0]) == ["tid 1 · uname · all 2 rc 0 · identical output"]


def test_summary_names_the_most_severe_problem_first():
    model = DispatchModel([A, B, C], COMMANDS, started_at=0.0)
    for event in (
        result("a", 1, 3, "", "config missing\n"), result("a", 2, 0, "ok\n"), finished("a", (1, 2)),
        result("b", 1, 0, "ok\n"), result("b", 2, 0, "ok\n"), finished("b", (1, 2)),
        finished("c", (), (1, 2), StreamStatus.UNAVAILABLE, "c (10.0.0.1:50051): connection refused"),
    ):
        model.apply(event, 1.0)
    model.finish("FAILED", "2 of 3 targets did not succeed; first: a: tid 1 rc 3", 2.0)
    assert model.summary(2.0).startswith("FAILED: c unreachable: c (10.0.0.1:50051): connection refused · ")
    assert "rc 3" not in model.summary(2.0)


def test_summary_of_a_single_failure_names_tid_rc_and_stderr():
    model = DispatchModel([A], COMMANDS, started_at=0.0)
    model.apply(result("a", 1, 0, "Linux\n"), 1.0)
    model.apply(result("a", 2, 1, "", "cat: /etc/app.conf: No such file or directory\n"), 1.0)
    model.apply(finished("a", (1, 2)), 1.0)
    model.finish("FAILED", None, 2.0)
    assert model.summary(2.0) == "FAILED: tid 2 rc 1: cat: /etc/app.conf: No such file or directory · done 1 · failed 1 · 2.0s"


def test_output_replaced_as_invalid_utf8_gets_the_u_flag():
    model = DispatchModel([A], COMMANDS, started_at=0.0)
    model.apply(result("a", 1, 0, "ab\ufffd\ufffdcd\n"), 1.0)
    model.apply(result("a", 2, 0, "clean\n"), 1.0)
    assert model.row(0, 1.0).invalid_utf8 is True
    assert model.row(1, 1.0).invalid_utf8 is False

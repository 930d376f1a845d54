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
    assert model.summary(200.0) == "FAILED · done 1 · missing 1 · 7.0s · a (10.0.0.1:50051): connection reset"


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
        "tid 1 · 4 targets · 2 different outcomes",
        "     3 × rc 0: Linux — a, b, c",
        "     1 × unreachable — d",
    ]
    second = describe_group(groups[1])
    assert second[0] == "tid 2 · 4 targets · 4 different outcomes"
    assert sorted(line.strip() for line in second[1:]) == sorted([
        "1 × rc 0: port=80 — a", "1 × rc 0: port=8080 — c", "1 × timed out: process timed out — b", "1 × unreachable — d",
    ])


def test_fold_headline_for_identical_output():
    model = DispatchModel([A, B], COMMANDS[:1], started_at=0.0)
    model.apply(result("a", 1, 0, "same\n"), 1.0)
    model.apply(result("b", 1, 0, "same\n"), 1.0)
    groups = fold_by_tid(model.trackers, model.finished, model.commands, ["a", "b"])
    assert describe_group(groups[0]) == ["tid 1 · 2 targets · rc 0 · identical output"]

"""SVG snapshots of the Dispatch pane: idle, mid-run, finished with a failure and a fan-out with an
unreachable target, in two themes at two sizes; each shows its state and reason on screen.

Everything that changes between runs is frozen: the clock, the host name in ``src``, the target's
address (a fixed one nobody contacts: status polling is off), and the events (a scripted run).
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from console.remsvc.model import Command, StreamStatus, Target
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from tests.ui.helpers import screen_text
from tests.ui.scripted import ScriptedRun, finished, result, sent

TARGET = Target("web-1", "10.0.0.5", 50051)
TEXT = "hostname\nuptime -p\ndf -h /var\nsleep 5; echo slept\ncat /etc/missing.conf"
COMMANDS = [Command(line, src="remsvc-console@bastion") for line in TEXT.splitlines()]
MID_RUN = [
    *(sent("web-1", tid) for tid in range(1, 6)),
    result("web-1", 1, 0, "web-1\n", elapsed=0.05),
    result("web-1", 2, 0, "up 3 weeks, 2 days\n", elapsed=0.04),
    result("web-1", 3, 0, "Filesystem  Size  Used Avail Use% Mounted on\n/dev/sda2    40G   31G  7.1G  82% /var\n", elapsed=0.06),
]
FINISHED = [
    *MID_RUN,
    result("web-1", 4, 0, "slept\n", elapsed=5.01),
    result("web-1", 5, 1, "", "cat: /etc/missing.conf: No such file or directory\n", elapsed=0.02),
    finished("web-1", (1, 2, 3, 4, 5)),
]


FLEET = [Target(name, f"10.0.0.{i}", 50051) for i, name in enumerate(("web-1", "web-2", "web-3", "db-1"), start=5)]
FANOUT = [
    *(event for name in ("web-1", "web-2", "web-3") for event in (
        *(sent(name, tid) for tid in range(1, 6)),
        result(name, 1, 0, f"{name}\n", elapsed=0.05),
        result(name, 2, 0, "up 3 weeks, 2 days\n", elapsed=0.04),
        result(name, 3, 0, "/dev/sda2    40G   31G  7.1G  82% /var\n", elapsed=0.06),
        result(name, 4, 0, "slept\n", elapsed=5.01),
        result(name, 5, 1 if name == "web-3" else 0, "" if name == "web-3" else "ok\n",
               "cat: /etc/missing.conf: No such file or directory\n" if name == "web-3" else "", elapsed=0.02),
        finished(name, (1, 2, 3, 4, 5)),
    )),
    finished("db-1", (), (1, 2, 3, 4, 5), StreamStatus.UNAVAILABLE, "db-1 (10.0.0.8:50051): connection refused"),
]
EXPECTED = {
    "mid-run": "running (2 pending) · done 3 · running 1 · sent 1",
    "finished": "FAILED: tid 5 rc 1: cat: /etc/missing.conf",
    "fan-out": "FAILED: db-1 unreachable",
}


def make_snapshot_app(tmp_path, theme: str, targets=(TARGET,)) -> ConsoleApp:
    ctx = ConsoleContext(
        settings=Settings(journal_dir=tmp_path / "journal", theme=theme),
        targets=list(targets),
        editor_text=TEXT,
        clock=lambda: 1000.0,
        hostname="bastion",
        poll_status=False,
    )
    return ConsoleApp(ctx)


def before(stage: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        for widget in app.query(TextArea):
            widget.cursor_blink = False
        for widget in app.query(Input):
            widget.cursor_blink = False
        if stage == "idle":
            await pilot.pause()
            return
        pane = app.dispatch_pane
        if stage == "fan-out":
            pane.begin(ScriptedRun(FLEET, COMMANDS, FANOUT))
        else:
            events = MID_RUN if stage == "mid-run" else FINISHED
            pane.begin(ScriptedRun([TARGET], COMMANDS, events, hold=stage == "mid-run"))
        expected = EXPECTED[stage]
        while expected not in screen_text(app):
            await pilot.pause(0.02)
        await pilot.pause()
        if stage == "fan-out":
            await pilot.press("end", "space")
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("theme", ["dark", "high-contrast"])
@pytest.mark.parametrize("stage", ["idle", "mid-run", "finished", "fan-out"])
def test_dispatch_pane_snapshot(snap_compare, tmp_path, stage, theme, size):
    targets = FLEET if stage == "fan-out" else (TARGET,)
    assert snap_compare(make_snapshot_app(tmp_path, theme, targets), terminal_size=size, run_before=before(stage))


@pytest.mark.parametrize("stage", ["idle", "mid-run", "finished", "fan-out"])
async def test_dispatch_states_fit_80_columns(tmp_path, stage):
    """State and reason on screen at 80x24, nothing cut that says why."""
    targets = FLEET if stage == "fan-out" else (TARGET,)
    app = make_snapshot_app(tmp_path, "dark", targets)
    async with app.run_test(size=(80, 24)) as pilot:
        await before(stage)(pilot)
        shown = screen_text(app)
    if stage == "idle":
        assert "No dispatch yet. i edits the commands above" in shown and "? lists every key." in shown
    elif stage == "finished":
        assert "FAILED: tid 5 rc 1: cat: /etc/missing.conf: No such file or directory" in shown
    elif stage == "fan-out":
        assert "FAILED: db-1 unreachable: db-1 (10.0.0.8:50051): connection refused" in shown
        assert "▾ tid 5 · cat /etc/missing.conf · unreachable: db-1 · rc 1: web-3 · 2 rc 0" in shown
        assert "1 × unreachable — db-1" in shown and "1 × rc 1: cat: /etc/missing.conf" in shown
    else:
        assert EXPECTED[stage] in shown and "running" in shown

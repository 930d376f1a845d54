"""SVG snapshots of the Dispatch pane: idle, mid-run and finished, in two themes at two sizes.

Everything that changes between runs is frozen: the clock, the host name in ``src``, the target's
address (a fixed one nobody contacts: status polling is off), and the events (a scripted run).
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from console.remsvc.model import Command, Target
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


def make_snapshot_app(tmp_path, theme: str) -> ConsoleApp:
    ctx = ConsoleContext(
        settings=Settings(journal_dir=tmp_path / "journal", theme=theme),
        targets=[TARGET],
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
        events = MID_RUN if stage == "mid-run" else FINISHED
        pane.begin(ScriptedRun([TARGET], COMMANDS, events, hold=stage == "mid-run"))
        expected = "done 3 · running 1 · sent 1" if stage == "mid-run" else "FAILED · done 4 · failed 1"
        while expected not in screen_text(app):
            await pilot.pause(0.02)
        await pilot.pause()
        pane.table.focus()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("theme", ["dark", "high-contrast"])
@pytest.mark.parametrize("stage", ["idle", "mid-run", "finished"])
def test_dispatch_pane_snapshot(snap_compare, tmp_path, stage, theme, size):
    assert snap_compare(make_snapshot_app(tmp_path, theme), terminal_size=size, run_before=before(stage))

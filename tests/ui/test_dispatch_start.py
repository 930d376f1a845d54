"""A long stream is parsed, checked, journaled and modelled in a thread after the run key: the
result is the same dispatch as a short one's, and refusals still reach the screen."""

from __future__ import annotations

from console.journal import Journal
from console.remsvc.model import CmdState, Target
from console.ui.panes.dispatch import OFF_LOOP_LINES
from tests.ui.helpers import run_to_end, wait_for


async def test_a_long_stream_prepared_off_the_loop_runs_every_command(remsvc_server, make_app, ui_settings):
    count = OFF_LOOP_LINES + 200
    text = "\n".join(f"echo {i}" for i in range(1, count + 1))
    app = make_app([remsvc_server.target("t")], text)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await run_to_end(pilot, timeout=120)
        assert len(pane.model) == count
        assert pane.model.counts[CmdState.DONE] == count
        assert pane.model.result(("t", count)).out == f"{count}\n"
        assert pane.model.dispatch_id is not None
    (record,) = Journal(ui_settings.journal_dir).read_dispatches()
    assert record.dispatch_id == pane.model.dispatch_id and record.state == "SUCCESS"


async def test_a_long_stream_with_nothing_to_run_is_refused_with_the_reason(make_app):
    text = "\n".join(["# only notes"] * (OFF_LOOP_LINES + 5))
    app = make_app([Target("t", "127.0.0.1", 9)], text)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("nothing to run" in n.message for n in app._notifications),
                       what="refusal shown")
        assert app.dispatch_pane.model is None and not app.dispatch_pane._starting


async def test_a_second_run_key_while_preparing_starts_nothing_more(remsvc_server, make_app, ui_settings):
    text = "\n".join(["sleep 30", *["true"] * OFF_LOOP_LINES])
    app = make_app([remsvc_server.target("t")], text)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r", "ctrl+r")
        await wait_for(pilot, lambda: pane.model is not None, what="dispatch start")
        await pilot.press("ctrl+r")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not pane.model.running, timeout=60, what="dispatch cancelled")
    assert len(Journal(ui_settings.journal_dir).read_dispatches()) == 1

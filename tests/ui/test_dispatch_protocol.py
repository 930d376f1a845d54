"""Protocol errors reach the Dispatch pane: a hostile RemSvc peer's phantom tids, repeated tids and
undecodable replies are named in the summary, and a repeated tid marks its row and its output."""

from __future__ import annotations

from console.remsvc.model import CmdState, Target
from tests.remsvc.test_hostile_server import SCRIPTS, HostileServer
from tests.ui.helpers import run_to_end, screen_text, wait_for


async def test_answers_for_tids_never_sent_are_named_in_the_summary(make_app):
    async with HostileServer(SCRIPTS["phantom"]) as server:
        app = make_app([Target("hostile", "127.0.0.1", server.port)], "echo 1\necho 2")
        async with app.run_test(size=(80, 24)) as pilot:
            await run_to_end(pilot)
            pane = app.dispatch_pane
            assert pane.model.counts[CmdState.DONE] == 2 and pane.model.violation_count == 3
            await wait_for(pilot, lambda: "protocol errors 3" in screen_text(app), what="protocol error count")
            summary = str(pane.query_one("#summary").render())
            assert summary.startswith("FAILED: protocol error:")
            assert "tid 999, which was never sent" in summary


async def test_a_second_answer_marks_its_row_and_shows_in_its_output(make_app):
    async with HostileServer(SCRIPTS["duplicate"]) as server:
        app = make_app([Target("hostile", "127.0.0.1", server.port)], "echo 1\necho 2")
        async with app.run_test(size=(80, 24)) as pilot:
            await run_to_end(pilot)
            pane = app.dispatch_pane
            assert pane.model.result(("hostile", 1)).out == "first answer\n"
            assert pane.model.row(0, 0.0).protocol_error and not pane.model.row(1, 0.0).protocol_error
            pane.table.focus()
            pane.table.cursor_row = 0
            await wait_for(pilot, lambda: "protocol error: a second answer for tid 1" in screen_text(app),
                           what="the row's protocol note in its output")
            row_line = next(line for line in screen_text(app).splitlines() if "echo 1" in line and "first answer" in line)
            assert " failed " in row_line and " P " in row_line


async def test_an_undecodable_reply_is_named_while_the_other_answers_stand(make_app):
    async with HostileServer(SCRIPTS["garbage"]) as server:
        app = make_app([Target("hostile", "127.0.0.1", server.port)], "echo 1\necho 2\necho 3")
        async with app.run_test(size=(80, 24)) as pilot:
            await run_to_end(pilot)
            pane = app.dispatch_pane
            assert pane.model.counts[CmdState.DONE] == 3
            await wait_for(pilot, lambda: "is not a RemResMsg" in screen_text(app), what="undecodable reply named")

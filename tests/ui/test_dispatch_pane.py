"""The Dispatch pane driven with the keyboard against real RemSvc servers (child processes)."""

from __future__ import annotations

import json
import os
import stat

from console.dispatch_service import ReadOnlyError
from console.journal import Journal
from console.remsvc.client import RemSvcClient
from console.remsvc.model import CmdState
from console.settings import Settings
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.history import HistoryScreen
from console.ui.screens.output import OutputScreen
from console.ui.screens.quit import QuitScreen
from tests.ui.helpers import run_to_end, screen_text, wait_for


def states(pane, target="t"):
    return [pane.model.state_of((target, tid)) for tid in range(1, len(pane.model.commands) + 1)]


async def server_command_count(target) -> int:
    async with RemSvcClient(target) as client:
        return (await client.get_status()).commands


async def test_three_command_stream_reaches_final_states(remsvc_server, make_app, ui_settings):
    text = "echo one\nsleep 0.5; echo two >&2; exit 3\nprintf 'a\\tb\\n'"
    app = make_app([remsvc_server.target("t")], text)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: pane.model is not None and pane.model.state_of(("t", 2)) is CmdState.RUNNING,
                       what="tid 2 running")
        await wait_for(pilot, lambda: "running" in screen_text(app), what="running row on screen")
        await wait_for(pilot, lambda: not pane.model.running, what="dispatch end")
        assert states(pane) == [CmdState.DONE, CmdState.FAILED, CmdState.DONE]
        rows = [pane.model.row(i, 0.0) for i in range(3)]
        assert [r.rc for r in rows] == [0, 3, 0]
        assert rows[0].summary == "one" and rows[1].summary == "two"
        shown = screen_text(app)
        assert "FAILED: tid 2 rc 3: two · done 2 · failed 1" in shown
        assert "failed" in shown and shown.count("done") >= 2
    history = Journal(ui_settings.journal_dir).read_dispatches()
    assert len(history) == 1
    record = history[0]
    assert record.state == "FAILED"
    assert sorted(record.results) == [("t", 1), ("t", 2), ("t", 3)]
    assert record.results[("t", 2)].err == "two\n"


async def test_denied_stream_marks_later_tids_never_run(remsvc_server_factory, make_app, tmp_path):
    server = remsvc_server_factory("[denylist]\nno_rm = ^rm\\b\n")
    marker = tmp_path / "after-ran"
    # tid 1 takes a moment so every command is written before the server aborts the stream: a write
    # racing the abort hits grpc.aio's INTERNAL "Internal error from Core" (grpc/grpc#36066).
    app = make_app([server.target("t")], f"sleep 0.3; echo ok\nrm -rf {tmp_path}/nothing\ntouch {marker}")
    async with app.run_test(size=(80, 24)) as pilot:
        await run_to_end(pilot)
        pane = app.dispatch_pane
        assert states(pane) == [CmdState.DONE, CmdState.DENIED, CmdState.DENIED], pane.model.finished
        assert pane.model.row(2, 0.0).summary == "never ran: the stream was denied"
        shown = screen_text(app)
        assert "denied" in shown and "permission denied" in shown
    assert not marker.exists()


async def test_server_killed_mid_stream_shows_answered_and_missing(remsvc_server, make_app, ui_settings):
    app = make_app([remsvc_server.target("t")], "echo 1\necho 2\nsleep 10\necho 4")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: pane.model is not None and pane.model.state_of(("t", 3)) is CmdState.RUNNING,
                       what="tid 3 running")
        remsvc_server.kill()
        await wait_for(pilot, lambda: not pane.model.running, what="dispatch end after kill")
        assert states(pane) == [CmdState.DONE, CmdState.DONE, CmdState.MISSING, CmdState.MISSING]
        shown = screen_text(app)
        assert "missing 2" in shown and "done 2" in shown
    record = Journal(ui_settings.journal_dir).read_dispatches()[0]
    assert {key: r.out for key, r in record.results.items()} == {("t", 1): "1\n", ("t", 2): "2\n"}
    assert record.state == "FAILED"
    assert record.missing_tids("t") == [3, 4]


async def test_cancel_keeps_answered_tids_and_journals_them(remsvc_server, make_app, ui_settings):
    app = make_app([remsvc_server.target("t")], "echo a\nsleep 10\necho c")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: pane.model is not None and pane.model.state_of(("t", 2)) is CmdState.RUNNING,
                       what="tid 2 running")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not pane.model.running, what="cancelled dispatch end")
        assert states(pane) == [CmdState.DONE, CmdState.CANCELLED, CmdState.CANCELLED]
        assert "CANCELLED" in screen_text(app)
    record = Journal(ui_settings.journal_dir).read_dispatches()[0]
    assert record.state == "CANCELLED"
    assert list(record.results) == [("t", 1)]
    assert record.missing_tids("t") == [2, 3]


async def test_read_only_refuses_in_the_service_and_sends_nothing(remsvc_server, make_app, tmp_path):
    settings = Settings(journal_dir=tmp_path / "journal", read_only=True)
    target = remsvc_server.target("t")
    app = make_app([target], "echo must-not-run", settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        pane = app.dispatch_pane
        assert pane.model is None
        assert "READ-ONLY" in screen_text(app)
        assert any("read-only" in n.message for n in app._notifications)
        try:
            app.ctx.service.start([target], [], pane.ctx.options)
        except ReadOnlyError:
            pass
        else:
            raise AssertionError("the service accepted a dispatch while read-only")
        app.action_toggle_read_only()
        assert app.ctx.service.read_only, "read-only set by config must not be switched off from the UI"
    assert await server_command_count(target) == 0
    assert not (tmp_path / "journal").exists() or not any((tmp_path / "journal").iterdir())


async def test_read_only_toggled_from_the_palette_blocks_dispatch(remsvc_server, make_app):
    target = remsvc_server.target("t")
    app = make_app([target], "echo nope")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Toggle read-only")
        await wait_for(pilot, lambda: "Toggle read-only" in screen_text(app), what="palette hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.ctx.service.read_only, what="read-only on")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.dispatch_pane.model is None
        assert "READ-ONLY" in screen_text(app)
    assert await server_command_count(target) == 0


async def test_fanout_folds_identical_outputs_and_keeps_unreachable_apart(remsvc_server_factory, make_app, tmp_path):
    servers = [
        remsvc_server_factory(env={"NODE_COLOUR": colour}) for colour in ("blue", "blue", "green")
    ]
    dead = remsvc_server_factory()
    dead_target = dead.target("dead")
    dead.kill()
    targets = [s.target(name) for s, name in zip(servers, ("a", "b", "c"))] + [dead_target]
    settings = Settings(journal_dir=tmp_path / "journal", fanout_confirm_threshold=3)
    app = make_app(targets, "echo same\necho $NODE_COLOUR", settings=settings)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert "Dispatch to 4 targets?" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: pane.model is not None and not pane.model.running, what="fan-out end")
        fanout = app.query_one("#fanout")
        assert pane.grouped and app.focused is fanout, "a fan-out opens folded, on the groups"
        lines = fanout.text.splitlines()
        assert lines == [
            "▸ tid 1 · echo same · unreachable: dead · 3 rc 0",
            "▸ tid 2 · echo $NODE_COLOUR · unreachable: dead · 3 rc 0 (2 different outputs)",
        ]
        assert "FAILED: dead unreachable" in screen_text(app)
        await pilot.press("space")
        await pilot.pause()
        lines = fanout.text.splitlines()
        assert [line.strip() for line in lines[1:3]] == ["1 × unreachable — dead", "3 × rc 0: same — a, b, c"]
        assert "3 × rc 0: same — a, b, c" in screen_text(app)
        await pilot.press("down", "down", "y")
        await pilot.pause()
        assert app.clipboard == "same\n", "the group's output, exactly"
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputScreen), what="full view of a group")
        assert app.screen.key == ("dead", 2), "a group opens on its worst outcome"
        assert "dead · tid 2 · missing" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("g")
        assert not pane.grouped and app.focused is pane.table


async def test_escape_sequences_in_output_are_inert(remsvc_server, make_app):
    payload = r"printf 'A\033]52;c;aGVsbG8=\007B\033]0;owned\007C\033[2J\033[HD\rE\033[31mF\n'"
    app = make_app([remsvc_server.target("t")], payload)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_to_end(pilot)
        pane = app.dispatch_pane
        assert pane.model.state_of(("t", 1)) is CmdState.DONE
        strips = app.screen._compositor.render_strips()
        drawn = "".join(seg.text for strip in strips for seg in strip)
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in drawn)
        assert "A␛]52;c;aGVsbG8=␇B␛]0;owned␇C␛[2J␛[HD␍E␛[31mF" in drawn
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg
        assert app.clipboard == ""


async def test_markup_in_output_is_shown_literally(remsvc_server, make_app):
    app = make_app([remsvc_server.target("t")], "echo '[bold red]not markup[/] [link=http://x]y[/link]'")
    async with app.run_test(size=(100, 30)) as pilot:
        await run_to_end(pilot)
        assert "[bold red]not markup[/] [link=http://x]y[/link]" in screen_text(app)


async def test_full_view_search_copy_and_save(remsvc_server, make_app, ui_settings):
    cmd = "for i in $(seq 1 200); do echo line-$i; done; printf 'needle-one \\033[31mred\\n'; echo needle-two >&2"
    app = make_app([remsvc_server.target("t")], cmd)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_to_end(pilot)
        pane = app.dispatch_pane
        assert app.focused is pane.table
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputScreen), what="full view")
        view = app.screen.view
        assert app.focused is view and view.size.height >= 19, "the output gets the whole screen"
        await pilot.press("end")
        assert int(view.scroll_y) == len(view.lines) - view.size.height, "end jumps, no animation"
        await pilot.press("home")
        assert int(view.scroll_y) == 0
        await pilot.press("slash")
        await pilot.press(*"needle", "enter")
        await pilot.pause()
        assert len(view.matches) == 2 and view.current_match == 0
        first_y = view.matches[0][0]
        assert view.lines[first_y].text == "needle-one ␛[31mred"
        assert int(view.scroll_y) <= first_y < int(view.scroll_y) + view.size.height
        assert "needle-one" in screen_text(app)
        await pilot.press("n")
        assert view.current_match == 1 and view.lines[view.matches[1][0]].kind == "err"
        await pilot.press("y")
        await pilot.pause()
        expected = "".join(f"line-{i}\n" for i in range(1, 201)) + "needle-one \x1b[31mred\n"
        assert app.clipboard == expected, "copy is the command's stdout, byte for byte"
        await pilot.press("s")
        await pilot.pause()
        saved = sorted(ui_settings.output_dir.iterdir())
        status = str(app.screen.query_one("#full-status").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, OutputScreen) and app.focused is pane.table
    stdout_file = next(p for p in saved if p.name.endswith(".stdout.txt"))
    stderr_file = next(p for p in saved if p.name.endswith(".stderr.txt"))
    assert stdout_file.read_text() == expected
    assert stderr_file.read_text() == "needle-two\n"
    assert stat.S_IMODE(os.stat(stdout_file).st_mode) == 0o600
    assert str(stdout_file) in status, "the view says where the output went"


async def test_full_view_follows_a_running_command(remsvc_server, make_app):
    app = make_app([remsvc_server.target("t")], "echo first\nsleep 1; seq 1 300")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: pane.model is not None and pane.model.state_of(("t", 2)) is CmdState.RUNNING,
                       what="tid 2 running")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputScreen), what="full view")
        screen = app.screen
        assert screen.key == ("t", 2) and screen.follow
        assert "following" in screen_text(app)
        await wait_for(pilot, lambda: not pane.model.running, what="dispatch end")
        await pilot.pause()
        view = screen.view
        assert view.lines[-1].text == "300"
        assert int(view.scroll_y) == len(view.lines) - view.size.height, "follow keeps the end in view"
        assert "300" in screen_text(app).split("\n")[view.size.height]


async def test_quitting_mid_stream_asks_and_waiting_quits_when_done(remsvc_server, make_app, ui_settings):
    app = make_app([remsvc_server.target("t")], "sleep 1; echo late")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: pane.model is not None and pane.running, what="running")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), what="quit question")
        assert "A dispatch is running. Quit?" in screen_text(app)
        await pilot.press("escape")
        assert app.is_running and not isinstance(app.screen, QuitScreen) and pane.running
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), what="quit question again")
        await pilot.press("w")
        await wait_for(pilot, lambda: not app.is_running, timeout=30, what="quit after the dispatch")
    record = Journal(ui_settings.journal_dir).read_dispatches()[0]
    assert record.state == "SUCCESS" and record.results[("t", 1)].out == "late\n"


async def test_history_reruns_into_the_editor_and_exports_json(remsvc_server, make_app, ui_settings):
    target = remsvc_server.target("t")
    app = make_app([target], "echo first\necho second")
    async with app.run_test(size=(100, 30)) as pilot:
        await run_to_end(pilot)
        pane = app.dispatch_pane
        first_id = pane.model.dispatch_id
        pane.query_one("#editor").load_text("something else")
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history screen")
        await pilot.press("e")
        await pilot.pause()
        exported = [p for p in ui_settings.output_dir.iterdir() if p.suffix == ".json"]
        assert len(exported) == 1
        await pilot.press("r")
        await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen), what="history closed")
        assert pane.query_one("#editor").text == "echo first\necho second"
        assert [t.name for t in pane.targets] == ["t"]
        await pilot.press("2", "1")
        assert pane.query_one("#editor").text == "echo first\necho second", "a re-run leaves focus on the rows"
        assert pane.model.dispatch_id == first_id, "re-run must not dispatch by itself"
    data = json.loads(exported[0].read_text())
    assert data["state"] == "SUCCESS" and data["error_msg"] is None
    assert [(r["tid"], r["rc"], r["out"], r["cmd"]) for r in data["results"]] == [
        (1, 0, "first\n", "echo first"), (2, 0, "second\n", "echo second")]
    assert len(Journal(ui_settings.journal_dir).read_dispatches()) == 1
    assert await server_command_count(target) == 2


async def test_keymap_from_settings_remaps_run(remsvc_server, make_app, tmp_path):
    settings = Settings(journal_dir=tmp_path / "journal", keymap={"dispatch.run": "f9"})
    app = make_app([remsvc_server.target("t")], "echo remapped", settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "f9 runs" in screen_text(app)
        assert "f9 Run" in screen_text(app).splitlines()[-1], "the footer shows the remapped key"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.dispatch_pane.model is None
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.dispatch_pane.model is not None and not app.dispatch_pane.model.running,
                       what="remapped run")
        assert app.dispatch_pane.model.row(0, 0).summary == "remapped"


async def test_status_line_shows_latency_and_server_status(remsvc_server, make_app):
    app = make_app([remsvc_server.target("t")], poll_status=True)
    async with app.run_test(size=(100, 24)) as pilot:
        bar = app.query_one("#status-bar")
        await wait_for(pilot, lambda: "t" in bar.statuses, what="status poll")
        line = screen_text(app).splitlines()[0]
        assert f"t 127.0.0.1:{remsvc_server.port} insecure" in line
        assert "ping" in line and "uptime" in line and "ms" in line


async def test_status_line_warns_when_a_token_travels_without_tls(remsvc_server, make_app):
    secret = "s3cr3t-token-value"
    app = make_app([remsvc_server.target("t", bearer_token=secret)])
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        shown = screen_text(app)
    assert "token sent without TLS: t" in shown
    assert secret not in shown


async def test_quitting_mid_stream_leaves_a_complete_journal(remsvc_server, make_app, ui_settings):
    app = make_app([remsvc_server.target("t")], "echo before\nsleep 10\necho never")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: pane.model is not None and pane.model.state_of(("t", 2)) is CmdState.RUNNING,
                       what="tid 2 running")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), what="quit question")
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.is_running, timeout=20, what="cancel and quit")
    record = Journal(ui_settings.journal_dir).read_dispatches()[0]
    assert record.state == "CANCELLED"
    assert {key: r.out for key, r in record.results.items()} == {("t", 1): "before\n"}
    assert record.missing_tids("t") == [2, 3]

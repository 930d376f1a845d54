"""The key model: nothing meant for the console types into a text field, help and jump come from
the binding registry, and the README's key table is the registry's."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import Footer

from console.demo import SAMPLE_STREAM
from console.remsvc.model import CmdState, Command, Target
from console.settings import Settings, load_settings
from console.ui import bindings
from console.ui.screens.help import HelpScreen
from console.ui.screens.jump import JumpScreen, resolve
from console.ui.widgets.status_bar import TargetStatus
from tests.ui.helpers import screen_text, wait_for
from tests.ui.scripted import ScriptedRun, finished, result, sent

REPO = Path(__file__).resolve().parents[2]
UNUSED = Target("web-1", "127.0.0.1", 9)


def footer_text(app) -> str:
    return screen_text(app).splitlines()[-1]


async def test_digits_and_help_from_the_first_screen_never_type_into_the_editor(make_app):
    app = make_app([UNUSED], SAMPLE_STREAM)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.query_one("#editor")
        tabs = app.query_one("#panes")
        await pilot.press("2")
        assert tabs.active == "bundles"
        await pilot.press("3")
        assert tabs.active == "health"
        await pilot.press("1")
        assert tabs.active == "dispatch"
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help closed")
        await pilot.press("2", "1")
        assert tabs.active == "dispatch"
        assert editor.text == SAMPLE_STREAM, "no key from the first screen landed in the editor"


async def test_editor_is_entered_with_i_and_left_with_escape(make_app):
    app = make_app([UNUSED], "hostname")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.focused.id == "results"
        assert "Copy" in footer_text(app) and "Leave editor" not in footer_text(app)
        await pilot.press("i")
        assert app.focused.id == "editor"
        await pilot.pause()
        footer = footer_text(app)
        assert "Leave editor" in footer and "Copy" not in footer, "the footer shows the focused widget's keys"
        await pilot.press("end", *"; uptime", "escape")
        assert app.focused.id == "results"
        app.query_one("#timeout").focus()
        await pilot.press("escape")
        assert app.focused.id == "results", "escape leaves an option field too"
        await pilot.press("3")
        assert app.query_one("#panes").active == "health"
        assert app.query_one("#editor").text == "hostname; uptime"


async def test_help_lists_every_pane_with_remapped_keys_and_closes_with_escape(make_app, tmp_path):
    settings = Settings(journal_dir=tmp_path / "j", keymap={"dispatch.run": "f9", "health.poll_now": "ctrl+y"})
    app = make_app([UNUSED], settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        text = app.screen.text
        for heading in ("Anywhere", "Dispatch", "Output view", "Bundles", "Health"):
            assert f"\n{heading}\n" in f"\n{text}", heading
        assert re.search(r"^  f9 +Run$", text, re.M), "the remapped run key"
        assert not re.search(r"^  ctrl\+r f5 +Run$", text, re.M)
        assert re.search(r"^  ctrl\+y +Poll now$", text, re.M), "Health's remapped key, from the registry"
        for binding in bindings.BUNDLES:
            assert binding.description in text
        assert "Keys (remap by id" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help closed")


async def test_colon_jumps_to_a_pane_by_name(make_app):
    app = make_app([UNUSED])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, JumpScreen), what="jump prompt")
        await pilot.press(*"hea", "enter")
        await wait_for(pilot, lambda: app.query_one("#panes").active == "health", what="health pane")
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, JumpScreen), what="jump prompt")
        await pilot.press(*"nothing", "enter")
        await pilot.pause()
        assert isinstance(app.screen, JumpScreen)
        assert any("no pane or command named 'nothing'" in n.message for n in app._notifications)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, JumpScreen), what="jump cancelled")
    assert resolve(":d") == "show_pane('dispatch')" and resolve("h") is None and resolve("q") == "quit"


async def test_slash_filters_rows_by_target_or_state(make_app):
    targets = [Target(name, "10.0.0.1", 50051) for name in ("web-1", "web-2", "db-1")]
    commands = [Command("true"), Command("false")]
    events = []
    for name in ("web-1", "web-2", "db-1"):
        events += [sent(name, 1), sent(name, 2), result(name, 1, 0, ""), result(name, 2, 1 if name == "web-2" else 0, ""),
                   finished(name, (1, 2))]
    app = make_app(targets)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        pane.begin(ScriptedRun(targets, commands, events))
        await wait_for(pilot, lambda: not pane.model.running, what="end")
        await pilot.press("g")
        assert app.focused is pane.table
        await pilot.press("slash", *"fail")
        await pilot.pause()
        table = pane.table
        assert table.row_count == 1 and table.cursor_key == ("web-2", 2)
        await pilot.press("enter")
        assert app.focused is table
        await pilot.press("slash")
        app.query_one("#filter").value = ""
        await pilot.press(*"db")
        await pilot.pause()
        assert [table.model.rows[table._model_index(i)] for i in range(table.row_count)] == [("db-1", 1), ("db-1", 2)]
        assert "db-1" in screen_text(app) and "web-2" not in screen_text(app).split("tid state")[-1]
        await pilot.press("escape")
        assert table.row_count == 6 and app.focused is table
        await pilot.press("slash", *"web-2", "enter")
        assert table.row_count == 2 and app.focused is table
        await pilot.press("escape")
        assert table.row_count == 6 and not app.query_one("#filter").display, "escape on the rows clears the filter"


async def test_theme_chosen_in_the_app_is_saved_to_the_settings_file(make_app, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("# my settings\nread_only: false\n")
    settings = load_settings(config, env={}, overrides={"journal_dir": str(tmp_path / "j")})
    app = make_app([UNUSED], settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "light"
        await pilot.pause()
    assert config.read_text() == "# my settings\nread_only: false\ntheme: light\n"
    assert load_settings(config, env={}).theme == "light"


async def test_editor_shows_the_demo_stream_whole_at_80x24(make_app):
    app = make_app([UNUSED], SAMPLE_STREAM)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = screen_text(app)
    for line in SAMPLE_STREAM.splitlines():
        assert line[:60] in shown, line


async def test_status_line_names_the_target_that_is_down(remsvc_server, remsvc_server_factory, make_app):
    dead = remsvc_server_factory()
    dead_target = dead.target("dead")
    dead.kill()
    app = make_app([remsvc_server.target("alive"), dead_target], poll_status=True)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.query_one("#status-bar")
        await wait_for(pilot, lambda: len(bar.statuses) == 2, what="status poll")
        await pilot.pause()
        line = screen_text(app).splitlines()[0]
    assert "up 1/2 · down: dead" in line


async def test_status_line_command_count_follows_a_dispatch_promptly(remsvc_server, make_app, tmp_path):
    settings = Settings(journal_dir=tmp_path / "j", status_interval=3600)
    app = make_app([remsvc_server.target("t")], "true\ntrue\ntrue", settings=settings, poll_status=True)
    async with app.run_test(size=(100, 24)) as pilot:
        bar = app.query_one("#status-bar")
        await wait_for(pilot, lambda: "t" in bar.statuses, what="first status poll")
        assert "0 cmds" in bar.statuses["t"].status
        await pilot.press("ctrl+r")
        pane = app.dispatch_pane
        await wait_for(pilot, lambda: pane.model is not None and not pane.model.running, what="dispatch end")
        await wait_for(pilot, lambda: "3 cmds" in ((bar.statuses.get("t") or TargetStatus()).status or ""),
                       what="status poll after the dispatch (the interval is an hour)")
        assert "3 cmds" in screen_text(app).splitlines()[0]
        assert pane.model.state_of(("t", 3)) is CmdState.DONE


def test_readme_key_table_is_the_binding_registry():
    readme = (REPO / "README.md").read_text()
    table = bindings.key_table_markdown()
    assert table in readme, "README's key table differs from console/ui/bindings.py: paste key_table_markdown()"
    ids = set(re.findall(r"\| `([a-z_]+\.[a-z_.]+)` \|", readme))
    assert ids == bindings.binding_ids()

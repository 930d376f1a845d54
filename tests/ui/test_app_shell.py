"""The app shell: panes by key, bindings with ids, the command palette, themes, the target picker."""

from __future__ import annotations

import inspect

from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

import console.ui.panes.dispatch as dispatch_module
import console.ui.screens.confirm as confirm_module
import console.ui.screens.error as error_module
import console.ui.screens.history as history_module
import console.ui.screens.targets as targets_module
import console.ui.widgets.fanout_view as fanout_module
import console.ui.widgets.output_view as output_module
import console.ui.widgets.results_table as results_module
import console.ui.panes.bundles as bundles_module
import console.ui.panes.health as health_module
import console.ui.widgets.bundle_resolve as bundle_resolve_module
import console.ui.widgets.health_add as health_add_module
import console.ui.screens.help as help_module
import console.ui.screens.jump as jump_module
import console.ui.screens.output as output_screen_module
import console.ui.screens.quit as quit_module
import console.ui.screens.supervisor_log as supervisor_log_module
import console.ui.widgets.compose_form as compose_module
from console.dispatch_service import TargetCatalog
from console.remsvc.model import CmdState, Command, Target
from console.settings import Settings
from console.ui import bindings
from console.ui.app import ConsoleApp
from console.ui.screens.error import ErrorScreen
from console.ui.screens.targets import TargetPickerScreen
from tests.ui.helpers import screen_text, wait_for
from tests.ui.scripted import ScriptedRun, result, sent

UNUSED = Target("x", "127.0.0.1", 9)


def our_classes():
    modules = [dispatch_module, confirm_module, error_module, history_module, targets_module, fanout_module,
               output_module, results_module, bundles_module, bundle_resolve_module, health_module, health_add_module,
               help_module, jump_module, output_screen_module, quit_module, compose_module, supervisor_log_module]
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, (Widget, Screen)):
                yield cls
    yield ConsoleApp


def test_every_binding_of_the_console_has_a_unique_id():
    seen = []
    for cls in our_classes():
        for binding in cls.__dict__.get("BINDINGS", []):
            assert isinstance(binding, Binding), f"{cls.__name__} has a tuple binding"
            assert binding.id, f"{cls.__name__} binding {binding.key} has no id"
            seen.append(binding.id)
    assert len(seen) == len(set(seen))
    assert set(seen) == bindings.binding_ids()


async def test_panes_switch_by_number_and_function_keys(make_app):
    app = make_app([UNUSED])
    async with app.run_test(size=(80, 24)) as pilot:
        tabs = app.query_one("#panes")
        await pilot.press("f2")
        assert tabs.active == "bundles"
        assert "Bundles: browse executable bundles" in screen_text(app)
        await pilot.press("3")
        assert tabs.active == "health"
        assert "Poll now" in screen_text(app)
        await pilot.press("1")
        assert tabs.active == "dispatch"
        assert app.focused.id == "results", "back on Dispatch, focus rests on the rows, not the editor"
        await pilot.press("i")
        assert app.focused.id == "editor"
        await pilot.press("2")
        assert tabs.active == "dispatch", "inside the editor (entered with i) a digit is text"
        assert app.focused.text == "2"


async def test_command_palette_lists_the_console_actions(make_app):
    app = make_app([UNUSED])
    async with app.run_test(size=(80, 24)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Run stream", "Cancel dispatch", "Re-run last dispatch", "Switch targets",
                       "Export dispatch as JSON", "Toggle read-only", "Dispatch history", "Theme"):
            assert any(t.startswith(wanted) for t in titles), wanted
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Switch targets")
        await wait_for(pilot, lambda: "Switch targets" in screen_text(app), what="palette hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetPickerScreen), what="target picker")


async def test_themes_ship_as_data_and_the_configured_one_is_used(make_app, tmp_path):
    app = make_app([UNUSED], settings=Settings(journal_dir=tmp_path, theme="high-contrast"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert {"dark", "light", "high-contrast"} <= set(app.available_themes)
        assert app.theme == "high-contrast"
        assert app.current_theme.background == "#000000"
        app.theme = "light"
        await pilot.pause()
        assert app.current_theme.dark is False


async def test_unknown_theme_and_keymap_id_are_reported_not_fatal(make_app, tmp_path):
    settings = Settings(journal_dir=tmp_path, theme="no-such-theme", keymap={"dispatch.runn": "f9"})
    app = make_app([UNUSED], settings=settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert app.theme == "dark"
    assert any("unknown theme 'no-such-theme'" in m for m in messages)
    assert any("keymap: no binding with id dispatch.runn" in m for m in messages)


async def test_target_picker_selects_a_glob_group(make_app, tmp_path):
    env = {
        "AIRFLOW_CONN_REMSVC_WEB_1": "remsvc://web1.example:50051",
        "AIRFLOW_CONN_REMSVC_WEB_2": "remsvc://web2.example:50051?use_ssl=true",
        "AIRFLOW_CONN_REMSVC_DB_1": "remsvc://db1.example:50051",
    }
    catalog = TargetCatalog(env=env)
    app = make_app([], catalog=catalog)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "no target selected" in screen_text(app)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetPickerScreen), what="picker")
        app.screen.query_one("#pattern").focus()
        await pilot.press(*"remsvc_web_*", "enter")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not isinstance(app.screen, TargetPickerScreen), what="picker closed")
        pane = app.dispatch_pane
        assert sorted(t.name for t in pane.targets) == ["remsvc_web_1", "remsvc_web_2"]
        first_line = screen_text(app).splitlines()[0]
        assert "2 targets 1 TLS · 1 insecure" in first_line
        assert "targets: remsvc_web_1, remsvc_web_2 (2)" in screen_text(app)


async def test_dispatch_without_target_or_commands_explains_what_is_missing(make_app):
    app = make_app([], "echo hi")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        app.dispatch_pane.set_targets([UNUSED])
        app.dispatch_pane.query_one("#editor").load_text("# only a note\n\n")
        await pilot.press("ctrl+r")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert app.dispatch_pane.model is None
    assert any("no target selected" in m for m in messages)
    assert any("nothing to run" in m for m in messages)


async def test_bad_timeout_is_a_clear_message(make_app):
    app = make_app([UNUSED], "echo hi")
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.dispatch_pane.query_one("#compose")
        await wait_for(pilot, lambda: form.options_ready, what="option fields, mounted after the first frame")
        app.dispatch_pane.query_one("#timeout").value = "soon"
        await pilot.press("ctrl+r")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
    assert "timeout must be a number of seconds, got 'soon'" in messages


class BrokenRun(ScriptedRun):
    """A run whose event source fails half-way, as a bug in a lower layer would."""

    async def _events(self):
        for event in self.events:
            yield event
        raise RuntimeError("event source broke")


async def test_unexpected_worker_error_is_a_modal_not_a_crash(make_app):
    app = make_app([UNUSED], "echo a\necho b")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        commands = [Command("echo a"), Command("echo b")]
        pane.begin(BrokenRun([UNUSED], commands, [sent("x", 1), result("x", 1, 0, "a\n")]))
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="error modal")
        assert "RuntimeError: event source broke" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ErrorScreen), what="modal closed")
        assert pane.model.state == "FAILED" and "event source broke" in pane.model.error
        assert pane.model.state_of(("x", 1)) is CmdState.DONE
        assert app.is_running


DEFERRED_PANES = """
import asyncio, sys
from console.remsvc.model import Target
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext

async def main():
    app = ConsoleApp(ConsoleContext(settings=Settings(journal_dir=sys.argv[1]), targets=[Target("x", "127.0.0.1", 9)],
                                    poll_status=False))
    async with app.run_test(size=(80, 24)) as pilot:
        print("at start:", "console.ui.panes.health" in sys.modules, len(app.query("HealthPane")))
        await pilot.press("3")
        pane = app.query_one("HealthPane")
        print("after 3:", app.query_one("#panes").active, pane in app.focused.ancestors_with_self, len(app.query("HealthPane")))

asyncio.run(main())
"""


def test_other_panes_are_imported_after_the_first_frame_and_on_demand(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", DEFERRED_PANES, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(repo)))
    assert done.returncode == 0, done.stderr
    assert "at start: False 0" in done.stdout, "Health was imported before the first frame"
    assert "after 3: health True 1" in done.stdout

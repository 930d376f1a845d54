"""The target picker's Airflow listing without Airflow: the key, its reason when Airflow is off, a
listing that blocks (a real child standing in for a slow Airflow), and what the catalogue returns.

The real metadata DB is listed in tests/airflow/test_picker_airflow.py.
"""

from __future__ import annotations

import os

from textual.widgets import Input, SelectionList, Static

from console.dispatch_service import TargetCatalog
from console.remsvc.model import Target
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from console.ui.screens.targets import ASKING, TargetPickerScreen
from tests.ui.helpers import screen_text, wait_for

OFF = "metadata DB not listed: Airflow lookups are off (airflow_python: off)"
BAD = "connection 'remsvc_bad' (env AIRFLOW_CONN_REMSVC_BAD): invalid host or port (the port must be a number from 0 to 65535)"
ENV = {
    "AIRFLOW_CONN_REMSVC_WEB_1": "remsvc://web1.example:50051",
    "AIRFLOW_CONN_REMSVC_WEB_2": "remsvc://web2.example:50051?use_ssl=true",
    "AIRFLOW_CONN_PG": "postgres://db.example:5432",
}


async def open_picker(pilot) -> TargetPickerScreen:
    await pilot.press("t")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TargetPickerScreen), what="picker")
    return pilot.app.screen


def choices(picker: TargetPickerScreen) -> SelectionList:
    return picker.query_one("#choices", SelectionList)


def info(picker: TargetPickerScreen) -> str:
    """The info lines under the list, unwrapped (the screen wraps them at the dialog's width)."""
    return picker.query_one("#picker-info", Static).content.plain


def option_names(picker: TargetPickerScreen) -> list[str]:
    listing = choices(picker)
    return [listing.get_option_at_index(i).value for i in range(listing.option_count)]


async def test_airflow_off_shows_the_reason_as_a_warning_and_keeps_the_list(make_app):
    env = {**ENV, "AIRFLOW_CONN_REMSVC_BAD": "remsvc://h:notaport", "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}
    app = make_app([], catalog=TargetCatalog(env=env))
    async with app.run_test(size=(80, 24)) as pilot:
        picker = await open_picker(pilot)
        await pilot.press("down", "space")
        assert info(picker).splitlines() == [f"⚠ {BAD}", "remsvc_web_2 from env AIRFLOW_CONN_REMSVC_WEB_2"], \
            "a connection that cannot be read stays named while a row is highlighted"
        before = (option_names(picker), choices(picker).selected, choices(picker).highlighted)
        assert before == (["remsvc_web_1", "remsvc_web_2"], ["remsvc_web_2"], 1)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: not picker.listing, what="listing ended")
        assert info(picker).splitlines() == ["Airflow's metadata DB: no connection added", f"⚠ {BAD}", f"⚠ {OFF}",
                                             "remsvc_web_2 from env AIRFLOW_CONN_REMSVC_WEB_2"]
        assert (option_names(picker), choices(picker).selected, choices(picker).highlighted) == before
        shown = screen_text(app)
        assert "Airflow's metadata DB: no connection added" in shown
        assert "⚠ metadata DB not listed: Airflow lookups are off" in shown
        assert "List Airflow DB" in shown.splitlines()[-1], "the footer offers the key"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not isinstance(app.screen, TargetPickerScreen), what="picker closed")
        assert [t.name for t in app.dispatch_pane.targets] == ["remsvc_web_2"]


async def test_the_key_never_types_into_the_glob_field(make_app):
    app = make_app([], catalog=TargetCatalog(env={**ENV, "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}))
    async with app.run_test(size=(80, 24)) as pilot:
        picker = await open_picker(pilot)
        field = picker.query_one("#pattern", Input)
        field.focus()
        await pilot.press(*"web", "ctrl+l")
        await wait_for(pilot, lambda: "no connection added" in screen_text(app), what="listing ended")
        assert field.value == "web" and app.focused is field


async def test_empty_picker_names_the_listing_key(make_app, tmp_path):
    settings = Settings(journal_dir=tmp_path / "j", keymap={"targets.airflow": "ctrl+o"})
    app = make_app([], settings=settings, catalog=TargetCatalog(env={"REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_picker(pilot)
        assert info(app.screen) == ("No RemSvc connections found: set AIRFLOW_CONN_<ID> or a connections file, "
                                    "or press ^o to list Airflow's metadata DB.")
        assert "or press ^o to list Airflow's metadata DB." in screen_text(app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: "no connection added" in screen_text(app), what="listing ended")


def blocking_airflow(tmp_path):
    """An executable that stands in for Airflow's python: it records each start and answers nothing
    (exit 3) once ``release`` exists, as a slow Airflow that then fails would."""
    calls, release, script = tmp_path / "calls", tmp_path / "release", tmp_path / "airflow-python"
    script.write_text(f'#!/bin/sh\necho start >> "{calls}"\nwhile [ ! -e "{release}" ]; do sleep 0.05; done\n'
                      'echo "scripted airflow: no metadata DB here" >&2\nexit 3\n')
    script.chmod(0o755)
    return script, calls, release


async def test_a_slow_listing_keeps_the_picker_usable_and_runs_once(make_app, tmp_path):
    script, calls, release = blocking_airflow(tmp_path)
    env = {**ENV, "PATH": os.environ.get("PATH", ""), "REMSVC_CONSOLE_AIRFLOW_PYTHON": str(script)}
    app = make_app([], catalog=TargetCatalog(env=env))
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            picker = await open_picker(pilot)
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: calls.exists(), what="the Airflow child started")
            assert picker.listing and ASKING in screen_text(app)
            await pilot.press("ctrl+l", "ctrl+l")
            await pilot.press("space", "down")
            assert choices(picker).selected == ["remsvc_web_1"] and choices(picker).highlighted == 1
            picker.query_one("#pattern", Input).focus()
            await pilot.press(*"*web_2", "enter")
            assert choices(picker).selected == ["remsvc_web_1", "remsvc_web_2"]
            assert picker.listing and ASKING in screen_text(app), "the state stays on screen while the user works"
        finally:
            release.touch()
        await wait_for(pilot, lambda: not picker.listing, what="listing ended")
        warning = info(picker).splitlines()[1]
        assert warning.startswith(f"⚠ metadata DB not listed: Airflow ({script}) failed (exit 3)"), warning
        assert warning.endswith("scripted airflow: no metadata DB here")
        assert "⚠ metadata DB not listed" in screen_text(app) and ASKING not in screen_text(app)
        assert calls.read_text().splitlines() == ["start"], "pressing again while listing started nothing more"
        assert option_names(picker) == ["remsvc_web_1", "remsvc_web_2"]
        assert choices(picker).selected == ["remsvc_web_1", "remsvc_web_2"]


async def test_problem_lines_are_inert_and_bounded(tmp_path):
    hostile = [f"refused \x1b]0;owned\x07 id {n}" for n in range(5)]
    known, _ = TargetCatalog(env=ENV).scan()
    picker = TargetPickerScreen(known, set(), list_airflow=lambda: (known, hostile))
    app = ConsoleApp(ConsoleContext(settings=Settings(journal_dir=tmp_path / "j"), poll_status=False))
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(picker)
        await wait_for(pilot, lambda: app.screen is picker, what="picker")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "no connection added" in screen_text(app), what="listing ended")
        shown = screen_text(app)
        assert "\x1b" not in shown and "\x07" not in shown
        assert "⚠ refused ␛]0;owned␇ id 0" in shown and "⚠ refused ␛]0;owned␇ id 2" in shown
        assert "id 3" not in shown
        assert "⚠ 2 more problems: remsvc-console conn list --airflow prints them all" in shown
        assert "remsvc_web_2" in shown and shown.splitlines()[-1].strip().startswith("^r Use selection")


def test_catalog_scan_with_airflow_off_keeps_session_targets_first_and_remsvc_only():
    demo = Target("remsvc_web_1", "127.0.0.1", 9)
    catalog = TargetCatalog(env={**ENV, "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}, extra=[demo])
    known, problems = catalog.scan_with_airflow()
    assert [(k.target.name, k.source) for k in known] == [
        ("remsvc_web_1", "this session"), ("remsvc_web_2", "env AIRFLOW_CONN_REMSVC_WEB_2")]
    assert known[0].target is demo
    assert problems == [OFF]


def test_catalog_scan_with_airflow_reports_a_broken_connections_file(tmp_path):
    broken = tmp_path / "connections.yaml"
    broken.write_text("remsvc_x: [unclosed\n")
    demo = Target("demo", "127.0.0.1", 9)
    catalog = TargetCatalog(connections_file=broken, env={"REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}, extra=[demo])
    known, problems = catalog.scan_with_airflow()
    assert [k.target.name for k in known] == ["demo"]
    assert len(problems) == 1 and str(broken) in problems[0]


def long_list_env() -> dict[str, str]:
    env = {f"AIRFLOW_CONN_REMSVC_N{i:02d}": f"remsvc://n{i:02d}.example:50051" for i in range(15)}
    env |= {f"AIRFLOW_CONN_REMSVC_BAD{i}": "remsvc://h:notaport" for i in range(5)}
    return {**env, "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}


async def test_warnings_take_rows_from_a_long_list_and_all_fit_80x24(make_app):
    app = make_app([], catalog=TargetCatalog(env=long_list_env()))
    async with app.run_test(size=(80, 24)) as pilot:
        picker = await open_picker(pilot)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: not picker.listing, what="listing ended")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        shown = "\n".join(lines)
    assert "Airflow's metadata DB: no connection added" in shown
    assert "⚠ connection 'remsvc_bad2' (env AIRFLOW_CONN_REMSVC_BAD2): invalid" in shown
    assert "⚠ 3 more problems: remsvc-console conn list --airflow prints them all" in shown
    assert "remsvc_n00 from env AIRFLOW_CONN_REMSVC_N00" in shown, "the highlighted target's line is not cut"
    assert "remsvc_n00  n00.example:50051" in shown and "remsvc_n01  n01.example:50051" in shown
    assert lines[-2].strip().startswith("█▄▄▄"), "the dialog's bottom border is on screen"
    assert "^l List Airflow DB" in lines[-1]


async def picker_after_listing(pilot) -> None:
    app = pilot.app
    await open_picker(pilot)
    app.screen.query_one("#pattern", Input).cursor_blink = False
    await pilot.press("ctrl+l")
    await wait_for(pilot, lambda: not app.screen.listing, what="listing ended")
    await pilot.pause()


def test_picker_after_a_listing_snapshot_80x24(snap_compare, tmp_path):
    env = {**ENV, "AIRFLOW_CONN_REMSVC_BAD": "remsvc://h:notaport", "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}
    ctx = ConsoleContext(settings=Settings(journal_dir=tmp_path / "journal", theme="dark"), catalog=TargetCatalog(env=env),
                         clock=lambda: 1000.0, hostname="bastion", poll_status=False)
    assert snap_compare(ConsoleApp(ctx), terminal_size=(80, 24), run_before=picker_after_listing)


async def test_select_all_and_none_work_from_the_glob_field_too(make_app):
    app = make_app([], catalog=TargetCatalog(env={**ENV, "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}))
    async with app.run_test(size=(80, 24)) as pilot:
        picker = await open_picker(pilot)
        field = picker.query_one("#pattern", Input)
        field.focus()
        await pilot.press(*"web", "left", "ctrl+a")
        await pilot.pause()
        assert sorted(choices(picker).selected) == sorted(option_names(picker))
        assert field.value == "web" and field.cursor_position == 2, "the field's text and cursor are untouched"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert choices(picker).selected == []

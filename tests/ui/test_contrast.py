"""Contrast (WCAG AA, 4.5:1) of every text segment the app draws, in every shipped theme and under
NO_COLOR; errors and stderr are never dimmer than normal text."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color

from console.remsvc.model import Command, StreamStatus, Target
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from console.ui.screens.output import OutputScreen
from console.ui.themes import load_themes
from console.ui.widgets.status_bar import TargetStatus
from tests.ui.contrast import low_contrast, ratio, segment_colours, theme_ratio
from tests.ui.helpers import wait_for
from tests.ui.scripted import ScriptedRun, finished, result, sent

REPO = Path(__file__).resolve().parents[2]
THEMES = sorted(t.name for t in load_themes([REPO / "themes"]).themes)
AA = 4.5

TARGETS = [Target("web-1", "10.0.0.5", 50051), Target("web-2", "10.0.0.6", 50051, bearer_token="x"),
           Target("db-1", "10.0.0.7", 50051)]
COMMANDS = [Command("hostname"), Command("cat /etc/app.conf")]
EVENTS = [
    sent("web-1", 1), sent("web-1", 2), result("web-1", 1, 0, "web-1\n"),
    result("web-1", 2, 3, "partial\n", "cat: /etc/app.conf: Permission denied\n"), finished("web-1", (1, 2)),
    sent("web-2", 1), sent("web-2", 2), result("web-2", 1, 0, "web-2\n"), result("web-2", 2, 0, "port=80\n"),
    finished("web-2", (1, 2)),
    finished("db-1", (), (1, 2), StreamStatus.UNAVAILABLE, "db-1 (10.0.0.7:50051): connection refused"),
]


def test_theme_data_keeps_text_at_aa_against_every_background():
    for theme in load_themes([REPO / "themes"]).themes:
        for background in (theme.background, theme.surface, theme.panel):
            if background is None:
                continue
            for name in ("foreground", "error", "success", "warning"):
                value = theme_ratio(getattr(theme, name), background)
                assert value >= AA, f"{theme.name}: {name} on {background} is {value:.2f}:1"


def _problems(app) -> list:
    return low_contrast(app.screen._compositor.render_strips(), AA, app._filters)


def _describe(found) -> str:
    return "\n".join(f"{text!r} {value}:1 ({style})" for text, value, style in found[:12])


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
@pytest.mark.parametrize("theme", THEMES)
async def test_every_drawn_text_segment_meets_aa(theme, no_color, tmp_path, monkeypatch):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    ctx = ConsoleContext(settings=Settings(journal_dir=tmp_path / "j", theme=theme), targets=TARGETS,
                         editor_text="", clock=lambda: 1000.0, poll_status=False, hostname="bastion")
    app = ConsoleApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.query_one("#status-bar")
        bar.statuses = {"web-1": TargetStatus(1.5, "uptime 5s", None), "db-1": TargetStatus(None, None, "refused")}
        await pilot.pause()
        assert app.no_color is no_color
        found = _problems(app)
        assert not found, f"idle screen, {theme}:\n{_describe(found)}"

        pane = app.dispatch_pane
        pane.begin(ScriptedRun(TARGETS, COMMANDS, EVENTS))
        await wait_for(pilot, lambda: not pane.model.running, what="dispatch end")
        await pilot.press("down", "space")
        await pilot.pause()
        found = _problems(app)
        assert not found, f"fan-out with failures, {theme}:\n{_describe(found)}"

        await pilot.press("g")
        pane.table.cursor_row = 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OutputScreen), what="full view")
        await pilot.pause()
        strips = app.screen._compositor.render_strips()
        found = low_contrast(strips, AA, app._filters)
        assert not found, f"full view with stderr, {theme}:\n{_describe(found)}"
        view = app.screen.view
        kinds = {line.text: line.kind for line in view.lines}
        assert kinds["partial"] == "out" and kinds["cat: /etc/app.conf: Permission denied"] == "err"
        contrast = {}
        for strip in strips:
            segments = list(strip)
            for line_filter in app._filters:
                segments = line_filter.apply(segments, Color(0, 0, 0))
            for text, style, _ in segments:
                if text.strip() in ("partial", "cat: /etc/app.conf: Permission denied"):
                    assert not style.dim, "stderr and output are never dim"
                    fg, bg = segment_colours(style)
                    contrast[text.strip()] = ratio(fg, bg)
        assert contrast["cat: /etc/app.conf: Permission denied"] >= AA
        if no_color:
            assert contrast["cat: /etc/app.conf: Permission denied"] >= contrast["partial"], \
                "without colour, stderr is not dimmer than normal output"

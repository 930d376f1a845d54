"""SVG snapshots of the Bundles pane: the tree with each details tab, a hash mismatch, the resolve prompt.

What could change between runs is fixed: the bundles live under one fixed directory in the system
temp dir (so the paths on screen are the same every run), their mtimes are frozen, the persistent
digest cache is off (the in-memory one is on, as in every service), the clock and host name are
frozen, and the theme is fixed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from console.ui.widgets.bundle_resolve import ResolveScreen
from tests.ui.helpers import wait_for
from tests.ui.test_bundles_pane import build_bundle_tree, bundle_app, open_pane, select

BASE = Path(tempfile.gettempdir()) / "remsvc-bpane-snap"
STAGES = {
    # stage: (file to select, detail-tab steps to the right)
    "overview": ("pipeline", 0),
    "manifest": ("report", 1),
    "source": ("trick", 2),
    "dags": ("shadowed", 3),
    "hash-mismatch": ("tampered", 0),
    "resolve": ("shadowed", 0),
}


@pytest.fixture
def snapshot_tree() -> dict[str, Path]:
    shutil.rmtree(BASE, ignore_errors=True)
    yield build_bundle_tree(BASE / "bundles")
    shutil.rmtree(BASE, ignore_errors=True)


def no_blink(app) -> None:
    for widget in [*app.query(TextArea), *app.query(Input), *app.screen.query(Input)]:
        widget.cursor_blink = False


def before(stage: str, paths: dict[str, Path]):
    name, steps = STAGES[stage]

    async def run_before(pilot) -> None:
        app = pilot.app
        no_blink(app)
        pane = await open_pane(pilot)
        await select(pilot, pane, paths[name])
        for _ in range(steps):
            await pilot.press("right_square_bracket")
        if stage == "resolve":
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ResolveScreen), what="resolve prompt")
            screen = app.screen
            no_blink(app)
            await wait_for(pilot, lambda: screen.result.resolution is not None, what="answer")
            assert screen.result.resolution.dag_id == "customer_etl"
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("stage", list(STAGES))
def test_bundles_pane_snapshot(snap_compare, snapshot_tree, tmp_path, stage, size):
    app = bundle_app(BASE / "bundles", tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=before(stage, snapshot_tree))

"""The Bundles pane driven with Pilot over real bundle files on disk, built with the packer.

Two roots are scanned in order, so the coordinator's choice for a dag_id declared in both is fixed
by root order rather than by filesystem listing order, and the same tree serves the snapshots.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual import events
from textual.color import Color
from textual.widgets import Input

from console.bundles.model import Status
from console.bundles.packer import bundle_bytes, canonical_manifest, make_manifest, pack
from console.bundles.roots import RootSpec
from console.bundles.service import BundleService
from console.bundles.trailer import TRAILER_SIZE, Trailer, build_trailer
from console.remsvc.model import Target
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.messages.bundles import BundleScanProgress
from console.ui.context import ConsoleContext
import console.ui.panes.bundles as bundles_pane_module
from console.ui.panes.bundles import BundlesPane
from console.ui.widgets.bundle_filter import FilterError, parse_filter
from console.ui.widgets.bundle_resolve import ResolveScreen
from tests.ui.helpers import screen_text, wait_for

BINARY = b"\x7fELF" + b"\x00" * 12 + b"test bundle binary; never executed\n"
FROZEN_NS = 1_714_564_800 * 10**9  # 2024-05-01 12:00:00 UTC
GO_SOURCE = b'package main\n\nimport "fmt"\n\nfunc extract() error {\n\tfmt.Println("extract")\n\treturn nil\n}\n'
RUST_SOURCE = b'use airflow_sdk::prelude::*;\n\n#[task]\nfn build_report(ctx: &Context) -> Result<()> {\n    Ok(())\n}\n'
ESCAPE_SOURCE = b"package main\n\n// \x1b]0;owned terminal\x07 \x1b[2J\x1b[31mred\xc2\x9b1m\nfunc main() {}\n"
LATIN1_SOURCE = b"/* caf\xe9 cr\xe8me */\nint main(void) { return 0; }\n"
UNUSED = Target("web-1", "10.0.0.5", 50051)


def _write(path: Path, data: bytes, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def build_bundle_tree(base: Path) -> dict[str, Path]:
    """Two roots of real bundles covering the statuses, shadowing and ambiguity the pane shows."""
    prod, team_b, work = base / "prod", base / "team-b", base / "work"
    work.mkdir(parents=True, exist_ok=True)
    binary = _write(work / "pipeline-bin", BINARY)
    source = work / "pipeline.go"
    source.write_bytes(GO_SOURCE)
    (prod / "etl").mkdir(parents=True, exist_ok=True)
    paths = {
        "pipeline": pack(
            binary,
            prod / "etl" / "customer_pipeline",
            manifest=make_manifest({"customer_etl": ["extract", "transform", "load"], "customer_backfill": ["extract"]}, source="pipeline.go"),
            source=source,
        ).out
    }
    paths["trick"] = _write(
        prod / "etl" / "title_trick",
        bundle_bytes(BINARY, ESCAPE_SOURCE, make_manifest({"title_trick": ["noop"]}, source="trick.go")),
    )
    tampered = bytearray(bundle_bytes(BINARY, GO_SOURCE, make_manifest({"billing_sync": ["sync"]}, source="billing.go")))
    tampered[20] ^= 0x01
    paths["tampered"] = _write(prod / "billing" / "billing_sync", bytes(tampered))
    paths["legacy"] = _write(
        prod / "legacy" / "old_exporter",
        bundle_bytes(
            BINARY,
            b"",
            make_manifest({"old_export": ["export"], "customer_etl": ["extract"]}, source="exporter.go", supervisor_schema_version="2025-01-01"),
        ),
    )
    paths["report"] = _write(
        prod / "reports" / "daily_report",
        bundle_bytes(BINARY, RUST_SOURCE, make_manifest({"daily_report": ["build_report"]}, source="main.rs", language="Rust", sdk_version="")),
    )
    paths["readme"] = _write(prod / "README.md", b"Executable bundles for the prod workers.\n", 0o644)
    paths["script"] = _write(prod / "tools" / "rotate.sh", b"#!/bin/sh\nexit 0\n")
    paths["shadowed"] = _write(
        team_b / "customer_pipeline_v2",
        bundle_bytes(
            BINARY + b"v2",
            GO_SOURCE,
            make_manifest({"customer_etl": ["extract", "transform", "load", "notify"]}, source="pipeline.go", sdk_version="0.2.0"),
        ),
    )
    paths["latin1"] = _write(
        team_b / "latin1_tool",
        bundle_bytes(BINARY, LATIN1_SOURCE, make_manifest({"latin1_dag": ["run"]}, source="tool.c", language="c")),
    )
    for path in [*paths.values(), *(p for p in base.rglob("*") if p.is_dir())]:
        os.utime(path, ns=(FROZEN_NS, FROZEN_NS))
    paths["prod"], paths["team-b"] = prod, team_b
    return paths


def bundle_app(base: Path, tmp: Path, *, theme: str = "dark") -> ConsoleApp:
    """The console with a Bundles service over the two roots and no persistent digest cache."""
    service = BundleService([RootSpec(str(base / "prod"), "argument"), RootSpec(str(base / "team-b"), "argument")], use_cache=False)
    ctx = ConsoleContext(
        settings=Settings(journal_dir=tmp / "journal", theme=theme),
        targets=[UNUSED],
        clock=lambda: 1000.0,
        hostname="bastion",
        poll_status=False,
        bundle_service=service,
    )
    return ConsoleApp(ctx)


async def open_pane(pilot) -> BundlesPane:
    """Switch to the Bundles pane and wait for its first scan to be on screen."""
    app = pilot.app
    await pilot.press("f2")
    pane = app.query_one(BundlesPane)
    await wait_for(pilot, lambda: pane.scans >= 1, what="first scan")
    await wait_for(pilot, lambda: app.focused is pane.tree, what="tree focus")
    return pane


async def select(pilot, pane: BundlesPane, path: Path) -> None:
    """Put the tree cursor on ``path`` and wait for its details (read in a worker) to arrive."""
    assert pane.tree.select_path(str(path)), f"{path} not in the tree"
    await wait_for(pilot, lambda: pane.selected_path == str(path), what="selection")
    await wait_for(pilot, lambda: "(reading…)" not in pane.details.source.plain, what="details loaded")


def plain(widget) -> str:
    """A details widget's content as text, laid out wide enough that no path wraps."""
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(widget.render())
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def tree_text(pane: BundlesPane) -> str:
    tree = pane.tree
    return "\n".join("".join(s.text for s in tree.render_line(y)) for y in range(tree.size.height))


def control_characters(app) -> list[str]:
    """Every C0/C1 control (TAB and LF aside) in what the compositor would send to the terminal."""
    found = []
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            found.extend(c for c in segment.text if re.match("[\x00-\x08\x0b-\x1f\x7f-\x9f]", c))
    return found


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    return build_bundle_tree(tmp_path / "bundles")


@pytest.fixture
def app(tree, tmp_path: Path) -> ConsoleApp:
    return bundle_app(tmp_path / "bundles", tmp_path)


def test_filter_parses_words_statuses_and_groups():
    flt = parse_filter("ETL status:hash_mismatch,ok")
    assert flt.words == ("etl",)
    assert flt.statuses == {Status.HASH_MISMATCH, Status.OK}
    assert parse_filter("status:rejected").statuses == {s for s in Status if s.is_rejection}
    assert parse_filter("status:").statuses is None
    with pytest.raises(FilterError, match="unknown status 'hash'"):
        parse_filter("status:hash")


async def test_scan_starts_when_the_pane_is_first_shown_and_the_tree_shows_every_status(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(BundlesPane)
        assert pane.scans == 0 and not pane.scanning, "nothing is hashed until the pane is opened"
        pane = await open_pane(pilot)
        text = tree_text(pane)
        assert "✓ customer_pipeline" in text
        assert "✗ billing_sync hash_mismatch" in text
        assert "✗ old_exporter schema_version_unknown" in text
        assert "· README.md not_executable" in text
        assert "· rotate.sh not_bundle" in text
        assert "billing  ✗1" in text, "a folder holding a rejected bundle says so"
        assert [str(node.label) for node in pane.tree.root.children] == [str(tree["prod"]), str(tree["team-b"])]
        assert "2 roots · 9 files · 5 ok · 2 rejected · 2 ignored" in screen_text(app)
        assert pane.selected_path == str(tree["tampered"]), "the first file is selected"


async def test_status_icons_take_their_colours_from_the_theme(app, tree):
    def icon_colour(icon: str):
        for y in range(pane.tree.size.height):
            for segment in pane.tree.render_line(y):
                if segment.text.startswith(icon) and segment.style is not None and segment.style.color is not None:
                    return segment.style.color.triplet
        raise AssertionError(f"no {icon} in the tree")

    def follows(icon: str, name: str) -> bool:
        """Rendering may round a channel by one; two themes' colours differ by far more."""
        wanted = Color.parse(getattr(app.current_theme, name)).rich_color.triplet
        return all(abs(a - b) <= 2 for a, b in zip(icon_colour(icon), wanted))

    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        assert follows("✓", "success") and follows("✗", "error")
        dark_ok = icon_colour("✓")
        app.theme = "high-contrast"
        await pilot.pause()
        assert follows("✓", "success") and follows("✗", "error")
        assert icon_colour("✓") != dark_ok


async def test_overview_of_a_verified_bundle(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["pipeline"])
        text = screen_text(app)
        size = tree["pipeline"].stat().st_size
        for wanted in (
            "✓ ok",
            "verified; 2 dags, schema 2026-06-16",
            "path      etl/customer_pipeline",
            f"size      {size:,} bytes",
            "modified  2024-05-01 12:00:00 UTC",
            "footer    version 1",
            f"binary    {len(BINARY)} bytes at 0",
            f"source    {len(GO_SOURCE)} bytes at {len(BINARY)}",
            "src name  pipeline.go",
            "sdk       language go · version 0.1.0",
            "schema    2026-06-16",
            "digests match",
        ):
            assert wanted in text, wanted


async def test_hash_mismatch_shows_expected_and_actual_digests(app, tree):
    data = tree["tampered"].read_bytes()
    actual = hashlib.sha256(data[: len(BINARY)]).hexdigest()
    expected = Trailer.parse(data[-TRAILER_SIZE:]).binary_sha256.hex()
    assert actual != expected
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["tampered"])
        text = screen_text(app)
        assert "✗ hash_mismatch" in text
        assert f"expected  {expected[:32]}" in text and f"          {expected[32:]}" in text
        assert f"actual    {actual[:32]}" in text and f"          {actual[32:]}" in text
        assert "digests differ" in text
        overview = pane.details.overview
        rows = overview.render().renderables[3].columns[1]._cells
        actual_rows = [cell for cell in rows if isinstance(cell, Text) and cell.plain in (actual[:32], actual[32:])]
        assert [cell.style for cell in actual_rows] == [overview.style_of("bundle-details--differs")] * 2, "the actual digest is marked"


async def test_manifest_tab_shows_the_yaml_and_schema_warnings_with_json_paths(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["report"])
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert pane.details.tabs.active == "bundle-manifest"
        text = screen_text(app)
        assert "2 schema warnings (Airflow still runs the bundle):" in text
        assert "$.sdk.language: 'Rust' does not match" in text
        assert "$.sdk.version: '' should be non-empty" in text
        assert "airflow_bundle_metadata_version: '1.0'" in text
        assert "language: Rust" in text and "source: main.rs" in text


async def test_source_tab_highlights_by_the_source_extension(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["pipeline"])
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause()
        assert pane.details.tabs.active == "bundle-source"
        text = screen_text(app)
        assert f"pipeline.go · {len(GO_SOURCE)} bytes" in text
        assert "func extract() error {" in text
        assert '    fmt.Println("extract")' in text, "tabs are expanded"
        code = [line.text for line in pane.details.source.lines if line.text.plain == "func extract() error {"]
        assert code and code[0].spans, "Go source is highlighted"
        await select(pilot, pane, tree["report"])
        rust = [line.text for line in pane.details.source.lines if line.text.plain.startswith("fn build_report")]
        assert rust and rust[0].spans, "Rust source (main.rs) is highlighted too"


async def test_escape_sequences_in_source_and_file_names_reach_the_screen_inert(app, tree):
    evil = _write(tree["prod"] / "evil\x1b]0;pwned\x07name", b"#!/bin/sh\n")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        assert "evil␛]0;pwned␇name not_bundle" in tree_text(pane)
        await select(pilot, pane, tree["trick"])
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause()
        text = screen_text(app)
        assert "// ␛]0;owned terminal␇ ␛[2J␛[31mred<9B>1m" in text
        assert "control characters (escape sequences) are shown as symbols" in text
        assert control_characters(app) == []
        await select(pilot, pane, evil)
        assert control_characters(app) == []


async def test_non_utf8_and_empty_sources(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["latin1"])
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause()
        text = screen_text(app)
        assert "/* caf\ufffd cr\ufffdme */" in text
        assert "not valid UTF-8: invalid bytes are shown as \ufffd" in text
        await select(pilot, pane, tree["legacy"])
        assert "(source not available)" in screen_text(app)


async def test_dags_tab_shows_tasks_shadowing_and_ambiguity(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["shadowed"])
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert pane.details.tabs.active == "bundle-dags"
        text = plain(pane.details.dags)
        assert "tasks     extract, transform, load, notify" in text
        assert f"airflow   ≈ shadowed by {tree['pipeline']}, which the walk meets first" in text
        assert "⚠ ambiguous: more than one accepted bundle declares it" in text
        assert f"also in   {tree['pipeline']} (selected)" in text
        assert f"also in   {tree['legacy']} (rejected)" in text
        await select(pilot, pane, tree["pipeline"])
        text = plain(pane.details.dags)
        assert "customer_backfill" in text and "airflow   ✓ runs this bundle" in text


async def test_resolve_prompt_names_the_winner_and_why_the_others_lose(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["pipeline"])
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ResolveScreen), what="resolve prompt")
        screen = app.screen
        prompt = screen.query_one("#resolve-input", Input)
        assert prompt.value == "customer_backfill", "prefilled with the selected bundle's first dag_id"
        await wait_for(pilot, lambda: screen.result.resolution is not None, what="first answer")
        prompt.value = ""
        await pilot.press(*"customer_etl", "enter")
        await wait_for(pilot, lambda: screen.result.resolution is not None and screen.result.resolution.dag_id == "customer_etl", what="answer")
        text = plain(screen.result)
        assert f"✓ Airflow runs {tree['pipeline']}" in text
        assert "⚠ ambiguous: more than one accepted bundle declares this dag_id" in text
        assert "candidates, in walk order (3):" in text
        assert f"✓ selected {tree['pipeline']}" in text
        assert f"✗ rejected {tree['legacy']}" in text
        assert "Airflow rejects it: supervisor_schema_version '2025-01-01' is not a known version" in text
        assert f"≈ shadowed {tree['shadowed']}" in text
        prompt.value = ""
        await pilot.press(*"no_such_dag", "enter")
        await wait_for(pilot, lambda: screen.result.resolution is not None and screen.result.resolution.dag_id == "no_such_dag", what="miss")
        assert "✗ no bundle: cannot find executable bundle containing dag_id='no_such_dag'" in plain(screen.result)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ResolveScreen), what="prompt closed")


async def test_filter_by_name_status_and_rejected_only(app, tree):
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await pilot.press("slash")
        assert app.focused.id == "bundles-filter"
        await pilot.press(*"status:hash_mismatch")
        await pilot.pause()
        text = tree_text(pane)
        assert "billing_sync" in text and "customer_pipeline" not in text and "old_exporter" not in text
        assert "1 of 9 files match" in screen_text(app)
        pane.query_one("#bundles-filter", Input).value = "status:nonsense"
        await pilot.pause()
        assert "filter: unknown status 'nonsense'" in screen_text(app)
        assert "billing_sync" in tree_text(pane), "a bad status keeps the previous filter"
        pane.query_one("#bundles-filter", Input).value = "PIPELINE"
        await pilot.pause()
        text = tree_text(pane)
        assert "customer_pipeline" in text and "customer_pipeline_v2" in text and "billing_sync" not in text
        await pilot.press("escape")
        assert app.focused is pane.tree
        await pilot.press("x")
        await pilot.pause()
        assert "0 of 9 files match (rejected only)" in screen_text(app)
        pane.query_one("#bundles-filter", Input).value = ""
        await pilot.pause()
        text = tree_text(pane)
        assert "billing_sync" in text and "old_exporter" in text and "daily_report" not in text
        assert "2 of 9 files match (rejected only)" in screen_text(app)


def sparse_bundle(path: Path, binary_len: int) -> Path:
    """A bundle whose binary region is a hole of ``binary_len`` zero bytes: seconds of real hashing, no disk."""
    metadata = canonical_manifest(make_manifest({"huge_dag": ["run"]}, source="huge.go"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.truncate(binary_len)
        out.seek(binary_len)
        out.write(metadata + build_trailer(0, len(metadata), bytes(32)))
    os.chmod(path, 0o755)
    return path


def huge_app(tmp_path: Path) -> ConsoleApp:
    sparse_bundle(tmp_path / "huge" / "big_bundle", 32 << 30)
    service = BundleService([RootSpec(str(tmp_path / "huge"), "argument")], use_cache=False)
    return ConsoleApp(ConsoleContext(settings=Settings(journal_dir=tmp_path / "journal"), poll_status=False, bundle_service=service))


def scan_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("bundle-scan")]


async def until(pilot, condition, *, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll without waiting for an idle CPU (``pilot.pause()`` waits up to a second per call while hashing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def type_keys(app, *keys: str) -> None:
    """Post key events the way the terminal driver does."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_a_long_scan_reports_progress_coalesced_keeps_the_ui_responsive_and_cancels(tmp_path):
    app = huge_app(tmp_path)
    calls = posted = 0
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(BundlesPane)
        arrived, post = pane._progress_arrived, pane.post_message

        def counting_arrived(progress):
            nonlocal calls
            calls += 1
            arrived(progress)

        def counting_post(message):
            nonlocal posted
            posted += isinstance(message, BundleScanProgress)
            return post(message)

        pane._progress_arrived, pane.post_message = counting_arrived, counting_post
        type_keys(app, "f2")
        await until(pilot, lambda: pane.scanning and "MiB hashed" in screen_text(app), what="progress on screen")
        assert pane.query_one("#bundles-progress").display, "the progress bar is shown while hashing"
        before_calls, before_posted = calls, posted
        time.sleep(0.6)  # hold the event loop: the scan thread keeps reporting meanwhile
        assert calls - before_calls >= 5, "the scanner kept reporting while the loop was busy"
        assert posted - before_posted <= 1, "callbacks that arrive while one message is pending post nothing"
        type_keys(app, "slash")
        await until(pilot, lambda: app.focused.id == "bundles-filter", what="filter focus")
        type_keys(app, "h", "u", "g", "e")
        await until(pilot, lambda: app.focused.value == "huge", what="typing")
        assert pane.scanning, "keys were handled while the scan was still hashing"
        type_keys(app, "escape")
        await until(pilot, lambda: app.focused is pane.tree, what="back in the tree")
        type_keys(app, "r")
        await until(pilot, lambda: "A scan is already running." in [n.message for n in app._notifications], what="refusal")
        assert pane.scanning
        type_keys(app, "c")
        await until(pilot, lambda: not pane.scanning, what="cancelled scan")
        await until(pilot, lambda: "Scan cancelled" in screen_text(app), what="cancel shown")
        assert not pane.query_one("#bundles-progress").display
    deadline = time.monotonic() + 10
    while scan_threads() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not scan_threads()


async def test_leaving_the_app_cancels_a_running_scan(tmp_path):
    app = huge_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(BundlesPane)
        await pilot.press("f2")
        await wait_for(pilot, lambda: pane.scanning and "MiB hashed" in screen_text(app), what="hashing")
        cancel = pane._cancel
        assert cancel is not None and not cancel.is_set()
    assert cancel.is_set()
    deadline = time.monotonic() + 5
    while scan_threads() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not scan_threads(), "hashing 32 GiB stopped instead of running on after the app"
    assert pane.service.last is None, "a cancelled scan is not kept as a result"


async def test_rescan_shows_what_changed(app, tree, monkeypatch):
    monkeypatch.setattr(bundles_pane_module, "WATCH_INTERVAL_S", 0)  # only r rescans here
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        await select(pilot, pane, tree["report"])
        _write(tree["prod"] / "etl" / "new_loader", bundle_bytes(BINARY, GO_SOURCE, make_manifest({"loader": ["load"]}, source="l.go")))
        tree["latin1"].unlink()
        tampered = bytearray(tree["report"].read_bytes())
        tampered[3] ^= 0x40
        tree["report"].unlink()
        _write(tree["report"], bytes(tampered))
        await pilot.press("r")
        await wait_for(pilot, lambda: pane.scans == 2, what="rescan")
        assert "Rescan: 1 added, 1 replaced, 1 removed." in [n.message for n in app._notifications]
        text = tree_text(pane)
        assert "✓ ● new_loader" in text and "latin1_tool" not in text, "what the rescan found is marked"
        assert "✗ ● daily_report hash_mismatch" in text
        assert "✓ customer_pipeline " in text, "unchanged bundles carry no mark"
        assert pane.selected_path == str(tree["report"]), "the selection survives a rescan"
        await wait_for(pilot, lambda: "✗ hash_mismatch" in screen_text(app), what="details of the replaced file")


async def test_roots_that_are_missing_or_not_configured_are_explained(tmp_path):
    missing = tmp_path / "nowhere"
    service = BundleService([RootSpec(str(missing), "argument")], use_cache=False)
    app = ConsoleApp(ConsoleContext(settings=Settings(journal_dir=tmp_path / "j"), poll_status=False, bundle_service=service))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        root = pane.tree.root.children[0]
        assert str(root.label) == str(missing) and root.data.root.error == "does not exist"
        assert tree_text(pane).startswith("▼ ✗ /"), "a root that cannot be scanned is marked"
        assert "! cannot scan: does not exist" in tree_text(pane)
        assert "1 root · 0 files" in screen_text(app)
    service = BundleService([], use_cache=False)
    app = ConsoleApp(ConsoleContext(settings=Settings(journal_dir=tmp_path / "j"), poll_status=False, bundle_service=service))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        assert "No bundle directories configured" in screen_text(app)


async def test_roots_from_the_context_build_the_service_and_fill_the_digest_cache(tree, tmp_path, monkeypatch):
    for name, value in (("XDG_CACHE_HOME", tmp_path / "cache"), ("XDG_CONFIG_HOME", tmp_path / "config"), ("AIRFLOW_HOME", tmp_path / "airflow")):
        monkeypatch.setenv(name, str(value))
    for name in [n for n in os.environ if n.startswith(("AIRFLOW__", "REMSVC_CONSOLE_"))]:
        monkeypatch.delenv(name)
    ctx = ConsoleContext(settings=Settings(journal_dir=tmp_path / "j"), poll_status=False, bundle_roots=[str(tree["team-b"])])
    app = ConsoleApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot)
        assert [str(node.label) for node in pane.tree.root.children] == [str(tree["team-b"])]
        assert "✓ customer_pipeline_v2" in tree_text(pane)
    assert (tmp_path / "cache" / "remsvc-console" / "bundle-digests.json").is_file()


async def test_the_pane_follows_its_roots_and_announces_redeploys_without_r(app, tree, monkeypatch):
    monkeypatch.setattr(bundles_pane_module, "WATCH_INTERVAL_S", 0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_pane(pilot)
        hashed = []
        service = pane.service
        real_scan = service.scan

        def counting_scan(**kwargs):
            result = real_scan(**kwargs)
            hashed.append(result.bytes_hashed)
            return result

        monkeypatch.setattr(service, "scan", counting_scan)
        await wait_for(pilot, lambda: len(hashed) >= 1, what="a quiet poll")
        assert hashed[0] == 0, "a poll over unchanged files re-hashes nothing"
        assert "Scanning" not in screen_text(app), "quiet polls draw no progress"

        fresh = _write(tree["prod"] / "etl" / "fresh_loader", bundle_bytes(BINARY + b"fresh", GO_SOURCE, make_manifest({"fresh": ["load"]})))
        await wait_for(pilot, lambda: pane.tree.node_for(str(fresh)) is not None, what="the new bundle in the tree")
        assert "✓ ● fresh_loader" in tree_text(pane)
        await wait_for(pilot, lambda: any("+ etl/fresh_loader (ok)" in n.message for n in app._notifications), what="announcement")

        tampered = bytearray(tree["pipeline"].read_bytes())
        tampered[2] ^= 0x01
        _write(tree["prod"] / ".incoming", bytes(tampered))
        os.replace(tree["prod"] / ".incoming", tree["pipeline"])
        tree["latin1"].unlink()
        await wait_for(
            pilot,
            lambda: any("~ etl/customer_pipeline (hash_mismatch)" in n.message and "- latin1_tool" in n.message for n in app._notifications),
            what="changed and removed announced",
        )
        text = tree_text(pane)
        assert "latin1_tool" not in text
        changed = next(line for line in text.splitlines() if "✗ ● custom" in line)
        assert changed.rstrip().endswith("hash_mismatch"), "the changed bundle is marked, its name fitted to 80 columns"
        assert "✓ ● fresh_loader" in text, "marks from earlier polls stay until r"
        assert pane.scans >= 3

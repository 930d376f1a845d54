"""The details tabs for the file selected in the Bundles tree: Overview, Manifest, Source, DAGs.

Overview and DAGs are drawn from the scan's report as soon as a file is highlighted (no I/O); the
Manifest and Source tabs fill in when the pane's worker has read the file in full. Every value that
came from a file (reason texts quote manifests, names, dag and task ids) is made inert and put in a
Rich ``Text``; styles come from theme variables through component classes.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

from console.bundles.model import BundleReport
from console.bundles.resolve import SELECTED, SHADOWED, Resolution
from console.safetext import inert
from console.ui.widgets.bundle_text import BundleTextView, DetailView, TextLine, note
from console.ui.widgets.bundle_tree import TreeEntry, shown_path, status_icon, status_tone, tally

TABS = ("bundle-overview", "bundle-manifest", "bundle-source", "bundle-dags")
LABEL_WIDTH = 10
DIGEST_CHUNK = 32
HINT = (
    "Bundles: browse executable bundles, their manifests, sources and SHA-256 digests.\n\n"
    "Select a file in the tree to see why Airflow accepts or rejects it."
)


def _one(value: object) -> str:
    return inert(str(value), keep_newlines=False)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n:,} byte{'s' if n != 1 else ''}"


def _mtime(ns: int | None) -> str:
    if ns is None:
        return "?"
    moment = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class StyledDetail(Widget):
    """A widget drawn from plain data at render time, so theme changes restyle it."""

    DEFAULT_CSS = """
    StyledDetail { height: auto; padding: 0 1; }
    """

    def style_of(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def grid(self) -> Table:
        """Label and value columns: a long value wraps under itself, not under the label."""
        table = Table.grid(padding=(0, 1))
        table.add_column(width=LABEL_WIDTH - 1, no_wrap=True, style=self.style_of("bundle-details--label"))
        table.add_column(ratio=1, overflow="fold")
        return table

    def row(self, table: Table, label: str, value: str | Text, style: Style | None = None) -> None:
        table.add_row(label, value if isinstance(value, Text) else Text(value, style or Style()))


class BundleOverview(StyledDetail):
    """Status, reason, trailer fields and digests of one file, or a summary of a root or folder."""

    COMPONENT_CLASSES = {
        "bundle-details--label",
        "bundle-details--ok",
        "bundle-details--rejected",
        "bundle-details--unreadable",
        "bundle-details--ignored",
        "bundle-details--differs",
        "bundle-details--muted",
    }
    DEFAULT_CSS = """
    BundleOverview > .bundle-details--label { color: $foreground 60%; }
    BundleOverview > .bundle-details--ok { color: $success; text-style: bold; }
    BundleOverview > .bundle-details--rejected { color: $error; text-style: bold; }
    BundleOverview > .bundle-details--unreadable { color: $warning; text-style: bold; }
    BundleOverview > .bundle-details--ignored { color: $foreground 60%; text-style: bold; }
    BundleOverview > .bundle-details--differs { color: $error; text-style: bold; }
    BundleOverview > .bundle-details--muted { color: $foreground 60%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.report: BundleReport | None = None
        self.entry: TreeEntry | None = None

    def show(self, report: BundleReport | None = None, entry: TreeEntry | None = None) -> None:
        self.report, self.entry = report, entry
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        if self.report is not None:
            return self._render_report(self.report)
        if self.entry is not None:
            return self._render_container(self.entry)
        return Text(HINT)

    def _render_container(self, entry: TreeEntry) -> RenderableType:
        if entry.kind == "error":
            return Text(_one(entry.name), self.style_of("bundle-details--unreadable"))
        table = self.grid()
        if entry.kind == "root" and entry.root is not None:
            self.row(table, "root", _one(entry.root.path), Style(bold=True))
            self.row(table, "from", _one(entry.root.origin))
            if entry.root.error:
                self.row(table, "problem", _one(entry.root.error), self.style_of("bundle-details--rejected"))
        else:
            self.row(table, "folder", _one(entry.path), Style(bold=True))
        self.row(table, "files", tally(entry.counts))
        return table

    def _render_report(self, report: BundleReport) -> RenderableType:
        tone = status_tone(report.status)
        heading = Text(f"{status_icon(report.status)} {report.status.value}", self.style_of(f"bundle-details--{tone}"))
        reason = Text(inert(report.reason, tab_width=4))
        table = self.grid()
        if report.binary_sha256 is not None:
            self._digests(table, report)
        self.row(table, "path", _one(shown_path(report)))
        self.row(table, "root", _one(report.root or "?"))
        self.row(table, "size", _size(report.size))
        self.row(table, "modified", _mtime(report.mtime_ns))
        if report.footer_ver is not None:
            self.row(table, "footer", f"version {report.footer_ver}")
        if report.source_start is not None:
            self.row(table, "binary", f"{_size(report.source_start)} at 0")
        if report.source_len is not None:
            where = f" at {report.source_start:,}" if report.source_start is not None else ""
            self.row(table, "source", f"{_size(report.source_len)}{where}")
        if report.metadata_len is not None:
            where = f" at {report.metadata_start:,}" if report.metadata_start is not None else ""
            self.row(table, "manifest", f"{_size(report.metadata_len)}{where}")
        if report.source_name is not None:
            self.row(table, "src name", _one(report.source_name))
        if report.sdk:
            sdk = report.sdk
            parts = [f"{key} {_one(sdk[key])}" for key in ("language", "version") if sdk.get(key)]
            self.row(table, "sdk", " · ".join(parts) or "?")
            self.row(table, "schema", _one(sdk.get("supervisor_schema_version") or "missing"))
        if report.dags:
            self.row(table, "dags", _one(", ".join(report.dags)))
        if report.warnings:
            count = len(report.warnings)
            warnings = f"{count} schema warning{'s' if count != 1 else ''} (see Manifest)"
            self.row(table, "warnings", warnings, self.style_of("bundle-details--unreadable"))
        return Group(heading, reason, Text(), table)

    def _digests(self, table: Table, report: BundleReport) -> None:
        """Expected and actual SHA-256 in aligned halves; a differing actual digest is marked as such."""
        expected = report.binary_sha256 or ""
        actual = report.actual_sha256
        self._digest_rows(table, "expected", expected, Style())
        if actual is None:
            self.row(table, "actual", "not computed", self.style_of("bundle-details--muted"))
            return
        cached = " (from the digest cache)" if report.digest_cached else ""
        if actual == expected:
            self._digest_rows(table, "actual", actual, Style())
            self.row(table, "", f"digests match{cached}", self.style_of("bundle-details--ok"))
        else:
            self._digest_rows(table, "actual", actual, self.style_of("bundle-details--differs"))
            self.row(table, "", f"digests differ{cached}", self.style_of("bundle-details--rejected"))

    def _digest_rows(self, table: Table, label: str, digest: str, style: Style) -> None:
        for start in range(0, max(len(digest), 1), DIGEST_CHUNK):
            self.row(table, label if start == 0 else "", digest[start : start + DIGEST_CHUNK], style)


class BundleDags(StyledDetail):
    """dag_id → tasks of one bundle, and what Airflow does with each dag_id across all bundles."""

    COMPONENT_CLASSES = {
        "bundle-details--label",
        "bundle-details--dag",
        "bundle-details--ok",
        "bundle-details--rejected",
        "bundle-details--shadowed",
        "bundle-details--warning",
        "bundle-details--muted",
    }
    DEFAULT_CSS = """
    BundleDags > .bundle-details--label { color: $foreground 60%; }
    BundleDags > .bundle-details--dag { text-style: bold; }
    BundleDags > .bundle-details--ok { color: $success; }
    BundleDags > .bundle-details--rejected { color: $error; }
    BundleDags > .bundle-details--shadowed { color: $warning; }
    BundleDags > .bundle-details--warning { color: $warning; text-style: bold; }
    BundleDags > .bundle-details--muted { color: $foreground 60%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.report: BundleReport | None = None
        self.index: Mapping[str, Resolution] = {}

    def show(self, report: BundleReport | None, index: Mapping[str, Resolution]) -> None:
        self.report, self.index = report, index
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        report = self.report
        if report is None:
            return Text("Select a bundle to see its DAGs.", self.style_of("bundle-details--muted"))
        if not report.dags:
            return Text("(this file declares no dag_ids)", self.style_of("bundle-details--muted"))
        blocks: list[RenderableType] = []
        for dag_id, tasks in report.dags.items():
            if blocks:
                blocks.append(Text())
            blocks.append(Text(_one(dag_id), self.style_of("bundle-details--dag")))
            table = self.grid()
            self.row(table, "tasks", ", ".join(_one(t) for t in tasks) if tasks else "(no tasks)")
            self._outcome(table, report, self.index.get(dag_id))
            blocks.append(table)
        return Group(*blocks)

    def _outcome(self, table: Table, report: BundleReport, resolution: Resolution | None) -> None:
        mine = None if resolution is None else next((c for c in resolution.candidates if c.path == report.path), None)
        if resolution is None or mine is None:
            self.row(table, "airflow", "(not resolved yet)", self.style_of("bundle-details--muted"))
            return
        if mine.outcome == SELECTED:
            self.row(table, "airflow", "✓ runs this bundle", self.style_of("bundle-details--ok"))
        elif mine.outcome == SHADOWED:
            self.row(table, "airflow", f"≈ {_one(mine.reason)}", self.style_of("bundle-details--shadowed"))
        else:
            self.row(table, "airflow", f"✗ {_one(mine.reason)}", self.style_of("bundle-details--rejected"))
        if resolution.ambiguous:
            self.row(
                table,
                "",
                "⚠ ambiguous: more than one accepted bundle declares it; the directory walk order "
                "(filesystem order) decides which one runs",
                self.style_of("bundle-details--warning"),
            )
        for other in resolution.candidates:
            if other.path != report.path:
                self.row(table, "also in", f"{_one(other.path)} ({other.outcome})", self.style_of("bundle-details--muted"))


class BundleDetails(Vertical):
    """The four tabs; ``show_*`` methods replace their content."""

    DEFAULT_CSS = """
    BundleDetails { width: 1fr; height: 1fr; }
    BundleDetails TabPane { padding: 0; }
    BundleDetails VerticalScroll { background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with TabbedContent(id="bundle-tabs"):
            with TabPane("Overview", id="bundle-overview"), VerticalScroll(id="bundle-overview-scroll"):
                yield BundleOverview(id="bundle-overview-text")
            with TabPane("Manifest", id="bundle-manifest"):
                yield BundleTextView(wrap=True, id="bundle-manifest-text")
            with TabPane("Source", id="bundle-source"):
                yield BundleTextView(id="bundle-source-text")
            with TabPane("DAGs", id="bundle-dags"), VerticalScroll(id="bundle-dags-scroll"):
                yield BundleDags(id="bundle-dags-text")

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#bundle-tabs", TabbedContent)

    @property
    def overview(self) -> BundleOverview:
        return self.query_one(BundleOverview)

    @property
    def dags(self) -> BundleDags:
        return self.query_one(BundleDags)

    @property
    def manifest(self) -> BundleTextView:
        return self.query_one("#bundle-manifest-text", BundleTextView)

    @property
    def source(self) -> BundleTextView:
        return self.query_one("#bundle-source-text", BundleTextView)

    def show_nothing(self, entry: TreeEntry | None = None) -> None:
        self.overview.show(None, entry)
        self.dags.show(None, {})
        message = [note("Select a bundle file in the tree.")]
        self.manifest.show(message)
        self.source.show(message)

    def show_report(self, report: BundleReport, index: Mapping[str, Resolution]) -> None:
        """What the scan already knows, shown at once; manifest and source say they are loading."""
        self.overview.show(report)
        self.dags.show(report, index)
        loading = [note("(reading…)")]
        self.manifest.show(loading)
        self.source.show(loading)

    def show_view(self, view: DetailView, index: Mapping[str, Resolution]) -> None:
        self.overview.show(view.detail.report)
        self.dags.show(view.detail.report, index)
        self.manifest.show(view.manifest)
        self.source.show(view.source)

    def show_error(self, message: str) -> None:
        lines: list[TextLine] = [note(f"cannot read: {_one(message)}", "warning")]
        self.manifest.show(lines)
        self.source.show(lines)

    def step_tab(self, step: int) -> None:
        tabs = self.tabs
        current = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(current + step) % len(TABS)]

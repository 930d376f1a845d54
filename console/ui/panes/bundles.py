"""The Bundles pane: what is in the executable-bundle directories, what Airflow accepts, and why not.

The pane never opens a file. A thread worker runs the service's scan (hashing may take minutes on
gigabytes, so it must not hold the event loop) and another reads the highlighted file in full for
the details tabs; both answer with typed messages. The scan's progress callback keeps only the
latest snapshot and posts one message when none is pending, so the screen is updated per turn of
the event loop however often the scanner reports. Leaving the app sets the scan's cancel event.
The first scan starts when the pane is first shown, so a session that never opens it hashes nothing.
"""

from __future__ import annotations

import os
import threading

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from console.bundles.model import ScanProgress, ScanResult
from console.bundles.resolve import Resolution
from console.bundles.service import BundleService
from console.bundles.watch import WATCH_INTERVAL_S, ScanDiff
from console.safetext import inert
from console.ui import bindings
from console.ui.messages.bundles import BundleDetailLoaded, BundleScanFinished, BundleScanProgress
from console.ui.context import ConsoleContext
from console.ui.widgets.bundle_details import BundleDetails
from console.ui.widgets.bundle_filter import BundleFilter, FilterError, parse_filter
from console.ui.widgets.bundle_resolve import ResolveScreen
from console.ui.widgets.bundle_text import detail_view
from console.ui.widgets.bundle_tree import BundleTree, TreeEntry, shown_path, status_tone

PANE_ID = "bundles"
TITLE = "Bundles"
DETAIL_DELAY_S = 0.12
NARROW_COLUMNS = 100
SCAN_GROUP = "bundles-scan"
DETAIL_GROUP = "bundles-detail"

BINDINGS = bindings.BUNDLES


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


def summary_text(result: ScanResult) -> str:
    """One line about a finished scan: roots, files by verdict, bytes hashed, cache hits, walk errors."""
    counts: dict[str, int] = {}
    for report in result.bundles:
        tone = status_tone(report.status)
        counts[tone] = counts.get(tone, 0) + 1
    roots = len(result.roots)
    files = len(result.bundles)
    parts = [f"{roots} root{'s' if roots != 1 else ''}", f"{files} file{'s' if files != 1 else ''}"]
    parts.extend(f"{counts[tone]} {tone}" for tone in ("ok", "rejected", "unreadable", "ignored") if counts.get(tone))
    parts.append(f"{size_text(result.bytes_hashed)} hashed")
    if result.cache_hits:
        parts.append(f"{result.cache_hits} from cache")
    if result.walk_errors:
        parts.append(f"{len(result.walk_errors)} walk error{'s' if len(result.walk_errors) != 1 else ''}")
    return " · ".join(parts)


ANNOUNCED_NAMES = 3


def change_text(diff: ScanDiff) -> str:
    """What a rescan found, naming the first few bundles of each kind: ``+ added``, ``~ changed``, ``- removed``."""
    kinds = (
        ("+", [r for r in diff.added]),
        ("~", [new for _, new in [*diff.replaced, *diff.changed]]),
        ("-", [old for old, _ in diff.removed]),
    )
    parts = []
    for sign, reports in kinds:
        for report in reports[:ANNOUNCED_NAMES]:
            state = "" if sign == "-" else f" ({report.status.value})"
            parts.append(f"{sign} {shown_path(report)}{state}")
        if len(reports) > ANNOUNCED_NAMES:
            parts.append(f"{sign} {len(reports) - ANNOUNCED_NAMES} more")
    return "\n".join(parts)


def diff_text(diff: ScanDiff) -> str:
    if diff.empty:
        return "Rescan: nothing changed."
    parts = [
        f"{len(items)} {name}"
        for name, items in (("added", diff.added), ("replaced", diff.replaced), ("changed", diff.changed), ("removed", diff.removed))
        if items
    ]
    return "Rescan: " + ", ".join(parts) + "."


class BundlesPane(Vertical):
    """Tree of roots → folders → files on the left, details tabs on the right."""

    BINDINGS = BINDINGS
    DEFAULT_CSS = """
    BundlesPane { height: 1fr; }
    BundlesPane #bundles-top { height: 1; background: $panel; }
    BundlesPane #bundles-summary { width: 1fr; height: 1; padding: 0 1; color: $foreground; }
    BundlesPane #bundles-summary.scanning { color: $accent; }
    BundlesPane #bundles-summary.problem { color: $error; text-style: bold; }
    BundlesPane #bundles-progress { width: auto; height: 1; padding-right: 1; }
    BundlesPane #bundles-filter { height: 1; background: $boost; }
    BundlesPane #bundles-body { height: 1fr; }
    BundlesPane BundleTree { width: 40%; min-width: 24; max-width: 64; height: 1fr; border-right: vkey $panel; }
    """

    def __init__(self, ctx: ConsoleContext, *, id: str = PANE_ID):
        super().__init__(id=id)
        self.ctx = ctx
        self.service: BundleService | None = ctx.bundle_service  # type: ignore[assignment]
        self.result: ScanResult | None = None
        self.index: dict[str, Resolution] = {}
        self.filter = BundleFilter()
        self.scanning = False
        self.scans = 0
        self.selected_path: str | None = None
        self._started = False
        self._cancel: threading.Event | None = None
        self._latest: ScanProgress | None = None
        self._progress_posted = False
        self._warned = 0
        self._detail_timer: Timer | None = None
        self.watch_interval = WATCH_INTERVAL_S
        self._watch_timer: Timer | None = None
        self.marks: dict[str, str] = {}
        self._quiet = False
        self._rescan_after = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="bundles-top"):
            yield Static(id="bundles-summary")
            yield ProgressBar(show_eta=False, id="bundles-progress")
        yield Input(placeholder="/ filter: words in the path, status:hash_mismatch, status:rejected", compact=True, id="bundles-filter")
        with Horizontal(id="bundles-body"):
            yield BundleTree(id="bundles-tree")
            yield BundleDetails(id="bundles-details")

    def on_mount(self) -> None:
        self.query_one("#bundles-progress", ProgressBar).display = False
        self._summary("Not scanned yet.")
        self.details.show_nothing()

    def on_show(self) -> None:
        if not self._started:
            self._started = True
            self.start_scan()

    def on_resize(self, event: events.Resize) -> None:
        """Below 100 columns the tree takes half the width, so status words fit beside the names."""
        self.tree.styles.width = "50%" if event.size.width < NARROW_COLUMNS else "40%"

    def on_unmount(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def focus(self, scroll_visible: bool = True) -> BundlesPane:
        """Focusing the pane (pane switch keys) puts the cursor in the tree."""
        self.tree.focus(scroll_visible)
        return self

    @property
    def tree(self) -> BundleTree:
        return self.query_one(BundleTree)

    @property
    def details(self) -> BundleDetails:
        return self.query_one(BundleDetails)

    def _summary(self, message: str, kind: str = "") -> None:
        """The one-line status above the tree; it may quote paths and typed filters, so it is made inert."""
        summary = self.query_one("#bundles-summary", Static)
        summary.update(Text(inert(message, keep_newlines=False), no_wrap=True, overflow="ellipsis"))
        summary.set_classes(kind)

    # Scanning ------------------------------------------------------------------------------------

    def start_scan(self, *, quiet: bool = False) -> bool:
        """Start a scan in a thread unless one is running; the answer is a ``BundleScanFinished``.

        A quiet scan (the pane following its roots) draws no progress and says nothing when
        nothing changed.
        """
        if self.scanning:
            if not quiet:
                self.notify("A scan is already running.", markup=False)
            return False
        self.scanning = True
        self._quiet = quiet
        self._cancel = threading.Event()
        self._latest = None
        if not quiet:
            self._summary("Scanning…", "scanning")
            bar = self.query_one("#bundles-progress", ProgressBar)
            bar.update(total=None, progress=0)
            bar.display = True
        self._scan(self._cancel, self.result is None, quiet)
        return True

    @work(thread=True, group=SCAN_GROUP, exit_on_error=False)
    def _scan(self, cancel: threading.Event, first: bool, quiet: bool = False) -> None:
        if self.service is None:
            self.service = BundleService.from_config(arguments=self.ctx.bundle_roots)
        service = self.service
        progress = None if quiet else self._progress_arrived
        result, diff = service.rescan(on_progress=progress, cancel=cancel)
        if quiet and diff.empty and not result.cancelled:
            self.post_message(BundleScanFinished(result, diff, self.index, first, list(service.warnings), quiet=True))
            return
        index = service.dag_index() if not result.cancelled else {}
        self.post_message(BundleScanFinished(result, diff, index, first, list(service.warnings), quiet=quiet))

    def _follow_roots(self) -> None:
        """The watch timer's tick: a quiet rescan unless a scan is already running."""
        if not self.scanning and self.result is not None:
            self.start_scan(quiet=True)

    def _progress_arrived(self, progress: ScanProgress) -> None:
        """Called on scanner threads: keep the newest snapshot, post only if none is pending."""
        self._latest = progress
        if not self._progress_posted:
            self._progress_posted = True
            self.post_message(BundleScanProgress())

    def on_bundle_scan_progress(self, message: BundleScanProgress) -> None:
        message.stop()
        self._progress_posted = False
        progress = self._latest
        if progress is None or not self.scanning:
            return
        found = f"{progress.files_found}+" if progress.walking else str(progress.files_found)
        line = f"Scanning… {progress.files_done} of {found} files · {size_text(progress.bytes_hashed)} hashed"
        if progress.current:
            line += f" · {os.path.basename(progress.current)}"
        self._summary(line, "scanning")
        bar = self.query_one("#bundles-progress", ProgressBar)
        bar.update(total=None if progress.walking else max(progress.files_found, 1), progress=progress.files_done)

    def on_bundle_scan_finished(self, message: BundleScanFinished) -> None:
        message.stop()
        self._finish(message)
        if self._rescan_after and not self.scanning:
            self._rescan_after = False
            self.start_scan()

    def _finish(self, message: BundleScanFinished) -> None:
        self.scanning = False
        self.query_one("#bundles-progress", ProgressBar).display = False
        for warning in message.warnings[self._warned :]:
            self.notify(warning, title="Bundles", severity="warning", markup=False, timeout=10)
        self._warned = len(message.warnings)
        result = message.result
        if result.cancelled:
            if not message.quiet:
                self._summary("Scan cancelled; showing the previous scan." if self.result else "Scan cancelled: press r to scan.", "problem")
            return
        self.scans += 1
        self.result = result
        self.index = message.index
        if self._watch_timer is None and self.watch_interval > 0:
            self._watch_timer = self.set_interval(self.watch_interval, self._follow_roots)
        if message.quiet and message.diff.empty:
            return
        if not message.first:
            self._mark(message.diff, keep=message.quiet)
        if not result.roots:
            self._summary(
                "No bundle directories configured: bundle_roots in the config file, REMSVC_CONSOLE_BUNDLE_ROOTS, "
                "or Airflow's [sdk] coordinators (ExecutableCoordinator executables_root).",
                "problem",
            )
        self._populate()
        if message.quiet:
            self.notify(inert(change_text(message.diff)), title="Bundles changed", markup=False, timeout=10)
        elif not message.first:
            self.notify(diff_text(message.diff), markup=False, timeout=5)

    def _mark(self, diff: ScanDiff, *, keep: bool) -> None:
        """Mark what a rescan found new or changed; a rescan asked for with r starts the marks afresh."""
        if not keep:
            self.marks = {}
        for report in diff.added:
            self.marks[report.path] = "new"
        for _, report in [*diff.replaced, *diff.changed]:
            self.marks[report.path] = "changed"
        for old, _ in diff.removed:
            self.marks.pop(old.path, None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == SCAN_GROUP and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self.scanning = False
            self.query_one("#bundles-progress", ProgressBar).display = False
            error = event.worker.error
            self._summary(f"Scan failed: {error}" if error else "Scan stopped.", "problem")

    def action_rescan(self) -> None:
        """Rescan now; pressed while the pane is quietly following its roots, right after that poll."""
        if self.scanning and self._quiet:
            self._rescan_after = True
            return
        self.start_scan()

    def action_cancel_scan(self) -> None:
        if not self.scanning or self._cancel is None:
            self.notify("No scan is running.", markup=False)
            return
        self._cancel.set()
        self._summary("Cancelling the scan…", "scanning")

    # Tree and filter -----------------------------------------------------------------------------

    def _populate(self) -> None:
        if self.result is None:
            return
        tree = self.tree
        shown = tree.populate(self.result, self.filter, self.marks)
        if self.result.roots:
            line = summary_text(self.result)
            if self.filter.active:
                only = " (rejected only)" if self.filter.rejected_only else ""
                line = f"{shown} of {len(self.result.bundles)} files match{only} · {line}"
            self._summary(line, "problem" if self.filter.active and not shown else "")
        if self.selected_path is not None and tree.select_path(self.selected_path):
            return
        first = tree.first_file()
        if first is not None:
            tree.move_to(first)
        else:
            self.selected_path = None
            self.details.show_nothing()

    def apply_filter(self, text: str) -> bool:
        """Parse and apply ``text``; a bad status is reported on the summary line and changes nothing."""
        try:
            parsed = parse_filter(text, rejected_only=self.filter.rejected_only)
        except FilterError as exc:
            self._summary(f"filter: {exc}", "problem")
            return False
        self.filter = parsed
        self._populate()
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "bundles-filter":
            event.stop()
            self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "bundles-filter":
            event.stop()
            self.tree.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#bundles-filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.tree.focus()

    def action_toggle_rejected(self) -> None:
        self.filter = BundleFilter(self.filter.words, self.filter.statuses, not self.filter.rejected_only)
        self._populate()

    def action_step_tab(self, step: int) -> None:
        self.details.step_tab(step)

    # Details -------------------------------------------------------------------------------------

    def on_tree_node_highlighted(self, event: BundleTree.NodeHighlighted[TreeEntry]) -> None:
        event.stop()
        entry = event.node.data
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if entry is None or entry.kind != "file" or entry.report is None:
            self.selected_path = None
            self.details.show_nothing(entry)
            return
        path = entry.path
        self.selected_path = path
        self.details.show_report(entry.report, self.index)
        dark = self.app.current_theme.dark
        self._detail_timer = self.set_timer(DETAIL_DELAY_S, lambda: self._load_detail(path, dark))

    @work(thread=True, group=DETAIL_GROUP, exclusive=True, exit_on_error=False)
    def _load_detail(self, path: str, dark: bool) -> None:
        service = self.service
        if service is None:
            return
        try:
            view = detail_view(service.detail(path), dark=dark)
        except OSError as exc:
            self.post_message(BundleDetailLoaded(path, None, exc.strerror or str(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(BundleDetailLoaded(path, view))

    def on_bundle_detail_loaded(self, message: BundleDetailLoaded) -> None:
        message.stop()
        if message.path != self.selected_path:
            return
        if message.view is None:
            self.details.show_error(message.error or "unknown error")
        else:
            self.details.show_view(message.view, self.index)

    # Resolve -------------------------------------------------------------------------------------

    def action_resolve(self) -> None:
        if self.result is None or self.service is None:
            self.notify("Wait for the scan to finish: resolution uses its result.", markup=False)
            return
        initial = ""
        node = self.tree.cursor_node
        if node is not None and node.data is not None and node.data.report is not None and node.data.report.dags:
            initial = next(iter(node.data.report.dags))
        self.app.push_screen(ResolveScreen(self.service.resolve, sorted(self.index), initial))

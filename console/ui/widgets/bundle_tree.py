"""Roots → folders → files, each file marked with its verdict.

Icons are plain symbols (✓ ✗ ! ·) that survive a 16-colour terminal over SSH; colour comes from the
theme through component classes, so a theme restyles them. Names come from the filesystem and are
untrusted like any other file text: they are made inert and never parsed as markup. Entries are
sorted by name for reading (the coordinator's walk order matters only for dag_id resolution, which
the resolve prompt explains).

Labels are fitted to the tree's width, so nothing scrolls sideways at 80 columns: a file's status
word is kept whole and its name gives way (with an ellipsis) first. Files that a rescan found new or
changed carry a mark (``●``) in the accent colour.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from console.bundles.model import BundleReport, RootInfo, ScanResult, Status
from console.safetext import inert
from console.ui.widgets.bundle_filter import BundleFilter

EXPAND_ALL_LIMIT = 400
MIN_NAME_CELLS = 6
MARK = "● "

ICONS = {Status.OK: "✓", Status.NOT_BUNDLE: "·", Status.NOT_EXECUTABLE: "·", Status.UNREADABLE: "!", Status.SCAN_ERROR: "!"}


def status_icon(status: Status) -> str:
    return ICONS.get(status, "✗")


def status_tone(status: Status) -> str:
    """The component-class suffix (and theme colour) for a status: ok, rejected, unreadable, ignored."""
    if status is Status.OK:
        return "ok"
    if status in (Status.UNREADABLE, Status.SCAN_ERROR):
        return "unreadable"
    return "ignored" if status.is_ignored else "rejected"


def shown_path(report: BundleReport) -> str:
    """The path under its root (the root's own name when the root is the file itself)."""
    root = report.root
    if root and report.path.startswith(root.rstrip(os.sep) + os.sep):
        return report.path[len(root.rstrip(os.sep)) + 1 :]
    return os.path.basename(report.path) or report.path


@dataclass
class TreeEntry:
    """What a tree node stands for; ``counts`` tallies tones of the files under a root or folder."""

    kind: str  # "root", "folder", "file", "error"
    path: str
    name: str
    report: BundleReport | None = None
    root: RootInfo | None = None
    counts: dict[str, int] = field(default_factory=dict)
    mark: str | None = None  # "new" or "changed" when the latest rescans found it so

    @property
    def files(self) -> int:
        return sum(self.counts.values())


class BundleTree(Tree[TreeEntry]):
    COMPONENT_CLASSES = {
        "bundle-tree--ok",
        "bundle-tree--rejected",
        "bundle-tree--unreadable",
        "bundle-tree--ignored",
        "bundle-tree--status",
        "bundle-tree--root",
        "bundle-tree--mark",
    }
    DEFAULT_CSS = """
    BundleTree > .bundle-tree--ok { color: $success; }
    BundleTree > .bundle-tree--rejected { color: $error; text-style: bold; }
    BundleTree > .bundle-tree--unreadable { color: $warning; text-style: bold; }
    BundleTree > .bundle-tree--ignored { color: $foreground 50%; }
    BundleTree > .bundle-tree--status { color: $foreground 60%; }
    BundleTree > .bundle-tree--root { text-style: bold; }
    BundleTree > .bundle-tree--mark { color: $accent; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("bundles", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.auto_expand = False
        self._marks: dict[str, str] = {}

    def _on_resize(self, event: events.Resize) -> None:
        """Labels are fitted to the width, so a new width lays the lines out again."""
        self._invalidate()
        super()._on_resize(event)

    def _label_room(self, node: TreeNode[TreeEntry]) -> int | None:
        """Cells left for ``node``'s label after its guides, or None before the tree has a size."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return None
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        return max(1, width - depth * self.guide_depth)
    def populate(self, result: ScanResult, flt: BundleFilter, marks: dict[str, str] | None = None) -> int:
        """Rebuild from ``result`` keeping only files ``flt`` accepts; returns how many files are shown."""
        self.clear()
        self._marks = marks or {}
        by_root: dict[str, list[BundleReport]] = {}
        for report in result.bundles:
            if flt.matches(report, shown_path(report)):
                by_root.setdefault(report.root, []).append(report)
        shown = sum(len(reports) for reports in by_root.values())
        expand_all = flt.active or shown <= EXPAND_ALL_LIMIT
        for info in result.roots:
            entry = TreeEntry("root", info.path, info.path, root=info)
            node = self.root.add(Text(inert(info.path, keep_newlines=False)), entry, expand=True)
            if info.error:
                node.add_leaf(Text(f"cannot scan: {inert(info.error, keep_newlines=False)}"), TreeEntry("error", info.path, info.error))
            for error in result.walk_errors:
                if error.startswith(f"cannot list {info.path}"):
                    node.add_leaf(Text(inert(error, keep_newlines=False)), TreeEntry("error", info.path, error))
            self._add_files(node, entry, by_root.get(info.path, []), expand_all)
        self.root.expand()
        return shown

    def _add_files(self, root_node: TreeNode[TreeEntry], root_entry: TreeEntry, reports: Iterable[BundleReport], expand_all: bool) -> None:
        folders: dict[tuple[str, ...], TreeEntry] = {(): root_entry}
        subfolders: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        files: dict[tuple[str, ...], list[TreeEntry]] = {}
        for report in reports:
            parts = tuple(shown_path(report).split(os.sep))
            tone = status_tone(report.status)
            for depth in range(len(parts)):
                key = parts[:depth]
                if key not in folders:
                    folders[key] = TreeEntry("folder", os.path.join(root_entry.path, *key), key[-1])
                    subfolders.setdefault(key[:-1], set()).add(key)
                folders[key].counts[tone] = folders[key].counts.get(tone, 0) + 1
            entry = TreeEntry("file", report.path, parts[-1], report=report, mark=self._marks.get(report.path))
            files.setdefault(parts[:-1], []).append(entry)
        self._add_level(root_node, (), folders, subfolders, files, expand_all)

    def _add_level(self, node: TreeNode[TreeEntry], key: tuple[str, ...], folders, subfolders, files, expand_all: bool) -> None:
        for child in sorted(subfolders.get(key, ()), key=lambda k: k[-1]):
            entry = folders[child]
            expand = expand_all or entry.counts.get("rejected", 0) + entry.counts.get("unreadable", 0) > 0
            sub = node.add(Text(inert(entry.name, keep_newlines=False)), entry, expand=expand)
            self._add_level(sub, child, folders, subfolders, files, expand_all)
        for entry in sorted(files.get(key, []), key=lambda e: e.name):
            node.add_leaf(Text(inert(entry.name, keep_newlines=False)), entry)

    def select_path(self, path: str) -> bool:
        """Move the cursor to the node for ``path`` (expanding its parents); False if it is not shown."""
        node = self.node_for(path)
        if node is None:
            return False
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.move_to(node)
        return True

    def move_to(self, node: TreeNode[TreeEntry]) -> None:
        """``move_cursor`` right after nodes were added or expanded: line numbers are laid out first."""
        _ = self.last_line  # reading it rebuilds the line table, which assigns ``node.line``
        self.move_cursor(node)

    def node_for(self, path: str) -> TreeNode[TreeEntry] | None:
        stack = list(self.root.children)
        while stack:
            node = stack.pop()
            if node.data is not None and node.data.kind in ("file", "folder") and node.data.path == path:
                return node
            stack.extend(node.children)
        return None

    def first_file(self) -> TreeNode[TreeEntry] | None:
        stack = list(reversed(self.root.children))
        while stack:
            node = stack.pop()
            if node.data is not None and node.data.kind == "file":
                return node
            stack.extend(reversed(node.children))
        return None

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"bundle-tree--{name}", partial=True)

    def render_label(self, node: TreeNode[TreeEntry], base_style: Style, style: Style) -> Text:
        entry = node.data
        label = node._label.copy()
        if entry is None:
            return super().render_label(node, base_style, style)
        parts: list[Text | tuple[str, Style]] = []
        suffix = Text()
        if node._allow_expand:
            parts.append((self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE, base_style + Style(bold=True)))
        if entry.kind == "file" and entry.report is not None:
            status = entry.report.status
            parts.append((status_icon(status) + " ", self._style(status_tone(status))))
            if entry.mark:
                parts.append((MARK, self._style("mark")))
            if status is not Status.OK:
                suffix.append(f" {status.value}", self._style("status"))
        elif entry.kind == "root":
            icon = "✗ " if entry.root is not None and entry.root.error else ""
            if icon:
                parts.append((icon, self._style("rejected")))
            label.stylize(self._style("root"))
        elif entry.kind == "folder":
            rejected = entry.counts.get("rejected", 0) + entry.counts.get("unreadable", 0)
            if rejected:
                suffix.append(f"  ✗{rejected}", self._style("rejected"))
        elif entry.kind == "error":
            parts.append(("! ", self._style("unreadable")))
        label.stylize(style)
        suffix.stylize(style)
        head = Text.assemble(*parts)
        room = self._label_room(node)
        if room is not None:
            label, suffix = _fit(head.cell_len, label, suffix, room)
        return Text.assemble(head, label, suffix)


def _fit(head: int, label: Text, suffix: Text, room: int) -> tuple[Text, Text]:
    """Shorten the name first (down to a few cells), then the status, so the line fits ``room`` cells."""
    over = head + label.cell_len + suffix.cell_len - room
    if over <= 0:
        return label, suffix
    keep = max(min(label.cell_len, MIN_NAME_CELLS), label.cell_len - over)
    if keep < label.cell_len:
        label = label.copy()
        label.truncate(keep, overflow="ellipsis")
    left = max(0, room - head - label.cell_len)
    if suffix.cell_len > left:
        suffix = suffix.copy()
        suffix.truncate(left, overflow="ellipsis")
    return label, suffix


def tally(counts: dict[str, int]) -> str:
    files = sum(counts.values())
    if not files:
        return "no files"
    bits = [f"{files} file{'s' if files != 1 else ''}"]
    bits.extend(f"{counts[tone]} {tone}" for tone in ("ok", "rejected", "unreadable", "ignored") if counts.get(tone))
    return " · ".join(bits)

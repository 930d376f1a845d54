"""Typed messages the Bundles pane's workers post back to the event loop.

``BundleScanProgress`` carries nothing: the scan thread keeps only the latest ``ScanProgress`` in a
slot and posts one of these when none is pending, so a burst of progress callbacks becomes one
screen update per turn of the event loop, not one per callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from console.bundles.model import ScanResult
from console.bundles.resolve import Resolution
from console.bundles.watch import ScanDiff
from console.ui.widgets.bundle_text import DetailView


class BundleScanProgress(Message):
    """A newer progress snapshot is waiting in the pane's slot."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BundleScanProgress)


@dataclass
class BundleScanFinished(Message):
    """A scan ended; ``index`` resolves every declared dag_id against ``result`` (empty if cancelled).

    ``quiet`` scans are the pane following its roots: they show nothing unless something changed.
    """

    result: ScanResult
    diff: ScanDiff
    index: dict[str, Resolution]
    first: bool
    warnings: list[str] = field(default_factory=list)
    quiet: bool = False


@dataclass
class BundleDetailLoaded(Message):
    """One file read in full for the details tabs, or the one-line reason it could not be."""

    path: str
    view: DetailView | None
    error: str | None = None


@dataclass
class DagResolved(Message):
    """The resolve prompt's answer for one dag_id."""

    resolution: Resolution

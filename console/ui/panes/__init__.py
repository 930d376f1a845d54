"""The console's panes, in tab order. Each module exposes ``PANE_ID``, ``TITLE`` and a widget class
taking the shared ``ConsoleContext``; the app mounts them in a ``TabbedContent`` and binds 1/2/3.

Only the first pane is built before the first frame. The others sit in a ``PaneSlot`` that imports
and mounts them right after it (or at once when their tab is asked for): importing them is most of
what they cost. A pane whose module is already imported has nothing to save and is built at once.

To plug a pane in, replace its module's class, keeping the constructor ``Pane(ctx, *, id)`` (the app
passes ``id=f"{pane_id}-pane"``); panes handle their own workers' ``Worker.StateChanged`` (it does
not bubble), e.g. with ``screens.error.worker_failure_screen``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import import_module

from textual.containers import Container


@dataclass(frozen=True)
class PaneSpec:
    pane_id: str
    title: str
    module: str
    class_name: str

    def load(self):
        return getattr(import_module(self.module), self.class_name)

    @property
    def imported(self) -> bool:
        return self.module in sys.modules


PANES = (
    PaneSpec("dispatch", "Dispatch", "console.ui.panes.dispatch", "DispatchPane"),
    PaneSpec("bundles", "Bundles", "console.ui.panes.bundles", "BundlesPane"),
    PaneSpec("health", "Health", "console.ui.panes.health", "HealthPane"),
)


class PaneSlot(Container):
    """Stands in for a pane until it is loaded; the pane itself gets ``id=f"{pane_id}-pane"``."""

    DEFAULT_CSS = """
    PaneSlot { height: 1fr; }
    """

    def __init__(self, spec: PaneSpec, ctx) -> None:
        super().__init__(id=f"{spec.pane_id}-slot")
        self.spec = spec
        self.ctx = ctx
        self.pane = None

    def compose(self):
        if self.spec.imported:
            self.pane = self.spec.load()(self.ctx, id=f"{self.spec.pane_id}-pane")
            yield self.pane

    def on_mount(self) -> None:
        if self.pane is None:
            self.call_after_refresh(self.load)

    async def load(self):
        """The pane, imported and mounted on first call."""
        if self.pane is None:
            self.pane = self.spec.load()(self.ctx, id=f"{self.spec.pane_id}-pane")
            await self.mount(self.pane)
        return self.pane

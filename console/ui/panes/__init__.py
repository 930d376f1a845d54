"""The console's panes, in tab order. Each module exposes ``PANE_ID``, ``TITLE`` and a widget class
taking the shared ``ConsoleContext``; the app mounts them in a ``TabbedContent`` and binds 1/2/3.

To plug a pane in, replace its module's class, keeping the constructor ``Pane(ctx, *, id)`` (the app
passes ``id=f"{pane_id}-pane"``); panes handle their own workers' ``Worker.StateChanged`` (it does
not bubble), e.g. with ``screens.error.worker_failure_screen``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class PaneSpec:
    pane_id: str
    title: str
    module: str
    class_name: str

    def load(self):
        return getattr(import_module(self.module), self.class_name)


PANES = (
    PaneSpec("dispatch", "Dispatch", "console.ui.panes.dispatch", "DispatchPane"),
    PaneSpec("bundles", "Bundles", "console.ui.panes.bundles", "BundlesPane"),
    PaneSpec("health", "Health", "console.ui.panes.health", "HealthPane"),
)

"""The "resolve dag_id" prompt: which bundle Airflow would run for a dag_id, and why not the others.

The answer comes from the pane's last scan (the service resolves in memory; a worker thread keeps
even that off the event loop). Candidates are listed in walk order, which is the order that decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from console.bundles.resolve import SELECTED, SHADOWED, Resolution
from console.safetext import inert
from console.ui import bindings
from console.ui.messages.bundles import DagResolved
from console.ui.widgets.bundle_details import StyledDetail

BINDINGS = bindings.BUNDLE_RESOLVE
OUTCOME_ICONS = {SELECTED: "✓", SHADOWED: "≈"}


def _one(value: object) -> str:
    return inert(str(value), keep_newlines=False)


class ResolveResult(StyledDetail):
    """One ``Resolution`` laid out: the winner, the ambiguity flag, every candidate and its reason."""

    COMPONENT_CLASSES = {
        "bundle-details--label",
        "bundle-details--dag",
        "bundle-details--selected",
        "bundle-details--shadowed",
        "bundle-details--rejected",
        "bundle-details--warning",
        "bundle-details--muted",
    }
    DEFAULT_CSS = """
    ResolveResult { padding: 0; }
    ResolveResult > .bundle-details--label { color: $foreground 60%; }
    ResolveResult > .bundle-details--dag { text-style: bold; }
    ResolveResult > .bundle-details--selected { color: $success; text-style: bold; }
    ResolveResult > .bundle-details--shadowed { color: $warning; }
    ResolveResult > .bundle-details--rejected { color: $error; }
    ResolveResult > .bundle-details--warning { color: $warning; text-style: bold; }
    ResolveResult > .bundle-details--muted { color: $foreground 60%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.resolution: Resolution | None = None
        self.message = "Type a dag_id and press enter (tab completes a known one)."

    def show(self, resolution: Resolution | None, message: str = "") -> None:
        self.resolution, self.message = resolution, message
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        resolution = self.resolution
        if resolution is None:
            return Text(self.message, self.style_of("bundle-details--muted"))
        text = Text()
        text.append(_one(resolution.dag_id), self.style_of("bundle-details--dag"))
        text.append("\n")
        if resolution.selected is not None:
            text.append("✓ Airflow runs ", self.style_of("bundle-details--selected"))
            text.append(_one(resolution.selected.path) + "\n")
        else:
            text.append("✗ no bundle: ", self.style_of("bundle-details--rejected"))
            text.append(_one(resolution.airflow_error or "no bundle declares it") + "\n")
        if resolution.ambiguous:
            text.append(
                "⚠ ambiguous: more than one accepted bundle declares this dag_id; the coordinator runs "
                "whichever its directory walk meets first, and that order is the filesystem's\n",
                self.style_of("bundle-details--warning"),
            )
        text.rstrip()
        if not resolution.candidates:
            return text
        heading = Text(f"candidates, in walk order ({len(resolution.candidates)}):", self.style_of("bundle-details--label"))
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(ratio=1, overflow="fold")
        for candidate in resolution.candidates:
            outcome = candidate.outcome
            label = Text(f"{OUTCOME_ICONS.get(outcome, '✗')} {outcome}", self.style_of(f"bundle-details--{outcome}"))
            table.add_row(label, Text(_one(candidate.path)))
            table.add_row("", Text(_one(candidate.reason), self.style_of("bundle-details--muted")))
        return Group(text, Text(), heading, table)


class ResolveScreen(ModalScreen[None]):
    """Asks for a dag_id; answers without closing, so several can be checked in a row."""

    BINDINGS = BINDINGS
    DEFAULT_CSS = """
    ResolveScreen { align: center middle; background: $background 60%; }
    ResolveScreen #resolve-dialog { width: 100; max-width: 100%; height: auto; max-height: 100%; }
    ResolveScreen #resolve-input { margin-bottom: 1; }
    ResolveScreen #resolve-scroll { height: auto; max-height: 70vh; }
    """

    def __init__(self, resolve: Callable[[str], Resolution], dag_ids: Sequence[str], initial: str = "") -> None:
        super().__init__()
        self.resolve = resolve
        self.dag_ids = list(dag_ids)
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="resolve-dialog", classes="dialog"):
            yield Static(Text("Resolve dag_id: which bundle would Airflow run?"), classes="dialog-title")
            yield Input(
                self.initial,
                placeholder="dag_id",
                suggester=SuggestFromList(self.dag_ids, case_sensitive=True),
                compact=True,
                id="resolve-input",
            )
            with VerticalScroll(id="resolve-scroll"):
                yield ResolveResult(id="resolve-result")

    def on_mount(self) -> None:
        self.query_one("#resolve-input", Input).focus()
        if self.initial:
            self.start(self.initial)

    @property
    def result(self) -> ResolveResult:
        return self.query_one(ResolveResult)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        dag_id = event.value.strip()
        if not dag_id:
            self.result.show(None, "Type a dag_id first.")
            return
        self.start(dag_id)

    def start(self, dag_id: str) -> None:
        self.result.show(None, f"Resolving {_one(dag_id)}…")
        self._resolve(dag_id)

    @work(thread=True, exclusive=True, group="bundle-resolve", exit_on_error=False)
    def _resolve(self, dag_id: str) -> None:
        self.post_message(DagResolved(self.resolve(dag_id)))

    def on_dag_resolved(self, message: DagResolved) -> None:
        message.stop()
        if message.resolution.dag_id == self.query_one("#resolve-input", Input).value.strip():
            self.result.show(message.resolution)

    def action_close(self) -> None:
        self.dismiss(None)

"""Choose the targets of the next dispatch: one, many, or every connection matching a glob."""

from __future__ import annotations

import fnmatch

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from console.dispatch_service import KnownTarget
from console.safetext import inert
from console.ui import bindings


def _prompt(known: KnownTarget) -> Text:
    target = known.target
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(inert(target.name, keep_newlines=False), style="bold")
    text.append(f"  {inert(target.address, keep_newlines=False)}  ")
    text.append("TLS" if target.use_ssl else "insecure")
    if target.label:
        text.append(f"  {inert(target.label, keep_newlines=False)}", style="reverse")
    if known.warnings:
        text.append(f"  ⚠ {len(known.warnings)} warning{'s' if len(known.warnings) != 1 else ''}", style="bold")
    return text


class TargetPickerScreen(ModalScreen[list[KnownTarget] | None]):
    """Dismisses with the chosen targets (in catalogue order), or None when cancelled."""

    BINDINGS = bindings.PICKER

    def __init__(self, known: list[KnownTarget], selected: set[str], problems: list[str] | None = None):
        super().__init__()
        self.known = known
        self.initial = selected
        self.problems = problems or []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog picker-dialog"):
            apply = bindings.key_for(self.app, "targets.apply")
            yield Static(
                f"Targets: space toggles · a glob + enter selects matches · {apply} uses the selection",
                classes="dialog-title",
            )
            yield Input(placeholder="glob, e.g. remsvc_web_*", id="pattern", compact=True)
            yield SelectionList[str](
                *(Selection(_prompt(k), k.target.name, k.target.name in self.initial) for k in self.known),
                id="choices",
            )
            yield Static(id="picker-info")
        yield Footer()

    def on_mount(self) -> None:
        info = [f"⚠ {inert(p, keep_newlines=False)}" for p in self.problems]
        if not self.known:
            info.append("No RemSvc connections found: set AIRFLOW_CONN_<ID> or a connections file.")
        self.query_one("#picker-info", Static).update(Text("\n".join(info)))
        self.query_one("#choices", SelectionList).focus()

    def _names_matching(self, pattern: str) -> list[str]:
        lowered = pattern.lower()
        return [k.target.name for k in self.known if fnmatch.fnmatchcase(k.target.name.lower(), lowered)]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        pattern = event.value.strip()
        if not pattern:
            return
        names = self._names_matching(pattern)
        choices = self.query_one("#choices", SelectionList)
        for name in names:
            choices.select(name)
        self.notify(f"{len(names)} target(s) match {pattern}", markup=False, severity="information" if names else "warning")
        choices.focus()

    def on_selection_list_selection_highlighted(self, event: SelectionList.SelectionHighlighted) -> None:
        name = event.selection.value
        known = next((k for k in self.known if k.target.name == name), None)
        if known is None:
            return
        lines = [f"{inert(name, keep_newlines=False)} from {inert(known.source, keep_newlines=False)}"]
        lines += [f"⚠ {inert(w, keep_newlines=False)}" for w in known.warnings]
        if known.target.token_without_tls:
            lines.append("⚠ the bearer token would travel without TLS")
        self.query_one("#picker-info", Static).update(Text("\n".join(lines)))

    def action_apply(self) -> None:
        chosen = set(self.query_one("#choices", SelectionList).selected)
        self.dismiss([k for k in self.known if k.target.name in chosen])

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)

    def action_select_all(self) -> None:
        self.query_one("#choices", SelectionList).select_all()

    def action_select_none(self) -> None:
        self.query_one("#choices", SelectionList).deselect_all()

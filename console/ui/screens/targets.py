"""Choose the targets of the next dispatch: one, many, or every connection matching a glob.

The connections in Airflow's metadata DB are listed on request only: that starts an Airflow child
and takes seconds, so it runs in a thread while the picker stays usable.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from console.dispatch_service import KnownTarget
from console.safetext import inert
from console.ui import bindings
from console.ui.messages.dispatch import AirflowTargetsListed

# Problem lines shown at once; the rest are counted (``conn list --airflow`` prints them all).
MAX_PROBLEM_LINES = 3
ASKING = "asking Airflow for the metadata DB's connections…"

Lister = Callable[[], tuple[list[KnownTarget], list[str]]]


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
    """Dismisses with the chosen targets (in catalogue order), or None when cancelled.

    ``list_airflow`` (blocking, so called in a thread) returns every target it finds and its
    problems; without it the listing key is not offered.
    """

    BINDINGS = bindings.PICKER

    def __init__(self, known: list[KnownTarget], selected: set[str], problems: list[str] | None = None,
                 list_airflow: Lister | None = None):
        super().__init__()
        self.known = known
        self.initial = selected
        self.problems = problems or []
        self.list_airflow = list_airflow
        self.listing = False
        self._notes: list[str] = []
        self._detail: list[str] = []

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
        self._notes = _warnings(self.problems)
        if not self.known:
            self._notes.append(self._empty_message())
        self._show_info()
        self.query_one("#choices", SelectionList).focus()

    def _empty_message(self) -> str:
        if self.list_airflow is None:
            return "No RemSvc connections found: set AIRFLOW_CONN_<ID> or a connections file."
        listing = bindings.key_for(self.app, "targets.airflow")
        return (f"No RemSvc connections found: set AIRFLOW_CONN_<ID> or a connections file, "
                f"or press {listing} to list Airflow's metadata DB.")

    def _show_info(self) -> None:
        """Listing state and problems stay on top; the highlighted target's details follow."""
        lines = [*self._notes, *self._detail]
        self.query_one("#picker-info", Static).update(Text("\n".join(lines)))
        self.query_one("#dialog").set_class(len(lines) > 1, "-long-info")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.list_airflow is not None if action == "list_airflow" else True

    def action_list_airflow(self) -> None:
        if self.listing:
            return
        self.listing = True
        self._notes = [ASKING]
        self._show_info()
        self._run_listing(self.list_airflow)

    @work(thread=True, group="targets-airflow", exit_on_error=False, description="list Airflow's metadata DB")
    def _run_listing(self, list_airflow: Lister) -> None:
        try:
            known, problems = list_airflow()
        except Exception as exc:  # a failure is a warning line in the picker, never a crash of it
            known, problems = [], [f"listing through Airflow failed: {type(exc).__name__}: {exc}"]
        self.post_message(AirflowTargetsListed(known, problems))

    def on_airflow_targets_listed(self, message: AirflowTargetsListed) -> None:
        self.listing = False
        have = {k.target.name for k in self.known}
        fresh: dict[str, KnownTarget] = {}
        for known in message.known:
            if known.target.name not in have:
                fresh.setdefault(known.target.name, known)
        added = list(fresh.values())
        choices = self.query_one("#choices", SelectionList)
        choices.add_options(Selection(_prompt(k), k.target.name, k.target.name in self.initial) for k in added)
        self.known.extend(added)
        if added and choices.highlighted is None:
            choices.highlighted = 0
        count = f"{len(added)} connection{'s' if len(added) != 1 else ''} added" if added else "no connection added"
        self._notes = [f"Airflow's metadata DB: {count}", *_warnings(message.problems)]
        if not self.known:
            self._notes.append(self._empty_message())
        self._show_info()

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
        self._detail = lines
        self._show_info()

    def action_apply(self) -> None:
        chosen = set(self.query_one("#choices", SelectionList).selected)
        self.dismiss([k for k in self.known if k.target.name in chosen])

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)

    def action_select_all(self) -> None:
        self.query_one("#choices", SelectionList).select_all()

    def action_select_none(self) -> None:
        self.query_one("#choices", SelectionList).deselect_all()


def _warnings(problems: list[str]) -> list[str]:
    """Problem lines as inert warnings, the first few shown and the rest counted."""
    lines = [f"⚠ {inert(p, keep_newlines=False)}" for p in problems[:MAX_PROBLEM_LINES]]
    hidden = len(problems) - MAX_PROBLEM_LINES
    if hidden > 0:
        lines.append(f"⚠ {hidden} more problem{'s' if hidden != 1 else ''}: remsvc-console conn list --airflow prints them all")
    return lines

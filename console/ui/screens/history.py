"""Past dispatches from the journal: re-run one into the editor (never blindly), or export it."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from console.safetext import inert
from console.ui import bindings


def record_line(record) -> Text:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started_at))
    names = record.target_names
    who = names[0] if len(names) == 1 else f"{len(names)} targets"
    count = len(record.commands)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{when}  ")
    text.append(f"{record.state:<11}", style="bold")
    text.append(f" {inert(who, keep_newlines=False)} · {count} command{'s' if count != 1 else ''}")
    if record.commands:
        text.append(f" · {inert(record.commands[0].cmd, keep_newlines=False)}")
    return text


class HistoryScreen(ModalScreen[object | None]):
    """Dismisses with the record to re-run, or None; ``on_export(record)`` returns a line to show."""

    BINDINGS = bindings.HISTORY

    def __init__(self, records: list, warnings: list[str], on_export: Callable[[object], tuple[str, bool]]):
        super().__init__()
        self.records = records
        self.warnings = warnings
        self.on_export = on_export

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog history-dialog"):
            yield Static("Dispatch history (last 7 days): r re-runs into the editor · e exports JSON", classes="dialog-title")
            yield OptionList(*(Option(record_line(r), id=r.dispatch_id) for r in self.records), id="history-list")
            yield Static(id="history-detail")
        yield Footer()

    def on_mount(self) -> None:
        lines = [f"⚠ {inert(w, keep_newlines=False)}" for w in self.warnings[:3]]
        if not self.records:
            lines.insert(0, "No dispatches in the journal yet.")
        self.query_one("#history-detail", Static).update(Text("\n".join(lines)))
        self.query_one("#history-list", OptionList).focus()

    def _selected(self):
        index = self.query_one("#history-list", OptionList).highlighted
        if index is None or not 0 <= index < len(self.records):
            return None
        return self.records[index]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        record = self._selected()
        if record is None:
            return
        lines = [f"id {record.dispatch_id} · {inert(record.user, keep_newlines=False)}@{inert(record.host, keep_newlines=False)}"]
        lines.append("targets: " + ", ".join(inert(n, keep_newlines=False) for n in record.target_names[:8]))
        lines += [f"  {tid}: {inert(c.cmd, keep_newlines=False)}" for tid, c in enumerate(record.commands[:5], start=1)]
        if len(record.commands) > 5:
            lines.append(f"  … {len(record.commands) - 5} more")
        if record.error:
            lines.append(f"error: {inert(record.error, keep_newlines=False)}")
        self.query_one("#history-detail", Static).update(Text("\n".join(lines)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_rerun()

    def action_rerun(self) -> None:
        record = self._selected()
        if record is not None:
            self.dismiss(record)

    def action_export(self) -> None:
        record = self._selected()
        if record is None:
            return
        message, ok = self.on_export(record)
        self.notify(message, markup=False, severity="information" if ok else "error")

    def action_close(self) -> None:
        self.dismiss(None)

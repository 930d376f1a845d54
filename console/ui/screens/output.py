"""The full-screen output view of one (target, tid): follow, search, start/end, copy and save.

It reads the pane's model on every refresh the pane makes, so it follows a running command: when
the answer arrives it is shown, and with follow on the view sits at its end.
"""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.safetext import inert
from console.ui import bindings
from console.ui.messages.dispatch import OutputAction
from console.ui.widgets.output_view import OutputView, output_lines


class SearchInput(Input):
    """The search field: escape closes it without leaving the view."""

    BINDINGS = bindings.OUTPUT_SEARCH

    def action_close_search(self) -> None:
        self.display = False
        self.screen.query_one(OutputView).focus()


class OutputScreen(Screen[None]):
    """``pane`` owns the model and does copy/save; ``key`` is the row shown."""

    # The pane refreshes the top screen when it says so (no import of this module needed there).
    follows_dispatch = True

    def __init__(self, pane, key: tuple[str, int], *, heading_extra: str = ""):
        super().__init__()
        self.pane = pane
        self.key = key
        self.heading_extra = heading_extra
        self.follow = False
        self._shown: tuple | None = None
        self.status_text = ""

    def compose(self) -> ComposeResult:
        yield Static(id="full-title")
        yield OutputView(id="full-output")
        yield SearchInput(placeholder="search (enter finds, escape closes)", compact=True, id="full-search")
        yield Static(id="full-status")
        yield Footer(show_command_palette=False, compact=True)

    @property
    def view(self) -> OutputView:
        return self.query_one("#full-output", OutputView)

    def on_mount(self) -> None:
        self.query_one("#full-search", SearchInput).display = False
        model = self.pane.model
        self.follow = model is not None and not model.state_of(self.key).final
        self.update_view()
        self.view.focus()

    def update_view(self) -> None:
        """Redraw when the row changed since last time (cheap to call on every pane refresh)."""
        model = self.pane.model
        if model is None or model.index_of(self.key) is None:
            return
        state = model.state_of(self.key)
        result = model.result(self.key)
        seen = (state, id(result))
        if seen == self._shown:
            self._show_title(state)
            return
        first = self._shown is None
        self._shown = seen
        note = ""
        if result is None:
            note = model.row(model.index_of(self.key), self.pane.clock()).summary or f"{state.value}: no output yet"
        self.view.show(output_lines(result, note), keep_position=not first)
        if self.follow and result is not None:
            self.view.call_after_refresh(self.view.scroll_to_end)
        self._show_title(state)

    def _show_title(self, state) -> None:
        target, tid = self.key
        model = self.pane.model
        cmd = inert(model.commands[tid - 1].cmd, keep_newlines=False)
        who = f"{inert(target, keep_newlines=False)} · " if len(model.targets) > 1 else ""
        follow = " · following" if self.follow else ""
        line = f"{who}tid {tid} · {state.value}{follow}{self.heading_extra} · {cmd}"
        self.query_one("#full-title", Static).update(Text(line, no_wrap=True, overflow="ellipsis"), layout=False)
        status = self.status_text or self.view.match_status() or self._hint()
        self.query_one("#full-status", Static).update(Text(status, no_wrap=True, overflow="ellipsis"), layout=False)

    def _hint(self) -> str:
        key = partial(bindings.key_for, self.app)
        return (f"{key('output.copy')} copies the output exactly · {key('output.save')} saves it to a file · "
                f"{key('output.follow')} follows · {key('output.search')} searches")

    def set_status(self, text: str) -> None:
        self.status_text = text
        self._show_title(self.pane.model.state_of(self.key))

    def on_output_action(self, message: OutputAction) -> None:
        message.stop()
        action = message.action
        if action == "back":
            self.dismiss(None)
        elif action == "follow":
            self.follow = not self.follow
            if self.follow:
                self.view.scroll_to_end()
            self.set_status("follow on: the view stays at the end" if self.follow else "follow off")
        elif action == "search":
            search = self.query_one("#full-search", SearchInput)
            search.display = True
            search.value = self.view.query
            search.focus()
        elif action == "copy":
            self.set_status(self.pane.copy_output(self.key))
        elif action == "save":
            self.set_status(self.pane.save_output(self.key))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.view.query = event.value
        self.follow = False
        event.input.display = False
        self.view.focus()
        self.set_status(self.view.match_status())

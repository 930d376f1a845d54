"""The compose area: a multi-line editor (one command per line) and the stream's options.

The editor is entered explicitly (``i`` from the pane) and left with escape, so keys meant for
the console never land in a command by accident.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static, TextArea

from console.dispatch_service import CMDTYP_NAMES, DispatchOptions, parse_timeout
from console.remsvc.model import Target
from console.safetext import inert
from console.ui import bindings
from console.ui.messages.dispatch import BackToRows

EDITOR_PLACEHOLDER = "One command per line; # starts a note. i edits, escape leaves."


class CommandEditor(TextArea):
    """The stream's commands; escape hands focus back to the results."""

    BINDINGS = bindings.EDITOR

    def action_leave(self) -> None:
        self.post_message(BackToRows())


class ComposeForm(Vertical):
    """Reads back as (editor text, DispatchOptions); ``load`` puts a past dispatch back in."""

    def __init__(self, text: str, options: DispatchOptions, *, id: str | None = None):
        super().__init__(id=id)
        self._text = text
        self._options = options

    def compose(self) -> ComposeResult:
        yield CommandEditor(self._text, id="editor", soft_wrap=False, compact=True, placeholder=EDITOR_PLACEHOLDER)
        yield Horizontal(id="options")
        yield Static(id="target-line")

    def on_mount(self) -> None:
        # The option fields (a Select and three inputs) come right after the first frame: their
        # styles cost more than the rest of the form. Their line is laid out from the start.
        self.call_after_refresh(self._mount_options)

    @property
    def options_ready(self) -> bool:
        return bool(self.query("#cmdtyp"))

    async def _mount_options(self) -> None:
        if self.options_ready:
            return
        options = self._options
        await self.query_one("#options", Horizontal).mount(
            Label("type", classes="option-label"),
            Select([(name, code) for code, name in CMDTYP_NAMES.items()], value=options.cmdtyp,
                   allow_blank=False, compact=True, id="cmdtyp"),
            Label("user", classes="option-label"),
            Input(options.cmdusr, placeholder="server's", compact=True, id="cmdusr"),
            Label("src", classes="option-label"),
            Input(options.src, compact=True, id="src"),
            Label("timeout", classes="option-label"),
            Input("" if options.timeout is None else f"{options.timeout:g}", placeholder="none", compact=True,
                  id="timeout"),
        )

    @property
    def editor(self) -> CommandEditor:
        return self.query_one("#editor", CommandEditor)

    def read(self) -> tuple[str, DispatchOptions]:
        """Current text and options; raises DispatchInputError for a bad timeout."""
        if not self.options_ready:
            return self.editor.text, self._options
        cmdtyp = self.query_one("#cmdtyp", Select).value
        options = DispatchOptions(
            cmdtyp=int(cmdtyp) if isinstance(cmdtyp, int) else 0,
            cmdusr=self.query_one("#cmdusr", Input).value.strip(),
            src=self.query_one("#src", Input).value.strip(),
            timeout=parse_timeout(self.query_one("#timeout", Input).value),
        )
        return self.editor.text, options

    def load(self, text: str, options: DispatchOptions) -> None:
        self.editor.load_text(text)
        self._options = options
        if not self.options_ready:
            return
        self.query_one("#cmdtyp", Select).value = options.cmdtyp
        self.query_one("#cmdusr", Input).value = options.cmdusr
        self.query_one("#src", Input).value = options.src
        self.query_one("#timeout", Input).value = "" if options.timeout is None else f"{options.timeout:g}"

    def show_targets(self, targets: list[Target]) -> None:
        line = Text("targets: ", no_wrap=True, overflow="ellipsis")
        if not targets:
            line.append("none selected")
        else:
            names = ", ".join(inert(t.name, keep_newlines=False) for t in targets[:6])
            more = f" and {len(targets) - 6} more" if len(targets) > 6 else ""
            line.append(f"{names}{more}")
            if len(targets) > 1:
                line.append(f" ({len(targets)})")
        self.query_one("#target-line", Static).update(line)

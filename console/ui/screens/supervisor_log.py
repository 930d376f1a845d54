"""A supervisord program's stdout or stderr, tailed into an inert line view, with follow.

The text reaches this screen already inert (``SupervisorControl.tail``); the screen only splits it
into lines, keeps the newest ``MAX_LINES`` and, while following, asks for what was written since the
last read once per ``FOLLOW_S`` and keeps the view at the bottom.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.health.supervisor_control import LogChunk, SupervisorControl
from console.health.supervisor_rpc import SupervisorRpcError
from console.ui import bindings
from console.ui.widgets.line_view import LineView

FOLLOW_S = 1.0
MAX_LINES = 20_000
MAX_LINE_CELLS = 4096


class LogLines(LineView):
    """The tailed lines; the last one may still be growing (no newline yet)."""

    DEFAULT_CSS = "LogLines { height: 1fr; }"

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.lines: list[str] = []
        self._open = False  # the last line has no newline yet

    def clear(self) -> None:
        self.lines, self._open = [], False
        self._resize()

    def append(self, text: str) -> None:
        if not text:
            return
        parts = text.split("\n")
        if self._open and self.lines:
            self.lines[-1] = (self.lines[-1] + parts[0])[:MAX_LINE_CELLS]
            parts = parts[1:]
        self._open = not text.endswith("\n")
        if not self._open:
            parts = parts[:-1]
        self.lines.extend(p[:MAX_LINE_CELLS] for p in parts)
        del self.lines[:-MAX_LINES]
        self._resize()

    def _resize(self) -> None:
        width = max((len(line) for line in self.lines[-2000:]), default=0)
        self.virtual_size = Size(width, len(self.lines))
        self.refresh()

    def line_segments(self, index: int, base: Style) -> list[Segment]:
        return [Segment(self.lines[index], base)]


class SupervisorLogScreen(Screen[None]):
    """``program`` on ``control``'s supervisord; opens on stdout, following."""

    BINDINGS = bindings.SUPERVISOR_LOG
    DEFAULT_CSS = """
    SupervisorLogScreen #supervisor-log-title { height: auto; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, control: SupervisorControl, program: str, *, stream: str = "stdout", follow: bool = True):
        super().__init__()
        self.control = control
        self.program = program
        self.stream = stream
        self.follow = follow
        self.log_offset: int | None = None
        self.reads = 0
        self.problem = ""

    def compose(self) -> ComposeResult:
        yield Static(id="supervisor-log-title")
        yield LogLines(id="supervisor-log-lines")
        yield Footer()

    @property
    def view(self) -> LogLines:
        return self.query_one(LogLines)

    def on_mount(self) -> None:
        self._title()
        self.view.focus()
        self._read()
        self.set_interval(FOLLOW_S, self._tick)

    def _title(self, note: str = "") -> None:
        state = "following" if self.follow else "paused (f follows)"
        text = f"{self.program} {self.stream} on {self.control.address.display} · {state}"
        if note or self.problem:
            text += f" · {note or self.problem}"
        self.query_one("#supervisor-log-title", Static).update(Text(text))

    def _tick(self) -> None:
        if self.follow:
            self._read()

    @work(group="supervisor-log", exclusive=True, exit_on_error=False)
    async def _read(self) -> None:
        try:
            chunk = await self.control.tail(self.program, self.stream, self.log_offset)
        except SupervisorRpcError as err:
            self.problem = f"cannot read the log: {err.message}"
            self._title()
            return
        self.problem = ""
        self._show(chunk)

    def _show(self, chunk: LogChunk) -> None:
        first = self.log_offset is None
        self.log_offset = chunk.offset
        self.reads += 1
        if chunk.overflow and not first:
            self.view.append("\n[… earlier bytes skipped: the log grew faster than it was read …]\n")
        self.view.append(chunk.text)
        if first and not chunk.text:
            self._title("(log empty)")
        else:
            self._title()
        if self.follow:
            self.view.scroll_end(animate=False)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self._title()
        if self.follow:
            self._read()

    def action_switch_stream(self) -> None:
        self.stream = "stderr" if self.stream == "stdout" else "stdout"
        self.log_offset = None
        self.view.clear()
        self._title()
        self._read()

    def action_scroll_home(self) -> None:
        self.follow = False
        self.view.scroll_home(animate=False)
        self._title()

    def action_scroll_end(self) -> None:
        self.view.scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)

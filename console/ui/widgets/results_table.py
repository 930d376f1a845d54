"""The live results table: one row per (target, tid), drawn with Textual's line API.

Only the visible lines are rendered, from the model, on demand; an update is a ``refresh()``, so
10,000 rows cost no more to update than ten. A row in a final state never changes again, so its
drawn line is kept and reused while the table follows a stream. The header line stays put.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.events import Click
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.remsvc.model import CmdState
from console.ui import bindings
from console.ui.dispatch_model import DispatchModel, RowView, format_seconds
from console.ui.messages.dispatch import OutputAction, RowHighlighted
from console.ui.widgets.cells import fit, wrap_words
from console.ui.widgets.row_actions import RowOutputActions

STATE_WIDTH = 9
TIME_WIDTH = 7
RC_WIDTH = 4
FLAG_WIDTH = 2
FINAL_ROW_CACHE = 512
HEADER = {
    "target": "target", "tid": "tid", "state": "state", "time": "time", "rc": "rc", "flags": "!",
    "cmd": "command", "out": "output",
}


class ResultsTable(RowOutputActions, ScrollView, can_focus=True):
    """Rows of the current dispatch; the cursor row's output is shown below it."""

    BINDINGS = bindings.RESULTS
    COMPONENT_CLASSES = {
        "results-table--header",
        "results-table--cursor",
        *(f"results-table--{state.value}" for state in CmdState),
    }
    DEFAULT_CSS = """
    ResultsTable { height: 1fr; }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    def __init__(self, clock: Callable[[], float], *, id: str | None = None):
        super().__init__(id=id)
        self.clock = clock
        self.model: DispatchModel | None = None
        self.follow = True
        self.empty_hint = "No dispatch yet: write commands above and run them."
        self._widths: tuple[int, dict[str, int]] | None = None
        self._base_style: Style | None = None
        self._final_rows: LRUCache[int, Strip] = LRUCache(FINAL_ROW_CACHE)
        self.filter_text = ""
        self._shown: list[int] | None = None

    def set_model(self, model: DispatchModel | None) -> None:
        self.model = model
        self._widths = None
        self._final_rows.clear()
        self.follow = True
        self._apply_filter()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.cursor_row = 0
        self.refresh()

    def set_filter(self, text: str) -> None:
        """Show only rows whose target or state contains ``text`` (case-insensitive); "" shows all."""
        key = self.cursor_key
        self.filter_text = text.strip().lower()
        self._apply_filter()
        rows = self._shown
        if key is not None and self.model is not None:
            index = self.model.index_of(key)
            self.cursor_row = rows.index(index) if rows is not None and index in rows else (index if rows is None else 0)
        else:
            self.cursor_row = 0
        self.refresh()

    def _apply_filter(self) -> None:
        model = self.model
        if model is None or not self.filter_text:
            self._shown = None
        else:
            wanted = self.filter_text
            self._shown = [
                i for i, key in enumerate(model.rows)
                if wanted in key[0].lower() or wanted in model.state_of(key).value
            ]
        self._final_rows.clear()
        self.virtual_size = Size(0, self.row_count + 1)

    def _model_index(self, row: int) -> int:
        return row if self._shown is None else self._shown[row]

    @property
    def row_count(self) -> int:
        if self.model is None:
            return 0
        return len(self.model) if self._shown is None else len(self._shown)

    @property
    def cursor_key(self) -> tuple[str, int] | None:
        if self.model is None or not 0 <= self.cursor_row < self.row_count:
            return None
        return self.model.rows[self._model_index(self.cursor_row)]

    def rows_changed(self, indexes: set[int] | list[int]) -> None:
        """Redraw the visible rows that changed.

        While following a stream the view pages: when the newest active row falls below the view,
        it jumps to the top of the view. Between jumps only changed lines are redrawn, which keeps a
        fast stream from repainting the whole table every tick.
        """
        if self.model is None:
            return
        if self._shown is not None:
            self._apply_filter()
            self.refresh()
            return
        active = self.model.last_active
        top = int(self.scroll_y)
        height = self._visible_rows()
        if self.follow and active is not None and not top <= active < top + height:
            self.scroll_to(y=max(0, active - 1), animate=False, immediate=True)
            self.refresh()
            return
        for index in indexes:
            if top <= index < top + height:
                self.refresh_lines(index + 1)

    def refresh_rows(self, indexes: list[int]) -> None:
        """Redraw these rows if visible (running rows, whose elapsed time moves)."""
        if self._shown is not None:
            self.refresh()
            return
        top = int(self.scroll_y)
        height = self._visible_rows()
        for index in indexes:
            if top <= index < top + height:
                self.refresh_lines(index + 1)

    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def _scroll_row_into_view(self, index: int) -> None:
        top = int(self.scroll_y)
        height = self._visible_rows()
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)

    def watch_cursor_row(self, old: int, new: int) -> None:
        count = self.row_count
        if count and not 0 <= new < count:
            self.cursor_row = max(0, min(new, count - 1))
            return
        self._scroll_row_into_view(new)
        self.refresh()
        self.post_message(RowHighlighted(self.cursor_key))

    def _move(self, delta: int) -> None:
        if not self.row_count:
            return
        self.follow = False
        self.cursor_row = max(0, min(self.row_count - 1, self.cursor_row + delta))

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-self._visible_rows())

    def action_page_down(self) -> None:
        self._move(self._visible_rows())

    def action_first(self) -> None:
        self._move(-self.row_count)

    def action_last(self) -> None:
        self._move(self.row_count)

    def action_export(self) -> None:
        self.post_message(OutputAction("export"))

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            index = int(self.scroll_y) + event.y - 1
            if 0 <= index < self.row_count:
                self.follow = False
                self.cursor_row = index

    def _column_widths(self, width: int) -> dict[str, int]:
        cached = self._widths
        if cached is not None and cached[0] == width:
            return cached[1]
        self._final_rows.clear()
        widths = self._compute_widths(width)
        self._widths = (width, widths)
        return widths

    def _compute_widths(self, width: int) -> dict[str, int]:
        model = self.model
        assert model is not None
        multi = len(model.targets) > 1
        target_w = min(max((len(t.name) for t in model.targets), default=6), 18) if multi else 0
        tid_w = max(3, len(str(len(model.commands))))
        fixed = tid_w + STATE_WIDTH + TIME_WIDTH + RC_WIDTH + FLAG_WIDTH + 6 + (target_w + 1 if multi else 0)
        rest = max(0, width - fixed)
        longest_cmd = max((len(c.cmd) for c in model.commands), default=0)
        cmd_w = min(longest_cmd, 28, rest // 2)
        return {"target": target_w, "tid": tid_w, "cmd": cmd_w, "out": max(0, rest - cmd_w)}

    def _cells(self, widths: dict[str, int], values: dict[str, str]) -> list[tuple[str, str]]:
        cells = []
        if widths["target"]:
            cells.append(("target", fit(values["target"], widths["target"]) + " "))
        cells += [
            ("tid", fit(values["tid"], widths["tid"], align="right") + " "),
            ("state", fit(values["state"], STATE_WIDTH) + " "),
            ("time", fit(values["time"], TIME_WIDTH, align="right") + " "),
            ("rc", fit(values["rc"], RC_WIDTH, align="right") + " "),
            ("flags", fit(values["flags"], FLAG_WIDTH) + " "),
            ("cmd", fit(values["cmd"], widths["cmd"]) + (" " if widths["cmd"] else "")),
            ("out", fit(values["out"], widths["out"])),
        ]
        return cells

    def render_lines(self, crop: Region) -> list[Strip]:
        self._base_style = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self._base_style if self._base_style is not None else self.rich_style
        if self.model is None:
            lines = wrap_words(self.empty_hint, width)
            text = lines[y] if y < len(lines) else ""
            return Strip([Segment(fit(text, width), base)], width)
        widths = self._column_widths(width)
        if y == 0:
            header = base + self.get_component_rich_style("results-table--header", partial=True)
            return self._strip(self._cells(widths, HEADER), header, width, {})
        row_index = int(self.scroll_y) + y - 1
        if row_index >= self.row_count:
            if row_index == 0 and self._shown is not None:
                return Strip([Segment(fit(f"no row matches filter {self.filter_text!r}", width), base)], width)
            return Strip.blank(width, base)
        cursor = row_index == self.cursor_row
        index = self._model_index(row_index)
        if not cursor:
            cached = self._final_rows.get(index)
            if cached is not None:
                return cached
        row = self.model.row(index, self.clock())
        cells = self._cells(widths, self._row_values(row))
        if cursor:
            return self._strip(cells, base + self.get_component_rich_style("results-table--cursor", partial=True), width, {})
        state_style = self.get_component_rich_style(f"results-table--{row.state.value}", partial=True)
        strip = self._strip(cells, base, width, {"state": state_style, "rc": state_style if row.rc else None})
        if row.state.final:
            self._final_rows[index] = strip
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._final_rows.clear()

    @staticmethod
    def _row_values(row: RowView) -> dict[str, str]:
        flags = ("P" if row.protocol_error else "") + ("T" if row.truncated else "") + ("U" if row.invalid_utf8 else "")
        return {
            "target": row.target,
            "tid": str(row.tid),
            "state": row.state.value,
            "time": format_seconds(row.seconds),
            "rc": "" if row.rc is None else str(row.rc),
            "flags": flags,
            "cmd": row.cmd,
            "out": row.summary,
        }

    @staticmethod
    def _strip(cells: list[tuple[str, str]], line_style: Style, width: int, overrides: dict[str, Style | None]) -> Strip:
        segments = []
        for name, text in cells:
            extra = overrides.get(name)
            segments.append(Segment(text, line_style + extra if extra is not None else line_style))
        return Strip(segments).crop_extend(0, width, line_style)

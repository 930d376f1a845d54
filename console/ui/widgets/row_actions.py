"""Open, copy and save for the row under the cursor, shared by the results table and the fan-out
review: both post the same messages, and the Dispatch pane acts on them."""

from __future__ import annotations

from console.ui.messages.dispatch import OpenOutput, OutputAction


class RowOutputActions:
    """Mixin for a widget with a ``cursor_key``: the actions its open, copy and save bindings name."""

    def action_open_output(self) -> None:
        self.post_message(OpenOutput(self.cursor_key))

    def action_copy(self) -> None:
        self.post_message(OutputAction("copy", self.cursor_key))

    def action_save(self) -> None:
        self.post_message(OutputAction("save", self.cursor_key))

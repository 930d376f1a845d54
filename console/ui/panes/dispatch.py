"""The Dispatch pane: compose a stream, pick targets, watch results arrive, read and keep outputs.

A worker iterates the service's run in the app's event loop and appends stamped events to a buffer;
the first event after a redraw posts one ``DispatchEventsReady``, whose handler takes the whole
buffer at the next refresh tick (at most one every ``VIEW_INTERVAL_S``). However fast responses
arrive, the screen is updated in batches per tick, never per response.

Screens the pane opens are imported when first opened: they are not part of the first frame.
"""

from __future__ import annotations

import gc
import time
from functools import partial

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ContentSwitcher, Input, Static
from textual.worker import Worker, WorkerState

from console.dispatch_service import (
    ConfirmationRequired,
    DispatchInputError,
    DispatchOptions,
    DispatchRun,
    KnownTarget,
    ReadOnlyError,
    TargetLookupError,
    export_json,
    file_stem,
    parse_commands,
    record_json,
    record_options,
    save_result,
)
from console.remsvc.model import DispatchEvent, Target
from console.safetext import inert
from console.ui import bindings
from console.ui.context import ConsoleContext
from console.ui.dispatch_model import DispatchModel
from console.ui.fold import fold_by_tid
from console.ui.messages.dispatch import (
    DispatchActivity,
    DispatchEnded,
    DispatchEventsReady,
    DispatchPrepared,
    BackToRows,
    OpenOutput,
    OutputAction,
    ResolveTargets,
    RowHighlighted,
    TargetsChanged,
)
from console.ui.widgets.compose_form import ComposeForm
from console.ui.widgets.fanout_view import FanoutView
from console.ui.widgets.output_view import OutputView, output_lines
from console.ui.widgets.results_table import ResultsTable

PANE_ID = "dispatch"
TITLE = "Dispatch"
TICK_S = 0.5
VIEW_INTERVAL_S = 0.1
# From this many editor lines on, a dispatch is prepared in a thread (see ``start_dispatch``).
OFF_LOOP_LINES = 1000
# Above this many rows, a running fan-out is refolded on the half-second tick, not on every batch.
BIG_FOLD_ROWS = 2000


class FilterInput(Input):
    """``/``: rows whose target or state contains the text; escape clears it."""

    BINDINGS = bindings.FILTER

    def action_clear(self) -> None:
        self.value = ""
        self.display = False
        self.post_message(BackToRows())


class DispatchPane(Vertical):
    """Owns at most one running dispatch; the last finished one stays on screen."""

    BINDINGS = bindings.DISPATCH

    def __init__(self, ctx: ConsoleContext, *, id: str = PANE_ID):
        super().__init__(id=id)
        self.ctx = ctx
        self.clock = ctx.clock
        self.targets: list[Target] = list(ctx.targets)
        self.model: DispatchModel | None = None
        self.run: DispatchRun | None = None
        self.grouped = False
        self._fold_cache: dict = {}
        self._summary_rows = 1
        self._pending: list[tuple[float, DispatchEvent]] = []
        self._changed: set[int] = set()
        self._wake_pending = False
        self._views_at = 0.0
        self._starting = False

    def compose(self) -> ComposeResult:
        yield ComposeForm(self.ctx.editor_text, self.ctx.options, id="compose")
        yield Static(id="summary")
        yield FilterInput(placeholder="filter rows by target or state (enter keeps, escape clears)", compact=True,
                          id="filter")
        with ContentSwitcher(initial="results", id="views"):
            yield ResultsTable(self.clock, id="results")
            yield FanoutView(id="fanout")
        with Vertical(id="output-box"):
            yield Static(id="output-title")
            yield OutputView(id="output")

    def on_mount(self) -> None:
        self.query_one(ComposeForm).show_targets(self.targets)
        self.query_one("#filter", FilterInput).display = False
        self.output.can_focus = False
        key = partial(bindings.key_for, self.app)
        self.table.empty_hint = (
            f"No dispatch yet. {key('dispatch.editor')} edits the commands above, {key('editor.leave')} leaves "
            f"the editor, {key('dispatch.run')} runs them; {key('app.help')} lists every key."
        )
        self._show_summary()
        self._show_output(None)
        self.set_interval(TICK_S, self._tick)

    @property
    def table(self) -> ResultsTable:
        return self.query_one("#results", ResultsTable)

    @property
    def fanout(self) -> FanoutView:
        return self.query_one("#fanout", FanoutView)

    @property
    def current_view(self):
        return self.fanout if self.grouped else self.table

    @property
    def output(self) -> OutputView:
        return self.query_one("#output", OutputView)

    @property
    def running(self) -> bool:
        return self.run is not None and self.model is not None and self.model.running

    def set_targets(self, targets: list[Target]) -> None:
        self.targets = list(targets)
        self.query_one(ComposeForm).show_targets(self.targets)
        self.post_message(TargetsChanged(list(self.targets)))

    # Running a dispatch -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Run and Cancel swap places in the footer while a dispatch is in flight."""
        if action == "cancel":
            return self.running
        if action == "run":
            return not self.running
        return True

    def action_run(self) -> None:
        self.start_dispatch()

    def start_dispatch(self, *, confirmed: bool = False) -> DispatchRun | None:
        """Validate the form and start; refusals (read-only, bad input) are shown, not raised.

        A stream of ``OFF_LOOP_LINES`` lines or more is parsed, checked, journaled and modelled in a
        thread (``DispatchPrepared`` brings it back), so pressing run never stalls the screen; the
        method then returns None. Smaller ones start at once and the run is returned."""
        if self.running or self._starting:
            self.notify("A dispatch is already running: cancel it first.", severity="warning", markup=False)
            return None
        form = self.query_one(ComposeForm)
        try:
            text, options = form.read()
        except DispatchInputError as exc:
            self._refused(exc)
            return None
        targets = list(self.targets)
        if text.count("\n") + 1 >= OFF_LOOP_LINES:
            self._starting = True
            self._prepare_off_loop(text, options, targets, confirmed)
            return None
        try:
            run, model = self._prepare(text, options, targets, confirmed)
        except (ReadOnlyError, DispatchInputError, ConfirmationRequired) as exc:
            self._refused(exc)
            return None
        self.begin(run, model)
        return run

    def _prepare(self, text: str, options: DispatchOptions, targets: list[Target],
                 confirmed: bool) -> tuple[DispatchRun, DispatchModel]:
        """Parse, check, journal and model a dispatch: no widget is touched, so a thread may run it."""
        commands = parse_commands(text, options)
        run = self.ctx.service.start(targets, commands, options, confirmed=confirmed)
        return run, DispatchModel(run.targets, run.commands, self.clock(), run.dispatch_id)

    @work(thread=True, group="dispatch-start", exit_on_error=False, description="prepare dispatch")
    def _prepare_off_loop(self, text: str, options: DispatchOptions, targets: list[Target], confirmed: bool) -> None:
        try:
            run, model = self._prepare(text, options, targets, confirmed)
        except (ReadOnlyError, DispatchInputError, ConfirmationRequired) as exc:
            self.post_message(DispatchPrepared(None, None, exc))
        except Exception as exc:
            self.post_message(DispatchPrepared(None, None, exc))
            raise
        else:
            self.post_message(DispatchPrepared(run, model, None))

    def on_dispatch_prepared(self, message: DispatchPrepared) -> None:
        message.stop()
        self._starting = False
        if message.run is not None and message.model is not None:
            self.begin(message.run, message.model)
        elif isinstance(message.refusal, (ReadOnlyError, DispatchInputError, ConfirmationRequired)):
            self._refused(message.refusal)

    def _refused(self, exc: Exception) -> None:
        if isinstance(exc, ReadOnlyError):
            self.notify(str(exc), title="Read-only", severity="error", markup=False)
        elif isinstance(exc, ConfirmationRequired):
            self._ask_confirmation(exc)
        else:
            self.notify(str(exc), severity="warning", markup=False)

    def _ask_confirmation(self, exc: ConfirmationRequired) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.start_dispatch(confirmed=True)

        question = f"Dispatch to {exc.count} targets?"
        detail = f"More than the confirmation threshold of {exc.threshold}. Every target runs every command."
        from console.ui.screens.confirm import ConfirmScreen

        self.app.push_screen(ConfirmScreen(question, detail), answered)

    def begin(self, run: DispatchRun, model: DispatchModel | None = None) -> None:
        """Show and consume a started run (from ``start_dispatch``, or any object with its interface)."""
        self.run = run
        self._pending.clear()
        self._changed.clear()
        self._wake_pending = False
        self.model = model if model is not None else DispatchModel(run.targets, run.commands, self.clock(), run.dispatch_id)
        gc.freeze()
        self.table.set_model(self.model)
        self._fold_cache = {}
        self.fanout.reset()
        self._set_grouped(len(run.targets) > 1)
        self.current_view.focus()
        if self.grouped:
            self._refresh_groups()
        self._show_summary()
        self._show_output(self.current_view.cursor_key)
        if run.journal_error:
            self.notify(run.journal_error, severity="warning", markup=False)
        self._consume(run)
        self.refresh_bindings()
        self.post_message(DispatchActivity())

    @work(group="dispatch", exclusive=False, exit_on_error=False)
    async def _consume(self, run: DispatchRun) -> None:
        """Queue each event for the next refresh as the stream hands it over (no task switch per event)."""
        pending = self._pending
        clock = self.clock
        error = None

        def on_event(event) -> None:
            if run is not self.run:
                return
            pending.append((clock(), event))
            if not self._wake_pending:
                self._wake_pending = True
                self.post_message(DispatchEventsReady())

        try:
            await run.complete(on_event)
        except Exception as exc:
            error = f"dispatch stopped by an unexpected error: {type(exc).__name__}: {exc}"
            raise
        finally:
            self.post_message(DispatchEnded(run.outcome, error))

    def on_dispatch_events_ready(self, message: DispatchEventsReady) -> None:
        """Events are waiting: take them at the next refresh tick, at most every VIEW_INTERVAL_S."""
        message.stop()
        wait = self._views_at + VIEW_INTERVAL_S - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        self._wake_pending = False
        self._drain()
        self._refresh_views()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            from console.ui.screens.error import worker_failure_screen

            self.app.push_screen(worker_failure_screen("Dispatch failed", event.worker.error))

    def _drain(self) -> None:
        """Fold every buffered event into the model."""
        if not self._pending or self.model is None:
            return
        batch, self._pending[:] = list(self._pending), []
        self._changed.update(self.model.apply_all(batch))

    def _refresh_views(self) -> None:
        self._views_at = time.monotonic()
        if self.model is None:
            return
        if self.model.running:
            # What survived until now (results, rows) lives as long as the dispatch: keep it out of
            # the cyclic collector's full scans, whose cost grows with the heap and would stall the
            # screen for 100 ms and more during a 10,000-response stream. Undone when it ends.
            gc.freeze()
        changed, self._changed = self._changed, set()
        self.table.rows_changed(changed)
        if self.grouped and (len(self.model) <= BIG_FOLD_ROWS or not self.model.running):
            self._refresh_groups()
        key = self.current_view.cursor_key
        if key is not None and self.model.index_of(key) in changed:
            self._show_output(key, keep_position=True)
        self._show_summary()
        if getattr(self.app.screen, "follows_dispatch", False):
            self.app.screen.update_view()

    def on_dispatch_ended(self, message: DispatchEnded) -> None:
        message.stop()
        self._drain()
        gc.unfreeze()
        outcome = message.outcome
        if self.model is None:
            return
        if outcome is None:
            self.model.finish("FAILED", message.error or "dispatch interrupted", self.clock())
        else:
            self.model.finish(outcome.state, outcome.error, self.clock())
            if outcome.journal_error:
                self.notify(outcome.journal_error, severity="warning", markup=False)
        self._refresh_views()
        key = self.current_view.cursor_key
        if key is not None:
            self._show_output(key, keep_position=True)
        self.refresh_bindings()
        self.post_message(DispatchActivity())

    def action_cancel(self) -> None:
        if not self.running or self.run is None:
            self.notify("Nothing is running.", markup=False)
            return
        self.run.cancel()
        self.notify("Cancelling: answered tids are kept, the rest are marked cancelled.", markup=False)

    def _tick(self) -> None:
        """Move the elapsed times of running rows and of the summary along."""
        if self.running:
            self.table.refresh_rows(self.model.running_rows())
            if self.grouped and len(self.model) > BIG_FOLD_ROWS:
                self._refresh_groups()
            self._show_summary()

    # Views ---------------------------------------------------------------------------------------

    def _show_summary(self) -> None:
        summary = self.query_one("#summary", Static)
        if self.model is None:
            summary.update(Text("Ready. Write commands, choose targets, run."), layout=self._summary_rows != 1)
            self._summary_rows = 1
            self._set_summary_class(summary, "summary-idle")
            return
        line = self.model.summary(self.clock())
        rows = 1 if len(line) <= max(1, summary.size.width - 2) else 2
        summary.update(Text(line, overflow="ellipsis"), layout=rows != self._summary_rows)
        self._summary_rows = rows
        state = "running" if self.model.running else self.model.state.lower()
        self._set_summary_class(summary, f"summary-{state}")

    @staticmethod
    def _set_summary_class(summary: Static, name: str) -> None:
        if not summary.has_class(name):
            summary.set_classes(name)

    def _show_output(self, key: tuple[str, int] | None, *, keep_position: bool = False) -> None:
        title = self.query_one("#output-title", Static)
        if self.model is None or key is None:
            title.update(Text("output"), layout=False)
            self.output.show(output_lines(None, "Output of the selected row appears here."))
            return
        target, tid = key
        state = self.model.state_of(key)
        cmd = inert(self.model.commands[tid - 1].cmd, keep_newlines=False)
        label = f"{inert(target, keep_newlines=False)} · " if len(self.model.targets) > 1 else ""
        open_key = bindings.key_for(self.app, "results.open")
        heading = Text(f"{label}tid {tid} · {state.value} · {open_key}: full view · {cmd}", no_wrap=True,
                       overflow="ellipsis")
        title.update(heading, layout=False)
        result = self.model.result(key)
        note = self.model.protocol_note(key)
        if result is None and not note:
            note = self.model.row(self.model.index_of(key), self.clock()).summary or f"{state.value}: no output yet"
        self.output.show(output_lines(result, note), keep_position=keep_position)

    def _refresh_groups(self) -> None:
        if self.model is None:
            return
        groups = fold_by_tid(self.model.trackers, self.model.finished, self.model.commands,
                             [t.name for t in self.model.targets], self._fold_cache)
        self.query_one("#fanout", FanoutView).show_groups(groups)

    def _set_grouped(self, grouped: bool) -> None:
        self.grouped = grouped
        self.query_one("#views", ContentSwitcher).current = "fanout" if grouped else "results"

    def action_toggle_grouped(self) -> None:
        self._set_grouped(not self.grouped)
        if self.grouped:
            self._refresh_groups()
        self.current_view.focus()
        self._show_output(self.current_view.cursor_key)

    def action_focus_editor(self) -> None:
        self.query_one(ComposeForm).editor.focus()

    def focus_results(self) -> None:
        """Where focus rests: the rows (or fan-out groups), never a text field."""
        self.current_view.focus()

    def action_leave_field(self) -> None:
        """Escape goes back: from an option field to the rows, and on the rows it clears a filter."""
        box = self.query_one("#filter", FilterInput)
        if self.table.has_focus and box.value:
            box.action_clear()
        self.focus_results()

    def on_back_to_rows(self, message: BackToRows) -> None:
        message.stop()
        self.focus_results()

    def action_filter(self) -> None:
        if self.grouped:
            self.action_toggle_grouped()
        box = self.query_one("#filter", FilterInput)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            event.stop()
            self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.stop()
            if not event.value.strip():
                event.input.display = False
            self.table.focus()

    def on_row_highlighted(self, message: RowHighlighted) -> None:
        message.stop()
        self._show_output(message.key)

    def on_open_output(self, message: OpenOutput) -> None:
        message.stop()
        if self.model is None or message.key is None:
            self.notify("No row selected: run a dispatch first.", markup=False)
            return
        extra = ""
        if self.grouped:
            found = self.fanout.current_variant()
            if found is not None and len(found[1].targets) > 1:
                extra = f" · same on {len(found[1].targets)} targets"
        from console.ui.screens.output import OutputScreen

        self.app.push_screen(OutputScreen(self, message.key, heading_extra=extra))

    # Output actions ------------------------------------------------------------------------------

    def on_output_action(self, message: OutputAction) -> None:
        message.stop()
        key = message.key or self.current_view.cursor_key
        if message.action == "copy":
            self.copy_output(key)
        elif message.action == "save":
            self.save_output(key)
        elif message.action == "export":
            self._do_export()

    def copy_output(self, key: tuple[str, int] | None) -> str:
        """Put exactly the command's output on the clipboard (OSC 52): stdout, or stderr when
        stdout is empty. No rc line, no notes, no inert symbols; those are for the screen only."""
        result = self.model.result(key) if self.model is not None and key is not None else None
        if result is None:
            message = "The selected row has no output yet."
            self.notify(message, severity="warning", markup=False)
            return message
        stream, text = ("stdout", result.out) if result.out or not result.err else ("stderr", result.err)
        self.app.copy_to_clipboard(text)
        size = len(text.encode("utf-8"))
        message = f"Copied {stream} of {inert(key[0], keep_newlines=False)} tid {key[1]} ({size:,} bytes) to the clipboard (OSC 52)."
        self.notify(message, markup=False)
        return message

    def save_output(self, key: tuple[str, int] | None) -> str:
        """Write the full stdout (and stderr) to files and say where they went."""
        result = self.model.result(key) if self.model is not None and key is not None else None
        if result is None:
            message = "The selected row has no output yet."
            self.notify(message, severity="warning", markup=False)
            return message
        stem = file_stem(self.model.dispatch_id or "dispatch", key[0], f"tid{key[1]}")
        try:
            paths = save_result(result, self.ctx.settings.output_dir, stem)
        except OSError as exc:
            message = f"Could not save output: {exc}"
            self.notify(message, severity="error", markup=False)
            return message
        message = "Saved to " + " and ".join(str(p) for p in paths)
        self.notify(message, title="Saved", markup=False, timeout=10)
        return message

    def _do_export(self) -> None:
        if self.run is None or self.run.outcome is None:
            self.notify("Export needs a finished dispatch.", severity="warning", markup=False)
            return
        outcome = self.run.outcome
        self._write_export(outcome.to_json(), outcome.dispatch_id or "dispatch")

    def _write_export(self, payload: dict, dispatch_id: str) -> tuple[str, bool]:
        try:
            path = export_json(payload, self.ctx.settings.output_dir, file_stem("dispatch", dispatch_id))
        except OSError as exc:
            message = f"Could not export: {exc}"
            self.notify(message, severity="error", markup=False)
            return message, False
        message = f"Exported dispatch {dispatch_id} to {path}"
        self.notify(message, title="Exported", markup=False, timeout=10)
        return message, True

    def action_export(self) -> None:
        self._do_export()

    # Targets and history -------------------------------------------------------------------------

    def action_pick_targets(self) -> None:
        known, problems = self.ctx.catalog.scan()
        for target in self.targets:
            if all(k.target.name != target.name for k in known):
                known.insert(0, KnownTarget(target, "command line", ()))

        def chosen(result) -> None:
            if result is not None:
                self.set_targets([k.target for k in result])

        from console.ui.screens.targets import TargetPickerScreen

        picker = TargetPickerScreen(known, {t.name for t in self.targets}, problems,
                                    list_airflow=self.ctx.catalog.scan_with_airflow)
        self.app.push_screen(picker, chosen)

    def action_history(self) -> None:
        try:
            history = self.ctx.service.history()
        except OSError as exc:
            self.notify(f"Cannot read the journal: {exc}", severity="error", markup=False)
            return

        def export(record) -> tuple[str, bool]:
            return self._write_export(record_json(record), record.dispatch_id)

        def chosen(record) -> None:
            if record is not None:
                self.load_record(record)

        from console.ui.screens.history import HistoryScreen

        self.app.push_screen(HistoryScreen(list(history), list(history.warnings), export), chosen)

    def load_record(self, record) -> None:
        """Put a past dispatch back in the editor with its options and targets; the user runs it."""
        text = "\n".join(c.cmd for c in record.commands)
        self.query_one(ComposeForm).load(text, record_options(record))
        names = list(record.target_names)
        if self._only_airflow_knows(names):
            # Airflow may take a minute to answer: no targets (so nothing runs on the old ones)
            # until it does, with the "resolving via Airflow" state shown meanwhile.
            self.set_targets([])
            self.post_message(ResolveTargets(names, replace=True))
        else:
            try:
                known = self.ctx.catalog.resolve(names)
            except TargetLookupError as exc:
                self.notify(f"Targets not restored: {exc}", severity="warning", markup=False)
            else:
                self.set_targets([k.target for k in known])
        self.focus_results()
        self.notify(self._loaded_hint("Loaded into the editor"), markup=False)

    def _only_airflow_knows(self, names: list[str]) -> bool:
        """Whether some of ``names`` (not a session target) must be asked of Airflow."""
        from console.airflow.conn_sources import needs_airflow

        catalog = self.ctx.catalog
        local = {k.target.name for k in catalog.extra}
        pending = needs_airflow([n for n in names if n not in local], env=catalog.env,
                                connections_file=catalog.connections_file)
        return bool(pending)

    def _loaded_hint(self, what: str) -> str:
        key = partial(bindings.key_for, self.app)
        return f"{what}: review, then {key('dispatch.run')} runs it ({key('dispatch.editor')} edits)."

    def rerun_last(self) -> None:
        """Put the last dispatch of this session back in the editor."""
        if self.model is None:
            self.notify("Nothing has run yet in this session.", markup=False)
            return
        form = self.query_one(ComposeForm)
        options = self.run.options if self.run is not None else DispatchOptions()
        form.load("\n".join(c.cmd for c in self.model.commands), options)
        self.set_targets(self.model.targets)
        self.focus_results()
        self.notify(self._loaded_hint("Last dispatch loaded into the editor"), markup=False)

"""The Health pane: Airflow API servers, supervisord programs and RemSvc servers, watched live.

The poller (``console.health``) runs in this pane's async worker from the first time the pane is
shown, so a session that never opens it polls nothing; it is stopped when the pane is unmounted.
Its ``on_event`` callback only records the newest snapshot per probe and posts one ``HealthChanged``
when none is pending, so however many probes answer between two turns of the event loop the
tables are redrawn once. A one-second timer keeps "time in state" and staleness current.

Every column has a fixed width chosen for the pane's width, the reason column taking the rest, so
nothing needs horizontal scrolling; the line under the tables shows the selected row's state and
full reason, wrapped. Program actions go through ``SupervisorControl``, which refuses them in
read-only mode and journals every attempt; this pane only asks for confirmation first.
"""

from __future__ import annotations

import asyncio

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, RichLog, Static
from textual.worker import Worker, WorkerState

from console.health.history import ProbeSnapshot
from console.health.poller import HealthPoller, ProbeUpdated
from console.health.results import HTTP_PROBES, ProbeKey, ProgramStatus, State
from console.health.sources import HealthConfigError, heartbeat_thresholds
from console.health.supervisor_address import SupervisorAddress
from console.health.supervisor_control import ActionRefused, SupervisorControl
from console.health.supervisor_probe import SupervisorProbe
from console.health.transitions import Transition
from console.health.watch import airflow_probes, build_poller
from console.ui import bindings
from console.ui.context import ConsoleContext
from console.ui.messages.health import HealthChanged, ProgramActionDone
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.supervisor_log import SupervisorLogScreen
from console.ui.widgets.health_add import AddEndpointScreen
from console.ui.widgets.health_text import (
    COMPONENT_LAYOUTS,
    PROBE_LAYOUTS,
    PROGRAM_LAYOUTS,
    HealthViewOptions,
    component_cells,
    component_status,
    layout_for,
    probe_cells,
    program_cells,
    reason_words,
    row,
    stale_age,
    transition_text,
)

PANE_ID = "health"
TITLE = "Health"
POLL_GROUP = "health-poller"
ACTION_GROUP = "health-action"
REFRESH_S = 1.0
LOG_LINES = 500

BINDINGS = bindings.HEALTH
TONES = ("up", "degraded", "down", "absent", "muted")
_SEVERITY = {State.DOWN: 3, State.DEGRADED: 2, State.ABSENT: 1, State.UP: 0}


class HealthPane(Vertical):
    """Header, probes table, programs table, components table, selected-row detail, transitions log."""

    BINDINGS = BINDINGS
    COMPONENT_CLASSES = {f"health--{tone}" for tone in TONES}
    DEFAULT_CSS = """
    HealthPane { height: 1fr; }
    HealthPane #health-header { height: auto; max-height: 2; background: $panel; padding: 0 1; color: $foreground; }
    HealthPane #health-header.paused { color: $warning; text-style: bold; }
    HealthPane #health-header.problem { color: $error; text-style: bold; }
    HealthPane DataTable { scrollbar-size-horizontal: 0; }
    HealthPane #health-probes { height: auto; max-height: 30%; }
    HealthPane #health-programs { height: auto; max-height: 30%; }
    HealthPane #health-programs.empty { display: none; }
    HealthPane #health-components { height: auto; max-height: 16%; }
    HealthPane #health-components.empty { display: none; }
    HealthPane #health-detail { height: auto; max-height: 2; padding: 0 1; background: $panel; color: $foreground; }
    HealthPane #health-transitions { height: 1fr; min-height: 3; }
    HealthPane > .health--up { color: $success; }
    HealthPane > .health--degraded { color: $warning; text-style: bold; }
    HealthPane > .health--down { color: $error; text-style: bold; }
    HealthPane > .health--absent { color: $foreground 70%; }
    HealthPane > .health--muted { color: $foreground 70%; }
    """

    def __init__(self, ctx: ConsoleContext, *, id: str = PANE_ID):
        super().__init__(id=id)
        self.ctx = ctx
        self.options: HealthViewOptions = getattr(ctx, "health_view", None) or HealthViewOptions()
        self.poller: HealthPoller | None = None
        self.snapshots: dict[ProbeKey, ProbeSnapshot] = {}
        self.transitions: list[Transition] = []
        self.updates = 0
        self.problems: list[str] = []
        self.supervisors: dict[str, SupervisorAddress] = {}
        self.controls: dict[str, SupervisorControl] = {}
        self.action_results: list[str] = []
        self._started = False
        self._pending: list[ProbeUpdated] = []
        self._posted = False
        self._width = 0
        self._probe_rows: list[ProbeKey] = []
        self._program_rows: list[tuple[str, ProgramStatus]] = []

    def compose(self) -> ComposeResult:
        yield Static(id="health-header")
        yield DataTable(cursor_type="row", zebra_stripes=True, cell_padding=0, id="health-probes")
        yield DataTable(cursor_type="row", zebra_stripes=True, cell_padding=0, id="health-programs", classes="empty")
        yield DataTable(cursor_type="row", cell_padding=0, id="health-components", classes="empty")
        yield Static(id="health-detail")
        yield RichLog(max_lines=LOG_LINES, markup=False, wrap=True, min_width=20, id="health-transitions")

    def on_mount(self) -> None:
        self.redraw()
        self.set_interval(REFRESH_S, self._render_rows)
        self.watch(self.app, "theme", lambda _: self.call_after_refresh(self.redraw), init=False)

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self.call_after_refresh(self.redraw)

    def on_show(self) -> None:
        if not self._started:
            self._started = True
            self.poller = self._build()
            self._header()
            self._watch(self.poller)

    async def on_unmount(self) -> None:
        if self.poller is not None:
            await self.poller.stop()
        for control in self.controls.values():
            await control.aclose()

    def focus(self, scroll_visible: bool = True) -> HealthPane:
        """Focusing the pane (pane switch keys) puts the cursor in the probes table."""
        self.probes_table.focus(scroll_visible)
        return self

    @property
    def probes_table(self) -> DataTable:
        return self.query_one("#health-probes", DataTable)

    @property
    def programs_table(self) -> DataTable:
        return self.query_one("#health-programs", DataTable)

    @property
    def components_table(self) -> DataTable:
        return self.query_one("#health-components", DataTable)

    @property
    def log_view(self) -> RichLog:
        return self.query_one("#health-transitions", RichLog)

    @property
    def palette(self) -> dict[str, Style]:
        return {tone: self.get_component_rich_style(f"health--{tone}", partial=True) for tone in TONES}

    # Poller --------------------------------------------------------------------------------------

    def _thresholds(self) -> dict[str, float]:
        try:
            return heartbeat_thresholds(self.options.threshold_s)
        except HealthConfigError as exc:
            self.problems.append(str(exc))
            return heartbeat_thresholds(None, env={})

    def _build(self) -> HealthPoller:
        """A poller over the context's API URLs, supervisords and RemSvc targets; a bad URL is reported, not fatal."""
        thresholds = self._thresholds()
        poller = build_poller((), self.ctx.targets, interval=self.options.interval,
                              jitter=self.options.jitter, on_event=self._event_arrived)
        for url in getattr(self.ctx, "health_api_urls", []) or []:
            self._add_url(poller, url, thresholds)
        for address in getattr(self.ctx, "health_supervisors", []) or []:
            self._add_supervisor(poller, address)
        return poller

    def _add_url(self, poller: HealthPoller, url: str, thresholds: dict[str, float] | None = None) -> bool:
        try:
            probes = airflow_probes(url, thresholds=thresholds if thresholds is not None else self._thresholds())
            for probe in probes:
                poller.add(probe)
        except ValueError as exc:
            self.problems.append(f"{url}: {exc}")
            return False
        return True

    def _add_supervisor(self, poller: HealthPoller, address: SupervisorAddress) -> None:
        if address.display in self.supervisors:
            return
        self.supervisors[address.display] = address
        poller.add(SupervisorProbe(address))

    @work(group=POLL_GROUP, exit_on_error=False)
    async def _watch(self, poller: HealthPoller) -> None:
        try:
            await poller.start()
            await asyncio.Event().wait()
        finally:
            await poller.stop()

    def _event_arrived(self, event: ProbeUpdated) -> None:
        """Called by the poller for every probe polled: keep it, post a redraw only if none is pending."""
        self._pending.append(event)
        if not self._posted:
            self._posted = True
            self.post_message(HealthChanged())

    def on_health_changed(self, message: HealthChanged) -> None:
        message.stop()
        self._posted = False
        pending, self._pending = self._pending, []
        watched = set(self.poller.keys) if self.poller is not None else set()
        for event in pending:
            if event.snapshot.key not in watched:
                continue  # removed while its poll was in flight
            self.snapshots[event.snapshot.key] = event.snapshot
            for transition in event.transitions:
                self.transitions.append(transition)
                self._log(transition_text(transition, self.options, self.palette))
        del self.transitions[:-LOG_LINES]
        self.updates += 1
        self._render_rows()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == POLL_GROUP and event.state is WorkerState.ERROR:
            self.problems.append(f"health polling stopped: {event.worker.error}")
            self._header()

    # Rendering -----------------------------------------------------------------------------------

    def _ordered(self) -> list[ProbeSnapshot]:
        """API servers, then supervisords, then RemSvc targets, each in the order added; probes in a fixed order."""
        keys = self.poller.keys if self.poller is not None else list(self.snapshots)
        first = {}
        for i, key in enumerate(keys):
            first.setdefault(key.endpoint, i)
        order = {name: i for i, name in enumerate(HTTP_PROBES)}
        found = [s for s in self.snapshots.values() if s.key.endpoint in first]
        return sorted(found, key=lambda s: (s.key.kind, first[s.key.endpoint], order.get(s.key.probe, 9)))

    def redraw(self) -> None:
        """Render everything again from the kept snapshots and transitions (e.g. after a theme change)."""
        self.log_view.clear()
        palette = self.palette
        self._log(Text("Transitions (state changes, stale heartbeats, program states) appear here.",
                       style=palette["muted"]))
        for transition in self.transitions:
            self._log(transition_text(transition, self.options, palette))
        self._render_rows()

    def _log(self, text: Text) -> None:
        """Wrapped at the log's own width (RichLog would otherwise measure against the console's)."""
        width = self.log_view.scrollable_content_region.width
        self.log_view.write(text, width=width if width > 0 else None)

    @staticmethod
    def _columns(table: DataTable, columns: list[tuple[str, int]]) -> None:
        """Reset the columns when the layout changed (width or tier)."""
        current = [(str(c.label), c.width) for c in table.columns.values()]
        if current != columns:
            table.clear(columns=True)
            for label, width in columns:
                table.add_column(label, width=width, key=label)

    def _fill(self, table: DataTable, rows: list[list[Text]]) -> None:
        cursor = table.cursor_row
        table.clear()
        for cells in rows:
            table.add_row(*cells)
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1), animate=False)

    def _render_rows(self) -> None:
        if not self.is_mounted:
            return
        now = self.options.clock()
        palette = self.palette
        width = max(40, self.size.width - 1)
        self._width = self.size.width
        snaps = self._ordered()

        probe_columns = layout_for(PROBE_LAYOUTS, width)
        self._columns(self.probes_table, probe_columns)
        rows, shown, self._probe_rows = [], None, []
        for snapshot in snaps:
            cells = probe_cells(snapshot, now, self.options, palette)
            if snapshot.key.endpoint == shown:
                cells["Endpoint"] = Text("")
            shown = snapshot.key.endpoint
            rows.append(row(cells, probe_columns))
            self._probe_rows.append(snapshot.key)
        self._fill(self.probes_table, rows)

        with_airflow = any(p.component for s in snaps if s.key.is_supervisor for p in s.result.programs)
        program_columns = layout_for(PROGRAM_LAYOUTS, width, without=() if with_airflow else ("Airflow",))
        self._columns(self.programs_table, program_columns)
        rows, self._program_rows = [], []
        for snapshot in snaps:
            if not snapshot.key.is_supervisor:
                continue
            for i, program in enumerate(snapshot.result.programs):
                airflow = component_status(snaps, program.component, self.options) if program.component else ("", "muted")
                cells = program_cells(snapshot.key.endpoint, program, airflow, self.options, palette)
                if i:
                    cells["Supervisor"] = Text("")
                rows.append(row(cells, program_columns))
                self._program_rows.append((snapshot.key.endpoint, program))
        self._fill(self.programs_table, rows)
        self.programs_table.set_class(not rows, "empty")

        component_columns = layout_for(COMPONENT_LAYOUTS, width)
        self._columns(self.components_table, component_columns)
        rows = []
        for snapshot in snaps:
            if snapshot.key.probe != "monitor":
                continue
            for i, component in enumerate(snapshot.result.components):
                cells = component_cells(snapshot.key.endpoint, component, self.options, palette)
                if i:
                    cells["Endpoint"] = Text("")
                rows.append(row(cells, component_columns))
        self._fill(self.components_table, rows)
        self.components_table.set_class(not rows, "empty")
        self._header()
        self._detail()

    def _endpoint_states(self) -> dict[str, State]:
        """Each watched endpoint's worst probe state (endpoints without a result yet are left out)."""
        states: dict[str, State] = {}
        for s in self._ordered():
            current = states.get(s.key.endpoint)
            if current is None or _SEVERITY[s.state] > _SEVERITY[current]:
                states[s.key.endpoint] = s.state
        return states

    def _header(self) -> None:
        header = self.query_one("#health-header", Static)
        poller = self.poller
        if poller is None:
            header.update("Not started: open this pane to start watching.")
            header.set_classes("")
            return
        endpoints = {k.endpoint for k in poller.keys}
        if not endpoints:
            header.update("Nothing to watch: press a to add an API server, or start with --api-url, "
                          "--supervisor or a RemSvc target.")
            header.set_classes("problem")
            return
        states = self._endpoint_states()
        parts = [f"{len(endpoints)} endpoint{'s' if len(endpoints) != 1 else ''}"]
        if states:
            counts = [f"{sum(1 for v in states.values() if v is st)} {st.value}"
                      for st in (State.DOWN, State.DEGRADED, State.ABSENT) if st in states.values()]
            parts[0] += ": " + (", ".join(counts) if counts else "all up")
            snaps = self._ordered()
            bad = sum(1 for s in snaps if s.state in (State.DOWN, State.DEGRADED))
            if bad:
                parts.append(f"{bad} of {len(snaps)} probes not up")
        parts.append("PAUSED" if poller.paused else f"every {self.options.interval:g}s")
        versions = sorted({s.result.version for s in self.snapshots.values()
                           if s.key.probe == "version" and s.result.version})
        if versions:
            parts.append("Airflow " + ", ".join(versions))
        if self.problems:
            parts.append(self.problems[-1])
        header.update(Text(self.options.show(" · ".join(parts))))
        header.set_classes("problem" if self.problems else "paused" if poller.paused else "")

    def _detail(self) -> None:
        """The selected row of the focused table, in full: state, reason, and for a program its command."""
        detail = self.query_one("#health-detail", Static)
        now = self.options.clock()
        program = self._selected_program() if self.programs_table.has_focus else None
        if program is not None:
            endpoint, p = program
            words = [f"{p.name} on {endpoint}: {p.statename} ({p.state.value})"]
            if p.why:
                words.append(p.why)
            if p.description and p.description != p.spawnerr:
                words.append(p.description)
            if p.command:
                words.append(f"command: {p.command}")
            detail.update(Text(self.options.show(" · ".join(words))))
            return
        key = self._selected_probe()
        snapshot = self.snapshots.get(key) if key is not None else None
        if snapshot is None:
            detail.update(Text("Select a row to see its state and reason in full.", style=self.palette["muted"]))
            return
        words = f"{key.endpoint} {key.probe}: {snapshot.state.value.upper()}"
        reason = reason_words(snapshot, now, self.options)
        if stale_age(snapshot, now, self.options) is None and snapshot.state is State.UP and not reason:
            reason = snapshot.result.detail
        detail.update(Text(self.options.show(f"{words} · {reason}" if reason else words)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
        self._detail()

    # Selection -----------------------------------------------------------------------------------

    def _selected_probe(self) -> ProbeKey | None:
        table = self.probes_table
        if not self._probe_rows or not table.row_count:
            return None
        return self._probe_rows[min(table.cursor_row, len(self._probe_rows) - 1)]

    def _selected_program(self) -> tuple[str, ProgramStatus] | None:
        table = self.programs_table
        if not self._program_rows or not table.row_count:
            return None
        return self._program_rows[min(table.cursor_row, len(self._program_rows) - 1)]

    def _selected_endpoint(self) -> str | None:
        if self.programs_table.has_focus and self._selected_program() is not None:
            return self._selected_program()[0]
        key = self._selected_probe()
        return key.endpoint if key is not None else None

    # Actions -------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Program keys are offered (and shown in the footer) only while the programs table has focus."""
        if action in ("program", "program_log"):
            return self.programs_table.has_focus
        return True

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def action_poll_now(self) -> None:
        if self.poller is None or not self.poller.keys:
            self.notify("Nothing to poll yet.", markup=False)
            return
        self.poller.poll_now()
        self.notify("Polling every endpoint now.", markup=False, timeout=2)

    def action_poll_selected(self) -> None:
        endpoint = self._selected_endpoint()
        if self.poller is None or endpoint is None:
            self.notify("Select an endpoint first.", markup=False)
            return
        for key in self.poller.keys:
            if key.endpoint == endpoint:
                self.poller.poll_now(key)
        self.notify(f"Polling {self.options.show(endpoint)} now.", markup=False, timeout=2)

    def action_toggle_pause(self) -> None:
        if self.poller is None:
            return
        if self.poller.paused:
            self.poller.resume()
        else:
            self.poller.pause()
        self._header()

    def action_add_endpoint(self) -> None:
        self.app.push_screen(AddEndpointScreen(), self._endpoint_entered)

    def _endpoint_entered(self, url: str | None) -> None:
        if not url or self.poller is None:
            return
        if any(k.endpoint == url for k in self.poller.keys):
            self.notify(f"Already watching {self.options.show(url)}.", markup=False)
            return
        if self._add_url(self.poller, url):
            self.notify(f"Watching {self.options.show(url)}.", markup=False, timeout=3)
        self._header()

    def action_remove_endpoint(self) -> None:
        endpoint = self._selected_endpoint()
        if self.poller is None or endpoint is None:
            self.notify("Select an endpoint first.", markup=False)
            return
        self._remove(endpoint)

    @work(group=ACTION_GROUP, exit_on_error=False)
    async def _remove(self, endpoint: str) -> None:
        for key in [k for k in self.poller.keys if k.endpoint == endpoint]:
            await self.poller.remove(key)
            self.snapshots.pop(key, None)
        self.supervisors.pop(endpoint, None)
        control = self.controls.pop(endpoint, None)
        if control is not None:
            await control.aclose()
        self.notify(f"No longer watching {self.options.show(endpoint)}.", markup=False, timeout=3)
        self._render_rows()

    def _control(self, endpoint: str) -> SupervisorControl:
        control = self.controls.get(endpoint)
        if control is None:
            control = self.controls[endpoint] = SupervisorControl(
                self.supervisors[endpoint], read_only=self.ctx.service.read_only,
                journal_dir=self.ctx.settings.journal_dir)
        control.read_only = self.ctx.service.read_only
        return control

    def action_program(self, action: str) -> None:
        selected = self._selected_program() if self.programs_table.has_focus else None
        if selected is None:
            self.notify("Select a supervisord program first (tab to the programs table).", markup=False)
            return
        endpoint, program = selected
        question = f"{action.capitalize()} {program.name} on {endpoint}?"
        detail = f"It is {program.statename} now. The action is journaled."
        self.app.push_screen(ConfirmScreen(self.options.show(question), self.options.show(detail)),
                             lambda yes: self._act(endpoint, program.name, action) if yes else None)

    @work(group=ACTION_GROUP, exit_on_error=False)
    async def _act(self, endpoint: str, program: str, action: str) -> None:
        control = self._control(endpoint)
        try:
            result = await control.act(program, action)
        except ActionRefused as exc:
            self.post_message(ProgramActionDone(endpoint, str(exc), False))
            return
        verb = f"{action} {program}: {result.detail}"
        self.post_message(ProgramActionDone(endpoint, verb, result.ok))

    def on_program_action_done(self, message: ProgramActionDone) -> None:
        self.action_results.append(message.text)
        self.notify(self.options.show(message.text), markup=False, severity="information" if message.ok else "error",
                    timeout=4)
        if self.poller is not None:
            for key in self.poller.keys:
                if key.endpoint == message.endpoint:
                    self.poller.poll_now(key)

    def action_program_log(self) -> None:
        selected = self._selected_program() if self.programs_table.has_focus else None
        if selected is None:
            self.notify("Select a supervisord program first (tab to the programs table).", markup=False)
            return
        endpoint, program = selected
        self.app.push_screen(SupervisorLogScreen(self._control(endpoint), program.name))

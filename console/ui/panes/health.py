"""The Health pane: the Airflow API servers and RemSvc servers, watched live.

The poller (``console.health``) runs in this pane's async worker from the first time the pane is
shown, so a session that never opens it polls nothing; it is stopped when the pane is unmounted.
Its ``on_event`` callback only records the newest snapshot per probe and posts one ``HealthChanged``
when none is pending, so however many probes answer between two turns of the event loop the
tables are redrawn once. A one-second timer keeps "time in state" current between polls.
"""

from __future__ import annotations

import asyncio

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, RichLog, Static
from textual.worker import Worker, WorkerState

from console.health.history import ProbeSnapshot
from console.health.poller import HealthPoller, ProbeUpdated
from console.health.results import HTTP_PROBES, ProbeKey, State
from console.health.sources import HealthConfigError, heartbeat_thresholds
from console.health.transitions import Transition
from console.health.watch import airflow_probes, build_poller
from console.ui import bindings
from console.ui.context import ConsoleContext
from console.ui.widgets.health_add import AddEndpointScreen
from console.ui.widgets.health_text import HealthViewOptions, component_cells, probe_cells, transition_text

PANE_ID = "health"
TITLE = "Health"
POLL_GROUP = "health-poller"
REFRESH_S = 1.0
LOG_LINES = 500

BINDINGS = bindings.HEALTH

PROBE_COLUMNS = ("Endpoint", "Probe", "State", "For", "Latency", "p50", "p95", "Trend", "Last error")
COMPONENT_COLUMNS = ("Endpoint", "Component", "Status", "Heartbeat", "Threshold")
TONES = ("up", "degraded", "down", "absent", "muted")


class HealthChanged(Message):
    """New snapshots are waiting in the pane; posted at most once per turn of the event loop."""


class HealthPane(Vertical):
    """Header line, probes table, components table, transitions log."""

    BINDINGS = BINDINGS
    COMPONENT_CLASSES = {f"health--{tone}" for tone in TONES}
    DEFAULT_CSS = """
    HealthPane { height: 1fr; }
    HealthPane #health-header { height: 1; background: $panel; padding: 0 1; color: $foreground; }
    HealthPane #health-header.paused { color: $warning; text-style: bold; }
    HealthPane #health-header.problem { color: $error; text-style: bold; }
    HealthPane .health-title { height: 1; padding: 0 1; color: $accent; text-style: bold; }
    HealthPane #health-probes { height: auto; max-height: 50%; }
    HealthPane #health-components { height: auto; max-height: 30%; }
    HealthPane #health-transitions { height: 1fr; min-height: 3; border-top: hkey $panel; }
    HealthPane > .health--up { color: $success; }
    HealthPane > .health--degraded { color: $warning; text-style: bold; }
    HealthPane > .health--down { color: $error; text-style: bold; }
    HealthPane > .health--absent { color: $foreground 60%; }
    HealthPane > .health--muted { color: $foreground 60%; }
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
        self._started = False
        self._pending: list[ProbeUpdated] = []
        self._posted = False

    def compose(self) -> ComposeResult:
        yield Static(id="health-header")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="health-probes")
        yield Static("Components", classes="health-title")
        yield DataTable(cursor_type="row", show_cursor=False, id="health-components")
        yield RichLog(max_lines=LOG_LINES, markup=False, wrap=False, id="health-transitions")

    def on_mount(self) -> None:
        self.probes_table.add_columns(*PROBE_COLUMNS)
        self.components_table.add_columns(*COMPONENT_COLUMNS)
        self.redraw()
        self.set_interval(REFRESH_S, self._render_rows)
        self.watch(self.app, "theme", lambda _: self.call_after_refresh(self.redraw), init=False)

    def on_show(self) -> None:
        if not self._started:
            self._started = True
            self.poller = self._build()
            self._header()
            self._watch(self.poller)

    async def on_unmount(self) -> None:
        if self.poller is not None:
            await self.poller.stop()

    def focus(self, scroll_visible: bool = True) -> HealthPane:
        """Focusing the pane (pane switch keys) puts the cursor in the probes table."""
        self.probes_table.focus(scroll_visible)
        return self

    @property
    def probes_table(self) -> DataTable:
        return self.query_one("#health-probes", DataTable)

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
        """A poller over the context's API URLs and RemSvc targets; an unusable URL is reported, not fatal."""
        thresholds = self._thresholds()
        poller = build_poller((), self.ctx.targets, interval=self.options.interval,
                             jitter=self.options.jitter, on_event=self._event_arrived)
        for url in getattr(self.ctx, "health_api_urls", []) or []:
            self._add_url(poller, url, thresholds)
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
        for event in pending:
            self.snapshots[event.snapshot.key] = event.snapshot
            for transition in event.transitions:
                self.transitions.append(transition)
                self.log_view.write(transition_text(transition, self.options, self.palette))
        del self.transitions[:-LOG_LINES]
        self.updates += 1
        self._render_rows()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == POLL_GROUP and event.state is WorkerState.ERROR:
            self.problems.append(f"health polling stopped: {event.worker.error}")
            self._header()

    # Rendering -----------------------------------------------------------------------------------

    def _ordered(self) -> list[ProbeSnapshot]:
        """API servers in the order they were added, their probes in a fixed order, then RemSvc targets."""
        keys = self.poller.keys if self.poller is not None else list(self.snapshots)
        first = {}
        for i, key in enumerate(keys):
            first.setdefault(key.endpoint, i)
        order = {name: i for i, name in enumerate(HTTP_PROBES)}
        found = [s for s in self.snapshots.values() if s.key.endpoint in first]
        return sorted(found, key=lambda s: (s.key.is_remsvc, first[s.key.endpoint], order.get(s.key.probe, 9)))

    def redraw(self) -> None:
        """Render everything again from the kept snapshots and transitions (e.g. after a theme change)."""
        log = self.log_view
        log.clear()
        palette = self.palette
        log.write(Text("Transitions (state changes, stale heartbeats, version changes) appear here.",
                       style=palette["muted"]))
        for transition in self.transitions:
            log.write(transition_text(transition, self.options, palette))
        self._render_rows()

    def _render_rows(self) -> None:
        now = self.options.clock()
        palette = self.palette
        table = self.probes_table
        cursor = table.cursor_row
        table.clear()
        components = self.components_table
        components.clear()
        shown = None
        for snapshot in self._ordered():
            cells = probe_cells(snapshot, now, self.options, palette)
            if snapshot.key.endpoint == shown:
                cells[0] = Text("")
            shown = snapshot.key.endpoint
            table.add_row(*cells, key=str(snapshot.key))
            if snapshot.key.probe == "monitor":
                for i, component in enumerate(snapshot.result.components):
                    cells = component_cells(snapshot.key.endpoint, component, self.options, palette)
                    if i:
                        cells[0] = Text("")
                    components.add_row(*cells)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)
        self._header()

    def _header(self) -> None:
        header = self.query_one("#health-header", Static)
        poller = self.poller
        if poller is None:
            header.update("Not started: open this pane to start watching.")
            header.set_classes("")
            return
        endpoints = {k.endpoint for k in poller.keys}
        if not endpoints:
            header.update("Nothing to watch: press a to add an API server, or start with --api-url / a RemSvc target.")
            header.set_classes("problem")
            return
        snaps = self._ordered()
        down = sum(1 for s in snaps if s.state is State.DOWN)
        degraded = sum(1 for s in snaps if s.state is State.DEGRADED)
        parts = [f"{len(endpoints)} endpoint{'s' if len(endpoints) != 1 else ''}"]
        parts.append("PAUSED" if poller.paused else f"every {self.options.interval:g}s")
        if snaps:
            parts.append(f"{down} down, {degraded} degraded" if down or degraded else "all answering")
        versions = sorted({s.result.version for s in snaps if s.key.probe == "version" and s.result.version})
        if versions:
            parts.append("Airflow " + ", ".join(versions))
        if self.problems:
            parts.append(self.problems[-1])
        header.update(Text(self.options.show(" · ".join(parts)), no_wrap=True, overflow="ellipsis"))
        header.set_classes("problem" if self.problems else "paused" if poller.paused else "")

    # Actions -------------------------------------------------------------------------------------

    def action_poll_now(self) -> None:
        if self.poller is None or not self.poller.keys:
            self.notify("Nothing to poll yet.", markup=False)
            return
        self.poller.poll_now()
        self.notify("Polling every endpoint now.", markup=False, timeout=2)

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

"""The console app: status line, panes in tabs, footer, command palette. Kept thin on purpose;
panes, widgets and screens hold the behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from console.dispatch_service import ReadOnlyError, TargetLookupError, probe_status
from console.safetext import inert
from console.settings import DEFAULT_THEME, SettingsError, save_theme
from console.ui import bindings
from console.ui.context import ConsoleContext
from console.ui.messages.dispatch import DispatchActivity, ResolveTargets, TargetsChanged
from console.ui.panes import PANES, PaneSlot
from console.ui.panes.dispatch import DispatchPane
from console.ui.themes import load_themes
from console.ui.widgets.status_bar import StatusBar, TargetStatus

MAX_POLLED_TARGETS = 16
CANCEL_GRACE_S = 10.0


class ConsoleApp(App[int]):
    CSS_PATH = Path(__file__).parent / "styles" / "app.tcss"
    TITLE = "remsvc-console"
    BINDINGS = bindings.APP

    def __init__(self, ctx: ConsoleContext):
        super().__init__()
        self.ctx = ctx
        loaded = load_themes()
        for theme in loaded.themes:
            self.register_theme(theme)
        ctx.notices.extend(loaded.problems)
        wanted = ctx.settings.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            themes = ", ".join(sorted(self.available_themes))
            ctx.notices.append(f"unknown theme {wanted!r}; using {DEFAULT_THEME} (themes: {themes})")
            self.theme = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        keymap = dict(ctx.settings.keymap)
        unknown = bindings.unknown_keymap_ids(keymap)
        if unknown:
            ctx.notices.append(f"keymap: no binding with id {', '.join(unknown)}")
        self.set_keymap({k: v for k, v in keymap.items() if k not in unknown})
        self.quit_when_idle = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        with TabbedContent(initial=PANES[0].pane_id, id="panes"):
            for index, spec in enumerate(PANES):
                with TabPane(spec.title, id=spec.pane_id):
                    if index == 0:
                        yield spec.load()(self.ctx, id=f"{spec.pane_id}-pane")
                    else:
                        yield PaneSlot(spec, self.ctx)
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        bar = self.query_one(StatusBar)
        bar.targets = tuple(self.ctx.targets)
        bar.read_only = self.ctx.service.read_only
        for notice in self.ctx.notices:
            self.notify(notice, severity="warning", markup=False, timeout=10)
        self.call_after_refresh(self._start_polling)  # the first poll imports gRPC: after the first frame
        self.dispatch_pane.focus_results()
        self.theme_changed_signal.subscribe(self, self._save_theme)
        if self.ctx.pending_connections:
            self._resolve_via_airflow(list(self.ctx.pending_connections))

    def _save_theme(self, theme) -> None:
        """A theme chosen in the palette becomes the default: written to the settings file."""
        path = self.ctx.settings.config_path
        if path is None or theme.name == self.ctx.settings.theme:
            return
        try:
            save_theme(path, theme.name)
        except (OSError, SettingsError) as exc:
            self.notify(f"Theme not saved: {exc}", severity="warning", markup=False)
            return
        self.notify(f"Theme {theme.name} saved to {path}", markup=False, timeout=4)

    def on_resolve_targets(self, message: ResolveTargets) -> None:
        self._resolve_via_airflow(list(message.names), replace=message.replace)

    @work(group="airflow-connections", exclusive=True, exit_on_error=False)
    async def _resolve_via_airflow(self, names: list[str], *, replace: bool = False) -> None:
        """Connections only Airflow can answer arrive in the background; the screen stays usable meanwhile."""
        bar = self.query_one(StatusBar)
        bar.resolving = f"resolving {', '.join(names)} via Airflow…"
        try:
            known = await asyncio.to_thread(self.ctx.catalog.resolve, names)
        except TargetLookupError as exc:
            what = "Targets not restored" if replace else "Connection"
            self.notify(inert(str(exc), keep_newlines=False), title=what, severity="error", markup=False, timeout=60)
            return
        finally:
            bar.resolving = ""
        kept = [] if replace else self.dispatch_pane.targets
        self.dispatch_pane.set_targets([*kept, *(k.target for k in known)])
        for k in known:
            for warning in k.warnings:
                self.notify(inert(f"{k.target.name}: {warning}", keep_newlines=False), severity="warning", markup=False, timeout=10)

    @property
    def dispatch_pane(self) -> DispatchPane:
        return self.query_one(DispatchPane)

    # Status line ---------------------------------------------------------------------------------

    def _start_polling(self) -> None:
        if self.ctx.poll_status and self.query_one(StatusBar).targets:
            self._poll_status(list(self.query_one(StatusBar).targets)[:MAX_POLLED_TARGETS])

    @work(group="status", exclusive=True, exit_on_error=False)
    async def _poll_status(self, targets) -> None:
        bar = self.query_one(StatusBar)
        while True:
            probes = await asyncio.gather(*(probe_status(t) for t in targets))
            bar.statuses = {p.target: TargetStatus(p.latency_ms, p.status, p.error) for p in probes}
            await asyncio.sleep(self.ctx.settings.status_interval)

    def on_dispatch_activity(self, message: DispatchActivity) -> None:
        """Poll again now rather than at the next interval, so the command count keeps up."""
        self.workers.cancel_group(self, "status")
        self._start_polling()
        if self.quit_when_idle and not self.dispatch_pane.running:
            self.exit()

    def on_targets_changed(self, message: TargetsChanged) -> None:
        bar = self.query_one(StatusBar)
        bar.targets = tuple(message.targets)
        bar.statuses = {}
        self.workers.cancel_group(self, "status")
        self._start_polling()

    # Actions -------------------------------------------------------------------------------------

    async def action_show_pane(self, pane_id: str) -> None:
        self.query_one("#panes", TabbedContent).active = pane_id
        if pane_id == "dispatch":
            self.dispatch_pane.focus_results()
            return
        pane = await self.query_one(f"#{pane_id}-slot", PaneSlot).load()
        pane.focus()

    # Screens are imported when first opened: they are not part of the first frame.

    def action_help(self) -> None:
        from console.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_jump(self) -> None:
        from console.ui.screens.jump import JumpScreen

        def chosen(action: str | None) -> None:
            if action in ("history", "pick_targets"):
                self.action_show_pane("dispatch")
                getattr(self.dispatch_pane, f"action_{action}")()
            elif action is not None:
                self.call_later(self.run_action, action)

        self.push_screen(JumpScreen(), chosen)

    async def action_quit(self) -> None:
        """With a dispatch in flight, ask: cancel it and quit, quit when it ends, or stay."""
        from console.ui.screens.quit import CANCEL, WAIT, QuitScreen

        pane = self.dispatch_pane
        if not pane.running:
            self.exit()
            return
        if isinstance(self.screen, QuitScreen):
            return

        def answered(choice: str | None) -> None:
            if choice == CANCEL:
                self.quit_when_idle = True
                pane.action_cancel()
                self.set_timer(CANCEL_GRACE_S, self.exit)
            elif choice == WAIT:
                self.quit_when_idle = True
                self.notify("Quitting when the dispatch ends.", markup=False)

        left = sum(n for state, n in pane.model.counts.items() if not state.final)
        detail = (f"{left} command(s) have not answered yet. Cancelling keeps the answered ones and journals "
                  "the rest as cancelled.")
        self.push_screen(QuitScreen(detail), answered)

    def action_toggle_read_only(self) -> None:
        service = self.ctx.service
        try:
            service.set_read_only(not service.read_only)
        except ReadOnlyError as exc:
            self.notify(str(exc), title="Read-only", severity="warning", markup=False)
            return
        self.query_one(StatusBar).read_only = service.read_only
        message = "Read-only: dispatch is refused." if service.read_only else "Read-only off: dispatch allowed."
        self.notify(message, markup=False)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        pane = self.dispatch_pane
        yield SystemCommand("Run stream", "Dispatch the editor's commands to the selected targets", pane.action_run)
        yield SystemCommand("Cancel dispatch", "Cancel the running dispatch; answered tids are kept", pane.action_cancel)
        yield SystemCommand("Re-run last dispatch", "Put the last dispatch back in the editor to review and run", pane.rerun_last)
        yield SystemCommand("Switch targets", "Choose the connections to dispatch to", pane.action_pick_targets)
        yield SystemCommand("Export dispatch as JSON", "Write the last dispatch in the run --json shape", pane.action_export)
        yield SystemCommand("Dispatch history", "Past dispatches from the journal", pane.action_history)
        yield SystemCommand("Group results by tid", "Fold identical results across targets", pane.action_toggle_grouped)
        yield SystemCommand("Toggle read-only", "Refuse or allow dispatching", self.action_toggle_read_only)
        for spec in PANES:
            show = partial(self.action_show_pane, spec.pane_id)
            yield SystemCommand(f"Show {spec.title}", f"Switch to the {spec.title} pane", show)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            from console.ui.screens.error import worker_failure_screen

            self.push_screen(worker_failure_screen("Status polling failed", event.worker.error))

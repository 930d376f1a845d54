"""The top line: active targets and their transport, server status and latency, read-only badge.

A bearer token travelling without TLS is shown as a warning here, where it cannot be missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from console.remsvc.model import Target
from console.safetext import inert


@dataclass(frozen=True)
class TargetStatus:
    latency_ms: float | None = None
    status: str | None = None
    error: str | None = None


def _name(target: Target) -> str:
    return inert(target.name, keep_newlines=False)


class StatusBar(Widget):
    """Renders from ``targets``, ``statuses`` and ``read_only``; set them, it redraws."""

    COMPONENT_CLASSES = {
        "status-bar--label",
        "status-bar--insecure",
        "status-bar--tls",
        "status-bar--warning",
        "status-bar--ok",
        "status-bar--down",
        "status-bar--badge",
    }
    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    targets: reactive[tuple[Target, ...]] = reactive((), layout=False)
    statuses: reactive[dict[str, TargetStatus]] = reactive(dict, always_update=True)
    read_only: reactive[bool] = reactive(False)
    resolving: reactive[str] = reactive("")

    def _style(self, name: str):
        return self.get_component_rich_style(f"status-bar--{name}")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        targets = self.targets
        if self.read_only:
            text.append(" READ-ONLY ", self._style("badge"))
            text.append(" ")
        if not targets:
            text.append(inert(self.resolving, keep_newlines=False) or "no target selected: choose Targets", self._style("warning"))
            return text
        for target in targets:
            if target.label:
                text.append(f" {inert(target.label, keep_newlines=False)} ", self._style("label"))
                text.append(" ")
                break
        if len(targets) == 1:
            target = targets[0]
            text.append(f"{_name(target)} {inert(target.address, keep_newlines=False)} ")
            text.append("TLS" if target.use_ssl else "insecure", self._style("tls" if target.use_ssl else "insecure"))
        else:
            tls = sum(1 for t in targets if t.use_ssl)
            text.append(f"{len(targets)} targets ")
            text.append(f"{tls} TLS", self._style("tls"))
            if len(targets) - tls:
                text.append(" · ")
                text.append(f"{len(targets) - tls} insecure", self._style("insecure"))
        exposed = [t for t in targets if t.token_without_tls]
        if exposed:
            names = ", ".join(_name(t) for t in exposed[:3]) + ("…" if len(exposed) > 3 else "")
            text.append("  ⚠ token sent without TLS: ", self._style("warning"))
            text.append(names, self._style("warning"))
        text.append("  ")
        self._append_status(text, targets)
        return text

    def _append_status(self, text: Text, targets: tuple[Target, ...]) -> None:
        statuses = [self.statuses.get(t.name) for t in targets]
        known = [s for s in statuses if s is not None]
        if not known:
            return
        if len(targets) == 1:
            status = known[0]
            if status.error:
                text.append(f"down: {inert(status.error, keep_newlines=False)}", self._style("down"))
                return
            text.append("up", self._style("ok"))
            if status.latency_ms is not None:
                text.append(f" · ping {status.latency_ms:.1f} ms")
            if status.status:
                text.append(f" · {inert(status.status, keep_newlines=False)}")
            return
        down = [t for t in targets if (s := self.statuses.get(t.name)) is not None and s.error]
        text.append(f"up {len(known) - len(down)}/{len(targets)}", self._style("down" if down else "ok"))
        if down:
            names = ", ".join(_name(t) for t in down[:3]) + (f" +{len(down) - 3}" if len(down) > 3 else "")
            text.append(f" · down: {names}", self._style("down"))
        latencies = sorted(s.latency_ms for s in known if s.latency_ms is not None)
        if latencies:
            text.append(f" · ping p50 {latencies[len(latencies) // 2]:.1f} ms")

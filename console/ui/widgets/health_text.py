"""How the Health pane words and colours a probe snapshot, a component and a transition.

Plain functions from the health service's dataclasses to Rich ``Text`` so the pane stays about
layout and events. Every string that came from a server (details, errors, versions, component names)
is made inert here. ``HealthViewOptions`` carries what a display may want to fix: the wall clock
(time in state) and text aliases (e.g. long URLs shown as short names).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rich.style import Style
from rich.text import Text

from console.health.history import ProbeSnapshot
from console.health.poller import DEFAULT_INTERVAL, DEFAULT_JITTER
from console.health.report import format_duration
from console.health.results import ComponentHealth, State
from console.health.transitions import Transition
from console.safetext import inert

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 16
WARN_FRACTION = 0.5  # a heartbeat older than half its threshold is shown as a warning

Palette = Mapping[str, Style]


@dataclass
class HealthViewOptions:
    """Display and polling choices for the pane; set ``ctx.health_view`` to one of these to change them."""

    clock: Callable[[], float] = time.time
    aliases: dict[str, str] = field(default_factory=dict)
    interval: float = DEFAULT_INTERVAL
    jitter: float = DEFAULT_JITTER
    threshold_s: float | None = None

    def show(self, text: str) -> str:
        """Remote text made inert and one line, with every alias substituted."""
        for long, short in self.aliases.items():
            text = text.replace(long, short)
        return inert(text, keep_newlines=False, tab_width=1)


def state_tone(state: State) -> str:
    return state.value


def heartbeat_tone(c: ComponentHealth) -> str:
    """``down`` past the threshold, ``degraded`` past half of it, else by the reported status."""
    if c.status is None:
        return "absent"
    if c.stale or c.status != "healthy":
        return "down"
    if c.heartbeat_age_s is not None and c.threshold_s and c.heartbeat_age_s > c.threshold_s * WARN_FRACTION:
        return "degraded"
    return "up"


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    value = seconds * 1000
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """The last ``width`` values as block characters, scaled between the window's min and max."""
    recent = list(values)[-width:]
    if not recent:
        return ""
    low, high = min(recent), max(recent)
    span = high - low
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / span * top) if span > 0 else 0] for v in recent)


def error_words(snapshot: ProbeSnapshot, now: float, options: HealthViewOptions) -> str:
    """The last error in words: the current one when not up, else the most recent and how long ago."""
    if snapshot.state is not State.UP:
        return options.show(snapshot.result.detail)
    last = snapshot.last_error
    if last is None:
        return ""
    return options.show(f"{format_duration(now - last.at)} ago: {last.detail}")


def probe_cells(snapshot: ProbeSnapshot, now: float, options: HealthViewOptions, palette: Palette) -> list[Text]:
    """Endpoint, probe, state, time in state, latency, p50, p95, sparkline, last error."""
    key = snapshot.key
    tone = palette.get(state_tone(snapshot.state), Style())
    muted = palette.get("muted", Style())
    probe = "ping/status" if key.is_remsvc else key.probe
    detail = error_words(snapshot, now, options)
    if key.is_remsvc and snapshot.command_rate is not None and snapshot.state is not State.DOWN:
        rate = f"{snapshot.command_rate:.2f} cmd/s"
        detail = f"{rate} · {detail}" if detail else rate
    return [
        Text(options.show(key.endpoint), no_wrap=True, overflow="ellipsis"),
        Text(probe, no_wrap=True),
        Text(snapshot.state.value.upper(), style=tone, no_wrap=True),
        Text(format_duration(snapshot.time_in_state(now)), justify="right", no_wrap=True),
        Text(ms(snapshot.latency_s), justify="right", no_wrap=True),
        Text(ms(snapshot.p50_s), justify="right", no_wrap=True, style=muted),
        Text(ms(snapshot.p95_s), justify="right", no_wrap=True, style=muted),
        Text(sparkline(snapshot.latencies_s), style=tone, no_wrap=True),
        Text(detail, no_wrap=True, overflow="ellipsis",
             style=palette.get("down", Style()) if snapshot.state is not State.UP else muted),
    ]


def component_cells(endpoint: str, c: ComponentHealth, options: HealthViewOptions, palette: Palette) -> list[Text]:
    """Endpoint, component, status, heartbeat age (coloured against the threshold), threshold."""
    tone = palette.get(heartbeat_tone(c), Style())
    status = "not running" if c.status is None else options.show(c.status)
    if c.heartbeat_age_s is None:
        age = "-"
    else:
        age = format_duration(c.heartbeat_age_s) + (" STALE" if c.stale else "")
    threshold = "-" if c.threshold_s is None else f"{c.threshold_s:g}s"
    return [
        Text(options.show(endpoint), no_wrap=True, overflow="ellipsis"),
        Text(options.show(c.name), no_wrap=True),
        Text(status, style=tone, no_wrap=True),
        Text(age, style=tone, justify="right", no_wrap=True),
        Text(threshold, justify="right", no_wrap=True, style=palette.get("muted", Style())),
    ]


def transition_text(t: Transition, options: HealthViewOptions, palette: Palette) -> Text:
    """``12:03:04  api-a  monitor dag_processor: healthy → unhealthy (...)``, coloured by the new state."""
    after = (t.after or "").lower()
    tone = "up" if after in ("up", "healthy", "fresh") else "down" if after in ("down", "unhealthy", "stale") else "degraded"
    text = Text(datetime.fromtimestamp(t.at).strftime("%H:%M:%S"), style=palette.get("muted", Style()), no_wrap=True)
    text.append(f"  {options.show(t.key.endpoint)}  ")
    text.append(options.show(t.describe()), style=palette.get(tone, Style()))
    return text

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
from console.health.results import ComponentHealth, ProgramStatus, State
from console.health.transitions import Transition
from console.safetext import inert

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 16
WARN_FRACTION = 0.5  # a heartbeat older than half its threshold is shown as a warning
STALE_INTERVALS = 2.0  # a value not refreshed for this many intervals is shown grey with its age

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


def stale_age(snapshot: ProbeSnapshot, now: float, options: HealthViewOptions) -> float | None:
    """Seconds since the shown result was polled, when that is more than two intervals ago (else None)."""
    age = now - snapshot.result.at
    return age if age > STALE_INTERVALS * options.interval else None


def reason_words(snapshot: ProbeSnapshot, now: float, options: HealthViewOptions) -> str:
    """Why the probe is in its state (absent, down, degraded); for an up probe, its last error and when."""
    stale = stale_age(snapshot, now, options)
    prefix = f"not polled for {format_duration(stale)} · " if stale is not None else ""
    if snapshot.state is not State.UP:
        return prefix + options.show(snapshot.result.detail)
    last = snapshot.last_error
    if last is None:
        return prefix.rstrip(" ·")
    return prefix + options.show(f"last error {format_duration(now - last.at)} ago: {last.detail}")


# (label, width); width None takes what is left. Narrower terminals drop the latency detail first.
PROBE_LAYOUTS = (
    (150, (("Endpoint", 28), ("Probe", 15), ("State", 9), ("For", 7), ("Latency", 9), ("p50", 9), ("p95", 9),
           ("Trend", 17), ("Reason", None))),
    (110, (("Endpoint", 22), ("Probe", 15), ("State", 9), ("For", 7), ("Latency", 9), ("Trend", 17),
           ("Reason", None))),
    (0, (("Endpoint", 14), ("Probe", 15), ("State", 9), ("For", 7), ("Reason", None))),
)
PROGRAM_LAYOUTS = (
    (110, (("Supervisor", 22), ("Program", 18), ("State", 9), ("Pid", 8), ("Up", 8), ("Airflow", 18),
           ("Why", None))),
    (0, (("Supervisor", 12), ("Program", 14), ("State", 9), ("Up", 7), ("Airflow", 13), ("Why", None))),
)
COMPONENT_LAYOUTS = ((0, (("Endpoint", 14), ("Component", 14), ("Status", 20), ("Heartbeat", 12),
                          ("Threshold", None))),)
MIN_REST = 10
RIGHT = {"For", "Latency", "p50", "p95", "Pid", "Up", "Heartbeat"}


def layout_for(layouts, width: int, without: Sequence[str] = ()) -> list[tuple[str, int]]:
    """Fixed column widths for ``width`` cells (cell padding 0: each width includes a trailing gap)."""
    columns = [c for c in next(cols for least, cols in layouts if width >= least) if c[0] not in without]
    fixed = sum(w for _, w in columns if w is not None)
    return [(label, w if w is not None else max(MIN_REST, width - fixed)) for label, w in columns]


def fit(cell: Text, width: int, justify: str = "left") -> Text:
    """One cell cut to ``width - 1`` cells with an ellipsis, leaving a one-cell gap before the next column."""
    cell.no_wrap = True
    cell.truncate(max(1, width - 1), overflow="ellipsis")
    if justify == "right":
        cell.pad_left(max(0, width - 1 - cell.cell_len))
    return cell


def row(cells: Mapping[str, Text], columns: Sequence[tuple[str, int]]) -> list[Text]:
    """The cells of one table row in ``columns`` order, each fitted to its width."""
    return [fit(cells.get(label, Text("")).copy(), width, "right" if label in RIGHT else "left")
            for label, width in columns]


def probe_cells(snapshot: ProbeSnapshot, now: float, options: HealthViewOptions, palette: Palette) -> dict[str, Text]:
    """Every probe column by label; a value not refreshed for two intervals is grey and says how old it is."""
    key = snapshot.key
    stale = stale_age(snapshot, now, options) is not None
    muted = palette.get("muted", Style())
    tone = muted if stale else palette.get(state_tone(snapshot.state), Style())
    probe = "ping/status" if key.is_remsvc else "programs" if key.is_supervisor else key.probe
    detail = reason_words(snapshot, now, options)
    if key.is_remsvc and snapshot.command_rate is not None and snapshot.state is not State.DOWN:
        rate = f"{snapshot.command_rate:.2f} cmd/s"
        detail = f"{rate} · {detail}" if detail else rate
    reason_style = muted if stale or snapshot.state in (State.UP, State.ABSENT) else palette.get("down", Style())
    return {
        "Endpoint": Text(options.show(key.endpoint)),
        "Probe": Text(probe),
        "State": Text(snapshot.state.value.upper(), style=tone),
        "For": Text(format_duration(snapshot.time_in_state(now))),
        "Latency": Text(ms(snapshot.latency_s), style=muted if stale else ""),
        "p50": Text(ms(snapshot.p50_s), style=muted),
        "p95": Text(ms(snapshot.p95_s), style=muted),
        "Trend": Text(sparkline(snapshot.latencies_s), style=tone),
        "Reason": Text(detail, style=reason_style),
    }


def component_cells(endpoint: str, c: ComponentHealth, options: HealthViewOptions, palette: Palette) -> dict[str, Text]:
    """Endpoint, component, status, heartbeat age (coloured against the threshold), threshold."""
    tone = palette.get(heartbeat_tone(c), Style())
    status = "not running" if c.status is None else options.show(c.status)
    if c.stopped:
        status += ": job ended"
    if c.heartbeat_age_s is None:
        age = "-"
    else:
        age = format_duration(c.heartbeat_age_s) + (" STALE" if c.stale else "")
    threshold = "-" if c.threshold_s is None else f"{c.threshold_s:g}s"
    return {
        "Endpoint": Text(options.show(endpoint)),
        "Component": Text(options.show(c.name)),
        "Status": Text(status, style=tone),
        "Heartbeat": Text(age, style=tone),
        "Threshold": Text(threshold, style=palette.get("muted", Style())),
    }


def component_status(snapshots: Sequence[ProbeSnapshot], component: str, options: HealthViewOptions) -> tuple[str, str]:
    """What the Airflow monitor says about ``component`` (``api_server``: the monitor probe), and its tone."""
    monitors = [s for s in snapshots if s.key.probe == "monitor"]
    if component == "api_server":
        if not monitors:
            return "", "muted"
        return f"API {monitors[0].state.value.upper()}", state_tone(monitors[0].state)
    for s in monitors:
        c = s.result.component(component)
        if c is None:
            continue
        if c.status is None:
            return "not running", "absent"
        age = "" if c.heartbeat_age_s is None else f" {format_duration(c.heartbeat_age_s)}"
        word = "STALE" if c.stale else "job ended" if c.stopped else options.show(c.status)
        return f"{word}{age}", heartbeat_tone(c)
    return "", "muted"


def program_cells(supervisor: str, p: ProgramStatus, airflow: tuple[str, str], options: HealthViewOptions,
                  palette: Palette) -> dict[str, Text]:
    """Every program column by label: supervisord's state name coloured by the console's state."""
    tone = palette.get(state_tone(p.state), Style())
    words, airflow_tone = airflow
    why = p.why or p.description
    return {
        "Supervisor": Text(options.show(supervisor)),
        "Program": Text(options.show(p.name)),
        "State": Text(p.statename, style=tone),
        "Pid": Text(str(p.pid) if p.pid else "-"),
        "Up": Text(format_duration(p.uptime_s) if p.uptime_s is not None else "-"),
        "Airflow": Text(words, style=palette.get(airflow_tone, Style())),
        "Why": Text(options.show(why), style=palette.get("muted", Style()) if p.state is State.UP else tone),
    }


def transition_text(t: Transition, options: HealthViewOptions, palette: Palette) -> Text:
    """``12:03:04  api-a  monitor dag_processor: healthy → unhealthy (...)``, coloured by the new state."""
    after = (t.after or "").lower()
    if after in ("up", "healthy", "fresh", "running"):
        tone = "up"
    elif after in ("down", "unhealthy", "stale", "fatal", "exited", "stopped", "unknown"):
        tone = "down"
    else:
        tone = "degraded"
    text = Text(datetime.fromtimestamp(t.at).strftime("%H:%M:%S"), style=palette.get("muted", Style()))
    text.append(f"  {options.show(t.key.endpoint)}  ")
    text.append(options.show(t.describe()), style=palette.get(tone, Style()))
    return text

"""Assemble a ready-to-run watcher from URLs, supervisord addresses and targets: what the CLI and the Health pane both call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..remsvc.model import Target
from .http_probes import AirflowEndpoint, HttpSettings, TokenGetter
from .poller import DEFAULT_INTERVAL, HealthPoller, ProbeUpdated
from .probes import Probe
from .remsvc_probes import RemSvcProbe
from .supervisor_address import SupervisorAddress
from .supervisor_probe import SupervisorProbe


def airflow_probes(
    url: str,
    *,
    http: HttpSettings | None = None,
    token: TokenGetter | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> list[Probe]:
    """The four probes of one API server, sharing one pooled client."""
    return list(AirflowEndpoint(url, settings=http, token=token, thresholds=thresholds).probes())


def build_poller(
    api_urls: Sequence[str] = (),
    targets: Sequence[Target] = (),
    *,
    supervisors: Sequence[SupervisorAddress] = (),
    interval: float = DEFAULT_INTERVAL,
    http: HttpSettings | None = None,
    token: TokenGetter | None = None,
    thresholds: Mapping[str, float] | None = None,
    remsvc_timeout: float = 5.0,
    on_event: Callable[[ProbeUpdated], None] | None = None,
    **poller_options,
) -> HealthPoller:
    """A poller over every API server's probes, every supervisord's, then every RemSvc target's; not started."""
    probes: list[Probe] = []
    for url in api_urls:
        probes.extend(airflow_probes(url, http=http, token=token, thresholds=thresholds))
    probes.extend(SupervisorProbe(a, timeout=remsvc_timeout) for a in supervisors)
    probes.extend(RemSvcProbe(t, timeout=remsvc_timeout) for t in targets)
    return HealthPoller(probes, interval=interval, on_event=on_event, **poller_options)

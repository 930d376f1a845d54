"""Probes of one Airflow API server: /dag-processing/health, /api/v2/monitor/health, /execution/health, version.

One pooled ``httpx.AsyncClient`` per base URL (proxies from the environment, TLS with an optional CA
bundle) with explicit connect and read timeouts, a deadline for the whole exchange, and bodies
streamed with a size cap applied after inflating gzip/deflate (a misbehaving proxy can answer with
megabytes, a small gzip body can inflate to gigabytes). Status codes are never trusted alone: a 200 with
Airflow's HTML page means the app is not mounted, and a 200 from the monitor endpoint can carry
unhealthy components.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

import httpx

from ..safetext import first_line, inert
from .deadline import within
from .probes import Probe
from .results import ComponentHealth, ProbeKey, ProbeResult, Reason, State

DEFAULT_BODY_CAP = 1 << 20
DEFAULT_THRESHOLD_S = 30.0
MONITOR_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")

PATHS = {
    "dag_processing": "/dag-processing/health",
    "monitor": "/api/v2/monitor/health",
    "execution": "/execution/health",
    "version": "/api/v2/version",
}

TokenGetter = Callable[[], "str | None"]
_HEADERS = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "remsvc-console-health"}


@dataclass(frozen=True)
class Reply:
    """A complete, size-capped response; header names are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    latency_s: float


class BodyTooLarge(Exception):
    def __init__(self, announced: int | None):
        super().__init__(f"body larger than the cap ({announced or 'unannounced'})")
        self.announced = announced


class _Decoder:
    """gzip/deflate bodies inflated with the cap applied to the *inflated* size (no zip bombs)."""

    def __init__(self, encoding: str):
        self.identity = encoding in ("", "identity")
        if self.identity:
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise httpx.DecodingError(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes, room: int) -> bytes:
        if self.identity:
            return data
        try:
            return self._z.decompress(data, room + 1)
        except zlib.error as exc:
            raise httpx.DecodingError(f"corrupt compressed body: {exc}") from None


@dataclass(frozen=True)
class HttpSettings:
    """Per-endpoint transport limits; the overall deadline is connect + read."""

    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    body_cap: int = DEFAULT_BODY_CAP
    ca_cert: str | None = None

    @property
    def deadline(self) -> float:
        return self.connect_timeout + self.read_timeout


def normalize_base_url(url: str) -> str:
    """``host:port`` gets ``http://``; a trailing slash is dropped. Raises ValueError for a URL httpx cannot use."""
    text = url.strip()
    if not text:
        raise ValueError("empty API URL")
    if "://" not in text:
        text = "http://" + text
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or any(
            c.isspace() for c in text):
        raise ValueError(f"not an http(s) URL: {inert(url, keep_newlines=False)}")
    return text.rstrip("/")


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify_transport_error(exc: BaseException, settings: HttpSettings) -> tuple[Reason, str]:
    """Name what went wrong below HTTP in words an operator can act on."""
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        waited = _seconds(settings.read_timeout)
        return Reason.TIMEOUT, f"no response within {waited} (connected; server silent or too slow)"
    if isinstance(exc, asyncio.TimeoutError):
        return Reason.TIMEOUT, f"no complete response within {_seconds(settings.deadline)}"
    if isinstance(exc, httpx.ConnectTimeout):
        return Reason.CONNECT_TIMEOUT, f"no connection within {_seconds(settings.connect_timeout)}"
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or "certificate verify failed"
            return Reason.TLS_ERROR, f"TLS certificate not trusted: {why} (wrong CA? pass --ca-cert)"
        if isinstance(cause, ssl.SSLError):
            if "WRONG_VERSION_NUMBER" in str(cause) or cause.reason == "WRONG_VERSION_NUMBER":
                return Reason.TLS_ERROR, "TLS handshake failed: the server does not speak TLS (use http://?)"
            return Reason.TLS_ERROR, f"TLS handshake failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return Reason.REFUSED, "connection refused (nothing listening)"
        if isinstance(cause, socket.gaierror):
            return Reason.UNREACHABLE, "cannot resolve host name"
    if isinstance(exc, httpx.ConnectError):
        text = first_line(str(exc), 120) or type(exc).__name__
        return Reason.UNREACHABLE, f"cannot connect: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return Reason.PROTOCOL_ERROR, f"not a valid HTTP response: {first_line(str(exc), 120) or 'connection closed'}"
    if isinstance(exc, httpx.DecodingError):
        return Reason.PROTOCOL_ERROR, f"cannot decode the body: {first_line(str(exc), 120)}"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return Reason.PROTOCOL_ERROR, "connection reset while reading the response"
    return Reason.ERROR, f"{type(exc).__name__}: {first_line(str(exc), 120)}"


def _looks_html(reply: Reply) -> bool:
    ctype = reply.headers.get("content-type", "").lower()
    head = reply.body[:256].lstrip().lower()
    return "html" in ctype or head.startswith(b"<")


def _status_words(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _excerpt(body: bytes, limit: int = 80) -> str:
    return first_line(body[:1024].decode("utf-8", errors="replace"), limit)


def parse_heartbeat(value: Any) -> datetime | None:
    """Airflow's ISO timestamps; naive ones are UTC. Anything unparsable is treated as absent."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _heartbeat_of(body: Mapping[str, Any]) -> Any:
    for field, value in body.items():
        if isinstance(field, str) and field.startswith("latest_") and field.endswith("heartbeat"):
            return value
    return None


def interpret_monitor(
    key: ProbeKey, doc: Any, *, at: float, thresholds: Mapping[str, float], latency_s: float, http_status: int
) -> ProbeResult:
    """Per-component truth from the monitor JSON: an unhealthy component makes the probe DEGRADED."""
    if not isinstance(doc, dict) or not any(isinstance(doc.get(name), dict) for name in MONITOR_COMPONENTS):
        return ProbeResult(key, State.DOWN, Reason.UNEXPECTED_BODY,
                           "JSON without metadatabase/scheduler/triggerer/dag_processor: not an Airflow monitor reply",
                           at, latency_s, http_status)
    names = [n for n in MONITOR_COMPONENTS if n in doc] + sorted(
        n for n, v in doc.items() if n not in MONITOR_COMPONENTS and isinstance(n, str) and isinstance(v, dict))
    components = []
    for name in names:
        body = doc[name] if isinstance(doc[name], dict) else {}
        status = body.get("status")
        status = inert(str(status), keep_newlines=False)[:40] if status is not None else None
        heartbeat = parse_heartbeat(_heartbeat_of(body))
        age = max(0.0, at - heartbeat.timestamp()) if heartbeat else None
        threshold = None if name == "metadatabase" else thresholds.get(name, DEFAULT_THRESHOLD_S)
        components.append(ComponentHealth(inert(name, keep_newlines=False)[:40], status, heartbeat, age, threshold))
    unhealthy = [c for c in components if c.state is State.DOWN]
    if unhealthy:
        words = "; ".join(_component_words(c) for c in unhealthy)
        return ProbeResult(key, State.DEGRADED, Reason.UNHEALTHY, words, at, latency_s, http_status, tuple(components))
    healthy = [c.name for c in components if c.state is State.UP]
    absent = [c.name for c in components if c.state is State.ABSENT]
    detail = f"{', '.join(healthy) or 'nothing'} healthy"
    if absent:
        detail += f"; {', '.join(absent)} not running"
    return ProbeResult(key, State.UP, Reason.OK, detail, at, latency_s, http_status, tuple(components))


def _component_words(c: ComponentHealth) -> str:
    if c.stopped:
        return f"{c.name} {c.status}: its job is no longer running (stopped; last heartbeat {_seconds(c.heartbeat_age_s)} ago)"
    if c.heartbeat_age_s is None:
        return f"{c.name} {c.status} (no heartbeat)" if c.name != "metadatabase" else f"{c.name} {c.status}"
    limit = f", threshold {_seconds(c.threshold_s)}" if c.threshold_s is not None else ""
    return f"{c.name} {c.status} (heartbeat {_seconds(c.heartbeat_age_s)} old{limit})"


def interpret_status_doc(key: ProbeKey, doc: Any, *, at: float, latency_s: float, http_status: int,
                         api_version: str | None = None) -> ProbeResult:
    """``{"status": "healthy"}`` is UP; any other status is DOWN; anything else is not this API."""
    status = doc.get("status") if isinstance(doc, dict) else None
    if status == "healthy":
        detail = "healthy" + (f", API version {api_version}" if api_version else "")
        return ProbeResult(key, State.UP, Reason.OK, detail, at, latency_s, http_status, api_version=api_version)
    if isinstance(status, str):
        words = inert(status, keep_newlines=False)[:60]
        return ProbeResult(key, State.DOWN, Reason.UNHEALTHY, f"reports status {words!r}", at, latency_s,
                           http_status, api_version=api_version)
    return ProbeResult(key, State.DOWN, Reason.UNEXPECTED_BODY, 'JSON without a "status" field', at, latency_s,
                       http_status, api_version=api_version)


def interpret_version(key: ProbeKey, doc: Any, *, at: float, latency_s: float, http_status: int) -> ProbeResult:
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version:
        return ProbeResult(key, State.DOWN, Reason.UNEXPECTED_BODY, 'JSON without a "version" field', at,
                           latency_s, http_status)
    version = inert(version, keep_newlines=False)[:60]
    git = doc.get("git_version")
    git = inert(git, keep_newlines=False)[:100] if isinstance(git, str) and git else None
    return ProbeResult(key, State.UP, Reason.OK, f"Airflow {version}", at, latency_s, http_status,
                       version=version, git_version=git)


@functools.lru_cache(maxsize=16)
def tls_context(ca_cert: str | None) -> ssl.SSLContext:
    """One verifying context per CA file, shared by every endpoint: loading a CA bundle costs milliseconds."""
    if ca_cert:
        return ssl.create_default_context(cafile=ca_cert)
    return httpx.create_ssl_context()


class PooledClient:
    """One pooled httpx client per peer, made on first use and closed with the peer's watch."""

    _client: httpx.AsyncClient | None = None

    def _make_client(self) -> httpx.AsyncClient:
        raise NotImplementedError

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class AirflowEndpoint(PooledClient):
    """One Airflow API server: a pooled client shared by its four probes.

    ``token`` is called on every request so a rotated token file is picked up; the token is
    redacted from any text a probe reports.
    """

    def __init__(
        self,
        base_url: str,
        *,
        settings: HttpSettings | None = None,
        token: TokenGetter | None = None,
        thresholds: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.base_url = normalize_base_url(base_url)
        self.settings = settings or HttpSettings()
        self.thresholds = dict(thresholds or {})
        self._token = token
        self._clock = clock

    def probes(self, names: tuple[str, ...] = tuple(PATHS)) -> list[HttpProbe]:
        return [HttpProbe(self, name) for name in names]

    def _make_client(self) -> httpx.AsyncClient:
        s = self.settings
        return httpx.AsyncClient(
            timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            verify=tls_context(s.ca_cert),
            follow_redirects=False,
            headers=_HEADERS,
        )

    def _redact(self, text: str) -> str:
        token = self._token() if self._token else None
        return text.replace(token, "***") if token and len(token) >= 4 else text

    async def _read(self, path: str) -> Reply:
        """GET with the whole exchange bounded by connect + read timeout: a trickling server cannot hold a poll."""
        token = self._token() if self._token else None
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return await within(self.settings.deadline, self._get(self.base_url + path, headers))

    async def _get(self, url: str, headers: Mapping[str, str] | None) -> Reply:
        try:
            return await self._stream(url, headers)
        except httpx.RemoteProtocolError as exc:
            # A pooled connection the server closed while idle: nothing of the response came back,
            # so one retry on a fresh connection is safe for a GET.
            if "without sending a response" not in str(exc):
                raise
        return await self._stream(url, headers)

    async def _stream(self, url: str, headers: Mapping[str, str] | None) -> Reply:
        cap = self.settings.body_cap
        start = time.perf_counter()
        async with self.client.stream("GET", url, headers=headers) as response:
            decoder = _Decoder(response.headers.get("content-encoding", "").strip().lower())
            announced = response.headers.get("content-length", "")
            if decoder.identity and announced.isdigit() and int(announced) > cap:
                raise BodyTooLarge(int(announced))
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += decoder.feed(chunk, cap - len(body))
                if len(body) > cap:
                    raise BodyTooLarge(None)
            headers = {name.lower(): value for name, value in response.headers.items()}
            return Reply(response.status_code, headers, bytes(body), time.perf_counter() - start)

    async def fetch(self, key: ProbeKey) -> Reply | ProbeResult:
        """GET the probe's path; a transport failure, an HTTP error or an oversized body is a ProbeResult."""
        at = self._clock()
        start = time.perf_counter()
        try:
            reply = await self._read(PATHS[key.probe])
        except BodyTooLarge as too_large:
            size = f"{too_large.announced:,} bytes announced" if too_large.announced else "body kept coming"
            return ProbeResult(key, State.DOWN, Reason.BODY_TOO_LARGE,
                               f"response larger than the {self.settings.body_cap:,}-byte cap ({size})",
                               at, time.perf_counter() - start)
        except (httpx.HTTPError, asyncio.TimeoutError, OSError, ssl.SSLError) as exc:
            reason, detail = classify_transport_error(exc, self.settings)
            return ProbeResult(key, State.DOWN, reason, self._redact(detail), at, None)
        if 200 <= reply.status < 300:
            return reply
        return self._http_failure(key, reply, at)

    def _http_failure(self, key: ProbeKey, reply: Reply, at: float) -> ProbeResult:
        code, words = reply.status, _status_words(reply.status)
        path = PATHS[key.probe]
        if code == 404:
            reason, detail = Reason.NOT_FOUND, f"{words}: nothing at {path} on this server"
        elif code in (401, 403):
            has_token = bool(self._token and self._token())
            hint = "the bearer token was rejected" if has_token else "needs a bearer token (--token-file)"
            reason, detail = Reason.UNAUTHORIZED, f"{words}: {hint}"
        elif 300 <= code < 400:
            location = inert(reply.headers.get("location", "?"), keep_newlines=False)[:120]
            reason, detail = Reason.HTTP_ERROR, f"{words}: redirected to {location} (wrong base URL?)"
        else:
            excerpt = "" if _looks_html(reply) else _excerpt(reply.body)
            reason = Reason.SERVER_ERROR if code >= 500 else Reason.HTTP_ERROR
            detail = f"{words}" + (f": {excerpt}" if excerpt else "")
        return ProbeResult(key, State.DOWN, reason, self._redact(detail), at, reply.latency_s, code)

    def _json(self, key: ProbeKey, reply: Reply, at: float) -> Any | ProbeResult:
        if _looks_html(reply):
            mounted = "dag-processing API" if key.probe == "dag_processing" else PATHS[key.probe]
            return ProbeResult(key, State.ABSENT, Reason.NOT_MOUNTED,
                               f"{mounted} not mounted on this server ({reply.status} with an HTML page)",
                               at, reply.latency_s, reply.status)
        try:
            return json.loads(reply.body)
        except ValueError:
            excerpt = _excerpt(reply.body, 60)
            detail = f"{reply.status} but the body is not JSON" + (f": {excerpt}" if excerpt else " (empty body)")
            return ProbeResult(key, State.DOWN, Reason.INVALID_JSON, self._redact(detail), at, reply.latency_s,
                               reply.status)

    async def check(self, key: ProbeKey) -> ProbeResult:
        fetched = await self.fetch(key)
        if isinstance(fetched, ProbeResult):
            return fetched
        at = self._clock()
        doc = self._json(key, fetched, at)
        if isinstance(doc, ProbeResult):
            return doc
        common = dict(at=at, latency_s=fetched.latency_s, http_status=fetched.status)
        if key.probe == "monitor":
            return interpret_monitor(key, doc, thresholds=self.thresholds, **common)
        if key.probe == "version":
            return interpret_version(key, doc, **common)
        api_version = fetched.headers.get("airflow-api-version") if key.probe == "execution" else None
        if api_version is not None:
            api_version = inert(api_version, keep_newlines=False)[:40]
        return interpret_status_doc(key, doc, api_version=api_version, **common)


class HttpProbe(Probe):
    """One of an endpoint's four checks; the version is fetched once per connection, not every poll."""

    def __init__(self, endpoint: AirflowEndpoint, name: str):
        if name not in PATHS:
            raise ValueError(f"unknown Airflow probe {name!r} (known: {', '.join(PATHS)})")
        self.endpoint = endpoint
        self.key = ProbeKey(endpoint.base_url, name)
        self.periodic = name != "version"

    async def check(self) -> ProbeResult:
        return await self.endpoint.check(self.key)

    async def aclose(self) -> None:
        await self.endpoint.aclose()

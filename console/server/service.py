"""The embedded RemSvc server: service ``RS.RemSvc`` on grpc.aio, for loopback use, demos and tests.

It behaves like the RemSvc servers in the field (see the measured facts in the seeds README): a
stream's commands run one at a time in arrival order, each in its own child process; responses
echo ``tid`` and ``hsh``; a wrong ``hsh`` ends the stream with INVALID_ARGUMENT; a command hitting
the deny/allow list ends it with PERMISSION_DENIED; with ``[auth]`` set every RemSvc method needs
``Authorization: Bearer <token>``. The standard ``grpc.health.v1`` service stays open.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from ..remsvc._pb import remsvc_pb2, remsvc_pb2_grpc
from ..remsvc.model import command_hash
from ..safetext import inert
from .config import ConfigError, ServerConfig, TlsConfig
from .executor import run_command

log = logging.getLogger("console.server")

SERVICE_NAME = "RS.RemSvc"
HASH_MISMATCH = "hash mismatch: command integrity check failed"
MISSING_AUTH = "missing Authorization header"
INVALID_TOKEN = "invalid bearer token"
WRONG_SCHEME = "Authorization header must use 'Bearer' scheme"
_BEARER = "Bearer "
_LOG_CMD_CHARS = 120


class ServerStartError(RuntimeError):
    """The server could not start (address in use, unusable certificates); one line for the operator."""


class RemSvcServicer(remsvc_pb2_grpc.RemSvcServicer):
    """``RS.RemSvc`` backed by child processes; counts answered commands for GetStatus."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._timeout_s = config.cmd_timeout_s
        self._started = time.monotonic()
        self.commands = 0

    async def Ping(self, request: remsvc_pb2.PingMsg, context: grpc.aio.ServicerContext) -> remsvc_pb2.PongMsg:
        """Echo ``seq`` and ``data``; ``time`` is the server's clock in milliseconds since the epoch."""
        await self._authenticate(context, "Ping")
        return remsvc_pb2.PongMsg(seq=request.seq, data=request.data, time=time.time_ns() // 1_000_000)

    async def GetStatus(self, request: remsvc_pb2.Empty, context: grpc.aio.ServicerContext) -> remsvc_pb2.StatusMsg:
        await self._authenticate(context, "GetStatus")
        return remsvc_pb2.StatusMsg(rc=0, msg=self.status_message())

    def status_message(self) -> str:
        uptime = int(time.monotonic() - self._started)
        return f"state=OK uptime={uptime}s commands={self.commands}"

    async def RemCmd(self, request: remsvc_pb2.RemCmdMsg, context: grpc.aio.ServicerContext) -> remsvc_pb2.RemResMsg:
        identity = await self._authenticate(context, "RemCmd")
        await self._admit(request, context, identity)
        return await self._execute(request, identity)

    async def RemCmdStrm(self, request_iterator, context: grpc.aio.ServicerContext):
        """Run the stream's commands strictly one after another, answering each before reading on."""
        identity = await self._authenticate(context, "RemCmdStrm")
        answered = 0
        async for request in request_iterator:
            await self._admit(request, context, identity)
            yield await self._execute(request, identity)
            answered += 1
        log.info("stream from %s as %s ended after %d command(s)", context.peer(), identity, answered)

    async def _authenticate(self, context: grpc.aio.ServicerContext, method: str) -> str:
        """Return the caller's identity or abort UNAUTHENTICATED; the token itself is never logged."""
        if not self._config.auth_enabled:
            if method.startswith("RemCmd"):
                log.info("%s from %s", method, context.peer())
            return "anonymous"
        header = next((value for key, value in context.invocation_metadata() or () if key == "authorization"), None)
        if header is None:
            await self._reject(context, method, MISSING_AUTH)
        if not isinstance(header, str) or not header.startswith(_BEARER):
            await self._reject(context, method, WRONG_SCHEME)
        identity = self._config.identity_for(header[len(_BEARER):].strip())
        if identity is None:
            await self._reject(context, method, INVALID_TOKEN)
        log.info("%s from %s as %s", method, context.peer(), identity)
        return identity

    async def _reject(self, context: grpc.aio.ServicerContext, method: str, reason: str) -> None:
        log.warning("%s from %s rejected: %s", method, context.peer(), reason)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

    async def _admit(self, request: remsvc_pb2.RemCmdMsg, context: grpc.aio.ServicerContext, identity: str) -> None:
        """Abort the call when the command's hash is wrong or a deny/allow rule refuses it."""
        if request.hsh and request.hsh != command_hash(request.cmd):
            log.warning("tid=%d from %s: %s", request.tid, identity, HASH_MISMATCH)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, HASH_MISMATCH)
        reason = self._config.deny_reason(request.cmd)
        if reason is not None:
            log.warning("tid=%d from %s: %s", request.tid, identity, _loggable(reason))
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)

    async def _execute(self, request: remsvc_pb2.RemCmdMsg, identity: str) -> remsvc_pb2.RemResMsg:
        started = time.monotonic()
        result = await run_command(request.cmd, request.cmdtyp, request.cmdusr, self._timeout_s)
        self.commands += 1
        if result.timed_out:
            log.warning("tid=%d src=%s as %s timed out after %d ms and was killed: %s", request.tid,
                        _loggable(request.src), identity, self._config.cmd_timeout_ms, _loggable(request.cmd))
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("tid=%d src=%s as %s rc=%d in %.1f ms: %s", request.tid, _loggable(request.src), identity,
                      result.rc, (time.monotonic() - started) * 1000, _loggable(request.cmd))
        return remsvc_pb2.RemResMsg(rc=result.rc, tid=request.tid, out=result.out, err=result.err, hsh=request.hsh)


@dataclass
class RunningServer:
    """A started server: where it listens, and how to stop it."""

    host: str
    port: int
    config: ServerConfig
    servicer: RemSvcServicer
    _server: grpc.aio.Server = field(repr=False)
    _health: health_aio.HealthServicer = field(repr=False)

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def stop(self, grace: float | None = 5.0) -> None:
        """Report NOT_SERVING, refuse new calls, give running ones ``grace`` seconds, then cancel them."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


async def start_server(config: ServerConfig, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start serving on ``host:port`` (port 0 picks a free one); raise ConfigError or ServerStartError."""
    config.check_startable()
    credentials = _server_credentials(config) if config.tls.enabled else None
    # SO_REUSEPORT off: a second server on a busy port must fail, not silently share it.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    servicer = RemSvcServicer(config)
    remsvc_pb2_grpc.add_RemSvcServicer_to_server(servicer, server)
    health = health_aio.HealthServicer()
    await health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_secure_port(bind, credentials) if credentials else server.add_insecure_port(bind)
    except RuntimeError as exc:
        raise ServerStartError(f"cannot listen on {bind}: {exc}") from None
    if not bound:
        raise ServerStartError(f"cannot listen on {bind}: address in use or not available")
    await server.start()
    log.info("serving RS.RemSvc on %s:%d (tls=%s, auth=%s, cmd_timeout_ms=%d)", host, bound,
             "mutual" if config.tls.requires_client_cert else config.tls.enabled,
             "bearer" if config.auth_enabled else "off", config.cmd_timeout_ms)
    return RunningServer(host, bound, config, servicer, server, health)


def _server_credentials(config: ServerConfig) -> grpc.ServerCredentials:
    tls = config.tls
    try:
        key, cert = tls.key.read_bytes(), tls.cert.read_bytes()
        ca = tls.ca.read_bytes() if tls.ca is not None else None
    except OSError as exc:
        raise ConfigError(f"cannot read TLS file {exc.filename}: {exc.strerror}") from None
    for label, pem in (("cert", cert), ("key", key), ("ca", ca)):
        if pem is not None and b"-----BEGIN " not in pem:
            raise ConfigError(f"[tls] {label} is not a PEM file")
    _check_tls_files(tls)
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def _check_tls_files(tls: TlsConfig) -> None:
    """Load the files with OpenSSL first: gRPC would only say "failed to bind" for a bad pair."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"[tls] cert {tls.cert} and key {tls.key} do not load as a pair: {exc.args[-1]}") from None
    if tls.ca is not None:
        try:
            context.load_verify_locations(cafile=tls.ca)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"[tls] ca {tls.ca} is not a usable CA certificate: {exc.args[-1]}") from None


def _loggable(text: str) -> str:
    text = inert(text, keep_newlines=False)
    return text if len(text) <= _LOG_CMD_CHARS else text[: _LOG_CMD_CHARS - 1] + "…"

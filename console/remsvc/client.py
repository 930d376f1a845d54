"""Async RemSvc client over grpc.aio: Ping, GetStatus, RemCmd and the RemCmdStrm dispatch."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from ._pb import remsvc_pb2
from .errors import RemSvcError, describe, from_rpc_error
from .model import Command, CommandResult, StreamStatus, Target
from .stream import StreamCall
from .wire import METHOD_PING, METHOD_REMCMD, METHOD_STATUS, Undecodable, deserialize_result, encode_command, to_result

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_UPTIME = re.compile(r"uptime=(\d+(?:\.\d+)?)s")
_COMMANDS = re.compile(r"commands=(\d+)")


@dataclass(frozen=True)
class ServerStatus:
    rc: int
    msg: str
    uptime_s: float | None
    commands: int | None

    @classmethod
    def parse(cls, rc: int, msg: str) -> ServerStatus:
        uptime = _UPTIME.search(msg)
        commands = _COMMANDS.search(msg)
        return cls(
            rc=rc,
            msg=msg,
            uptime_s=float(uptime.group(1)) if uptime else None,
            commands=int(commands.group(1)) if commands else None,
        )


def call_metadata(target: Target, extra: Sequence[tuple[str, str]] = ()) -> tuple[tuple[str, str], ...]:
    """User metadata plus the bearer token; the connection's authorization wins over a user's."""
    if not target.bearer_token:
        return tuple(extra)
    kept = tuple((k, v) for k, v in extra if k.lower() != "authorization")
    return (*kept, ("authorization", f"Bearer {target.bearer_token}"))


def open_channel(target: Target) -> grpc.aio.Channel:
    """A channel for the target's transport: insecure, TLS with system roots, or TLS with a CA file."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 0),
    ]
    if not target.use_ssl:
        return grpc.aio.insecure_channel(target.address, options=options)
    roots = None
    if target.ca_cert_path:
        try:
            with open(target.ca_cert_path, "rb") as fh:
                roots = fh.read()
        except OSError as exc:
            raise RemSvcError(
                target,
                StreamStatus.UNAVAILABLE,
                describe(target, f"cannot read CA certificate {target.ca_cert_path}: {exc.strerror or exc}"),
            ) from None
    return grpc.aio.secure_channel(target.address, grpc.ssl_channel_credentials(root_certificates=roots), options=options)


class RemSvcClient:
    """One target's channel and calls; use as ``async with RemSvcClient(target) as client``."""

    def __init__(self, target: Target, *, metadata: Sequence[tuple[str, str]] = (), connect_timeout: float = 10.0):
        self.target = target
        self.connect_timeout = connect_timeout
        self._metadata = call_metadata(target, metadata)
        self._channel: grpc.aio.Channel | None = None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata every call carries (the bearer token among it)."""
        return self._metadata

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = open_channel(self.target)
        return self._channel

    async def __aenter__(self) -> RemSvcClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    def _check_token(self) -> None:
        if self.target.token_problem:
            raise RemSvcError(self.target, StreamStatus.ERROR, describe(self.target, self.target.token_problem))

    async def _unary(self, method: str, request, deserializer, timeout: float | None):
        self._check_token()
        call = self.channel.unary_unary(
            method, request_serializer=lambda m: m.SerializeToString(), response_deserializer=deserializer
        )
        try:
            return await call(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(self.target, err, timeout=timeout) from None

    async def ping(self, *, timeout: float = 5.0) -> float:
        """Round-trip seconds of one ``Ping``."""
        sent_ns = time.time_ns()
        start = time.perf_counter()
        await self._unary(
            METHOD_PING, remsvc_pb2.PingMsg(seq=1, time=sent_ns, data="remsvc-console"),
            remsvc_pb2.PongMsg.FromString, timeout,
        )
        return time.perf_counter() - start

    async def get_status(self, *, timeout: float = 5.0) -> ServerStatus:
        reply = await self._unary(METHOD_STATUS, remsvc_pb2.Empty(), remsvc_pb2.StatusMsg.FromString, timeout)
        return ServerStatus.parse(reply.rc, reply.msg)

    async def rem_cmd(self, command: Command, *, timeout: float | None = None, tid: int = 1) -> CommandResult:
        """Run one command with the unary ``RemCmd`` call."""
        self._check_token()
        start = time.perf_counter()
        call = self.channel.unary_unary(METHOD_REMCMD, request_serializer=None, response_deserializer=deserialize_result)
        try:
            reply = await call(encode_command(command, tid), metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(self.target, err, timeout=timeout) from None
        if isinstance(reply, Undecodable):
            cause = f"protocol error: a reply of {reply.size} bytes is not a RemResMsg ({reply.reason})"
            raise RemSvcError(self.target, StreamStatus.PROTOCOL_ERROR, describe(self.target, cause))
        return to_result(self.target.name, reply, elapsed_s=time.perf_counter() - start)

    def stream(
        self, commands: Sequence[Command], *, timeout: float | None = None, sent_events: bool = True, **liveness: float
    ) -> StreamCall:
        """Dispatch ``commands`` over one ``RemCmdStrm``; iterate the returned call for events.

        ``sent_events=False`` leaves out the ``CommandSent`` events, for callers that only collect
        results; ``probe_after_s``/``probe_timeout_s`` tune the liveness pings of a quiet stream."""
        return StreamCall(self, list(commands), timeout=timeout, sent_events=sent_events, **liveness)

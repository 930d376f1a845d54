"""Turn gRPC failures into one clear line naming the target and the cause.

gRPC's own details strings are long and mention internals ("failed to connect to all addresses;
last error: UNKNOWN: ipv4:..."); an operator needs "connection refused" or "TLS handshake failed".
"""

from __future__ import annotations

import grpc

from ..safetext import inert
from .model import StreamStatus, Target

_CODE_STATUS = {
    grpc.StatusCode.PERMISSION_DENIED: StreamStatus.DENIED,
    grpc.StatusCode.UNAUTHENTICATED: StreamStatus.UNAUTHENTICATED,
    grpc.StatusCode.DEADLINE_EXCEEDED: StreamStatus.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNAVAILABLE: StreamStatus.UNAVAILABLE,
    grpc.StatusCode.CANCELLED: StreamStatus.CANCELLED,
}

_UNAVAILABLE_CAUSES = (
    ("certificate_verify_failed", "TLS handshake failed: server certificate not trusted (check ca_cert_path)"),
    ("wrong_version_number", "TLS handshake failed: the server does not speak TLS (is use_ssl wrong?)"),
    ("ssl handshake failed", "TLS handshake failed"),
    ("handshake", "TLS handshake failed"),
    ("connection refused", "connection refused"),
    ("dns resolution failed", "cannot resolve host name"),
    ("name or service not known", "cannot resolve host name"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("connection reset", "connection reset by the server"),
    ("socket closed", "connection closed by the server"),
    ("timeout occurred", "connection timed out"),
    ("deadline", "connection timed out"),
)
_CLOSED_CAUSES = ("connection closed by the server", "connection reset by the server")
TLS_HINT = "the server may expect TLS: set use_ssl in the connection's extras"


class RemSvcError(Exception):
    """A RemSvc call failed; ``str()`` is the one line shown to the operator."""

    def __init__(self, target: Target | str, status: StreamStatus, message: str, code: str | None = None):
        self.target = target.name if isinstance(target, Target) else target
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def status_for(code: grpc.StatusCode | None, details: str) -> StreamStatus:
    if code is grpc.StatusCode.INVALID_ARGUMENT and "hash mismatch" in details:
        return StreamStatus.HASH_REJECTED
    return _CODE_STATUS.get(code, StreamStatus.ERROR)


def cause_for(
    code: grpc.StatusCode | None, details: str, *, timeout: float | None = None, use_ssl: bool | None = None
) -> str:
    """A short human cause for a status code and its details string.

    ``use_ssl=False`` adds a hint when a plaintext client was hung up on, which is what a TLS
    server does to it.
    """
    details = inert(details or "", keep_newlines=False)
    if code is grpc.StatusCode.UNAVAILABLE:
        lowered = details.lower()
        for needle, cause in _UNAVAILABLE_CAUSES:
            if needle in lowered:
                if use_ssl is False and cause in _CLOSED_CAUSES:
                    return f"{cause} ({TLS_HINT})"
                return cause
        return f"unavailable: {details}" if details else "unavailable"
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"deadline exceeded after {timeout:g}s" if timeout else "deadline exceeded"
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return f"unauthenticated: {details}"
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied: {details}"
    if code is grpc.StatusCode.INVALID_ARGUMENT and "hash mismatch" in details:
        return f"command rejected: {details}"
    if code is grpc.StatusCode.CANCELLED:
        return "cancelled"
    name = code.name if code is not None else "UNKNOWN"
    return f"{name.lower()}: {details}" if details else name.lower()


def describe(target: Target, cause: str) -> str:
    """``name (address): cause``; name and address come from configuration and are made inert."""
    return f"{inert(target.name, keep_newlines=False)} ({inert(target.address, keep_newlines=False)}): {cause}"


def from_rpc_error(target: Target, err: grpc.RpcError, *, timeout: float | None = None) -> RemSvcError:
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else str(err)) or ""
    return RemSvcError(
        target,
        status_for(code, details),
        describe(target, cause_for(code, details, timeout=timeout, use_ssl=target.use_ssl)),
        code.name if code is not None else None,
    )

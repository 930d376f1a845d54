"""supervisord's XML-RPC API over httpx: one pooled client per instance, inet (basic auth) or unix socket.

Requests are encoded and replies decoded with the standard library's ``xmlrpc.client``; the transport
is httpx so timeouts, the response size cap and connection pooling work as for the HTTP probes. Every
failure is a ``SupervisorRpcError`` whose ``reason`` is one of the health ``Reason`` codes and whose
text never holds the password.
"""

from __future__ import annotations

import asyncio
import re
import socket
import xmlrpc.client
from typing import Any
from xml.parsers.expat import ExpatError

import httpx

from ..safetext import first_line
from .deadline import within
from .http_probes import PooledClient, tls_context
from .results import Reason
from .supervisor_address import SupervisorAddress

DEFAULT_BODY_CAP = 4 << 20
# supervisord copies a program's log bytes into its XML replies as they are, escape sequences
# included, which XML 1.0 forbids; they are replaced by their visible symbols (as inert text shows them).
_XML_ILLEGAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(body: bytes) -> bytes:
    if _XML_ILLEGAL.search(body) is None:
        return body
    return _XML_ILLEGAL.sub(lambda m: chr(0x2400 + m[0][0]).encode("utf-8"), body)


class SupervisorRpcError(Exception):
    """A call that did not return a value: unreachable, refused login, or an XML-RPC fault."""

    def __init__(self, reason: Reason, message: str, *, fault_code: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.fault_code = fault_code


def _transport_words(exc: BaseException, address: SupervisorAddress, timeout: float) -> tuple[Reason, str]:
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
        return Reason.TIMEOUT, f"no answer within {timeout:g} s"
    cause: BaseException | None = exc
    seen = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return Reason.REFUSED, "connection refused (supervisord not running?)"
        if isinstance(cause, FileNotFoundError) or (isinstance(cause, OSError) and cause.errno == 2):
            return Reason.REFUSED, f"no socket at {address.socket_path} (supervisord not running?)"
        if isinstance(cause, PermissionError):
            return Reason.UNAUTHORIZED, f"no permission to open {address.socket_path}"
        if isinstance(cause, socket.gaierror):
            return Reason.UNREACHABLE, "cannot resolve host name"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return Reason.UNREACHABLE, f"cannot connect: {first_line(str(exc), 120) or type(exc).__name__}"
    if isinstance(exc, httpx.HTTPError):
        return Reason.PROTOCOL_ERROR, f"not a valid HTTP response: {first_line(str(exc), 120) or type(exc).__name__}"
    return Reason.ERROR, f"{type(exc).__name__}: {first_line(str(exc), 120)}"


class SupervisorRpc(PooledClient):
    """Calls methods of one supervisord; ``await rpc.call("supervisor.getState")``."""

    def __init__(self, address: SupervisorAddress, *, timeout: float = 5.0, connect_timeout: float = 3.0,
                 body_cap: int = DEFAULT_BODY_CAP):
        self.address = address
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.body_cap = body_cap

    def _make_client(self) -> httpx.AsyncClient:
        unix = self.address.socket_path is not None
        return httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=self.address.socket_path) if unix else None,
            auth=self.address.auth,
            timeout=httpx.Timeout(self.timeout, connect=min(self.connect_timeout, self.timeout)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            headers={"Content-Type": "text/xml", "User-Agent": "remsvc-console-health"},
            trust_env=not unix,
            verify=tls_context(None),  # shared: loading the CA bundle per client costs milliseconds
            follow_redirects=False,
        )

    async def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        """One XML-RPC call; ``timeout`` (seconds, whole call) for calls that wait, e.g. startProcess."""
        payload = xmlrpc.client.dumps(params, method, allow_none=False).encode("utf-8")
        limit = timeout if timeout is not None else self.timeout + self.connect_timeout
        try:
            status, body = await within(limit, self._post(payload, timeout))
        except SupervisorRpcError:
            raise
        except (httpx.HTTPError, OSError, asyncio.TimeoutError) as exc:
            reason, words = _transport_words(exc, self.address, limit)
            raise SupervisorRpcError(reason, self.address.mask(words)) from None
        if status == 401:
            words = "login refused (wrong user name or password)" if self.address.auth else \
                "needs a user name and password (http://user:pass@host:port)"
            raise SupervisorRpcError(Reason.UNAUTHORIZED, f"401 Unauthorized: {words}")
        if status != 200:
            raise SupervisorRpcError(Reason.HTTP_ERROR, f"HTTP {status} from {self.address.display}/RPC2 (not supervisord?)")
        try:
            (value,), _ = xmlrpc.client.loads(_xml_safe(body), use_builtin_types=True)
        except xmlrpc.client.Fault as fault:
            text = self.address.mask(first_line(str(fault.faultString), 160))
            raise SupervisorRpcError(Reason.ERROR, text, fault_code=fault.faultCode) from None
        except (ExpatError, ValueError, TypeError) as exc:
            raise SupervisorRpcError(Reason.UNEXPECTED_BODY,
                                     f"not an XML-RPC reply: {first_line(str(exc), 100)}") from None
        return value

    async def _post(self, payload: bytes, timeout: float | None) -> tuple[int, bytes]:
        extensions = {} if timeout is None else {"timeout": httpx.Timeout(timeout, connect=self.connect_timeout).as_dict()}
        request = self.client.build_request("POST", self.address.rpc_url, content=payload, extensions=extensions)
        response = await self.client.send(request, stream=True)
        try:
            announced = response.headers.get("content-length")
            if announced is not None and announced.isdigit() and int(announced) > self.body_cap:
                raise SupervisorRpcError(Reason.BODY_TOO_LARGE, f"reply larger than {self.body_cap:,} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.body_cap:
                    raise SupervisorRpcError(Reason.BODY_TOO_LARGE, f"reply larger than {self.body_cap:,} bytes")
            return response.status_code, bytes(body)
        finally:
            await response.aclose()

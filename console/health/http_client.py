"""A lean pooled HTTP/1.1 GET client for health polling, with httpx as the fallback.

Watching 50 API servers every second is 150 small GETs a second, each on a cold CPU cache. Measured
on a 2-core host (tests/bench/bench_health.py), httpx costs about 0.9 ms of CPU per spread-out
request — 13 % of a core for this load against a 5 % budget — while a GET over plain asyncio streams
costs about a third of that. This client speaks only what health polling needs: GET, keep-alive,
Content-Length / chunked / close-delimited bodies read with a size cap, gzip/deflate, TLS. Anything
it does not do (proxies) is left to httpx, and both raise the same httpx exception types with the OS
or TLS error as their cause, so callers classify failures one way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

HEAD_LIMIT = 64 * 1024
_READ = 64 * 1024


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


async def within(seconds: float, coro):
    """Run ``coro`` with a deadline (raises ``asyncio.TimeoutError``).

    ``asyncio.timeout`` where it exists: it needs no extra task, and 3.11's ``wait_for`` can swallow
    a cancellation.
    """
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)


def _mid_response(error: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    """Mark a failure after the response began: such a request is never retried."""
    error.response_began = True
    error.__cause__ = cause
    return error


def _stale_connection(error: httpx.HTTPError) -> bool:
    """A pooled connection the server had already closed: nothing of the response arrived."""
    if getattr(error, "response_began", False):
        return False
    cause = error.__cause__
    if isinstance(cause, asyncio.IncompleteReadError):
        return not cause.partial
    return isinstance(cause, (ConnectionResetError, BrokenPipeError))


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


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class LeanHttpClient:
    """GETs against one ``scheme://host:port``; idle keep-alive connections are reused."""

    def __init__(self, base_url: str, *, verify: ssl.SSLContext, connect_timeout: float, read_timeout: float,
                 headers: Sequence[tuple[str, str]] = (), max_idle: int = 4):
        url = httpx.URL(base_url)
        self.scheme = url.scheme
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.raw_path.decode("ascii").rstrip("/")
        self._tls = verify if url.scheme == "https" else None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = self.port == (443 if self.scheme == "https" else 80)
        authority = host if default_port else f"{host}:{self.port}"
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in
                              (("Host", authority), ("Accept-Encoding", "gzip, deflate"), *headers))
        self._idle: list[_Conn] = []
        self._max_idle = max_idle

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await within(self._connect_timeout, asyncio.open_connection(
                self.host, self.port, ssl=self._tls, server_hostname=self.host if self._tls else None,
                limit=HEAD_LIMIT, ssl_handshake_timeout=self._connect_timeout if self._tls else None))
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {self.host}:{self.port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Conn(reader, writer)

    def _checkout(self) -> _Conn | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            conn.close()
        return None

    def _release(self, conn: _Conn) -> None:
        if conn.usable and len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    async def get(self, path: str, *, cap: int, headers: Sequence[tuple[str, str]] = ()) -> Reply:
        """GET ``base path + path``; raises httpx errors for transport failures, BodyTooLarge past ``cap``.

        The read timeout bounds the whole response (head and body), not each read: a server
        trickling bytes cannot keep a poll open.
        """
        request = (f"GET {self.prefix}{path} HTTP/1.1\r\n{self._fixed}"
                   + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")
        start = time.perf_counter()
        conn = self._checkout()
        reused = conn is not None
        if conn is None:
            conn = await self._connect()
        try:
            try:
                status, head, body, reusable = await self._exchange(conn, request, cap)
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if not (reused and _stale_connection(exc)):
                    raise
                # The server closed an idle keep-alive connection: one retry on a fresh one.
                conn.close()
                conn = await self._connect()
                status, head, body, reusable = await self._exchange(conn, request, cap)
        except BaseException:
            conn.close()
            raise
        if reusable:
            self._release(conn)
        else:
            conn.close()
        return Reply(status, head, body, time.perf_counter() - start)

    async def _exchange(self, conn: _Conn, request: bytes, cap: int) -> tuple[int, dict[str, str], bytes, bool]:
        try:
            return await within(self._read_timeout, self._respond(conn, request, cap))
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout("no complete response from the server") from None

    async def _respond(self, conn: _Conn, request: bytes, cap: int) -> tuple[int, dict[str, str], bytes, bool]:
        status, head = await self._head(conn, request)
        body, reusable = await self._body(conn, status, head, cap)
        return status, head, body, reusable

    async def _head(self, conn: _Conn, request: bytes) -> tuple[int, dict[str, str]]:
        try:
            conn.writer.write(request)
            raw = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("server closed the connection without a response") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("response headers too large") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        lines = raw[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError("not an HTTP/1.x response")
        head: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise httpx.RemoteProtocolError("malformed response header")
            head[name.strip().lower()] = value.strip()
        return int(parts[1]), head

    @staticmethod
    async def _read(conn: _Conn, n: int, exact: bool = False) -> bytes:
        try:
            return await (conn.reader.readexactly(n) if exact else conn.reader.read(n))
        except asyncio.IncompleteReadError as exc:
            raise _mid_response(httpx.RemoteProtocolError("server closed the connection before the body was complete"),
                           exc)
        except OSError as exc:
            raise _mid_response(httpx.ReadError(str(exc) or type(exc).__name__), exc)

    @staticmethod
    async def _line(conn: _Conn) -> bytes:
        try:
            return await conn.reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
            raise _mid_response(httpx.RemoteProtocolError("connection closed inside a chunked body"), exc)

    async def _body(self, conn: _Conn, status: int, head: Mapping[str, str], cap: int) -> tuple[bytes, bool]:
        reusable = "close" not in head.get("connection", "").lower()
        if status in (204, 304) or 100 <= status < 200:
            return b"", reusable
        decoder = _Decoder(head.get("content-encoding", "").strip().lower())
        out = bytearray()

        def take(data: bytes) -> None:
            out.extend(decoder.feed(data, cap - len(out)))
            if len(out) > cap:
                raise BodyTooLarge(None)

        if "chunked" in head.get("transfer-encoding", "").lower():
            while True:
                try:
                    size = int((await self._line(conn)).split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise httpx.RemoteProtocolError("malformed chunk size") from None
                if size == 0:
                    while await self._line(conn) != b"\r\n":
                        pass
                    return bytes(out), reusable
                while size > 0:
                    data = await self._read(conn, min(_READ, size))
                    if not data:
                        raise httpx.RemoteProtocolError("server closed the connection inside a chunk")
                    size -= len(data)
                    take(data)
                if await self._line(conn) != b"\r\n":
                    raise httpx.RemoteProtocolError("chunk not followed by CRLF")
        length = head.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise httpx.RemoteProtocolError("invalid Content-Length header")
            remaining = int(length)
            if decoder.identity and remaining > cap:
                raise BodyTooLarge(remaining)
            if remaining <= _READ:
                take(await self._read(conn, remaining, exact=True))
                return bytes(out), reusable
            while remaining > 0:
                data = await self._read(conn, min(_READ, remaining))
                if not data:
                    raise httpx.RemoteProtocolError("server closed the connection before the body was complete")
                remaining -= len(data)
                take(data)
            return bytes(out), reusable
        while data := await self._read(conn, _READ):
            take(data)
        return bytes(out), False

"""The probes' httpx transport on real sockets: framing, compression caps, keep-alive, broken peers, proxies."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import zlib

import pytest

from console.health.http_probes import AirflowEndpoint, HttpSettings
from console.health.results import ProbeKey, Reason, State
from tests.helpers.http_fault_server import Reply, json_reply

FAST = HttpSettings(connect_timeout=1.0, read_timeout=0.5)


async def check(url: str, probe: str = "execution", settings: HttpSettings = FAST, times: int = 1):
    endpoint = AirflowEndpoint(url, settings=settings)
    try:
        return [await endpoint.check(ProbeKey(endpoint.base_url, probe)) for _ in range(times)]
    finally:
        await endpoint.aclose()


async def test_chunked_body_is_reassembled_and_the_connection_reused(fault_server):
    encoded = b"7\r\n{\"statu\r\n0c;ext=1\r\ns\": \"healthy\r\n2\r\n\"}\r\n0\r\nX-Trailer: t\r\n\r\n"
    fault_server.set_mode("chunked", lambda p, h: Reply(200, encoded, headers={"Transfer-Encoding": "chunked"},
                                                        framing="raw"))
    results = await check(fault_server.url("chunked"), times=2)
    assert [(r.state, r.detail) for r in results] == [(State.UP, "healthy")] * 2
    assert fault_server.connections == 1  # the chunked response left the connection reusable


async def test_gzip_and_deflate_bodies_are_inflated_and_capped_after_inflating(fault_server):
    doc = b'{"status": "healthy"}'
    fault_server.set_mode("gz", lambda p, h: Reply(200, gzip.compress(doc), headers={"Content-Encoding": "gzip"}))
    fault_server.set_mode("deflate", lambda p, h: Reply(200, zlib.compress(doc),
                                                        headers={"Content-Encoding": "deflate"}))
    bomb = gzip.compress(b"0" * 5_000_000)
    fault_server.set_mode("bomb", lambda p, h: Reply(200, bomb, headers={"Content-Encoding": "gzip"}))
    assert (await check(fault_server.url("gz")))[0].state is State.UP
    assert (await check(fault_server.url("deflate")))[0].state is State.UP
    assert len(bomb) < 64 * 1024
    capped = HttpSettings(connect_timeout=1.0, read_timeout=0.5, body_cap=64 * 1024)
    [result] = await check(fault_server.url("bomb"), settings=capped)
    assert (result.state, result.reason) == (State.DOWN, Reason.BODY_TOO_LARGE)


async def test_unsupported_encoding_is_a_decoding_error(fault_server):
    fault_server.set_mode("br", lambda p, h: Reply(200, b"\x8b\x00", headers={"Content-Encoding": "br"}))
    endpoint = AirflowEndpoint(fault_server.url("br"), settings=FAST)
    try:
        result = await endpoint.check(ProbeKey(endpoint.base_url, "monitor"))
    finally:
        await endpoint.aclose()
    assert result.state is State.DOWN
    assert "unsupported Content-Encoding 'br'" in result.detail


async def test_connection_close_is_honoured(fault_server):
    fault_server.set_mode("closing", lambda p, h: Reply(200, b'{"status": "healthy"}',
                                                        headers={"Connection": "close"}))
    results = await check(fault_server.url("closing"), times=3)
    assert [r.state for r in results] == [State.UP] * 3
    assert fault_server.connections == 3


async def test_server_silently_dropping_idle_connections_costs_no_failed_poll(fault_server):
    fault_server.set_mode("drop", lambda p, h: Reply(200, b'{"status": "healthy"}', drop_after=True))
    endpoint = AirflowEndpoint(fault_server.url("drop"), settings=FAST)
    try:
        results = [await endpoint.check(ProbeKey(endpoint.base_url, "execution")) for _ in range(5)]
    finally:
        await endpoint.aclose()
    assert [r.state for r in results] == [State.UP] * 5
    assert fault_server.connections == 5


def _one_shot_server(payload: bytes, *, trickle: bool = False) -> tuple[socket.socket, threading.Thread]:
    """A raw TCP peer that answers one request with ``payload`` (byte by byte when ``trickle``)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            try:
                if trickle:
                    for i in range(len(payload)):
                        conn.sendall(payload[i:i + 1])
                        threading.Event().wait(0.2)
                else:
                    conn.sendall(payload)
                    conn.recv(1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(
    ("payload", "reason", "words"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", Reason.PROTOCOL_ERROR, "valid HTTP response"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n", Reason.PROTOCOL_ERROR, "valid HTTP"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"sta", Reason.TIMEOUT, "no response within"),
    ],
    ids=["not-http", "huge-headers", "short-body"],
)
async def test_broken_peers_get_clear_states(payload, reason, words):
    listener, thread = _one_shot_server(payload)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    endpoint = AirflowEndpoint(url, settings=FAST)
    try:
        result = await endpoint.check(ProbeKey(endpoint.base_url, "monitor"))
    finally:
        await endpoint.aclose()
        listener.close()
        await asyncio.to_thread(thread.join, 10)
    assert (result.state, result.reason) == (State.DOWN, reason)
    assert words in result.detail


async def test_a_trickling_server_cannot_hold_a_poll_past_the_read_timeout():
    listener, thread = _one_shot_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", trickle=True)
    endpoint = AirflowEndpoint(f"http://127.0.0.1:{listener.getsockname()[1]}",
                               settings=HttpSettings(connect_timeout=1.0, read_timeout=0.5))
    try:
        result = await endpoint.check(ProbeKey(endpoint.base_url, "monitor"))
    finally:
        await endpoint.aclose()
        listener.close()
        await asyncio.to_thread(thread.join, 30)
    assert (result.state, result.reason) == (State.DOWN, Reason.TIMEOUT)


async def test_base_path_prefix_and_host_header(fault_server):
    [result] = await check(fault_server.url("healthy") + "/nested/prefix", "version")
    assert result.state is State.UP
    path, headers = fault_server.requests[-1]
    assert path == "/healthy/nested/prefix/api/v2/version"
    assert headers["host"] == f"127.0.0.1:{fault_server.port}"


async def test_environment_proxy_is_used_with_the_same_results(fault_server, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{fault_server.port}")
    fault_server.set_mode("json", lambda p, h: json_reply({"status": "healthy"}))
    outcomes = {}
    for mode, probe in (("airflow33", "dag_processing"), ("error500", "monitor"), ("huge", "monitor"),
                        ("invalid_json", "execution"), ("json", "execution")):
        endpoint = AirflowEndpoint(f"http://airflow.internal:8080/{mode}", settings=FAST, token=lambda: "tok-1234")
        try:
            result = await endpoint.check(ProbeKey(endpoint.base_url, probe))
        finally:
            await endpoint.aclose()
        outcomes[mode] = (result.state, result.reason)
    assert outcomes == {
        "airflow33": (State.ABSENT, Reason.NOT_MOUNTED),
        "error500": (State.DOWN, Reason.SERVER_ERROR),
        "huge": (State.DOWN, Reason.BODY_TOO_LARGE),
        "invalid_json": (State.DOWN, Reason.INVALID_JSON),
        "json": (State.UP, Reason.OK),
    }
    assert fault_server.proxied == 5
    assert fault_server.requests[-1][1]["authorization"] == "Bearer tok-1234"

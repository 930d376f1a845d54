"""A real HTTP server on 127.0.0.1 for fault injection: each base path behaves like one kind of API server.

``FaultServer().url("healthy")`` is a base URL whose ``/dag-processing/health``,
``/api/v2/monitor/health``, ``/execution/health`` and ``/api/v2/version`` answer like a healthy
Airflow with the dag-processing app mounted; other modes answer 500, an HTML page, invalid JSON, a
50 MB body, 404, 401 without the right token, and so on. ``HangServer`` accepts connections and never
answers; ``refused_url()`` names a port nothing listens on; ``FaultServer(tls=...)`` serves HTTPS.

``python -m tests.helpers.http_fault_server`` runs it as a child process (for the benchmark, so the
server's CPU is not counted as the console's) and prints ``listening on 127.0.0.1:PORT``.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HTML_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="UTF-8" /><title>Airflow</title></head>
<body><div id="root"></div></body></html>
"""
HUGE_BYTES = 50 * 1024 * 1024
EXECUTION_API_VERSION = "2026-06-30"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream_bytes: int = 0  # send this many filler bytes after ``body``
    framing: str = "length"  # "length": Content-Length; "close": none, close after the body;
    # "raw": no framing header added (the test supplies Transfer-Encoding and an encoded body)
    drop_after: bool = False  # close the connection after answering, without saying so


def json_reply(doc, status: int = 200, **headers: str) -> Reply:
    return Reply(status, json.dumps(doc).encode(), headers=dict(headers))


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()


@dataclass
class AirflowState:
    """What the fake Airflow deployment reports; tests mutate it between polls."""

    mounted: bool = True
    version: str = "3.4.0"
    api_version: str | None = EXECUTION_API_VERSION
    metadatabase: str = "healthy"
    components: dict[str, str | None] = field(
        default_factory=lambda: {"scheduler": "healthy", "triggerer": None, "dag_processor": "healthy"})
    heartbeat_age_s: dict[str, float] = field(default_factory=dict)

    def monitor(self) -> dict:
        now = time.time()
        doc: dict = {"metadatabase": {"status": self.metadatabase}}
        for name, status in self.components.items():
            age = self.heartbeat_age_s.get(name, 1.0)
            beat = None if status is None else _iso(now - age)
            doc[name] = {"status": status, f"latest_{name}_heartbeat": beat}
        return doc


Handler = Callable[[str, dict[str, str]], Reply]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up mid-request (timeouts, size caps) are expected here, not worth a traceback."""


class FaultServer:
    """Threaded HTTP/1.1 server with keep-alive; the first path segment selects the behaviour."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None, token: str | None = None):
        self.airflow = AirflowState()
        self.token = token
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.proxied = 0
        self._lock = threading.Lock()
        self._modes: dict[str, Handler] = {
            "healthy": self._airflow,
            "airflow": self._airflow,
            "airflow33": self._airflow33,
            "error500": lambda p, h: Reply(500, b"Internal Server Error: database is locked\n", "text/plain"),
            "html": lambda p, h: Reply(200, HTML_PAGE, "text/html; charset=utf-8"),
            "invalid_json": lambda p, h: Reply(200, b'{"status": "healthy"', "application/json"),
            "huge": lambda p, h: Reply(200, b'{"status": "', stream_bytes=HUGE_BYTES),
            "huge_unannounced": lambda p, h: Reply(200, b'{"status": "', stream_bytes=HUGE_BYTES, framing="close"),
            "notfound": lambda p, h: json_reply({"detail": "Not Found"}, 404),
            "unhealthy": lambda p, h: json_reply({"status": "unhealthy"}),
            "auth": self._auth,
            "echo_auth": lambda p, h: Reply(500, f"bad header {h.get('authorization', '')}".encode(), "text/plain"),
            "redirect": lambda p, h: Reply(302, b"", "text/plain", {"Location": "https://elsewhere.example/"}),
        }
        self._tls = tls
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> FaultServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536  # one send per response, as real servers do (no Nagle/delayed-ACK stalls)
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def setup(self) -> None:
                with server._lock:
                    server.connections += 1
                super().setup()

            def do_GET(self) -> None:
                server._serve(self)

        httpd = _Server(("127.0.0.1", 0), _Handler)
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self._tls[0]), str(self._tls[1]))
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    def url(self, mode: str = "healthy") -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{mode}"

    def set_mode(self, mode: str, handler: Handler) -> None:
        self._modes[mode] = handler

    def count(self, mode: str) -> int:
        with self._lock:
            return sum(1 for path, _ in self.requests if path.startswith(f"/{mode}/"))

    # -- behaviour --

    def _airflow(self, path: str, headers: dict[str, str]) -> Reply:
        state = self.airflow
        if path.endswith("/dag-processing/health"):
            return json_reply({"status": "healthy"}) if state.mounted else Reply(200, HTML_PAGE, "text/html")
        if path.endswith("/api/v2/monitor/health"):
            return json_reply(state.monitor())
        if path.endswith("/execution/health"):
            extra = {"airflow-api-version": state.api_version} if state.api_version else {}
            return json_reply({"status": "healthy"}, **extra)
        if path.endswith("/api/v2/version"):
            return json_reply({"version": state.version, "git_version": ".release:abc123"})
        return Reply(200, HTML_PAGE, "text/html")

    def _airflow33(self, path: str, headers: dict[str, str]) -> Reply:
        """Airflow 3.3: no /dag-processing app, so its UI page answers 200 for that path."""
        if path.endswith("/dag-processing/health"):
            return Reply(200, HTML_PAGE, "text/html; charset=utf-8")
        return self._airflow(path, headers)

    def _auth(self, path: str, headers: dict[str, str]) -> Reply:
        if headers.get("authorization") != f"Bearer {self.token}":
            return json_reply({"detail": "Not authenticated"}, 401)
        return self._airflow(path, headers)

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        if "://" in path:  # absolute form: we are being used as an HTTP proxy
            with self._lock:
                self.proxied += 1
            path = "/" + path.split("://", 1)[1].split("/", 1)[1]
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append((path, headers))
        mode = path.strip("/").split("/", 1)[0]
        handler = self._modes.get(mode)
        reply = handler(path, headers) if handler else json_reply({"detail": "Not Found"}, 404)
        try:
            request.send_response(reply.status)
            request.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                request.send_header(name, value)
            total = len(reply.body) + reply.stream_bytes
            if reply.framing == "length":
                request.send_header("Content-Length", str(total))
            elif reply.framing == "close":
                request.send_header("Connection", "close")
                request.close_connection = True
            request.end_headers()
            if reply.drop_after:
                request.close_connection = True
            request.wfile.write(reply.body)
            chunk = b"x" * 65536
            left = reply.stream_bytes
            while left > 0:
                request.wfile.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            request.close_connection = True


class HangServer:
    """Accepts TCP connections and never reads or answers: the "server is wedged" case."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def start(self) -> HangServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()

    def __enter__(self) -> HangServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"


def refused_url() -> str:
    """A loopback URL whose port was just free: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def main() -> None:
    server = FaultServer().start()
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

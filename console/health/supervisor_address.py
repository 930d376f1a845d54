"""Where a supervisord instance listens and how to log in: from a URL or from a supervisord config file.

Two listeners exist: ``[inet_http_server]`` (``http://[user:pass@]host:port``, XML-RPC at ``/RPC2``,
HTTP basic auth) and ``[unix_http_server]`` (``unix:///path/to/supervisor.sock``). The password is a
secret: ``display`` never shows it (nor the user name), ``repr`` neither, and ``secrets`` lists what a
journal or an error text must scrub.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..safetext import inert

RPC_PATH = "/RPC2"
DEFAULT_PORT = 9001


class SupervisorAddressError(ValueError):
    """An unusable supervisord URL or config file; ``str()`` is one line and holds no password."""


@dataclass(frozen=True)
class SupervisorAddress:
    """One supervisord XML-RPC endpoint; exactly one of ``host`` and ``socket_path`` is set."""

    host: str | None = None
    port: int | None = None
    socket_path: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    source: str = "command line"

    @property
    def display(self) -> str:
        """How the instance is named on screen, in JSON and in the journal: no credentials."""
        if self.socket_path is not None:
            return f"unix://{self.socket_path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def rpc_url(self) -> str:
        """The URL the client posts to (for a unix socket, the host part is a placeholder)."""
        if self.socket_path is not None:
            return f"http://localhost{RPC_PATH}"
        return self.display + RPC_PATH

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None and self.password is None:
            return None
        return self.username or "", self.password or ""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings to mask wherever text about this instance is shown or written."""
        out = []
        if self.password:
            out.append(self.password)
            out.append(quote(self.password, safe=""))
        return tuple(dict.fromkeys(s for s in out if len(s) >= 3))

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def parse_supervisor_url(url: str, *, source: str = "command line") -> SupervisorAddress:
    """``http://[user:pass@]host:port[/RPC2]`` or ``unix:///path.sock``; raises SupervisorAddressError."""
    text = url.strip()
    if not text:
        raise SupervisorAddressError(f"{source}: empty supervisord URL")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise SupervisorAddressError(f"{source}: not a supervisord URL ({exc})") from None
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    shown = _without_password(text, password)
    if parts.scheme == "unix":
        path = parts.path if not parts.netloc else "/" + parts.netloc + parts.path
        if not path or path == "/":
            raise SupervisorAddressError(f"{source}: {shown}: unix:// needs a socket path (unix:///run/supervisor.sock)")
        return SupervisorAddress(socket_path=path, username=user, password=password, source=source)
    if parts.scheme not in ("http",):
        raise SupervisorAddressError(f"{source}: {shown}: supervisord speaks http:// or unix://, not {parts.scheme}://")
    host = parts.hostname
    if not host or any(c.isspace() for c in host):
        raise SupervisorAddressError(f"{source}: {shown}: no host name")
    if parts.path not in ("", "/", RPC_PATH, RPC_PATH + "/"):
        raise SupervisorAddressError(f"{source}: {shown}: supervisord serves XML-RPC at {RPC_PATH}, not {parts.path}")
    return SupervisorAddress(host=host, port=port or DEFAULT_PORT, username=user, password=password, source=source)


def _without_password(text: str, password: str | None) -> str:
    shown = inert(text, keep_newlines=False)
    if password:
        shown = shown.replace(quote(password, safe=""), "***").replace(password, "***")
    return shown


def _interpolate(value: str, here: Path) -> str:
    """supervisord's ``%(here)s`` and ``%(ENV_X)s`` expansions, the two a generated config uses."""
    names = {"here": str(here)}
    names.update({f"ENV_{k}": v for k, v in os.environ.items()})
    try:
        return value % names
    except (KeyError, ValueError, TypeError):
        return value


def read_supervisord_conf(path: str | os.PathLike[str]) -> list[SupervisorAddress]:
    """The listeners a supervisord config file declares (inet first), with their credentials.

    This is how the console finds an instance airflow-supervisor generated: its config has an
    ``[inet_http_server]`` and/or ``[unix_http_server]`` section with ``username``/``password``.
    """
    conf = Path(path).expanduser()
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    try:
        with conf.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise SupervisorAddressError(f"--supervisor-conf {conf}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SupervisorAddressError(f"--supervisor-conf {conf}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except configparser.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SupervisorAddressError(f"--supervisor-conf {conf}: not an INI file: {inert(first, keep_newlines=False)}") from None
    here = conf.resolve().parent
    source = f"supervisord config {conf}"
    found: list[SupervisorAddress] = []

    def creds(section: str) -> dict:
        user = parser.get(section, "username", fallback=None)
        password = parser.get(section, "password", fallback=None)
        if password and password.startswith("{SHA}"):
            raise SupervisorAddressError(
                f"{source}: [{section}] password is a {{SHA}} hash; give the clear password with --supervisor URL")
        return {"username": user, "password": password, "source": source}

    if parser.has_section("inet_http_server"):
        port = parser.get("inet_http_server", "port", fallback="").strip()
        if not port:
            raise SupervisorAddressError(f"{source}: [inet_http_server] has no port")
        host, _, number = port.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if host in ("*", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if not number.isdigit():
            raise SupervisorAddressError(f"{source}: [inet_http_server] port {inert(port, keep_newlines=False)!r} is not host:port")
        found.append(SupervisorAddress(host=host, port=int(number), **creds("inet_http_server")))
    if parser.has_section("unix_http_server"):
        file = parser.get("unix_http_server", "file", fallback="").strip()
        if not file:
            raise SupervisorAddressError(f"{source}: [unix_http_server] has no file")
        sock = Path(_interpolate(file, here)).expanduser()
        if not sock.is_absolute():
            sock = here / sock
        found.append(SupervisorAddress(socket_path=str(sock), **creds("unix_http_server")))
    if not found:
        raise SupervisorAddressError(f"{source}: neither [inet_http_server] nor [unix_http_server]: nothing to connect to")
    return found

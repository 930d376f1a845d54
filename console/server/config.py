"""The embedded server's configuration, read from the INI format RemSvc servers use.

Sections: ``[server] host, port, cmd_timeout_ms``; ``[tls] enabled, cert, key, ca``;
``[auth] identity = token``; ``[allowlist]`` / ``[denylist]`` with one regex per key (the key names
the rule). Values may reference the environment as ``$VAR`` or ``${VAR}`` (``$$`` is a literal ``$``);
a reference to an unset variable is an error, so a token can never silently become ``"$TOKEN"``.
"""

from __future__ import annotations

import ast
import configparser
import hmac
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("console.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
DEFAULT_CMD_TIMEOUT_MS = 30_000  # as the compiled RemSvc server

INVALID_LIST = "all commands denied: allowlist configuration is invalid (check server logs)"

_KNOWN_KEYS = {
    "server": {"host", "port", "cmd_timeout_ms"},
    "tls": {"enabled", "cert", "key", "ca"},
}
_LIST_SECTIONS = ("allowlist", "denylist")
_NO_DEFAULT_SECTION = "\x00no-default-section"
_VAR = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")
_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


class ConfigError(ValueError):
    """A configuration the server cannot run with; ``str()`` is one line meant for the operator."""


@dataclass(frozen=True)
class TlsConfig:
    enabled: bool = False
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None  # client-certificate CA: when set, clients must present a certificate

    @property
    def requires_client_cert(self) -> bool:
        return self.enabled and self.ca is not None


@dataclass(frozen=True)
class ListRule:
    """One allowlist/denylist entry; ``regex`` is None when the pattern does not compile."""

    name: str
    pattern: str
    regex: re.Pattern[str] | None

    @classmethod
    def compile(cls, name: str, pattern: str) -> ListRule:
        try:
            return cls(name, pattern, re.compile(pattern))
        except re.error:
            return cls(name, pattern, None)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the embedded server needs; ``tokens`` maps identity → bearer token."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    cmd_timeout_ms: int = DEFAULT_CMD_TIMEOUT_MS  # 0 = no per-command timeout
    tls: TlsConfig = field(default_factory=TlsConfig)
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False)
    allowlist: tuple[ListRule, ...] = ()
    denylist: tuple[ListRule, ...] = ()
    insecure_auth: bool = False  # allow tokens over plaintext (loopback testing only)
    source: Path | None = None

    @property
    def cmd_timeout_s(self) -> float | None:
        return self.cmd_timeout_ms / 1000 if self.cmd_timeout_ms > 0 else None

    @property
    def auth_enabled(self) -> bool:
        return bool(self.tokens)

    def identity_for(self, token: str) -> str | None:
        """The identity owning ``token``; every token is compared in constant time, no early exit."""
        presented = token.encode("utf-8")
        found = None
        for identity, expected in self.tokens.items():
            if hmac.compare_digest(presented, expected.encode("utf-8")) and found is None:
                found = identity
        return found

    def deny_reason(self, cmd: str) -> str | None:
        """Why ``cmd`` may not run, in the compiled server's words, or None when it may.

        A pattern that does not compile denies everything; the denylist wins over the allowlist;
        an empty allowlist permits every command the denylist lets through.
        """
        if any(rule.regex is None for rule in (*self.denylist, *self.allowlist)):
            return INVALID_LIST
        if any(rule.regex.search(cmd) for rule in self.denylist):
            return f"command denied by denylist: {cmd}"
        if self.allowlist and not any(rule.regex.search(cmd) for rule in self.allowlist):
            return f"command not permitted by allowlist: {cmd}"
        return None

    def check_startable(self) -> None:
        """Refuse combinations that would leak tokens or cannot serve TLS."""
        if self.tokens and not self.tls.enabled and not self.insecure_auth:
            raise ConfigError(
                "[auth] sets bearer tokens but TLS is disabled: tokens would cross the network in plaintext "
                "(enable [tls], or pass --insecure-auth for loopback testing)"
            )
        if self.tls.enabled and (self.tls.cert is None or self.tls.key is None):
            raise ConfigError("[tls] enabled needs both cert and key")


def expand_env(value: str, env: Mapping[str, str], where: str) -> str:
    """Replace ``$VAR``/``${VAR}`` with environment values; ``$$`` stays a literal ``$``."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name is None:
            return "$"
        if name not in env:
            raise ConfigError(f"{where} refers to ${name}, which is not set in the environment")
        return env[name]

    return _VAR.sub(substitute, value)


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> ServerConfig:
    """Read and validate an INI file; raise ConfigError with one clear line when it is unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not valid UTF-8") from None
    return parse_config(text, env, source=path)


def parse_config(text: str, env: Mapping[str, str] | None = None, *, source: Path | None = None) -> ServerConfig:
    """Parse INI text (``source`` names it in errors and anchors relative certificate paths)."""
    env = os.environ if env is None else env
    name = str(source) if source is not None else "config"
    parser = configparser.ConfigParser(interpolation=None, default_section=_NO_DEFAULT_SECTION)
    parser.optionxform = str  # identities and rule names keep their case
    try:
        parser.read_string(text, source=name)
    except configparser.Error as exc:
        raise ConfigError(_one_line_parse_error(name, exc)) from None

    def get(section: str, key: str) -> str | None:
        if not parser.has_option(section, key):
            return None
        return expand_env(parser.get(section, key).strip(), env, f"[{section}] {key}")

    for section in parser.sections():
        known = _KNOWN_KEYS.get(section)
        if known is None and section not in (*_LIST_SECTIONS, "auth"):
            log.warning("%s: ignoring unknown section [%s]", name, section)
        elif known is not None:
            for key in parser.options(section):
                if key not in known:
                    log.warning("%s: ignoring unknown key %r in [%s]", name, key, section)

    base = source.parent if source is not None else Path.cwd()
    host = get("server", "host") or DEFAULT_HOST
    port_text = get("server", "port")
    port = parse_port(port_text, where="[server] port") if port_text else DEFAULT_PORT
    timeout = get("server", "cmd_timeout_ms")
    cmd_timeout_ms = parse_timeout_ms(timeout, where="[server] cmd_timeout_ms") if timeout else DEFAULT_CMD_TIMEOUT_MS

    tls = TlsConfig()
    if parser.has_section("tls"):
        enabled = _parse_bool(get("tls", "enabled") or "false", "[tls] enabled")
        if enabled:
            cert, key = get("tls", "cert"), get("tls", "key")
            if not cert or not key:
                raise ConfigError(f"{name}: [tls] enabled needs both cert and key")
            ca = get("tls", "ca")
            tls = TlsConfig(
                True,
                _readable_file(base, cert, "[tls] cert"),
                _readable_file(base, key, "[tls] key"),
                _readable_file(base, ca, "[tls] ca") if ca else None,
            )

    tokens: dict[str, str] = {}
    if parser.has_section("auth"):
        for identity in parser.options("auth"):
            token = get("auth", identity)
            if not token:
                raise ConfigError(f"{name}: [auth] {identity} has an empty token")
            tokens[identity] = token

    lists: dict[str, tuple[ListRule, ...]] = {}
    for section in _LIST_SECTIONS:
        rules = []
        if parser.has_section(section):
            for rule_name in parser.options(section):
                rule = ListRule.compile(rule_name, get(section, rule_name) or "")
                if rule.regex is None:
                    log.error("%s: [%s] %s has an invalid pattern %r: every command will be denied",
                              name, section, rule_name, rule.pattern)
                rules.append(rule)
        lists[section] = tuple(rules)

    return ServerConfig(
        host=host,
        port=port,
        cmd_timeout_ms=cmd_timeout_ms,
        tls=tls,
        tokens=tokens,
        allowlist=lists["allowlist"],
        denylist=lists["denylist"],
        source=source,
    )


def parse_port(value: str, *, where: str = "port") -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{where} must be a number from 0 to 65535, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where} must be a number from 0 to 65535, not {value!r}")
    return port


def parse_timeout_ms(value: str, *, where: str = "cmd_timeout_ms") -> int:
    try:
        ms = int(value)
    except ValueError:
        raise ConfigError(f"{where} must be a whole number of milliseconds (0 = none), not {value!r}") from None
    if ms < 0:
        raise ConfigError(f"{where} must be a whole number of milliseconds (0 = none), not {value!r}")
    return ms


def _parse_bool(value: str, where: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{where} must be true or false, not {value!r}")


def _readable_file(base: Path, value: str, where: str) -> Path:
    path = (base / Path(value).expanduser()).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}: {path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{where}: {path} is not readable")
    return path


def _one_line_parse_error(name: str, exc: configparser.Error) -> str:
    lineno = getattr(exc, "lineno", None)
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{name}: line {lineno}: a [section] header must come before any key"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"{name}: line {lineno}: key {exc.option!r} appears twice in [{exc.section}]"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{name}: line {lineno}: section [{exc.section}] appears twice"
    if isinstance(exc, configparser.ParsingError) and exc.errors:
        first_line, first_text = exc.errors[0]  # configparser stores the line as its repr
        try:
            first_text = ast.literal_eval(first_text)
        except (ValueError, SyntaxError):
            pass
        return f"{name}: line {first_line}: cannot parse {str(first_text).strip()!r} (expected key = value)"
    return f"{name}: " + " ".join(str(exc).split())

"""User settings for the console: a YAML file, environment overrides, then command-line flags.

An ops engineer sets defaults once (targets, theme, read-only, keys) in
``$XDG_CONFIG_HOME/remsvc-console/config.yaml``; ``REMSVC_CONSOLE_*`` variables override the file for
one shell, and flags override both for one run. Unknown keys are errors, not silently ignored: a typo
in ``read_only`` must not leave a console that can dispatch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:
    from typing import Any

APP_DIR = "remsvc-console"
ENV_PREFIX = "REMSVC_CONSOLE_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
DEFAULT_THEME = "dark"
DEFAULT_FANOUT_CONFIRM = 10

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(Exception):
    """A setting that cannot be used; ``str()`` is one line naming the source and the key."""


@dataclass(frozen=True)
class Settings:
    """Effective settings after file, environment and flags are layered."""

    connections_file: Path | None = None
    targets: tuple[str, ...] = ()
    theme: str = DEFAULT_THEME
    keymap: Mapping[str, str] = field(default_factory=dict)
    journal_dir: Path | None = None
    save_dir: Path | None = None
    fanout_confirm_threshold: int = DEFAULT_FANOUT_CONFIRM
    read_only: bool = False
    status_interval: float = 10.0
    airflow_python: str | None = None
    config_path: Path | None = None

    @property
    def output_dir(self) -> Path:
        """Where saved outputs and exports go when ``save_dir`` is not set."""
        return self.save_dir or state_home() / APP_DIR / "saved"


def config_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser()


def state_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state").expanduser()


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$REMSVC_CONSOLE_CONFIG``, else ``$XDG_CONFIG_HOME/remsvc-console/config.yaml``."""
    env = os.environ if env is None else env
    explicit = env.get(CONFIG_ENV)
    return Path(explicit).expanduser() if explicit else config_home(env) / APP_DIR / "config.yaml"


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{where}: expected true or false, got {value!r}")


def _as_int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{where}: expected a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{where}: expected a whole number, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{where}: must be at least {minimum}, got {number}")
    return number


def _as_float(value: Any, where: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise SettingsError(f"{where}: expected a number of seconds, got {value!r}") from None
    if number <= 0:
        raise SettingsError(f"{where}: must be positive, got {value!r}")
    return number


def _as_path(value: Any, where: str) -> Path | None:
    if value is None or str(value).strip() == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise SettingsError(f"{where}: expected a path, got {value!r}")
    return Path(os.path.expandvars(str(value))).expanduser()


def _as_targets(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        raise SettingsError(f"{where}: expected a list of connection ids, got {value!r}")
    return tuple(item.strip() for item in items if item.strip())


def _as_keymap(value: Any, where: str) -> dict[str, str]:
    """A mapping of binding id to keys; from the environment, ``id=keys;id=keys``."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = {}
        for part in value.split(";"):
            if not part.strip():
                continue
            binding_id, sep, keys = part.partition("=")
            if not sep or not binding_id.strip() or not keys.strip():
                raise SettingsError(f"{where}: expected id=keys pairs separated by ';', got {part!r}")
            pairs[binding_id.strip()] = keys.strip()
        return pairs
    if not isinstance(value, Mapping):
        raise SettingsError(f"{where}: expected a mapping of binding id to keys, got {value!r}")
    out = {}
    for binding_id, keys in value.items():
        if not isinstance(keys, str) or not keys.strip():
            raise SettingsError(f"{where}.{binding_id}: expected a key string such as 'ctrl+r', got {keys!r}")
        out[str(binding_id)] = keys.strip()
    return out


def _as_theme(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where}: expected a theme name, got {value!r}")
    return value.strip()


def _as_airflow_python(value: Any, where: str) -> str | None:
    """The python of the Airflow installation that resolves connections the console cannot read; ``off`` disables."""
    if value is None or str(value).strip() == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise SettingsError(f"{where}: expected the path of a python interpreter or 'off', got {value!r}")
    text = str(value).strip()
    return text if text.lower() == "off" else str(Path(os.path.expandvars(text)).expanduser())


_CONVERTERS = {
    "connections_file": _as_path,
    "targets": _as_targets,
    "theme": _as_theme,
    "keymap": _as_keymap,
    "journal_dir": _as_path,
    "save_dir": _as_path,
    "fanout_confirm_threshold": lambda v, w: _as_int(v, w, minimum=1),
    "read_only": _as_bool,
    "status_interval": _as_float,
    "airflow_python": _as_airflow_python,
}
KNOWN_KEYS = tuple(_CONVERTERS)
# Keys in the same file that other parts read and check themselves (console.bundles.options, the
# ``health:`` section of console.health.sources); passed over here, never reported as unknown.
FOREIGN_SECTIONS = ("health",)
FOREIGN_PREFIXES = ("bundle_",)


def _foreign(key: object) -> bool:
    return isinstance(key, str) and (key in FOREIGN_SECTIONS or key.startswith(FOREIGN_PREFIXES))
ENV_KEYS = {ENV_PREFIX + key.upper(): key for key in KNOWN_KEYS}


def _read_file(path: Path, explicit: bool) -> dict[str, Any]:
    import yaml  # only when a settings file is read: `--help` stays quick

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise SettingsError(f"{path}: config file not found") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read config file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SettingsError(f"{path}:{line}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings at the top level")
    unknown = sorted(str(k) for k in data if k not in _CONVERTERS and not _foreign(k))
    if unknown:
        raise SettingsError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(KNOWN_KEYS)})")
    return {key: _CONVERTERS[key](value, f"{path}: {key}") for key, value in data.items() if key in _CONVERTERS}


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for name, key in ENV_KEYS.items():
        if name in env:
            out[key] = _CONVERTERS[key](env[name], name)
    return out


def load_settings(
    config_path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Layer defaults < config file < ``REMSVC_CONSOLE_*`` < ``overrides`` (flags; ``None`` values skipped).

    ``config_path`` given (``--config``) must exist; the default location may be absent.
    """
    env = os.environ if env is None else env
    explicit = config_path is not None or CONFIG_ENV in env
    path = Path(config_path).expanduser() if config_path is not None else default_config_path(env)
    values: dict[str, Any] = {}
    values.update(_read_file(path, explicit))
    values.update(_read_env(env))
    for key, value in (overrides or {}).items():
        if key not in _CONVERTERS:
            raise SettingsError(f"unknown setting {key!r}")
        if value is None or value == () or value == []:
            continue
        values[key] = _CONVERTERS[key](value, f"--{key.replace('_', '-')}")
    return replace(Settings(), config_path=path, **values)


def describe_sources(env: Mapping[str, str] | None = None) -> str:
    """Text for ``--help``: where settings come from, in precedence order."""
    path = default_config_path(env)
    env_names = ", ".join(sorted(ENV_KEYS))
    return (
        f"Settings file: {path}\n"
        f"  keys: {', '.join(f.name for f in fields(Settings) if f.name in _CONVERTERS)}\n"
        f"Environment overrides the file: {env_names}\n"
        "Command-line flags override both.\n"
        "airflow_python: the python of your Airflow installation, used to resolve connections kept in Airflow's\n"
        "  metadata DB or secrets backends ('off' never asks Airflow).\n"
        "Bundle roots: bundle_roots in the settings file, or REMSVC_CONSOLE_BUNDLE_ROOTS (os.pathsep-separated);\n"
        "  without either, the executables_root of Airflow's [sdk] coordinators (AIRFLOW__SDK__COORDINATORS or airflow.cfg)."
    )


def save_theme(path: Path, name: str) -> None:
    """Set ``theme:`` in the settings file, keeping every other line (and comment) as it was.

    The file is replaced atomically; a file that is not a settings mapping is left alone.
    """
    name = _as_theme(name, "theme")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read config file: {exc}") from None
    if text.strip():
        _read_file(path, explicit=True)
    import yaml

    line = f"theme: {yaml.safe_dump(name, default_style=None).splitlines()[0]}"
    lines = text.splitlines()
    for index, existing in enumerate(lines):
        if existing.startswith("theme:"):
            lines[index] = line
            break
    else:
        lines.append(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)

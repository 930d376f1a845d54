"""Themes shipped as data files, loaded at start-up and registered with the app.

Shipped themes live in ``<repo>/themes/`` in a source tree and ``console/_themes/`` in an installed
wheel; users may add their own under ``$XDG_CONFIG_HOME/remsvc-console/themes/``. A broken file is
reported and skipped so one bad theme never stops the console from starting.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from textual.color import Color, ColorParseError
from textual.theme import Theme

import console
from console.settings import APP_DIR, config_home

# libyaml's safe loader when PyYAML was built with it (same result, a fraction of the start-up time).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_THEME_FIELDS = {f.name for f in fields(Theme)}
_COLOUR_FIELDS = {
    "primary", "secondary", "warning", "error", "success", "accent",
    "foreground", "background", "surface", "panel", "boost",
}


@dataclass
class LoadedThemes:
    themes: list[Theme] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def theme_dirs() -> list[Path]:
    """Shipped directories first, the user's last so a user theme can replace a shipped one."""
    package = Path(console.__file__).resolve().parent
    candidates = [package / "_themes", package.parent / "themes", config_home() / APP_DIR / "themes"]
    return [d for d in candidates if d.is_dir()]


def _check_colour(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a colour string, got {value!r}")
    if not value.startswith("ansi_"):
        try:
            Color.parse(value)
        except ColorParseError:
            raise ValueError(f"{where}: {value!r} is not a colour") from None
    return value


def theme_from_mapping(data: object, source: str) -> Theme:
    """Build a Theme from parsed YAML; raise ValueError naming ``source`` and the bad key."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping")
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        raise ValueError(f"{source}: unknown key {unknown[0]!r}")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise ValueError(f"{source}: 'name' is required")
    if "primary" not in data:
        raise ValueError(f"{source}: 'primary' is required")
    values = dict(data)
    for key in _COLOUR_FIELDS & set(values):
        _check_colour(values[key], f"{source}: {key}")
    variables = values.get("variables") or {}
    if not isinstance(variables, dict):
        raise ValueError(f"{source}: 'variables' must be a mapping")
    values["variables"] = {str(k): str(v) for k, v in variables.items()}
    return Theme(**values)


def load_themes(directories: list[Path] | None = None) -> LoadedThemes:
    loaded = LoadedThemes()
    by_name: dict[str, Theme] = {}
    for directory in theme_dirs() if directories is None else directories:
        for path in sorted(directory.glob("*.y*ml")):
            try:
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
                theme = theme_from_mapping(data, str(path))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                loaded.problems.append(f"{path}: cannot load theme: {str(exc).splitlines()[0]}")
                continue
            except (ValueError, TypeError) as exc:
                loaded.problems.append(str(exc))
                continue
            by_name[theme.name] = theme
    loaded.themes = list(by_name.values())
    return loaded

"""Settings: YAML file < REMSVC_CONSOLE_* environment < command-line flags; bad input is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.settings import (
    SettingsError,
    default_config_path,
    describe_sources,
    load_settings,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_the_default_file_is_absent(tmp_path):
    settings = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.theme == "dark" and settings.read_only is False and settings.targets == ()
    assert settings.config_path == tmp_path / "remsvc-console" / "config.yaml"


def test_file_then_environment_then_flags(tmp_path):
    path = write(tmp_path, """
connections_file: ~/conns.yaml
targets: [remsvc_web_*, remsvc_db_1]
theme: light
keymap:
  dispatch.run: f5
journal_dir: /var/tmp/j
fanout_confirm_threshold: 25
read_only: false
""")
    env = {"REMSVC_CONSOLE_THEME": "high-contrast", "REMSVC_CONSOLE_READ_ONLY": "yes",
           "REMSVC_CONSOLE_KEYMAP": "dispatch.cancel=f8; app.quit=ctrl+x"}
    settings = load_settings(path, env=env, overrides={"theme": "dark", "targets": [], "journal_dir": None})
    assert settings.connections_file == Path.home() / "conns.yaml"
    assert settings.targets == ("remsvc_web_*", "remsvc_db_1")
    assert settings.theme == "dark", "a flag beats the environment"
    assert settings.read_only is True, "the environment beats the file"
    assert settings.keymap == {"dispatch.cancel": "f8", "app.quit": "ctrl+x"}
    assert settings.journal_dir == Path("/var/tmp/j")
    assert settings.fanout_confirm_threshold == 25


def test_config_path_from_environment(tmp_path):
    path = write(tmp_path, "theme: light\n")
    assert default_config_path({"REMSVC_CONSOLE_CONFIG": str(path)}) == path
    assert load_settings(env={"REMSVC_CONSOLE_CONFIG": str(path)}).theme == "light"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("read_onyl: true\n", "unknown setting 'read_onyl'"),
        ("theme: [dark\n", "line 2"),
        ("- just a list\n", "expected a mapping of settings"),
        ("fanout_confirm_threshold: 0\n", "fanout_confirm_threshold: must be at least 1, got 0"),
        ("read_only: maybe\n", "read_only: expected true or false, got 'maybe'"),
        ("keymap:\n  dispatch.run: ''\n", "keymap.dispatch.run: expected a key string"),
        ("status_interval: -3\n", "status_interval: must be positive"),
    ],
)
def test_bad_file_is_one_line_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_explicit_config_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="REMSVC_CONSOLE_FANOUT_CONFIRM_THRESHOLD: expected a whole number"):
        load_settings(env={"XDG_CONFIG_HOME": str(tmp_path), "REMSVC_CONSOLE_FANOUT_CONFIRM_THRESHOLD": "lots"})
    with pytest.raises(SettingsError, match="REMSVC_CONSOLE_KEYMAP: expected id=keys pairs"):
        load_settings(env={"XDG_CONFIG_HOME": str(tmp_path), "REMSVC_CONSOLE_KEYMAP": "dispatch.run"})


def test_help_text_names_the_file_and_variables(tmp_path):
    text = describe_sources({"XDG_CONFIG_HOME": str(tmp_path)})
    assert str(tmp_path / "remsvc-console" / "config.yaml") in text
    assert "REMSVC_CONSOLE_READ_ONLY" in text and "REMSVC_CONSOLE_THEME" in text


def test_keys_read_by_the_bundles_and_health_parts_are_passed_over(tmp_path):
    path = write(tmp_path, """
theme: light
bundle_roots: [/opt/bundles]
bundle_cache_max_entries: 100
health:
  api_urls: [http://127.0.0.1:8080]
""")
    assert load_settings(path, env={}).theme == "light"

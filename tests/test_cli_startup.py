"""Start-up hygiene: each subcommand imports only what it uses, and the lazy parser still tells the truth."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console import cli

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("grpc", "textual", "httpx", "jsonschema")


def imported_modules(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the console in a child with ``-X importtime``; return the result and every module it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "REMSVC_CONSOLE_"))}
    env.update(PYTHONPATH=str(REPO), XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "console", *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False)
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    modules.discard("imported package")
    return proc, modules


@pytest.mark.parametrize("args", [["--help"], ["conn", "list"], ["bundles", "--help"]], ids=" ".join)
def test_light_commands_do_not_import_grpc_textual_httpx_or_jsonschema(args, tmp_path):
    proc, modules = imported_modules(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "console.cli" in modules  # the probe itself works
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_the_probe_sees_grpc_where_a_command_loads_it(tmp_path):
    """``serve`` loads the server (and gRPC) before it reads its options: the probe above would notice."""
    proc, modules = imported_modules(["serve", "--port", "70000"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--port must be a number from 0 to 65535" in proc.stderr
    assert "grpc" in modules


def test_top_level_help_lists_every_subcommand_with_its_own_summary(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for name, summary in cli.SUBCOMMANDS.items():
        assert f"{name} {summary}" in out
    assert "Settings file:" in out  # the epilog written on demand


@pytest.mark.parametrize("name", list(cli.SUBCOMMANDS))
def test_placeholder_summary_matches_what_the_subcommand_registers(name):
    parser = argparse.ArgumentParser()
    importlib.import_module(f"console.commands.{name}").register(parser.add_subparsers())
    registered = {a.dest: a.help for a in parser._subparsers._group_actions[0]._choices_actions}
    assert registered[name] == cli.SUBCOMMANDS[name]


def test_subcommand_help_is_the_full_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--cmd-timeout-ms" in out and "--insecure-auth" in out


def test_subcommand_options_are_parsed_by_the_full_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["conn", "list", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_chosen_command_is_not_fooled_by_option_values():
    assert cli.chosen_command(["--conn", "run"]) is None
    assert cli.chosen_command(["--theme", "dark", "bundles", "--json"]) == "bundles"
    assert cli.chosen_command([]) is None


def test_a_warm_bundle_scan_imports_only_the_scan(tmp_path):
    """A scan from the report cache needs no YAML, JSON Schema, typing, Airflow config or the watcher."""
    from tests.bundles.builders import write_bundle

    root = tmp_path / "bundles"
    write_bundle(root / "one.bundle", {"warm_dag": ["run"]})
    cold, cold_modules = imported_modules(["bundles", "--json", str(root)], tmp_path)
    warm, modules = imported_modules(["bundles", "--json", str(root)], tmp_path)
    assert cold.returncode == 0 and warm.returncode == 0, warm.stderr[-2000:]
    assert "console.bundles.manifest" in cold_modules  # the cold scan parsed the manifest: the probe works
    assert warm.stdout == cold.stdout and '"warm_dag"' in warm.stdout
    loaded = sorted(m for m in modules if m.split(".")[0] in (*HEAVY, "yaml", "typing", "configparser", "asyncio")
                    or m in ("console.bundles.manifest", "console.airflow.coordinators", "console.bundles.watch"))
    assert loaded == []


def test_what_the_console_imports_before_its_first_frame_loads_neither_grpc_nor_httpx(tmp_path):
    """gRPC arrives with the first status poll or dispatch, httpx with the first health URL: after the first frame."""
    code = (
        "import json, sys\n"
        "import console.commands.tui, console.demo, console.dispatch_service, console.health.sources\n"
        "import console.ui.app, console.ui.context\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'grpc', 'httpx'})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == []

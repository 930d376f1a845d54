"""`remsvc-console bundles` as a real child process: JSON contract, exit statuses, inert output, verbs."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.bundles.packer import make_manifest
from console.cli import main

from .builders import REPO, write_bundle, write_file, write_raw_bundle

BUNDLE_KEYS = {
    "path", "status", "reason", "size", "source_name", "source_len", "metadata_len", "footer_ver",
    "binary_sha256", "actual_sha256", "sdk", "dags", "warnings",
}
CONTROL_BYTES = [b"\x1b", b"\x07", b"\xc2\x9b", b"\r"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The console as a separate process, for checks on the exact bytes a terminal would receive."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "console", "bundles", *args], capture_output=True, env=full_env, timeout=120, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: bytes


@pytest.fixture
def run(capsysbinary: pytest.CaptureFixture[bytes]):
    """The same entry point in this process (``console.cli.main``), so most checks need no interpreter start."""

    def invoke(*args: str) -> Run:
        try:
            code = main(["bundles", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsysbinary.readouterr()
        assert b"Traceback" not in err
        return Run(code, out, err)

    return invoke


def assert_inert(output: bytes) -> None:
    for byte in CONTROL_BYTES:
        assert byte not in output, f"{byte!r} reached the terminal"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "bundles"
    write_bundle(root / "etl" / "pipeline", {"etl": ["extract", "load"], "shared": ["t"]})
    write_bundle(root / "team-b" / "pipeline_v2", {"shared": ["t"]})
    tampered = write_bundle(root / "billing", {"billing": ["t"]})
    data = bytearray(tampered.read_bytes())
    data[0] ^= 1
    tampered.write_bytes(bytes(data))
    write_file(root / "README.md", b"docs\n", mode=0o644)
    write_file(root / "tool.sh", b"#!/bin/sh\necho not a bundle, long enough to hold a trailer-sized tail of bytes\n")
    return root


def test_json_contract(tree: Path) -> None:
    proc = cli(str(tree), "--json")
    assert proc.returncode == 1
    document = json.loads(proc.stdout)
    assert set(document) == {"roots", "bundles", "dags", "warnings"}
    assert document["roots"] == [{"path": str(tree), "origin": "argument", "exists": True, "error": None}]
    by_name = {Path(b["path"]).name: b for b in document["bundles"]}
    assert set(by_name) == {"pipeline", "pipeline_v2", "billing"}
    for bundle in document["bundles"]:
        assert set(bundle) >= BUNDLE_KEYS
    assert by_name["billing"]["status"] == "hash_mismatch"
    assert by_name["billing"]["binary_sha256"] != by_name["billing"]["actual_sha256"]
    assert by_name["pipeline"]["sdk"] == {"language": "go", "version": "0.1.0", "supervisor_schema_version": "2026-06-16"}
    assert by_name["pipeline"]["dags"] == {"etl": ["extract", "load"], "shared": ["t"]}
    shared = document["dags"]["shared"]
    assert shared["ambiguous"] is True and shared["selected"] is not None
    assert {c["outcome"] for c in shared["candidates"]} == {"selected", "shadowed"}
    assert document["dags"]["billing"]["selected"] is None

    everything = json.loads(cli(str(tree), "--json", "--all").stdout)
    statuses = {Path(b["path"]).name: b["status"] for b in everything["bundles"]}
    assert statuses["README.md"] == "not_executable" and statuses["tool.sh"] == "not_bundle"


def test_exit_status_zero_when_every_bundle_is_accepted(tmp_path: Path, run) -> None:
    write_bundle(tmp_path / "only", {"etl": ["t"]})
    write_file(tmp_path / "notes.txt", b"ignored", mode=0o644)
    proc = run(str(tmp_path))
    assert proc.returncode == 0
    assert b"1 accepted, 0 rejected, 1 ignored" in proc.stdout


def test_dag_resolution_and_its_exit_status(tree: Path, run) -> None:
    ambiguous = run(str(tree), "--dag", "shared")
    assert ambiguous.returncode == 1
    text = ambiguous.stdout.decode()
    assert f"Airflow runs {tree}/" in text and "AMBIGUOUS" in text and "shadowed" in text
    only = tree.parent / "clean"
    write_bundle(only / "x", {"etl": ["t"]})
    assert run(str(only), "--dag", "etl").returncode == 0
    missing = run(str(only), "--dag", "nope", "--json")
    assert missing.returncode == 1
    entry = json.loads(missing.stdout)["dags"]["nope"]
    assert entry["selected"] is None and entry["candidates"] == [] and "cannot find executable bundle" in entry["error"]


def test_hostile_names_manifests_and_sources_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    root = tmp_path / "hostile"
    evil = b"// \x1b]0;pwned\x07 \x1b[2J \x9b31m \xc2\x9b31m \r overwrite\n"
    manifest = make_manifest({"dag\x1b[31m": ["task\x07"]}, source="evil\x1b.go", sdk_version="1\x1b[5m")
    write_bundle(root / "evil\x1b[1mname", manifest=manifest, source=evil)
    os.makedirs(os.fsencode(root / "latin1"), exist_ok=True)
    raw_name = os.fsencode(root / "latin1") + b"/caf\xe9\x1b"
    with open(raw_name, "wb") as f:
        f.write(b"\x00" * 10)
    os.chmod(raw_name, 0o755)
    for args in ([str(root), "--all"], [str(root), "--dag", "dag\x1b[31m"]):
        proc = cli(*args)
        assert_inert(proc.stdout)
        assert_inert(proc.stderr)
        assert "␛".encode() in proc.stdout
    bundle = next(p for p in root.iterdir() if p.name.startswith("evil"))
    inspected = cli("inspect", str(bundle))
    assert inspected.returncode == 0
    assert_inert(inspected.stdout)
    assert b"control characters shown as symbols" in inspected.stdout
    as_json = cli(str(root), "--json", "--all")
    assert_inert(as_json.stdout)
    assert json.loads(as_json.stdout)["bundles"]


def test_inspect_dumps_trailer_manifest_and_source(tmp_path: Path, run) -> None:
    path = write_bundle(tmp_path / "b", {"etl": ["extract"]}, source=b"package main\n// caf\xe9 is latin-1\n")
    proc = run("inspect", str(path))
    assert proc.returncode == 0
    text = proc.stdout.decode()
    for expected in ("status          ok", "footer_ver    1", "metadata_len", "(match)", "etl: extract", "--- manifest", "airflow_bundle_metadata_version: '1.0'", "--- source main.go", "caf\ufffd is latin-1", "invalid UTF-8 shown as"):
        assert expected in text, expected
    document = json.loads(run("inspect", str(path), "--json").stdout)
    assert document["source"]["invalid_utf8"] is True and document["manifest"].startswith("airflow_bundle_metadata_version")
    assert document["source_start"] > 0 and document["footer_ver"] == 1


def test_inspect_empty_source_and_rejected_and_non_executable(tmp_path: Path, run) -> None:
    empty = write_bundle(tmp_path / "empty", source=b"")
    assert "(source not available)" in run("inspect", str(empty)).stdout.decode()
    broken = write_raw_bundle(tmp_path / "broken", metadata=b"[unclosed")
    proc = run("inspect", str(broken))
    assert proc.returncode == 1 and b"metadata_undecodable" in proc.stdout
    plain = write_bundle(tmp_path / "plain", mode=0o644)
    proc = run("inspect", str(plain))
    assert proc.returncode == 1
    assert b"not_executable: Airflow skips it without reading" in proc.stdout and b"content: ok" in proc.stdout
    assert b"footer_ver    1" in proc.stdout


def test_pack_then_inspect(tmp_path: Path, run) -> None:
    exe = write_file(tmp_path / "app", b"#!/bin/sh\nexit 0\n" + b"\x00" * 100, mode=0o755)
    (tmp_path / "main.go").write_text("package main\n")
    (tmp_path / "m.yaml").write_text(
        "airflow_bundle_metadata_version: '1.0'\nsdk: {language: Go, version: '1', supervisor_schema_version: '2026-06-16'}\n"
        "dags: {etl: {tasks: [a]}}\n"
    )
    out = tmp_path / "dist" / "app.bundle"
    out.parent.mkdir()
    proc = run("pack", str(exe), "--source", str(tmp_path / "main.go"), "--manifest", str(tmp_path / "m.yaml"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"packed {out}".encode() in proc.stdout
    assert b"warning: manifest $.sdk.language" in proc.stderr
    report = json.loads(run("inspect", str(out), "--json").stdout)
    assert report["status"] == "ok" and report["source_name"] == "main.go"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pack", "exe"], "needs --manifest FILE and -o OUT"),
        (["--source", "x.go"], "belong to 'bundles pack'"),
        (["inspect"], "usage: bundles inspect PATH"),
        (["inspect", "/no/such/file"], "no such file"),
        (["--watch", "--json", "/tmp"], "cannot be combined with --json"),
        (["--demo", "/tmp"], "give no ROOT with it"),
        ([], "no bundle roots"),
    ],
    ids=["pack-options", "stray-pack-option", "inspect-arity", "inspect-missing", "watch-json", "demo-root", "no-roots"],
)
def test_usage_errors_are_one_line_with_status_2(args: list[str], message: str, run) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_pack_failure_is_one_line(tmp_path: Path, run) -> None:
    (tmp_path / "m.yaml").write_text("dags: {}\n")
    proc = run("pack", str(tmp_path / "missing"), "--manifest", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.decode().count("\n") == 1 and "dags must map at least one dag_id" in proc.stderr.decode()


def test_missing_root_is_status_2_but_still_reports(tmp_path: Path, run) -> None:
    write_bundle(tmp_path / "ok" / "b")
    proc = run(str(tmp_path / "ok"), str(tmp_path / "missing"), "--json")
    assert proc.returncode == 2
    roots = json.loads(proc.stdout)["roots"]
    assert [r["exists"] for r in roots] == [True, False]


def test_roots_from_airflow_configuration(tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_bundle(tmp_path / "deployed" / "b", {"from_airflow": ["t"]})
    value = json.dumps({"go": {"classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator", "kwargs": {"executables_root": [str(tmp_path / "deployed")]}}})
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", value)
    document = json.loads(run("--json").stdout)
    assert document["roots"][0]["origin"].startswith("AIRFLOW__SDK__COORDINATORS")
    assert list(document["dags"]) == ["from_airflow"]


def test_cache_is_written_under_xdg_cache_home_unless_disabled(tmp_path: Path, isolated_env: dict[str, str], run) -> None:
    write_bundle(tmp_path / "b")
    cache_file = Path(isolated_env["XDG_CACHE_HOME"]) / "remsvc-console" / "bundle-digests.json"
    run(str(tmp_path), "--no-cache")
    assert not cache_file.exists()
    run(str(tmp_path))
    assert cache_file.exists()
    assert b"1 digests from cache" in run(str(tmp_path)).stdout


def test_demo_shows_shadowing_ambiguity_and_tampering(run) -> None:
    proc = run("--demo")
    assert proc.returncode == 1
    text = proc.stdout.decode()
    assert "hash_mismatch" in text and "AMBIGUOUS" in text and "schema_version_unknown" in text
    assert_inert(proc.stdout)


def test_help_documents_forms_json_and_exit_statuses(run) -> None:
    text = run("--help").stdout.decode()
    for expected in ("bundles inspect PATH", "bundles pack EXECUTABLE", '"selected"', "exit status:", "0  every bundle", "2  usage error"):
        assert expected in text


def test_watch_prints_added_replaced_and_removed(tmp_path: Path) -> None:
    keep = write_bundle(tmp_path / "keep", {"k": ["t"]})
    doomed = write_bundle(tmp_path / "doomed", {"d": ["t"]})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "bundles", str(tmp_path), "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.decode()) for line in proc.stdout], daemon=True).start()

    def wait_for(fragment: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if fragment in line:
                return line
        raise AssertionError(f"no line with {fragment!r}")

    try:
        wait_for("watching every 0.2s")
        write_bundle(tmp_path / "fresh", {"f": ["t"]})
        assert str(tmp_path / "fresh") in wait_for("+ added")
        data = bytearray(keep.read_bytes())
        data[2] ^= 1
        write_file(tmp_path / ".incoming", bytes(data))
        os.replace(tmp_path / ".incoming", keep)
        assert "[ok -> hash_mismatch]" in wait_for("~ replaced")
        doomed.unlink()
        assert str(doomed) in wait_for("- removed")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert b"Traceback" not in err


def test_the_bundles_command_module_imports_no_yaml_schema_or_ui_until_a_verb_runs() -> None:
    """``bundles --help`` must stay light: YAML, JSON Schema and Textual load only when a scan needs them."""
    code = (
        "import sys\n"
        "import console.commands.bundles\n"
        "print(sorted(m for m in ('yaml', 'jsonschema', 'textual', 'grpc', 'httpx', 'asyncio') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    assert out.strip() == "[]"


def test_a_warm_scan_answered_from_the_report_cache_loads_neither_yaml_nor_json_schema(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b")
    code = (
        "import sys\n"
        "from console.bundles.roots import RootSpec\n"
        "from console.bundles.service import BundleService\n"
        "r = BundleService([RootSpec(sys.argv[1], 'arg')]).scan()\n"
        "print(r.reports_cached, sorted(m for m in ('yaml', 'jsonschema', 'asyncio') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def scan() -> str:
        command = [sys.executable, "-c", code, str(tmp_path)]
        return subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout.strip()

    assert scan() == "0 ['yaml']"
    assert scan() == "1 []"

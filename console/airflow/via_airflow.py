"""Ask Airflow itself for connections the console cannot read natively (metadata DB, other backends).

Airflow is found, in this order: the ``airflow_python`` setting (``REMSVC_CONSOLE_AIRFLOW_PYTHON``;
``off`` disables lookups), Airflow importable in the console's own interpreter, the interpreter
behind an ``airflow`` executable on PATH. ``airflow_child.py.in`` (Python for that interpreter only,
hence not a module of this package) runs there in a child process; connection ids go in on stdin
and fields (secrets included) come back on the stdout pipe, never through argv, files or logs. Airflow
takes seconds to import, so each id is asked at most once per console run and the answers stay in
this process's memory; listing the metadata DB asks for the ids and their answers in the same child.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AIRFLOW_PYTHON_ENV = "REMSVC_CONSOLE_AIRFLOW_PYTHON"
DISABLED = "off"
TIMEOUT_S = 90.0
_CHILD = Path(__file__).with_name("airflow_child.py.in")
_CACHE: dict[tuple[str, str, str], dict[str, Any]] = {}
_LOCK = threading.Lock()
_RUNNING: set[subprocess.Popen] = set()  # children being waited for, so quitting can stop them
_RUNNING_LOCK = threading.Lock()
_stopping = threading.Event()


class AirflowUnavailable(Exception):
    """No Airflow interpreter could be found or used; ``str()`` says what to set."""


class AirflowFailed(Exception):
    """Airflow was found but could not answer (crashed, timed out, refused access)."""


@dataclass(frozen=True)
class AirflowAnswer:
    """What Airflow said about one id: the backend that had it and its fields, or what each backend said.

    ``unreadable`` is set (and ``fields`` is None) when a backend has the id but Airflow cannot read
    its stored value.
    """

    conn_id: str
    backend: str | None = None
    fields: dict[str, Any] | None = field(default=None, repr=False)
    tried: list[dict[str, Any]] = field(default_factory=list)
    unreadable: str | None = None


def find_airflow_python(env: Mapping[str, str] | None = None, configured: str | None = None) -> str:
    """The interpreter to run Airflow with, or AirflowUnavailable naming what was looked at."""
    env = os.environ if env is None else env
    setting = configured if configured is not None else env.get(AIRFLOW_PYTHON_ENV) or _setting(env)
    if setting:
        if setting.strip().lower() == DISABLED:
            raise AirflowUnavailable(f"Airflow lookups are off (airflow_python: {DISABLED})")
        path = shutil.which(os.path.expanduser(setting), path=env.get("PATH", os.defpath))
        if path is None:
            raise AirflowUnavailable(f"airflow_python {setting!r} is not an executable")
        return path
    if importlib.util.find_spec("airflow") is not None:
        return sys.executable
    script = shutil.which("airflow", path=env.get("PATH", os.defpath))
    if script is not None:
        interpreter = _shebang_interpreter(Path(script), env)
        if interpreter is not None:
            return interpreter
    raise AirflowUnavailable(
        f"Airflow not found: set airflow_python (or {AIRFLOW_PYTHON_ENV}) to the python of your Airflow installation"
    )


def ask_airflow(conn_ids: Iterable[str], *, env: Mapping[str, str] | None = None, python: str) -> dict[str, AirflowAnswer]:
    """Answers for ``conn_ids``; ids already asked in this run come from memory, the rest from one child."""
    env = dict(os.environ if env is None else env)
    fingerprint = _fingerprint(env)
    ids = list(dict.fromkeys(conn_ids))
    with _LOCK:
        missing = [i for i in ids if (python, fingerprint, i) not in _CACHE]
        if missing:
            for conn_id, raw in _run_child(python, {"ids": missing}, env).get("results", {}).items():
                _CACHE[(python, fingerprint, conn_id)] = raw
        raws = {i: _CACHE[(python, fingerprint, i)] for i in ids}
    answers = {}
    for conn_id, raw in raws.items():
        if "denied" in raw:
            raise AirflowFailed(raw["denied"])
        answers[conn_id] = _answer(conn_id, raw)
    return answers


@dataclass(frozen=True)
class AirflowListing:
    """The metadata DB's connection ids and, for each not skipped, what Airflow's lookup answered.

    ``teams`` maps ids a team owns to the team (Airflow gives those only to that team's DAGs, so they
    are not looked up); ``denied`` maps ids a backend refused to the refusal; ``db_error`` says why
    the DB could not be listed (then ``db_ids`` is empty).
    """

    db_ids: list[str]
    answers: dict[str, AirflowAnswer] = field(default_factory=dict)
    denied: dict[str, str] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)
    db_error: str | None = None


def list_airflow(skip: Iterable[str], *, env: Mapping[str, str] | None = None, python: str) -> AirflowListing:
    """List the DB's connection ids and look up each one not in ``skip``, in one child.

    The answers are remembered like those of ``ask_airflow``; the listing itself is not (the DB changes).
    """
    env = dict(os.environ if env is None else env)
    fingerprint = _fingerprint(env)
    reply = _run_child(python, {"ids": [], "list_db": True, "skip": sorted(set(skip))}, env)
    if "db_error" in reply:
        return AirflowListing([], db_error=f"Airflow ({python}) cannot list the metadata DB: {reply['db_error']}")
    answers, denied = {}, {}
    with _LOCK:
        for conn_id, raw in reply.get("results", {}).items():
            if "denied" in raw:
                denied[conn_id] = raw["denied"]
                continue
            _CACHE[(python, fingerprint, conn_id)] = raw
            answers[conn_id] = _answer(conn_id, raw)
    return AirflowListing(list(reply.get("db_ids", [])), answers, denied, dict(reply.get("db_teams", {})))


def stop_children() -> None:
    """Kill every Airflow child still running, with whatever it started: the console is quitting, and
    the thread waiting for a child (up to ``TIMEOUT_S``) would otherwise hold the exit until it ends."""
    _stopping.set()
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for proc in running:
        _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def forget() -> None:
    """Drop every remembered answer (a new run, or a test starting afresh)."""
    with _LOCK:
        _CACHE.clear()
    _stopping.clear()


def _answer(conn_id: str, raw: dict[str, Any]) -> AirflowAnswer:
    return AirflowAnswer(conn_id, raw.get("backend"), raw.get("fields"), list(raw.get("tried", [])), raw.get("unreadable"))


def _run_child(python: str, request: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The child's reply to ``request``; AirflowFailed when it gave none or could not load Airflow."""
    code = _CHILD.read_text(encoding="utf-8")
    try:
        proc = subprocess.Popen(
            [python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, start_new_session=True,
        )
    except OSError as exc:
        raise AirflowFailed(f"cannot run Airflow's python {python}: {exc.strerror or exc}") from None
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        stdout, stderr = proc.communicate(json.dumps(request), timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        raise AirflowFailed(f"Airflow ({python}) did not answer within {TIMEOUT_S:.0f} s") from None
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    if proc.returncode == -signal.SIGKILL and _stopping.is_set():
        raise AirflowFailed(f"Airflow ({python}) stopped: the console is quitting")
    try:
        reply = json.loads(stdout)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        tail = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise AirflowFailed(f"Airflow ({python}) failed (exit {proc.returncode}): {without_url_passwords(tail[0])[:200]}")
    _scrub_errors(reply)
    if "error" in reply:
        raise AirflowFailed(f"Airflow ({python}): {reply['error']}")
    return reply


# ``scheme://user:password@host``: a database or broker URL in an error Airflow raised (a config it
# could not load, a DB it could not reach) would otherwise carry its password to the terminal.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][\w+.-]*://[^\s:/@]*:)[^\s@]+@")


def without_url_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def _scrub_errors(reply: dict[str, Any]) -> None:
    """Remove URL passwords from every error text of a child's reply (never from connection fields)."""
    for key in ("error", "db_error"):
        if isinstance(reply.get(key), str):
            reply[key] = without_url_passwords(reply[key])
    for raw in (reply.get("results") or {}).values():
        if not isinstance(raw, dict):
            continue
        for key in ("denied", "unreadable"):
            if isinstance(raw.get(key), str):
                raw[key] = without_url_passwords(raw[key])
        for tried in raw.get("tried") or []:
            if isinstance(tried, dict) and isinstance(tried.get("error"), str):
                tried["error"] = without_url_passwords(tried["error"])


def _setting(env: Mapping[str, str]) -> str | None:
    """``airflow_python`` from the settings file; a settings file that cannot be read counts as unset."""
    from ..settings import SettingsError, load_settings

    try:
        value = load_settings(env=env).airflow_python
    except SettingsError:
        return None
    return str(value) if value else None


def _shebang_interpreter(script: Path, env: Mapping[str, str]) -> str | None:
    try:
        with script.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if Path(words[0]).name == "env" and len(words) > 1:
        return shutil.which(words[1], path=env.get("PATH", os.defpath))
    return words[0] if os.access(words[0], os.X_OK) else None


def _fingerprint(env: Mapping[str, str]) -> str:
    """Answers depend on Airflow's configuration, so they are remembered per configuration."""
    relevant = sorted((k, v) for k, v in env.items() if k.startswith("AIRFLOW") or k in ("HOME", "PATH"))
    return hashlib.sha256(json.dumps(relevant).encode()).hexdigest()

"""Quitting the console stops an Airflow child that is still answering, with what it started, so the
exit is not held for the lookup's timeout. The child here is a real process standing in for a slow
Airflow (it starts a grandchild and waits); no Airflow is needed."""

from __future__ import annotations

import os
import threading
import time

import pytest

from console.airflow import via_airflow
from console.airflow.via_airflow import AirflowFailed


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_stop_children_ends_a_waiting_lookup_and_what_it_started(tmp_path):
    pids = tmp_path / "pids"
    slow = tmp_path / "slow-airflow-python"
    slow.write_text(f'#!/bin/sh\nsleep 300 &\necho "$$ $!" > "{pids}"\nwait\n')
    slow.chmod(0o755)
    via_airflow.forget()
    outcome: list[BaseException] = []

    def lookup() -> None:
        try:
            via_airflow.ask_airflow(["remsvc_x"], env=dict(os.environ), python=str(slow))
        except BaseException as exc:  # noqa: BLE001 - the test inspects what the lookup raised
            outcome.append(exc)

    waiting = threading.Thread(target=lookup)
    waiting.start()
    deadline = time.monotonic() + 10
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child, grandchild = map(int, pids.read_text().split())
    assert alive(child) and alive(grandchild)
    via_airflow.stop_children()
    waiting.join(20)
    try:
        assert not waiting.is_alive(), "the lookup still waits for its child"
        assert len(outcome) == 1 and isinstance(outcome[0], AirflowFailed)
        assert "the console is quitting" in str(outcome[0])
        deadline = time.monotonic() + 10
        while alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(grandchild), "what the child started is stopped too"
    finally:
        via_airflow.forget()
        for pid in (child, grandchild):
            if alive(pid):
                os.kill(pid, 9)


def test_a_lookup_after_forget_is_not_reported_as_quitting(tmp_path):
    failing = tmp_path / "failing-airflow-python"
    failing.write_text("#!/bin/sh\necho 'no airflow here' >&2\nexit 1\n")
    failing.chmod(0o755)
    via_airflow.stop_children()
    via_airflow.forget()
    with pytest.raises(AirflowFailed, match=r"failed \(exit 1\): no airflow here"):
        via_airflow.ask_airflow(["remsvc_x"], env=dict(os.environ), python=str(failing))

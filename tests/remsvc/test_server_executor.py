"""The child-process runner behind the embedded server: real /bin/sh children, real pipes."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.server.executor import (
    OUTPUT_LIMIT,
    TIMED_OUT,
    RunAsError,
    command_argv,
    complete_utf8_length,
    resolve_run_as,
    run_command,
)
from console.remsvc.model import TRUNCATION_MARKER
from tests.helpers.remsvc_server import wait_process_gone


async def test_stdout_stderr_and_exit_status_are_kept_apart():
    result = await run_command("echo out; echo err >&2; exit 7")
    assert (result.rc, result.out, result.err) == (7, "out\n", "err\n")
    assert not result.timed_out


async def test_stdin_is_closed():
    result = await run_command("cat; echo rc=$?")
    assert result.out == "rc=0\n"


async def test_quotes_and_unicode_reach_the_shell_unchanged():
    cmd = """printf '%s|%s' "it's \\"quoted\\"" 'ünïcødé ✓ 日本'"""
    result = await run_command(cmd)
    assert result.out == "it's \"quoted\"|ünïcødé ✓ 日本"


async def test_large_stdout_and_stderr_at_once_do_not_deadlock_and_are_truncated_separately():
    cmd = "head -c 300000 /dev/zero | tr '\\0' a & head -c 300000 /dev/zero | tr '\\0' b >&2; wait"
    result = await run_command(cmd, timeout_s=60)
    assert result.rc == 0
    assert result.out == "a" * OUTPUT_LIMIT + TRUNCATION_MARKER
    assert result.err == "b" * OUTPUT_LIMIT + TRUNCATION_MARKER
    assert result.out_truncated and result.err_truncated


async def test_output_of_exactly_the_limit_is_not_truncated():
    result = await run_command(f"head -c {OUTPUT_LIMIT} /dev/zero | tr '\\0' z")
    assert result.out == "z" * OUTPUT_LIMIT and not result.out_truncated


async def test_truncation_never_splits_a_utf8_character():
    # One ASCII byte then two-byte characters: byte 262,144 is the first half of an "é".
    cmd = "printf x; yes é | head -n 200000 | tr -d '\\n'"
    result = await run_command(cmd, timeout_s=60)
    assert result.out_truncated
    body = result.out[: -len(TRUNCATION_MARKER)]
    assert result.out.endswith(TRUNCATION_MARKER)
    assert body == "x" + "é" * ((OUTPUT_LIMIT - 1) // 2)
    assert "\ufffd" not in body


@given(st.text(max_size=40), st.integers(min_value=0, max_value=200))
def test_cut_point_is_the_longest_complete_utf8_prefix(text, cut):
    data = text.encode("utf-8")[:cut]
    keep = complete_utf8_length(data)
    assert text.encode("utf-8").startswith(data[:keep])
    assert _decodes(data[:keep])  # no partial character left at the end
    assert not any(_decodes(data[:n]) for n in range(keep + 1, len(data) + 1))  # and nothing more dropped


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def test_invalid_utf8_output_becomes_replacement_characters():
    result = await run_command("printf 'ok\\377\\376end'")
    assert result.out == "ok\ufffd\ufffdend"
    result.out.encode("utf-8")


async def test_timeout_reports_rc1_and_kills_the_whole_process_group(tmp_path):
    pids = tmp_path / "pids"
    cmd = f"echo $$ > {pids}; sleep 60 & echo $! >> {pids}; echo partial; wait"
    result = await run_command(cmd, timeout_s=0.5)
    assert (result.rc, result.err, result.timed_out) == (1, TIMED_OUT, True)
    assert result.out == "partial\n"
    shell_pid, sleep_pid = (int(line) for line in pids.read_text().split())
    assert await wait_process_gone(shell_pid) and await wait_process_gone(sleep_pid)


async def test_background_child_holding_the_pipes_is_killed_at_the_timeout(tmp_path):
    pid_file = tmp_path / "bg"
    result = await run_command(f"sleep 60 & echo $! > {pid_file}; echo started", timeout_s=0.5)
    assert (result.rc, result.err) == (1, TIMED_OUT)
    assert await wait_process_gone(int(pid_file.read_text()))


async def test_cancelling_the_caller_kills_the_child(tmp_path):
    pid_file = tmp_path / "pid"
    task = asyncio.ensure_future(run_command(f"echo $$ > {pid_file}; exec sleep 60"))
    while not pid_file.exists() or not pid_file.read_text().strip():
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_process_gone(int(pid_file.read_text()))


async def test_killed_by_signal_reports_128_plus_signal():
    result = await run_command("kill -9 $$")
    assert result.rc == 137


async def test_children_get_default_sigpipe():
    # With SIGPIPE ignored (as Python leaves it) `yes` would report a broken pipe on stderr.
    result = await run_command("yes | head -n 1")
    assert (result.rc, result.out, result.err) == (0, "y\n", "")


async def test_missing_pwsh_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = await run_command("Write-Output hi", cmdtyp=1)
    assert result.rc == 127
    assert "pwsh not found" in result.err and "cmdtyp 1" in result.err


async def test_cmdtyp_1_runs_pwsh_with_the_command(tmp_path, monkeypatch):
    # An argv-echoing program named pwsh stands in for PowerShell, which this machine lacks.
    fake = tmp_path / "pwsh"
    fake.write_text("#!/bin/sh\nprintf '[%s]' \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    result = await run_command("Get-Date; 'x y'", cmdtyp=1)
    assert result.out == "[-NoProfile][-NonInteractive][-Command][Get-Date; 'x y']"


async def test_unknown_cmdtyp_is_answered_not_raised():
    result = await run_command("true", cmdtyp=5)
    assert result.rc == 127 and "unsupported cmdtyp 5" in result.err


def test_argv_for_the_native_shell():
    assert command_argv("echo 'a b'", 0) == ["/bin/sh", "-c", "echo 'a b'"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_cmdusr_runs_as_that_user_when_server_is_root():
    result = await run_command('id -un; id -u; echo "$HOME"', cmdusr="nobody")
    name, uid, home = result.out.splitlines()
    assert (name, uid, result.rc) == ("nobody", "65534", 0)
    assert home == "/nonexistent"  # nobody's home, from the passwd entry


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_cmdusr_starts_in_the_users_home_or_root_and_with_their_groups():
    result = await run_command("pwd; id -G", cmdusr="nobody")
    cwd, groups = result.out.splitlines()
    assert cwd == "/"  # nobody's home does not exist
    assert groups.split() == [str(g) for g in resolve_run_as("nobody", euid=0).groups]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_cmdusr_without_setpriv_is_refused_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = await run_command("true", cmdusr="nobody")
    assert result.rc == 126
    assert result.err == "cannot run as user 'nobody': setpriv (util-linux) is not installed on the server"


def test_commands_inherit_no_descriptor_but_stdin_stdout_stderr():
    """A descriptor the server process inherited (here an inheritable pipe) never reaches a command."""
    code = (
        "import asyncio, os\n"
        "r, w = os.pipe(); os.set_inheritable(w, True)\n"
        "from console.server.executor import run_command\n"
        "print(asyncio.run(run_command('ls /proc/$$/fd')).out, end='')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}).stdout
    assert out.split() == ["0", "1", "2"]


async def test_unknown_cmdusr_is_a_clear_error():
    result = await run_command("true", cmdusr="no-such-user-xyz")
    assert result.rc == 126 and result.err == "unknown user 'no-such-user-xyz': no such account on the server"


def test_non_root_server_cannot_switch_users():
    with pytest.raises(RunAsError, match="not root, so it can only run commands as itself"):
        resolve_run_as("nobody", euid=4242)


def test_non_root_server_may_name_itself():
    assert resolve_run_as("nobody", euid=65534) is None


def test_root_resolves_uid_gid_groups_and_home():
    run_as = resolve_run_as("nobody", euid=0)
    assert (run_as.uid, run_as.gid, run_as.home) == (65534, 65534, "/nonexistent")
    assert 65534 in run_as.groups


async def test_non_root_branch_answers_with_an_error_through_run_command():
    result = await run_command("true", cmdusr="nobody", euid=4242)
    assert result.rc == 126 and "cannot run as user 'nobody'" in result.err

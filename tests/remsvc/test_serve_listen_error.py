"""`serve`'s "cannot listen on" line carries a host from the command line or an INI file: it is inert."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers.remsvc_server import serve_command, server_env

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J"


@pytest.mark.parametrize("where", ["option", "ini"])
def test_hostile_host_in_cannot_listen_is_inert(tmp_path, where):
    if where == "ini":
        ini = tmp_path / "server.ini"
        ini.write_text(f"[server]\nhost = {HOSTILE}\n", encoding="utf-8")
        args = ["--config", str(ini), "--port", "0"]
    else:
        args = ["--host", HOSTILE, "--port", "0"]
    proc = subprocess.run(serve_command(*args), capture_output=True, text=True, env=server_env(), timeout=60, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "cannot listen on" in line
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    assert "␛]0;PWNED␇␛[2J" in line

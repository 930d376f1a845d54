"""The environment benchmark child processes start in: from bytecode, as an installed console does.

An environment with ``PYTHONDONTWRITEBYTECODE`` set (CI images often set it) never writes ``.pyc``
files, so every child would compile each changed module again and the start-up it measures would
be the compiler's. ``pip install`` compiles a package when it installs it, and an editable install
writes its bytecode on the first run; the benchmarks compile ``console/`` once up front and let
their children write bytecode too.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def child_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``base`` (default ``os.environ``) without ``PYTHONDONTWRITEBYTECODE``, with ``PYTHONPATH`` at
    the checkout and ``extra`` on top; ``console/`` is compiled first."""
    compileall.compile_dir(REPO / "console", quiet=2)
    env = {k: v for k, v in (os.environ if base is None else base).items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env

"""Run this interpreter without root's power to read every file, for tests of permission errors.

Root bypasses file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). Dropping those two from a child's
bounding set with setpriv keeps the same user, the same interpreter and the same checkout, so such a test
does not depend on another account being able to reach wherever the checkout happens to live.
"""

from __future__ import annotations

import os
import shutil
import sys


def python_command(code: str, *args: str) -> list[str]:
    """argv running ``code`` in this interpreter, with file permissions enforced even for root."""
    command = [sys.executable, "-c", code, *args]
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root's file capabilities"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]

"""Start-up benchmark: light subcommands against a bare interpreter started in the same run.

Run: ``python tests/bench/bench_startup.py`` (``--rounds`` to vary). Each command runs as a new
process the way the ``remsvc-console`` script starts it; runs alternate between the baseline and
every command, and medians are compared, so the ratios hold on any machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENTRY = "import sys; from console.cli import main; sys.exit(main())"  # what the console script does
TARGET = 6.0
COMMANDS = {
    "--help": ["--help"],
    "conn list": ["conn", "list"],
    "bundles --help": ["bundles", "--help"],
    "run --help": ["run", "--help"],
}


def wall_ms(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{argv[3:]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "REMSVC_CONSOLE_", "PYTHON"))}
        env.update(PYTHONPATH=str(REPO), HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home)
        baseline = [sys.executable, "-c", "pass"]
        runs: dict[str, list[float]] = {"python -c pass": [], **{name: [] for name in COMMANDS}}
        for argv in [baseline] + [[sys.executable, "-c", ENTRY, *a] for a in COMMANDS.values()]:
            wall_ms(argv, env, home)  # warm the page cache and the bytecode
        for _ in range(args.rounds):
            runs["python -c pass"].append(wall_ms(baseline, env, home))
            for name, extra in COMMANDS.items():
                runs[name].append(wall_ms([sys.executable, "-c", ENTRY, *extra], env, home))
    base = statistics.median(runs["python -c pass"])
    print(f"start-up, median of {args.rounds} alternating runs (new process each)")
    print(f"  {'python -c pass':<16} {base:7.1f} ms  baseline")
    for name in COMMANDS:
        ms = statistics.median(runs[name])
        goal = f"  (target <= {TARGET:g}x)" if name in ("--help", "conn list") else ""
        print(f"  {name:<16} {ms:7.1f} ms  {ms / base:5.2f}x{goal}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

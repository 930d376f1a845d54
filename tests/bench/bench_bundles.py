"""Bundle scanner benchmarks: cold hashing on all cores, warm scans from the report cache, Airflow's coordinator.

Run: ``python tests/bench/bench_bundles.py`` (``--bundles``, ``--size-mib``, ``--small``, ``--rounds``,
``--no-airflow`` to vary). One tree is generated in a temporary directory (32 x 16 MiB bundles plus
2,000 small ones by default) and removed afterwards. Every figure is a ratio against a baseline
measured in the same run, so the ratios hold on any machine:

(a) cold scan (empty cache, new process) against single-thread ``hashlib.sha256`` reading and hashing
    the same binary regions the same way (target >= 1.5x); plus the first cold scan in a process
    against a second cold scan in the same process, which is where a new process loses time;
(b) warm scan (new process, persistent report cache) against the cold scan;
(c) warm scan against a plain ``os.walk`` + ``os.stat`` of the same tree in the same process;
(d) the whole warm-scan process against Airflow's ExecutableCoordinator in a new process
    (``_Bundle.find`` for a dag_id no bundle declares, so it walks, reads and hashes everything),
    run in the cached Airflow virtualenv of the test suite (target >= 20x faster).

Scans run in child interpreters (``python -c``, importing only the service) so the warm one really
starts from the cache file on disk and pays what a new process pays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_env import child_env  # the script's own directory is on sys.path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CHUNK = 1 << 20
AIRFLOW_FIND = r"""
import pathlib, sys
from airflow.sdk.coordinators.executable.coordinator import _Bundle
try:
    _Bundle.find([pathlib.Path(sys.argv[1])], "no_bundle_declares_this_dag")
except FileNotFoundError:
    pass
"""


def make_big_tree(root: Path, count: int, size: int) -> int:
    """``count`` bundles whose binary regions are ``size`` bytes each; returns the bytes to hash."""
    from console.bundles.packer import bundle_bytes, make_manifest  # not in the children: they time a bare start

    block = bytearray(os.urandom(size))
    for i in range(count):
        block[:8] = i.to_bytes(8, "little")
        path = root / f"team-{i % 4}" / f"bundle-{i:03d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bundle_bytes(bytes(block), b"package main\n", make_manifest({f"dag_{i}": ["run"]})))
        os.chmod(path, 0o755)
    return count * size


def make_small_tree(root: Path, count: int) -> None:
    from console.bundles.packer import bundle_bytes, make_manifest

    for i in range(count):
        path = root / f"d{i % 50:02d}" / f"s{i // 50:03d}" / f"bundle-{i:05d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        binary = b"#!/bin/sh\nexit 0\n" + i.to_bytes(4, "little") * (256 + i % 512)
        path.write_bytes(bundle_bytes(binary, b"fn main() {}\n", make_manifest({f"small_{i}": ["t"]})))
        os.chmod(path, 0o755)


def single_thread_hash(root: Path) -> tuple[float, int]:
    """The baseline: one thread reads each binary region in 1 MiB chunks into hashlib.sha256."""
    started = time.perf_counter()
    total = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(size - 64)
            tail = f.read(64)
            binary_len = size - 64 - int.from_bytes(tail[0:4], "little") - int.from_bytes(tail[4:8], "little")
            f.seek(0)
            digest = hashlib.sha256()
            left = binary_len
            while left:
                n = f.readinto(view[: min(CHUNK, left)])
                digest.update(view[:n])
                left -= n
            total += binary_len
    return time.perf_counter() - started, total


CHILD_SCAN = r"""
import time
started = time.perf_counter()
import json, sys
from console.bundles.roots import RootSpec
from console.bundles.service import BundleService
imported = time.perf_counter()
root, use_cache, second = sys.argv[1], sys.argv[2] == "cache", sys.argv[3] == "second"
service = BundleService([RootSpec(root, "bench")], use_cache=use_cache)
opened = time.perf_counter()
result = service.scanner.scan()
scanned = time.perf_counter()
service.save_cache()
saved = time.perf_counter()
report = {
    "import_s": imported - started, "open_s": opened - imported, "scan_s": scanned - opened, "save_s": saved - scanned,
    "hashed": result.bytes_hashed, "hits": result.cache_hits, "reports": result.reports_cached,
    "files": len(result.bundles), "ok": sum(1 for r in result.bundles if r.status.value == "ok"),
}
if second:
    again = BundleService([RootSpec(root, "bench")], use_cache=False)
    t = time.perf_counter()
    assert again.scanner.scan().bytes_hashed == result.bytes_hashed
    report["second_scan_s"] = time.perf_counter() - t
print(json.dumps(report))
"""

CHILD_WALK = r"""
import json, os, sys, time
started = time.perf_counter()
files = 0
for directory, _, names in os.walk(sys.argv[1], followlinks=True):
    for name in names:
        os.stat(os.path.join(directory, name))
        files += 1
print(json.dumps({"walk_stat_s": time.perf_counter() - started, "files": files}))
"""


def child(code: str, args: list[str], cache_home: str) -> dict:
    """``code`` in a new interpreter that imports only what it times; ``process_s`` is its whole life."""
    env = child_env(XDG_CACHE_HOME=cache_home)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True).stdout
    result = json.loads(out)
    result["process_s"] = time.perf_counter() - started
    return result


def scan_child(root: Path, cache_home: str, *, second: bool = False) -> dict:
    return child(CHILD_SCAN, [str(root), "cache", "second" if second else "once"], cache_home)


def airflow_python() -> Path | None:
    """The test suite's cached Airflow virtualenv (installed once per machine), or None when unavailable."""
    try:
        from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow
    except ImportError:
        return None
    try:
        return ensure_airflow().venv / "bin" / "python"
    except AirflowUnavailable as exc:
        print(f"(d) skipped: Airflow unavailable: {exc}")
        return None


def airflow_find(python: Path, root: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env["AIRFLOW_HOME"] = str(root.parent / "airflow-home")
    started = time.perf_counter()
    subprocess.run([str(python), "-c", AIRFLOW_FIND, str(root)], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=int, default=32)
    parser.add_argument("--size-mib", type=int, default=16)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="repeat every measurement, report medians")
    parser.add_argument("--no-airflow", action="store_true", help="leave out (d)")
    args = parser.parse_args()

    python = None if args.no_airflow else airflow_python()
    work = Path(tempfile.mkdtemp(prefix="bench-bundles-"))
    try:
        print(f"cores: {os.cpu_count()}, load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        tree = work / "tree"
        t = time.perf_counter()
        total = make_big_tree(tree / "big", args.bundles, args.size_mib << 20)
        make_small_tree(tree / "small", args.small)
        files = args.bundles + args.small
        print(f"generated {args.bundles} x {args.size_mib} MiB and {args.small} small bundles in {time.perf_counter() - t:.1f}s")

        names = ("base", "cold", "second", "save", "first_small", "warm", "warm_proc", "warm_import", "warm_open", "walk", "airflow")
        rows: dict[str, list[float]] = {k: [] for k in names}
        big_bytes = 0
        for round_no in range(args.rounds):
            cache_home = str(work / f"cache-{round_no}")
            seconds, big_bytes = single_thread_hash(tree / "big")
            rows["base"].append(seconds)
            cold = scan_child(tree / "big", cache_home + "-big", second=True)
            assert cold["hashed"] == big_bytes and cold["ok"] == args.bundles, cold
            rows["cold"].append(cold["scan_s"])
            rows["second"].append(cold["second_scan_s"])
            whole = scan_child(tree, cache_home)
            assert whole["ok"] == files, whole
            rows["save"].append(whole["save_s"])
            rows["first_small"].append(whole["scan_s"])
            warm = scan_child(tree, cache_home)
            assert warm["hashed"] == 0 and warm["reports"] == files, warm
            rows["warm"].append(warm["scan_s"])
            rows["warm_proc"].append(warm["process_s"])
            rows["warm_import"].append(warm["import_s"])
            rows["warm_open"].append(warm["open_s"])
            rows["walk"].append(child(CHILD_WALK, [str(tree)], cache_home)["walk_stat_s"])
            if python is not None:
                rows["airflow"].append(airflow_find(python, tree))
        m = {k: statistics.median(v) for k, v in rows.items() if v}
        mib = big_bytes / (1 << 20)
        print(f"\nmedians of {args.rounds} rounds; every scan in a new process\n")
        print(f"(a) cold scan of the {args.bundles} x {args.size_mib} MiB bundles ({mib:,.0f} MiB), empty cache:")
        print(f"    single-thread hashlib.sha256 (read + hash): {mib / m['base']:7.0f} MB/s  ({m['base']:.3f}s)")
        print(f"    console scanner, {os.cpu_count()} workers:            {mib / m['cold']:7.0f} MB/s  ({m['cold']:.3f}s)")
        print(f"    ratio: {m['base'] / m['cold']:.2f}x single-thread hashlib (target >= 1.5x)")
        print(f"    first cold scan in a process vs a second one in the same process: {m['cold']:.3f}s vs {m['second']:.3f}s "
              f"({m['cold'] / m['second']:.2f}x)")
        print(f"    cold scan of the whole tree ({files} files): {m['first_small']:.3f}s, then saving the cache {m['save'] * 1000:.0f} ms")
        print("(b) warm scan of the whole tree, persistent report cache:")
        print(f"    scan {m['warm'] * 1000:.1f} ms vs cold {m['first_small'] * 1000:.0f} ms: {m['first_small'] / m['warm']:.0f}x faster")
        print("(c) warm scan against a plain os.walk + os.stat of the same tree (each in its own new process):")
        print(f"    scan {m['warm'] * 1000:.1f} ms vs walk+stat {m['walk'] * 1000:.1f} ms: {m['warm'] / m['walk']:.2f}x the walk's time")
        if "airflow" in m:
            print("(d) whole warm-scan process against Airflow's coordinator in a new process (same tree):")
            print(f"    console {m['warm_proc'] * 1000:.0f} ms vs Airflow {m['airflow']:.2f}s: "
                  f"{m['airflow'] / m['warm_proc']:.1f}x faster (target >= 20x)")
            print(f"    console process: imports {m['warm_import'] * 1000:.0f} ms, cache load {m['warm_open'] * 1000:.0f} ms, "
                  f"scan {m['warm'] * 1000:.0f} ms, the rest is interpreter start and exit")
        print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

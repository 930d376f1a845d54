"""Bundle scanner benchmarks: parallel hashing, the persistent digest cache, and many small files.

Run: ``python tests/bench/bench_bundles.py`` (``--bundles``, ``--size-mib``, ``--small``, ``--rounds``
to vary). Everything is generated in a temporary directory that is removed afterwards. Each figure
is compared with a baseline measured in the same run, so the ratios hold on any machine:

(a) cold scan (empty digest cache) throughput against single-thread ``hashlib.sha256`` over the same
    bytes, read the same way (target >= 1.5x on 2 cores); the pure in-memory hash rate is shown too;
(b) warm scan in a NEW process that loads the persistent cache, against the cold scan (target >= 20x);
(c) a tree of small bundles: files per second, cold and warm.

Scans run in child processes (``--child``) so the warm one really starts from the file on disk.
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.bundles.packer import bundle_bytes, make_manifest  # noqa: E402

CHUNK = 1 << 20


def make_big_tree(root: Path, count: int, size: int) -> int:
    """``count`` bundles whose binary regions are ``size`` bytes each; returns the bytes to hash."""
    block = bytearray(os.urandom(size))
    for i in range(count):
        block[:8] = i.to_bytes(8, "little")
        path = root / f"team-{i % 4}" / f"bundle-{i:03d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bundle_bytes(bytes(block), b"package main\n", make_manifest({f"dag_{i}": ["run"]})))
        os.chmod(path, 0o755)
    return count * size


def make_small_tree(root: Path, count: int) -> None:
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
            tail = f.seek(size - 64) and f.read(64)
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


def in_memory_hash(size: int, count: int) -> float:
    """Pure hashing rate (no I/O) over ``count`` buffers of ``size`` bytes, in seconds."""
    block = os.urandom(size)
    started = time.perf_counter()
    for _ in range(count):
        hashlib.sha256(block).digest()
    return time.perf_counter() - started


def child_scan(root: str, cache_home: str, use_cache: bool = True) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": cache_home, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    args = [sys.executable, __file__, "--child", root] + ([] if use_cache else ["--no-cache"])
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    result = json.loads(out)
    result["process_s"] = time.perf_counter() - started
    return result


def run_child(root: str, use_cache: bool) -> None:
    from console.bundles.roots import RootSpec
    from console.bundles.service import BundleService

    service = BundleService([RootSpec(root, "bench")], use_cache=use_cache)
    started = time.perf_counter()
    result = service.scan()
    elapsed = time.perf_counter() - started
    ok = sum(1 for r in result.bundles if r.status.value == "ok")
    print(json.dumps({"scan_s": elapsed, "hashed": result.bytes_hashed, "hits": result.cache_hits, "files": len(result.bundles), "ok": ok}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=int, default=64)
    parser.add_argument("--size-mib", type=int, default=16)
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="repeat (a) and (b), report medians")
    parser.add_argument("--child", metavar="ROOT", help=argparse.SUPPRESS)
    parser.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, not args.no_cache)
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-bundles-"))
    try:
        print(f"cores: {os.cpu_count()}, load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        big, small = work / "big", work / "small"
        t = time.perf_counter()
        total = make_big_tree(big, args.bundles, args.size_mib << 20)
        make_small_tree(small, args.small)
        print(f"generated {args.bundles} x {args.size_mib} MiB and {args.small} small bundles in {time.perf_counter() - t:.1f}s")
        mib = total / (1 << 20)

        base_s, cold_s, warm_s, warm_proc_s, mem_s = [], [], [], [], []
        for round_no in range(args.rounds):
            cache_home = str(work / f"cache-{round_no}")
            seconds, hashed = single_thread_hash(big)
            assert hashed == total
            base_s.append(seconds)
            cold = child_scan(str(big), cache_home)
            assert cold["hashed"] == total and cold["ok"] == args.bundles, cold
            cold_s.append(cold["scan_s"])
            warm = child_scan(str(big), cache_home)
            assert warm["hashed"] == 0 and warm["hits"] == args.bundles, warm
            warm_s.append(warm["scan_s"])
            warm_proc_s.append(warm["process_s"])
            mem_s.append(in_memory_hash(args.size_mib << 20, args.bundles))

        base, cold, warm, warm_proc, mem = (statistics.median(x) for x in (base_s, cold_s, warm_s, warm_proc_s, mem_s))
        print()
        print(f"(a) cold scan, {args.bundles} x {args.size_mib} MiB, median of {args.rounds}:")
        print(f"    single-thread hashlib.sha256 (read + hash): {mib / base:8.0f} MB/s  ({base:.3f}s)")
        print(f"    single-thread hashlib.sha256 (in memory):   {mib / mem:8.0f} MB/s  ({mem:.3f}s)")
        print(f"    console scanner, {os.cpu_count()} workers:            {mib / cold:8.0f} MB/s  ({cold:.3f}s)")
        print(f"    ratio vs read + hash: {base / cold:.2f}x   vs in-memory hash: {mem / cold:.2f}x   (target >= 1.5x)")
        print()
        print("(b) warm scan in a new process, persistent digest cache:")
        print(f"    scan {warm * 1000:.1f} ms vs cold {cold * 1000:.0f} ms: {cold / warm:.0f}x faster (target >= 20x)")
        print(f"    whole process incl. interpreter start {warm_proc * 1000:.0f} ms: {cold / warm_proc:.1f}x faster than the cold scan alone")

        small_cache = str(work / "cache-small")
        cold_small = child_scan(str(small), small_cache)
        warm_small = child_scan(str(small), small_cache)
        assert cold_small["ok"] == args.small == warm_small["hits"], (cold_small, warm_small)
        print()
        print(f"(c) {args.small} small bundles:")
        print(f"    cold {args.small / cold_small['scan_s']:8.0f} files/s  ({cold_small['scan_s']:.2f}s)")
        print(f"    warm {args.small / warm_small['scan_s']:8.0f} files/s  ({warm_small['scan_s']:.2f}s, digests from the cache)")
        print()
        print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`remsvc-console bundles`: what is in the bundle directories, what Airflow accepts, and why not the rest.

Three forms share one parser (the first positional picks the verb), so ``bundles ROOT...`` needs no
sub-verb while ``bundles inspect PATH`` and ``bundles pack ...`` still read naturally. A root literally
named ``inspect`` or ``pack`` is written ``./inspect``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..bundles.model import BundleDetail, BundleReport, ScanProgress, ScanResult, Status
from ..bundles.resolve import SELECTED, Resolution, dag_index, resolve_dag
from ..safetext import decode_lenient, inert

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:  # the service pulls in YAML and JSON Schema: imported when a verb runs, not for --help
    from typing import Any, TextIO

    from ..bundles.service import BundleService
    from ..bundles.watch import ScanDiff

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141
SUMMARY_DAGS = 6

USAGE = """\
remsvc-console bundles [ROOT ...] [--json] [--dag DAG_ID] [--no-cache] [--all] [--watch] [--demo]
       remsvc-console bundles inspect PATH [--json] [--no-cache]
       remsvc-console bundles pack EXECUTABLE --manifest FILE -o OUT [--source FILE]"""

EPILOG = """\
forms:
  bundles [ROOT ...]      scan roots recursively like Airflow's ExecutableCoordinator and list every
                          bundle with one status and the reason; without ROOT, roots come from the
                          config file (bundle_roots), else from Airflow's [sdk] coordinators
                          (AIRFLOW__SDK__COORDINATORS or $AIRFLOW_HOME/airflow.cfg)
  bundles inspect PATH    dump one file's trailer, manifest and embedded source (rendered inert)
  bundles pack EXE ...    append --source, the canonical --manifest and the trailer to a copy of EXE

statuses: ok, not_bundle, not_executable (both hidden unless --all), unsupported_footer_version,
  reserved_nonzero, bad_regions, hash_mismatch, metadata_too_large, metadata_undecodable,
  metadata_not_mapping, schema_version_missing, schema_version_unknown, unreadable,
  metadata_too_complex (over 10,000 dags, 100,000 tasks or 250,000 YAML values: not analysed),
  scan_error (an unexpected error while reading that file; the reason says which)

--json prints {"roots": [{"path","origin","exists","error"}], "bundles": [{"path","root","status",
  "reason","size","mtime_ns","source_name","source_len","metadata_len","footer_ver","binary_sha256",
  "actual_sha256","schema_version","sdk","dags","warnings":[{"path","message"}]}], "dags": {DAG_ID:
  {"selected","candidates":[{"path","status","outcome","reason"}],"ambiguous","error"}},
  "warnings": [...]}

digests and whole reports are cached in $XDG_CACHE_HOME/remsvc-console/bundle-digests.json, keyed
by path, device, inode, size, mtime and ctime (--no-cache bypasses it).

exit status:
  0  every bundle found is accepted (and --dag resolves to exactly one bundle)
  1  some bundle is rejected, or --dag resolves to no bundle or is ambiguous
  2  usage error, a root that is missing, unreadable or not a directory or regular file, a directory
     under a root that cannot be listed, an unreadable file given to inspect, or packing failed
  141  the reader of the output went away (a pipe into head, say); nothing more is printed"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bundles",
        help="scan, inspect and pack Airflow executable bundles",
        usage=USAGE,
        description="Inspect Airflow executable bundles (AFBNDL01) the way the ExecutableCoordinator sees them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("operands", nargs="*", metavar="ROOT", help="directories (or files) to scan")
    parser.add_argument("--json", action="store_true", help="print stable JSON instead of text")
    parser.add_argument("--dag", metavar="DAG_ID", help="say which bundle Airflow runs for DAG_ID and why not the others")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor update the persistent digest cache")
    parser.add_argument("--all", action="store_true", help="also list not_bundle and not_executable files")
    parser.add_argument("--watch", action="store_true", help="keep rescanning and print added, replaced and removed bundles")
    parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="rescan period for --watch (default 2)")
    parser.add_argument("--demo", action="store_true", help="scan a temporary directory of sample bundles")
    parser.add_argument("--config", type=Path, metavar="FILE", help="console config file (default: XDG config dir)")
    pack_opts = parser.add_argument_group("pack options")
    pack_opts.add_argument("--source", type=Path, metavar="FILE", help="DAG source file to embed (optional)")
    pack_opts.add_argument("--manifest", type=Path, metavar="FILE", help="airflow-metadata manifest, YAML or JSON")
    pack_opts.add_argument("-o", "--output", type=Path, metavar="OUT", help="bundle file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = _run_verb(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a pipeline expects; nothing is left to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _run_verb(args: argparse.Namespace) -> int:
    verb = args.operands[0] if args.operands else None
    if verb == "pack":
        return _run_pack(args)
    if _pack_options_given(args):
        return _usage("--source, --manifest and -o belong to 'bundles pack'")
    if verb == "inspect":
        return _run_inspect(args)
    return _run_scan(args)


def _run_scan(args: argparse.Namespace) -> int:
    from ..bundles.service import BundleService

    if args.interval <= 0:
        return _usage("--interval must be positive")
    if args.watch and args.json:
        return _usage("--watch prints changes as text; it cannot be combined with --json")
    if any(not operand for operand in args.operands):
        return _usage("an empty ROOT names no directory; give a path (use . for the current directory)")
    demo_dir: str | None = None
    roots: Sequence[str] = args.operands
    if args.demo:
        if roots:
            return _usage("--demo scans its own sample directory; give no ROOT with it")
        from ..bundles.demo import make_demo_bundles

        demo_dir = tempfile.mkdtemp(prefix="remsvc-console-demo-bundles-")
        make_demo_bundles(Path(demo_dir))
        roots = [demo_dir]
    try:
        use_cache = not (args.no_cache or args.demo)
        service = BundleService.from_config(roots, config_path=args.config, use_cache=use_cache)
        for warning in service.warnings:
            _warn(warning)
        if not service.roots:
            return _usage(
                "no bundle roots: give ROOT arguments, set bundle_roots in the config file, "
                "or configure an ExecutableCoordinator in Airflow's [sdk] coordinators"
            )
        result = _scan_with_progress(service, show=not args.json and sys.stderr.isatty())
        code = _report_scan(args, service, result)
        if args.watch:
            return _watch(args, service)
        return code
    finally:
        if demo_dir:
            shutil.rmtree(demo_dir, ignore_errors=True)


def _scan_with_progress(service: BundleService, *, show: bool) -> ScanResult:
    """Scan, drawing a progress line on a terminal; warnings the scan adds (cache not saved) go to stderr."""
    before = len(service.warnings)
    progress = _ProgressLine(sys.stderr) if show else None
    try:
        return service.scan(on_progress=progress.update if progress else None)
    finally:
        if progress:
            progress.clear()
        for warning in service.warnings[before:]:
            _warn(warning)


def _report_scan(args: argparse.Namespace, service: BundleService, result: ScanResult) -> int:
    roots = [info.path for info in result.roots]
    dags = {args.dag: resolve_dag(result.bundles, args.dag, roots)} if args.dag is not None else dag_index(result.bundles, roots)
    listed = [r for r in result.bundles if args.all or not r.status.is_ignored]
    if args.json:
        document = {
            "roots": [
                {"path": i.path, "origin": i.origin, "exists": i.exists, "error": i.error} for i in result.roots
            ],
            "bundles": [r.to_json() for r in listed],
            "dags": {dag_id: resolution.to_json() for dag_id, resolution in dags.items()},
            "warnings": [*service.warnings, *result.walk_errors],
        }
        print(json.dumps(document, indent=2, ensure_ascii=True))
    else:
        _print_scan(result, listed, dags, detailed_dag=args.dag)
    if any(not info.exists or info.error for info in result.roots) or result.walk_errors:
        return EXIT_USAGE
    if result.rejected:
        return EXIT_REJECTED
    if args.dag is not None:
        resolution = dags[args.dag]
        if resolution.selected is None or resolution.ambiguous:
            return EXIT_REJECTED
    return EXIT_OK


def _print_scan(result: ScanResult, listed: list[BundleReport], dags: dict[str, Resolution], detailed_dag: str | None) -> None:
    out = sys.stdout
    _emit(out, "roots:")
    for info in result.roots:
        note = f"  ! {info.error}" if info.error else ""
        _emit(out, f"  {info.path}  ({info.origin}){note}")
    for error in result.walk_errors:
        _emit(out, f"  ! {error}: the files in it were not scanned")
    _emit(out, "")
    if listed:
        width = max(len(r.status.value) for r in listed)
        root = None
        for report in listed:
            if report.root != root:
                root = report.root
                _emit(out, f"{root}/" if root and report.path != root else f"{root}")
            rel = os.path.relpath(report.path, root) if root and report.path != root else os.path.basename(report.path)
            _emit(out, f"  {report.status.value:<{width}}  {rel}  {_summary(report)}")
    else:
        _emit(out, "no bundles found")
    if detailed_dag is not None:
        _emit(out, "")
        _print_resolution(out, dags[detailed_dag])
    elif dags:
        _emit(out, "")
        _emit(out, "dags:")
        width = min(40, max(len(dag_id) for dag_id in dags))
        for dag_id, resolution in dags.items():
            _emit(out, f"  {dag_id:<{width}}  {_resolution_summary(resolution)}")
    ignored = sum(1 for r in result.bundles if r.status.is_ignored)
    accepted = sum(1 for r in result.bundles if r.status is Status.OK)
    hidden = ignored if len(listed) < len(result.bundles) else 0
    tail = f", {hidden} not listed (--all shows them)" if hidden else ""
    _emit(
        out,
        f"\n{len(result.bundles)} files: {accepted} accepted, {len(result.rejected)} rejected, {ignored} ignored{tail}; "
        f"{_mib(result.bytes_hashed)} hashed, {result.cache_hits} digests from cache, {result.elapsed_s:.2f}s",
    )


def _summary(report: BundleReport) -> str:
    if report.status is Status.OK:
        names = list(report.dags)
        more = f" (+{len(names) - SUMMARY_DAGS} more)" if len(names) > SUMMARY_DAGS else ""
        dags = (", ".join(names[:SUMMARY_DAGS]) or "(no dags)") + more
        warn = f"  [{len(report.warnings)} manifest warning{'s' if len(report.warnings) != 1 else ''}]" if report.warnings else ""
        return f"{dags}{warn}"
    return report.reason


def _resolution_summary(resolution: Resolution) -> str:
    if resolution.selected is None:
        losers = ", ".join(f"{c.path} ({c.status.value})" for c in resolution.candidates)
        return f"-> none; rejected: {losers}"
    others = [c for c in resolution.candidates if c.outcome != SELECTED]
    text = f"-> {resolution.selected.path}"
    if resolution.ambiguous:
        text += "  AMBIGUOUS: more than one accepted bundle declares it"
    if others:
        text += f"  ({len(others)} other{'s' if len(others) != 1 else ''}; --dag {resolution.dag_id} explains)"
    return text


def _print_resolution(out: TextIO, resolution: Resolution) -> None:
    _emit(out, f"dag_id {resolution.dag_id}:")
    if resolution.selected is not None:
        _emit(out, f"  Airflow runs {resolution.selected.path}")
    else:
        _emit(out, "  Airflow runs no bundle; it reports:")
        _emit(out, f"    {resolution.airflow_error}")
    for candidate in resolution.candidates:
        _emit(out, f"  {candidate.outcome:<8}  {candidate.path}  [{candidate.status.value}] {candidate.reason}")
    if resolution.ambiguous:
        _emit(
            out,
            "  AMBIGUOUS: several accepted bundles declare this dag_id; the coordinator takes whichever its "
            "directory walk meets first, which depends on filesystem order. Remove or rename all but one.",
        )


def _watch(args: argparse.Namespace, service: BundleService) -> int:
    """Rescan every ``--interval`` seconds until interrupted, printing only what changed."""
    _emit(sys.stdout, f"watching every {args.interval:g}s; Ctrl-C stops")
    sys.stdout.flush()
    while True:
        time.sleep(args.interval)
        before = len(service.warnings)
        _, diff = service.rescan()
        for warning in service.warnings[before:]:
            _warn(warning)
        _print_diff(diff)
        sys.stdout.flush()


def _print_diff(diff: ScanDiff) -> None:
    out = sys.stdout
    stamp = time.strftime("%H:%M:%S")
    for report in diff.added:
        _emit(out, f"{stamp} + added     {report.path}  [{report.status.value}] {report.reason}")
    for old, new in diff.replaced:
        _emit(out, f"{stamp} ~ replaced  {new.path}  [{old.status.value} -> {new.status.value}] {new.reason}")
    for old, new in diff.changed:
        _emit(out, f"{stamp} * changed   {new.path}  [{old.status.value} -> {new.status.value}] {new.reason}")
    for old, new in diff.removed:
        why = f"  now {new.status.value}: {new.reason}" if new is not None else ""
        _emit(out, f"{stamp} - removed   {old.path}{why}")


def _run_inspect(args: argparse.Namespace) -> int:
    from ..bundles.roots import RootSpec
    from ..bundles.service import BundleService

    if len(args.operands) != 2:
        return _usage("usage: bundles inspect PATH")
    if args.dag is not None or args.all or args.watch or args.demo:
        return _usage("inspect takes only PATH, --json and --no-cache")
    path = args.operands[1]
    if not os.path.lexists(path):
        return _usage(f"{path}: no such file")
    if os.path.isdir(path):
        return _usage(f"{path} is a directory; scan it with 'bundles {path}'")
    service = BundleService([RootSpec(os.path.dirname(os.path.abspath(path)), "argument")], use_cache=not args.no_cache)
    for warning in service.warnings:
        _warn(warning)
    detail = service.detail(os.path.abspath(path))
    service.save_cache()
    if args.json:
        print(json.dumps(_detail_json(detail), indent=2, ensure_ascii=True))
    else:
        _print_detail(detail)
    report = detail.report
    if report.status is Status.UNREADABLE:
        return EXIT_USAGE
    return EXIT_OK if report.status is Status.OK else EXIT_REJECTED


def _detail_json(detail: BundleDetail) -> dict[str, Any]:
    document = detail.report.to_json()
    document["source_start"] = detail.report.source_start
    document["metadata_start"] = detail.report.metadata_start
    document["digest_cached"] = detail.report.digest_cached
    document["manifest"] = detail.manifest_text
    source = detail.source
    document["source"] = None if source is None else {
        "name": source.name,
        "length": source.length,
        "text": source.text,
        "invalid_utf8": source.invalid_utf8,
        "had_controls": source.had_controls,
        "truncated": source.truncated,
    }
    return document


def _print_detail(detail: BundleDetail) -> None:
    out = sys.stdout
    r = detail.report
    _emit(out, f"path            {r.path}")
    _emit(out, f"status          {r.status.value}: {r.reason}")
    if r.size is not None:
        mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((r.mtime_ns or 0) / 1e9))
        _emit(out, f"size            {r.size:,} bytes, modified {mtime}")
    if r.footer_ver is not None:
        _emit(out, "trailer")
        _emit(out, f"  footer_ver    {r.footer_ver}")
        binary_len = r.source_start if r.source_start is not None else "?"
        _emit(out, f"  binary        [0, {binary_len})")
        where = f"  at offset {r.source_start:,}" if r.source_start is not None else ""
        _emit(out, f"  source_len    {r.source_len:,}{where}")
        where = f"  at offset {r.metadata_start:,}" if r.metadata_start is not None else ""
        _emit(out, f"  metadata_len  {r.metadata_len:,}{where}")
        _emit(out, f"  expected      {r.binary_sha256}")
        if r.actual_sha256:
            verdict = "match" if r.actual_sha256 == r.binary_sha256 else "MISMATCH"
            cached = ", from the digest cache" if r.digest_cached else ""
            _emit(out, f"  actual        {r.actual_sha256}  ({verdict}{cached})")
    if r.sdk:
        _emit(out, "sdk             " + ", ".join(f"{k} {v}" for k, v in r.sdk.items()))
    if r.dags:
        _emit(out, "dags")
        for dag_id, tasks in r.dags.items():
            _emit(out, f"  {dag_id}: {', '.join(tasks) or '(no tasks)'}")
    if r.warnings:
        _emit(out, "manifest warnings")
        for warning in r.warnings:
            _emit(out, f"  {warning}")
    if detail.manifest_text is not None:
        note = " (invalid UTF-8 shown as \ufffd)" if detail.manifest_invalid_utf8 else ""
        _emit(out, f"--- manifest, {r.metadata_len:,} bytes{note} ---")
        _emit_block(out, detail.manifest_text)
    if detail.source is not None:
        source = detail.source
        notes = [
            note
            for flag, note in (
                (source.invalid_utf8, "invalid UTF-8 shown as \ufffd"),
                (source.had_controls, "control characters shown as symbols"),
                (source.truncated, "truncated"),
            )
            if flag
        ]
        extra = f" ({'; '.join(notes)})" if notes else ""
        _emit(out, f"--- source {source.name or '(unnamed)'}, {source.length:,} bytes{extra} ---")
        _emit_block(out, source.text)


def _run_pack(args: argparse.Namespace) -> int:
    from ..bundles.packer import PackError, load_manifest_file, pack

    if len(args.operands) != 2:
        return _usage("usage: bundles pack EXECUTABLE --manifest FILE -o OUT [--source FILE]")
    if args.manifest is None or args.output is None:
        return _usage("bundles pack needs --manifest FILE and -o OUT")
    if args.json or args.dag is not None or args.all or args.watch or args.demo:
        return _usage("pack takes only EXECUTABLE, --manifest, --source and -o")
    executable = Path(args.operands[1])
    try:
        manifest, _ = load_manifest_file(args.manifest, source_name=args.source.name if args.source else None)
        result = pack(executable, args.output, manifest=manifest, source=args.source)
    except PackError as exc:
        _error(str(exc))
        return EXIT_USAGE
    for warning in result.warnings:
        _warn(f"manifest {warning}")
    _emit(
        sys.stdout,
        f"packed {result.out}: binary {result.binary_len:,} bytes (sha256 {result.binary_sha256}), "
        f"source {result.source_len:,} bytes, manifest {result.metadata_len:,} bytes",
    )
    if not os.access(result.out, os.X_OK):
        _warn(f"{result.out} is not executable (the input was not): Airflow's scanner will skip it")
    return EXIT_OK


def _pack_options_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) is not None for name in ("source", "manifest", "output"))


class _ProgressLine:
    """A single rewritten status line on a terminal's stderr while hashing."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.width = 0

    def update(self, progress: ScanProgress) -> None:
        phase = "walking" if progress.walking else "verifying"
        text = f"{phase}: {progress.files_done}/{progress.files_found} files, {_mib(progress.bytes_hashed)} hashed"
        self.width = max(self.width, len(text))
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def _printable(text: str) -> str:
    """Inert text that any UTF-8 terminal can show, even from undecodable file names."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return decode_lenient(raw)[0]


def _emit(out: TextIO, line: str) -> None:
    out.write(inert(_printable(line), keep_newlines=True) + "\n")


def _emit_block(out: TextIO, text: str) -> None:
    text = inert(_printable(text))
    out.write(text if text.endswith("\n") else text + "\n")


def _warn(message: str) -> None:
    sys.stderr.write("warning: " + inert(_printable(message), keep_newlines=False) + "\n")


def _error(message: str) -> None:
    sys.stderr.write("remsvc-console bundles: error: " + inert(_printable(message), keep_newlines=False) + "\n")


def _usage(message: str) -> int:
    _error(message)
    return EXIT_USAGE

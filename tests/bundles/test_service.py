"""The service the Bundles pane uses: scan, detail, resolve, demo tree; and no Textual below the UI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from console.bundles.demo import make_demo_bundles
from console.bundles.detail import load_detail
from console.bundles.model import Status
from console.bundles.roots import RootSpec
from console.bundles.schema_versions import SchemaVersions
from console.bundles.service import BundleService

from .builders import REPO, write_bundle


def service_for(root: Path) -> BundleService:
    return BundleService([RootSpec(str(root), "test")], versions=SchemaVersions(use_airflow=False))


def test_demo_tree_has_every_case_the_pane_shows(tmp_path: Path) -> None:
    made = make_demo_bundles(tmp_path)
    assert all(p.is_file() for p in made)
    service = service_for(tmp_path)
    statuses = {Path(r.path).relative_to(tmp_path).as_posix(): r.status for r in service.scan().bundles}
    assert statuses == {
        "README.md": Status.NOT_EXECUTABLE,
        "billing/billing_sync": Status.HASH_MISMATCH,
        "etl/customer_pipeline": Status.OK,
        "etl/title_trick": Status.OK,
        "legacy/old_exporter": Status.SCHEMA_VERSION_UNKNOWN,
        "team-b/customer_pipeline_v2": Status.OK,
        "analytics/daily_report": Status.OK,
    }
    index = service.dag_index()
    assert index["customer_etl"].ambiguous
    assert index["billing_sync"].selected is None
    trick = service.detail(str(tmp_path / "etl" / "title_trick"))
    assert trick.source is not None and trick.source.had_controls and "\x1b" not in trick.source.text


def test_detail_carries_everything_the_tabs_need(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", {"etl": ["extract", "load"]}, source=b"fn main() {}\r\n// \x1b[31mred\x1b[0m\n\xff")
    service = service_for(tmp_path)
    service.scan()
    detail = service.detail(str(path))
    report = detail.report
    assert report.status is Status.OK and report.root == str(tmp_path)
    assert report.binary_sha256 == report.actual_sha256 and report.digest_cached
    assert detail.manifest_text is not None and "supervisor_schema_version: '2026-06-16'" in detail.manifest_text
    source = detail.source
    assert source is not None and source.name == "main.go" and source.extension == "go"
    assert source.text == "fn main() {}\n// ␛[31mred␛[0m\n\ufffd"
    assert (source.invalid_utf8, source.had_controls, source.truncated, source.available) == (True, True, False, True)


def test_source_view_is_bounded_without_flagging_a_cut_character(tmp_path: Path) -> None:
    source = "é" * 5000
    path = write_bundle(tmp_path / "b", source=source.encode())
    detail = load_detail(str(path), versions=SchemaVersions(use_airflow=False), source_cap=1001)
    assert detail.source is not None and detail.source.truncated and not detail.source.invalid_utf8
    assert detail.source.text == "é" * 500


async def test_async_service_calls_and_resolve(tmp_path: Path) -> None:
    write_bundle(tmp_path / "a", {"etl": ["t"]})
    service = service_for(tmp_path)
    result = await service.scan_async()
    assert [r.status for r in result.bundles] == [Status.OK]
    detail = await service.detail_async(str(tmp_path / "a"))
    assert detail.report.dags == {"etl": ["t"]}
    assert service.resolve("etl").selected.path == str(tmp_path / "a")
    _, diff = await service.rescan_async()
    assert diff.empty


def test_bundle_services_never_import_textual() -> None:
    code = (
        "import sys, json, pkgutil, importlib, console.bundles as b\n"
        "for m in pkgutil.iter_modules(b.__path__): importlib.import_module('console.bundles.' + m.name)\n"
        "importlib.import_module('console.commands.bundles')\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert json.loads(out) == []

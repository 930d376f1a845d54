"""dag_id resolution: the coordinator's pick, every loser with its reason, and ambiguity."""

from __future__ import annotations

from pathlib import Path

from console.bundles.model import Status
from console.bundles.packer import make_manifest
from console.bundles.resolve import REJECTED, SELECTED, SHADOWED, dag_index, resolve_dag
from console.bundles.roots import RootSpec
from console.bundles.scanner import Scanner
from console.bundles.schema_versions import SchemaVersions

from .builders import write_bundle, write_raw_bundle


def scan(*roots: Path):
    return Scanner([RootSpec(str(r), "t") for r in roots], versions=SchemaVersions(use_airflow=False)).scan()


def test_first_accepted_bundle_wins_and_later_ones_are_shadowed(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_bundle(first / "b", {"etl": ["a"]})
    write_bundle(second / "b", {"etl": ["a", "b"]})
    result = scan(first, second)
    resolution = resolve_dag(result.bundles, "etl", [str(first), str(second)])
    assert resolution.selected is not None and resolution.selected.path == str(first / "b")
    assert [(c.outcome, c.path) for c in resolution.candidates] == [(SELECTED, str(first / "b")), (SHADOWED, str(second / "b"))]
    assert f"shadowed by {first / 'b'}" in resolution.candidates[1].reason
    assert resolution.ambiguous
    assert resolution.to_json()["selected"] == str(first / "b")


def test_rejected_bundles_are_listed_with_their_status_and_skipped(tmp_path: Path) -> None:
    bad, good = tmp_path / "a", tmp_path / "b"
    write_bundle(bad / "old", manifest=make_manifest({"etl": ["t"]}, supervisor_schema_version="1999-01-01"))
    tampered = write_bundle(bad / "tampered", {"etl": ["t"]})
    data = bytearray(tampered.read_bytes())
    data[1] ^= 1
    tampered.write_bytes(bytes(data))
    write_bundle(good / "fine", {"etl": ["t"]})
    result = scan(bad, good)
    resolution = resolve_dag(result.bundles, "etl")
    assert resolution.selected.path == str(good / "fine")
    assert not resolution.ambiguous
    losers = {Path(c.path).name: (c.outcome, c.status, c.reason) for c in resolution.candidates if c.outcome == REJECTED}
    assert losers["old"][1] is Status.SCHEMA_VERSION_UNKNOWN and losers["old"][2].startswith("Airflow rejects it:")
    assert losers["tampered"][1] is Status.HASH_MISMATCH and "skips it before reading its dags" in losers["tampered"][2]


def test_unresolved_dag_reports_airflows_own_error(tmp_path: Path) -> None:
    write_bundle(tmp_path / "old", manifest=make_manifest({"etl": ["t"]}, supervisor_schema_version="1999-01-01"))
    write_raw_bundle(tmp_path / "broken", metadata=b"etl: [")
    result = scan(tmp_path)
    rejected = resolve_dag(result.bundles, "etl", [str(tmp_path)])
    assert rejected.selected is None
    assert rejected.airflow_error.startswith(
        f"cannot find executable bundle with usable supervisor_schema_version for dag_id='etl' in {tmp_path}: matching bundles were rejected"
    )
    assert "1999-01-01" in rejected.airflow_error
    missing = resolve_dag(result.bundles, "nobody", [str(tmp_path)])
    assert missing.candidates == [] and missing.airflow_error == f"cannot find executable bundle containing dag_id='nobody' in {tmp_path}"


def test_the_same_file_reached_twice_is_not_ambiguous(tmp_path: Path) -> None:
    target = write_bundle(tmp_path / "a" / "real", {"etl": ["t"]})
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "alias").symlink_to(target)
    result = scan(tmp_path / "a", tmp_path / "b")
    resolution = resolve_dag(result.bundles, "etl")
    assert not resolution.ambiguous
    assert "the same file" in resolution.candidates[1].reason


def test_dag_index_flags_every_ambiguous_dag(tmp_path: Path) -> None:
    write_bundle(tmp_path / "x" / "one", {"shared": ["t"], "solo": ["t"]})
    write_bundle(tmp_path / "y" / "two", {"shared": ["t"], "other": ["t"]})
    index = dag_index(scan(tmp_path).bundles)
    assert list(index) == ["other", "shared", "solo"]
    assert {dag for dag, r in index.items() if r.ambiguous} == {"shared"}

"""Answer "which bundle would Airflow run for this dag_id, and why not the others".

The coordinator walks the roots and runs the first bundle it can load that declares the dag_id with
a usable schema version; every later declaration is shadowed. Because the walk follows directory
listing order, which the filesystem chooses, two accepted bundles declaring one dag_id make the
choice ambiguous: the answer can change after a redeploy without anyone touching either bundle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .model import BundleReport, Status

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:
    from typing import Any

SELECTED = "selected"
SHADOWED = "shadowed"
REJECTED = "rejected"


@dataclass(frozen=True)
class Candidate:
    """One bundle declaring the dag_id, with what happens to it and why."""

    path: str
    status: Status
    outcome: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "status": self.status.value, "outcome": self.outcome, "reason": self.reason}


@dataclass(frozen=True)
class Resolution:
    """The coordinator's choice for one dag_id; ``airflow_error`` is what it logs when there is none."""

    dag_id: str
    selected: BundleReport | None
    candidates: list[Candidate] = field(default_factory=list)
    ambiguous: bool = False
    airflow_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "selected": self.selected.path if self.selected else None,
            "candidates": [c.to_json() for c in self.candidates],
            "ambiguous": self.ambiguous,
            "error": self.airflow_error,
        }


def resolve_dag(bundles: Sequence[BundleReport], dag_id: str, roots: Sequence[str] = ()) -> Resolution:
    """Resolve ``dag_id`` over reports in walk order (as ``Scanner.scan`` returns them)."""
    selected: BundleReport | None = None
    candidates: list[Candidate] = []
    accepted: set[tuple[int | None, int | None]] = set()
    schema_rejections: list[BundleReport] = []
    for report in bundles:
        if dag_id not in report.dags:
            continue
        if report.status is Status.OK:
            same_file = (report.dev, report.ino)
            if selected is None:
                selected = report
                candidates.append(Candidate(report.path, report.status, SELECTED, "first accepted bundle in the walk"))
            elif same_file == (selected.dev, selected.ino):
                candidates.append(
                    Candidate(report.path, report.status, SHADOWED, f"the same file as {selected.path}, reached by another path")
                )
            else:
                candidates.append(
                    Candidate(report.path, report.status, SHADOWED, f"shadowed by {selected.path}, which the walk meets first")
                )
            accepted.add(same_file)
        elif report.status.coordinator_sees_dags:
            schema_rejections.append(report)
            candidates.append(Candidate(report.path, report.status, REJECTED, f"Airflow rejects it: {report.reason}"))
        else:
            candidates.append(
                Candidate(report.path, report.status, REJECTED, f"Airflow skips it before reading its dags: {report.reason}")
            )
    error = None
    if selected is None:
        where = ":".join(roots)
        if schema_rejections:
            details = "; ".join(f"{r.path}: {r.reason}" for r in schema_rejections)
            error = (
                f"cannot find executable bundle with usable supervisor_schema_version for dag_id={dag_id!r} "
                f"in {where}: matching bundles were rejected ({details})"
            )
        else:
            error = f"cannot find executable bundle containing dag_id={dag_id!r} in {where}"
    return Resolution(dag_id, selected, candidates, ambiguous=len(accepted) > 1, airflow_error=error)


def dag_index(bundles: Sequence[BundleReport], roots: Sequence[str] = ()) -> dict[str, Resolution]:
    """A resolution for every dag_id any bundle declares, sorted by dag_id."""
    declaring: dict[str, list[BundleReport]] = {}
    for report in bundles:
        for dag_id in report.dags:
            declaring.setdefault(dag_id, []).append(report)
    return {dag_id: resolve_dag(declaring[dag_id], dag_id, roots) for dag_id in sorted(declaring)}

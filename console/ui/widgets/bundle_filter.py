"""The Bundles tree's filter: words match the path under the root, ``status:`` picks verdicts.

``status:`` takes a status value (``status:hash_mismatch``) or a group (``ok``, ``rejected``,
``ignored``), several separated by commas; every other word must appear in the path, ignoring case.
Plain Python with no Textual import, so the rules are testable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.bundles.model import BundleReport, Status

GROUPS = {
    "ok": frozenset({Status.OK}),
    "rejected": frozenset(s for s in Status if s.is_rejection),
    "ignored": frozenset(s for s in Status if s.is_ignored),
}
PREFIXES = ("status:", "is:")


class FilterError(ValueError):
    """The filter text names a status that does not exist; the message is one line."""


@dataclass(frozen=True)
class BundleFilter:
    words: tuple[str, ...] = ()
    statuses: frozenset[Status] | None = None
    rejected_only: bool = False

    @property
    def active(self) -> bool:
        return bool(self.words) or self.statuses is not None or self.rejected_only

    def matches(self, report: BundleReport, shown_path: str) -> bool:
        if self.rejected_only and not report.status.is_rejection:
            return False
        if self.statuses is not None and report.status not in self.statuses:
            return False
        lowered = shown_path.lower()
        return all(word in lowered for word in self.words)


def parse_filter(text: str, *, rejected_only: bool = False) -> BundleFilter:
    """Parse the filter input; an unknown status raises ``FilterError`` naming the known ones."""
    words: list[str] = []
    statuses: set[Status] | None = None
    for token in text.split():
        prefix = next((p for p in PREFIXES if token.lower().startswith(p)), None)
        if prefix is None:
            words.append(token.lower())
            continue
        for name in filter(None, token[len(prefix) :].lower().split(",")):
            statuses = (statuses or set()) | _statuses_named(name)
    return BundleFilter(tuple(words), frozenset(statuses) if statuses is not None else None, rejected_only)


def _statuses_named(name: str) -> frozenset[Status]:
    if name in GROUPS:
        return GROUPS[name]
    try:
        return frozenset({Status(name)})
    except ValueError:
        known = ", ".join([*GROUPS, *(s.value for s in Status if s is not Status.OK)])
        raise FilterError(f"unknown status {name!r}; use one of: {known}") from None

"""Typed messages live in one place: ``console/ui/messages/<pane>.py``, never beside a widget."""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "console" / "ui"
MESSAGES = UI / "messages"


def message_classes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if "Message" in bases:
                found.append(node.name)
    return found


def test_every_message_class_is_defined_in_the_messages_package():
    outside = {
        str(path.relative_to(UI)): names
        for path in sorted(UI.rglob("*.py"))
        if MESSAGES not in path.parents and (names := message_classes(path))
    }
    assert outside == {}


def test_each_pane_has_its_messages_module():
    modules = {p.stem for p in MESSAGES.glob("*.py")} - {"__init__"}
    assert modules == {"dispatch", "bundles", "health"}
    assert all(message_classes(MESSAGES / f"{name}.py") for name in modules)

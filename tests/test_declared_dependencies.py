"""Every third-party package the code imports is declared, so no install depends on what another drags in."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_top_levels(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def declared(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-") for req in requirements}


def test_every_third_party_import_of_the_package_is_a_declared_dependency():
    runtime = [r for r in importlib.metadata.requires("remsvc-console") or [] if "extra ==" not in r]
    dependencies = declared(runtime)
    providers = importlib.metadata.packages_distributions()
    third_party = imported_top_levels(REPO / "console") - set(sys.stdlib_module_names) - {"console", "__future__"}
    missing = {}
    for name in sorted(third_party):
        dists = {d.lower().replace("_", "-") for d in providers.get(name, [])}
        assert dists, f"{name} is imported but no installed distribution provides it"
        if not dists & dependencies:
            missing[name] = sorted(dists)
    assert missing == {}, f"imported but not declared in [project] dependencies: {missing}"

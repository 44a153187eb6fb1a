"""The import contract: scenario model <- simulation <- solvers <- workflows <- application.

Every import in every module (at the top or inside a function) may reach its own layer or a lower one.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

LAYERS = ["scenario", "sim", "solvers", "workflows", "gridplan"]


def _imports(path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
    return out


@pytest.mark.parametrize("package", LAYERS)
def test_imports_point_down_the_layers(package):
    rank = LAYERS.index(package)
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, top in _imports(path):
            if top in LAYERS and LAYERS.index(top) > rank:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    assert not bad, "; ".join(bad)


def test_the_contract_can_fail(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    from workflows.compare import compare_allocations\n")
    assert (2, "workflows") in _imports(tmp_path / "m.py")

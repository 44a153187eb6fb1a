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


def _module_graph(root, packages) -> dict[str, set[str]]:
    """Each module of ``packages`` and the modules of ``packages`` it imports (at the top or in a function)."""
    names = {
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for package in packages
        for path in (root / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in names}
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {x for x in targets if x in names and x != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of a module graph (one list of modules per strongly connected component)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_itself_round_a_cycle():
    """Within the layers too, imports form a one-way graph: no module imports one that imports it back
    (not even inside a function)."""
    assert _cycles(_module_graph(ROOT, LAYERS)) == []


def test_the_cycle_check_can_fail(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "a.py").write_text("from p.b import f\n")
    (tmp_path / "p" / "b.py").write_text("def f():\n    from p import a\n")
    (tmp_path / "p" / "c.py").write_text("import p.a\n")
    assert _cycles(_module_graph(tmp_path, ["p"])) == [["p.a", "p.b"]]


def test_the_contract_can_fail(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    from workflows.compare import compare_allocations\n")
    assert (2, "workflows") in _imports(tmp_path / "m.py")


def test_validate_imports_no_heavy_library():
    """``gridplan validate`` reads and checks a scenario: it imports neither pandas (which brings pyarrow),
    scipy.stats nor numba (start-up: about 0.6 s here, 1.2-1.8 s when it imported them)."""
    import subprocess
    import sys

    from tests.conftest import SCENARIOS

    code = (
        "import sys; from gridplan.cli import main; assert main(['validate', sys.argv[1]]) == 0; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'scipy.stats', 'numba') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(SCENARIOS / "weihai")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_allocate_imports_neither_scipy_stats_nor_numba(tmp_path):
    """``gridplan allocate`` builds the curves and solves: the special functions it evaluates come from
    scipy.special (``solvers.outcomecurves``: a fix's cost above the approval limit), not scipy.stats, whose
    import was most of a second of every planning command (the main job's too); it simulates nothing, so no
    numba either."""
    import subprocess
    import sys

    from tests.conftest import SCENARIOS

    code = (
        "import sys; from gridplan.cli import main; "
        "assert main(['allocate', sys.argv[1], '--out', sys.argv[2]]) == 0; "
        "print(sorted(m for m in ('scipy.stats', 'numba') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(SCENARIOS / "weihai"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"

"""The tools that check the code run with the tests: ruff (lint and format) and mypy, as configured in
pyproject.toml. A failure prints the tool's own report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    "argv",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_passes(argv):
    r = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


MAX_LINES = 65  # "about 60": longer functions say why in their docstring ("Long because ...")
PACKAGES = ("scenario", "sim", "solvers", "workflows", "gridplan")


def test_long_functions_say_why():
    """No function of the packages is over MAX_LINES lines without a reason in its docstring."""
    import ast

    unexplained = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    doc = ast.get_docstring(node) or ""
                    if length > MAX_LINES and "Long because" not in doc:
                        unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not unexplained, "split these or say why they are long:\n" + "\n".join(unexplained)

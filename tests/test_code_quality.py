"""The tools that check the code (ruff lint and format, mypy, configured in pyproject.toml) run once each, in
the README's test command before pytest (CI runs that command word for word): this file checks that the
command holds them, not runs them a second time. And long functions say why they are long."""

from __future__ import annotations

from tests.conftest import ROOT

TOOLS = ("ruff check .", "ruff format --check .", "mypy")


def test_the_test_command_runs_each_checker_once_before_pytest():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    command = [line for line in block.splitlines() if line.strip() and not line.startswith("#")][1]
    steps = [s.strip() for s in command.split("&&")]
    for tool in TOOLS:
        assert steps.count(tool) == 1, (tool, steps)
        assert steps.index(tool) < steps.index("pytest"), (tool, steps)
    assert "subprocess" not in (ROOT / "tests" / "test_code_quality.py").read_text(encoding="utf-8").split("TOOLS")[0]


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

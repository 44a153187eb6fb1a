"""Shared fixtures: bundled scenarios and editable copies of the tiny scenario."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def tiny():
    from scenario.load import load_scenario

    return load_scenario(SCENARIOS / "tiny")


@pytest.fixture(scope="session")
def weihai():
    from scenario.load import load_scenario

    return load_scenario(SCENARIOS / "weihai")


@pytest.fixture
def tiny_copy(tmp_path: Path) -> Path:
    """A writable copy of the tiny scenario folder."""
    dst = tmp_path / "tiny"
    shutil.copytree(SCENARIOS / "tiny", dst)
    return dst


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def drop_duties(folder: Path) -> None:
    """Remove the duties section of a copied scenario: a pure queueing network, every pool at full strength."""
    path = folder / "scenario.yaml"
    text = path.read_text()
    start = text.index("\nduties:")
    end = text.index("\ntargets:", start)
    path.write_text(text[:start] + text[end:])


# Outcomes of the hostile-input suite (tests/test_hostile_inputs.py), reported at the end of the run.
HOSTILE_TALLY: collections.Counter = collections.Counter()
# Every gated benchmark ratio (tests/test_benchmarks.py): (what, measured, gate), reported at the end of the run
# so that a reader of the normal test output sees them (print() shows only with -s).
GATED_RATIOS: list[tuple[str, str, str]] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if GATED_RATIOS:
        terminalreporter.write_sep("-", "benchmark ratios against their gates")
        for what, measured, gate in GATED_RATIOS:
            terminalreporter.write_line(f"{what}: {measured} (gate {gate})")
    t = HOSTILE_TALLY
    if t["tried"]:
        terminalreporter.write_sep("-", "hostile inputs")
        terminalreporter.write_line(
            f"cases tried {t['tried']}, clean errors {t['clean']}, tracebacks {t['traceback']}, hangs {t['hang']}, "
            f"accepted-but-invalid {t['accepted']}, other unclear errors {t['unclear']}"
        )

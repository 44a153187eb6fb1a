"""Golden KPIs of every bundled scenario: any change of model behaviour shows here.

Each bundled scenario is simulated with a fixed seed over a short horizon and
its city KPIs are compared with the committed values in ``tests/golden/``.
A commit that changes the model on purpose regenerates them with
``GRIDPLAN_UPDATE_GOLDEN=1 pytest -rs tests/test_golden.py`` and says in its
message what moved and by how much. In that mode each test compares with the
committed file first, writes the new values and is reported as skipped with
what moved (never as passed: it did not check anything).
"""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest

from scenario.load import load_scenario
from sim.replications import run_replication
from tests.conftest import ROOT, SCENARIOS, drop_duties

GOLDEN = ROOT / "tests" / "golden"
CASES = {
    "tiny": (SCENARIOS / "tiny", 91),
    "weihai": (SCENARIOS / "weihai", 60),
    "weihai_surge": (SCENARIOS / "weihai" / "surge.yaml", 100),
    "weihai_property_before": (SCENARIOS / "weihai" / "property_before.yaml", 60),
    "weihai_property_after": (SCENARIOS / "weihai" / "property_after.yaml", 60),
    # duties switched off: the pure case-handling network (desk split by planned case hours)
    "tiny_no_duties": (SCENARIOS / "tiny", 91),
    "weihai_no_duties": (SCENARIOS / "weihai", 60),
}


def _kpis(path, days: int) -> dict[str, float]:
    s = load_scenario(path)
    out = run_replication(s, s.baseline, days, np.random.SeedSequence(20261128), 0)
    return {k: float(v) for k, v in sorted(out.kpis.items())}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_kpis(name, tmp_path):
    path, days = CASES[name]
    if name.endswith("_no_duties"):
        copy = tmp_path / path.name
        shutil.copytree(path, copy)
        drop_duties(copy)
        path = copy
    got = _kpis(path, days)
    file = GOLDEN / f"{name}.json"
    want = json.loads(file.read_text())["kpis"] if file.exists() else {}
    if os.environ.get("GRIDPLAN_UPDATE_GOLDEN") == "1":
        update_golden(file, days, got, want)
    assert sorted(got) == sorted(want), "the set of KPIs changed"
    assert moved(got, want) == []


def moved(got: dict[str, float], want: dict[str, float]) -> list[str]:
    """The KPIs whose value is not the committed one (float noise only: the same seed gives the same numbers)."""
    out = []
    for k in sorted(set(got) | set(want)):
        a, b = got.get(k, math.nan), want.get(k, math.nan)
        same = (math.isnan(a) and math.isnan(b)) or (
            not math.isnan(a) and not math.isnan(b) and a == pytest.approx(b, rel=1e-9, abs=1e-9)
        )
        if not same or (k in got) != (k in want):
            out.append(f"{k}: {b!r} -> {a!r}")
    return out


def update_golden(file, days: int, got: dict[str, float], want: dict[str, float]) -> None:
    """Write the new values, then skip with what moved: an update checks nothing, so it never passes."""
    file.write_text(json.dumps({"days": days, "seed": 20261128, "kpis": got}, indent=1) + "\n")
    changes = moved(got, want)
    pytest.skip(f"{file.name} updated; {len(changes)} KPIs moved" + (": " + "; ".join(changes) if changes else ""))


def test_update_mode_reports_and_never_passes(tmp_path):
    """Updating writes the new values and skips with what moved, so a run with the variable set is never green
    by comparing the values with themselves."""
    file = tmp_path / "x.json"
    with pytest.raises(pytest.skip.Exception, match=r"1 KPIs moved: a: 1\.0 -> 2\.0"):
        update_golden(file, 10, {"a": 2.0, "b": 3.0}, {"a": 1.0, "b": 3.0})
    assert json.loads(file.read_text())["kpis"] == {"a": 2.0, "b": 3.0}

"""Golden KPIs of every bundled scenario: any change of model behaviour shows here.

Each bundled scenario is simulated with a fixed seed over a short horizon and
its city KPIs are compared with the committed values in ``tests/golden/``.
A commit that changes the model on purpose regenerates them with
``GRIDPLAN_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and says in its
message what moved and by how much.
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
    if os.environ.get("GRIDPLAN_UPDATE_GOLDEN") == "1":
        file.write_text(json.dumps({"days": days, "seed": 20261128, "kpis": got}, indent=1) + "\n")
    want = json.loads(file.read_text())["kpis"]
    assert sorted(got) == sorted(want), "the set of KPIs changed"
    for k, v in want.items():
        if math.isnan(v):
            assert math.isnan(got[k]), k
        else:
            # float noise only: the same seed must give the same numbers
            assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-9), (k, got[k], v)

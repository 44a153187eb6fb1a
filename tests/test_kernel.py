"""The compiled recursion (``sim.kernel``) where numba is missing: the same code in the interpreter, the same bits."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, SCENARIOS
from tests.test_invariants import ENGINE_FIELDS

_RUN = """
import sys
sys.modules["numba"] = None  # as on a platform without numba: importing it fails
import numpy as np
from scenario.load import load_scenario
from sim.demand import draw_cases
from sim.engine import simulate_cases
from sim.jit import HAVE_NUMBA
assert not HAVE_NUMBA
s = load_scenario(sys.argv[1])
lean = s.baseline.replace(workers=np.array([3, 2, 2]))
r = simulate_cases(s, draw_cases(s, 91, np.random.SeedSequence(9)), lean)
from sim.calendar import WorkCalendar
from sim.caselog import case_log
from sim.kpis import groups_kpis
groups = groups_kpis(case_log(s, r, WorkCalendar(s.spec.calendar, 91)), ("community", "category"), 24.0 * 7, 91 * 24.0)
np.savez(
    sys.argv[2],
    **{f: getattr(r, f) for f in sys.argv[3:]},
    events=r.events,
    **{f"kpis_{by}": frame.to_numpy() for by, frame in groups.items()},
)
"""


def test_without_numba_the_same_records(tmp_path):
    """Tiny as bundled (duties, leave, reopening after 24 h, the fund, problems found late), lean enough to queue,
    in a process where ``import numba`` fails: the loops run in the interpreter, with one warning, and give the
    compiled run's case records and group KPIs (``sim.groupkernel``) to the last bit."""
    from scenario.load import load_scenario
    from sim.demand import draw_cases
    from sim.engine import simulate_cases

    out = tmp_path / "interpreted.npz"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(SCENARIOS / "tiny"), str(out), *ENGINE_FIELDS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "numba is not installed" in done.stderr
    s = load_scenario(SCENARIOS / "tiny")
    lean = s.baseline.replace(workers=np.array([3, 2, 2]))
    r = simulate_cases(s, draw_cases(s, 91, np.random.SeedSequence(9)), lean)
    got = np.load(out)
    assert r.events > 500 and r.reopened.sum() > 10 and int(got["events"]) == r.events
    for f in ENGINE_FIELDS:
        assert np.array_equal(got[f], getattr(r, f), equal_nan=True), f
    from sim.calendar import WorkCalendar
    from sim.caselog import case_log
    from sim.kpis import groups_kpis

    log = case_log(s, r, WorkCalendar(s.spec.calendar, 91))
    for by, frame in groups_kpis(log, ("community", "category"), 24.0 * 7, 91 * 24.0).items():
        assert np.array_equal(got[f"kpis_{by}"], frame.to_numpy(), equal_nan=True), by


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.floats(0, 100, allow_nan=False), st.sampled_from([0.0, -0.0, 1.0, 24.0, 24.5])), max_size=300)
)
def test_arrival_order_is_a_stable_argsort(hours):
    """The linear-time order of the cases (``sim.arrivalorder``) is numpy's stable argsort, ties included, also
    where the times span too little or too much for a bucket per case (a span of 5e-324 has no finite inverse)."""
    from sim.arrivalorder import arrival_order

    x = np.array(hours, dtype=float)
    assert np.array_equal(arrival_order(x), np.argsort(x, kind="stable"))

"""The compiled recursion (``sim.kernel``) where numba is missing: the same code in the interpreter, the same bits."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from hypothesis import assume, given, settings
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


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 6),
    st.integers(0, 9),
    st.integers(0, 1000),
    st.lists(st.integers(0, 3), min_size=54, max_size=54),
)
def test_nonzero_counts_is_numpys_nonzero(rows, cols, row0, cells):
    """The (community, hour) cells with arrivals in one pass (``sim.arrivalorder.nonzero_counts``) are
    ``np.nonzero``'s, in its row-major order, with their counts; an empty matrix gives none."""
    from sim.arrivalorder import nonzero_counts

    m = np.array(cells[: rows * cols], dtype=np.int64).reshape(rows, cols)
    r, c, k = nonzero_counts(m, row0)
    nr, nc = np.nonzero(m)
    assert np.array_equal(r, nr + row0) and np.array_equal(c, nc) and np.array_equal(k, m[nr, nc])
    assert r.dtype == c.dtype == k.dtype == np.int64


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_activity_is_numpys_arithmetic(look, recent_days, m, k, seed):
    """``Outcomes.activity`` compiled (``sim.daykernel.activity_into``) gives the bits of the numpy expression it
    replaced: slots summed along axis 0, divided by the hours due, at most 1, 1 where nothing is due; only the
    stepped communities' rows written."""
    from sim.daykernel import activity_into

    rng = np.random.default_rng(seed)
    recent_days = min(recent_days, look)
    recent = rng.choice([0.0, -0.0, 0.1, 1 / 3, 2.5, 7.0], size=(look, m, k)) * rng.random((look, m, k))
    due_per_day = rng.choice([0.0, 0.3, 1.7, 1 / 7], size=(m, k))
    comm = np.array([5, 1, 2, 0][:m], np.int64)
    due = due_per_day * recent_days
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.where(due > 0, np.minimum(1.0, recent.sum(axis=0) / np.where(due > 0, due, 1.0)), 1.0)
    assume(m * k > 1)  # one cell: numpy sums its slots pairwise, and Outcomes keeps numpy's expression there
    act = np.full((6, k), 9.0)
    activity_into(act, comm, recent, due_per_day, float(recent_days))
    untouched = np.setdiff1d(np.arange(6), comm)
    assert np.array_equal(act[comm], want) and np.array_equal(act[untouched], np.full((len(untouched), k), 9.0))
    assert np.array_equal(np.signbit(act[comm]), np.signbit(want))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.floats(-1e9, 1e9, allow_nan=False),
        st.integers(-40_000, 400_000).map(lambda k: k * 24.0),
        st.integers(-40_000, 400_000).map(lambda k: float(np.nextafter(k * 24.0, -np.inf))),
        st.integers(-40_000, 400_000).map(lambda k: float(np.nextafter(k * 24.0, np.inf))),
        st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 23.999999999999996, 24.0, 1e15]),
    )
)
def test_day_of_is_pythons_floor_division(hours):
    """The compiled loops' day of a clock time (``sim.jit.day_of``) is ``int(hours // 24.0)`` to the bit, also
    a ulp either side of a day's start, compiled and in the interpreter."""
    from sim.jit import HAVE_NUMBA, day_of

    want = int(hours // 24.0)
    assert day_of.py_func(hours) == want if HAVE_NUMBA else day_of(hours) == want
    if HAVE_NUMBA:
        assert _days_compiled(np.array([hours]))[0] == want


def _days_compiled(hours: np.ndarray) -> np.ndarray:
    """``day_of`` of each time, inlined in a compiled loop as the kernels inline it (compiled once)."""
    global _DAYS
    if _DAYS is None:
        from numba import njit

        from sim.jit import day_of

        @njit
        def days(x):
            out = np.empty(x.shape[0], np.int64)
            for i in range(x.shape[0]):
                out[i] = day_of(x[i])
            return out

        _DAYS = days
    return _DAYS(hours)


_DAYS = None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_the_case_logs_passes_are_numpys_expressions(seed, always_on):
    """The case log's compiled passes (``sim.logkernel``) give the bits of the numpy expressions they replaced:
    the kept rows' stage columns and level reached, the response and whether it was in time, the waits; times
    on a working-hours calendar (nights, weekends) and on an always-on one, NaN where a stage was not reached."""
    from scenario.load import load_scenario
    from sim.calendar import WorkCalendar
    from sim.logkernel import response_hours, stage_columns, waits

    spec = load_scenario(SCENARIOS / "tiny").spec.calendar
    cal = WorkCalendar(spec, 30, always_on=always_on)
    rng = np.random.default_rng(seed)
    n = 200
    start = np.where(rng.random((n, 5)) < 0.4, np.nan, rng.uniform(0, 24 * 30, (n, 5)))
    end = np.where(np.isnan(start) & (rng.random((n, 5)) < 0.7), np.nan, start + rng.exponential(5, (n, 5)))
    keep = np.flatnonzero(rng.random(n) < 0.8)
    edges, reached = stage_columns(start, end, keep)
    s, e = start[keep], end[keep]
    assert np.array_equal(edges, np.concatenate([s.T, e.T]), equal_nan=True)
    assert all(edges[j].flags.c_contiguous for j in range(10))
    want = np.where(
        ~np.isnan(s[:, 3]) | ~np.isnan(e[:, 3]),
        3,
        np.where(~np.isnan(s[:, 2]), 2, np.where(~np.isnan(s[:, 1]), 1, 0)),
    )
    assert np.array_equal(reached, want)
    days = tuple(np.ascontiguousarray(x, dtype=float) for x in (cal.day_start, cal.day_len, cal.cum))
    arrival = np.where(np.isnan(start[:, 0]), rng.uniform(0, 24 * 30, n), start[:, 0] - rng.exponential(3, n))
    arrival = np.maximum(arrival, 0.0)
    volunteer = rng.random(n) < 0.2
    category = rng.integers(0, 3, n)
    limit = np.array([4.0, np.nan, 0.5])
    got, in_time = response_hours(arrival, start[:, 0], volunteer, category, limit, *days, cal.always_on)
    first = np.where(volunteer, arrival, start[:, 0])
    resp = np.where(
        np.isnan(first), np.nan, np.maximum(cal.to_work_v(np.nan_to_num(first)) - cal.to_work_v(arrival), 0)
    )
    lim = limit[category]
    assert np.array_equal(got, resp, equal_nan=True)
    assert np.array_equal(in_time, np.where(np.isnan(lim), np.nan, (resp <= lim).astype(float)), equal_nan=True)
    measured = rng.random(n) < 0.7
    for level in range(1, 3):
        st_, ready = start[:, level], end[:, level - 1]
        s_m, r_m = st_[measured], ready[measured]
        ok = ~np.isnan(s_m) & ~np.isnan(r_m)
        want_w = np.maximum(cal.to_work_v(s_m[ok]) - cal.to_work_v(r_m[ok]), 0.0)
        assert np.array_equal(waits(st_, ready, measured, *days, cal.always_on), want_w)


def test_one_cells_activity_is_numpys_pairwise_sum():
    """With one stepped community and one finding duty, numpy sums the lookback's slots pairwise (eight running
    sums from eight slots on), not slot after slot: ``Outcomes.activity`` keeps numpy's expression there (ten
    slots of 0.1: numpy's 0.1, where a sum slot after slot gives 0.09999999999999999)."""
    from sim.outcomes import Outcomes

    out = Outcomes.__new__(Outcomes)  # the activity's state alone
    out._recent, out._recent_days = np.full((10, 1, 1), 0.1), 10
    out._due_per_day, out._comm, out._act = np.array([[1.0]]), np.array([0], np.int64), np.ones((2, 1))
    act = out.activity()
    assert act[0, 0] == np.minimum(1.0, np.full((10, 1, 1), 0.1).sum(axis=0) / 10.0)[0, 0] == 0.1
    assert act[1, 0] == 1.0


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_late_levels_are_numpys_passes(seed):
    """Where each case was when its deadline passed (``sim.logkernel.late_levels``, one pass) is the numpy passes'
    answer it replaced: NaN ends (not reached, not ended) never, an infinite end numpy's largest float, stages not
    reached counted as passed, cases on time -1."""
    from sim.logkernel import late_levels

    rng = np.random.default_rng(seed)
    n = 300

    def times():
        x = rng.uniform(0, 100, n)
        return np.where(rng.random(n) < 0.2, np.nan, np.where(rng.random(n) < 0.03, np.inf, x))

    deadline, grid, desk, street, first = (times() for _ in range(5))
    on_time = rng.random(n) < 0.3
    reached = rng.integers(0, 4, n)
    got = late_levels(deadline, on_time, grid, desk, street, first, reached)

    def still(x):
        return np.nan_to_num(x, nan=np.inf)

    level = np.where(
        deadline < still(grid),
        0,
        np.where(
            deadline < still(desk), 1, np.where(deadline < still(street), 2, np.where(deadline < still(first), 3, 4))
        ),
    )
    for lv in (1, 2, 3):
        level = np.where((level == lv) & (reached < lv), 4, level)
    assert np.array_equal(got, np.where(on_time, -1, level))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_group_flags_are_numpys(seed):
    """The flags the group KPIs count (``sim.logkernel.flag_matrix``, a row per measured case in one pass) are
    the numpy expressions they replaced, column by column in ``sim.kpis.FLAG_NAMES``' order; a response flag that
    is not 0, 1 or empty is counted."""
    from sim.kpis import FLAG_NAMES, LATE_LEVELS
    from sim.logkernel import flag_matrix

    rng = np.random.default_rng(seed)
    n = 400
    keep = rng.random(n) < 0.8
    on_time, satisfied, reopened, volunteer, resolved, found_late = rng.random((6, n)) < 0.5
    closed = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 120, n))
    reached, fund, channel = rng.integers(0, 4, n), rng.integers(0, 4, n), rng.integers(-1, 4, n)
    late = rng.integers(-1, 5, n)
    resp = rng.choice([np.nan, 0.0, 1.0, -0.0], n)
    got, bad = flag_matrix(
        keep, on_time, closed, 100.0, satisfied, reopened, reached, volunteer, channel == 2, resolved, found_late, fund,
        late, resp, len(LATE_LEVELS),
    )  # fmt: skip
    k = keep
    want = {
        "on_time": on_time[k],
        "unresolved": (np.isnan(closed) | (closed > 100.0))[k],
        "satisfied": satisfied[k],
        "reopened": reopened[k],
        "reached_1": reached[k] >= 1,
        "reached_2": reached[k] >= 2,
        "reached_3": reached[k] >= 3,
        "volunteer": volunteer[k],
        "mobile": channel[k] == 2,
        "resolved": resolved[k],
        "found_late": found_late[k],
        "unfunded": fund[k] >= 2,
        "late": late[k] >= 0,
        **{f"late_{i}": late[k] == i for i in range(len(LATE_LEVELS))},
        "responded": np.nan_to_num(resp[k], nan=0.0) == 1.0,
        "has_limit": ~np.isnan(resp[k]),
    }
    assert list(want) == FLAG_NAMES and got.shape == (k.sum(), len(FLAG_NAMES)) and bad == 0
    for j, name in enumerate(FLAG_NAMES):
        assert np.array_equal(got[:, j], want[name].astype(np.uint8)), name
    assert flag_matrix(keep, on_time, closed, 100.0, satisfied, reopened, reached, volunteer, channel == 2, resolved,
                       found_late, fund, late, np.where(keep, 0.5, resp), 5)[1] == k.sum()  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 400),
    st.lists(
        st.one_of(
            st.floats(-100, 10_000),
            st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]),
            st.integers(-2, 402).map(lambda k: k * 24.0),
            st.integers(-2, 402).map(lambda k: float(np.nextafter(k * 24.0, np.inf))),
            st.integers(-2, 402).map(lambda k: float(np.nextafter(k * 24.0, -np.inf))),
        ),
        max_size=50,
    ),
)
def test_the_backlogs_day_ends_are_a_search(n, x):
    """The backlog's first day end at or after each time (``sim.daykernel.working_day_before`` with n + 1 days of 24
    hours, arithmetic) is
    numpy's search of the day ends, NaN and infinities included, a ulp either side of a day's end."""
    from sim.daykernel import working_day_before

    a = np.array(x, dtype=float)
    want = np.searchsorted(24.0 * np.arange(1, n + 1), a, side="left")
    assert np.array_equal(working_day_before(a, 24.0, n + 1), want)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 300), st.booleans())
def test_runs_merged_are_a_stable_argsort(seed, n, disorder):
    """The order decisions take (``sim.arrivalorder.order_of_runs``): two runs already in order (the drawn cases,
    those found earlier by a mobile grid worker) and the rest in no order, merged, is numpy's stable argsort, ties
    included (times on a coarse grid); where a run is not in order after all it falls back to the full sort."""
    from sim.arrivalorder import order_of_runs

    rng = np.random.default_rng(seed)
    cls = rng.choice(np.array([0, 1, 2], np.int8), size=n, p=[0.6, 0.25, 0.15])
    x = np.empty(n)
    for c in (0, 1):
        m = int((cls == c).sum())
        x[cls == c] = np.sort(np.round(rng.uniform(0, 50, m) * 2) / 2)  # in order, with ties
    x[cls == 2] = np.round(rng.uniform(0, 60, int((cls == 2).sum())) * 2) / 2
    if disorder and (cls == 0).sum() >= 2:
        x[np.flatnonzero(cls == 0)[:2]] = [40.0, 1.0]  # class 0 out of order: the fallback
    assert np.array_equal(order_of_runs(x, cls), np.argsort(x, kind="stable"))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([9.0, 8.5, 7.75, 24.0, 1.0]),
    st.integers(1, 400),
    st.lists(
        st.one_of(
            st.floats(-50, 5_000),
            st.integers(-2, 402).map(lambda j: j * 9.0),
            st.integers(-2, 402).map(lambda j: float(np.nextafter(j * 8.5, np.inf))),
            st.integers(-2, 402).map(lambda j: float(np.nextafter(j * 8.5, -np.inf))),
            st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]),
        ),
        max_size=60,
    ),
)
def test_the_working_day_of_a_time_is_the_search(day_hours, n, w):
    """The working day a working-hour time falls in (``sim.daykernel.working_day_before``, arithmetic when every
    working day is as long) is ``WorkCalendar.from_work_v``'s search of the days' cumulative hours, a day's end in
    that day, NaN and infinities included."""
    from sim.daykernel import working_day_before

    a = np.array(w, dtype=float)
    cum = day_hours * np.arange(n)
    want = np.maximum(np.searchsorted(cum, a, side="left") - 1, 0)
    assert np.array_equal(working_day_before(a, day_hours, n), want)


def test_a_calendars_times_from_working_hours_are_the_searchs():
    """``WorkCalendar.from_work_v`` by arithmetic (working days all alike) gives the clock times the search gave,
    on the bundled calendars and a ulp around every day's end."""
    from scenario.load import load_scenario
    from sim.calendar import WorkCalendar

    for name in ("tiny", "weihai"):
        cal = WorkCalendar(load_scenario(SCENARIOS / name).spec.calendar, 120)
        assert cal._uniform_day()
        wd_cum = np.asarray(cal._wd_cum)
        ends = wd_cum[:90]
        w = np.concatenate([ends, np.nextafter(ends, np.inf), np.nextafter(ends, -np.inf), ends + 0.37, [np.nan]])
        k = np.maximum(np.searchsorted(wd_cum, w, side="left") - 1, 0)
        want = np.asarray(cal._wd_start)[k] + (w - wd_cum[k])
        assert np.array_equal(cal.from_work_v(w), want, equal_nan=True)

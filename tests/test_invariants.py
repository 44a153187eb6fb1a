"""Property-based invariants (Hypothesis) of the calendar and the FCFS pools."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario.spec import CalendarSpec
from sim.calendar import WorkCalendar
from sim.engine import _fcfs

CAL = WorkCalendar(CalendarSpec(), 60)
ALWAYS = WorkCalendar(CalendarSpec(day_start_hour=0, day_end_hour=24, working_weekdays=(0, 1, 2, 3, 4, 5, 6)), 60)

times = st.floats(min_value=0, max_value=24 * 40, allow_nan=False)
hours = st.floats(min_value=0.01, max_value=40, allow_nan=False)


@given(times, hours)
def test_add_spends_exactly_the_working_hours(t, h):
    s = CAL.start_at(t)
    e = CAL.add(s, h)
    assert s >= t - 1e-9 and e >= s
    assert abs((CAL.to_work(e) - CAL.to_work(s)) - h) < 1e-6


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(times, hours), min_size=1, max_size=40), st.integers(1, 4), st.booleans())
def test_fcfs_pool_invariants(jobs, servers, always):
    cal = ALWAYS if always else CAL
    jobs.sort()
    ready = np.array([j[0] for j in jobs])
    service = np.array([j[1] for j in jobs])
    start, end = _fcfs(ready, service, servers, cal)
    assert np.all(start >= ready - 1e-9)  # never before the job is ready
    assert np.all(np.diff(start) >= -1e-9)  # first come, first served
    for t in np.concatenate([start, end - 1e-7]):  # never more than c jobs at once
        assert ((start <= t) & (end > t)).sum() <= servers
    if servers >= len(jobs):  # an M/G/inf pool never makes anyone wait
        assert np.allclose(start, [cal.start_at(r) for r in ready])


# ---------------------------------------------------------------- the two engines agree
@settings(max_examples=25, deadline=None)
@given(
    always_on=st.booleans(),
    registered=st.sampled_from([0, 3000, 40000]),
    weekend=st.sampled_from([0.02, 0.3]),
    mobile=st.integers(0, 8),
    workers=st.lists(st.integers(2, 9), min_size=3, max_size=3),
    staff=st.integers(1, 4),
    rate=st.sampled_from([5.0, 20.0]),
    seed=st.integers(0, 10_000),
)
def test_event_engine_equals_recursion_without_reopening(
    tmp_path_factory, always_on, registered, weekend, mobile, workers, staff, rate, seed
):
    """Random small networks with volunteers, mobile grid workers, either calendar and two categories,
    reopening off, no duties: the event loop and the FCFS recursion give identical case records."""
    import shutil

    from scenario.load import load_scenario
    from sim.demand import draw_cases
    from sim.engine import simulate_cases
    from tests.conftest import SCENARIOS, drop_duties, edit

    d = tmp_path_factory.mktemp("net") / "tiny"
    shutil.copytree(SCENARIOS / "tiny", d)
    drop_duties(d)
    y = d / "scenario.yaml"
    edit(
        y,
        "targets:",
        "ladder: {feedback: {reopen_given_unsatisfied_base: 0, reopen_given_unsatisfied_per_late_day: 0}}\n"
        f"volunteers: {{registered: {registered}, weekend_active_share: {weekend}, cases_per_volunteer_day: 0.5}}\n"
        "targets:",
    )
    edit(y, "rate_per_10k_per_day: 5.0", f"rate_per_10k_per_day: {rate}")
    if always_on:
        edit(
            y,
            "day_start_hour: 8.5\n  day_end_hour: 17.5\n  working_weekdays: [0, 1, 2, 3, 4]",
            "day_start_hour: 0\n  day_end_hour: 24\n  working_weekdays: [0, 1, 2, 3, 4, 5, 6]",
        )
    s = load_scenario(d)
    alloc = s.baseline.replace(
        workers=np.array(workers), street_office_staff=np.array([staff]), mobile_grid_workers=np.array([mobile])
    )
    cases = draw_cases(s, 40, np.random.SeedSequence(seed))
    a = simulate_cases(s, cases, alloc, mode="events")
    b = simulate_cases(s, cases, alloc, mode="feed_forward")
    for f in ("start", "end", "first_close", "final_close", "satisfied"):
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    # volunteer-handled cases never climb the ladder
    assert np.isnan(a.start[cases.volunteer, 1:4]).all()

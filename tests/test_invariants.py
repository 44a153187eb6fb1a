"""Property-based invariants (Hypothesis) of the calendar and the FCFS pools."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.calendar import WorkCalendar
from sim.config import CalendarSpec
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
    assert np.all(start >= ready - 1e-9)                       # never before the job is ready
    assert np.all(np.diff(start) >= -1e-9)                      # first come, first served
    for t in np.concatenate([start, end - 1e-7]):               # never more than c jobs at once
        assert ((start <= t) & (end > t)).sum() <= servers
    if servers >= len(jobs):                                    # an M/G/inf pool never makes anyone wait
        assert np.allclose(start, [cal.start_at(r) for r in ready])

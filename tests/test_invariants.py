"""Property-based invariants (Hypothesis) of the calendar, the pools, and the two engines' agreement."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario.spec import CalendarSpec
from sim.calendar import WorkCalendar

CAL = WorkCalendar(CalendarSpec(), 60)
ALWAYS = WorkCalendar(CalendarSpec(day_start_hour=0, day_end_hour=24, working_weekdays=(0, 1, 2, 3, 4, 5, 6)), 60)

times = st.floats(min_value=0, max_value=24 * 40, allow_nan=False)
hours = st.floats(min_value=0.01, max_value=40, allow_nan=False)


@given(times, hours, st.booleans())
def test_start_and_end_is_start_at_then_add(t, h, always):
    """The engines' one-conversion shortcut gives the same bits as the two plain conversions."""
    cal = ALWAYS if always else CAL
    s = cal.start_at(t)
    assert cal.start_and_end(t, h) == (s, cal.add(s, h))


@given(st.integers(1, 60), st.integers(0, 6), st.sampled_from([(0, 1, 2, 3, 4), (5, 6), (2,)]), st.floats(0, 1))
def test_every_time_before_the_last_day_starts_at_or_after_itself(days, weekday, weekdays, x):
    """Whatever weekday the calendar would end on, a time before its last day (the engines' stop) maps to a
    working instant at or after it, and the work it starts ends after that."""
    cal = WorkCalendar(CalendarSpec(days=days, warmup_days=0, start_weekday=weekday, working_weekdays=weekdays))
    t = x * (cal.horizon_hours - 24.0)
    s, e = cal.start_and_end(t, 1.0)
    assert t <= s < e


@given(times, hours)
def test_add_spends_exactly_the_working_hours(t, h):
    s = CAL.start_at(t)
    e = CAL.add(s, h)
    assert s >= t - 1e-9 and e >= s
    assert abs((CAL.to_work(e) - CAL.to_work(s)) - h) < 1e-6


# ---------------------------------------------------------------- the two engines agree
# every per-row and per-pool field of the case record, and the fund's ledger
ENGINE_FIELDS = (
    "active",
    "arrival",
    "start",
    "end",
    "first_close",
    "final_close",
    "satisfied",
    "reopened",
    "resolved",
    "funded",
    "paid_yuan",
    "busy",
    "fund_spent_yuan",
    "fund_exhausted_day",
    "unfunded_cases",
)


def _random_network(tmp_path_factory, always_on, duties, delay, registered, mobile, workers, staff, rate, fixed=False):
    """A copy of ``tiny`` (three communities, one street, two categories) varied as asked: calendar, duties
    (leave and fixed duties make the people present change by day), the feedback delay (None: reopening off),
    volunteers, mobile grid workers, headcounts, demand; ``fixed``: every service a fixed time and no travel,
    so that cases finish, arrive at the next level and come back reopened at the same instant (ties).
    Returns the scenario and the allocation."""
    import shutil

    from scenario.load import load_scenario
    from tests.conftest import SCENARIOS, drop_duties, edit

    d = tmp_path_factory.mktemp("net") / "tiny"
    shutil.copytree(SCENARIOS / "tiny", d)
    if not duties:
        drop_duties(d)
    y = d / "scenario.yaml"
    feedback = (
        "reopen_given_unsatisfied_base: 0, reopen_given_unsatisfied_per_late_day: 0, unsatisfied_if_unresolved: 0.6"
        if delay is None
        else f"delay_hours: {delay}, unsatisfied_base: 0.3, reopen_given_unsatisfied_base: 0.5, "
        "unsatisfied_if_unresolved: 0.6, reopen_if_unresolved: 0.3, revisit_resolution_share: 0.5"
    )
    edit(
        y,
        "targets:",
        f"ladder: {{feedback: {{{feedback}}}}}\n"
        f"volunteers: {{registered: {registered}, weekend_active_share: 0.3, cases_per_volunteer_day: 0.5}}\n"
        "targets:",
    )
    edit(y, "rate_per_10k_per_day: 5.0", f"rate_per_10k_per_day: {rate}")
    if fixed:
        y.write_text(y.read_text().replace("_service: {kind: exponential", "_service: {kind: fixed"))
        edit(y, "ladder: {", "ladder: {travel_minutes_max: 0, ")
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
    return s, alloc


NETWORKS = dict(
    always_on=st.booleans(),
    duties=st.booleans(),
    delay=st.sampled_from([None, 0.5, 24.0, 200.0]),
    registered=st.sampled_from([0, 3000, 40000]),
    mobile=st.integers(0, 8),
    workers=st.lists(st.integers(2, 9), min_size=3, max_size=3),
    staff=st.integers(1, 4),
    rate=st.sampled_from([5.0, 20.0, 60.0]),
    seed=st.integers(0, 10_000),
    fixed=st.booleans(),
)


@settings(max_examples=30, deadline=None)
@given(**NETWORKS)
def test_event_engine_equals_recursion(
    tmp_path_factory, always_on, duties, delay, registered, mobile, workers, staff, rate, seed, fixed
):
    """Random small networks with volunteers, mobile grid workers, either calendar, two categories, people
    present changing by day or not, reopening after 0.5, 24 or 200 hours or not at all, up to overload, and
    fixed service times that make events coincide: the SimPy event loop and the recursion give identical
    case records, to the last bit."""
    from sim.demand import draw_cases
    from sim.engine import simulate_cases

    s, alloc = _random_network(
        tmp_path_factory, always_on, duties, delay, registered, mobile, workers, staff, rate, fixed
    )
    cases = draw_cases(s, 40, np.random.SeedSequence(seed))
    a = simulate_cases(s, cases, alloc, mode="events")
    b = simulate_cases(s, cases, alloc, mode="recursion")
    for f in ENGINE_FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    assert a.events == b.events
    # volunteer-handled cases never climb the ladder
    assert np.isnan(a.start[a.rows.volunteer, 1:4]).all()
    # a problem is either found early or surfaces late, never both, never neither
    twin = a.rows.twin_of >= 0
    assert np.array_equal(a.active[a.rows.twin_of[twin]], ~a.active[twin])


@settings(max_examples=20, deadline=None)
@given(**{**NETWORKS, "always_on": st.just(True)})
def test_pool_invariants(
    tmp_path_factory, always_on, duties, delay, registered, mobile, workers, staff, rate, seed, fixed
):
    """What the recursion promises of every pool, checked on its output (24/7, so a start is the moment a
    server takes the case): no case starts before it is ready; cases start in the order they became ready
    (first come, first served); a case starts only while fewer cases are in service than people take cases
    that day; and no case waits while a server is free that day (work-conserving)."""
    from sim.demand import draw_cases
    from sim.engine import simulate_cases
    from sim.routing import Stage

    s, alloc = _random_network(
        tmp_path_factory, always_on, duties, delay, registered, mobile, workers, staff, rate, fixed
    )
    cases = draw_cases(s, 40, np.random.SeedSequence(seed))
    r = simulate_cases(s, cases, alloc, mode="recursion")
    cases = r.rows  # the drawn cases and the problems found late (inactive rows never reach a pool)
    nc = s.n_communities
    g, c, rp = int(Stage.GRID), int(Stage.COMMUNITY), int(Stage.REOPEN)
    fb_delay = s.spec.ladder.feedback.delay_hours
    on_grid = ~cases.volunteer & r.active
    jobs = [  # (pool, ready, start, end) of every service at the grid pools and desks
        (cases.community[on_grid], r.arrival[on_grid], r.start[on_grid, g], r.end[on_grid, g]),
        (
            cases.community[r.reopened],
            r.first_close[r.reopened] + fb_delay,
            r.start[r.reopened, rp],
            r.end[r.reopened, rp],
        ),
        (nc + cases.community, r.end[:, g], r.start[:, c], r.end[:, c]),
    ]
    pool, ready, start, end = (np.concatenate(x) for x in zip(*jobs))
    started = ~np.isnan(start)
    pool, ready, start, end = pool[started], ready[started], start[started], end[started]
    end = np.where(np.isnan(end), np.inf, end)  # still in service when the run ends
    assert np.all(start >= ready)
    for p in np.unique(pool):
        m = pool == p
        rd, sp, ep = ready[m], start[m], end[m]
        order = np.lexsort((sp, rd))
        assert np.all(np.diff(sp[order]) >= 0), "first come, first served"
        for i in range(len(sp)):
            day = int(sp[i] // 24)
            servers = r.case_servers[p, day] if day < r.case_servers.shape[1] else r.people[p]
            others = np.delete(np.arange(len(sp)), i)
            in_service = ((sp[others] <= sp[i]) & (ep[others] > sp[i])).sum()
            assert in_service < servers, "a case started with every server busy"
            if sp[i] > rd[i]:  # it waited: every server busy just before it started
                t = sp[i] - 1e-9
                busy = ((sp[others] <= t) & (ep[others] > t)).sum()
                day_t = int(t // 24)
                servers_t = r.case_servers[p, day_t] if day_t < r.case_servers.shape[1] else r.people[p]
                assert busy >= servers_t or day_t != day, "a case waited while a server was free"

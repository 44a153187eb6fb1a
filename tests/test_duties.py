"""The duty model: hand-computed hours, the daily account, cases first, and workload in the allocator."""

from __future__ import annotations

import numpy as np
import pytest

from scenario.load import load_scenario
from scenario.staffing import split_desk, staff_time
from sim.replications import run_replication, run_replications
from solvers.allocator import allocate
from solvers.lpmodel import AllocationOptions
from tests.conftest import edit

YEAR_DAYS = 365 / 7 * 5  # working days a year (Monday to Friday)
PERSON_HOURS = YEAR_DAYS * 9  # 8:30-17:30


def test_tiny_duty_hours_by_hand(tiny):
    st = staff_time(tiny)
    h = dict(zip(st.duty_ids, st.duty_hours))
    # ordinary households (2,000 - 200, 1,200 - 120, 800 - 80) x 2 a year x 0.5 h
    assert h["visits_ordinary"] == pytest.approx([1800, 1080, 720])
    # special households x 12 x 0.5 h
    assert h["visits_special"] == pytest.approx([1200, 720, 480])
    # busy grids 5 a week, quiet grids 2 a week, 30 minutes: A 2 busy + 1 quiet = 12 patrols a week
    assert h["patrols"] == pytest.approx(np.array([12, 7, 5]) * 0.5 * 365 / 7)
    # 200 transactions per 1,000 residents x 0.25 h
    assert h["service_hall"] == pytest.approx([250, 150, 100])
    # 300 party members in the street: 0.3 x 100 x 2 h
    assert h["party_work"] == pytest.approx([60])
    assert st.working_hours_per_person == pytest.approx(PERSON_HOURS)
    # 10 days of leave, 2 h a week of meetings (community), 3 h (street)
    assert st.unavailable_share["community"] == pytest.approx(10 / YEAR_DAYS + 2 / 45)
    assert st.unavailable_share["street"] == pytest.approx(10 / YEAR_DAYS + 3 / 45)


def test_simulated_duty_hours_equal_the_hand_totals(tiny):
    """Tiny is lightly loaded: every duty hour that arises is done; a year's worth equals the hand total."""
    out = run_replication(tiny, tiny.baseline, 365, np.random.SeedSequence(4), 0)
    hours = out.duty_hours.set_index(["level", "work"])["hours_done_per_year"]
    st = staff_time(tiny)
    for did, lv, h in zip(st.duty_ids, st.duty_level, st.duty_hours):
        if did == "visits_ordinary":
            continue  # a 182-day window: the first half-year's tasks may be done late in the run; checked below
        assert hours[(lv, did)] == pytest.approx(h.sum(), rel=0.01), did
    assert out.kpis["duty_coverage"] > 0.97


def test_desk_people_are_counted_once(weihai):
    st = staff_time(weihai)
    desk, grid = split_desk(st, weihai.baseline.workers)
    assert np.array_equal(desk + grid, weihai.baseline.workers)
    assert (desk >= 1).all() and (grid >= 1).all()
    # in proportion to the desk's planned hours, rounded half up
    w = weihai.baseline.workers
    assert np.array_equal(desk, np.clip(np.floor(w * st.desk_share + 0.5), 1, w - 1))


def test_case_hours_by_hand_and_in_any_order():
    """Working days 8:30-17:30 from a Monday. Pool 0: Monday 9:30-11:30, Monday 11:00 to Tuesday 10:00 (6.5 h
    on Monday, 1.5 h on Tuesday); pool 1: Tuesday 9:00-10:00. The same bits whatever order the services are
    added in and however the days are closed (the two engines start services in different orders)."""
    from scenario.spec import CalendarSpec
    from sim.calendar import WorkCalendar
    from sim.dayledger import CaseHours

    cal = WorkCalendar(CalendarSpec(days=7, warmup_days=0), 7)
    k = np.array([0, 5, 7])
    pool = np.array([0, 0, 1])
    start = np.array([9.5, 11.0, 33.0])
    end = np.array([11.5, 34.0, 34.0])
    a = CaseHours(cal, 7, 2)
    a.add(k, pool, start, end)
    a.close(5)
    assert a.busy[:, :2].tolist() == [[2.0 + 6.5, 1.5], [0.0, 1.0]]
    b = CaseHours(cal, 7, 2)
    b.add(k[1::-1], pool[1::-1], start[1::-1], end[1::-1])  # the other order
    b.close(1)  # Monday closes once everything touching it has started
    b.add(k[2:], pool[2:], start[2:], end[2:])
    b.close(5)
    assert np.array_equal(a.busy, b.busy)


def test_cases_first_leaves_case_handling_untouched_by_scheduled_duties(tiny_copy):
    """Scheduled duties take only the time cases leave: more of them changes no case, only coverage."""
    light = load_scenario(tiny_copy)
    edit(tiny_copy / "scenario.yaml", "times_per_year: 12, hours_each: 0.5,", "times_per_year: 12, hours_each: 3,")
    heavy = load_scenario(tiny_copy)
    # same desk split, so the same people take cases (the split follows planned hours)
    assert np.array_equal(
        split_desk(staff_time(light), light.baseline.workers)[0],
        split_desk(staff_time(heavy), heavy.baseline.workers)[0],
    )
    a = run_replication(light, light.baseline, 120, np.random.SeedSequence(11), 0)
    b = run_replication(heavy, heavy.baseline, 120, np.random.SeedSequence(11), 0)
    for k in ("on_time_share", "resolution_mean_hours", "resolution_p90_hours", "case_share_grid"):
        assert a.kpis[k] == b.kpis[k], k
    assert b.kpis["duty_coverage_grid"] <= a.kpis["duty_coverage_grid"]
    assert b.kpis["utilisation_grid"] > a.kpis["utilisation_grid"] + 0.15


def test_protected_share_costs_case_timeliness(tiny_copy):
    """Keeping half of the people on duties each day slows cases; cases first does not."""
    edit(tiny_copy / "scenario.yaml", "rate_per_10k_per_day: 5.0", "rate_per_10k_per_day: 25.0")
    first = load_scenario(tiny_copy)
    edit(tiny_copy / "scenario.yaml", "rule: cases_first", "rule: protected_share\n  protected_share: 0.5")
    protected = load_scenario(tiny_copy)
    a = run_replications(first, first.baseline, 3, days=91, processes=1)
    b = run_replications(protected, protected.baseline, 3, days=91, processes=1)
    assert (b.per_rep["resolution_mean_hours"] > a.per_rep["resolution_mean_hours"]).all()
    assert (b.per_rep["duty_coverage_grid"] >= a.per_rep["duty_coverage_grid"] - 1e-9).all()


@pytest.fixture
def heavy_tiny(tiny_copy):
    """Tiny with 7-hour special visits: the workload, not the floor, decides staffing."""
    edit(tiny_copy / "scenario.yaml", "times_per_year: 12, hours_each: 0.5,", "times_per_year: 12, hours_each: 7,")
    edit(tiny_copy / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: 9000000}")
    return tiny_copy


def test_workload_decides_min_cost_staffing(heavy_tiny):
    s = load_scenario(heavy_tiny)
    r = allocate(s, AllocationOptions())
    st = staff_time(s)
    need = np.ceil(st.min_staff("community", 0.85))
    assert np.array_equal(r.allocation.workers, np.maximum(need, [9, 6, 4]))
    assert (r.deciding_community.decided_by == "workload").sum() >= 2
    assert "workload" in set(r.deciding_community.decided_by)


@pytest.mark.parametrize("community", [0, 1, 2])
def test_more_households_never_lower_min_cost_workers(heavy_tiny, community):
    before = allocate(load_scenario(heavy_tiny), AllocationOptions()).allocation.workers
    rows = (heavy_tiny / "communities.csv").read_text().splitlines()
    cells = rows[community + 1].split(",")
    cells[3] = str(int(cells[3]) * 2)  # households
    cells[4] = str(int(cells[4]) * 2)  # special households
    rows[community + 1] = ",".join(cells)
    (heavy_tiny / "communities.csv").write_text("\n".join(rows) + "\n")
    after = allocate(load_scenario(heavy_tiny), AllocationOptions()).allocation.workers
    assert after[community] > before[community]
    assert (after >= before).all()


def test_rebalance_keeps_the_baseline_cost_and_moves_workers_to_the_work(heavy_tiny):
    # a baseline that staffs A above its work and B below it
    edit(heavy_tiny / "baseline_allocation.csv", "community,A,10,", "community,A,13,")
    edit(heavy_tiny / "baseline_allocation.csv", "community,B,6,", "community,B,3,")
    s = load_scenario(heavy_tiny)
    from solvers.costs import funder_costs

    r = allocate(s, AllocationOptions(objective="rebalance"))
    assert r.costs.total_yuan <= funder_costs(s, s.baseline).total_yuan + 1
    from solvers.allocator import predicted_coverage

    assert r.expected_duty_coverage > predicted_coverage(s, s.baseline)[2]
    assert r.allocation.workers[1] > 3 and r.allocation.workers[0] < 13


def test_max_service_frontier_rises_with_the_budget(heavy_tiny):
    """Above what the duty-coverage target costs, money buys paid fixes: the expected resolution rate rises with
    the budget until every fix is paid; below it, the message names what the target needs."""
    s = load_scenario(heavy_tiny)
    runs = [allocate(s, AllocationOptions(objective="max-service", total_budget_yuan=b)) for b in (3.0e6, 3.2e6, 3.4e6)]
    res = [r.expected_resolution_share for r in runs]
    assert all(b > a + 0.005 for a, b in zip(res, res[1:]))
    assert all(r.expected_duty_coverage >= s.spec.targets.duty_coverage_min for r in runs)
    from solvers.errors import InfeasibleError

    with pytest.raises(InfeasibleError, match="duty-coverage target in every unit alone require"):
        allocate(s, AllocationOptions(objective="max-service", total_budget_yuan=2.8e6))


def test_surge_weeks_are_visibly_worse_than_the_same_weeks_without_it():
    """March surge (demand x2.5 for 30 days, 72,000 mobilised members): the open-case backlog about doubles
    and duty coverage drops in the surge weeks; volunteers take every eligible case, so on-time holds."""
    from tests.conftest import SCENARIOS

    base = load_scenario(SCENARIOS / "weihai")
    surge = load_scenario(SCENARIOS / "weihai" / "surge.yaml")
    a = run_replication(base, base.baseline, 100, np.random.SeedSequence(3), 0)
    b = run_replication(surge, surge.baseline, 100, np.random.SeedSequence(3), 0)
    assert "backlog_mean_cases_surge" in b.kpis and "backlog_mean_cases_surge" not in a.kpis
    from sim.calendar import WorkCalendar
    from sim.caselog import case_log
    from sim.demand import draw_cases
    from sim.duties import account_duties
    from sim.engine import simulate_cases
    from sim.replications import window_kpis

    cal = WorkCalendar(base.spec.calendar, 100)
    cases = draw_cases(base, 100, np.random.SeedSequence(3))
    r = simulate_cases(base, cases, base.baseline, cal)
    same_weeks = window_kpis(case_log(base, r, cal), account_duties(base, r, cal, 59, 89), 59, 89, "_surge")
    assert b.kpis["backlog_mean_cases_surge"] > 1.5 * same_weeks["backlog_mean_cases_surge"]
    assert b.kpis["duty_coverage_surge"] < same_weeks["duty_coverage_surge"] - 0.004
    assert b.kpis["volunteer_share"] > 3 * a.kpis["volunteer_share"]


# The README's stated bound on the allocator's predictions against simulation (Weihai, min-cost, theory
# curves before any fitting): city on-time share and duty coverage within 1 point; over communities, mean
# absolute gap within 1 point (on-time) and 1.5 points (coverage).
CITY_BOUND, COMMUNITY_MAE_ON_TIME, COMMUNITY_MAE_COVERAGE = 0.01, 0.01, 0.015


@pytest.mark.slow
def test_allocator_predictions_match_simulation_within_the_stated_bound(weihai):
    from solvers.allocator import predicted_coverage

    r = allocate(weihai, AllocationOptions())
    sims = run_replications(weihai, r.allocation, 2, days=120, processes=2, seed=5)
    per = sims.group("community").reindex(list(weihai.community_ids))
    on_pred = r.curves.evaluate(r.allocation.workers)
    cov_pred, _, city_cov = predicted_coverage(weihai, r.allocation)
    assert abs(r.expected_on_time_share - sims.per_rep["on_time_share"].mean()) <= CITY_BOUND
    assert abs(city_cov - sims.per_rep["duty_coverage"].mean()) <= CITY_BOUND
    assert np.mean(np.abs(on_pred - per["on_time_share"].to_numpy())) <= COMMUNITY_MAE_ON_TIME
    assert np.mean(np.abs(cov_pred - per["duty_coverage"].to_numpy())) <= COMMUNITY_MAE_COVERAGE


def test_a_duty_that_never_came_due_has_no_coverage(tiny):
    """In a short run some duties never come due: their coverage is unknown ('–'), not 100%."""
    d = run_replications(tiny, tiny.baseline, 2, days=20, processes=1).duty_hours_mean()
    sched = d[d.kind == "scheduled"]
    assert (sched.hours_due == 0).any()
    assert sched[sched.hours_due == 0].coverage.isna().all()
    assert sched[sched.hours_due > 0].coverage.between(0, 1).all()


def test_utilisation_never_exceeds_the_hours_worked(tiny_copy):
    """Deep cuts under 8x the demand saturate every pool: a case in progress is finished by whoever started
    it, also on a day the absence draw has them away, so busy hours can pass the hours of the people
    present. Utilisation divides by the hours worked (present, and that overtime): at most 100% (it read
    100.9% for the grid)."""
    edit(tiny_copy / "scenario.yaml", "rate_per_10k_per_day: 5.0", "rate_per_10k_per_day: 40.0")
    s = load_scenario(tiny_copy)
    lean = s.baseline.replace(workers=np.array([3, 3, 3]), street_office_staff=np.array([1]))
    r = run_replications(s, lean, 2, days=60, processes=1)
    for k in ("utilisation_grid", "utilisation_desk", "utilisation_street", "case_share_grid"):
        assert (r.per_rep[k] <= 1.0 + 1e-12).all(), (k, r.per_rep[k].max())
    per = r.group_per_rep("community")
    assert per.utilisation_grid.max() == pytest.approx(1.0)  # saturated, not above
    assert (per[["utilisation_grid", "utilisation_desk"]].max() <= 1.0 + 1e-12).all()


def test_predicted_overdue_cases_match_a_simulated_year(weihai):
    """The allocator's expected overdue cases a year against a simulated year of its min-cost plan: within 20%
    (about 13% low: queueing at desks and street offices is left to the simulation). Counting every reopened
    volunteer case as late (volunteers work on weekends: the revisit fits the deadline) put it 30% high."""
    from solvers.curves import volunteer_on_time

    r = allocate(weihai)
    out = run_replication(weihai, r.allocation, 365, np.random.SeedSequence(5))
    per_year = out.kpis["overdue_cases"] * 365 / (365 - weihai.spec.calendar.warmup_days)
    assert r.expected_overdue_cases == pytest.approx(per_year, rel=0.2)
    assert r.curves.overdue_waiting(r.allocation.workers) < 1  # why every plan predicts the same count
    assert volunteer_on_time(weihai) == pytest.approx(1.0, abs=1e-3)


def test_units_over_the_planning_margin_are_those_the_workload_rule_raises(weihai):
    """planned_load (the report's planning-margin table) counts a unit over the margin exactly when its staff
    is below the workload rule's minimum, and names the busiest unit by planned / available hours."""
    from workflows.run import planned_load

    st = staff_time(weihai)
    b = weihai.baseline
    load = planned_load(weihai, [("baseline", b)]).set_index("level")
    assert load.loc["community", "units_over_margin"] == int((b.workers < st.workload_staff("community") - 1e-9).sum())
    assert load.loc["street", "units_over_margin"] == int(
        (b.street_office_staff < st.workload_staff("street") - 1e-9).sum()
    )
    ratio = st.planned_community / (b.workers * st.available_per_person("community"))
    assert load.loc["community", "busiest_planned_load"] == pytest.approx(ratio.max())
    assert load.loc["community", "busiest_unit"] == weihai.community_ids[int(np.argmax(ratio))]
    assert load.loc["community", "planning_margin"] == 0.85


def test_a_districts_duty_account_is_the_citys_for_its_pools(weihai):
    """A district's task keeps the duty account of its own pools alone (``only``): for those pools it is the
    whole city's account to the bit (a pool's duties depend on its own hours and its community's desk), the
    other pools' rows are 0; and the simulation that decides which problems are found late from it gives
    the same case records for the district's cases."""
    from dataclasses import fields

    from sim.calendar import WorkCalendar
    from sim.demand import draw_cases
    from sim.duties import DutyAccount, account_duties
    from sim.engine import simulate_cases
    from sim.split import take_cases

    days, d = 60, 2
    cal = WorkCalendar(weihai.spec.calendar, days)
    cases = draw_cases(weihai, days, np.random.SeedSequence(4))
    ids = np.flatnonzero(weihai.community_district[cases.community] == d)
    mine = take_cases(cases, ids)
    only = (np.flatnonzero(weihai.community_district == d), np.flatnonzero(weihai.street_district == d))
    n = weihai.n_communities
    pools = np.concatenate([only[0], n + only[0], 2 * n + only[1]])
    others = np.setdiff1d(np.arange(2 * n + len(weihai.street_ids)), pools)
    whole = simulate_cases(weihai, mine, weihai.baseline, cal)
    part = simulate_cases(weihai, mine, weihai.baseline, cal, only=only)
    for f in ("active", "start", "end", "first_close", "final_close", "satisfied", "reopened", "resolved", "busy"):
        assert np.array_equal(getattr(whole, f), getattr(part, f), equal_nan=True), f
    for f in ("present", "case_servers"):  # people by day: the district's pools alone, the city's numbers
        assert np.array_equal(getattr(whole, f)[pools], getattr(part, f)[pools]), f
        assert not getattr(part, f)[others].any() and getattr(whole, f)[others].any(), f
    twins = part.rows.twin_of >= 0  # the duty account decided both ways: problems found early and late
    assert part.active[twins].any() and not part.active[twins].all()
    full, kept = account_duties(weihai, whole, cal, 7), account_duties(weihai, part, cal, 7, only=only)
    for f in fields(DutyAccount):
        a, b = getattr(full, f.name), getattr(kept, f.name)
        if not isinstance(a, np.ndarray):
            assert a == b, f.name
        elif f.name == "desk_help_hours":  # per community
            assert np.array_equal(a[only[0]], b[only[0]]), f.name
        else:
            assert np.array_equal(a[pools], b[pools]), f.name
            assert not b[others].any(), f.name  # left out
            if f.name in ("due_hours", "done_hours"):
                assert a[others].any(), f.name  # not for want of work


def test_the_runs_duty_sums_are_the_replays(weihai, monkeypatch):
    """The run steps the duty account day by day to decide which problems are found late; the sums it keeps for
    the windows asked for (``duty_windows``) are the account ``account_duties`` gets by replaying the days, to
    the bit, whole city and one district's pools, a window to the end and a window inside the run; they are
    taken instead of the replay (a window not asked for is still replayed)."""
    from dataclasses import fields, replace

    import sim.duties
    from sim.calendar import WorkCalendar
    from sim.demand import draw_cases
    from sim.duties import DutyAccount, account_duties
    from sim.engine import simulate_cases

    days = 50
    cal = WorkCalendar(weihai.spec.calendar, days)
    cases = draw_cases(weihai, days, np.random.SeedSequence(6))
    d = 3
    only = (np.flatnonzero(weihai.community_district == d), np.flatnonzero(weihai.street_district == d))
    windows = ((7, None), (20, 35))
    for o in (None, only):
        run = simulate_cases(weihai, cases, weihai.baseline, cal, only=o, duty_windows=windows)
        assert run.duty_sums is not None and set(run.duty_sums) == set(windows)
        replayed = [account_duties(weihai, replace(run, duty_sums=None), cal, *w, only=o) for w in windows]
        with monkeypatch.context() as m:
            m.setattr(sim.duties, "_stepped", lambda *a: pytest.fail("replayed a window the run summed"))
            kept = [account_duties(weihai, run, cal, *w, only=o) for w in windows]
        for a, b in zip(replayed, kept):
            for f in fields(DutyAccount):
                x, y = getattr(a, f.name), getattr(b, f.name)
                assert np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y, f.name
        assert kept[0].done_hours.sum() > kept[1].done_hours.sum() > 0
        other = account_duties(weihai, run, cal, 10, None, only=o)  # not asked for: replayed
        assert other.due_hours.sum() < kept[0].due_hours.sum()

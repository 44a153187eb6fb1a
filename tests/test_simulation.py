"""The simulation: exact traces, theory (Erlang C, Little's law), common random numbers, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scenario.load import load_scenario
from sim.calendar import WorkCalendar
from sim.demand import Cases, draw_cases
from sim.engine import simulate_cases
from sim.replications import confidence_interval, run_replication, run_replications
from solvers.queueing import erlang_c, mean_wait, service_level
from tests.conftest import SCENARIOS, edit

NAN = np.nan


# ---------------------------------------------------------------- exact traces
def _cases(arrival, community, category, service, esc=None, fb=None, days=14):
    n = len(arrival)
    return Cases(
        arrival=np.array(arrival, float),
        community=np.array(community),
        channel=np.ones(n, int),
        category=np.array(category),
        grid=np.zeros(n, int),
        service=np.array(service, float),
        u_escalate=np.array(esc if esc is not None else [[1, 1, 1]] * n, float),
        u_feedback=np.array(fb if fb is not None else [[1, 1]] * n, float),
        u_mobile=np.ones(n),
        volunteer=np.zeros(n, bool),
        channel_ids=("hotline_12345", "grid_patrol", "mobile_grid"),
        days=days,
    )


def test_exact_trace_tiny(tiny_copy):
    """Tiny without duties; community C with 3 workers -> 1 at the desk, 2 in the grid pool; fixed services;
    Mon 8:30-17:30 working days."""
    from tests.conftest import drop_duties

    drop_duties(tiny_copy)
    tiny = load_scenario(tiny_copy)
    # day 0 is a Monday. Times in hours.
    cases = _cases(
        arrival=[9.0, 9.5, 10.0, 20.0, 16.0],
        community=[2, 2, 2, 2, 2],
        category=[0, 0, 0, 0, 1],
        #         grid community street city reopen
        service=[
            [2.0, 1.0, 1.0, 16.0, 1.0],
            [1.0, 1.0, 1.0, 16.0, 1.0],
            [1.0, 1.0, 1.0, 16.0, 1.0],
            [1.0, 1.0, 1.0, 16.0, 1.0],
            [3.0, 2.0, 1.0, 24.0, 1.0],
        ],
        # case 4 climbs to the city; the others stay at grid level
        esc=[[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0]],
        # case 1's resident is unsatisfied and reopens
        fb=[[1, 1], [0, 0], [1, 1], [1, 1], [1, 1]],
    )
    r = simulate_cases(tiny, cases, tiny.baseline.replace(workers=np.array([10, 6, 3])))
    # two servers: case0 9-11, case1 9.5-10.5, case2 waits for case1 -> 10.5-11.5
    assert r.start[:3, 0].tolist() == [9.0, 9.5, 10.5]
    assert r.end[:3, 0].tolist() == [11.0, 10.5, 11.5]
    # case 3 arrives at 20:00 (off hours): starts 8:30 Tuesday (32.5), ends 33.5
    assert (r.start[3, 0], r.end[3, 0]) == (32.5, 33.5)
    # case 4: grid 16:00-17:30 + 1.5h Tuesday -> 34.0; desk 34.0-36.0; street 36.0-37.0;
    # city 24 working hours from Tue 13:00 -> Tue 4.5h + Wed 9h + Thu 9h = 22.5h, +1.5 Fri -> Fri 10:00
    assert r.start[4, :4].tolist() == [16.0, 34.0, 36.0, 37.0]
    assert r.end[4, :4].tolist() == [34.0, 36.0, 37.0, 4 * 24 + 10.0]
    # case 1 reopened: feedback 24 h after 10.5 -> ready 34.5 (Tue 10:30); served 34.5-35.5
    assert r.reopened.tolist() == [False, True, False, False, False]
    assert (r.start[1, 4], r.end[1, 4]) == (34.5, 35.5)
    assert r.final_close[1] == 35.5 and r.first_close[1] == 10.5
    assert not r.satisfied[1] and r.satisfied[0]


def test_calendar_round_trip():
    from scenario.spec import CalendarSpec

    cal = WorkCalendar(CalendarSpec(), 30)
    t = np.random.default_rng(0).uniform(0, 24 * 30, 1000)
    starts = np.array([cal.start_at(x) for x in t])
    assert np.allclose(cal.to_work_v(starts), cal.to_work_v(t))
    h = np.random.default_rng(1).uniform(0.1, 30, 1000)
    assert np.allclose(cal.add_v(starts, h), [cal.add(a, b) for a, b in zip(starts, h)])
    assert np.allclose(cal.to_work_v(cal.add_v(starts, h)) - cal.to_work_v(starts), h)


# ---------------------------------------------------------------- theory
def test_erlang_c_formulas():
    assert erlang_c(14, 10.0) == pytest.approx(0.1741, abs=1e-4)
    assert mean_wait(14, 200.0, 0.05) * 3600 == pytest.approx(7.84, abs=0.01)
    assert service_level(14, 200.0, 0.05, 20 / 3600) == pytest.approx(0.888, abs=1e-3)


def test_simulation_reproduces_erlang_c():
    """The degenerate scenario's P(wait), mean wait and 20-second service level: theory inside the 95% CI."""
    s = load_scenario(SCENARIOS / "erlang_c")
    reps = 8
    seqs = np.random.SeedSequence(2024).spawn(reps)
    pw, mw, sl = [], [], []
    for q in seqs:
        cases = draw_cases(s, 20, q)
        r = simulate_cases(s, cases, s.baseline)
        keep = r.arrival >= 24.0
        wait = (r.start[keep, 0] - r.arrival[keep]) * 3600
        pw.append((wait > 1e-9).mean())
        mw.append(wait.mean())
        sl.append((wait <= 20).mean())
    for values, theory in ((pw, 0.1741), (mw, 7.84), (sl, 0.888)):
        m, lo, hi = confidence_interval(np.array(values))
        assert lo <= theory <= hi, (m, lo, hi, theory)
        assert hi - lo < 0.15 * theory  # the interval is informative, not wide enough to pass anything


def test_littles_law_at_every_level(weihai):
    """Bookkeeping, not theory: the case log's start and end times are consistent at every level
    (time-average number present = arrival rate x mean time there, within 3%). Theory is tested by
    the Erlang C and product-form tests."""
    days = 150
    cases = draw_cases(weihai, days, np.random.SeedSequence(5))
    r = simulate_cases(weihai, cases, weihai.baseline)
    t0, t1 = 14 * 24.0, days * 24.0
    entry = {0: r.arrival, 1: r.end[:, 0], 2: r.end[:, 1], 3: r.end[:, 2]}
    for stage in range(4):
        enter, leave = entry[stage], r.end[:, stage]
        ok = ~np.isnan(r.start[:, stage]) & ~r.rows.volunteer & r.active
        enter, leave = enter[ok], np.where(np.isnan(leave[ok]), np.inf, leave[ok])
        # exact time-average of the number present in [t0, t1)
        L = np.clip(np.minimum(leave, t1) - np.maximum(enter, t0), 0, None).sum() / (t1 - t0)
        inside = (enter >= t0) & (enter < t1)
        lam = inside.sum() / (t1 - t0)
        W = (leave - enter)[inside].mean()
        assert inside.sum() > 500
        assert L == pytest.approx(lam * W, rel=0.03), (stage, L, lam * W)


# ---------------------------------------------------------------- randomness
def test_common_random_numbers_and_allocation_effect(tiny):
    """Two allocations see the same complaints; more workers shorten resolution."""
    lean = tiny.baseline.replace(workers=np.array([4, 2, 2]))
    a = run_replications(tiny, tiny.baseline, reps=2, processes=1, keep_first_log=True)
    b = run_replications(tiny, lean, reps=2, processes=1, keep_first_log=True)
    la, lb = a.first_log, b.first_log
    assert la["arrival_hours"].equals(lb["arrival_hours"]) and la["category"].equals(lb["category"])
    assert (a.per_rep["resolution_mean_hours"] < b.per_rep["resolution_mean_hours"]).all()
    assert (a.per_rep["utilisation_grid"] < b.per_rep["utilisation_grid"]).all()


def test_serial_equals_parallel(tiny):
    a = run_replications(tiny, tiny.baseline, reps=3, processes=1)
    b = run_replications(tiny, tiny.baseline, reps=3, processes=2)
    pd.testing.assert_frame_equal(a.per_rep, b.per_rep)
    pd.testing.assert_frame_equal(a.group("community"), b.group("community"))


def test_mobile_grid_workers_discover_hotline_cases(tiny):
    none = tiny.baseline.replace(mobile_grid_workers=np.array([0]))
    more = tiny.baseline.replace(mobile_grid_workers=np.array([6]))
    k0 = run_replications(tiny, none, reps=1, processes=1).per_rep.iloc[0]
    k1 = run_replications(tiny, more, reps=1, processes=1).per_rep.iloc[0]
    assert k0["mobile_share"] == 0 and k1["mobile_share"] > 0.2


def test_surge_volunteers_take_cases():
    s = load_scenario(SCENARIOS / "weihai" / "surge.yaml")
    cases = draw_cases(s, 120, np.random.SeedSequence(3))
    day = (cases.arrival // 24).astype(int)
    in_surge = (day >= 59) & (day < 89)
    weekday = day % 7 < 5
    assert cases.volunteer[in_surge & weekday].mean() > 0.1  # surge volunteers work weekdays too
    assert cases.volunteer[~in_surge & weekday].mean() == 0
    # the surge multiplies demand
    per_day = np.bincount(day, minlength=120)
    assert per_day[59:89].mean() > 2 * per_day[20:50].mean()


def test_recursion_equals_event_loop(tiny_copy):
    """On tiny as bundled (duties, leave, reopening after 24 h), run lean enough to queue: the recursion and
    the SimPy event loop agree to the last bit; and a scenario whose reopened cases come back with no delay
    runs on the event loop (the recursion refuses it: its windows would be empty)."""
    from tests.conftest import edit

    s = load_scenario(SCENARIOS / "tiny")
    lean = s.baseline.replace(workers=np.array([3, 2, 2]))
    cases = draw_cases(s, 91, np.random.SeedSequence(9))
    a = simulate_cases(s, cases, lean, mode="events")
    b = simulate_cases(s, cases, lean)
    assert a.events > 500 and a.reopened.sum() > 10
    for f in ("start", "end", "first_close", "final_close", "satisfied", "reopened"):
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    edit(tiny_copy / "scenario.yaml", "targets:", "ladder: {feedback: {delay_hours: 0}}\ntargets:")
    s0 = load_scenario(tiny_copy)
    with pytest.raises(ValueError, match="no delay"):
        simulate_cases(s0, cases, lean, mode="recursion")
    c = simulate_cases(s0, cases, lean)  # auto: the event loop
    assert c.reopened.sum() > 10
    back = c.reopened & ~np.isnan(c.start[:, 4])
    assert back.any() and np.all(c.start[back, 4] >= c.first_close[back])  # back at once, served after
    # a delay too small to move the clock at the horizon is no delay (the recursion's windows would not advance)
    edit(tiny_copy / "scenario.yaml", "delay_hours: 0}", "delay_hours: 1.0e-13}")
    s13 = load_scenario(tiny_copy)
    with pytest.raises(ValueError, match="no delay"):
        simulate_cases(s13, cases, lean, mode="recursion")
    assert simulate_cases(s13, cases, lean).reopened.sum() > 10


def _two_level_cases(arrival, community, service, u_escalate, u_feedback) -> Cases:
    n = len(arrival)
    return Cases(
        arrival=np.array(arrival),
        community=np.array(community),
        channel=np.ones(n, int),
        category=np.zeros(n, int),
        grid=np.zeros(n, int),
        service=np.array(service, float),  # per case: grid, desk, street, city, reopened
        u_escalate=np.array(u_escalate, float),
        u_feedback=np.array(u_feedback, float),
        u_mobile=np.ones(n),
        volunteer=np.zeros(n, bool),
        channel_ids=("hotline_12345", "grid_patrol", "mobile_grid"),
        days=14,
    )


@pytest.mark.parametrize("mode", ["events", "recursion"])
def test_simultaneous_events_follow_one_tie_rule(tiny_copy, mode):
    """Cases handed over, or reopened, at the same instant are taken in order of case number, after every
    completion at that instant, in both engines (not by when the previous services started, nor by when the
    cases became ready)."""
    from tests.conftest import drop_duties

    drop_duties(tiny_copy)
    s = load_scenario(tiny_copy)
    one_desk_each = s.baseline.replace(workers=np.array([3, 3, 3]), street_office_staff=np.array([1]))
    # Two desks finish at 12.5 and hand over to the one street officer. Case "a" was ready at its desk
    # first (9.75) but waited behind another case there (desk 11.5-12.5); case "b" was ready at 10.0 and
    # started at once (10.0-12.5). Numbered either way round, the lower number goes first.
    for a, b in ((1, 2), (2, 1)):
        arrival, community, service = [9.0, 0.0, 0.0], [0, 0, 0], [[0.5, 2.0, 1, 1, 1], [], []]
        arrival[a], community[a], service[a] = 9.25, 0, [0.5, 1.0, 1, 1, 1]
        arrival[b], community[b], service[b] = 9.5, 1, [0.5, 2.5, 1, 1, 1]
        u_esc = [[0, 1, 1], [0, 0, 1], [0, 0, 1]]
        cases = _two_level_cases(arrival, community, service, u_esc, np.ones((3, 2)))
        r = simulate_cases(s, cases, one_desk_each, mode=mode)
        assert r.end[1:, 1].tolist() == [12.5, 12.5]
        assert r.start[1:, 2].tolist() == [12.5, 13.5]
    # The street officer frees at 12.5 (case 2) as cases 1 and 0 are handed over at 12.5; case 1's desk
    # service started first (9.0), case 0's last (12.0): the officer waits for the instant to end, takes 0.
    cases = _two_level_cases(
        [11.0, 8.5, 9.0],
        [1, 0, 2],
        [[1.0, 0.5, 1, 1, 1], [0.5, 3.5, 1, 1, 1], [0.5, 2.0, 1, 1, 1]],
        [[0, 0, 1]] * 3,
        np.ones((3, 2)),
    )
    r = simulate_cases(s, cases, one_desk_each, mode=mode)
    assert r.end[:, 1].tolist() == [12.5, 12.5, 11.5] and r.end[2, 2] == 12.5
    assert r.start[:2, 2].tolist() == [12.5, 13.5]
    # A desk service too short to move the clock (case 0, 1e-300 h, started at 10.5 when case 1 leaves the
    # desk) ends at the instant another desk hands case 2 over: the street office sees both, takes case 0.
    cases = _two_level_cases(
        [9.0, 9.0, 9.0],
        [1, 1, 0],
        [[0.75, 1e-300, 1, 1, 1], [0.5, 1.0, 1, 1, 1], [0.25, 1.25, 1, 1, 1]],
        [[0, 0, 1], [0, 1, 1], [0, 0, 1]],
        np.ones((3, 2)),
    )
    r = simulate_cases(s, cases, one_desk_each, mode=mode)
    assert r.end[:, 1].tolist() == [10.5, 10.5, 10.5]
    assert r.start[[0, 2], 2].tolist() == [10.5, 11.5]
    # One case closes at the desk, one at the grid, both at 11.5; both reopen and are back at 35.5 with one
    # grid worker: case 0 first.
    one_grid_worker = s.baseline.replace(workers=np.array([2, 3, 3]), street_office_staff=np.array([1]))
    cases = _two_level_cases(
        [9.0, 10.5], [0, 0], [[0.5, 2.0, 1, 1, 1], [1.0, 1.0, 1, 1, 1]], [[0, 1, 1], [1, 1, 1]], np.zeros((2, 2))
    )
    r = simulate_cases(s, cases, one_grid_worker, mode=mode)
    assert r.first_close.tolist() == [11.5, 11.5]
    assert r.start[:, 4].tolist() == [35.5, 36.5]


def test_cases_still_waiting_when_the_run_ends(tiny_copy):
    """Tiny at 80 times its demand with one street officer: a case still waits at the end, and the one busy server
    is released after the calendar's last working moment; both engines leave the case unstarted."""
    from tests.conftest import edit

    edit(tiny_copy / "scenario.yaml", "rate_per_10k_per_day: 5.0", "rate_per_10k_per_day: 400.0")
    s = load_scenario(tiny_copy)
    cases = draw_cases(s, 91, np.random.SeedSequence(18))
    alloc = s.baseline.replace(street_office_staff=np.array([1]))
    a = simulate_cases(s, cases, alloc, mode="events")
    b = simulate_cases(s, cases, alloc)
    assert np.isnan(a.first_close).sum() > 100
    for f in ("start", "end", "first_close", "final_close", "satisfied", "reopened"):
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f


@pytest.mark.parametrize("grid_desk_hours", [None, (2.1, 0.4)])
def test_engines_agree_when_events_coincide(tiny_copy, grid_desk_hours):
    """Fixed service times, no travel and a busy quarter: many completions, hand-overs and reopenings at the
    same instant, and identical case records from both engines. With 2.1 and 0.4 hours the same instant is
    reached by different sums (8.5 + 2.1 and others), which a clock that adds delays (SimPy's ``schedule``)
    would put one ulp apart: the event loop queues events at their exact times."""
    import re

    from tests.conftest import edit

    y = tiny_copy / "scenario.yaml"
    y.write_text(
        y.read_text()
        .replace("grid_service: {kind: exponential", "grid_service: {kind: fixed")
        .replace("community_service: {kind: exponential", "community_service: {kind: fixed")
    )
    if grid_desk_hours:
        text = y.read_text()
        text = re.sub(
            r"grid_service: \{kind: fixed, mean_hours: [0-9.]+\}",
            f"grid_service: {{kind: fixed, mean_hours: {grid_desk_hours[0]}}}",
            text,
        )
        text = re.sub(
            r"community_service: \{kind: fixed, mean_hours: [0-9.]+\}",
            f"community_service: {{kind: fixed, mean_hours: {grid_desk_hours[1]}}}",
            text,
        )
        y.write_text(text)
    edit(y, "rate_per_10k_per_day: 5.0", "rate_per_10k_per_day: 40.0")
    edit(y, "targets:", "ladder: {travel_minutes_max: 0}\ntargets:")
    s = load_scenario(tiny_copy)
    for seed in range(3) if grid_desk_hours is None else (4, 0):
        cases = draw_cases(s, 91, np.random.SeedSequence(seed))
        a = simulate_cases(s, cases, s.baseline, mode="events")
        b = simulate_cases(s, cases, s.baseline, mode="recursion")
        for f in ("start", "end", "first_close", "final_close", "satisfied", "reopened"):
            assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), (seed, f)
        ties = np.unique(a.end[:, 0][~np.isnan(a.end[:, 0])], return_counts=True)[1]
        assert (ties > 1).any()  # events did coincide


def test_simulate_writes_the_case_log_only_when_asked(tmp_path):
    """Without --case-log, simulate writes the KPIs and the log's schema, not the case log itself (the metadata
    says so)."""
    import json

    from gridplan.cli import main

    out = tmp_path / "run"
    argv = ["simulate", str(SCENARIOS / "tiny"), "--reps", "1", "--days", "20", "--processes", "1", "--out", str(out)]
    assert main(argv) == 0
    assert (out / "kpis.csv").is_file() and (out / "case_log_schema.csv").is_file()
    assert not (out / "case_log").exists()
    assert "--case-log" in json.loads((out / "metadata.json").read_text())["case_log"]


def test_simulate_command(tmp_path, capsys):
    import json

    from gridplan.cli import main

    out = tmp_path / "run"
    assert (
        main(
            [
                "simulate",
                str(SCENARIOS / "tiny"),
                "--reps",
                "2",
                "--days",
                "60",
                "--seed",
                "3",
                "--processes",
                "1",
                "--case-log",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    screen = capsys.readouterr().out
    assert "on_time_share" in screen and "95% CI" in screen
    for f in (
        "kpis.csv",
        "kpis_by_replication.csv",
        "kpis_by_community.csv",
        "kpis_by_district.csv",
        "kpis_by_street.csv",
        "kpis_by_category.csv",
        "backlog.csv",
        "case_log_schema.csv",
        "allocation.csv",
        "metadata.json",
        "duty_hours.csv",
    ):
        assert (out / f).is_file(), f
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 3 and meta["replications"] == 2 and len(meta["scenario_sha256"]) == 64
    kpis = pd.read_csv(out / "kpis.csv", index_col="kpi")
    assert 0 < kpis.loc["on_time_share", "mean"] <= 1
    assert kpis.loc["on_time_share", "ci95_low"] <= kpis.loc["on_time_share", "mean"]
    log = pd.read_parquet(out / "case_log")  # one partition per replication
    assert sorted(log["replication"].astype(int).unique()) == [0, 1]
    from sim.caselog import CASE_LOG_COLUMNS

    assert set(log.columns) - {"replication"} == set(CASE_LOG_COLUMNS)
    schema = pd.read_csv(out / "case_log_schema.csv")
    assert list(schema.column) == list(CASE_LOG_COLUMNS)
    assert {
        "case_id",
        "channel",
        "category",
        "community",
        "grid",
        "arrival_hours",
        "grid_start_hours",
        "street_end_hours",
        "deadline_hours",
        "on_time",
        "reopened",
    } <= set(log.columns)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # same seed, same numbers
    out2 = tmp_path / "run2"
    assert (
        main(
            [
                "simulate",
                str(SCENARIOS / "tiny"),
                "--reps",
                "2",
                "--days",
                "60",
                "--seed",
                "3",
                "--processes",
                "2",
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(pd.read_csv(out / "kpis.csv"), pd.read_csv(out2 / "kpis.csv"))


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--reps", "0"], "must be >= 1"),
        (["--days", "3"], "--days must be > the scenario's calendar.warmup_days"),
    ],
)
def test_simulate_bad_arguments(argv, words, tmp_path, capsys):
    from gridplan.cli import main

    assert main(["simulate", str(SCENARIOS / "tiny"), "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_simpy_internals_the_engine_relies_on():
    """The engine hands SimPy bare events: what Environment.step reads must still be there (pinned 4.1.x)."""
    import inspect

    import simpy

    from sim.eventloop import _Ev

    major, minor = (int(x) for x in simpy.__version__.split(".")[:2])
    assert (major, minor) == (4, 1)
    src = inspect.getsource(simpy.Environment.step)
    for name in ("callbacks", "_ok", "_value"):
        assert name in src, name
    env = simpy.Environment()
    seen = []
    env.schedule(_Ev(lambda ev: seen.append((env.now, ev._value)), "x"), 1, 2.5)
    env.run()
    assert seen == [(2.5, "x")] and env._now == 2.5
    # the loop puts events on the queue itself, at their exact times: what schedule does, without the delay
    assert "heappush(self._queue, (self._now + delay, priority, next(self._eid), event))" in inspect.getsource(
        simpy.Environment.schedule
    )


def test_three_level_network_matches_its_product_form(tmp_path):
    """24/7, exponential services, Poisson arrivals: grid M/M/14 (load 10) -> 30% to the desk M/M/8 (load 6)
    -> half of those to the street office M/M/8 (load 6). Departures of an M/M/c queue are Poisson (Burke),
    so each level's mean time there is Erlang C's: C(c, a) / (c mu - lambda) + 1 / mu."""
    import shutil

    from scenario.staffing import split_desk, staff_time
    from solvers.queueing import erlang_c
    from tests.conftest import edit

    d = tmp_path / "net"
    shutil.copytree(SCENARIOS / "erlang_c", d)
    y = d / "scenario.yaml"
    edit(
        y,
        "      deadline_working_hours: 1\n",
        "      deadline_working_hours: 1\n      escalate_to_community: 0.3\n      escalate_to_street: 0.5\n",
    )
    edit(
        y,
        "community_service: {kind: exponential, mean_hours: 0.05}",
        "community_service: {kind: exponential, mean_hours: 0.1}",
    )
    edit(
        y,
        "street_service: {kind: exponential, mean_hours: 0.05}",
        "street_service: {kind: exponential, mean_hours: 0.2}",
    )
    edit(d / "baseline_allocation.csv", "community,Q,14,", "community,Q,22,")
    edit(d / "baseline_allocation.csv", "street,S,,,,,1,0", "street,S,,,,,8,0")
    s = load_scenario(d)
    desk, grid = split_desk(staff_time(s), s.baseline.workers)
    assert (int(grid[0]), int(desk[0])) == (14, 8)
    levels = [(0, 200.0, 20.0, 14), (1, 60.0, 10.0, 8), (2, 30.0, 5.0, 8)]  # stage, lambda, mu, servers
    got = {k: [] for k, *_ in levels}
    for q in np.random.SeedSequence(77).spawn(8):
        cases = draw_cases(s, 12, q)
        r = simulate_cases(s, cases, s.baseline)
        keep = r.arrival >= 24.0
        entry = {0: r.arrival, 1: r.end[:, 0], 2: r.end[:, 1]}
        for k, *_ in levels:
            t = (r.end[:, k] - entry[k])[keep]
            got[k].append(np.nanmean(t))
    for k, lam, mu, c in levels:
        theory = erlang_c(c, lam / mu) / (c * mu - lam) + 1 / mu
        m, lo, hi = confidence_interval(np.array(got[k]))
        assert lo <= theory <= hi, (k, m, lo, hi, theory)
        assert hi - lo < 0.05 * theory


def test_waiting_kpis_reproduce_erlang_c(tmp_path):
    """The per-level waiting KPIs on the M/M/14 case: P(wait) 0.1741, mean wait 7.84 s, 88.8% within 20 s."""
    import shutil

    from tests.conftest import edit

    shutil.copytree(SCENARIOS / "erlang_c", tmp_path / "q")
    edit(
        tmp_path / "q" / "scenario.yaml",
        "volunteers: {registered: 0}",
        "volunteers: {registered: 0}\ntargets: {wait_threshold_working_hours: 0.005555555555555556}",
    )
    s = load_scenario(tmp_path / "q")
    runs = run_replications(s, s.baseline, 8, days=20, seed=2024, processes=2)
    summary = runs.summary()
    for kpi, theory in (
        ("wait_probability_grid", 0.1741),
        ("wait_mean_hours_grid", 7.84 / 3600),
        ("served_within_threshold_share_grid", 0.888),
    ):
        m, lo, hi = summary.loc[kpi]
        assert lo <= theory <= hi, (kpi, m, lo, hi, theory)


def test_district_split_is_bit_identical_to_the_whole_replication(weihai):
    """Seven districts simulated as seven tasks and merged give exactly the unsplit replication."""
    from sim.replications import map_tasks
    from sim.split import simulate_by_district

    cases = draw_cases(weihai, 30, np.random.SeedSequence(8))
    whole = simulate_cases(weihai, cases, weihai.baseline)
    split = simulate_by_district(weihai, cases, weihai.baseline, lambda f, t: map_tasks(f, t, processes=2))
    for f in (
        "arrival",
        "channel",
        "start",
        "end",
        "deadline",
        "first_close",
        "final_close",
        "satisfied",
        "reopened",
        "present",
        "case_servers",
    ):
        assert np.array_equal(getattr(whole, f), getattr(split, f), equal_nan=True), f
    assert whole.events == split.events


def test_replication_by_district_gives_the_same_numbers_and_log(weihai, tmp_path):
    """A replication run district by district (each task simulates, writes and aggregates its district; the
    parent holds slim logs only) gives exactly the KPIs, group KPIs, backlog and hours of the whole one,
    and its case-log dataset reads back as the same rows (the surge variant: window KPIs too)."""
    from sim.replications import run_replication

    surge = load_scenario(SCENARIOS / "weihai" / "surge.yaml")
    whole = run_replication(surge, surge.baseline, 100, np.random.SeedSequence(11), 0, log_dir=str(tmp_path / "whole"))
    ticks: list[int] = []
    split = run_replication(
        surge,
        surge.baseline,
        100,
        np.random.SeedSequence(11),
        0,
        log_dir=str(tmp_path / "split"),
        split_processes=2,
        progress=ticks.append,
    )
    assert len(ticks) == len(surge.district_ids) == 7
    assert "on_time_share_surge" in whole.kpis
    assert whole.kpis == split.kpis
    for g in whole.groups:
        pd.testing.assert_frame_equal(whole.groups[g], split.groups[g], check_exact=True)
    pd.testing.assert_frame_equal(whole.backlog, split.backlog, check_exact=True)
    pd.testing.assert_frame_equal(whole.duty_hours, split.duty_hours, check_exact=True)
    a = pd.read_parquet(tmp_path / "whole")
    b = pd.read_parquet(tmp_path / "split")
    assert sorted(p.name for p in (tmp_path / "split" / "replication=0").iterdir()) == sorted(
        f"district={d}" for d in surge.district_ids
    )
    b = b.sort_values("case_id", ignore_index=True)[list(a.columns)]
    for col in a.columns:
        if pd.api.types.is_numeric_dtype(a[col]) and not isinstance(a[col].dtype, pd.CategoricalDtype):
            assert np.array_equal(a[col].to_numpy(), b[col].to_numpy(), equal_nan=True), col
        else:  # ids: categories of the file, or of the partition folder's name
            assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col


def test_district_tasks_read_the_parents_cases_or_carry_their_own(weihai, monkeypatch):
    """District tasks in this process or in forked workers read their cases from the parent's memory; where
    they cannot (Dask's workers) each carries its own copy. Both give the whole replication's numbers, and
    nothing is left registered after the run."""
    import sim.split
    from sim.replications import run_replication

    def run(**kw):  # a new SeedSequence each time: spawning children changes one
        return run_replication(weihai, weihai.baseline, 30, np.random.SeedSequence(3), 0, **kw)

    whole = run()
    taken: list[int] = []
    take = sim.split.take_cases
    monkeypatch.setattr(sim.split, "take_cases", lambda c, ids: taken.append(len(ids)) or take(c, ids))
    inline = run(split_processes=1)
    assert len(taken) == len(weihai.district_ids)  # each task took its district from the parent's cases
    monkeypatch.setattr(sim.split, "_tasks_inherit", lambda: False)
    carried = run(split_processes=2)
    assert whole.kpis == inline.kpis == carried.kpis and sim.split._INHERITED == {}
    for g in whole.groups:
        pd.testing.assert_frame_equal(whole.groups[g], carried.groups[g], check_exact=True)


def test_large_cities_run_district_by_district_by_default(weihai, monkeypatch):
    """Above SPLIT_ABOVE_CASES expected cases a replication runs district by district unless told
    otherwise (the megacity does; Weihai does not), with the same numbers."""
    import sim.split
    from sim.split import expected_cases, split_by_default

    megacity = load_scenario(SCENARIOS / "megacity")
    assert split_by_default(megacity, 365) and expected_cases(megacity, 365) > 8e6
    assert not split_by_default(weihai, 365)
    whole = run_replications(weihai, weihai.baseline, 1, days=20, seed=4, processes=1)
    monkeypatch.setattr(sim.split, "SPLIT_ABOVE_CASES", 0)
    ticks: list[int] = []
    auto = run_replications(weihai, weihai.baseline, 1, days=20, seed=4, processes=2, progress=ticks.append)
    assert len(ticks) == len(weihai.district_ids)  # one tick per district task: it was split
    pd.testing.assert_frame_equal(whole.per_rep, auto.per_rep, check_exact=True)
    forced = run_replications(weihai, weihai.baseline, 1, days=20, seed=4, processes=1, split_districts=False)
    pd.testing.assert_frame_equal(whole.per_rep, forced.per_rep, check_exact=True)


def test_verbose_logs_each_step_and_quiet_by_default(tmp_path):
    """``-v`` logs the scenario read, the replications, the solver calls and the result's rename on stderr;
    without it nothing but errors goes there (here: nothing at all, with --quiet)."""
    import subprocess
    import sys

    def run(*flags: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "gridplan.cli", "--quiet", *flags, "simulate", str(SCENARIOS / "tiny")]
            + ["--reps", "2", "--days", "20", "--processes", "1", "--out", str(tmp_path / "out")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        return r.stderr

    assert run() == ""
    err = run("-v")
    for words in ("scenario tiny: 3 communities", "2 replication(s) of 20 days", "replication 1:", "one rename"):
        assert words in err, (words, err)


def test_slim_log_columns_are_case_log_columns():
    """The district tasks' slim log is a subset of the documented case-log schema."""
    from sim.caselog import CASE_LOG_COLUMNS
    from sim.split import CITY_LOG_COLUMNS

    assert set(CITY_LOG_COLUMNS) <= set(CASE_LOG_COLUMNS)


def test_every_kpi_is_described_and_every_column_the_kpis_read_is_in_the_schema():
    """KPI_DESCRIPTIONS covers every city and group KPI a replication returns (the surge variant, so the
    window KPIs too), and every case-log column sim/kpis.py reads by name is in CASE_LOG_COLUMNS."""
    import ast

    from sim.caselog import CASE_LOG_COLUMNS
    from sim.kpis import KPI_DESCRIPTIONS
    from sim.replications import run_replication
    from tests.conftest import ROOT

    surge = load_scenario(SCENARIOS / "weihai" / "surge.yaml")
    out = run_replication(surge, surge.baseline, 70, np.random.SeedSequence(2), 0)
    names = set(out.kpis) | {c for g in out.groups.values() for c in g.columns}
    assert not names - set(KPI_DESCRIPTIONS), sorted(names - set(KPI_DESCRIPTIONS))
    read = set()
    for node in ast.walk(ast.parse((ROOT / "sim" / "kpis.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in ("log", "m"):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                read.add(key.value)
            elif isinstance(key, ast.JoinedStr):  # f"{level}_start_hours": every stage's column exists
                read.add("grid_start_hours")
    assert len(read) >= 8 and read <= set(CASE_LOG_COLUMNS), sorted(read - set(CASE_LOG_COLUMNS))


def test_group_kpis_equal_case_kpis_of_each_group(weihai):
    """The all-groups-at-once KPIs equal case_kpis of each group's rows (percentiles with numpy's
    interpolation), including units with no cases (a district's run) and categories."""
    from sim.caselog import case_log
    from sim.kpis import CASE_KPIS, case_kpis, group_kpis

    cases = draw_cases(weihai, 40, np.random.SeedSequence(5))
    cal = WorkCalendar(weihai.spec.calendar, 40)
    log = case_log(weihai, simulate_cases(weihai, cases, weihai.baseline, cal), cal)
    one_district = log[log["district"] == weihai.district_ids[0]]
    for frame, by in ((log, "community"), (log, "category"), (log, "street"), (one_district, "community")):
        got = group_kpis(frame, by, 24.0 * 7)
        measured = frame[frame["arrival_hours"] >= 24.0 * 7]
        assert list(got.index) == list(frame[by].cat.categories) and list(got.columns) == list(CASE_KPIS)
        for unit in got.index[:: max(1, len(got) // 40)]:
            want = case_kpis(measured[measured[by] == unit])
            for kpi in CASE_KPIS:
                assert got.loc[unit, kpi] == pytest.approx(want[kpi], rel=1e-12, abs=1e-12, nan_ok=True), (
                    by,
                    unit,
                    kpi,
                )


def test_group_percentiles_are_numpys_to_the_bit():
    """Each group's quantiles (the values at the ranks read selected one rank after another, not sorted) equal
    np.quantile of the group's values exactly: ties, one value, empty groups, q of 0 and 1 in any order, a NaN
    (numpy's quantiles of a group with one are NaN)."""
    from sim.kpis import _group_percentiles

    rng = np.random.default_rng(0)
    qs = (0.5, 0.9, 0.0, 1.0, 0.25)
    for _ in range(200):
        k, n = int(rng.integers(1, 30)), int(rng.integers(0, 400))
        g, x = rng.integers(0, k, n), np.round(rng.exponential(5, n), int(rng.integers(0, 3)))  # rounding: ties
        if n and rng.random() < 0.2:
            x[rng.integers(0, n)] = np.nan
        got = _group_percentiles(g.copy(), x.copy(), k, qs)
        for j, q in enumerate(qs):
            want = [np.quantile(x[g == i], q) if (g == i).any() else np.nan for i in range(k)]
            np.testing.assert_array_equal(got[j], want)


def test_group_passes_are_bincounts_to_the_bit():
    """The compiled group passes (sim.groupkernel) give np.bincount's numbers to the last bit: counts of 0/1
    flags, and sums of hours added in case order (where a different order would change the last bits)."""
    from sim.groupkernel import group_counts, group_sums

    rng = np.random.default_rng(1)
    for _ in range(50):
        k, n = int(rng.integers(1, 40)), int(rng.integers(0, 3000))
        g = rng.integers(0, k, n)
        flags = rng.random((n, 5)) < 0.3
        x = rng.lognormal(3, 2, n)  # hours of very different sizes: the order of the additions shows
        keep = rng.random(n) < 0.8
        counts = group_counts(g, k, flags.astype(np.uint8))
        for j in range(5):
            np.testing.assert_array_equal(counts[:, j], np.bincount(g, weights=flags[:, j], minlength=k))
        cnt, total = group_sums(g, k, x, keep)
        np.testing.assert_array_equal(cnt, np.bincount(g[keep], minlength=k))
        assert np.array_equal(total.view(np.int64), np.bincount(g[keep], weights=x[keep], minlength=k).view(np.int64))


def test_share_intervals_stay_in_range_and_near_the_data():
    """Shares: inside [0, 1], and a replication at exactly 100% does not blow the interval up to [0%, 100%]
    (a logit of a share clipped just below 1 would)."""
    m, lo, hi = confidence_interval(np.array([1.0, 0.994]), bounds="share")
    assert m == pytest.approx(0.997) and 0.9 < lo < m and hi == 1.0
    m, lo, hi = confidence_interval(np.array([0.0, 0.01, 0.02]), bounds="share")
    assert lo == 0.0 and m < hi < 0.1
    m, lo, hi = confidence_interval(np.array([0.80, 0.90, 0.95]), bounds="share")  # the logit scale inside
    assert 0 < lo < 0.80 and 0.95 < hi < 1
    m, lo, hi = confidence_interval(np.array([2.0, 30.0]), bounds="nonneg")
    assert lo >= 0


def test_planned_reopen_probability_is_the_simulations():
    """The planning arithmetic's reopen probability (``FeedbackSpec.reopen_probability``: staff hours, service
    curves) is the share of cases the simulation's feedback call reopens (``sim.routing``), late or not."""
    from scenario.spec import FeedbackSpec
    from sim.routing import reopens, unsatisfied

    fb = FeedbackSpec(
        unsatisfied_base=0.2,
        unsatisfied_per_late_day=0.1,
        reopen_given_unsatisfied_base=0.5,
        reopen_given_unsatisfied_per_late_day=0.3,
    )
    u = (np.arange(1000) + 0.5) / 1000  # a grid of uniforms: the shares are exact to 1/1000
    u1, u2 = np.meshgrid(u, u)
    for late in (0.0, 1.5, 10.0):
        simulated = float((unsatisfied(fb, u1, late) & reopens(fb, u2, late)).mean())
        assert simulated == pytest.approx(fb.reopen_probability(late), abs=2e-3), late
    assert fb.reopen_probability() == pytest.approx(0.2 * 0.5)


def test_after_the_horizon_a_usual_days_staff_finishes_the_open_cases():
    """Past the simulated days each pool keeps the (lower) median of its working days' case servers, with
    its leave and duties, not everybody at full strength for the 400 days the calendar runs on."""
    from sim.pools import capacity_by_key

    servers = np.array([[2, 0, 1, 1], [3, 3, 3, 3]])
    cap = capacity_by_key(servers, np.array([3, 4]), np.array([True, False, True, True]), 6)
    assert cap[0] == [2, 1, 1, 1, 1, 1, 1]  # day 1 is not a working day: day 2's servers; then 1, not 3
    assert cap[1] == [3, 3, 3, 3, 3, 3, 3]  # not the 4 people


def test_unresolved_cases_are_those_open_at_the_horizon(tiny_copy):
    """Tiny at 8x its demand on a deep cut: the cases open at the end of the simulated days, not those still
    open after the calendar's 400 further days (none: they all close eventually)."""
    edit(tiny_copy / "scenario.yaml", "rate_per_10k_per_day: 5.0", "rate_per_10k_per_day: 40.0")
    s = load_scenario(tiny_copy)
    lean = s.baseline.replace(workers=np.array([3, 3, 3]), street_office_staff=np.array([1]))
    out = run_replication(s, lean, 60, np.random.SeedSequence(3), keep_log=True)
    log = out.log
    measured = log[log.arrival_hours >= 7 * 24.0]
    open_then = measured.closed_hours.isna() | (measured.closed_hours > 60 * 24.0)
    assert out.kpis["unresolved_cases"] == open_then.sum() > 50
    assert measured.closed_hours.notna().all()  # the old count, cases never closed, was 0


def test_confidence_interval_uses_students_t():
    """The interval's t quantile (scipy.special.stdtrit, what scipy.stats.t.ppf computes) is Student's."""
    from scipy import stats

    from sim.replications import confidence_interval

    x = np.array([1.0, 2.0, 4.0, 7.0])
    m, lo, hi = confidence_interval(x)
    h = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2
    assert (m, lo, hi) == (3.5, 3.5 - h, 3.5 + h)


def test_service_times_of_all_categories_at_once_are_each_categorys():
    """``from_uniforms_by`` (each kind of distribution for all its categories at once) gives every case the
    number ``from_uniforms`` gives it for its own category: fixed, exponential, lognormal, gamma, cv 0."""
    from scenario.spec import DistributionSpec
    from sim.distributions import from_uniforms, from_uniforms_by

    dists = [
        DistributionSpec(kind="fixed", mean_hours=0.5),
        DistributionSpec(kind="exponential", mean_hours=1.5),
        DistributionSpec(kind="lognormal", mean_hours=2.0, cv=0.8),
        DistributionSpec(kind="gamma", mean_hours=3.0, cv=0.5),
        DistributionSpec(kind="lognormal", mean_hours=1.0, cv=0.0),
        DistributionSpec(kind="gamma", mean_hours=0.7, cv=1.3),
    ]
    rng = np.random.default_rng(3)
    group = rng.integers(0, len(dists), 5000)
    u = rng.random(5000)
    want = np.empty(5000)
    for j, d in enumerate(dists):
        want[group == j] = from_uniforms(d, u[group == j])
    assert np.array_equal(from_uniforms_by(dists, group, u), want)


def test_every_kpi_interval_stays_in_its_range():
    """Every KPI a run reports is a share or a non-negative count or amount: none falls through to an
    unbounded Student-t interval (repeat complaints once read "8 [-11, 28]")."""
    from sim.replications import kpi_range

    s = load_scenario(SCENARIOS / "tiny")
    summary = run_replications(s, s.baseline, 2, days=40, processes=1).summary()
    assert [k for k in summary.index if kpi_range(k) is None] == []
    assert (summary.ci95_low.dropna() >= 0).all(), summary[summary.ci95_low < 0]


def test_hourly_counts_in_slices_are_the_whole_matrixs(monkeypatch):
    """The arrivals' Poisson counts drawn a slice of communities at a time (a megacity year's means would be
    490 MB at once) are the counts of the whole matrix, in the same row-major order, from the same stream."""
    import sim.demand
    from sim.demand import _hourly_counts

    per_hour = np.random.default_rng(0).gamma(2.0, 0.5, 37)
    profile = np.random.default_rng(1).uniform(0.0, 2.0, 50)
    counts = np.random.default_rng(5).poisson(per_hour[:, None] * profile[None, :])
    comm, hour = np.nonzero(counts)
    for chunk in (1, 49, 50, 51, 333, 10**6):
        monkeypatch.setattr(sim.demand, "_POISSON_CHUNK", chunk)
        c, h, k = _hourly_counts(per_hour, profile, np.random.default_rng(5))
        assert np.array_equal(c, comm) and np.array_equal(h, hour) and np.array_equal(k, counts[comm, hour]), chunk

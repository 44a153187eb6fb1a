"""One year of case handling: an exact recursion that every scenario runs, checked against SimPy's event loop.

Levels: grid workers (a pool per community: the community's workers not at
its desk cover each other), the community desk (a pool per community), the
street office (a pool per street), city departments (a delay, no queue). Each
pool serves first come, first served within working hours, with as many
servers as its people present that day take cases (``scenario.staffing``: leave,
fixed duties and a protected share for scheduled duties come off). Scheduled
duties fill the time cases leave; they are accounted after the run
(``sim.duties``).

Two engines make the same decisions under one tie rule (``sim.pools``) and give
identical case records (``tests/test_invariants.py``: random networks with
volunteers, mobile grid workers, both calendars, duties, reopening, and fixed
service times that make events coincide; ``tests/test_golden.py``: every bundled
scenario):

- ``_recursion`` (``mode="recursion"``, what ``auto`` runs): no event list. A
  case takes the earliest moment, at or after it is ready and after the case
  before it in its pool, when a server is free (a release, or a day with more
  people). The network is feed-forward except for reopening, which comes back
  ``ladder.feedback.delay_hours`` after the close, so the pools are solved level
  by level in windows of that length. The windows run compiled by numba
  (``sim.kernel``, without fastmath: the same floating-point operations as the
  event loop, so the same bits); where numba is missing the same code runs in
  the interpreter (``sim.jit``), about as fast as the event loop.
- ``sim.eventloop`` (``mode="events"``): SimPy, event by event; the recursion's
  oracle, and the engine of the one network the recursion cannot run: reopened
  cases back with no delay (``delay_hours: 0``, or one too small to move the
  clock at the horizon).

Their speed against a bare heapq loop is measured in ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import cover_desk, daily_capacity, split_desk, staff_time
from sim.calendar import WorkCalendar
from sim.demand import Cases, apply_allocation
from sim.duties import DutySums
from sim.outcomes import Outcomes, extend_rows
from sim.pools import (
    CaseRecord,
    RunInputs,
    capacity_by_key_array,
    collector_paused,
    day_key_shift,
)
from sim.routing import N_STAGES, STAGES, Stage, reopening_possible, routing

__all__ = [
    "SimResult",
    "simulate_cases",
    "MODES",
    "pool_sizes",
    "pool_capacity",
    "routing",
    "reopening_possible",
    "STAGES",
]

# stage codes as plain ints in the hot loop (an IntEnum member costs an attribute lookup per use)
_GRID, _COMMUNITY, _STREET, _CITY, _REOPEN = (int(s) for s in Stage)
_INF = math.inf


def pool_sizes(scenario: Scenario, allocation: Allocation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People in each grid pool, community desk and street office (``scenario.staffing.split_desk``)."""
    desk, grid = split_desk(staff_time(scenario), allocation.workers)
    return grid, desk, np.asarray(allocation.street_office_staff, dtype=np.int64)


def pool_capacity(
    scenario: Scenario,
    allocation: Allocation,
    cases: Cases,
    cal: WorkCalendar,
    only: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People per pool and, per pool and calendar day, people present and people taking cases.

    Pools are ordered grid pools (one per community), desks, street offices. ``only``: the days of these
    communities' and streets' pools alone (a district's task), 0 for the others; each pool's days are its own
    (its people and absence draws, and its community's desk), so those pools get the whole city's numbers.
    """
    st = staff_time(scenario)
    grid, desk, street = pool_sizes(scenario, allocation)
    n = scenario.n_communities
    people = np.concatenate([grid, desk, street])
    level = np.array(["community"] * (2 * n) + ["street"] * len(street))
    days = cases.days
    working = cal.day_len[:days] > 0
    comm = np.arange(n) if only is None else only[0]
    pools = np.arange(len(people)) if only is None else np.concatenate([only[0], n + only[0], 2 * n + only[1]])
    if cases.u_absence is None:
        u = np.full((len(pools), days, 2), 0.5)
    else:
        u = cases.u_absence if only is None else cases.u_absence[pools]
    mine = daily_capacity(st, people[pools], level[pools], u, working)
    m = len(comm)  # the pools' first rows are the communities' grid pools, then their desks
    cover_desk(desk[comm], (mine[0][:m], mine[1][:m]), (mine[0][m : 2 * m], mine[1][m : 2 * m]), working)
    if only is None:
        return people, *mine
    present, case = np.zeros((len(people), days), np.int64), np.zeros((len(people), days), np.int64)
    present[pools], case[pools] = mine
    return people, present, case


@dataclass(frozen=True)
class SimResult:
    """Per-row outcomes of one replication (arrays aligned with ``rows``: the drawn cases, then the problems
    found late, ``sim.outcomes``; a row that is not ``active`` never reached anyone)."""

    rows: Cases
    active: np.ndarray
    arrival: np.ndarray
    channel: np.ndarray
    start: np.ndarray  # (n, 5) clock hours per stage, NaN if not reached
    end: np.ndarray  # (n, 5)
    deadline: np.ndarray
    first_close: np.ndarray
    final_close: np.ndarray
    satisfied: np.ndarray  # at the first feedback call
    reopened: np.ndarray
    resolved: np.ndarray  # the problem solved, at closure or at the reopened visit
    funded: np.ndarray  # int8: sim.outcomes.NO_MONEY, FUNDED, UNFUNDED_TO_CITY, UNFUNDED_CLOSED
    paid_yuan: np.ndarray  # from the community's people-service fund
    people: np.ndarray  # per pool: grid pools, desks, street offices
    present: np.ndarray  # (pools, days) people present each calendar day (with ``only``: its pools', others 0)
    case_servers: np.ndarray  # (pools, days) people taking cases each calendar day (the same)
    busy: np.ndarray  # (pools, working days of the run) case handling hours
    fund_spent_yuan: np.ndarray  # per community
    fund_exhausted_day: np.ndarray  # per community: the first day a fix found the fund spent (NaN: never)
    unfunded_cases: np.ndarray  # per community
    events: int
    # the duty account's sums over each window asked for (``duty_windows``), as the run stepped its days
    duty_sums: dict[tuple[int, int | None], DutySums] | None = None


def _recursion(
    scenario: Scenario,
    cases: Cases,
    cal: WorkCalendar,
    run: RunInputs,
    out: Outcomes,
    only: tuple[np.ndarray, np.ndarray] | None = None,
) -> CaseRecord:
    """The exact recursion: every pool first come, first served, each case taking the earliest moment a
    server is free (a release, or a day with more people), level by level in windows of the feedback delay.

    The only loop in the network is the reopening: a case closed at ``c`` is back at its grid pool at
    ``c + delay_hours``. So within a window of ``delay_hours`` starting at the earliest waiting case, every
    case any pool will see is known before the pool needs it: grid pools first (their arrivals and the
    reopened cases of earlier windows), then desks, then street offices, then the city's delay; the feedback
    calls come at the window's end, and the cases they reopen fall into a later window. A pool takes its
    cases in order of (ready, new before handed over, case number): ``sim.pools``' tie rule, which the
    event loop follows too.

    The windows run compiled (``sim.kernel.run_windows``) over arrays prepared here; the kernel returns at each
    day key whose cases are still to be decided (``Outcomes.close_through``, in Python) with the services it
    started since its last return. Long because it lays out the kernel's arrays in the kernel's order.
    """
    from sim import kernel

    spec = scenario.spec
    fb = spec.ladder.feedback
    reopening = reopening_possible(scenario)
    n = len(cases)
    shift, day_end = day_key_shift(cal.always_on, spec.calendar.day_end_hour)
    st = np.full(n * N_STAGES, np.nan)
    en = np.full(n * N_STAGES, np.nan)
    first_close = np.full(n, np.nan)
    # volunteers take no server: at their grid stage from arrival for handling_hours, then the feedback call
    vol = np.flatnonzero(cases.volunteer)
    vol_end = run.arrival[vol] + spec.volunteers.handling_hours
    st[vol * N_STAGES + _GRID] = run.arrival[vol]
    en[vol * N_STAGES + _GRID] = vol_end
    first_close[vol] = vol_end
    nc = scenario.n_communities
    pool_of = np.ascontiguousarray(
        np.stack([cases.community, nc + cases.community, 2 * nc + scenario.community_street[cases.community]]),
        dtype=np.int64,
    )
    working = cal.day_len[: cases.days] > 0
    if only is None:
        capk = capacity_by_key_array(run.case_servers, run.people, working, len(cal.day_len))
    else:  # a district's task: the servers by day of its pools alone (no case reaches another; they keep one)
        mine = np.concatenate([only[0], nc + only[0], 2 * nc + only[1]])
        sub = capacity_by_key_array(run.case_servers[mine], run.people[mine], working, len(cal.day_len))
        capk = np.ones((len(run.people), sub.shape[1]), np.int64)
        capk[mine] = sub
    const = np.where(capk.min(axis=1) == capk.max(axis=1), capk[:, 0], -1).astype(np.int64)
    up = kernel.next_greater_all(capk, const)
    size = np.maximum(np.where(const >= 0, const, capk.max(axis=1)), 1)
    srv_off = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    order = out.staff_order  # staff_cases_in_order(cases.volunteer, run.arrival), sorted once
    wd = cal.wd_index
    f = np.float64
    fpar = np.array(
        [
            cal.horizon_hours - 24.0,
            shift,
            day_end,
            fb.delay_hours if reopening else _INF,
            fb.delay_hours,
            fb.unsatisfied_base,
            fb.unsatisfied_per_late_day,
            fb.reopen_given_unsatisfied_base,
            fb.reopen_given_unsatisfied_per_late_day,
        ],
        dtype=f,
    )
    ivar = np.array([0, len(vol), 0, cal.always_on, out.incremental, reopening], dtype=np.int64)
    sat = np.zeros(n, np.uint8)
    reopened = np.zeros(n, np.uint8)
    srv = np.full(int(size.sum()), -_INF)  # servers that never change: each free since the beginning
    srv_n, last = np.zeros(len(capk), np.int64), np.full(len(capk), -_INF)
    qt, qc, qn = np.empty((3, 1024)), np.empty((3, 1024), np.int64), np.zeros(3, np.int64)
    closed = np.concatenate([vol, np.empty(1024, np.int64)]).astype(np.int64)
    log_k, log_s, log_e, log_p = (
        np.empty(1 << 16, np.int64),
        np.empty(1 << 16),
        np.empty(1 << 16),
        np.empty(1 << 16, np.int64),
    )
    args = (
        np.ascontiguousarray(cases.service, dtype=f).ravel(),  # the grid's column is the allocation's: next
        np.ascontiguousarray(run.grid_service, dtype=f),
        pool_of,
        out._ag,
        out._ac,
        out._as,
        out._active,
        np.ascontiguousarray(run.arrival[order], dtype=f),
        np.ascontiguousarray(order, dtype=np.int64),
        capk,
        up,
        const,
        np.ascontiguousarray(run.deadline, dtype=f),
        np.ascontiguousarray(cases.u_feedback[:, 0], dtype=f),
        np.ascontiguousarray(cases.u_feedback[:, 1], dtype=f),
        out.unsat_extra,
        out.reopen_extra,
        np.ascontiguousarray(cal.day_start, dtype=f),
        np.ascontiguousarray(cal.day_len, dtype=f),
        np.ascontiguousarray(cal.cum, dtype=f),
        np.ascontiguousarray(cal.cum[wd], dtype=f),
        np.ascontiguousarray(cal.day_start[wd], dtype=f),
        np.ascontiguousarray(cal.day_len[wd], dtype=f),
        np.searchsorted(cal.cum[wd], cal.cum[:-1], side="right").astype(np.int64),
        fpar,
        st,
        en,
        first_close,
        sat,
        reopened,
        srv,
        srv_off,
        srv_n,
        last,
    )
    next_key, decided = out.next_key, -_INF
    while True:
        status, key, qt, qc, closed, log_k, log_s, log_e, log_p = kernel.run_windows(
            *args, qt, qc, qn, closed, log_k, log_s, log_e, log_p, ivar, next_key, decided
        )
        logged = int(ivar[kernel.I_LOGGED])
        out.add_services(log_k[:logged], log_s[:logged], log_e[:logged], log_p[:logged])
        ivar[kernel.I_LOGGED] = 0
        if status == kernel.DONE:
            break
        out.close_through(key)
        next_key = out.next_key
        decided = out.boundary(next_key)
    end_a = en.reshape(n, N_STAGES)
    reopened_b = reopened.astype(bool)
    return CaseRecord(
        start=st.reshape(n, N_STAGES),
        end=end_a,
        first_close=first_close,
        final_close=np.where(reopened_b, end_a[:, _REOPEN], first_close),
        satisfied=sat.astype(bool),
        reopened=reopened_b,
        events=int(np.count_nonzero(~np.isnan(end_a))) - len(vol),
    )


def _recursion_can_run(scenario: Scenario, cal: WorkCalendar) -> bool:
    """Whether the recursion's windows move the clock: reopening impossible, or a feedback delay that still
    changes the time at the horizon (``delay_hours: 0`` cannot, and neither can 1e-13 hours at hour 10,000)."""
    if not reopening_possible(scenario):
        return True
    until = cal.horizon_hours - 24.0
    return until + scenario.spec.ladder.feedback.delay_hours > until


MODES = ("auto", "recursion", "events")


def simulate_cases(
    scenario: Scenario,
    cases: Cases,
    allocation: Allocation,
    cal: WorkCalendar | None = None,
    mode: str = "auto",
    only: tuple[np.ndarray, np.ndarray] | None = None,
    duty_windows: tuple[tuple[int, int | None], ...] = (),
) -> SimResult:
    """Run one replication's cases under an allocation.

    ``mode``: "recursion" (``_recursion``, compiled by numba), "events" (SimPy's event loop, ``sim.eventloop``)
    or "auto": the recursion, unless reopened cases come back with no delay (``_recursion_can_run``). Both
    give the same case records (tested). ``only``: the communities and streets (indices, ascending) every
    case belongs to (a district's task, ``sim.split``): the duty account that decides which problems are found
    late, and the servers by day, are kept for their pools alone. ``duty_windows``: the (first, end) days
    whose duty account ``sim.duties.account_duties`` will ask for (end None: to the end), summed as the run steps
    the days (``SimResult.duty_sums``). Long because it hands the record over field by field.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}: {mode!r}")
    spec = scenario.spec
    cal = cal or WorkCalendar(spec.calendar, cases.days)
    can_recurse = _recursion_can_run(scenario, cal)
    if mode == "recursion" and not can_recurse:
        raise ValueError(
            "mode 'recursion' is invalid: reopened cases come back with no delay "
            f"(delay_hours: {spec.ladder.feedback.delay_hours:g})"
        )
    if mode == "auto":
        mode = "recursion" if can_recurse else "events"
    capacity = pool_capacity(scenario, allocation, cases, cal, only)
    arrival, channel, grid_service = apply_allocation(scenario, cases, allocation)
    limits = np.array([c.deadline_working_hours for c in spec.demand.categories.values()])
    deadline = cal.add_v(arrival, limits[cases.category])
    rows, run = extend_rows(scenario, cases, cal, RunInputs(arrival, channel, grid_service, deadline, *capacity))
    out = Outcomes(scenario, rows, run, cal, allocation.service_fund_yuan, only, duty_windows)
    with collector_paused():
        if mode == "recursion":
            rec = _recursion(scenario, rows, cal, run, out, only)
        else:
            from sim.eventloop import EventLoop

            rec = EventLoop(scenario, rows, cal, run, out).run(until=cal.horizon_hours - 24.0)
    busy = out.finish()
    revisited = ~np.isnan(rec.end[:, _REOPEN])
    return SimResult(
        rows=rows,
        active=out.is_active,
        arrival=run.arrival,
        channel=run.channel,
        start=rec.start,
        end=rec.end,
        deadline=run.deadline,
        first_close=rec.first_close,
        final_close=rec.final_close,
        satisfied=rec.satisfied,
        reopened=rec.reopened,
        resolved=out.resolved_final(rec.reopened, revisited) & ~np.isnan(rec.first_close),
        funded=out.funded,
        paid_yuan=out.paid_yuan,
        people=run.people,
        present=run.present,
        case_servers=run.case_servers,
        busy=busy,
        fund_spent_yuan=out.spent_yuan,
        fund_exhausted_day=out.exhausted_day,
        unfunded_cases=out.unfunded,
        events=rec.events,
        duty_sums=out.duty_sums(),
    )

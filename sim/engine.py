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
  by level in windows of that length.
- ``sim.eventloop`` (``mode="events"``): SimPy, event by event; the recursion's
  oracle, and the engine of the one network the recursion cannot run: reopened
  cases back with no delay (``delay_hours: 0``, or one too small to move the
  clock at the horizon).

Their speed against a bare heapq loop is measured in ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import array
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import cover_desk, daily_capacity, split_desk, staff_time
from sim.calendar import WorkCalendar
from sim.demand import Cases, apply_allocation
from sim.eventloop import EventLoop
from sim.outcomes import Outcomes, extend_rows
from sim.pools import (
    CaseRecord,
    RunInputs,
    capacity_by_key,
    close_volunteer_cases,
    collector_paused,
    day_key_shift,
    more_servers_from,
    next_greater,
    staff_cases_in_order,
)
from sim.routing import CLOSE, N_STAGES, STAGES, Stage, late_days, reopening_possible, reopens, routing, unsatisfied

__all__ = ["SimResult", "simulate_cases", "pool_sizes", "pool_capacity", "routing", "reopening_possible", "STAGES"]

# stage codes as plain ints in the hot loop (an IntEnum member costs an attribute lookup per use)
_GRID, _COMMUNITY, _STREET, _CITY, _REOPEN = (int(s) for s in Stage)
_INF = math.inf
_UNKNOWN = object()
_SMALL_BATCH = 16  # feedback calls of fewer closed cases: one by one (numpy's fixed cost is larger)


def pool_sizes(scenario: Scenario, allocation: Allocation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People in each grid pool, community desk and street office (``scenario.staffing.split_desk``)."""
    desk, grid = split_desk(staff_time(scenario), allocation.workers)
    return grid, desk, np.asarray(allocation.street_office_staff, dtype=np.int64)


def pool_capacity(
    scenario: Scenario, allocation: Allocation, cases: Cases, cal: WorkCalendar
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People per pool and, per pool and calendar day, people present and people taking cases.

    Pools are ordered grid pools (one per community), desks, street offices.
    """
    st = staff_time(scenario)
    grid, desk, street = pool_sizes(scenario, allocation)
    n = scenario.n_communities
    people = np.concatenate([grid, desk, street])
    level = np.array(["community"] * (2 * n) + ["street"] * len(street))
    days = cases.days
    u = cases.u_absence if cases.u_absence is not None else np.full((len(people), days, 2), 0.5)
    working = cal.day_len[:days] > 0
    present, case = daily_capacity(st, people, level, u, working)
    cover_desk(desk, (present[:n], case[:n]), (present[n : 2 * n], case[n : 2 * n]), working)
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
    present: np.ndarray  # (pools, days) people present each calendar day
    case_servers: np.ndarray  # (pools, days) people taking cases each calendar day
    busy: np.ndarray  # (pools, working days of the run) case handling hours
    fund_spent_yuan: np.ndarray  # per community
    fund_exhausted_day: np.ndarray  # per community: the first day a fix found the fund spent (NaN: never)
    unfunded_cases: np.ndarray  # per community
    events: int


def _c_array(a: np.ndarray) -> array.array:
    """A numpy vector as a C array of doubles or 64-bit integers: one memory copy, no Python object per
    element (10-60x faster to make than ``tolist``); each read makes its object, about 1.7x a list read."""
    as_float = a.dtype.kind == "f"
    out = array.array("d" if as_float else "q")
    out.frombytes(np.ascontiguousarray(a, dtype=np.float64 if as_float else np.int64).data.cast("B"))
    return out


def _wait_for_server(
    t: float, busy_ends: list[float], capk: list[int], up: list[int] | None, day: tuple, until: float
) -> float:
    """The earliest time at or after ``t`` at which a pool whose servers change by day has one free: the next
    release, or the beginning of the first day with more case servers than are busy (inf: never); any time
    at or after ``until`` (the run's end, where nothing starts) as soon as the search passes it.

    ``busy_ends`` (a heap of the busy servers' end times) loses the releases passed; ``day`` is
    ``day_key_shift``'s (shift, day_end)."""
    shift, day_end = day
    while True:
        if t >= until:  # a release after the run's end may lie past the calendar's last day key
            return t
        busy = len(busy_ends)
        key = int((t + shift) // 24.0)
        if busy < capk[key]:
            return t
        release = busy_ends[0] if busy_ends else _INF
        more = more_servers_from(capk, up, key, busy, day_end)
        if release == _INF and more == _INF:
            return _INF
        if release <= more:
            t = release
            while busy_ends and busy_ends[0] <= t:
                heapq.heappop(busy_ends)
        else:
            t = more


class _Level(NamedTuple):
    """One level of the ladder, as the recursion walks it."""

    new_ready: Sequence[float]  # cases new to this level (the grid's only), in order of arrival
    new_case: Sequence[int]
    queue: list[tuple[float, int]]  # (ready, case) cases handed over to this level, a heap
    new_stage: int  # the stage of a new case, and of a handed-over one
    queue_stage: int
    pool_of: Sequence[int]  # per case: its pool at this level
    after: Sequence[int]  # per case: the stage after this level (CLOSE: closed here)


def _recursion(scenario: Scenario, cases: Cases, cal: WorkCalendar, run: RunInputs, out: Outcomes) -> CaseRecord:
    """The exact recursion: every pool first come, first served, each case taking the earliest moment a
    server is free (a release, or a day with more people), level by level in windows of the feedback delay.

    The only loop in the network is the reopening: a case closed at ``c`` is back at its grid pool at
    ``c + delay_hours``. So within a window of ``delay_hours`` starting at the earliest waiting case, every
    case any pool will see is known before the pool needs it: grid pools first (their arrivals and the
    reopened cases of earlier windows), then desks, then street offices, then the city's delay; the feedback
    calls come at the window's end, and the cases they reopen fall into a later window. A pool takes its
    cases in order of (ready, new before handed over, case number): ``sim.pools``' tie rule, which the
    event loop follows too.

    Long because the loop keeps its state in local variables (attribute lookups on a state object would
    cost about a third of its time) and serves all three levels with one body: this is the path every
    scenario runs.
    """
    spec = scenario.spec
    fb = spec.ladder.feedback
    window = fb.delay_hours if reopening_possible(scenario) else _INF
    n = len(cases)
    until = cal.horizon_hours - 24.0
    day = day_key_shift(cal.always_on, spec.calendar.day_end_hour)
    shift = day[0]
    start_and_end, always_on = cal.start_and_end, cal.always_on
    svc_a = cases.service.copy()
    svc_a[:, _GRID] = run.grid_service
    svc = _c_array(svc_a.ravel())  # flat: case * N_STAGES + stage
    # C arrays of doubles: written as fast as lists, and numpy reads them without a copy
    st = array.array("d", [math.nan]) * (n * N_STAGES)
    en = array.array("d", [math.nan]) * (n * N_STAGES)
    first_close = array.array("d", [math.nan]) * n
    arrival = run.arrival
    nc = scenario.n_communities
    capk = capacity_by_key(run.case_servers, run.people, cal.day_len[: cases.days] > 0, len(cal.day_len))
    # A pool whose servers never change (``const[p]`` of them): a heap of each server's free time, and a case
    # starts at max(ready, earliest free): the multi-server FCFS recursion. A pool whose servers change by
    # day (``const[p]`` = -1): a heap of its busy servers' end times, its last start, ``_wait_for_server``.
    const = [c[0] if min(c) == max(c) else -1 for c in capk]
    free: list[list[float]] = [[-_INF] * c if c >= 0 else [] for c in const]
    last = [-_INF] * len(capk)
    ups: list = [_UNKNOWN] * len(capk)  # per pool, ``next_greater`` of its servers, worked out when needed
    reopen_q: list[tuple[float, int]] = []  # (ready, case): reopened cases back at the grid
    desk_q: list[tuple[float, int]] = []
    street_q: list[tuple[float, int]] = []
    closed: list[int] = []  # cases closed in this window: their feedback calls at the window's end
    sat = np.zeros(n, dtype=bool)
    reopened = np.zeros(n, dtype=bool)
    deadline, u_fb, delay = run.deadline, cases.u_feedback, fb.delay_hours
    unsat_x, reopen_x = out.unsat_extra, out.reopen_extra
    active, log = out.active, out.log
    log_extend = log.extend
    incremental = out.incremental
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    to_close, to_desk, to_street, reopen_stage, stages = CLOSE, _COMMUNITY, _STREET, _REOPEN, N_STAGES

    def feedback() -> None:
        """The feedback calls of the cases closed in this window (as ``EventLoop._close``): unsatisfied
        residents may reopen, more likely when late; a reopened case is back ``delay_hours`` later."""
        if len(closed) < _SMALL_BATCH:  # one by one: the same arithmetic on Python floats, the same bits
            for case in closed:
                t = first_close[case]
                late = late_days(t, deadline[case])
                if not unsatisfied(fb, u_fb[case, 0], late, unsat_x[case]):
                    sat[case] = True
                elif window < _INF and reopens(fb, u_fb[case, 1], late, reopen_x[case]):
                    reopened[case] = True
                    heappush(reopen_q, (t + delay, case))
            closed.clear()
            return
        ci = np.array(closed, dtype=np.int64)
        closed.clear()
        tc = np.frombuffer(first_close)[ci]
        late = late_days(tc, deadline[ci])
        uns = unsatisfied(fb, u_fb[ci, 0], late, unsat_x[ci])
        sat[ci] = ~uns
        if window < _INF:
            again = uns & reopens(fb, u_fb[ci, 1], late, reopen_x[ci])
            reopened[ci[again]] = True
            for case, t in zip(ci[again].tolist(), tc[again].tolist()):
                heappush(reopen_q, (t + delay, case))

    def closed_by_volunteers(case: int, t: float) -> None:
        first_close[case] = t
        closed.append(case)

    close_volunteer_cases(cases.volunteer, arrival, spec.volunteers.handling_hours, st, en, closed_by_volunteers)
    if closed:
        feedback()
    order = staff_cases_in_order(cases.volunteer, arrival)
    grid = _Level(
        arrival[order].tolist(),
        _c_array(order),
        reopen_q,
        _GRID,
        _REOPEN,
        _c_array(cases.community),
        out.after_grid,
    )
    levels = (
        grid,
        _Level(
            (),
            (),
            desk_q,
            _COMMUNITY,
            _COMMUNITY,
            _c_array(nc + cases.community),
            out.after_comm,
        ),
        _Level(
            (),
            (),
            street_q,
            _STREET,
            _STREET,
            _c_array(2 * nc + scenario.community_street[cases.community]),
            out.after_street,
        ),
    )
    n_new, next_new = len(grid.new_ready), 0
    while True:
        start = min(
            grid.new_ready[next_new] if next_new < n_new else _INF,
            reopen_q[0][0] if reopen_q else _INF,
            desk_q[0][0] if desk_q else _INF,
            street_q[0][0] if street_q else _INF,
        )  # the earliest case waiting anywhere: this window starts there
        if start >= until:
            break
        if incremental:  # decide the day's cases first; a window never crosses into the next day key
            key = int((start + shift) // 24.0)
            if key >= out.next_key:
                out.close_through(key)
                decided = out.boundary(out.next_key)
                while next_new < n_new and grid.new_ready[next_new] < decided and not active[grid.new_case[next_new]]:
                    next_new += 1  # a problem nobody found early: its twin comes later
                continue
            w_end = min(start + window, out.boundary(key + 1))
        else:
            w_end = start + window
        for new_ready, new_case, q, new_stage, q_stage, pool_of, after in levels:
            si, n_static = (next_new, n_new) if new_ready is grid.new_ready else (0, 0)
            while True:  # this level's cases in order of readiness (a new case first on a tie)
                if si < n_static and new_ready[si] < w_end and not (q and q[0][0] < new_ready[si]):
                    ready, case, stage = new_ready[si], new_case[si], new_stage
                    si += 1
                    if not active[case]:
                        continue
                elif q and q[0][0] < w_end:
                    ready, case = heappop(q)
                    stage = q_stage
                else:
                    break
                k = case * stages + stage
                p = pool_of[case]
                e = free[p]
                c = const[p]
                if c > 0:  # servers that never change: the earliest free one
                    f = e[0]
                    t = ready if ready > f else f
                    if t >= until:
                        continue
                elif c < 0:  # servers that change by day: after the last start, when one is free
                    t = last[p]
                    if ready > t:
                        t = ready
                    if t >= until:
                        continue
                    while e and e[0] <= t:
                        heappop(e)
                    key = int((t + shift) // 24.0)
                    cap, busy = capk[p][key], len(e)
                    if busy >= cap:  # nobody free now
                        if busy == cap and busy and int((e[0] + shift) // 24.0) == key:
                            t = heappop(e)  # the first release is the same day: it frees one
                        else:
                            if ups[p] is _UNKNOWN:
                                ups[p] = next_greater(capk[p])
                            t = _wait_for_server(t, e, capk[p], ups[p], day, until)
                        if t >= until:
                            last[p] = t
                            continue
                    last[p] = t
                else:  # nobody, ever
                    continue
                if always_on:
                    st[k] = t
                    end = t + svc[k]
                else:
                    st[k], end = start_and_end(t, svc[k])
                log_extend((k, st[k], end))
                if c > 0:
                    heapreplace(e, end)  # the earliest free server is this one now
                else:
                    heappush(e, end)  # one more busy server
                if end >= until:
                    continue
                en[k] = end
                if stage == reopen_stage:
                    continue
                nxt = after[case]
                if nxt == to_close:
                    first_close[case] = end
                    closed.append(case)
                elif nxt == to_desk:
                    heappush(desk_q, (end, case))
                elif nxt == to_street:
                    heappush(street_q, (end, case))
                else:  # city departments: a delay in working hours, no queue
                    k = case * stages + _CITY
                    st[k], end = start_and_end(end, svc[k])
                    if end < until:
                        en[k] = first_close[case] = end
                        closed.append(case)
            if new_ready is grid.new_ready:
                next_new = si
        if closed:
            feedback()
    end_a = np.frombuffer(en).reshape(n, N_STAGES)
    first_close_a = np.frombuffer(first_close)
    return CaseRecord(
        start=np.frombuffer(st).reshape(n, N_STAGES),
        end=end_a,
        first_close=first_close_a,
        final_close=np.where(reopened, end_a[:, _REOPEN], first_close_a),  # a reopened case closes for good there
        satisfied=sat,
        reopened=reopened,
        # services ended (the event loop's count; volunteers' cases take no server)
        events=int(np.count_nonzero(~np.isnan(end_a))) - int(np.count_nonzero(cases.volunteer)),
    )


def _recursion_can_run(scenario: Scenario, cal: WorkCalendar) -> bool:
    """Whether the recursion's windows move the clock: reopening impossible, or a feedback delay that still
    changes the time at the horizon (``delay_hours: 0`` cannot, and neither can 1e-13 hours at hour 10,000)."""
    if not reopening_possible(scenario):
        return True
    until = cal.horizon_hours - 24.0
    return until + scenario.spec.ladder.feedback.delay_hours > until


def simulate_cases(
    scenario: Scenario, cases: Cases, allocation: Allocation, cal: WorkCalendar | None = None, mode: str = "auto"
) -> SimResult:
    """Run one replication's cases under an allocation.

    ``mode``: "recursion" (``_recursion``), "events" (SimPy's event loop, ``sim.eventloop``) or "auto": the
    recursion, unless reopened cases come back with no delay (``_recursion_can_run``). Both give the same
    case records (tested).
    """
    if mode not in ("auto", "events", "recursion"):
        raise ValueError(f"mode must be auto, events or recursion: {mode!r}")
    spec = scenario.spec
    cal = cal or WorkCalendar(spec.calendar, cases.days)
    can_recurse = _recursion_can_run(scenario, cal)
    if mode == "recursion" and not can_recurse:
        raise ValueError(
            "mode 'recursion' is invalid: reopened cases come back with no delay "
            f"(delay_hours: {spec.ladder.feedback.delay_hours:g})"
        )
    capacity = pool_capacity(scenario, allocation, cases, cal)
    arrival, channel, grid_service = apply_allocation(scenario, cases, allocation)
    limits = np.array([c.deadline_working_hours for c in spec.demand.categories.values()])
    deadline = cal.add_v(arrival, limits[cases.category])
    rows, run = extend_rows(scenario, cases, cal, RunInputs(arrival, channel, grid_service, deadline, *capacity))
    out = Outcomes(scenario, rows, run, cal, allocation.service_fund_yuan)
    with collector_paused():
        if mode == "recursion" or (mode == "auto" and can_recurse):
            rec = _recursion(scenario, rows, cal, run, out)
        else:
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
    )

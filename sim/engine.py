"""One year of case handling: an exact recursion that every scenario runs, and SimPy's event loop as its oracle.

Levels: grid workers (a pool per community: the community's workers not at
its desk cover each other), the community desk (a pool per community), the
street office (a pool per street), city departments (a delay, no queue). Each
pool serves first come, first served within working hours, with as many
servers as its people present that day take cases (``scenario.staffing``: leave,
fixed duties and a protected share for scheduled duties come off). Scheduled
duties fill the time cases leave; they are accounted after the run
(``sim.duties``).

Two engines make the same decisions and give the same numbers to the last bit
(``tests/test_invariants.py``: random networks with volunteers, mobile grid
workers, both calendars, duties, reopening; ``tests/test_golden.py``: every
bundled scenario):

- ``_recursion`` (``mode="recursion"``, what ``auto`` runs): no event list. A
  case takes the earliest moment at or after it is ready, and after the case
  before it in its pool, when a server is free (a release, or a day with more
  people). The network is feed-forward except for reopening, which comes back
  ``ladder.feedback.delay_hours`` after the close, so the pools are solved level
  by level in windows of that length. About 1.2x a bare heapq M/M/10 loop.
- ``_Model`` (``mode="events"``): SimPy's environment with lean events (no
  process per case; a pool pulls its next case when a server frees, one
  scheduled event per service, a wake-up when servers sit idle or a new day may
  bring more people). It is the oracle the recursion is tested against, and it
  runs the one network the recursion cannot: reopened cases coming back with no
  delay at all (``delay_hours: 0``). About 4x the heapq loop.
"""

from __future__ import annotations

import array
import gc
import heapq
import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import simpy

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import cover_desk, daily_capacity, split_desk, staff_time
from sim.calendar import WorkCalendar
from sim.demand import Cases, apply_allocation
from sim.routing import CLOSE, N_STAGES, STAGES, Stage, late_days, reopening_possible, reopens, routing, unsatisfied

__all__ = ["SimResult", "simulate_cases", "pool_sizes", "pool_capacity", "routing", "reopening_possible", "STAGES"]

# stage codes as plain ints in the hot loop (an IntEnum member costs an attribute lookup per use)
_GRID, _COMMUNITY, _STREET, _CITY, _REOPEN = (int(s) for s in Stage)
_INF = math.inf
_UNKNOWN = object()


class _Ev:
    """A bare SimPy-compatible event: what ``Environment.step`` reads, nothing more."""

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(self, callback, value) -> None:
        self.callbacks = [callback]
        self._ok = True
        self._value = value


class _Pool:
    """Servers that change by day (``capk``), FCFS over a static sorted stream and a heap of later jobs."""

    __slots__ = ("m", "busy", "capk", "up", "up_known", "s_ids", "s_ready", "ptr", "n_static", "heap", "wake_at", "seq")

    def __init__(
        self,
        model: "_Model",
        capk: list[int],
        static_ids: list[int] | None = None,
        static_ready: list[float] | None = None,
    ) -> None:
        self.m = model
        self.busy = 0
        self.capk = capk
        # key -> next key with more servers (None: capacity never rises); worked out the first time the pool
        # is full, as most pools of a district-only run never see a case
        self.up: list[int] | None = None
        self.up_known = False
        self.s_ids = static_ids or []
        self.s_ready = static_ready or []
        self.ptr = 0
        self.n_static = len(self.s_ids)
        self.heap: list[tuple[float, int, int, int]] = []
        self.wake_at = _INF
        self.seq = 0

    def push(self, ready: float, case: int, stage: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (ready, self.seq, case, stage))
        self.dispatch(self.m.now)

    def dispatch(self, now: float) -> None:
        heap = self.heap
        key = int((now + self.m.shift) // 24.0)
        cap = self.capk[key]
        ptr, n_static, s_ready = self.ptr, self.n_static, self.s_ready  # hot: locals, ``ptr`` written back
        while self.busy < cap:
            if ptr < n_static:
                sr = s_ready[ptr]
                if heap and heap[0][0] < sr:
                    ready, _, case, stage = heap[0]
                    from_heap = True
                else:
                    ready, case, stage, from_heap = sr, self.s_ids[ptr], _GRID, False
            elif heap:
                ready, _, case, stage = heap[0]
                from_heap = True
            else:
                self.ptr = ptr
                return
            if ready > now:
                self.ptr = ptr
                if ready < self.wake_at:
                    self._wake_at(ready)
                return
            if from_heap:
                heapq.heappop(heap)
            else:
                ptr += 1
            self.busy += 1
            self.m.start(self, case, stage, now)
        self.ptr = ptr
        # every server busy: a release will look again. Only a day with more people needs a wake-up: at the
        # first day boundary (or the next job's arrival, if later) where capacity exceeds the busy servers.
        if not self.up_known:
            self.up, self.up_known = _next_greater(self.capk), True
        up = self.up
        if up is None:
            return
        nxt = min(s_ready[ptr] if ptr < n_static else _INF, heap[0][0] if heap else _INF)
        if nxt == _INF:
            return
        capk, busy = self.capk, self.busy
        k = up[key]
        while k >= 0 and capk[k] <= busy:
            k = up[k]
        if k >= 0:
            boundary = (k - 1) * 24.0 + self.m.day_end
            t = nxt if nxt > boundary else boundary
            if t < self.wake_at:
                self._wake_at(t)

    def _wake_at(self, t: float) -> None:
        """A wake-up at ``t``, earlier than any already scheduled (callers check ``t < wake_at``)."""
        self.wake_at = t
        self.m.env.schedule(_Ev(self._wake, t), 1, t - self.m.env._now)  # type: ignore[arg-type]  # a bare event

    def _wake(self, ev: _Ev) -> None:
        # compare the target, not the clock: now = before + (t - before) may differ from t in the last bit
        if ev._value == self.wake_at:
            self.wake_at = _INF
        self.m.now = ev._value
        self.dispatch(ev._value)

    def release(self, now: float) -> None:
        self.busy -= 1
        self.dispatch(now)


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
    """Per-case outcomes of one replication (arrays aligned with the Cases)."""

    arrival: np.ndarray
    channel: np.ndarray
    start: np.ndarray  # (n, 5) clock hours per stage, NaN if not reached
    end: np.ndarray  # (n, 5)
    deadline: np.ndarray
    first_close: np.ndarray
    final_close: np.ndarray
    satisfied: np.ndarray  # at the first feedback call
    reopened: np.ndarray
    people: np.ndarray  # per pool: grid pools, desks, street offices
    present: np.ndarray  # (pools, days) people present each calendar day
    case_servers: np.ndarray  # (pools, days) people taking cases each calendar day
    events: int


def _next_greater(capk: list[int]) -> list[int] | None:
    """For each key, the next key with more servers (-1: none); None when the capacity never changes."""
    if min(capk) == max(capk):
        return None
    out = [-1] * len(capk)
    stack: list[int] = []
    for k, c in enumerate(capk):
        while stack and capk[stack[-1]] < c:
            out[stack.pop()] = k
        stack.append(k)
    return out


def _capacity_by_key(case_servers: np.ndarray, people: np.ndarray, working: np.ndarray, total_days: int) -> list:
    """Per pool, case servers for each day key (see ``_Model.shift``): the next working day's people."""
    days = case_servers.shape[1]
    idx = np.arange(days)
    nxt = np.where(working, idx, days)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]  # next working day at or after each day
    full = np.concatenate([case_servers, people[:, None]], axis=1)  # column ``days``: beyond the horizon
    cap = full[:, nxt]
    pad = np.repeat(people[:, None], total_days - days + 1, axis=1)
    return np.concatenate([cap, pad], axis=1).tolist()


@dataclass(frozen=True)
class _RunInputs:
    """What both engines start from, once the allocation is applied to the cases."""

    arrival: np.ndarray  # per case: clock hours (mobile grid workers may find a case earlier)
    grid_service: np.ndarray  # per case: grid service hours under this allocation
    deadline: np.ndarray  # per case: clock hours
    people: np.ndarray  # per pool
    present: np.ndarray  # (pools, days)
    case_servers: np.ndarray  # (pools, days)


class _Model:
    def __init__(
        self,
        scenario: Scenario,
        cases: Cases,
        cal: WorkCalendar,
        run: _RunInputs,
    ) -> None:
        spec = scenario.spec
        self.env = simpy.Environment()
        self.cal = cal
        # day key of a clock time: the working day whose working hours come next
        self.shift = 0.0 if cal.always_on else 24.0 - spec.calendar.day_end_hour
        self.day_end = 24.0 if cal.always_on else spec.calendar.day_end_hour
        n = len(cases)
        esc_c, esc_s, esc_city = routing(scenario, cases)
        # next stage after each stage (-1: close)
        self.after_grid = np.where(esc_c, _COMMUNITY, CLOSE).tolist()
        self.after_comm = np.where(esc_s, _STREET, CLOSE).tolist()
        self.after_street = np.where(esc_city, _CITY, CLOSE).tolist()
        svc = cases.service.copy()
        svc[:, _GRID] = run.grid_service
        self.svc = svc.ravel().tolist()  # flat: case * N_STAGES + stage
        self.community = cases.community.tolist()
        self.street = scenario.community_street[cases.community].tolist()
        self.deadline = run.deadline.tolist()
        self.fb = spec.ladder.feedback
        self.u1 = cases.u_feedback[:, 0].tolist()
        self.u2 = cases.u_feedback[:, 1].tolist()
        self.st = [math.nan] * (n * N_STAGES)  # flat: case * N_STAGES + stage
        self.en = [math.nan] * (n * N_STAGES)
        self.first_close = [math.nan] * n
        self.final_close = [math.nan] * n
        self.satisfied = [False] * n
        self.reopened = [False] * n
        self.events = 0
        self.always_on = cal.always_on
        self.now = 0.0  # the exact current time (SimPy's clock only orders the events)

        arrival = run.arrival
        nc = scenario.n_communities
        capk = _capacity_by_key(run.case_servers, run.people, cal.day_len[: cases.days] > 0, len(cal.day_len))
        order = np.argsort(arrival, kind="stable")
        order = order[~cases.volunteer[order]]
        comm_sorted = order[np.argsort(cases.community[order], kind="stable")]
        bounds = np.cumsum(np.bincount(cases.community[comm_sorted], minlength=nc))
        lo = np.concatenate([[0], bounds[:-1]])
        arr_l = arrival
        self.grid_pools = [
            _Pool(
                self, capk[c], comm_sorted[lo[c] : bounds[c]].tolist(), arr_l[comm_sorted[lo[c] : bounds[c]]].tolist()
            )
            for c in range(nc)
        ]
        self.desk_pools = [_Pool(self, capk[nc + c]) for c in range(nc)]
        self.street_pools = [_Pool(self, capk[2 * nc + j]) for j in range(len(scenario.street_ids))]

        # Volunteer cases: closed after handling_hours; their feedback may reopen them.
        vol = np.flatnonzero(cases.volunteer)
        handling = spec.volunteers.handling_hours
        for i in vol.tolist():
            t = arrival[i] + handling
            self.st[i * N_STAGES + _GRID] = arrival[i]
            self.en[i * N_STAGES + _GRID] = t
            self._close(i, t)

    def start(self, pool: _Pool, case: int, stage: int, now: float) -> None:
        k = case * N_STAGES + stage
        self.st[k], end = self.cal.start_and_end(now, self.svc[k])
        # the exact end travels with the event: SimPy's clock, now + (end - now), may differ in the last bit
        self.env.schedule(_Ev(self._done, (pool, case, stage, end)), 1, end - self.env._now)  # type: ignore[arg-type]  # a bare event

    def _done(self, ev: _Ev) -> None:
        pool, case, stage, now = ev._value
        self.now = now
        self.en[case * N_STAGES + stage] = now
        self.events += 1
        pool.busy -= 1  # the server is free: the pool looks for its next case (``_Pool.release``, inlined)
        pool.dispatch(now)
        if stage == _GRID:
            nxt = self.after_grid[case]
        elif stage == _COMMUNITY:
            nxt = self.after_comm[case]
        elif stage == _STREET:
            nxt = self.after_street[case]
        else:  # _REOPEN: the reopened case is closed for good
            self.final_close[case] = now
            return
        if nxt == CLOSE:
            self._close(case, now)
        elif nxt == _COMMUNITY:
            self.desk_pools[self.community[case]].push(now, case, _COMMUNITY)
        elif nxt == _STREET:
            self.street_pools[self.street[case]].push(now, case, _STREET)
        else:  # city departments: a delay in working hours, no queue
            k = case * N_STAGES + _CITY
            self.st[k], end = self.cal.start_and_end(now, self.svc[k])
            self.env.schedule(_Ev(self._city_done, (case, end)), 1, end - self.env._now)  # type: ignore[arg-type]  # a bare event

    def _city_done(self, ev: _Ev) -> None:
        case, now = ev._value
        self.now = now
        self.en[case * N_STAGES + _CITY] = now
        self.events += 1
        self._close(case, now)

    def _close(self, case: int, now: float) -> None:
        """Closure and feedback call: unsatisfied residents may reopen, more likely when late."""
        self.first_close[case] = now
        self.final_close[case] = now
        fb = self.fb
        late = late_days(now, self.deadline[case])
        if unsatisfied(fb, self.u1[case], late):
            if reopens(fb, self.u2[case], late):
                self.reopened[case] = True
                self.final_close[case] = math.nan
                self.grid_pools[self.community[case]].push(now + fb.delay_hours, case, _REOPEN)
        else:
            self.satisfied[case] = True

    def run(self, until: float) -> None:
        with _collector_paused():
            for p in self.grid_pools:
                p.dispatch(0.0)
            self.env.run(until=until)


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while a loop runs, on again after.

    The loops create millions of short-lived acyclic objects (events, heap entries) next to long lists of
    per-case values; the cyclic collector would traverse those lists again and again for nothing (27% of a
    Weihai year's event loop, 45% of a megacity district). Reference counting frees everything the loops drop.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _c_array(a: np.ndarray) -> array.array:
    """A numpy vector as a C array of doubles or 64-bit integers: read by index about as fast as a list, made
    four times faster than ``tolist`` (a memory copy, no Python object per element)."""
    out = array.array("d" if a.dtype.kind == "f" else "q")
    out.frombytes(np.ascontiguousarray(a, dtype=np.float64 if a.dtype.kind == "f" else np.int64).tobytes())
    return out


def _wait_for_server(t: float, ends: list[float], capk: list[int], up: list[int] | None, shift: float, day_end: float):
    """The earliest time at or after ``t`` when a server is free: the first release, or the first day with
    more people than are busy. ``ends`` (a heap of busy servers' end times) loses the releases it passes."""
    while True:
        busy = len(ends)
        key = int((t + shift) // 24.0)
        if busy < capk[key]:
            return t
        nxt = ends[0] if ends else _INF
        boundary = _INF
        if up is not None:
            k = up[key]
            while k >= 0 and capk[k] <= busy:
                k = up[k]
            if k >= 0:
                boundary = (k - 1) * 24.0 + day_end
        if nxt == _INF and boundary == _INF:
            return _INF
        if nxt <= boundary:
            t = nxt
            while ends and ends[0] <= t:
                heapq.heappop(ends)
        else:
            t = boundary


def _recursion(scenario: Scenario, cases: Cases, cal: WorkCalendar, run: _RunInputs, window: float) -> SimResult:
    """The exact recursion: every pool first come, first served, each case taking the earliest moment a
    server is free (a release, or a day with more people), level by level in windows of ``window`` hours.

    The only loop in the network is the reopening: a case closed at ``c`` is back at its grid pool at
    ``c + delay_hours``. So within a window of ``delay_hours`` starting at the earliest pending job,
    every job any pool will see is known before the pool needs it: grid pools first (their arrivals and
    the reopened cases of earlier windows), then desks, then street offices, then the city's delay and
    the feedback calls, whose reopened cases fall into a later window. Each decision is the one the event
    loop makes at the same moment (``tests/test_invariants.py`` checks the case records are equal to the
    last bit), without an event list: per pool, a heap of its servers' free times.

    Long because the loop keeps its state in local variables and two closures: attribute lookups on a
    state object would cost about a third of its time, and this is the path every scenario runs.
    """
    spec = scenario.spec
    fb = spec.ladder.feedback
    n = len(cases)
    until = cal.horizon_hours - 24.0
    shift = 0.0 if cal.always_on else 24.0 - spec.calendar.day_end_hour
    day_end = 24.0 if cal.always_on else spec.calendar.day_end_hour
    start_and_end, always_on = cal.start_and_end, cal.always_on
    esc_c, esc_s, esc_city = routing(scenario, cases)
    # per case: next stage after the grid, the desk, the street office (CLOSE: closed there)
    after_grid = _c_array(np.where(esc_c, _COMMUNITY, CLOSE))
    after_comm = _c_array(np.where(esc_s, _STREET, CLOSE))
    after_street = _c_array(np.where(esc_city, _CITY, CLOSE))
    svc_a = cases.service.copy()
    svc_a[:, _GRID] = run.grid_service
    svc = _c_array(svc_a.ravel())  # flat: case * N_STAGES + stage
    community = _c_array(cases.community)
    # C arrays of doubles: written as fast as lists, and numpy reads them without a copy
    st = array.array("d", [math.nan]) * (n * N_STAGES)
    en = array.array("d", [math.nan]) * (n * N_STAGES)
    first_close = array.array("d", [math.nan]) * n
    arrival = run.arrival
    nc = scenario.n_communities
    capk = _capacity_by_key(run.case_servers, run.people, cal.day_len[: cases.days] > 0, len(cal.day_len))
    # A pool whose servers never change (``const[p]`` servers): a heap of each server's free time, and a case
    # starts at max(ready, earliest free) (the multi-server FCFS recursion). A pool whose servers change by
    # day (``const[p]`` = -1): a heap of busy servers' end times, its last start, and ``_wait_for_server``.
    const = [c[0] if min(c) == max(c) else -1 for c in capk]
    free: list[list[float]] = [[-_INF] * c if c >= 0 else [] for c in const]
    last = [-_INF] * len(capk)
    ups: list = [_UNKNOWN] * len(capk)  # per pool, ``_next_greater`` of its servers, worked out when needed
    reopen_q: list[tuple[float, int, int]] = []  # (ready, order pushed, case): reopened cases back at the grid
    desk_q: list[tuple[float, int, int]] = []  # (ready, order pushed, case): cases escalated to the desks
    street_q: list[tuple[float, int, int]] = []
    pushed = 0
    closed: list[int] = []  # cases closed in this window: their feedback calls at the window's end
    sat = np.zeros(n, dtype=bool)
    reopened = np.zeros(n, dtype=bool)
    deadline, u_fb, delay = run.deadline, cases.u_feedback, fb.delay_hours
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    stages, close_, community_, street_, city_, reopen_ = N_STAGES, CLOSE, _COMMUNITY, _STREET, _CITY, _REOPEN

    def feedback() -> None:
        """The feedback calls of the cases closed in this window (the event loop's ``_Model._close``):
        unsatisfied residents may reopen, more likely when late. A reopened case is back at its grid pool
        ``delay_hours`` later, in a later window, so the calls can wait for the window's end."""
        nonlocal pushed
        ci = np.array(closed, dtype=np.int64)
        closed.clear()
        tc = np.frombuffer(first_close)[ci]
        late = late_days(tc, deadline[ci])
        uns = unsatisfied(fb, u_fb[ci, 0], late)
        sat[ci] = ~uns
        if window < _INF:
            again = uns & reopens(fb, u_fb[ci, 1], late)
            reopened[ci[again]] = True
            for case, t in zip(ci[again].tolist(), tc[again].tolist()):
                pushed += 1
                heappush(reopen_q, (t + delay, pushed, case))

    vol = np.flatnonzero(cases.volunteer)
    handling = spec.volunteers.handling_hours
    for i in vol.tolist():  # closed by volunteers after handling_hours; their feedback may reopen them
        t = arrival[i] + handling
        st[i * N_STAGES + _GRID] = arrival[i]
        en[i * N_STAGES + _GRID] = first_close[i] = t
        closed.append(i)
    if closed:
        feedback()
    order = np.argsort(arrival, kind="stable")
    order = order[~cases.volunteer[order]]
    # per level: its new cases in order of arrival (the grid's only), the queue of cases passed on to it,
    # the stage of each, every case's pool at this level, where a case goes next
    no_cases: list = []
    street_pool = _c_array(2 * nc + scenario.community_street[cases.community])
    levels: tuple[tuple[Sequence, Sequence, list, int, int, Sequence, Sequence], ...] = (
        (arrival[order].tolist(), _c_array(order), reopen_q, _GRID, _REOPEN, community, after_grid),
        (no_cases, no_cases, desk_q, _COMMUNITY, _COMMUNITY, _c_array(nc + cases.community), after_comm),
        (no_cases, no_cases, street_q, _STREET, _STREET, street_pool, after_street),
    )
    s_next = [0, 0, 0]
    while True:
        first = min(
            [lv[0][s_next[j]] for j, lv in enumerate(levels) if s_next[j] < len(lv[0])]
            + [lv[2][0][0] for lv in levels if lv[2]],
            default=_INF,
        )  # the earliest case waiting at any level: this window starts there
        if first >= until:
            break
        w_end = first + window
        for j, (s_ready, s_case, q, s_stage, q_stage, pool_of, after) in enumerate(levels):
            si, n_static = s_next[j], len(s_ready)
            while True:  # this level's cases in order of readiness (a new case first on a tie)
                if si < n_static and s_ready[si] < w_end and not (q and q[0][0] < s_ready[si]):
                    ready, case, stage = s_ready[si], s_case[si], s_stage
                    si += 1
                elif q and q[0][0] < w_end:
                    ready, _, case = heappop(q)
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
                    if always_on:
                        st[k] = t
                        end = t + svc[k]
                    else:
                        st[k], end = start_and_end(t, svc[k])
                    heapreplace(e, end)
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
                            t = heappop(e)  # the first release is today: it frees one
                        else:
                            if ups[p] is _UNKNOWN:
                                ups[p] = _next_greater(capk[p])
                            t = _wait_for_server(t, e, capk[p], ups[p], shift, day_end)
                        if t >= until:
                            last[p] = t
                            continue
                    last[p] = t
                    if always_on:
                        st[k] = t
                        end = t + svc[k]
                    else:
                        st[k], end = start_and_end(t, svc[k])
                    heappush(e, end)
                else:  # nobody, ever
                    continue
                if end >= until:
                    continue
                en[k] = end
                if stage == reopen_:
                    continue
                nxt = after[case]
                if nxt == close_:
                    first_close[case] = end
                    closed.append(case)
                elif nxt == community_:
                    pushed += 1
                    heappush(desk_q, (end, pushed, case))
                elif nxt == street_:
                    pushed += 1
                    heappush(street_q, (end, pushed, case))
                else:  # city departments: a delay in working hours, no queue
                    k = case * stages + city_
                    st[k], end = start_and_end(end, svc[k])
                    if end < until:
                        en[k] = first_close[case] = end
                        closed.append(case)
            s_next[j] = si
        if closed:
            feedback()
    end_a = np.frombuffer(en).reshape(n, N_STAGES)
    first = np.frombuffer(first_close)
    return SimResult(
        arrival=arrival,
        channel=np.empty(0, int),
        start=np.frombuffer(st).reshape(n, N_STAGES),
        end=end_a,
        deadline=deadline,
        first_close=first,
        final_close=np.where(reopened, end_a[:, _REOPEN], first),  # a reopened case closes for good there
        satisfied=sat,
        reopened=reopened,
        people=run.people,
        present=run.present,
        case_servers=run.case_servers,
        events=int(np.count_nonzero(~np.isnan(end_a))) - len(vol),  # services ended (the event loop's count)
    )


def simulate_cases(
    scenario: Scenario, cases: Cases, allocation: Allocation, cal: WorkCalendar | None = None, mode: str = "auto"
) -> SimResult:
    """Run one replication's cases under an allocation.

    ``mode``: "recursion" (the exact level-by-level recursion, ``_recursion``), "events" (the SimPy event
    loop, kept as the recursion's test oracle) or "auto": the recursion, unless a reopened case comes back
    with no delay at all (``ladder.feedback.delay_hours: 0`` with reopening possible), which only the event
    loop can run. Both give the same numbers to the last bit (tested).
    """
    if mode not in ("auto", "events", "recursion"):
        raise ValueError(f"mode must be auto, events or recursion: {mode!r}")
    spec = scenario.spec
    window = spec.ladder.feedback.delay_hours if reopening_possible(scenario) else _INF
    if mode == "recursion" and window <= 0:
        raise ValueError("mode 'recursion' is invalid: reopened cases come back with no delay (delay_hours: 0)")
    cal = cal or WorkCalendar(spec.calendar, cases.days)
    capacity = pool_capacity(scenario, allocation, cases, cal)
    arrival, channel, grid_service = apply_allocation(scenario, cases, allocation)
    limits = np.array([c.deadline_working_hours for c in spec.demand.categories.values()])
    deadline = cal.add_v(arrival, limits[cases.category])
    run = _RunInputs(arrival, grid_service, deadline, *capacity)
    if mode == "recursion" or (mode == "auto" and window > 0):
        with _collector_paused():
            r = _recursion(scenario, cases, cal, run, window)
        return SimResult(**{**r.__dict__, "channel": channel})
    model = _Model(scenario, cases, cal, run)
    model.run(until=cal.horizon_hours - 24.0)
    n = len(cases)
    return SimResult(
        arrival=arrival,
        channel=channel,
        start=np.array(model.st).reshape(n, N_STAGES),
        end=np.array(model.en).reshape(n, N_STAGES),
        deadline=deadline,
        first_close=np.array(model.first_close),
        final_close=np.array(model.final_close),
        satisfied=np.array(model.satisfied),
        reopened=np.array(model.reopened),
        people=capacity[0],
        present=capacity[1],
        case_servers=capacity[2],
        events=model.events,
    )

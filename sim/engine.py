"""The event loop: one year of case handling on SimPy, with lean events.

Levels: grid workers (a pool per community: the community's workers not at
its desk cover each other), the community desk (a pool per community), the
street office (a pool per street), city departments (a delay, no queue). Each
pool serves first come, first served within working hours, with as many
servers as its people present that day take cases (``scenario.staffing``: leave,
fixed duties and a protected share for scheduled duties come off). Scheduled
duties fill the time cases leave; they are accounted after the run
(``sim.duties``). There is no process per case: a pool pulls the next case
itself when a server frees, so each service costs exactly one scheduled event
(a completion), plus a wake-up when servers sit idle or a new day may bring
more people.

When no case can be reopened (the feedback parameters make reopening
impossible) and every pool keeps its headcount every day (no duties), the
network is feed-forward: grid → community → street → city.
Then each pool is solved exactly, in that order, by the first-come-first-served
multi-server recursion (each job takes the earliest-free server), without
events. Both modes give the same numbers; ``tests/test_simulation.py`` checks it.
"""

from __future__ import annotations

import gc
import heapq
import math
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
        # The loop creates millions of short-lived acyclic objects (events, heap entries) next to long
        # lists of per-case results; the cyclic collector would traverse those lists again and again for
        # nothing (27% of a Weihai year, 45% of a megacity district). Reference counting frees everything
        # the loop drops; the collector runs again afterwards.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for p in self.grid_pools:
                p.dispatch(0.0)
            self.env.run(until=until)
        finally:
            if was_enabled:
                gc.enable()


def _fcfs(ready: np.ndarray, service: np.ndarray, servers: int, cal: WorkCalendar) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of jobs (sorted by ready time) on ``servers`` identical FCFS servers."""
    n = len(ready)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    if servers <= 0 or n == 0:
        return start, end
    free = [0.0] * servers
    rl, sl = ready.tolist(), service.tolist()
    st, en = [0.0] * n, [0.0] * n
    replace = heapq.heapreplace
    if cal.always_on:
        for i in range(n):
            f = free[0]
            t = rl[i] if rl[i] > f else f
            e = t + sl[i]
            replace(free, e)
            st[i] = t
            en[i] = e
    else:
        start_at, to_work, from_work = cal.start_at, cal.to_work, cal.from_work
        for i in range(n):
            f = free[0]
            t = start_at(rl[i] if rl[i] > f else f)
            e = from_work(to_work(t) + sl[i])
            replace(free, e)
            st[i] = t
            en[i] = e
    return np.array(st), np.array(en)


def _pools_in_order(
    group: np.ndarray,
    ready: np.ndarray,
    service: np.ndarray,
    servers: np.ndarray,
    cal: WorkCalendar,
    start: np.ndarray,
    end: np.ndarray,
    idx: np.ndarray,
) -> None:
    """Solve every pool of one level; ``idx`` are the case ids reaching it, ``group`` their pool."""
    order = np.lexsort((ready, group))
    idx, group, ready, service = idx[order], group[order], ready[order], service[order]
    bounds = np.flatnonzero(np.diff(group)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(idx)]])):
        if hi > lo:
            s, e = _fcfs(ready[lo:hi], service[lo:hi], int(servers[group[lo]]), cal)
            start[idx[lo:hi]] = s
            end[idx[lo:hi]] = e


def _feed_forward(scenario: Scenario, cases: Cases, cal: WorkCalendar, run: _RunInputs) -> SimResult:
    spec = scenario.spec
    n = len(cases)
    esc_c, esc_s, esc_city = routing(scenario, cases)
    arrival, grid_service, deadline, people = run.arrival, run.grid_service, run.deadline, run.people
    nc = scenario.n_communities
    grid_n, desk_n, street_n = people[:nc], people[nc : 2 * nc], people[2 * nc :]
    start = np.full((n, N_STAGES), np.nan)
    end = np.full((n, N_STAGES), np.nan)
    vol = cases.volunteer
    g = _GRID
    start[vol, g] = arrival[vol]
    end[vol, g] = arrival[vol] + spec.volunteers.handling_hours
    s0, e0 = start[:, g].copy(), end[:, g].copy()
    idx = np.flatnonzero(~vol)
    _pools_in_order(cases.community[idx], arrival[idx], grid_service[idx], grid_n, cal, s0, e0, idx)
    start[:, g], end[:, g] = s0, e0
    street_of = scenario.community_street[cases.community]
    for stage, mask, group, servers in (
        (_COMMUNITY, esc_c, cases.community, desk_n),
        (_STREET, esc_s, street_of, street_n),
    ):
        idx = np.flatnonzero(mask)
        s1, e1 = start[:, stage].copy(), end[:, stage].copy()
        _pools_in_order(group[idx], end[idx, stage - 1], cases.service[idx, stage], servers, cal, s1, e1, idx)
        start[:, stage], end[:, stage] = s1, e1
    idx = np.flatnonzero(esc_city)
    if idx.size:
        s3 = np.array([cal.start_at(t) for t in end[idx, _STREET].tolist()])
        start[idx, _CITY] = s3
        # the scalar add, as in the event loop: the vectorised one may differ in the last bit
        end[idx, _CITY] = [cal.add(a, b) for a, b in zip(s3.tolist(), cases.service[idx, _CITY].tolist())]
    close = np.where(
        esc_city,
        end[:, _CITY],
        np.where(esc_s, end[:, _STREET], np.where(esc_c, end[:, _COMMUNITY], end[:, _GRID])),
    )
    fb = spec.ladder.feedback
    satisfied = ~unsatisfied(fb, cases.u_feedback[:, 0], late_days(close, deadline))
    satisfied &= ~np.isnan(close)
    return SimResult(
        arrival=arrival,
        channel=np.empty(0, int),
        start=start,
        end=end,
        deadline=deadline,
        first_close=close,
        final_close=close.copy(),
        satisfied=satisfied,
        reopened=np.zeros(n, bool),
        people=people,
        present=run.present,
        case_servers=run.case_servers,
        events=0,
    )


def simulate_cases(
    scenario: Scenario, cases: Cases, allocation: Allocation, cal: WorkCalendar | None = None, mode: str = "auto"
) -> SimResult:
    """Run one replication's cases under an allocation.

    ``mode``: "events" (SimPy event loop), "feed_forward" (exact recursion; only valid
    when no case can be reopened and every pool keeps its headcount every day) or
    "auto" (feed_forward when valid, else events).
    """
    if mode not in ("auto", "events", "feed_forward"):
        raise ValueError(f"mode must be auto, events or feed_forward: {mode!r}")
    if mode == "feed_forward" and reopening_possible(scenario):
        raise ValueError("mode 'feed_forward' is invalid: this scenario's feedback calls can reopen cases")
    spec = scenario.spec
    cal = cal or WorkCalendar(spec.calendar, cases.days)
    capacity = pool_capacity(scenario, allocation, cases, cal)
    constant = bool(np.all(capacity[2] == capacity[0][:, None]))
    if mode == "feed_forward" and not constant:
        raise ValueError("mode 'feed_forward' is invalid: people present change from day to day (duties, leave)")
    arrival, channel, grid_service = apply_allocation(scenario, cases, allocation)
    limits = np.array([c.deadline_working_hours for c in spec.demand.categories.values()])
    deadline = cal.add_v(arrival, limits[cases.category])
    run = _RunInputs(arrival, grid_service, deadline, *capacity)
    if mode == "feed_forward" or (mode == "auto" and constant and not reopening_possible(scenario)):
        r = _feed_forward(scenario, cases, cal, run)
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

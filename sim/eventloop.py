"""SimPy's event loop, event by event: the test oracle of the recursion (``sim.engine``).

It also runs the one network the recursion cannot: reopened cases back at their grid worker with no delay
at all. There is no process per case: a pool pulls its next case itself, so each service costs one
scheduled completion, plus a dispatch event when a case is handed over or a server frees (after every
completion at that instant: the shared tie rule of ``sim.pools``) and a wake-up when servers sit idle
or a new day may bring more people.

It leans on SimPy internals: bare events shaped like what ``Environment.step`` reads, put on the
environment's queue (``_queue``, ordered by ``_eid``) at their exact time. ``Environment.schedule`` takes a
delay and adds it to the clock, and ``now + (t - now)`` may differ from ``t`` in the last bit: two events
meant for the same instant would then fall on different ones and break the tie rule. ``pyproject.toml``
pins SimPy 4.1.x and ``tests/test_simulation.py`` tests what the loop relies on.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import simpy

from scenario.load import Scenario
from sim.calendar import WorkCalendar
from sim.demand import Cases
from sim.outcomes import Outcomes
from sim.pools import (
    CaseRecord,
    RunInputs,
    capacity_by_key,
    close_volunteer_cases,
    day_key_shift,
    more_servers_from,
    next_greater,
    staff_cases_in_order,
)
from sim.routing import CLOSE, N_STAGES, Stage, late_days, reopens, unsatisfied

__all__ = ["EventLoop"]

# stage codes as plain ints in the hot loop (an IntEnum member costs an attribute lookup per use)
_GRID, _COMMUNITY, _STREET, _CITY, _REOPEN = (int(s) for s in Stage)
_INF = math.inf
_BOUNDARY = 0  # a new day key: its cases are decided (``sim.outcomes``) before anything else at that instant
_DONE = 1  # SimPy's NORMAL priority: completions
# A pool takes its next case after every completion and hand-over at the same instant, level by level (grid,
# desk, street office): a service too short to move the clock ends at the instant it starts, and the next
# level must see its case, as the recursion's level-by-level windows do.
_DISPATCH_GRID, _DISPATCH_DESK, _DISPATCH_STREET = 2, 3, 4


class _Ev:
    """A bare SimPy-compatible event: what ``Environment.step`` reads, nothing more."""

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(self, callback, value) -> None:
        self.callbacks = [callback]
        self._ok = True
        self._value = value


class _Pool:
    """Servers that change by day (``capk``), FCFS over a static sorted stream and a heap of later jobs."""

    __slots__ = (
        "m",
        "priority",
        "busy",
        "capk",
        "up",
        "up_known",
        "s_ids",
        "s_ready",
        "ptr",
        "n_static",
        "heap",
        "wake_at",
        "active",
    )

    def __init__(
        self,
        model: EventLoop,
        priority: int,
        capk: list[int],
        static_ids: list[int] | None = None,
        static_ready: list[float] | None = None,
    ) -> None:
        self.m = model
        self.priority = priority  # of its dispatches: after the completions, level by level
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
        self.heap: list[tuple[float, int, int]] = []  # (ready, case, stage): a case is in one place at a time
        self.wake_at = _INF
        self.active = model.out.active

    def push(self, ready: float, case: int, stage: int) -> None:
        """A case handed over (or reopened), ready at ``ready``: the pool looks at it then."""
        heapq.heappush(self.heap, (ready, case, stage))
        if ready < self.wake_at:
            self._wake_at(ready)

    def dispatch(self, now: float) -> None:
        heap = self.heap
        key = int((now + self.m.shift) // 24.0)
        cap = self.capk[key]
        ptr, n_static, s_ready = self.ptr, self.n_static, self.s_ready  # hot: locals, ``ptr`` written back
        while self.busy < cap:
            if ptr < n_static:
                sr = s_ready[ptr]
                if heap and heap[0][0] < sr:  # a new case first on a tie
                    ready, case, stage = heap[0]
                    from_heap = True
                else:
                    ready, case, stage, from_heap = sr, self.s_ids[ptr], _GRID, False
            elif heap:
                ready, case, stage = heap[0]
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
                if not self.active[case]:  # a problem nobody found early: its twin comes later
                    continue
            self.busy += 1
            self.m.start(self, case, stage, now)
        self.ptr = ptr
        # every server busy: a release will look again. Only a day with more people needs a wake-up: at the
        # first day boundary (or the next job's arrival, if later) where capacity exceeds the busy servers.
        if not self.up_known:
            self.up, self.up_known = next_greater(self.capk), True
        if self.up is None:
            return
        nxt = min(s_ready[ptr] if ptr < n_static else _INF, heap[0][0] if heap else _INF)
        if nxt == _INF:
            return
        boundary = more_servers_from(self.capk, self.up, key, self.busy, self.m.day_end)
        t = nxt if nxt > boundary else boundary
        if t < self.wake_at:
            self._wake_at(t)

    def _wake_at(self, t: float) -> None:
        """A dispatch at ``t``, earlier than any already scheduled (callers check ``t < wake_at``)."""
        self.wake_at = t
        self.m.at(t, self.priority, _Ev(self._wake, t))

    def _wake(self, ev: _Ev) -> None:
        if ev._value == self.wake_at:
            self.wake_at = _INF
        self.m.now = ev._value
        self.dispatch(ev._value)


class EventLoop:
    """One replication's cases on SimPy; ``run`` fills the per-case lists (``st``, ``en``, closes, flags)."""

    def __init__(self, scenario: Scenario, cases: Cases, cal: WorkCalendar, run: RunInputs, out: Outcomes) -> None:
        spec = scenario.spec
        self.env = simpy.Environment()
        self.cal = cal
        self.out = out
        self.shift, self.day_end = day_key_shift(cal.always_on, spec.calendar.day_end_hour)
        n = len(cases)
        # next stage after each stage (-1: close), decided day by day by ``out``
        self.after_grid, self.after_comm, self.after_street = out.after_grid, out.after_comm, out.after_street
        self.unsat_x = out.unsat_extra
        self.reopen_x = out.reopen_extra
        self.log_extend = out.log.extend
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
        self.now = 0.0  # the current time (SimPy's clock: the events carry their exact times)
        self._queue, self._eid = self.env._queue, self.env._eid

        arrival = run.arrival
        nc = scenario.n_communities
        capk = capacity_by_key(run.case_servers, run.people, cal.day_len[: cases.days] > 0, len(cal.day_len))
        order = staff_cases_in_order(cases.volunteer, arrival)
        comm_sorted = order[np.argsort(cases.community[order], kind="stable")]
        bounds = np.cumsum(np.bincount(cases.community[comm_sorted], minlength=nc))
        lo = np.concatenate([[0], bounds[:-1]])
        self.grid_pools = [
            _Pool(
                self,
                _DISPATCH_GRID,
                capk[c],
                comm_sorted[lo[c] : bounds[c]].tolist(),
                arrival[comm_sorted[lo[c] : bounds[c]]].tolist(),
            )
            for c in range(nc)
        ]
        self.desk_pools = [_Pool(self, _DISPATCH_DESK, capk[nc + c]) for c in range(nc)]
        self.street_pools = [_Pool(self, _DISPATCH_STREET, capk[2 * nc + j]) for j in range(len(scenario.street_ids))]

        close_volunteer_cases(cases.volunteer, arrival, spec.volunteers.handling_hours, self.st, self.en, self._close)

    def at(self, t: float, priority: int, ev: _Ev) -> None:
        """``ev`` on SimPy's queue at exactly ``t`` (what ``Environment.schedule`` does, without the delay)."""
        heapq.heappush(self._queue, (t, priority, next(self._eid), ev))  # type: ignore[arg-type, misc]  # a bare event

    def start(self, pool: _Pool, case: int, stage: int, now: float) -> None:
        k = case * N_STAGES + stage
        self.st[k], end = self.cal.start_and_end(now, self.svc[k])
        self.log_extend((k, self.st[k], end))
        self.at(end, _DONE, _Ev(self._done, (pool, case, stage, end)))

    def _done(self, ev: _Ev) -> None:
        pool, case, stage, now = ev._value
        self.now = now
        self.en[case * N_STAGES + stage] = now
        self.events += 1
        pool.busy -= 1  # the server is free: the pool looks at its next case after this instant's completions
        waiting = pool.s_ready[pool.ptr] if pool.ptr < pool.n_static else _INF
        if pool.heap and pool.heap[0][0] < waiting:
            waiting = pool.heap[0][0]
        if waiting < _INF:
            t = waiting if waiting > now else now
            if t < pool.wake_at:
                pool._wake_at(t)
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
            self.at(end, _DONE, _Ev(self._city_done, (case, end)))

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
        if unsatisfied(fb, self.u1[case], late, self.unsat_x[case]):
            if reopens(fb, self.u2[case], late, self.reopen_x[case]):
                self.reopened[case] = True
                self.final_close[case] = math.nan
                self.grid_pools[self.community[case]].push(now + fb.delay_hours, case, _REOPEN)
        else:
            self.satisfied[case] = True

    def _boundary(self, ev: _Ev) -> None:
        k = ev._value
        self.now = self.out.boundary(k)
        self.out.close_through(k)
        t = self.out.boundary(k + 1)
        if t < self.until:
            self.at(t, _BOUNDARY, _Ev(self._boundary, k + 1))

    def run(self, until: float) -> CaseRecord:
        """Simulate until ``until`` (clock hours); the case record."""
        self.until = until
        if self.out.incremental:
            self.out.close_through(0)
            self.at(self.out.boundary(1), _BOUNDARY, _Ev(self._boundary, 1))
        for p in self.grid_pools:
            p.dispatch(0.0)
        self.env.run(until=until)
        n = len(self.first_close)
        end = np.array(self.en).reshape(n, N_STAGES)
        return CaseRecord(
            start=np.array(self.st).reshape(n, N_STAGES),
            end=end,
            first_close=np.array(self.first_close),
            final_close=np.array(self.final_close),
            satisfied=np.array(self.satisfied),
            reopened=np.array(self.reopened),
            events=self.events,
        )

"""The event loop: one year of case handling on SimPy, with lean events.

Levels: grid workers (a pool per community: workers on case duty cover each
other), the community desk (a pool per community), the street office (a pool
per street), city departments (a delay, no queue). Each pool serves first come,
first served within working hours. There is no process per case: a pool pulls
the next case itself when a server frees, so each service costs exactly one
scheduled event (a completion), plus a wake-up when servers sit idle.

When no case can be reopened (the feedback parameters make reopening
impossible) the network is feed-forward: grid → community → street → city.
Then each pool is solved exactly, in that order, by the first-come-first-served
multi-server recursion (each job takes the earliest-free server), without
events. Both modes give the same numbers; ``tests/test_simulation.py`` checks it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import simpy

from sim.allocation import Allocation
from sim.calendar import WorkCalendar
from sim.demand import Cases, apply_allocation
from sim.scenario import Scenario

__all__ = ["SimResult", "simulate_cases", "pool_sizes", "desk_staff", "grid_servers", "reopening_possible", "STAGES"]

STAGES = ("grid", "community", "street", "city", "reopen")
_INF = math.inf


class _Ev:
    """A bare SimPy-compatible event: what ``Environment.step`` reads, nothing more."""

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(self, callback, value) -> None:
        self.callbacks = [callback]
        self._ok = True
        self._value = value


class _Pool:
    """``servers`` identical servers, FCFS over a static sorted stream and a heap of later jobs."""

    __slots__ = ("m", "idle", "s_ids", "s_ready", "ptr", "n_static", "heap", "wake_at", "seq")

    def __init__(self, model: "_Model", servers: int, static_ids: list[int] | None = None,
                 static_ready: list[float] | None = None) -> None:
        self.m = model
        self.idle = servers
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
        if self.idle:
            self.dispatch(self.m.env._now)

    def dispatch(self, now: float) -> None:
        heap = self.heap
        while self.idle:
            if self.ptr < self.n_static:
                sr = self.s_ready[self.ptr]
                if heap and heap[0][0] < sr:
                    ready, _, case, stage = heap[0]
                    from_heap = True
                else:
                    ready, case, stage, from_heap = sr, self.s_ids[self.ptr], 0, False
            elif heap:
                ready, _, case, stage = heap[0]
                from_heap = True
            else:
                return
            if ready > now:
                if ready < self.wake_at:
                    self.wake_at = ready
                    self.m.env.schedule(_Ev(self._wake, None), 1, ready - now)
                return
            if from_heap:
                heapq.heappop(heap)
            else:
                self.ptr += 1
            self.idle -= 1
            self.m.start(self, case, stage, now)

    def _wake(self, ev: _Ev) -> None:
        self.wake_at = _INF
        self.dispatch(self.m.env._now)

    def release(self, now: float) -> None:
        self.idle += 1
        self.dispatch(now)


def desk_staff(scenario: Scenario, workers: np.ndarray, secretary_assistants: np.ndarray) -> np.ndarray:
    """People at each community's desk: secretary assistants x community_desk_staff_per_secretary_assistant
    (rounded half up, at least 1, never more than workers - 1), or 0 where no case reaches the desk.

    Desk staff are community workers: they are taken out of the grid pool, so a person is counted once.
    """
    spec = scenario.spec
    if not any(c.escalate_to_community > 0 for c in spec.demand.categories.values()):
        return np.zeros(len(np.atleast_1d(workers)), dtype=np.int64)
    w = np.asarray(workers, dtype=np.int64)
    d = np.floor(np.asarray(secretary_assistants) * spec.ladder.community_desk_staff_per_secretary_assistant
                 + 0.5).astype(np.int64)
    return np.minimum(np.maximum(d, 1), np.maximum(w - 1, 0))


def grid_servers(workers: np.ndarray, desk: np.ndarray, case_duty_share: float) -> np.ndarray:
    """Grid-pool servers: the workers not at the desk x case_duty_share (rounded half up, at least 1)."""
    g = np.asarray(workers, dtype=np.int64) - desk
    k = np.floor(g * case_duty_share + 0.5).astype(np.int64)
    return np.where(g > 0, np.maximum(k, 1), 0)


def pool_sizes(scenario: Scenario, allocation: Allocation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Servers per grid pool, community desk and street office.

    Desk: see :func:`desk_staff`. Grid: the other workers x case_duty_share
    (rounded half up, at least 1). Street: party-office staff x
    street_staff_share_on_cases (rounded half up, at least 1).
    """
    spec = scenario.spec
    desk = desk_staff(scenario, allocation.workers, allocation.secretary_assistants)
    grid = grid_servers(allocation.workers, desk, spec.routine.case_duty_share)
    street = np.maximum(1, np.floor(allocation.street_office_staff * spec.ladder.street_staff_share_on_cases
                                    + 0.5)).astype(np.int64)
    return grid, desk, street


@dataclass(frozen=True)
class SimResult:
    """Per-case outcomes of one replication (arrays aligned with the Cases)."""

    arrival: np.ndarray
    channel: np.ndarray
    start: np.ndarray          # (n, 5) clock hours per stage, NaN if not reached
    end: np.ndarray            # (n, 5)
    deadline: np.ndarray
    first_close: np.ndarray
    final_close: np.ndarray
    satisfied: np.ndarray      # at the first feedback call
    reopened: np.ndarray
    grid_servers: np.ndarray
    events: int


class _Model:
    def __init__(self, scenario: Scenario, cases: Cases, allocation: Allocation, cal: WorkCalendar,
                 arrival: np.ndarray, grid_service: np.ndarray, deadline: np.ndarray) -> None:
        spec = scenario.spec
        self.env = simpy.Environment()
        self.cal = cal
        n = len(cases)
        cats = list(spec.demand.categories.values())
        pc = np.array([c.escalate_to_community for c in cats])
        ps = np.array([c.escalate_to_street for c in cats])
        pcity = np.array([c.escalate_to_city for c in cats])
        u = cases.u_escalate
        cat = cases.category
        esc_c = u[:, 0] < pc[cat]
        esc_s = esc_c & (u[:, 1] < ps[cat])
        esc_city = esc_s & (u[:, 2] < pcity[cat])
        # next stage after each stage (-1: close)
        self.after_grid = np.where(esc_c, 1, -1).tolist()
        self.after_comm = np.where(esc_s, 2, -1).tolist()
        self.after_street = np.where(esc_city, 3, -1).tolist()
        svc = cases.service.copy()
        svc[:, 0] = grid_service
        self.svc = svc.ravel().tolist()            # flat: case * 5 + stage
        self.community = cases.community.tolist()
        self.street = scenario.community_street[cases.community].tolist()
        self.deadline = deadline.tolist()
        self.fb = spec.ladder.feedback
        self.u1 = cases.u_feedback[:, 0].tolist()
        self.u2 = cases.u_feedback[:, 1].tolist()
        self.st = [math.nan] * (n * 5)             # flat: case * 5 + stage
        self.en = [math.nan] * (n * 5)
        self.first_close = [math.nan] * n
        self.final_close = [math.nan] * n
        self.satisfied = [False] * n
        self.reopened = [False] * n
        self.events = 0
        self.always_on = cal.always_on

        grid_n, desk_n, street_n = pool_sizes(scenario, allocation)
        self.grid_servers = grid_n
        order = np.argsort(arrival, kind="stable")
        order = order[~cases.volunteer[order]]
        comm_sorted = order[np.argsort(cases.community[order], kind="stable")]
        bounds = np.cumsum(np.bincount(cases.community[comm_sorted], minlength=scenario.n_communities))
        lo = np.concatenate([[0], bounds[:-1]])
        arr_l = arrival
        self.grid_pools = [
            _Pool(self, int(grid_n[c]), comm_sorted[lo[c]:bounds[c]].tolist(),
                  arr_l[comm_sorted[lo[c]:bounds[c]]].tolist())
            for c in range(scenario.n_communities)]
        self.desk_pools = [_Pool(self, int(k)) for k in desk_n]
        self.street_pools = [_Pool(self, int(k)) for k in street_n]

        # Volunteer cases: closed after handling_hours; their feedback may reopen them.
        vol = np.flatnonzero(cases.volunteer)
        handling = spec.volunteers.handling_hours
        for i in vol.tolist():
            t = arrival[i] + handling
            self.st[i * 5] = arrival[i]
            self.en[i * 5] = t
            self._close(i, t)

    def start(self, pool: _Pool, case: int, stage: int, now: float) -> None:
        k = case * 5 + stage
        if self.always_on:
            self.st[k] = now
            self.env.schedule(_Ev(self._done, (pool, case, stage)), 1, self.svc[k])
            return
        cal = self.cal
        s = cal.start_at(now)
        self.st[k] = s
        self.env.schedule(_Ev(self._done, (pool, case, stage)), 1, cal.add(s, self.svc[k]) - now)

    def _done(self, ev: _Ev) -> None:
        pool, case, stage = ev._value
        now = self.env._now
        self.en[case * 5 + stage] = now
        self.events += 1
        pool.release(now)
        if stage == 0:
            nxt = self.after_grid[case]
        elif stage == 1:
            nxt = self.after_comm[case]
        elif stage == 2:
            nxt = self.after_street[case]
        else:  # stage 4: the reopened case is closed for good
            self.final_close[case] = now
            return
        if nxt == -1:
            self._close(case, now)
        elif nxt == 1:
            self.desk_pools[self.community[case]].push(now, case, 1)
        elif nxt == 2:
            self.street_pools[self.street[case]].push(now, case, 2)
        else:  # city departments: a delay in working hours, no queue
            s = self.cal.start_at(now)
            self.st[case * 5 + 3] = s
            self.env.schedule(_Ev(self._city_done, case), 1, self.cal.add(s, self.svc[case * 5 + 3]) - now)

    def _city_done(self, ev: _Ev) -> None:
        case = ev._value
        now = self.env._now
        self.en[case * 5 + 3] = now
        self.events += 1
        self._close(case, now)

    def _close(self, case: int, now: float) -> None:
        """Closure and feedback call: unsatisfied residents may reopen, more likely when late."""
        self.first_close[case] = now
        self.final_close[case] = now
        fb = self.fb
        late_days = max(0.0, now - self.deadline[case]) / 24.0
        if self.u1[case] < min(1.0, fb.unsatisfied_base + fb.unsatisfied_per_late_day * late_days):
            if self.u2[case] < min(1.0, fb.reopen_given_unsatisfied_base + fb.reopen_given_unsatisfied_per_late_day * late_days):
                self.reopened[case] = True
                self.final_close[case] = math.nan
                self.grid_pools[self.community[case]].push(now + fb.delay_hours, case, 4)
        else:
            self.satisfied[case] = True

    def run(self, until: float) -> None:
        for p in self.grid_pools:
            p.dispatch(0.0)
        self.env.run(until=until)


def reopening_possible(scenario: Scenario) -> bool:
    fb = scenario.spec.ladder.feedback
    unsatisfied = fb.unsatisfied_base > 0 or fb.unsatisfied_per_late_day > 0
    reopen = fb.reopen_given_unsatisfied_base > 0 or fb.reopen_given_unsatisfied_per_late_day > 0
    return unsatisfied and reopen


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


def _pools_in_order(group: np.ndarray, ready: np.ndarray, service: np.ndarray, servers: np.ndarray,
                    cal: WorkCalendar, start: np.ndarray, end: np.ndarray, idx: np.ndarray) -> None:
    """Solve every pool of one level; ``idx`` are the case ids reaching it, ``group`` their pool."""
    order = np.lexsort((ready, group))
    idx, group, ready, service = idx[order], group[order], ready[order], service[order]
    bounds = np.flatnonzero(np.diff(group)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(idx)]])):
        if hi > lo:
            s, e = _fcfs(ready[lo:hi], service[lo:hi], int(servers[group[lo]]), cal)
            start[idx[lo:hi]] = s
            end[idx[lo:hi]] = e


def _feed_forward(scenario: Scenario, cases: Cases, allocation: Allocation, cal: WorkCalendar,
                  arrival: np.ndarray, grid_service: np.ndarray, deadline: np.ndarray) -> SimResult:
    spec = scenario.spec
    n = len(cases)
    cats = list(spec.demand.categories.values())
    cat, u = cases.category, cases.u_escalate
    esc_c = u[:, 0] < np.array([c.escalate_to_community for c in cats])[cat]
    esc_s = esc_c & (u[:, 1] < np.array([c.escalate_to_street for c in cats])[cat])
    esc_city = esc_s & (u[:, 2] < np.array([c.escalate_to_city for c in cats])[cat])
    grid_n, desk_n, street_n = pool_sizes(scenario, allocation)
    start = np.full((n, 5), np.nan)
    end = np.full((n, 5), np.nan)
    vol = cases.volunteer
    start[vol, 0] = arrival[vol]
    end[vol, 0] = arrival[vol] + spec.volunteers.handling_hours
    esc_c &= ~vol
    s0, e0 = start[:, 0].copy(), end[:, 0].copy()
    idx = np.flatnonzero(~vol)
    _pools_in_order(cases.community[idx], arrival[idx], grid_service[idx], grid_n, cal, s0, e0, idx)
    start[:, 0], end[:, 0] = s0, e0
    street_of = scenario.community_street[cases.community]
    for stage, mask, group, servers in ((1, esc_c, cases.community, desk_n), (2, esc_s, street_of, street_n)):
        idx = np.flatnonzero(mask)
        s1, e1 = start[:, stage].copy(), end[:, stage].copy()
        _pools_in_order(group[idx], end[idx, stage - 1], cases.service[idx, stage], servers, cal, s1, e1, idx)
        start[:, stage], end[:, stage] = s1, e1
    idx = np.flatnonzero(esc_city)
    if idx.size:
        s3 = np.array([cal.start_at(t) for t in end[idx, 2].tolist()])
        start[idx, 3] = s3
        end[idx, 3] = cal.add_v(s3, cases.service[idx, 3])
    close = np.where(esc_city, end[:, 3], np.where(esc_s, end[:, 2], np.where(esc_c, end[:, 1], end[:, 0])))
    fb = spec.ladder.feedback
    late_days = np.maximum(0.0, close - deadline) / 24.0
    satisfied = ~(cases.u_feedback[:, 0] < np.minimum(1.0, fb.unsatisfied_base + fb.unsatisfied_per_late_day * late_days))
    satisfied &= ~np.isnan(close)
    return SimResult(arrival=arrival, channel=np.empty(0, int), start=start, end=end, deadline=deadline,
                     first_close=close, final_close=close.copy(), satisfied=satisfied,
                     reopened=np.zeros(n, bool), grid_servers=grid_n, events=0)


def simulate_cases(scenario: Scenario, cases: Cases, allocation: Allocation,
                   cal: WorkCalendar | None = None, mode: str = "auto") -> SimResult:
    """Run one replication's cases under an allocation.

    ``mode``: "events" (SimPy event loop), "feed_forward" (exact recursion; only valid
    when no case can be reopened) or "auto" (feed_forward when valid, else events).
    """
    if mode not in ("auto", "events", "feed_forward"):
        raise ValueError(f"mode must be auto, events or feed_forward: {mode!r}")
    if mode == "feed_forward" and reopening_possible(scenario):
        raise ValueError("mode 'feed_forward' is invalid: this scenario's feedback calls can reopen cases")
    spec = scenario.spec
    cal = cal or WorkCalendar(spec.calendar, cases.days)
    arrival, channel, grid_service = apply_allocation(scenario, cases, allocation)
    limits = np.array([c.deadline_working_hours for c in spec.demand.categories.values()])
    deadline = cal.add_v(arrival, limits[cases.category])
    if mode == "feed_forward" or (mode == "auto" and not reopening_possible(scenario)):
        r = _feed_forward(scenario, cases, allocation, cal, arrival, grid_service, deadline)
        return SimResult(**{**r.__dict__, "channel": channel})
    model = _Model(scenario, cases, allocation, cal, arrival, grid_service, deadline)
    model.run(until=cal.horizon_hours - 24.0)
    n = len(cases)
    return SimResult(arrival=arrival, channel=channel, start=np.array(model.st).reshape(n, 5),
                     end=np.array(model.en).reshape(n, 5),
                     deadline=deadline, first_close=np.array(model.first_close),
                     final_close=np.array(model.final_close), satisfied=np.array(model.satisfied),
                     reopened=np.array(model.reopened), grid_servers=model.grid_servers, events=model.events)

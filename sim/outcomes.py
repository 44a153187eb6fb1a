"""What staff time and money buy residents: problems found early or late, the fund, resolution.

One definition for both engines (``sim.engine``'s recursion and ``sim.eventloop``), decided day by day while
they run:

* **Found early or late** (``discovery``). A problem on the grid channel of a category a grid duty ``finds``
  (patrols, household visits) is found by that duty as often as the duty was done lately: the share of its
  hours done in the community over the last ``lookback_working_days`` working days (``sim.dayledger``).
  Otherwise it surfaces later on a hotline as a resident's call: another row of the case record, its
  *twin* (``Cases.twin_of``), drawn with the case (same community, category and service times; arrival later
  by ``surface_delay``), escalating more, resolved less often and leaving the resident less satisfied.
  Exactly one of the two is *active*; the other never reaches anyone.
* **The people-service fund** (``service_fund``). Cases whose fix costs money pay it from their community's
  fund, released in tranches over the year, in the order they arrive. A fix above the approval limit goes up
  to the street office for approval. An unpaid case goes up to city departments (they pay; slower) or closes
  at its level, rarely resolved.
* **Resolved, not only closed.** Whether the problem was solved depends on the category, the level that
  closes it, the money (above) and how it was found; an unresolved case makes the resident more likely to
  be unsatisfied at the feedback call and to complain again (``sim.routing``).

Day keys (``sim.pools.day_key_shift``): a clock time belongs to the working day whose hours come next; day
key ``k`` begins at ``B_k = (k - 1) * 24 + day_end``. At ``B_k`` every service of earlier working days has
started, so the duty account of those days is complete: the engines call ``close_through(k)`` there, before
any case of key ``k`` is taken, and every decision about cases of key ``k`` is made then, from those days
only. Without discovery nothing depends on the run, and everything is decided before it starts.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from scenario.load import Scenario
from scenario.spec import ServiceFundSpec
from sim.calendar import WorkCalendar
from sim.dayledger import CaseHours, working_days
from sim.demand import PER_CASE, Cases
from sim.duties import DutyPlan, DutySums, duty_plan, measured_days, restricted
from sim.pools import RunInputs, day_key_shift
from sim.routing import CLOSE, Stage, routing

__all__ = [
    "Outcomes",
    "extend_rows",
    "released_years",
    "FUNDED",
    "NO_MONEY",
    "UNFUNDED_TO_CITY",
    "UNFUNDED_CLOSED",
    "LEVELS",
]

# ``Outcomes.funded`` per row
NO_MONEY, FUNDED, UNFUNDED_TO_CITY, UNFUNDED_CLOSED = 0, 1, 2, 3
LEVELS = ("grid", "community", "street", "city")  # the level that closes a case, by highest stage reached
_NO_ACTIVITY = np.ones((0, 0))  # ``decide_rows``' activity where no duty finds problems (not read)


def _finding_duties(scenario: Scenario) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Duty columns (in ``duties.scheduled`` order) that find problems, the share of each category's grid-channel
    problems each finds (categories x those duties) and whether a miss makes the case urgent."""
    duties = scenario.spec.duties
    if duties is None or scenario.spec.discovery is None:
        return [], np.zeros((len(scenario.spec.demand.categories), 0)), np.zeros(0, bool)
    cats = list(scenario.spec.demand.categories)
    cols, shares, urgent = [], [], []
    for j, d in enumerate(duties.scheduled.values()):
        if d.finds:
            cols.append(j)
            shares.append([d.finds.get(c, 0.0) for c in cats])
            urgent.append(d.urgent_when_missed)
    return cols, np.array(shares, float).T.reshape(len(cats), len(cols)), np.array(urgent, bool)


def extend_rows(scenario: Scenario, cases: Cases, cal: WorkCalendar, run: RunInputs) -> tuple[Cases, RunInputs]:
    """The drawn cases and, after them, one twin per problem a grid duty finds: the same problem surfacing late
    (see the module docstring). Returns the rows and the run's per-row inputs for them."""
    n = len(cases)
    spec = scenario.spec
    disc = spec.discovery
    cols, shares, urgent = _finding_duties(scenario)
    finder = np.full(n, -1, np.int64)
    if cols and cases.u_discovery is not None and cases.surface_delay_hours is not None:
        grid_channel = list(spec.demand.channels).index(disc.grid_channel)  # type: ignore[union-attr]
        cum = np.cumsum(shares, axis=1)  # (categories, finding duties), nondecreasing along a row
        u = cases.u_discovery[:, 0].astype(float)
        # some duty finds it (u below one of its category's cumulative shares: below the last) ...
        cand = np.flatnonzero((cases.channel == grid_channel) & ~cases.volunteer & (u < cum[:, -1][cases.category]))
        # ... the first whose cumulative share is above u
        finder[cand] = np.argmax(u[cand, None] < cum[cases.category[cand]], axis=1)
    twins = np.flatnonzero(finder >= 0)
    base = replace(cases, twin_of=np.full(n, -1, np.int64))
    if twins.size == 0:
        return base, run
    assert disc is not None and cases.surface_delay_hours is not None
    fields: dict[str, object] = {}
    for f in PER_CASE:
        x = getattr(cases, f)
        if x is not None:
            fields[f] = np.concatenate([x, x[twins]])
    arrival_t = cases.arrival[twins] + cases.surface_delay_hours[twins]
    fields["arrival"] = np.concatenate([cases.arrival, arrival_t])
    surfaced = list(spec.demand.channels).index(disc.surfaced_channel)
    fields["channel"] = np.concatenate([cases.channel, np.full(twins.size, surfaced)])
    fields["volunteer"] = np.concatenate([cases.volunteer, np.zeros(twins.size, bool)])
    rows = replace(cases, **fields, twin_of=np.concatenate([np.full(n, -1, np.int64), twins]))  # type: ignore[arg-type]
    limits = np.array([c.deadline_working_hours for c in spec.demand.categories.values()])
    factor = np.where(urgent[finder[twins]], disc.urgent_deadline_factor, 1.0)
    deadline_t = cal.add_v(arrival_t, limits[cases.category[twins]] * factor)
    ext = RunInputs(
        arrival=np.concatenate([run.arrival, arrival_t]),
        channel=np.concatenate([run.channel, np.full(twins.size, surfaced)]),
        grid_service=np.concatenate([run.grid_service, cases.service[twins, 0]]),
        deadline=np.concatenate([run.deadline, deadline_t]),
        people=run.people,
        present=run.present,
        case_servers=run.case_servers,
    )
    return rows, ext


def released_years(fund: ServiceFundSpec | None, key: int) -> float:
    """Years' worth of fund released by day key ``key``: equal tranches from day 0, the year repeating (no
    fund section: the whole year at once)."""
    per = 1 if fund is None else fund.tranches_per_year
    year, day = divmod(max(key, 0), 365)
    return year + (math.floor(day * per / 365.0) + 1) / per


class Outcomes:
    """The per-row decisions of one replication, made day by day (see the module docstring).

    The engines read ``active`` (skip a row that is not), ``after_grid``, ``after_comm``, ``after_street``
    (the stage after each level, ``sim.routing.CLOSE`` when a case closes there) and the feedback extras
    ``unsat_extra`` and ``reopen_extra``; they report every service they start (``log``: flat triples of
    service number, clock start and end) and call ``close_through(k)`` at each day key's boundary (when
    ``incremental``) and ``finish()`` at the end.
    """

    def __init__(
        self,
        scenario: Scenario,
        rows: Cases,
        run: RunInputs,
        cal: WorkCalendar,
        service_fund_yuan: np.ndarray,
        only: tuple[np.ndarray, np.ndarray] | None = None,
        duty_windows: tuple[tuple[int, int | None], ...] = (),
    ) -> None:
        """The rows' routing, resolution and fund arrays, the day ledger (``_init_ledger``); ``only``: the cases'
        communities and streets (a district's task), whose pools' duties alone are kept. Long because it lays
        out every per-row array the engines read."""
        spec = scenario.spec
        self.scenario, self.rows, self.run, self.cal = scenario, rows, run, cal
        self._only = only
        n_rows = len(rows)
        twin_of = rows.twin_of if rows.twin_of is not None else np.full(n_rows, -1, np.int64)
        self.twin_of = twin_of
        is_twin = twin_of >= 0
        self.n_drawn = int((~is_twin).sum())
        self.twin = np.full(self.n_drawn, -1, np.int64)
        self.twin[twin_of[is_twin]] = np.flatnonzero(is_twin)
        disc = spec.discovery
        factor = np.where(is_twin, disc.escalation_factor, 1.0) if disc is not None else None
        esc_c, esc_s, esc_city = routing(scenario, rows, factor)
        self._active = np.frombuffer(bytearray((~is_twin).astype(np.uint8).tobytes()), dtype=np.uint8)
        self.active = self._active.data  # a memoryview the engines index
        # the stage after each level: numpy arrays the compiled loops change (the fund sends a case up), and
        # memoryviews of the same memory the event loop indexes (Python ints, as fast as a list's)
        self._ag, self._ac, self._as = (
            np.where(esc, int(stage), CLOSE).astype(np.int64)
            for esc, stage in ((esc_c, Stage.COMMUNITY), (esc_s, Stage.STREET), (esc_city, Stage.CITY))
        )
        self.after_grid, self.after_comm, self.after_street = self._ag.data, self._ac.data, self._as.data
        self.unsat_extra = np.zeros(n_rows)
        self.reopen_extra = np.zeros(n_rows)
        self.resolved_first = np.zeros(n_rows, bool)
        self.funded = np.zeros(n_rows, np.int8)
        self.paid_yuan = np.zeros(n_rows)
        cats = list(spec.demand.categories.values())
        self._res = np.array(  # (categories, closing level)
            [
                [1.0] * 4
                if c.resolution is None
                else [c.resolution.grid, c.resolution.community, c.resolution.street, c.resolution.city]
                for c in cats
            ]
        )
        self._res_vol = np.array([1.0 if c.resolution is None else c.resolution.volunteer for c in cats])
        money_share = np.array(
            [0.0 if c.resolution is None else c.resolution.needs_money_share for c in cats], dtype=float
        )
        u_money = rows.u_money if rows.u_money is not None else np.ones((n_rows, 2), np.float32)
        self._u_money = u_money
        self.needs_money = (u_money[:, 0] < money_share[rows.category]) & ~rows.volunteer
        fb = spec.ladder.feedback
        self._fb = fb
        self._u_res = rows.u_resolve if rows.u_resolve is not None else np.zeros((n_rows, 2), np.float32)
        self._u_res0 = np.ascontiguousarray(self._u_res[:, 0])
        self._decide_args: tuple[tuple, tuple] | None = None  # ``decide_rows``' arrays, when first needed
        self._res_args: tuple | None = None
        # the fund: per community, tranches released by day key
        nc = scenario.n_communities
        self.fund = spec.service_fund
        self.spent_yuan = np.zeros(nc)
        self.exhausted_day = np.full(nc, np.nan)  # first day key a fix found the fund empty
        self.unfunded = np.zeros(nc, np.int64)
        self.fund_yuan = np.asarray(service_fund_yuan, float)  # a year, per community
        self._duty_windows = duty_windows
        self._init_ledger(scenario, rows, run, cal)
        self._decide_volunteers()
        if not self.incremental:
            self._decide_keys(int(self._order_key[-1]) if len(self._order) else -1)

    def _init_ledger(self, scenario: Scenario, rows: Cases, run: RunInputs, cal: WorkCalendar) -> None:
        """Day keys and the order decisions are made in; the day ledger (case hours, and the duty account when a
        duty finds problems)."""
        spec = scenario.spec
        nc = scenario.n_communities
        disc = spec.discovery
        # day keys and the order decisions are made in: by key, then readiness, then row
        self.shift, self.day_end = day_key_shift(cal.always_on, spec.calendar.day_end_hour)
        key = np.floor((run.arrival + self.shift) / 24.0).astype(np.int64)
        todo = np.flatnonzero(~rows.volunteer)
        # by key, readiness, row: the key grows with the time, so a stable sort by time alone gives that order
        from sim.arrivalorder import order_of_runs

        # the drawn cases come in order of arrival, those a mobile grid worker found earlier too (by one lead), the
        # problems found late last: sorted as three runs merged (the same order as a stable sort)
        n_drawn = int((rows.twin_of < 0).sum()) if rows.twin_of is not None else len(rows)
        shifted = np.zeros(len(rows), bool)
        shifted[:n_drawn] = run.arrival[:n_drawn] != rows.arrival[:n_drawn]
        cls = np.where(np.arange(len(rows)) >= n_drawn, 2, shifted.astype(np.int8))
        todo = todo[order_of_runs(run.arrival[todo], cls[todo])]
        self._order = todo
        self._order_key = key[todo]
        self._ptr = 0
        self.next_key = 0  # the first day key not decided yet
        # the day ledger: case hours, and the duty account when a duty finds problems
        self.days = rows.days
        n_pools = len(run.people)
        self.hours = CaseHours(cal, self.days, n_pools)
        self.log: list[float] = []  # services started: flat (service number, start, end)
        self._logged = 0
        self._wdays = working_days(cal, self.days)
        nc = scenario.n_communities
        self._grid_pool = rows.community.astype(np.int64)
        self._street_pool = (2 * nc + scenario.community_street[rows.community]).astype(np.int64)
        cols, self._finds, _ = _finding_duties(scenario)
        self._cols = np.array(cols, np.int64)
        self.incremental = bool(cols) and spec.duties is not None
        if self.incremental:
            assert disc is not None
            self._plan = duty_plan(scenario)
            plan, self._pools = restricted(self._plan, self._only)
            self._plan_stepped = plan
            self._mine = plan.n  # communities stepped: the first rows of the stepper's pools
            self._comm = self._pools[: plan.n]
            self._stepper = plan.stepper()
            self._present = run.present[self._pools][:, self._wdays].astype(float)
            self._day_len = cal.day_len[self._wdays]
            look = disc.lookback_working_days
            # the finding duties' recent hours of the communities stepped (the city's, or a district's)
            self._recent = np.zeros((look, len(self._comm), len(cols)))
            self._recent_days = 0
            self._due_per_day = self._plan.g[self._comm][:, self._cols]
            self._act = np.ones((nc, len(cols)))  # ``activity``: 1 where nothing is stepped (no cases there)
            self._stepped = 0
            self._init_duty_sums(cal, plan)

    def _init_duty_sums(self, cal: WorkCalendar, plan: DutyPlan) -> None:
        """The duty account's sums over the measured days of each window asked for, as the days are stepped here:
        one array for every window's due, done and over hours (``step_duty_days`` adds to it), viewed by a
        ``DutySums`` per window."""
        windows = list(dict.fromkeys(self._duty_windows))
        pools, k = plan.g.shape
        self._measured = np.zeros((len(windows), len(self._wdays)), np.bool_)
        for w, window in enumerate(windows):
            self._measured[w] = measured_days(cal, self.days, *window)
        self._sum_arrays = np.zeros((len(windows), 3, pools, k))
        self._helped = np.zeros((len(windows), plan.n))
        self._sums = {}
        for w, window in enumerate(windows):
            due, done, over = self._sum_arrays[w]
            self._sums[window] = DutySums(self._pools, self._measured[w], due, done, over, self._helped[w])

    def _pool_of(self, k: np.ndarray) -> np.ndarray:
        """The pool that serves each service ``k`` (flat: row * stages + stage; the city's has none, nor a log)."""
        row, stage = np.divmod(k, len(Stage))
        grid = self._grid_pool[row]
        nc = self.scenario.n_communities
        street = self._street_pool[row]
        return np.where(stage == Stage.COMMUNITY, nc + grid, np.where(stage == Stage.STREET, street, grid))

    def boundary(self, k: int) -> float:
        """The clock time at which day key ``k`` begins."""
        return (k - 1) * 24.0 + self.day_end

    # ------------------------------------------------------------------ the day ledger
    def _take_log(self) -> None:
        if self._logged == len(self.log):
            return
        x = np.array(self.log[self._logged :]).reshape(-1, 3)
        self._logged = len(self.log)
        k = x[:, 0].astype(np.int64)
        pool = self._pool_of(k)
        self.hours.add(k, pool, x[:, 1], x[:, 2])

    def add_services(self, k: np.ndarray, start: np.ndarray, end: np.ndarray, pool: np.ndarray) -> None:
        """Services started, as arrays, with the pool serving each (the compiled engine's; ``log`` holds the
        other engines')."""
        if len(k):
            self.hours.add(k, pool, start, end)

    def _close_days(self, upto: int) -> None:
        """Close working days before index ``upto`` and work them in the duty account."""
        self._take_log()
        self.hours.close(upto)
        if not self.incremental:
            return
        first, upto = self._stepped, self.hours.closed
        if upto <= first:
            return
        from sim.daykernel import step_duty_days

        st = self._stepper
        step_duty_days(
            first,
            upto,
            self.hours.busy,
            self._pools,
            self._present,
            self._day_len,
            st.g,
            st.H,
            st.O,
            st.window,
            st.carry,
            st.order,
            st.n_first,
            st.n,
            self._measured,
            self._sum_arrays,
            self._helped,
            self._recent,
            self._mine,
            self._cols,
        )
        st.day += upto - first
        self._recent_days = min(self._recent_days + upto - first, self._recent.shape[0])
        self._stepped = upto

    def activity(self) -> np.ndarray:
        """(communities, finding duties): share of each finding duty's hours done over the lookback (1 before
        any day is worked, where the duty asks nothing, and in the communities not stepped: a district's task
        has no cases elsewhere). The array is this object's own buffer, updated in place by the next call: read
        it before then (``found_late`` does), do not keep it."""
        if self._recent_days == 0:
            return self._act
        if self._recent.shape[1] * self._recent.shape[2] == 1:  # numpy sums one cell's slots pairwise: its own sum
            due = self._due_per_day * self._recent_days
            with np.errstate(invalid="ignore", divide="ignore"):
                self._act[self._comm] = np.where(
                    due > 0, np.minimum(1.0, self._recent.sum(axis=0) / np.where(due > 0, due, 1.0)), 1.0
                )
            return self._act
        from sim.daykernel import activity_into

        activity_into(self._act, self._comm, self._recent, self._due_per_day, float(self._recent_days))
        return self._act

    def close_through(self, k: int) -> None:
        """Everything up to day key ``k``: close the working days before it, decide its cases."""
        while self.next_key <= k:
            kk = self.next_key
            self._close_days(int(np.searchsorted(self._wdays, kk, side="left")))
            self._decide_keys(kk)

    def finish(self) -> np.ndarray:
        """Close every working day of the run; returns case hours per pool and working day."""
        self._close_days(self.hours.n_days)
        return self.hours.busy

    def duty_sums(self) -> dict[tuple[int, int | None], DutySums] | None:
        """After ``finish``: the duty account's sums over each of ``duty_windows`` (measured from, to), as the
        run stepped its days (``sim.duties.account_duties`` takes them instead of stepping the days again);
        None when the run steps no days (no duty finds problems)."""
        if not self.incremental:
            return None
        for sums in self._sums.values():
            sums.undone = self._stepper.H.copy()
        return self._sums

    # ------------------------------------------------------------------ decisions
    def _decide_volunteers(self) -> None:
        vol = np.flatnonzero(self.rows.volunteer)
        p = self._res_vol[self.rows.category[vol]]
        self.resolved_first[vol] = self._u_res[vol, 0] < p
        self.reopen_extra[vol] = np.where(self.resolved_first[vol], 0.0, self._fb.reopen_if_unresolved)
        self.unsat_extra[vol] = np.where(self.resolved_first[vol], 0.0, self._fb.unsatisfied_if_unresolved)

    def _decide_keys(self, upto: int) -> None:
        """Decide every row of day keys ``next_key .. upto`` (in key order, one key at a time)."""
        end = int(np.searchsorted(self._order_key, upto, side="right"))
        start = self._ptr
        while self._ptr < end:
            key = int(self._order_key[self._ptr])
            stop = int(np.searchsorted(self._order_key, key, side="right"))
            if self.incremental or self.fund is not None:
                self._decide(self._order[self._ptr : stop], key, resolve=self.incremental)
            self._ptr = stop
        if not self.incremental and end > start:  # each row's resolution is its own: all at once
            rows = self._order[start:end]
            self._resolve(rows[self._active[rows] == 1])
        self.next_key = max(self.next_key, upto + 1)

    def _decide(self, rows_k: np.ndarray, key: int, resolve: bool = True) -> None:
        """A day key's rows (``sim.daykernel.decide_rows``): found early when its duty was done lately, else its twin
        surfaces (``incremental``); the fixes of the day's cases paid in order, an approval above the limit going
        up to the street (a fund); resolution and feedback extras (``resolve``)."""
        from sim.daykernel import decide_rows

        if self._decide_args is None:
            self._decide_args = self._decision_arrays()
        discovery, fund = self._decide_args
        act = np.ascontiguousarray(self.activity()) if self.incremental else _NO_ACTIVITY
        released = float(self._released(key)) if self.fund is not None else 0.0
        decide_rows(
            rows_k,
            self.incremental,
            discovery,
            act,
            self._active,
            self.fund is not None,
            fund,
            released,
            float(key),
            resolve,
            self._resolve_args(),
        )

    def _decision_arrays(self) -> tuple[tuple, tuple]:
        """``decide_rows``' arrays for finding problems and for the fund (placeholders where there is none)."""
        r = self.rows
        if self.incremental:
            u = r.u_discovery
            assert u is not None
            u_find, u_done = np.ascontiguousarray(u[:, 0]), np.ascontiguousarray(u[:, 1])
            cum_finds = np.ascontiguousarray(np.cumsum(self._finds, axis=1))
        else:
            u_find = u_done = np.zeros(0, np.float32)
            cum_finds = np.zeros((0, 0))
        community = np.ascontiguousarray(r.community, dtype=np.int64)
        category = np.ascontiguousarray(r.category, dtype=np.int64)
        discovery = (self.twin_of, self.twin, community, category, cum_finds, u_find, u_done)
        fund = self.fund
        limit = math.inf if fund is None or fund.approval_limit_yuan is None else float(fund.approval_limit_yuan)
        # numpy's comparison of the float32 uniforms with the share (a Python float: compared in float32)
        share = 0.0 if fund is None else fund.unfunded_to_city_share
        to_city = np.ascontiguousarray(self._u_money[:, 1] < share)
        cost = np.ascontiguousarray(np.zeros(len(r)) if r.fix_cost_yuan is None else r.fix_cost_yuan, dtype=np.float64)
        money = (
            self.needs_money,
            community,
            cost,
            to_city,
            self.spent_yuan,
            self.fund_yuan,
            limit,
            self.paid_yuan,
            self.funded,
            self.unfunded,
            self.exhausted_day,
            self._ag,
            self._ac,
            self._as,
        )
        return discovery, money

    def _released(self, key: int) -> float:
        assert self.fund is not None
        return released_years(self.fund, key)

    def _resolve(self, live: np.ndarray) -> None:
        """Whether each case will be resolved at its closure, and its feedback extras (``sim.daykernel``)."""
        from sim.daykernel import resolve_rows

        resolve_rows(live, *self._resolve_args())

    def _resolve_args(self) -> tuple:
        """``resolve_rows``' arguments after the rows (made once)."""
        if self._res_args is not None:
            return self._res_args
        fb, disc = self._fb, self.scenario.spec.discovery
        late_extra = 0.0 if disc is None else disc.unsatisfied_extra
        self._res_args = (
            self._as,
            self._ac,
            self._ag,
            self._res,
            self.rows.category,
            self.funded,
            math.nan if self.fund is None else float(self.fund.unfunded_resolution_share),
            self.twin_of,
            math.nan if disc is None else float(disc.resolution_factor),
            self._u_res0,
            np.array([fb.unsatisfied_if_unresolved, fb.reopen_if_unresolved, late_extra], dtype=np.float64),
            self.resolved_first,
            self.unsat_extra,
            self.reopen_extra,
        )
        return self._res_args

    def resolved_final(self, reopened: np.ndarray, revisited: np.ndarray) -> np.ndarray:
        """Resolved at closure, or at the reopened visit (``revisited``: the visit ended within the run)."""
        again = reopened & revisited & (self._u_res[:, 1] < self._fb.revisit_resolution_share)
        return self.resolved_first | again

    def closing_level(self) -> np.ndarray:
        """Per row, the level that closes it as routed (0 grid ... 3 city)."""
        return np.where(self._as != CLOSE, 3, np.where(self._ac != CLOSE, 2, np.where(self._ag != CLOSE, 1, 0))).astype(
            np.int8
        )

    @property
    def staff_order(self) -> np.ndarray:
        """The rows staff handle (volunteers' excluded) in order of arrival, a tie in row order: the order
        decisions are made in, and ``sim.pools.staff_cases_in_order`` of the rows (the same stable sort of the
        same times, sorted once for both). Read it, do not change it."""
        return self._order

    @property
    def is_active(self) -> np.ndarray:
        return self._active.astype(bool)

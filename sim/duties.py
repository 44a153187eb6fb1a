"""Scheduled duties, accounted after the run from the time cases leave.

Every working day each unit (a community's grid pool, its desk, a street office)
receives its scheduled duties' tasks for the day: the duty's hours a year
(``scenario.staffing``) spread evenly over the working days. The time people present
give to duties that day is their working time minus the case handling that fell
in the day (cases first: a person on a duty breaks off for a case; with a
protected share, the people kept on duties simply take no case). Duties are
worked in order of urgency (shortest due window first), each first in, first
out. Tasks undone when their window ends are overdue: they stay in the backlog
(``carry_over``) or are missed (a patrol not walked today is not walked twice
tomorrow). Desk and street duties come first; the time a community's desk
people have left then goes to the community's grid duties (ledgers, forms and
services are desk work too), so a person's spare time is never lost to the
split.

This is a daily fluid account of duty hours, not an event per task: a duty's
tasks are exchangeable hours within a unit and a day, and the account is exact
for the rule above. KPIs over the measured period (after the warm-up):
coverage = 1 - overdue hours / hours that fell due; backlog at the end of the
run; hours by duty and level; utilisation including duties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from scenario.load import Scenario
from scenario.staffing import StaffTime, staff_time
from sim.calendar import WorkCalendar
from sim.dayledger import DutyStepper, working_days


class _Run(Protocol):
    """What the duty account reads of a replication (``sim.engine.SimResult`` has it)."""

    @property
    def people(self) -> np.ndarray: ...  # per pool

    @property
    def present(self) -> np.ndarray: ...  # (pools, days)

    @property
    def busy(self) -> np.ndarray: ...  # (pools, working days) case hours


__all__ = ["DutyAccount", "DutyPlan", "DutySums", "account_duties", "duty_plan", "spare_hours", "measured_days"]


@dataclass(frozen=True)
class DutyAccount:
    """Per pool (grid pools, desks, street offices) and duty: hours over the measured period."""

    duty_ids: tuple[str, ...]
    duty_level: tuple[str, ...]
    due_hours: np.ndarray  # (pools, duties) hours that fell due
    done_hours: np.ndarray  # (pools, duties) hours done
    overdue_hours: np.ndarray  # (pools, duties) hours that passed their due date undone
    backlog_hours: np.ndarray  # (pools, duties) hours undone at the end of the run
    case_hours: np.ndarray  # (pools,) case handling
    present_hours: np.ndarray  # (pools,) working hours of the people present
    fixed_hours: np.ndarray  # (pools,) fixed duties (meetings, training)
    leave_hours: np.ndarray  # (pools,)
    desk_help_hours: np.ndarray  # (communities,) grid duty hours done by desk people in their spare time
    measured_days: float  # working days measured
    per_year: float  # hours over the measured period x per_year = hours a year
    # (pools,) case hours beyond the working hours of the people present that day: a case in progress is
    # finished by the person who started it, also on a day the draw of absences has them away
    overtime_hours: np.ndarray

    @property
    def coverage(self) -> np.ndarray:
        """Per pool: share of duty hours done by their due date (1 where nothing fell due)."""
        due = self.due_hours.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(due > 0, 1.0 - self.overdue_hours.sum(axis=1) / due, 1.0)

    @property
    def work_hours(self) -> np.ndarray:
        """Per pool: case + scheduled duty hours done (grid duty hours done by desk people in their spare
        time count at the desk)."""
        work = self.case_hours + self.done_hours.sum(axis=1)
        n = len(self.desk_help_hours)
        work[:n] -= self.desk_help_hours
        work[n : 2 * n] += self.desk_help_hours
        return work

    @property
    def worked_hours(self) -> np.ndarray:
        """Per pool: working hours of the people present, and the overtime of those finishing a case."""
        return self.present_hours + self.overtime_hours

    @property
    def utilisation(self) -> np.ndarray:
        """Per pool: work hours / worked hours, at most 1 (NaN where nobody worked: no one to be busy)."""
        worked = self.worked_hours
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(worked > 0, self.work_hours / worked, np.nan)


@dataclass(frozen=True)
class DutyPlan:
    """What the daily account needs besides the hours: each duty's hours per working day, its window and
    carry-over, and the order duties are worked in (``sim.dayledger.DutyStepper``)."""

    g: np.ndarray  # (pools, duties) hours per working day
    window: np.ndarray  # (duties,) working days a task may wait
    carry: list[bool]
    order: np.ndarray
    n_first: int
    n: int

    def stepper(self) -> DutyStepper:
        return DutyStepper(self.g, self.window, self.carry, self.order, self.n_first, self.n)


@dataclass
class DutySums:
    """The duty account's sums over some measured working days, added up day by day as the days are stepped
    (``add_day``): by ``account_duties`` replaying the run, or by the run itself (``sim.outcomes``: the days it
    stepped to decide which problems are found late are the days the account replays, with the same spare
    hours, so their sums are the same bits and the replay is skipped). ``rows``: the pools stepped;
    ``measured``: which working days count; ``undone``: hours undone after the last day (set at the end)."""

    rows: np.ndarray
    measured: np.ndarray
    due: np.ndarray  # (rows, duties)
    done: np.ndarray
    over: np.ndarray
    helped: np.ndarray  # (communities stepped,)
    undone: np.ndarray | None = None

    @classmethod
    def empty(cls, plan: DutyPlan, rows: np.ndarray, measured: np.ndarray) -> DutySums:
        pools, k = plan.g.shape
        zeros = np.zeros((pools, k))
        return cls(rows, measured, zeros, zeros.copy(), zeros.copy(), np.zeros(plan.n))

    def add_day(
        self, plan: DutyPlan, i: int, done: np.ndarray, over: np.ndarray, due_now: np.ndarray, helped: np.ndarray
    ) -> None:
        """Working day ``i``'s step (``DutyStepper.step``'s four arrays), added if the day is measured."""
        if self.measured[i]:
            self.done += done
            self.over += over
            self.due += plan.g * due_now[None, :]
            self.helped += helped


def measured_days(cal: WorkCalendar, days: int, warmup_days: int, until_day: int | None) -> np.ndarray:
    """Per working day of a run of ``days`` days: whether the duty account measures it (``warmup_days <= day <
    until_day``, default: to the end)."""
    wdays = working_days(cal, days)
    return (wdays >= warmup_days) & (wdays < (until_day if until_day is not None else days))


def duty_plan(scenario: Scenario) -> DutyPlan:
    """The duties of ``scenario`` as the daily account works them (see the module docstring)."""
    st: StaffTime = staff_time(scenario)
    n, ns = scenario.n_communities, len(scenario.street_ids)
    pools = 2 * n + ns
    k = len(st.duty_ids)
    g = np.zeros((pools, k))  # hours per working day
    unit_slice = {"grid": slice(0, n), "desk": slice(n, 2 * n), "street": slice(2 * n, pools)}
    for j, (lv, hours) in enumerate(zip(st.duty_level, st.duty_hours)):
        g[unit_slice[lv], j] = hours / st.working_days_per_year
    duties = scenario.spec.duties
    specs = list(duties.scheduled.values()) if duties is not None else []
    per_week = len(set(scenario.spec.calendar.working_weekdays))
    window = np.array([max(1, int(round(d.window_days * per_week / 7.0))) for d in specs], dtype=float)
    carry = [d.carry_over for d in specs]
    # desk and street duties first; then the desk's spare time joins its community's grid duties
    first = np.array([lv != "grid" for lv in st.duty_level], dtype=bool)
    by_window = np.argsort(window, kind="stable")
    order = np.concatenate([by_window[first[by_window]], by_window[~first[by_window]]]).astype(int)
    return DutyPlan(g, window, carry, order, int(first.sum()), n)


def restricted(plan: DutyPlan, only: tuple[np.ndarray, np.ndarray] | None) -> tuple[DutyPlan, np.ndarray]:
    """The plan of some communities' and streets' pools (``only``: their indices, ascending), in the plan's
    layout (those communities' grid pools, their desks, those street offices), and the rows of those pools
    among all (None: the whole plan, every row). A pool's account depends on its own hours and, for a grid
    pool, its community's desk: the restricted plan gives those pools the numbers the whole one does."""
    if only is None:
        return plan, np.arange(plan.g.shape[0])
    comm, streets = only
    rows = np.concatenate([comm, plan.n + comm, 2 * plan.n + streets]).astype(np.int64)
    return DutyPlan(plan.g[rows], plan.window, plan.carry, plan.order, plan.n_first, len(comm)), rows


def spare_hours(present: np.ndarray, day_len: np.ndarray, busy: np.ndarray) -> np.ndarray:
    """Hours the people present have left after case handling (pools x working days), never below 0."""
    return np.clip(present * day_len[None, :] - busy, 0.0, None)


def account_duties(
    scenario: Scenario,
    result: _Run,
    cal: WorkCalendar,
    warmup_days: int,
    until_day: int | None = None,
    only: tuple[np.ndarray, np.ndarray] | None = None,
) -> DutyAccount:
    """Run the daily duty account of one replication (see the module docstring) on the engine's case hours
    (``SimResult.busy``), with the arithmetic the engine used while it ran.

    Hours are measured on days ``warmup_days <= day < until_day`` (default: to the end). ``only``: the duties
    of these communities' and streets' pools alone (``restricted``; a district's task), the others' 0.
    """
    st: StaffTime = staff_time(scenario)
    days = result.present.shape[1]
    wdays = working_days(cal, days)
    day_len = cal.day_len[wdays]
    whole = duty_plan(scenario)
    rows = restricted(whole, only)[1]  # every pool's day by day, or only those of ``only``
    mine = slice(None) if only is None else rows  # every pool: no copy
    present = result.present[mine][:, wdays].astype(float)
    busy = result.busy[mine]
    measured = measured_days(cal, days, warmup_days, until_day)
    sums = (getattr(result, "duty_sums", None) or {}).get((warmup_days, until_day))
    if sums is not None and sums.undone is not None and _same(sums, rows, measured):  # the run stepped them
        due, done_m, over, undone, helped = (x.copy() for x in _placed_sums(whole, only, sums))
    else:
        avail = spare_hours(present, day_len, busy)
        due, done_m, over, undone, helped = _stepped(whole, only, avail, measured)
    n_pools = whole.g.shape[0]
    case_h = _placed((busy * measured[None, :]).sum(axis=1), rows, n_pools)
    present_hours = present * day_len[None, :]
    present_h = _placed((present_hours * measured[None, :]).sum(axis=1), rows, n_pools)
    overtime_h = _placed((np.clip(busy - present_hours, 0.0, None) * measured[None, :]).sum(axis=1), rows, n_pools)
    away = _away_hours(scenario, st, result.people, present_h, float((day_len * measured).sum()))
    fixed_h, leave_h = (_placed(x[mine], rows, n_pools) for x in away)  # 0 for the pools left out, as the rest
    return DutyAccount(
        st.duty_ids,
        st.duty_level,
        due,
        done_m,
        over,
        undone,
        case_h,
        present_h,
        fixed_h,
        leave_h,
        helped,
        float(measured.sum()),
        st.working_days_per_year / max(float(measured.sum()), 1.0),
        overtime_h,
    )


def _stepped(
    whole: DutyPlan, only: tuple[np.ndarray, np.ndarray] | None, avail: np.ndarray, measured: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The duty account stepped through the working days (``avail``: spare hours of the pools of ``only``,
    ``restricted``'s rows x days) on those pools: hours due, done and overdue on the ``measured`` days, hours
    undone at the end (every pool x duties, 0 for the pools left out) and grid duty hours desk people did
    (communities)."""
    plan, rows = restricted(whole, only)
    stepper = plan.stepper()
    sums = DutySums.empty(plan, rows, measured)
    for i in range(avail.shape[1]):
        sums.add_day(plan, i, *stepper.step(avail[:, i]))
    sums.undone = stepper.H.copy()
    return _placed_sums(whole, only, sums)


def _same(sums: DutySums, rows: np.ndarray, measured: np.ndarray) -> bool:
    """Whether ``sums`` were added up over these pools and measured days."""
    return np.array_equal(sums.rows, rows) and np.array_equal(sums.measured, measured)


def _placed_sums(whole: DutyPlan, only: tuple[np.ndarray, np.ndarray] | None, sums: DutySums) -> tuple[np.ndarray, ...]:
    """``sums`` (due, done, overdue, undone, desk help) in every pool's place, 0 for the pools left out."""
    assert sums.undone is not None
    if only is None:
        return sums.due, sums.done, sums.over, sums.undone, sums.helped
    n_pools = whole.g.shape[0]
    placed = (_placed(x, sums.rows, n_pools) for x in (sums.due, sums.done, sums.over, sums.undone))
    return (*placed, _placed(sums.helped, only[0], whole.n))


def _placed(x: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """Rows ``x`` placed at rows ``at`` of ``n`` rows of zeros (``x`` itself where ``at`` is every row in order)."""
    if len(at) == n and np.array_equal(at, np.arange(n)):  # ``restricted`` without ``only``
        return x
    out = np.zeros((n, *x.shape[1:]))
    out[at] = x
    return out


def _away_hours(
    scenario: Scenario, st: StaffTime, people_i: np.ndarray, present_h: np.ndarray, measured_hours: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per pool: hours away on fixed duties and on leave over the measured days (a community's absence
    counted once, by headcount, between its grid pool and its desk)."""
    n, ns = scenario.n_communities, len(scenario.street_ids)
    people = people_i.astype(float)
    head_h = people * measured_hours
    away_h = np.clip(head_h - present_h, 0.0, None)
    # a grid worker covering the desk is present at the desk: count a community's absence once, by headcount
    comm_people = people[:n] + people[n : 2 * n]
    comm_away = np.clip(head_h[:n] + head_h[n : 2 * n] - present_h[:n] - present_h[n : 2 * n], 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(comm_people > 0, people[:n] / comm_people, 0.0)
    away_h[:n], away_h[n : 2 * n] = comm_away * frac, comm_away * (1 - frac)
    level = np.array(["community"] * (2 * n) + ["street"] * ns)
    leave_share = np.array(
        [
            st.leave_hours_per_person / st.working_hours_per_person / st.unavailable_share[lv]
            if st.unavailable_share[lv] > 0
            else 0.0
            for lv in level
        ]
    )
    leave_h = away_h * np.minimum(leave_share, 1.0)
    return away_h - leave_h, leave_h

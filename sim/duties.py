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

import numpy as np

from scenario.load import Scenario
from scenario.staffing import StaffTime, staff_time
from sim.calendar import WorkCalendar
from sim.demand import Cases
from sim.engine import SimResult
from sim.routing import Stage

__all__ = ["DutyAccount", "account_duties", "busy_by_day"]


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


def busy_by_day(pool: np.ndarray, ws: np.ndarray, we: np.ndarray, n_pools: int, bounds: np.ndarray) -> np.ndarray:
    """Busy hours of each pool between consecutive ``bounds`` (cumulative working hours).

    Intervals [ws, we] in cumulative working hours; F_p(c) = sum_i (c - ws_i)+ - (c - we_i)+ is the
    busy time of pool p before c, evaluated with sorted arrays; returns (n_pools, len(bounds) - 1).
    """
    out = np.zeros((n_pools, len(bounds)))
    for x, sign in ((ws, 1.0), (we, -1.0)):
        order = np.lexsort((x, pool))
        p, v = pool[order], x[order]
        starts = np.searchsorted(p, np.arange(n_pools), side="left")
        ends = np.searchsorted(p, np.arange(n_pools), side="right")
        for q in np.flatnonzero(ends > starts):
            vals = v[starts[q] : ends[q]]
            k = np.searchsorted(vals, bounds, side="left")
            # each pool's own running sum: a pool's hours do not depend on other pools' cases (a district
            # simulated alone gives the same bits, ``sim.split``)
            s = np.concatenate([[0.0], np.cumsum(vals)])[k]
            out[q] += sign * (k * bounds - s)
    return np.diff(out, axis=1)


def _case_busy(
    scenario: Scenario, cases: Cases, result: SimResult, cal: WorkCalendar, bounds: np.ndarray
) -> np.ndarray:
    """(pools, working days) case handling hours per pool and working day."""
    n = scenario.n_communities
    street = scenario.community_street[cases.community]
    parts = [
        (cases.community, Stage.GRID, ~cases.volunteer),
        (cases.community, Stage.REOPEN, None),
        (n + cases.community, Stage.COMMUNITY, None),
        (2 * n + street, Stage.STREET, None),
    ]
    pools, ws, we = [], [], []
    horizon = cal.cum[-1]
    for pool, stage, keep in parts:
        s, e = result.start[:, stage], result.end[:, stage]
        ok = ~np.isnan(s)
        if keep is not None:
            ok &= keep
        w0 = cal.to_work_v(s[ok])
        w1 = np.where(np.isnan(e[ok]), horizon, cal.to_work_v(np.nan_to_num(e[ok], nan=0.0)))
        pools.append(pool[ok])
        ws.append(w0)
        we.append(np.maximum(w1, w0))
    return busy_by_day(
        np.concatenate(pools), np.concatenate(ws), np.concatenate(we), 2 * n + len(scenario.street_ids), bounds
    )


def account_duties(
    scenario: Scenario,
    cases: Cases,
    result: SimResult,
    cal: WorkCalendar,
    warmup_days: int,
    until_day: int | None = None,
) -> DutyAccount:
    """Run the daily duty account of one replication (see the module docstring).

    Hours are measured on days ``warmup_days <= day < until_day`` (default: to the end).
    """
    st: StaffTime = staff_time(scenario)
    n, ns = scenario.n_communities, len(scenario.street_ids)
    pools = 2 * n + ns
    days = cases.days
    day_len = cal.day_len[:days]
    wdays = np.flatnonzero(day_len > 0)
    bounds = np.concatenate([cal.cum[wdays], [cal.cum[wdays[-1]] + day_len[wdays[-1]]]]) if wdays.size else np.zeros(1)
    busy = _case_busy(scenario, cases, result, cal, bounds) if wdays.size else np.zeros((pools, 0))
    present = result.present[:, wdays].astype(float)
    avail = np.clip(present * day_len[wdays][None, :] - busy, 0.0, None)
    measured = (wdays >= warmup_days) & (wdays < (until_day if until_day is not None else days))

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
    n_first = int(first.sum())

    H, due, done_m, over, helped = _daily_account(avail, g, window, carry, order, n_first, measured, n)
    case_h = (busy * measured[None, :]).sum(axis=1)
    present_hours = present * day_len[wdays][None, :]
    present_h = (present_hours * measured[None, :]).sum(axis=1)
    overtime_h = (np.clip(busy - present_hours, 0.0, None) * measured[None, :]).sum(axis=1)
    fixed_h, leave_h = _away_hours(scenario, st, result.people, present_h, float((day_len[wdays] * measured).sum()))
    return DutyAccount(
        st.duty_ids,
        st.duty_level,
        due,
        done_m,
        over,
        H.copy(),
        case_h,
        present_h,
        fixed_h,
        leave_h,
        helped,
        float(measured.sum()),
        st.working_days_per_year / max(float(measured.sum()), 1.0),
        overtime_h,
    )


def _daily_account(
    avail: np.ndarray,
    g: np.ndarray,
    window: np.ndarray,
    carry: list[bool],
    order: np.ndarray,
    n_first: int,
    measured: np.ndarray,
    n: int,
) -> tuple[np.ndarray, ...]:
    """Day by day, each pool's spare hours (``avail``, pools x working days) go to its duties in ``order``
    (desk and street duties first, then the desk's spare time joins its community's grid duties); ``g`` is
    each duty's hours per working day. Returns hours undone at the end, and over the measured days: hours
    due, done, overdue, and grid duty hours done by desk people."""
    pools, k = g.shape
    H = np.zeros((pools, k))
    O = np.zeros((pools, k))
    due = np.zeros((pools, k))
    done_m = np.zeros((pools, k))
    over = np.zeros((pools, k))
    helped = np.zeros(n)  # grid duty hours done by desk people (measured)
    for i in range(avail.shape[1]):
        a = avail[:, i].copy()
        m = bool(measured[i])
        own_grid = a[:n].copy()
        left_desk = np.zeros(n)
        for step, j in enumerate(order):
            if step == n_first:
                left_desk = a[n : 2 * n].copy()
                a[:n] += left_desk
                a[n : 2 * n] = 0.0
            gj = g[:, j]
            H[:, j] += gj
            done = np.minimum(H[:, j], a)
            a -= done
            H[:, j] -= done
            O[:, j] -= np.minimum(done, O[:, j])
            new_o = np.maximum(O[:, j], H[:, j] - gj * (window[j] - 1))
            if m:
                done_m[:, j] += done
                over[:, j] += new_o - O[:, j]
                if i - window[j] + 1 >= 0:
                    due[:, j] += gj
            if carry[j]:
                O[:, j] = new_o
            else:
                H[:, j] -= new_o
                O[:, j] = 0.0
        if m:
            spent_grid = own_grid + left_desk - a[:n]
            helped += np.clip(spent_grid - own_grid, 0.0, None)
    return H, due, done_m, over, helped


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

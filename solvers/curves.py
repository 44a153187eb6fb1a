"""Per-community service curves: expected on-time share as a function of workers.

The default curve (``service_curves``) combines what theory reaches with what it does not:

* **Structure** (no queue): a case of category j is on time when its path along
  the ladder (grid handling + travel, then with their probabilities the desk,
  the street office and the city departments' delay, plus a reopened visit
  after an unsatisfied feedback call) fits in its deadline, in working hours.
  ``A_j`` = P(path <= deadline) by Monte Carlo over the scenario's service
  distributions (20,000 paths per category, fixed seed).
* **The grid queue**: the community's grid workers present and taking cases
  (``scenario.staffing``: the desk split, leave, fixed duties, a protected share)
  form an M/M/k queue (Erlang C) with the non-volunteer cases per working hour
  (reopened visits included) and the mean grid handling time. A case waiting W
  is on time when W + path <= deadline:
  ``P = A_j - C(k, a) E[exp(-theta (D_j - X)); X <= D_j]``, ``theta = (k - a) / s``,
  with k mixed over the two whole numbers around the expected servers present.
* Volunteer-handled cases are on time unless the feedback call reopens them and
  the grid worker's revisit (after the call's delay) does not fit in the deadline:
  volunteers work on weekends and surge days, so their handling takes none of the
  deadline's working hours.

Queueing at the desk and the street office is not in the theory (both are
lightly loaded on the bundled scenarios under "cases first"); the
simulation-optimisation loop fits a factor per community from simulation
(``refit``) and reports the remaining error against fresh replications.
The allocator takes curves as an input (``Curves``) and never computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scenario.allocation import MAXIMUM
from scenario.load import Scenario
from scenario.staffing import StaffTime, annual_cases, split_desk, staff_time, volunteer_share
from sim.distributions import from_uniforms
from solvers.outcomecurves import OutcomeCurves, outcome_curves, share_above
from solvers.queueing import erlang_c_vector

__all__ = ["Curves", "service_curves", "structural_on_time", "volunteer_on_time"]

_SAMPLES = 20_000


@dataclass(frozen=True)
class Curves:
    """``share[c, i]`` = expected on-time share of community c with ``workers[i]`` workers."""

    workers: np.ndarray  # (m,) worker counts evaluated, ascending, starting at 0
    share: np.ndarray  # (communities, m)
    cases_per_year: np.ndarray  # (communities,)
    source: str = "theory"
    outcomes: OutcomeCurves | None = None  # resolution and satisfaction against the fund and duties

    def evaluate(self, workers: np.ndarray) -> np.ndarray:
        """Per community: the expected on-time share with ``workers`` (flat past the curve's last point)."""
        w = np.clip(np.asarray(workers, dtype=int), 0, int(self.workers[-1]))
        return self.share[np.arange(len(w)), w]

    def on_time_share(self, workers: np.ndarray) -> float:
        """Expected on-time share of the city's cases with ``workers`` per community (weighted by cases)."""
        return float(self.evaluate(workers) @ self.cases_per_year / self.cases_per_year.sum())

    def overdue(self, workers: np.ndarray) -> float:
        """Expected overdue cases a year, city-wide, with ``workers`` per community."""
        return float(self.cases_per_year @ (1 - self.evaluate(workers)))

    def overdue_waiting(self, workers: np.ndarray) -> float:
        """Of ``overdue(workers)``, those late for waiting for a grid worker: the rest would be late with any
        number of workers (the escalation levels, the city departments' delay, reopened visits)."""
        return self.overdue(workers) - float(self.cases_per_year @ (1 - self.share[:, -1]))

    def city_share(self, workers: np.ndarray) -> float:
        """The expected on-time share city-wide (case-weighted) with ``workers`` per community."""
        cases = self.cases_per_year
        return float(self.evaluate(workers) @ cases / cases.sum())

    def min_workers(self, target: float) -> np.ndarray:
        """Fewest workers reaching ``target`` per community (-1 if unreachable within the curve)."""
        ok = self.share >= target - 1e-12
        first = np.argmax(ok, axis=1)
        return np.where(ok.any(axis=1), self.workers[first], -1)

    def concave_cuts(self, c: int, lo: int, hi: int) -> list[tuple[float, float]]:
        """Lines (intercept, slope) of the upper concave hull of the curve on [lo, hi]."""
        xs = np.arange(lo, hi + 1)
        ys = self.share[c, xs]
        hull: list[int] = []
        for i in range(len(xs)):
            while len(hull) >= 2:
                i1, i2 = hull[-2], hull[-1]
                # remove i2 if it lies below the chord i1 -> i
                if (ys[i2] - ys[i1]) * (xs[i] - xs[i1]) <= (ys[i] - ys[i1]) * (xs[i2] - xs[i1]):
                    hull.pop()
                else:
                    break
            hull.append(i)
        cuts = []
        for a, b in zip(hull[:-1], hull[1:]):
            slope = (ys[b] - ys[a]) / (xs[b] - xs[a])
            cuts.append((float(ys[a] - slope * xs[a]), float(slope)))
        if not cuts:
            cuts.append((float(ys[0]), 0.0))
        return cuts

    def replace(self, share: np.ndarray, source: str) -> "Curves":
        return Curves(self.workers, np.asarray(share, float), self.cases_per_year, source, self.outcomes)

    def refit(self, workers: np.ndarray, simulated: np.ndarray, which: np.ndarray) -> "Curves":
        """Scale the curves of ``which`` communities so that they pass through the simulated share
        at their current workers (a factor per community, capped at 1, monotone in workers kept)."""
        share = self.share.copy()
        at = self.evaluate(workers)
        for c in np.flatnonzero(which & (at > 0) & ~np.isnan(simulated)):
            share[c] = np.minimum(1.0, share[c] * simulated[c] / at[c])
        return self.replace(share, "theory fitted to simulation")


def _funded_at_baseline(scenario: Scenario) -> float:
    """The share of fixes the baseline's service funds pay, city-wide (1 where nothing costs money)."""
    oc = outcome_curves(scenario)
    money = oc.money_yuan
    if money.sum() <= 0:
        return 1.0
    return float(oc.funded_share(scenario.baseline.service_fund_yuan) @ money / money.sum())


def _reopen_probability(fb, resolved: float) -> float:
    """P(reopened) of an on-time case resolved with probability ``resolved`` (an unresolved one is more often
    unsatisfied and then more often reopened)."""
    unresolved = min(1.0, fb.unsatisfied_base + fb.unsatisfied_if_unresolved) * min(
        1.0, fb.reopen_given_unsatisfied_base + fb.reopen_if_unresolved
    )
    return resolved * fb.reopen_probability() + (1 - resolved) * unresolved


def _path_samples(scenario: Scenario) -> tuple[list[np.ndarray], np.ndarray]:
    """Per category: working hours along the ladder after the grid wait (Monte Carlo); and deadlines."""
    spec = scenario.spec
    cal = spec.calendar
    fb = spec.ladder.feedback
    week = len(set(cal.working_weekdays)) * (cal.day_end_hour - cal.day_start_hour)
    delay_w = fb.delay_hours * week / 168.0  # clock delay before a reopened visit, in working hours
    travel = spec.ladder.travel_hours_max
    rng = np.random.default_rng(20240601)
    funded = _funded_at_baseline(scenario)
    fund = spec.service_fund
    out = []
    for c in spec.demand.categories.values():
        u = rng.random((_SAMPLES, 11))
        x = from_uniforms(c.grid_service, u[:, 0]) + u[:, 5] * travel
        # a fix the fund pays above the approval limit goes up to the street office; one it cannot pay, to the
        # city departments or nowhere (``sim.outcomes``): the baseline's funded share, city-wide
        res = c.resolution
        money = u[:, 9] < (res.needs_money_share if res is not None and fund is not None else 0.0)
        above = share_above(res.fix_cost, fund.approval_limit_yuan) if (res and res.fix_cost and fund) else 0.0
        paid = u[:, 9] < (res.needs_money_share * funded if res is not None else 0.0)
        climb_street = paid & (u[:, 10] < above)
        climb_city = money & ~paid & (u[:, 10] < (fund.unfunded_to_city_share if fund is not None else 0.0))
        comm = (u[:, 1] < c.escalate_to_community) | climb_street | climb_city
        street = (comm & (u[:, 2] < c.escalate_to_street)) | climb_street | climb_city
        city = (street & (u[:, 3] < c.escalate_to_city)) | climb_city
        p_reopen = _reopen_probability(fb, 1.0 if res is None else res.grid)
        x = x + comm * from_uniforms(c.community_service, u[:, 4])
        x = x + street * from_uniforms(c.street_service, u[:, 6])
        x = x + city * from_uniforms(c.city_delay, u[:, 7])
        reopen = u[:, 8] < p_reopen
        revisit = from_uniforms(c.grid_service, u[:, 8] / max(p_reopen, 1e-12) % 1.0)
        x = x + reopen * (delay_w + revisit + spec.ladder.mean_travel_hours)
        out.append(x)
    return out, np.array([c.deadline_working_hours for c in spec.demand.categories.values()])


def volunteer_on_time(scenario: Scenario) -> np.ndarray:
    """Per category: P(a case volunteers close is closed for good by its deadline); see the module docstring."""
    spec = scenario.spec
    cal = spec.calendar
    fb = spec.ladder.feedback
    week = len(set(cal.working_weekdays)) * (cal.day_end_hour - cal.day_start_hour)
    delay_w = fb.delay_hours * week / 168.0
    p_reopen = fb.reopen_probability()
    rng = np.random.default_rng(20240602)
    out = []
    for c in spec.demand.categories.values():
        u = rng.random((_SAMPLES, 2))
        revisit = delay_w + from_uniforms(c.grid_service, u[:, 1]) + spec.ladder.mean_travel_hours
        out.append(float(((u[:, 0] >= p_reopen) | (revisit <= c.deadline_working_hours)).mean()))
    return np.array(out)


def structural_on_time(scenario: Scenario) -> np.ndarray:
    """Per category: P(path along the ladder <= deadline) with no queue anywhere."""
    paths, deadline = _path_samples(scenario)
    return np.array([(x <= d).mean() for x, d in zip(paths, deadline)])


def _tail_table(paths: list[np.ndarray], deadline: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """E[exp(-theta (D - X)); X <= D] per category (rows) and theta (columns)."""
    out = np.empty((len(paths), len(thetas)))
    for j, (x, d) in enumerate(zip(paths, deadline)):
        slack = d - x[x <= d]
        for i0 in range(0, len(thetas), 64):
            th = thetas[i0 : i0 + 64]
            out[j, i0 : i0 + 64] = np.exp(-np.outer(th, slack)).sum(axis=1) / len(x)
    return out


def _curve_top(scenario: Scenario, st: StaffTime, load: np.ndarray, taking: float) -> int:
    """The most workers a curve goes to: three times the baseline's largest community (at least 60), or, where
    a community's case load needs more, enough for twice its load in servers taking cases (so that a target
    the curve cannot reach is one no staffing reaches, not one beyond the curve's range), at most the
    allocation table's bound."""
    top = int(max(60, scenario.baseline.workers.max() * 3))
    cap = int(MAXIMUM["workers"][0])
    while top < cap and taking > 0:
        _, grid = split_desk(st, np.full(len(load), top))
        if (grid * taking > 2 * load).all():
            break
        top = min(cap, top * 2)
    return top


def service_curves(scenario: Scenario, max_workers: int | None = None) -> Curves:
    """The default curves for every community (see the module docstring). Kept per scenario (the last four):
    the main job's two optimisations and a sweep's budget points ask for the same curves, 0.6 s each on
    Weihai. Their arrays are read-only, so that no caller can change what the next one gets (a refit copies)."""
    return _service_curves(scenario, max_workers)


def _read_only(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


@lru_cache(maxsize=4)
def _service_curves(scenario: Scenario, max_workers: int | None) -> Curves:
    curves = _make_service_curves(scenario, max_workers)
    _read_only(curves.workers, curves.share, curves.cases_per_year)
    oc = curves.outcomes
    if oc is not None:
        _read_only(*(v for v in vars(oc).values() if isinstance(v, np.ndarray)))
    return curves


def _make_service_curves(scenario: Scenario, max_workers: int | None) -> Curves:
    spec = scenario.spec
    st: StaffTime = staff_time(scenario)
    cats = list(spec.demand.categories.values())
    p = np.array([c.share for c in cats])
    elig = np.array([c.volunteer_eligible for c in cats])
    paths, deadline = _path_samples(scenario)
    A = np.array([(x <= d).mean() for x, d in zip(paths, deadline)])
    p_reopen = spec.ladder.feedback.reopen_probability()
    grid_mean = np.array([c.grid_service.mean_hours for c in cats]) + spec.ladder.mean_travel_hours

    cases = annual_cases(scenario)
    taken = volunteer_share(scenario)  # of eligible cases
    mix = p[None, :] * (1 - elig[None, :] * taken[:, None])
    nonvol = mix.sum(axis=1)
    vol_share = 1 - nonvol  # of all cases
    mix = mix / np.where(nonvol > 0, nonvol, 1)[:, None]  # category mix of staff cases
    s_mean = mix @ grid_mean  # per community
    vol_part = (p[None, :] * elig[None, :] * taken[:, None]) @ volunteer_on_time(scenario)  # on time, of all cases
    rate = cases * (1 - vol_share) * (1 + p_reopen) / st.working_hours_per_person  # per working hour
    a = rate * s_mean

    avail = 1.0 - st.unavailable_share["community"]
    duties = spec.duties
    protected = duties.protected_share if duties is not None and duties.rule == "protected_share" else 0.0
    top = max_workers or _curve_top(scenario, st, a, avail * (1 - protected))
    ws = np.arange(top + 1)
    n = scenario.n_communities
    thetas = np.geomspace(1e-4, 1e3, 400)
    table = _tail_table(paths, deadline, thetas)  # (categories, thetas)
    share = np.zeros((n, len(ws)))
    for i, w in enumerate(ws):
        _, grid = split_desk(st, np.full(n, w))
        x = grid * avail * (1 - protected)  # expected servers taking cases
        lo = np.floor(x)
        frac = x - lo
        val = np.zeros(n)
        for k, weight in ((lo, 1 - frac), (lo + 1, frac)):
            c_wait = erlang_c_vector(k, a)
            theta = np.where(k > a, (k - a) / np.where(s_mean > 0, s_mean, 1), 0.0)
            tail = np.stack(
                [
                    np.interp(np.log(np.maximum(theta, 1e-12)), np.log(thetas), table[j], left=table[j, 0], right=0.0)
                    for j in range(len(cats))
                ],
                axis=1,
            )
            on = ((A[None, :] - c_wait[:, None] * tail) * mix).sum(axis=1)
            on = np.where(k > a, on, 0.0)
            val += weight * on
        staff_part = (1 - vol_share) * val
        share[:, i] = np.where(w > 0, staff_part + vol_part, vol_part)
    # more workers never hurt: keep the curve monotone against rounding in the desk split
    share = np.maximum.accumulate(np.clip(share, 0.0, 1.0), axis=1)
    return Curves(ws, share, cases, outcomes=outcome_curves(scenario))

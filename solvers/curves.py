"""Per-community service curves: expected on-time share as a function of workers.

The default curve is a documented queueing approximation (Erlang C, M/M/k):

* Cases of a community arrive around the clock but are handled in working time,
  and deadlines count in working hours, so the arrival rate per working hour is
  weekly cases / weekly working hours (volunteer-handled cases excluded).
* The grid pool has k = round(workers x case_duty_share) servers; mean service is
  the category-weighted grid handling time plus mean travel.
* A case of category j is on time when its wait at the grid level is at most
  its deadline minus its expected handling along the ladder (grid handling plus
  escalation levels weighted by their probabilities), in working hours:
  P(W <= t) = 1 - C(k, a) exp(-(k - a) t / s).
* The community's on-time share is the category-weighted mean.

The simulation-optimisation loop replaces these curves by corrected ones, so
the allocator takes curves as an input (``Curves``), never computes them itself.
"""

from __future__ import annotations


from dataclasses import dataclass

import numpy as np

from sim.demand import hourly_profile
from sim.distributions import mean_and_variance
from sim.engine import desk_staff, grid_servers
from sim.erlang import erlang_c
from sim.scenario import Scenario

__all__ = ["Curves", "erlang_curves", "servers_for_workers", "community_demand"]


def servers_for_workers(scenario: Scenario, workers: np.ndarray | int) -> np.ndarray:
    """Grid servers for ``workers`` workers with one secretary assistant (the simulation's rule)."""
    w = np.atleast_1d(np.asarray(workers, dtype=np.int64))
    return grid_servers(w, desk_staff(scenario, w, np.ones_like(w)), scenario.spec.routine.case_duty_share)


def community_demand(scenario: Scenario) -> np.ndarray:
    """Expected cases per year per community (before volunteers and mobile discovery)."""
    rate = sum(c.rate_per_10k_per_day for c in scenario.spec.demand.channels.values())
    days = scenario.spec.calendar.days
    profile_mean = hourly_profile(scenario, days).mean()
    return scenario.urban_residents / 10_000 * rate * days * profile_mean


@dataclass(frozen=True)
class Curves:
    """``share[c, i]`` = expected on-time share of community c with ``workers[i]`` workers."""

    workers: np.ndarray          # (m,) worker counts evaluated, ascending, starting at 0
    share: np.ndarray            # (communities, m)
    cases_per_year: np.ndarray   # (communities,)
    source: str = "erlang"

    def at(self, c: int, w: int) -> float:
        w = int(min(max(w, 0), self.workers[-1]))
        return float(self.share[c, w])

    def evaluate(self, workers: np.ndarray) -> np.ndarray:
        w = np.clip(np.asarray(workers, dtype=int), 0, int(self.workers[-1]))
        return self.share[np.arange(len(w)), w]

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
        return Curves(self.workers, np.asarray(share, float), self.cases_per_year, source)


def erlang_curves(scenario: Scenario, max_workers: int | None = None) -> Curves:
    """The default Erlang-C curves for every community."""
    spec = scenario.spec
    cal = spec.calendar
    cats = list(spec.demand.categories.values())
    p = np.array([c.share for c in cats])
    travel = spec.ladder.travel_minutes_max / 120.0
    grid_mean = np.array([mean_and_variance(c.grid_service)[0] for c in cats]) + travel
    path = grid_mean.copy()
    for j, c in enumerate(cats):
        pc = c.escalate_to_community
        ps = pc * c.escalate_to_street
        pcity = ps * c.escalate_to_city
        path[j] += (pc * c.community_service.mean_hours + ps * c.street_service.mean_hours
                    + pcity * c.city_delay.mean_hours)
    limit = np.maximum(0.0, np.array([c.deadline_working_hours for c in cats]) - path)
    s_mean = float(p @ grid_mean)
    work_hours_week = len(set(cal.working_weekdays)) * (cal.day_end_hour - cal.day_start_hour)
    cases = community_demand(scenario)
    rate = cases / (cal.days / 7.0) / work_hours_week          # cases per working hour
    top = max_workers or int(max(60, scenario.baseline.workers.max() * 3))
    ws = np.arange(top + 1)
    ks = servers_for_workers(scenario, ws)
    # Erlang C for every community at once: Erlang B by its recursion over k, vectorised over communities.
    a = rate * s_mean
    kmax = int(ks.max())
    on_time = np.zeros((scenario.n_communities, kmax + 1))
    b = np.ones_like(a)
    for k in range(1, kmax + 1):
        b = a * b / (k + a * b)
        stable = a < k
        with np.errstate(divide="ignore", invalid="ignore"):
            pw = np.where(stable, k * b / (k - a * (1 - b)), 1.0)
            tail = np.exp(-np.maximum(k - a, 0)[:, None] * limit[None, :] / s_mean)
            val = (1.0 - pw[:, None] * tail) @ p
        on_time[:, k] = np.where(stable, val, 0.0)
    out = on_time[:, ks]
    return Curves(ws, out, cases)



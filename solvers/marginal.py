"""Where the next million goes: per community, what one more million yuan buys in the targets' KPIs, from the
allocator's own rates.

Two uses of the money, each in one community at a time (communities share no resource the allocator
plans, so each community's gain is its own):

* **fund**: the million added to its people-service fund: the funded share of its fixes rises along its
  concave curve (``solvers.outcomecurves``), and with it resolution and satisfaction;
* **staff**: as many more workers as a million pays a year (whole people at the year's mean pay): its
  predicted duty coverage rises (``predicted_coverage``), fewer problems are found late, and its on-time
  share moves along its service curve.

Each gain is in points of each KPI and in outcomes a year (cases on time + cases resolved + residents
satisfied, max-service's unit), so that communities of different sizes compare; ``best`` names the use
with the larger gain ("none" when neither moves anything by a tenth of an outcome).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from solvers.allocator import predicted_coverage, predicted_outcomes
from solvers.costs import cost_per_unit
from solvers.curves import Curves

__all__ = ["next_million", "MILLION_YUAN", "with_more"]

MILLION_YUAN = 1_000_000.0
_NOTHING = 0.1  # outcomes a year below which a use buys nothing measurable


def with_more(alloc: Allocation, communities: np.ndarray, fund_yuan: float = 0.0, workers: int = 0) -> Allocation:
    """``alloc`` with ``fund_yuan`` more service fund and ``workers`` more workers in each of ``communities``
    (indices); every other unit as it was."""
    fund = alloc.service_fund_yuan.astype(float).copy()
    w = alloc.workers.astype(float).copy()
    fund[communities] += fund_yuan
    w[communities] += workers
    return alloc.replace(service_fund_yuan=fund, workers=w, source=f"{alloc.source} + the next million")


def _kpis(scenario: Scenario, curves: Curves, alloc: Allocation) -> dict[str, np.ndarray]:
    cov, _, _ = predicted_coverage(scenario, alloc)
    _, res, sat = predicted_outcomes(scenario, curves, alloc)
    return {"on_time": curves.evaluate(alloc.workers), "resolution": res, "satisfaction": sat, "coverage": cov}


def next_million(
    scenario: Scenario, curves: Curves, alloc: Allocation, million_yuan: float = MILLION_YUAN
) -> pd.DataFrame:
    """Per community, the predicted gain of ``million_yuan`` more as fund and as staff (module docstring)."""
    n = scenario.n_communities
    every = np.arange(n)
    k = int(million_yuan // cost_per_unit(scenario)["workers"])
    base = _kpis(scenario, curves, alloc)
    fund = _kpis(scenario, curves, with_more(alloc, every, fund_yuan=million_yuan))
    staff = _kpis(scenario, curves, with_more(alloc, every, workers=k))
    cases = curves.cases_per_year
    out = pd.DataFrame({"community": list(scenario.community_ids), "cases_per_year": cases})
    for use, after in (("fund", fund), ("staff", staff)):
        total = np.zeros(n)
        for kpi in ("resolution", "satisfaction", "on_time", "coverage"):
            d = np.nan_to_num(after[kpi] - base[kpi])
            out[f"{use}_{kpi}_points"] = 100 * d
            if kpi != "coverage":
                total += d * cases
        out[f"{use}_outcomes_per_year"] = total
    out["staff_workers"] = k
    best = np.where(out.fund_outcomes_per_year >= out.staff_outcomes_per_year, "fund", "staff")
    top = np.maximum(out.fund_outcomes_per_year, out.staff_outcomes_per_year)
    out["best"] = np.where(top < _NOTHING, "none", best)
    out["best_outcomes_per_year"] = top
    out["rank"] = out.best_outcomes_per_year.rank(ascending=False, method="first").astype(int)
    return out.sort_values("rank").reset_index(drop=True)

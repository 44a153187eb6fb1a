"""Budget sweep: the frontier of total budget versus simulated on-time share and overdue cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from scenario.load import Scenario
from sim.replications import confidence_interval, kpi_range, map_tasks, run_replications
from solvers.allocator import allocate
from solvers.errors import InfeasibleError
from solvers.lpmodel import AllocationOptions

__all__ = ["budget_points", "sweep"]


def budget_points(spec: str) -> list[float]:
    """Parse FROM:TO:STEP (yuan; TO included)."""
    try:
        a, b, s = (float(x) for x in spec.split(":"))
    except ValueError:
        raise ValueError(f"--budget-yuan must be FROM:TO:STEP in yuan, found {spec!r}") from None
    if s <= 0 or b < a:
        raise ValueError(f"--budget-yuan needs STEP > 0 and TO >= FROM, found {spec!r}")
    n = int(np.floor((b - a) / s + 1e-9)) + 1
    return [a + i * s for i in range(n)]


def _point(args: tuple) -> dict:
    scenario, budget, opts, reps, days, seed, solver = args
    row = {"budget_yuan": budget}
    try:
        res = allocate(scenario, replace(opts, total_budget_yuan=budget), solver=solver)
    except InfeasibleError as exc:
        row.update(feasible=False, note=str(exc))
        return row
    sims = run_replications(scenario, res.allocation, reps, days=days, seed=seed, processes=1)
    row.update(
        feasible=True,
        note="",
        cost_total_yuan=res.costs.total_yuan,
        workers=res.allocation.total_workers,
        street_office_staff=int(res.allocation.street_office_staff.sum()),
        on_time_share_predicted=res.expected_on_time_share,
        duty_coverage_predicted=res.expected_duty_coverage,
    )
    for k in ("on_time_share", "duty_coverage", "overdue_cases"):
        m, lo, hi = confidence_interval(sims.per_rep[k].to_numpy(), bounds=kpi_range(k))
        row.update({k: m, f"{k}_ci95_low": lo, f"{k}_ci95_high": hi})
    return row


def sweep(
    scenario: Scenario,
    budgets: list[float],
    reps: int = 3,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    solver: str = "auto",
    opts: AllocationOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One max-service allocation per budget, each simulated on the same replications; points in parallel.

    Each row holds the allocator's prediction (on-time share from the curves, duty coverage from the
    hours) beside the simulated value with its 95% interval.
    """
    opts = opts or AllocationOptions(objective="max-service")
    seed = scenario.spec.seed if seed is None else seed
    tasks = [(scenario, b, opts, reps, days, seed, solver) for b in budgets]
    rows = map_tasks(_point, tasks, processes, progress)
    return pd.DataFrame(rows)

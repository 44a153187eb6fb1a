"""Budget sweep: the frontier of total budget versus simulated on-time share and overdue cases.

Resumable: with a ``points_dir`` every finished point is written there as soon as it is done (by the
worker that computed it, through a temporary name and a rename, so no reader ever sees half a file,
with a checksum: ``workflows.points``), named by a key of everything that shaped it (scenario hash,
budget, options, replications, days, seed, solver). A rerun with the same ``points_dir`` reads the
finished points and computes only the others (and any point file found cut short or changed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from scenario.load import Scenario
from sim.replications import confidence_interval, kpi_range, map_tasks, run_replications
from solvers.allocator import allocate
from solvers.errors import InfeasibleError
from solvers.lpmodel import AllocationOptions
from workflows.points import open_points, point_path, read_point, write_point

__all__ = ["budget_points", "sweep", "point_key"]


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


def point_key(
    scenario: Scenario, budget: float, opts: AllocationOptions, reps: int, days: int | None, seed: int, solver: str
) -> str:
    """A stable name for one point: a hash of everything that shapes its numbers."""
    text = json.dumps([scenario.sha256, repr(float(budget)), repr(opts), reps, days, seed, solver])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# what each point's simulation reports (mean and 95% interval)
SIMULATED = (
    "resolution_share",
    "satisfaction_share",
    "response_share",
    "on_time_share",
    "duty_coverage",
    "overdue_cases",
    "found_late_share",
    "unfunded_share",
)


def _point(args: tuple) -> dict:
    scenario, budget, opts, reps, days, seed, solver, path = args
    row = _compute_point(scenario, budget, opts, reps, days, seed, solver)
    if path is not None:
        write_point(path, row)
    return row


def _compute_point(scenario, budget, opts, reps, days, seed, solver) -> dict:  # type: ignore[no-untyped-def]
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
        service_fund_yuan=float(res.allocation.service_fund_yuan.sum()),
        on_time_share_predicted=res.expected_on_time_share,
        duty_coverage_predicted=res.expected_duty_coverage,
        resolution_share_predicted=res.expected_resolution_share,
        satisfaction_share_predicted=res.expected_satisfaction_share,
    )
    for k in SIMULATED:
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
    points_dir: Path | None = None,
) -> pd.DataFrame:
    """One max-service allocation per budget, each simulated on the same replications; points in parallel.

    Each row holds the allocator's prediction (on-time share from the curves, duty coverage from the
    hours, resolution and satisfaction from the outcome curves) beside the simulated value with its 95%
    interval. With ``points_dir``, finished points are
    kept there and reused (see the module docstring); the frame's ``resumed`` column says which.
    """
    opts = opts or AllocationOptions(objective="max-service")
    seed = scenario.spec.seed if seed is None else seed
    paths: list[Path | None] = [None] * len(budgets)
    done: dict[int, dict] = {}
    if points_dir is not None:
        open_points(points_dir)
        for i, b in enumerate(budgets):
            path = point_path(points_dir, point_key(scenario, b, opts, reps, days, seed, solver))
            paths[i] = path
            row = read_point(path)
            if row is not None:
                done[i] = row
                if progress:
                    progress(1)
    todo = [i for i in range(len(budgets)) if i not in done]
    tasks = [(scenario, budgets[i], opts, reps, days, seed, solver, paths[i]) for i in todo]
    fresh = dict(zip(todo, map_tasks(_point, tasks, processes, progress)))
    rows = [{**(done.get(i) or fresh[i]), "resumed": i in done} for i in range(len(budgets))]
    return pd.DataFrame(rows)

"""Simulation-optimisation: allocate, simulate, correct the service curves where a community
misses its target, allocate again (cutting planes in the manner of Atlason, Epelman and
Henderson's simulation-based staffing).

A community "misses" when the upper end of the 95% confidence interval of its simulated
on-time share is below the target. Its curve is then capped at the simulated share for
its current number of workers and every smaller number (the cut), so the next allocation
must give it more workers. The loop stops when no community misses, when the budgets
make the corrected targets infeasible, or after ``max_iterations``. The final allocation
is validated on fresh replications (another seed) it was not tuned on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from sim.replications import Replications, confidence_interval, run_replications
from sim.scenario import Scenario
from solvers.allocator import AllocationResult, allocate
from solvers.curves import Curves, erlang_curves
from solvers.errors import InfeasibleError
from solvers.lpmodel import AllocationOptions

__all__ = ["OptimizationResult", "optimize", "missing_targets", "VALIDATION_SEED_OFFSET"]

log = logging.getLogger(__name__)
VALIDATION_SEED_OFFSET = 1_000_003


@dataclass
class OptimizationResult:
    result: AllocationResult
    iterations: pd.DataFrame          # iteration, cost, workers, communities missing, on-time share
    stop_reason: str
    validation: Replications          # fresh replications
    validation_missing: list[str]
    curves: Curves
    history: list[AllocationResult] = field(default_factory=list)


def missing_targets(scenario: Scenario, reps: Replications, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Communities whose simulated on-time share is below target with 95% confidence, and their means."""
    per = reps.group_per_rep("community")
    n = scenario.n_communities
    means = np.full(n, np.nan)
    miss = np.zeros(n, bool)
    for i, cid in enumerate(scenario.community_ids):
        vals = per.loc[[cid], "on_time_share"].to_numpy() if cid in per.index else np.array([])
        m, lo, hi = confidence_interval(vals)
        means[i] = m
        upper = hi if not np.isnan(hi) else m
        miss[i] = bool(upper < target)
    return miss, means


def optimize(scenario: Scenario, opts: AllocationOptions | None = None, reps: int = 5, days: int | None = None,
             seed: int | None = None, processes: int | None = None, max_iterations: int = 8,
             solver: str = "cbc", progress: Callable[[str], None] | None = None) -> OptimizationResult:
    opts = opts or AllocationOptions()
    seed = scenario.spec.seed if seed is None else seed
    target = scenario.spec.targets.on_time_share_min
    curves = erlang_curves(scenario)
    rows, history = [], []
    res = allocate(scenario, opts, curves=curves, solver=solver)
    stop = f"iteration limit ({max_iterations}) reached"
    for it in range(1, max_iterations + 1):
        history.append(res)
        sims = run_replications(scenario, res.allocation, reps, days=days, seed=seed, processes=processes)
        miss, means = missing_targets(scenario, sims, target)
        rows.append({"iteration": it, "cost_total_yuan": res.costs.total_yuan,
                     "workers": res.allocation.total_workers, "communities_missing": int(miss.sum()),
                     "on_time_share": float(sims.per_rep["on_time_share"].mean()),
                     "curves": curves.source})
        if progress:
            progress(f"iteration {it}: cost {res.costs.total_yuan / 1e6:,.2f} M yuan, workers "
                     f"{res.allocation.total_workers:,}, communities missing the target {int(miss.sum())}")
        if not miss.any():
            stop = f"every community meets the {target:.0%} on-time target in simulation"
            break
        share = curves.share.copy()
        for c in np.flatnonzero(miss):
            w = int(res.allocation.workers[c])
            share[c, : w + 1] = np.minimum(share[c, : w + 1], means[c])
        curves = curves.replace(share, "erlang + simulation cuts")
        try:
            res = allocate(scenario, opts, curves=curves, solver=solver)
        except InfeasibleError as exc:
            stop = f"a budget binds: {exc}"
            break
    val_seed = seed + VALIDATION_SEED_OFFSET
    validation = run_replications(scenario, res.allocation, reps, days=days, seed=val_seed, processes=processes)
    vmiss, _ = missing_targets(scenario, validation, target)
    return OptimizationResult(res, pd.DataFrame(rows), stop, validation,
                              [scenario.community_ids[i] for i in np.flatnonzero(vmiss)], curves, history)

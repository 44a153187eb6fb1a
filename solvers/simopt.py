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


def _row(it: int, phase: str, seed: int, res: AllocationResult, miss: np.ndarray, sims: Replications,
         curves: Curves) -> dict:
    return {"iteration": it, "phase": phase, "seed": seed, "cost_total_yuan": res.costs.total_yuan,
            "workers": res.allocation.total_workers, "communities_missing": int(miss.sum()),
            "on_time_share": float(sims.per_rep["on_time_share"].mean()), "curves": curves.source}


def _cut(curves: Curves, workers: np.ndarray, miss: np.ndarray, means: np.ndarray) -> Curves:
    """Cap each missing community's curve at its simulated share, at and below its current workers."""
    share = curves.share.copy()
    for c in np.flatnonzero(miss):
        w = int(workers[c])
        share[c, : w + 1] = np.minimum(share[c, : w + 1], means[c])
    return curves.replace(share, "erlang + simulation cuts")


def optimize(scenario: Scenario, opts: AllocationOptions | None = None, reps: int = 5, days: int | None = None,
             seed: int | None = None, processes: int | None = None, max_iterations: int = 8,
             validation_rounds: int = 3, solver: str = "cbc",
             progress: Callable[[str], None] | None = None) -> OptimizationResult:
    """Run the loop; validate on fresh replications; if validation finds misses, cut and tune again
    (the validation data then become tuning data, and a new seed validates), up to ``validation_rounds``."""
    opts = opts or AllocationOptions()
    seed = scenario.spec.seed if seed is None else seed
    target = scenario.spec.targets.on_time_share_min
    curves = erlang_curves(scenario)
    rows, history = [], []
    res = allocate(scenario, opts, curves=curves, solver=solver)
    tune_seed = seed
    last_cut: dict[int, float] = {}        # community -> simulated share when it was last cut
    stuck: set[int] = set()                # more workers did not help: lateness comes from elsewhere
    it = 0
    budget_binds = False
    stop = f"iteration limit ({max_iterations}) reached"

    def cut_and_reallocate(curves: Curves, res: AllocationResult, miss: np.ndarray,
                           means: np.ndarray) -> tuple[Curves, AllocationResult, str | None]:
        """Cut the missing communities' curves and allocate again; the stop reason if a budget binds."""
        last_cut.update({int(c): float(means[c]) for c in np.flatnonzero(miss)})
        curves = _cut(curves, res.allocation.workers, miss, means)
        try:
            return curves, allocate(scenario, opts, curves=curves, solver=solver), None
        except InfeasibleError as exc:
            return curves, res, f"a budget binds: {exc}"

    for rnd in range(1, validation_rounds + 1):
        while it < max_iterations:
            it += 1
            history.append(res)
            sims = run_replications(scenario, res.allocation, reps, days=days, seed=tune_seed, processes=processes)
            miss, means = missing_targets(scenario, sims, target)
            for c in np.flatnonzero(miss):
                if c in last_cut and means[c] < last_cut[c] + 0.001:
                    stuck.add(int(c))
            miss[list(stuck)] = False
            rows.append(_row(it, "tune", tune_seed, res, miss, sims, curves))
            if progress:
                progress(f"iteration {it}: cost {res.costs.total_yuan / 1e6:,.2f} M yuan, workers "
                         f"{res.allocation.total_workers:,}, communities missing the target {int(miss.sum())}")
            if not miss.any():
                stop = f"every community meets the {target:.0%} on-time target in simulation"
                if stuck:
                    stop = (f"every other community meets the {target:.0%} target; more workers did not help "
                            f"{', '.join(scenario.community_ids[c] for c in sorted(stuck))} (their late cases come "
                            f"from escalation levels, not from grid staffing)")
                break
            curves, res, binds = cut_and_reallocate(curves, res, miss, means)
            if binds:
                stop, budget_binds = binds, True
                break
        val_seed = seed + rnd * VALIDATION_SEED_OFFSET
        validation = run_replications(scenario, res.allocation, reps, days=days, seed=val_seed, processes=processes)
        vmiss, vmeans = missing_targets(scenario, validation, target)
        vmiss_cut = vmiss.copy()
        vmiss_cut[list(stuck)] = False
        rows.append(_row(it, "validate", val_seed, res, vmiss, validation, curves))
        if progress:
            progress(f"validation on fresh replications (seed {val_seed}): communities missing the target "
                     f"{int(vmiss.sum())}")
        if not vmiss_cut.any() or budget_binds or it >= max_iterations:
            break
        curves, res, binds = cut_and_reallocate(curves, res, vmiss_cut, vmeans)
        if binds:
            stop = binds
            break
        tune_seed = val_seed
    return OptimizationResult(res, pd.DataFrame(rows), stop, validation,
                              [scenario.community_ids[i] for i in np.flatnonzero(vmiss)], curves, history)

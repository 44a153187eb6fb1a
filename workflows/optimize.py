"""Simulation-optimisation: allocate, simulate, correct the model where the simulation disagrees, repeat.

In the manner of Atlason, Epelman and Henderson's simulation-based staffing with cutting planes:

* **On-time share.** After each round of replications, every community's service
  curve is refitted so that it passes through the simulated on-time share at its
  current workers (``Curves.refit``): the theory predicts the shape, the
  simulation the level (escalation levels, calendars, reopening). A community
  *misses* its on-time target when its mean simulated share over the
  replications is below the target (``workflows.units``: the point estimate).
* **Duty coverage.** A community (or street office) *misses* its duty-coverage
  target when its mean simulated coverage is below ``targets.duty_coverage_min``;
  it then needs at least one more person than it has (a cut on its staffing).

The loop stops when nothing misses, when the budgets make the corrected model
infeasible, or after ``max_iterations``. A community whose on-time share did not
rise although it got more workers is no longer cut for its on-time share (its
late cases come from elsewhere). The result is validated on fresh replications
(another seed) it was not tuned on; if something misses there, those results
become tuning data and a new seed validates, up to ``validation_rounds``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from scenario.load import Scenario
from scenario.text import count_of, percent
from sim.replications import Replications, run_replications
from solvers.allocator import AllocationResult, allocate
from solvers.curves import Curves, service_curves
from solvers.errors import InfeasibleError
from solvers.lpmodel import AllocationOptions
from workflows.units import share_misses, unit_misses

__all__ = ["OptimizationResult", "optimize", "VALIDATION_SEED_OFFSET", "prediction_error"]

log = logging.getLogger(__name__)
VALIDATION_SEED_OFFSET = 1_000_003


@dataclass
class OptimizationResult:
    """The optimised allocation, its iterations, validation and predictions against simulation."""

    result: AllocationResult
    iterations: pd.DataFrame  # iteration, phase, seed, cost, workers, misses, simulated KPIs
    stop_reason: str
    validation: Replications  # fresh replications
    validation_missing: list[str]  # units missing a target on the fresh replications
    curves: Curves
    prediction: pd.DataFrame  # per community: predicted vs simulated (fresh replications)


def prediction_error(scenario: Scenario, res: AllocationResult, sims: Replications) -> pd.DataFrame:
    """Per community: the allocator's predicted on-time share, duty coverage, share found late, resolution and
    satisfaction against the simulation."""
    from solvers.allocator import predicted_coverage, predicted_outcomes

    per = sims.group("community").reindex(list(scenario.community_ids))
    cov_c, _, _ = predicted_coverage(scenario, res.allocation)
    late, resolution, satisfaction = predicted_outcomes(scenario, res.curves, res.allocation)
    return pd.DataFrame(
        {
            "community": list(scenario.community_ids),
            "workers": res.allocation.workers,
            "service_fund_yuan": res.allocation.service_fund_yuan,
            "on_time_predicted": res.curves.evaluate(res.allocation.workers),
            "on_time_simulated": per["on_time_share"].to_numpy(),
            "duty_coverage_predicted": cov_c,
            "duty_coverage_simulated": per["duty_coverage"].to_numpy() if "duty_coverage" in per else np.nan,
            "found_late_predicted": late,
            "found_late_simulated": per["found_late_share"].to_numpy(),
            "resolution_predicted": resolution,
            "resolution_simulated": per["resolution_share"].to_numpy(),
            "satisfaction_predicted": satisfaction,
            "satisfaction_simulated": per["satisfaction_share"].to_numpy(),
        }
    )


@dataclass
class _Loop:
    """The state of one simulation-optimisation run and its named steps."""

    scenario: Scenario
    opts: AllocationOptions
    reps: int
    days: int | None
    processes: int | None
    solver: str
    progress: Callable[[str], None] | None
    tick: Callable[[int], None] | None = None
    curves: Curves = field(init=False)
    res: AllocationResult = field(init=False)
    rows: list[dict] = field(default_factory=list)
    last_share: dict[int, float] = field(default_factory=dict)  # community -> on-time share when last cut
    stuck: set[int] = field(default_factory=set)
    no_fund_lifts: set[int] = field(default_factory=set)  # communities no fund lifts to the resolution target
    unresolved: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # last simulation's resolution misses
    min_workers: np.ndarray = field(init=False)
    min_street: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.curves = service_curves(self.scenario)
        self.min_workers = np.zeros(self.scenario.n_communities)
        self.min_street = np.zeros(len(self.scenario.street_ids))
        self.res = allocate(self.scenario, self.opts, curves=self.curves, solver=self.solver)

    def say(self, text: str) -> None:
        if self.progress:
            self.progress(text)

    def simulate(self, seed: int) -> Replications:
        log.info("simulating %d replications of the current allocation, seed %d", self.reps, seed)
        return run_replications(
            self.scenario,
            self.res.allocation,
            self.reps,
            days=self.days,
            seed=seed,
            processes=self.processes,
            progress=self.tick,
        )

    def misses(self, sims: Replications) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(on-time misses, coverage misses per community, coverage misses per street, on-time means)."""
        t = self.scenario.spec.targets
        per_c = sims.group_per_rep("community")
        per_s = sims.group_per_rep("street")
        late, share = unit_misses(per_c, self.scenario.community_ids, "on_time_share", t.on_time_share_min)
        for c in np.flatnonzero(late):
            if int(c) in self.last_share and share[c] < self.last_share[int(c)] + 0.001:
                self.stuck.add(int(c))
        late[list(self.stuck)] = False
        self.unresolved = np.zeros(len(self.scenario.community_ids), bool)
        if t.resolution_share_min is not None:  # the fund decides it: the refit raises its floor
            self.unresolved, _ = share_misses(
                per_c, self.scenario.community_ids, "resolution_share", t.resolution_share_min
            )
            self.unresolved[sorted(self.no_fund_lifts)] = False
        if self.scenario.spec.duties is None:
            return late, np.zeros_like(late), np.zeros(len(self.scenario.street_ids), bool), share
        cov_c, _ = unit_misses(per_c, self.scenario.community_ids, "duty_coverage", t.duty_coverage_min)
        cov_s, _ = unit_misses(per_s, self.scenario.street_ids, "office_duty_coverage", t.duty_coverage_min)
        return late, cov_c, cov_s, share

    def record(self, it: int, phase: str, seed: int, sims: Replications, late, cov_c, cov_s) -> None:
        k = sims.per_rep
        self.rows.append(
            {
                "iteration": it,
                "phase": phase,
                "seed": seed,
                "cost_total_yuan": self.res.costs.total_yuan,
                "workers": self.res.allocation.total_workers,
                "street_office_staff": int(self.res.allocation.street_office_staff.sum()),
                "communities_missing_on_time": int(late.sum()),
                "communities_missing_resolution": int(self.unresolved.sum()),
                "communities_missing_coverage": int(cov_c.sum()),
                "street_offices_missing_coverage": int(cov_s.sum()),
                "on_time_share": float(k["on_time_share"].mean()),
                "duty_coverage": float(k["duty_coverage"].mean()) if "duty_coverage" in k else np.nan,
                "curves": self.curves.source,
            }
        )

    def _refit_outcomes(self, sims: Replications) -> Curves:
        """Each community's resolution and satisfaction curves through its simulated rates (at its fund and the
        found-late share the simulation saw)."""
        oc = self.curves.outcomes
        if oc is None:
            return self.curves
        per = sims.group("community").reindex(list(self.scenario.community_ids))
        fitted = oc.refit(
            self.res.allocation.service_fund_yuan,
            per["found_late_share"].to_numpy(),
            per["resolution_share"].to_numpy(),
            per["satisfaction_share"].to_numpy(),
        )
        return replace(self.curves, outcomes=fitted)

    def no_fund_words(self) -> str:
        """The stop reason's note on the communities no fund lifts to the resolution target ("" if none)."""
        if not self.no_fund_lifts:
            return ""
        ids = [self.scenario.community_ids[c] for c in sorted(self.no_fund_lifts)]
        return (
            f"; no fund lifts the resolution of {len(ids)} communit{'y' if len(ids) == 1 else 'ies'} to the target "
            f"({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}: their unresolved cases are closures no fix "
            f"changes); they get the fund that pays all their fixes"
        )

    def all_fixes_paid(self) -> np.ndarray:
        """The fund that pays all but 0.1% of a community's fixes where no fund lifts it to the resolution
        target, 0 elsewhere (whole yuan: a bound with decimals comes back from CBC's solution file below it)."""
        out = np.zeros(self.scenario.n_communities)
        oc = self.curves.outcomes
        if oc is not None and self.no_fund_lifts:
            idx = sorted(self.no_fund_lifts)
            out[idx] = np.ceil(oc.min_fund_yuan(np.full(len(out), 0.999))[idx])
        if self.opts.min_service_fund_yuan is not None:
            out = np.maximum(out, np.asarray(self.opts.min_service_fund_yuan, float))
        return out

    def correct(self, sims: Replications, late, cov_c, cov_s, share) -> str | None:
        """Refit the curves, cut where coverage misses, allocate again; the stop reason if a budget binds."""
        a = self.res.allocation
        n_reps = sims.group_per_rep("community").groupby(level=0)["on_time_share"].count()
        reliable = n_reps.reindex(list(self.scenario.community_ids)).fillna(0).to_numpy() > 0
        self.last_share.update({int(c): float(share[c]) for c in np.flatnonzero(late)})
        self.curves = self.curves.refit(a.workers, share, reliable & ~np.isin(np.arange(len(share)), list(self.stuck)))
        self.curves = self._refit_outcomes(sims)
        # a corrected curve that no staffing lifts to the target: its late cases come from elsewhere
        t = self.scenario.spec.targets
        self.stuck |= {int(c) for c in np.flatnonzero(self.curves.share.max(axis=1) < t.on_time_share_min - 1e-12)}
        # a refitted outcome curve that no fund lifts to the resolution (or satisfaction) target: the community
        # gets the fund that pays all its fixes (the most money does there) and is named, not the whole plan
        # stopped
        oc = self.curves.outcomes
        if oc is not None and (t.resolution_share_min is not None or t.satisfaction_share_min is not None):
            need = oc.min_funded(t.resolution_share_min, t.satisfaction_share_min)
            self.no_fund_lifts |= {int(c) for c in np.flatnonzero(need > 1)}
        self.min_workers = np.where(cov_c, np.maximum(self.min_workers, a.workers + 1), self.min_workers)
        self.min_street = np.where(cov_s, np.maximum(self.min_street, a.street_office_staff + 1), self.min_street)
        opts = replace(
            self.opts,
            min_workers=tuple(self.min_workers),
            min_street_staff=tuple(self.min_street),
            target_exempt=tuple(sorted(self.stuck)),
            outcome_exempt=tuple(sorted(self.no_fund_lifts)),
            min_service_fund_yuan=tuple(self.all_fixes_paid())
            if self.no_fund_lifts
            else self.opts.min_service_fund_yuan,
        )
        # rebalance: the margin found last round, where the next one is searched first (the same answer)
        hint = -self.res.objective_value if self.opts.objective == "rebalance" else None
        try:
            self.res = allocate(self.scenario, opts, curves=self.curves, solver=self.solver, margin_hint=hint)
        except InfeasibleError as exc:
            return f"the corrected model is infeasible: {exc}"
        return None


def _tune(
    scenario: Scenario, loop: "_Loop", tune_seed: int, it: int, max_iterations: int
) -> tuple[int, str | None, bool]:
    """Simulate, correct, repeat on the tuning seed until every unit meets its targets, the budget binds or
    the iteration limit is reached. Returns the iteration count, why it stopped (None: the limit) and
    whether the budget binds."""
    t = scenario.spec.targets
    while it < max_iterations:
        it += 1
        sims = loop.simulate(tune_seed)
        late, cov_c, cov_s, share = loop.misses(sims)
        loop.record(it, "tune", tune_seed, sims, late, cov_c, cov_s)
        loop.say(
            f"iteration {it}: cost {loop.res.costs.total_yuan / 1e6:,.2f} M yuan, workers "
            f"{loop.res.allocation.total_workers:,}; missing on-time {int(late.sum())}, "
            f"resolution {int(loop.unresolved.sum())}, "
            f"missing duty coverage {count_of(int(cov_c.sum()), 'community', 'communities')} + "
            f"{count_of(int(cov_s.sum()), 'street office', 'street offices')}"
        )
        if not (late.any() or loop.unresolved.any() or cov_c.any() or cov_s.any()):
            stop = (
                f"every community meets the {percent(t.on_time_share_min)} on-time target"
                + (
                    (", every community a fund can lift" if loop.no_fund_lifts else ",")
                    + f" the {percent(t.resolution_share_min)} resolution target (within two binomial standard "
                    f"errors of its simulated cases)"
                    if t.resolution_share_min
                    else ""
                )
                + (
                    f" and every unit the {percent(t.duty_coverage_min)} duty-coverage target"
                    if scenario.spec.duties is not None
                    else ""
                )
            )
            stop += f" on the replications it was tuned on (seed {tune_seed})"
            if loop.stuck:
                stop += (
                    f"; no staffing lifts the on-time share of "
                    f"{', '.join(scenario.community_ids[c] for c in sorted(loop.stuck))} (their late cases "
                    f"come from escalation levels, not from grid staffing)"
                )
            return it, stop, False
        binds = loop.correct(sims, late, cov_c, cov_s, share)
        if binds:
            return it, binds, True
    return it, None, False


def optimize(
    scenario: Scenario,
    opts: AllocationOptions | None = None,
    reps: int = 5,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    max_iterations: int = 8,
    validation_rounds: int = 3,
    solver: str = "auto",
    progress: Callable[[str], None] | None = None,
    tick: Callable[[int], None] | None = None,
) -> OptimizationResult:
    """Run the loop, then validate on fresh replications (see the module docstring).

    ``progress`` receives a line per iteration; ``tick`` is called with 1 per finished replication.
    """
    if validation_rounds < 1:
        raise ValueError(
            f"validation_rounds must be >= 1 (fresh replications validate the result): {validation_rounds}"
        )
    opts = opts or AllocationOptions()
    seed = scenario.spec.seed if seed is None else seed
    loop = _Loop(scenario, opts, reps, days, processes, solver, progress, tick)
    tune_seed, it, budget_binds = seed, 0, False
    limit = f"iteration limit ({max_iterations}) reached"
    stop = limit
    rnd = 0
    while True:  # validation rounds: at least one, at most validation_rounds
        rnd += 1
        it, why, budget_binds = _tune(scenario, loop, tune_seed, it, max_iterations)
        stop = why or limit  # this round's reason: an earlier round's "meets" no longer holds
        val_seed = seed + rnd * VALIDATION_SEED_OFFSET
        validation = loop.simulate(val_seed)
        vlate, vcov_c, vcov_s, vshare = loop.misses(validation)
        loop.record(it, "validate", val_seed, validation, vlate, vcov_c, vcov_s)
        vmiss_ids = [scenario.community_ids[i] for i in np.flatnonzero(vlate | vcov_c | loop.unresolved)] + [
            scenario.street_ids[i] for i in np.flatnonzero(vcov_s)
        ]
        loop.say(f"validation on fresh replications (seed {val_seed}): units missing a target {len(vmiss_ids)}")
        if not vmiss_ids or budget_binds or it >= max_iterations or rnd == validation_rounds:
            break
        binds = loop.correct(validation, vlate, vcov_c, vcov_s, vshare)
        if binds:
            stop = binds
            break
        tune_seed = val_seed
    if vmiss_ids and not budget_binds:
        shown = ", ".join(vmiss_ids[:5]) + (", ..." if len(vmiss_ids) > 5 else "")
        stop += f"; on fresh replications {len(vmiss_ids)} unit(s) still miss a target ({shown})"
    stop += loop.no_fund_words()
    return OptimizationResult(
        loop.res,
        pd.DataFrame(loop.rows),
        stop,
        validation,
        vmiss_ids,
        loop.curves,
        prediction_error(scenario, loop.res, validation),
    )

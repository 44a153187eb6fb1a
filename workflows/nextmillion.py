"""Where the next million goes, checked: the allocator's per-community gains of one more million yuan
(``solvers.marginal``), at curves refitted to simulation, against re-simulated paired differences.

Data in, data out (:class:`NextMillionOptions` in, :class:`NextMillionResult` out):

1. simulate the allocation (default: the baseline) and refit each community's on-time and outcome curves
   through its simulated rates (theory's shape, simulation's level, as ``workflows.optimize`` does);
2. predict every community's gain of a million as fund and as staff;
3. check: add the million as fund in the ``check`` communities with the largest predicted fund gain and the
   ``check`` with the smallest, and as staff in the same way, and simulate both allocations on the same
   seeds as the first (common random numbers; communities share no planned resource, so one run checks
   them all); each checked community's simulated gain is a paired difference over replications with its
   95% interval. The prediction agrees in sign when a predicted gain of at least one outcome a year has a
   positive simulated mean, or a smaller one a simulated mean within one outcome (or its interval's half
   width) of zero; the ranks agree as far as Spearman's correlation between predicted and simulated gains
   says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from scenario.allocation import Allocation
from scenario.load import Scenario
from sim.replications import Replications, run_replications
from solvers.costs import cost_per_unit
from solvers.curves import Curves, service_curves
from solvers.marginal import MILLION_YUAN, next_million, with_more
from workflows.run import RunEvent, StepFinished, StepStarted, Ticked

__all__ = ["NextMillionOptions", "NextMillionResult", "check_next_million", "refitted_curves", "GAIN_KPIS"]

# the simulation's KPI and the name of its gain in solvers.marginal's table
GAIN_KPIS = {
    "resolution_share": "resolution",
    "satisfaction_share": "satisfaction",
    "on_time_share": "on_time",
    "duty_coverage": "coverage",
}
_OUTCOMES = ("resolution_share", "satisfaction_share", "on_time_share")  # a case resolved, satisfied, on time
_SOME = 1.0  # outcomes a year: a predicted gain at least this should show in the simulation


@dataclass(frozen=True)
class NextMillionOptions:
    """``allocation`` None: the baseline; ``check``: communities checked at each end of each use's ranking."""

    allocation: Allocation | None = None
    check: int = 5
    reps: int = 3
    days: int | None = None
    seed: int | None = None
    processes: int | None = None


@dataclass
class NextMillionResult:
    """The prediction for every community, the checked ones against simulation, and the agreement."""

    scenario: Scenario
    options: NextMillionOptions
    seed: int
    table: pd.DataFrame  # per community: gains of a million as fund and as staff (solvers.marginal), ranked
    check: pd.DataFrame  # per checked community and use: predicted and simulated gains
    agreement: pd.DataFrame  # per use: communities checked, signs agreeing, Spearman's rank correlation, a note
    checked_per_end: int  # communities checked at each end of a ranking: options.check, or fewer in a small city


def refitted_curves(scenario: Scenario, alloc: Allocation, runs: Replications) -> Curves:
    """The theory's curves refitted through each community's simulated on-time, resolution and satisfaction."""
    curves = service_curves(scenario)
    per = runs.group("community").reindex(list(scenario.community_ids))
    curves = curves.refit(alloc.workers, per["on_time_share"].to_numpy(), per["on_time_share"].notna().to_numpy())
    if curves.outcomes is None:
        return curves
    fitted = curves.outcomes.refit(
        alloc.service_fund_yuan,
        per["found_late_share"].to_numpy(),
        per["resolution_share"].to_numpy(),
        per["satisfaction_share"].to_numpy(),
    )
    return replace(curves, outcomes=fitted)


def _ignore(event: RunEvent) -> None:
    """No progress reporting."""


def check_next_million(
    scenario: Scenario, options: NextMillionOptions | None = None, progress: Callable[[RunEvent], None] | None = None
) -> NextMillionResult:
    """Predict and check where the next million goes (see the module docstring).

    Raises:
        ValueError: fewer than 2 replications (a paired difference needs two) or ``check`` below 1.
    """
    o = options or NextMillionOptions()
    if o.reps < 2 or o.check < 1:
        raise ValueError(f"reps must be >= 2 and check >= 1, found reps {o.reps}, check {o.check}")
    report = progress or _ignore
    alloc = o.allocation or scenario.baseline
    seed = scenario.spec.seed if o.seed is None else o.seed
    n = scenario.n_communities
    report(StepStarted("simulate", "the allocation, then a million more in the checked communities", 3 * o.reps))

    def sim(a: Allocation) -> Replications:
        return run_replications(
            scenario, a, o.reps, days=o.days, seed=seed, processes=o.processes, progress=lambda k: report(Ticked(k))
        )

    base = sim(alloc)
    table = next_million(scenario, refitted_curves(scenario, alloc, base), alloc)
    k = min(o.check, n // 2)
    chosen = {}
    for use in ("fund", "staff"):
        ranked = table.sort_values(f"{use}_outcomes_per_year", ascending=False, kind="stable").community.tolist()
        chosen[use] = list(dict.fromkeys(ranked[:k] + ranked[-k:]))
    pos = {c: i for i, c in enumerate(scenario.community_ids)}
    workers = int(MILLION_YUAN // cost_per_unit(scenario)["workers"])
    runs = {
        "fund": sim(with_more(alloc, np.array([pos[c] for c in chosen["fund"]]), fund_yuan=MILLION_YUAN)),
        "staff": sim(with_more(alloc, np.array([pos[c] for c in chosen["staff"]]), workers=workers)),
    }
    report(StepFinished("simulate", value=runs))
    check = pd.concat([_paired(scenario, table, base, runs[u], chosen[u], u) for u in ("fund", "staff")])
    return NextMillionResult(scenario, o, seed, table, check.reset_index(drop=True), _agreement(check, k < n // 2), k)


def _paired(
    scenario: Scenario, table: pd.DataFrame, base: Replications, more: Replications, ids: list[str], use: str
) -> pd.DataFrame:
    """Per checked community: the predicted gain and the simulated paired difference (mean, 95% interval)."""
    a = base.group_per_rep("community")
    b = more.group_per_rep("community")
    pred = table.set_index("community")
    rows = []
    for c in ids:
        x = a.loc[[c]].set_index("replication")
        y = b.loc[[c]].set_index("replication").reindex(x.index)
        row: dict = {"use": use, "community": c, "predicted_outcomes_per_year": pred.loc[c, f"{use}_outcomes_per_year"]}
        year = 365.0 * x["cases"].to_numpy() / (base.days - scenario.spec.calendar.warmup_days)
        gain = sum((y[k] - x[k]).to_numpy() for k in _OUTCOMES) * year
        for kpi, name in GAIN_KPIS.items():
            if kpi in x:
                row[f"predicted_{name}_points"] = pred.loc[c, f"{use}_{name}_points"]
                row[f"simulated_{name}_points"] = 100 * float(np.mean(y[kpi] - x[kpi]))
        m = float(np.mean(gain))
        half = float(stats.t.ppf(0.975, len(gain) - 1) * np.std(gain, ddof=1) / np.sqrt(len(gain)))
        row.update(simulated_outcomes_per_year=m, simulated_ci95_low=m - half, simulated_ci95_high=m + half)
        p = row["predicted_outcomes_per_year"]
        # the sign of the simulated mean as predicted (a gain, or next to none); significant: the interval
        # excludes zero (with few replications a real gain's interval often reaches it)
        row["sign_agrees"] = bool(m > 0) if p >= _SOME else bool(abs(m) < max(_SOME, half))
        row["significant"] = bool(m - half > 0 or m + half < 0)
        rows.append(row)
    return pd.DataFrame(rows)


def _rank_note(n: int, more_possible: bool) -> str:
    """What a rank correlation over ``n`` communities can say: with 2 it is +1 or -1 whatever the numbers."""
    if n <= 2:
        return f"{n} communities: the rank correlation is +1 or -1 by construction; it says nothing"
    if n < 6:
        more = " (check more with --check)" if more_possible else ""
        return f"only {n} communities: a rank correlation of so few is weak evidence{more}"
    return ""


def _agreement(check: pd.DataFrame, more_possible: bool) -> pd.DataFrame:
    rows = []
    for use, g in check.groupby("use", sort=False):
        rho = stats.spearmanr(g.predicted_outcomes_per_year, g.simulated_outcomes_per_year).statistic
        rows.append(
            {
                "use": use,
                "communities_checked": len(g),
                "signs_agreeing": int(g.sign_agrees.sum()),
                "spearman_rank_correlation": float(rho),
                "note": _rank_note(len(g), more_possible),
            }
        )
    return pd.DataFrame(rows)

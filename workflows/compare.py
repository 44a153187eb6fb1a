"""Comparing allocations by simulation with common random numbers: paired differences with 95% CIs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from sim.replications import Replications, confidence_interval, kpi_range, run_allocations
from solvers.policy import check_policy
from workflows.units import below_target_counts

__all__ = ["Comparison", "compare_allocations", "paired", "CITY_KPIS", "GROUP_KPIS"]

CITY_KPIS = [
    # the three rates residents see, and what moves them
    "response_share",
    "resolution_share",
    "satisfaction_share",
    "repeat_complaints",
    "found_late_share",
    "unfunded_share",
    "fund_spent_yuan",
    "fund_spent_share",
    "fund_exhausted_communities",
    "on_time_share",
    "overdue_cases",
    "late_at_grid_share",
    "late_at_desk_share",
    "late_at_street_share",
    "late_at_city_share",
    "late_after_reopen_share",
    "resolution_p90_hours",
    "duty_coverage",
    "duty_coverage_grid",
    "duty_coverage_desk",
    "duty_coverage_street",
    "resolution_mean_hours",
    "utilisation_grid",
    "utilisation_desk",
    "utilisation_street",
]
GROUP_KPIS = [
    "resolution_share",
    "satisfaction_share",
    "response_share",
    "on_time_share",
    "resolution_p90_hours",
    "overdue_cases",
]


@dataclass
class Comparison:
    """Each allocation's simulated KPIs and their paired differences from the first allocation."""

    labels: list[str]
    allocations: list[Allocation]
    runs: list[Replications]
    city: pd.DataFrame  # kpi, allocation, mean, ci95_low, ci95_high, diff, diff_low, diff_high, significant
    static: pd.DataFrame  # allocation: costs, workers per 10k, policy violations
    groups: dict[str, pd.DataFrame]
    units: pd.DataFrame  # allocation, level, kpi, target, units, below_target, surely_below_target


def paired(a: np.ndarray, b: np.ndarray, kpi: str = "") -> tuple[float, float, float, bool]:
    """Mean paired difference b - a over replications, its 95% interval and whether it excludes 0. The
    difference of two shares lies in [-1, 1], and so does its interval (a Student t interval over 2
    replications of a share reached -104 points)."""
    d, lo, hi = confidence_interval(np.asarray(b, float) - np.asarray(a, float))
    if (kpi_range(kpi) == "share" or kpi.startswith("utilisation")) and not np.isnan(lo):
        lo, hi = max(lo, -1.0), min(hi, 1.0)
    sig = bool(not np.isnan(lo) and (lo > 0 or hi < 0))
    return d, lo, hi, sig


def compare_allocations(
    scenario: Scenario,
    allocations: list[tuple[str, Allocation]],
    reps: int,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    progress: Callable[[int], None] | None = None,
    keep_first_log: bool = False,
) -> Comparison:
    """Simulate every allocation on the same replications (same seed: common random numbers)."""
    labels = [l for l, _ in allocations]
    runs = run_allocations(  # one batch: the processes stay busy to the last replication
        scenario,
        [a for _, a in allocations],
        reps,
        days=days,
        seed=seed,
        processes=processes,
        keep_first_log=keep_first_log,
        progress=progress,
    )
    city = _city_table(labels, runs)
    static = _static_table(scenario, allocations)
    groups = {g: _group_table(g, labels, runs) for g in ("district", "street")}
    units = _units_table(scenario, labels, runs)
    return Comparison(labels, [a for _, a in allocations], runs, city, static, groups, units)


# (level, KPI of the group tables, its target in TargetSpec): the targets every unit must meet
UNIT_TARGETS = (
    ("community", "resolution_share", "resolution_share_min"),
    ("community", "satisfaction_share", "satisfaction_share_min"),
    ("community", "response_share", "response_share_min"),
    ("community", "on_time_share", "on_time_share_min"),
    ("community", "duty_coverage", "duty_coverage_min"),
    ("street", "office_duty_coverage", "duty_coverage_min"),
)


def _units_table(scenario: Scenario, labels: list[str], runs: list[Replications]) -> pd.DataFrame:
    """Per allocation and target: how many communities (street offices) are below it, by their mean over the
    replications and with their whole 95% interval (``workflows.units``). A count of units, not the lowest
    unit's estimate: the minimum of hundreds of noisy estimates is biased low."""
    targets = scenario.spec.targets
    rows = []
    for label, run in zip(labels, runs):
        for level, kpi, field in UNIT_TARGETS:
            ids = scenario.community_ids if level == "community" else scenario.street_ids
            per = run.group_per_rep(level)
            if kpi not in per.columns or ("coverage" in kpi and scenario.spec.duties is None):
                continue  # no duties: no coverage to count
            if getattr(targets, field) is None:
                continue  # no such target
            target = float(getattr(targets, field))
            rows.append(
                {"allocation": label, "level": level, "kpi": kpi, "target": target}
                | below_target_counts(per, ids, kpi, target)
            )
    columns = ["allocation", "level", "kpi", "target", "units", "below_target", "surely_below_target"]
    return pd.DataFrame(rows, columns=columns)


def _city_table(labels: list[str], runs: list[Replications]) -> pd.DataFrame:
    """Every city KPI of every allocation with its interval and its paired difference from the first."""
    ref = runs[0]
    rows = []
    for k in CITY_KPIS:
        for label, run in zip(labels, runs):
            m, lo, hi = confidence_interval(run.per_rep[k].to_numpy(), bounds=kpi_range(k))
            d, dlo, dhi, sig = paired(ref.per_rep[k].to_numpy(), run.per_rep[k].to_numpy(), k)
            rows.append((k, label, m, lo, hi, d, dlo, dhi, sig))
    columns = ["kpi", "allocation", "mean", "ci95_low", "ci95_high"]
    return pd.DataFrame(rows, columns=[*columns, "diff_vs_first", "diff_ci95_low", "diff_ci95_high", "significant"])


def _static_table(scenario: Scenario, allocations: list[tuple[str, Allocation]]) -> pd.DataFrame:
    """Headcounts, funds, costs and policy violations of each allocation (exact: no simulation)."""
    rows = []
    res10k = scenario.urban_residents.sum() / 10_000
    for label, a in allocations:
        p = check_policy(scenario, a)
        rows.append(
            {
                "allocation": label,
                "workers": a.total_workers,
                "workers_per_10k": a.total_workers / res10k,
                "secretary_assistants": int(a.secretary_assistants.sum()),
                "street_office_staff": int(a.street_office_staff.sum()),
                "mobile_grid_workers": int(a.mobile_grid_workers.sum()),
                "work_fund_yuan": float(a.work_fund_yuan.sum()),
                "service_fund_yuan": float(a.service_fund_yuan.sum()),
                "cost_city_yuan": p.costs.city_yuan,
                "cost_districts_yuan": sum(p.costs.district_yuan.values()),
                "cost_total_yuan": p.costs.total_yuan,
                "policy_violations": int((~p.rows.passed).sum()),
                "rows_from_baseline": len(a.filled_from_baseline),
            }
        )
    return pd.DataFrame(rows)


def _group_table(g: str, labels: list[str], runs: list[Replications]) -> pd.DataFrame:
    """Per district or street: each group KPI's mean and paired difference from the first allocation."""
    ref_g = runs[0].group_per_rep(g)
    out = []
    for label, run in zip(labels, runs):
        cur = run.group_per_rep(g)
        for k in GROUP_KPIS:
            a_ = ref_g.pivot_table(index=ref_g.index, columns="replication", values=k, observed=False)
            b_ = cur.pivot_table(index=cur.index, columns="replication", values=k, observed=False)
            # a unit with no value in every replication (no case handled: nobody to handle it) drops out of a
            # pivot table: NaN in its place, its difference NaN, not a missing row
            units, reps = a_.index.union(b_.index), a_.columns.union(b_.columns)
            a_, b_ = a_.reindex(index=units, columns=reps), b_.reindex(index=units, columns=reps)
            for unit in a_.index:
                m = float(np.nanmean(b_.loc[unit].to_numpy()))
                d, dlo, dhi, sig = paired(a_.loc[unit].to_numpy(), b_.loc[unit].to_numpy(), k)
                out.append((unit, k, label, m, d, dlo, dhi, sig))
    return pd.DataFrame(
        out, columns=[g, "kpi", "allocation", "mean", "diff_vs_first", "diff_ci95_low", "diff_ci95_high", "significant"]
    )

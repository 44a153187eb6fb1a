"""What the commands write: result tables, the main job's folder, the frontier plot and the study page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gridplan.fmt import missing
from scenario.load import Scenario

if TYPE_CHECKING:  # the run workflow imports the solvers: not needed to write a simulation
    import pandas as pd

    from workflows.run import RunResult

__all__ = [
    "write_simulation",
    "write_allocation_result",
    "write_run",
    "write_plan",
    "write_robust",
    "write_comparison",
    "frontier_png",
    "study_page",
    "VALIDATION_SEEDS",
]


def write_simulation(folder, reps, allocation) -> None:
    """kpis.csv, per-replication and per-group KPIs, backlog, case log and the allocation."""
    from scenario.allocation import write_allocation
    from sim.kpis import KPI_DESCRIPTIONS

    summary = reps.summary()
    summary["description"] = [KPI_DESCRIPTIONS.get(k, "") for k in summary.index]
    summary.to_csv(folder / "kpis.csv")
    reps.per_rep.to_csv(folder / "kpis_by_replication.csv")
    for g in ("district", "street", "community", "category"):
        reps.group(g).to_csv(folder / f"kpis_by_{g}.csv")
    reps.backlog_mean().to_csv(folder / "backlog.csv", index=False)
    reps.duty_hours_mean().to_csv(folder / "duty_hours.csv", index=False)
    if reps.first_log is not None:
        reps.first_log.to_parquet(folder / "case_log.parquet", index=False)
    from sim.caselog import case_log_schema

    case_log_schema().to_csv(folder / "case_log_schema.csv", index=False)
    write_allocation(allocation, folder / "allocation.csv")


def write_allocation_result(folder, scenario: Scenario, res) -> None:
    """An allocation and its tables: constraints, shadow prices, changes, service curves, deciding rows."""
    from scenario.allocation import write_allocation

    write_allocation(res.allocation, folder / "allocation.csv")
    res.constraints.to_csv(folder / "constraints.csv", index=False)
    res.shadow_prices.to_csv(folder / "shadow_prices.csv", index=False)
    res.changes(scenario, "district").to_csv(folder / "changes_by_district.csv", index=False)
    res.changes(scenario, "street").to_csv(folder / "changes_by_street.csv", index=False)
    res.curves_table(scenario).to_csv(folder / "service_curves.csv", index=False)
    res.deciding_community.to_csv(folder / "deciding_community.csv", index=False)
    res.deciding_street.to_csv(folder / "deciding_street.csv", index=False)


VALIDATION_SEEDS = "seed + k x 1,000,003 in validation round k = 1, 2, ... (iterations.csv lists every seed)"


def write_comparison(folder: Path, cmp) -> None:
    """A comparison's tables: city KPIs with paired differences, the exact figures, units below each target,
    and KPIs by district and street."""
    from sim.kpis import KPI_DESCRIPTIONS

    cmp.city.assign(description=cmp.city.kpi.map(lambda k: KPI_DESCRIPTIONS.get(k, ""))).to_csv(
        folder / "compare_city.csv", index=False
    )
    cmp.static.to_csv(folder / "compare_static.csv", index=False)
    cmp.units.to_csv(folder / "compare_units.csv", index=False)
    for g, df in cmp.groups.items():
        df.to_csv(folder / f"compare_{g}.csv", index=False)


def frontier_png(ok: pd.DataFrame) -> bytes:
    """What the budget buys residents: simulated resolution and satisfaction rates (95% intervals) and the
    allocator's predictions, against the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridplan.report import plot_png

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = ok.budget_yuan / 1e6
    for k, label, color in (
        ("resolution_share", "resolution", "C0"),
        ("satisfaction_share", "satisfaction", "C1"),
    ):
        if k not in ok or ok[k].isna().all():
            continue
        ax.errorbar(
            x,
            ok[k] * 100,
            yerr=[(ok[k] - ok[f"{k}_ci95_low"]) * 100, (ok[f"{k}_ci95_high"] - ok[k]) * 100],
            marker="o",
            color=color,
            label=f"{label}, simulated",
        )
        if f"{k}_predicted" in ok:
            ax.plot(x, ok[f"{k}_predicted"] * 100, ls="--", color=color, label=f"{label}, predicted")
    ax.set_xlabel("total budget (M yuan)")
    ax.set_ylabel("% of cases")
    ax.legend(fontsize=8)
    return plot_png(fig)


def study_page(study, df: pd.DataFrame) -> str:
    """The study's summary page: the table and, per variant and demand growth, KPIs against the budget."""
    import base64
    import html as html_mod

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridplan.fmt import formatted
    from gridplan.report import plot_png

    imgs = []
    ok = df[df.feasible] if "feasible" in df else df
    for kpi in [
        k
        for k in ("duty_coverage", "on_time_share", "duty_coverage_predicted", "cost_total_yuan")
        if k in ok and ok[k].notna().any()
    ]:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for (scen, growth, minimum), g in ok.groupby(
            ["scenario", "demand_growth", "workers_per_10k_minimum"], dropna=False
        ):
            g = g.sort_values("budget_yuan")
            label = f"{scen}, demand x{growth:g}" + ("" if missing(minimum) else f", {minimum:g}/10k")
            ax.plot(g.budget_yuan / 1e6, g[kpi], marker="o", label=label)
        ax.set_xlabel("total budget (M yuan a year)")
        ax.set_ylabel(kpi)
        ax.legend(fontsize=7)
        imgs.append(f'<img alt="{kpi}" src="data:image/png;base64,{base64.b64encode(plot_png(fig)).decode()}">')
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>study {html_mod.escape(study.name)}</title>"
        "</head><body style='font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto'>"
        f"<h1>Study {html_mod.escape(study.name)}</h1><p>{len(df)} points; command {study.command}, objective "
        f"{study.objective}, {study.reps} replications.</p>"
        + "".join(imgs)
        + formatted(df).to_html(index=False, na_rep="–")
        + "</body></html>"
    )


def _key(label: str) -> str:
    return label.replace(" ", "_").replace("-", "_")


def write_run(folder: Path, result: RunResult, args: argparse.Namespace | None = None) -> None:
    """Every table of the main job, and its metadata (``args``: the command line's settings, if any)."""
    from gridplan.results import metadata, write_json
    from scenario.allocation import write_allocation

    s, plans, cmp = result.scenario, result.plans, result.comparison
    first = plans[0].opt
    write_allocation_result(folder, s, first.result)
    write_allocation(s.baseline, folder / "allocation_baseline.csv")
    for p in plans:
        key = _key(p.label)
        write_allocation(p.opt.result.allocation, folder / f"allocation_{key}.csv")
        p.opt.result.deciding_community.to_csv(folder / f"deciding_community_{key}.csv", index=False)
        p.opt.result.deciding_street.to_csv(folder / f"deciding_street_{key}.csv", index=False)
        p.opt.iterations.to_csv(folder / f"iterations_{key}.csv", index=False)
        p.opt.prediction.to_csv(folder / f"prediction_{key}.csv", index=False)
        r = p.opt.result
        r.changes(s, "district").to_csv(folder / f"changes_by_district_{key}.csv", index=False)
        r.changes(s, "street").to_csv(folder / f"changes_by_street_{key}.csv", index=False)
        r.shadow_prices.to_csv(folder / f"shadow_prices_{key}.csv", index=False)
    result.baseline_check.rows.to_csv(folder / "check_baseline.csv", index=False)
    first.iterations.to_csv(folder / "iterations.csv", index=False)
    write_comparison(folder, cmp)
    cmp.runs[0].duty_hours_mean().to_csv(folder / "duty_hours_baseline.csv", index=False)
    result.calibration.to_csv(folder / "calibration.csv", index=False)
    result.planned_load.to_csv(folder / "planned_load.csv", index=False)
    result.predictions.to_csv(folder / "prediction_city.csv", index=False)
    result.next_million.to_csv(folder / "next_million.csv", index=False)
    for (label, lv), df in result.scorecards.items():
        df.to_csv(folder / f"scorecard_{lv}_{_key(label)}.csv", index=False)
    write_json(
        folder / "metadata.json",
        metadata(
            s,
            "run",
            args,
            seed=result.seed,
            days=result.options.days or s.spec.calendar.days,
            compare_seed=result.compare_seed,
            validation_seeds=VALIDATION_SEEDS,
            replications=result.options.reps,
            plans={
                p.label: {"stop_reason": p.opt.stop_reason, "validation_missing": p.opt.validation_missing}
                for p in plans
            },
        ),
    )


def write_plan(folder: Path, result, args: argparse.Namespace | None = None) -> None:
    """Every table of a multi-year plan, each year's allocation and policy check, and the metadata."""
    import pandas as pd

    from gridplan.results import metadata, write_json
    from scenario.allocation import write_allocation

    s = result.scenario
    result.by_year.to_csv(folder / "plan_by_year.csv", index=False)
    result.costs.to_csv(folder / "cost_by_funder.csv", index=False)
    result.flows.to_csv(folder / "flows_by_district.csv", index=False)
    result.headcount.to_csv(folder / "headcount_by_post_level.csv", index=False)
    result.reach.to_csv(folder / "reach_by_community.csv", index=False)
    result.faster.to_csv(folder / "faster_paths.csv", index=False)
    result.assumptions.to_csv(folder / "workforce_assumptions.csv", index=False)
    result.kpis.to_csv(folder / "kpis_by_year.csv", index=False)
    checks = pd.concat([c.rows.assign(year=t) for t, c in enumerate(result.checks)])
    checks.to_csv(folder / "policy_check_by_year.csv", index=False)
    for t, a in enumerate(result.path.allocations):
        write_allocation(a, folder / f"allocation_year_{t}.csv")
    write_json(
        folder / "metadata.json",
        metadata(
            s,
            "plan",
            args,
            seed=result.seed,
            years=result.path.years,
            target_year=result.path.target_year,
            replications=result.options.reps,
            days=result.options.days or s.spec.calendar.days,
            fixed_point_solves=result.path.fixed_point_solves,
            pay_converged=result.path.pay_converged,
            simulation_seed="the same seed every year and every plan (common random numbers)",
        ),
    )


def write_robust(folder: Path, result, args: argparse.Namespace | None = None) -> None:
    """A robust plan's tables: the cost of robustness, every level's margins, fresh check and iterations, the
    allocations, and the metadata."""
    import pandas as pd

    from gridplan.results import metadata, write_json
    from scenario.allocation import write_allocation
    from workflows.optimize import VALIDATION_SEED_OFFSET

    s = result.scenario
    result.table.to_csv(folder / "cost_of_robustness.csv", index=False)
    result.plan.margins.to_csv(folder / "margins.csv", index=False)
    result.plan.holds.to_csv(folder / "fresh_check.csv", index=False)
    write_allocation(result.plan.result.allocation, folder / "allocation.csv")
    frames: dict[str, list[pd.DataFrame]] = {"margins": [], "holds": [], "iterations": []}
    for x in result.levels:
        label = "mean" if x.probability is None else f"{x.probability:g}"
        write_allocation(x.result.allocation, folder / f"allocation_{label}.csv")
        frames["margins"].append(x.margins.assign(plan=label))
        frames["holds"].append(x.holds.assign(plan=label))
        frames["iterations"].append(x.iterations.assign(plan=label, stop_reason=x.stop_reason))
    pd.concat(frames["margins"]).to_csv(folder / "margins_all_levels.csv", index=False)
    pd.concat(frames["holds"]).to_csv(folder / "fresh_check_all_levels.csv", index=False)
    pd.concat(frames["iterations"]).to_csv(folder / "iterations.csv", index=False)
    if result.reference is not None:
        result.reference[1].to_csv(folder / "fresh_check_fixed_margin.csv", index=False)
    o = result.options
    write_json(
        folder / "metadata.json",
        metadata(
            s,
            "robust",
            args,
            seed=result.seed,
            probability=result.plan.probability,
            variants=list(result.plan.variants),
            levels=["mean" if x.probability is None else x.probability for x in result.levels],
            replications=o.reps,
            validation_replications=o.validation_reps,
            validation_seed=f"seed + {VALIDATION_SEED_OFFSET:,} (every level and the fixed margin: the same years)",
            simulated_years={
                ("mean" if x.probability is None else f"{x.probability:g}"): x.replications for x in result.levels
            },
            stop_reasons={
                ("mean" if x.probability is None else f"{x.probability:g}"): x.stop_reason for x in result.levels
            },
            holds_probability=result.plan.holds_probability,
        ),
    )

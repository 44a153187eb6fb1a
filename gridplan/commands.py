"""Implementations of the command-line commands (thin: load, call the library, print)."""

from __future__ import annotations

import argparse
import io
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from gridplan.fmt import difference, number, table, yuan
from scenario.allocation import atomic_write_text
from scenario.load import Scenario, load_scenario
from scenario.text import percent
from solvers.policy import check_policy

__all__ = ["validate", "check", "scenario_summary"]


def _overlap(surge, days: int) -> int:
    """Days of a surge inside the simulated horizon."""
    return max(0, min(surge.start_day + surge.length_days, days) - surge.start_day)


def scenario_summary(s: Scenario) -> str:
    """A one-screen summary of a scenario: structure, baseline, rules, money, demand."""
    spec = s.spec
    res = int(s.urban_residents.sum())
    hh = int(s.households.sum())
    b = s.baseline
    daily = sum(c.rate_per_10k_per_day for c in spec.demand.channels.values()) * res / 10_000
    kinds = [d.kind for d in spec.districts]
    lines = [
        f"Scenario {spec.name}  ({s.path})",
        f"  {spec.description.strip()}" if spec.description else "",
        f"  sha256 {s.sha256[:16]}…",
        "Structure",
        f"  districts {kinds.count('district')} + development zones {kinds.count('development_zone')}, "
        f"streets {len(s.street_ids)}, communities {s.n_communities}",
        f"  urban residents {res:,}, households {hh:,}, grids {int(s.grids.sum()):,} "
        f"({', '.join(f'{g} {int(n):,}' for g, n in zip(s.grid_class_ids, s.grids_by_class.sum(axis=0)))})",
        f"  residents per community: min {int(s.urban_residents.min()):,}, median "
        f"{int(np.median(s.urban_residents)):,}, max {int(s.urban_residents.max()):,}",
        "Baseline allocation",
        f"  community workers {b.total_workers:,} = {b.total_workers / res * 10_000:.1f} per 10,000 residents",
        f"  street party-office staff {int(b.street_office_staff.sum()):,}, mobile grid workers "
        f"{int(b.mobile_grid_workers.sum()):,}",
        f"  work fund {yuan(b.work_fund_yuan.sum())}, service fund {yuan(b.service_fund_yuan.sum())}",
        "Policy rules",
        *(
            f"  {'on ' if r.active else 'off'} {rid}: {r.kind.value} >= {number(r.minimum)} per {r.scope.value}"
            for rid, r in spec.policy.rules.items()
        ),
        "Money",
        f"  mean worker cost {yuan(s.mean_worker_cost_yuan)} a year; city pays "
        f"{spec.funding.city_paid_workers_per_community} workers per community",
        "  budgets: city "
        + (yuan(spec.funding.city_budget_yuan) if spec.funding.city_budget_yuan is not None else "none")
        + f", districts {yuan(sum(d.budget_yuan or 0 for d in spec.districts))}",
        "Demand",
        f"  {daily:,.0f} cases a day (~{daily * 365:,.0f} a year) from {len(spec.demand.channels)} channels, "
        f"{len(spec.demand.categories)} categories, {len(spec.demand.surges)} surge(s)",
        *(
            f"  surge {u.name!r}: demand x{u.multiplier:g} for {u.length_days} days from day {u.start_day} "
            f"(~{daily * (u.multiplier - 1) * _overlap(u, spec.calendar.days):+,.0f} cases in the "
            f"{spec.calendar.days}-day horizon)"
            for u in spec.demand.surges
        ),
        f"  target: on-time share >= {percent(spec.targets.on_time_share_min)}",
        f"Assumptions: {len(spec.assumptions)} stated in the scenario file",
    ]
    return "\n".join(line for line in lines if line)


def schema(args: argparse.Namespace) -> int:
    """The JSON Schema of scenario files, printed or written (only over an earlier schema file)."""
    import json

    from gridplan.reference import json_schema

    text = json.dumps(json_schema(), indent=1) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    from gridplan.results import check_out_file

    check_out_file(args.out, "{", example="scenario.schema.json")
    try:
        atomic_write_text(args.out, text)
    except OSError as exc:
        from scenario.errors import GridplanError

        raise GridplanError(f"--out {args.out}: could not write ({exc.strerror or exc}); nothing was written") from None
    print(f"wrote {args.out}")
    return 0


def validate(args: argparse.Namespace) -> int:
    """``gridplan validate``: load the scenario and print its summary."""
    s = load_scenario(args.scenario)
    print(scenario_summary(s))
    print("valid")
    return 0


CHECK_HEADER = "rule,scope,unit,bound,limit,actual,slack,passed"  # first line of check --out


def check(args: argparse.Namespace) -> int:
    """``gridplan check``: every rule and budget against an allocation; exit 1 if any fails."""
    from gridplan.results import check_out_file

    s = load_scenario(args.scenario)
    if args.out:
        check_out_file(args.out, CHECK_HEADER, s)
    alloc = s.read_allocation(args.allocation, partial=args.partial) if args.allocation else s.baseline
    rep = check_policy(s, alloc)
    print(f"Policy check of {alloc.source if args.allocation else 'the baseline allocation'} against scenario {s.name}")
    if alloc.filled_from_baseline:
        print(f"  {len(alloc.filled_from_baseline)} row(s) missing from the table were taken from the baseline")
    print(table(rep.summary()))
    failing = rep.rows[~rep.rows["passed"]]
    if len(failing):
        print(f"\nFailing units ({len(failing)}; first 10):")
        print(table(failing.head(10)))
    print("\nTotals")
    print(f"  community workers {rep.workers_total:,} = {rep.workers_per_10k:.1f} per 10,000 residents")
    print(
        f"  street party-office staff {rep.street_staff_total:,}; mobile grid workers {rep.mobile_grid_workers_total:,}"
    )
    print(
        f"  cost: city {yuan(rep.costs.city_yuan)}; "
        + "; ".join(f"{d} {yuan(v)}" for d, v in rep.costs.district_yuan.items())
        + f"; total {yuan(rep.costs.total_yuan)}"
    )
    for note in rep.notes:
        print(f"Note: {note}")
    if args.out:
        buf = io.StringIO()
        rep.rows.to_csv(buf, index=False)
        from gridplan.spreadsheet import inert_csv_text

        try:
            atomic_write_text(args.out, inert_csv_text(buf.getvalue()))
        except OSError as exc:
            from scenario.errors import GridplanError

            raise GridplanError(
                f"--out {args.out}: could not write ({exc.strerror or exc}); nothing was written"
            ) from None
        print(f"wrote {args.out}")
    print("PASS" if rep.passed else "FAIL: at least one rule or budget is not met")
    return 0 if rep.passed else 1


# ------------------------------------------------------------------ simulate
def sim_days(args: argparse.Namespace, scenario: Scenario) -> int:
    """The simulated days: ``--days`` or the scenario's, refused unless longer than the warm-up.

    Raises:
        GridplanError: ``--days`` is not more than the scenario's ``calendar.warmup_days``.
    """
    from scenario.errors import GridplanError

    days = args.days or scenario.spec.calendar.days
    if days <= scenario.spec.calendar.warmup_days:
        raise GridplanError(
            f"--days must be > the scenario's calendar.warmup_days "
            f"({scenario.spec.calendar.warmup_days}) so that some cases are counted, found {days}"
        )
    return days


def _say(message: str) -> None:
    """A progress message of a long run (silenced by --quiet); results are printed, not said."""
    from gridplan.progress import quiet

    if not quiet():
        print(message, flush=True)


def run_sims(scenario: Scenario, allocation, reps: int, label: str, **options):
    """Replications with progress (a bar on a terminal, a line every few seconds on a pipe); ``options`` are
    ``sim.replications.run_replications``'s (days, seed, processes, log_dir, split_districts...).

    ``split_districts`` None: district by district when the city is large (``sim.split.split_by_default``).
    """
    from gridplan.progress import progress
    from sim.replications import run_replications
    from sim.split import split_by_default

    split = options.pop("split_districts", None)
    if split is None:
        split = split_by_default(scenario, options.get("days") or scenario.spec.calendar.days)
    # a replication split by district reports each district task
    steps = reps * len(scenario.district_ids) if split else reps
    with progress(steps, label, unit="district" if split else "rep") as tick:
        return run_replications(scenario, allocation, reps, progress=tick, split_districts=split, **options)


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


def kpi_screen(reps) -> str:
    s = reps.summary()
    show = [
        "cases",
        "on_time_share",
        "overdue_cases",
        "resolution_mean_hours",
        "resolution_p50_hours",
        "resolution_p90_hours",
        "satisfaction_share",
        "reopened_share",
        "escalated_city",
        "utilisation_grid",
        "utilisation_desk",
        "utilisation_street",
        "duty_coverage",
        "duty_coverage_grid",
        "duty_coverage_desk",
        "duty_coverage_street",
        "duty_coverage_min_community",
        "duty_backlog_hours",
        "wait_mean_hours_grid",
        "wait_probability_grid",
        "wait_mean_hours_desk",
        "wait_probability_desk",
        "wait_mean_hours_street",
        "wait_probability_street",
        "mobile_share",
        "volunteer_share",
    ]
    kw = max(len(k) for k in show) + 1
    lines = [f"{'KPI':<{kw}}{'mean':>14}   95% CI"]
    for k in show:
        m, lo, hi = s.loc[k]
        fmt = (
            (lambda x: f"{x:.1%}")
            if ("share" in k or "utilisation" in k or "coverage" in k or "probability" in k)
            else (lambda x: f"{x:,.3f}")
            if "hours" in k and abs(m) < 10
            else (lambda x: f"{x:,.1f}")
        )
        ci = f"[{fmt(lo)}, {fmt(hi)}]" if not np.isnan(lo) else "(one replication)"
        lines.append(f"{k:<{kw}}{fmt(m):>14}   {ci}")
    return "\n".join(lines)


def duty_screen(reps) -> str:
    """Hours by level and work: done a year, coverage of scheduled duties, backlog at the end."""
    d = reps.duty_hours_mean()
    lines = [f"{'level':<8}{'work':<24}{'kind':<11}{'hours a year':>14}{'coverage':>10}{'backlog h':>11}"]
    for _, r in d.iterrows():
        cov = ("–" if r.kind == "scheduled" else "") if np.isnan(r.coverage) else f"{r.coverage:.1%}"
        bl = "" if np.isnan(r.backlog_end_hours) else f"{r.backlog_end_hours:,.0f}"
        lines.append(f"{r.level:<8}{r.work:<24}{r.kind:<11}{r.hours_done_per_year:>14,.0f}{cov:>10}{bl:>11}")
    return "\n".join(lines)


def simulate(args: argparse.Namespace) -> int:
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json

    s = load_scenario(args.scenario)
    alloc = s.read_allocation(args.allocation, partial=args.partial) if args.allocation else s.baseline
    days = sim_days(args, s)
    seed = s.spec.seed if args.seed is None else args.seed
    out = check_out(args.out or default_out(s, "simulate"), s)
    with result_folder(out, s) as folder:
        # every replication writes its case log into the (temporary) result folder as it finishes
        reps = run_sims(
            s,
            alloc,
            args.reps,
            "simulating",
            days=days,
            seed=seed,
            processes=args.processes,
            log_dir=folder / "case_log",
            split_districts=args.split_districts,
        )
        write_simulation(folder, reps, alloc)
        write_json(
            folder / "metadata.json",
            metadata(
                s,
                "simulate",
                args,
                seed=seed,
                replications=args.reps,
                days=days,
                warmup_days=s.spec.calendar.warmup_days,
                allocation=alloc.source,
                filled_from_baseline=list(alloc.filled_from_baseline),
                case_log="case_log/replication=R/part-0.parquet for every replication, or replication=R/"
                "district=D/part-0.parquet when split by district (columns: case_log_schema.csv)",
            ),
        )
    measured = days - min(s.spec.calendar.warmup_days, days - 1)
    print(
        f"Simulation of {s.name}: {args.reps} replication(s) of {days} days, seed {seed}, "
        f"warm-up {s.spec.calendar.warmup_days} days; counts (cases, overdue, escalated) are over the "
        f"{measured} measured days"
    )
    print(kpi_screen(reps))
    if s.spec.duties is not None:
        print("\nStaff hours a year by level and work (mean over replications):")
        print(duty_screen(reps))
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------ allocate
def _options(args: argparse.Namespace):
    from solvers.lpmodel import AllocationOptions

    return AllocationOptions(
        objective=args.objective,
        total_budget_yuan=args.budget_yuan,
        max_change_workers=args.max_change,
        equity_spread_per_10k=args.equity_spread_per_10k,
        free_mobile=args.free_mobile,
    )


def write_allocation_result(folder, scenario: Scenario, res) -> None:
    from scenario.allocation import write_allocation

    write_allocation(res.allocation, folder / "allocation.csv")
    res.constraints.to_csv(folder / "constraints.csv", index=False)
    res.shadow_prices.to_csv(folder / "shadow_prices.csv", index=False)
    res.changes(scenario, "district").to_csv(folder / "changes_by_district.csv", index=False)
    res.changes(scenario, "street").to_csv(folder / "changes_by_street.csv", index=False)
    res.curves_table(scenario).to_csv(folder / "service_curves.csv", index=False)
    res.deciding_community.to_csv(folder / "deciding_community.csv", index=False)
    res.deciding_street.to_csv(folder / "deciding_street.csv", index=False)


def allocation_screen(scenario: Scenario, res) -> str:
    base = check_policy(scenario, scenario.baseline)
    res10k = res.allocation.total_workers / scenario.urban_residents.sum() * 10_000
    lines = [
        f"Objective {res.options.objective} (solver {res.solver})",
        f"  community workers {res.allocation.total_workers:,} = {res10k:.1f} per 10,000 "
        f"(baseline {scenario.baseline.total_workers:,})",
        f"  street party-office staff {int(res.allocation.street_office_staff.sum()):,}, mobile grid workers "
        f"{int(res.allocation.mobile_grid_workers.sum()):,}",
        f"  cost: city {yuan(res.costs.city_yuan)}, districts {yuan(sum(res.costs.district_yuan.values()))}, "
        f"total {yuan(res.costs.total_yuan)} (baseline {yuan(base.costs.total_yuan)})",
        f"  expected on-time share (service curves) {res.expected_on_time_share:.1%}; "
        f"expected overdue cases {res.expected_overdue_cases:,.0f} a year; expected duty coverage "
        f"{res.expected_duty_coverage:.1%}",
        "Binding constraints (rows with zero slack; a workload row keeps the part of a person it rounds up, so "
        "what sets each unit is under 'Deciding constraint'):",
    ]
    b = res.constraints[res.constraints.binding].groupby("group").size()
    lines += [f"  {g or 'other'}: {n}" for g, n in b.items()]
    lines.append("Deciding constraint (the bound that sets each unit's staffing):")
    lines.append(table(res.deciding_counts()))
    if res.options.objective == "rebalance":
        lines.append(
            f"  capacity margin reached: the busiest unit plans at {1 / -res.objective_value:.1%} of its "
            f"available hours"
        )
    if res.options.objective == "equity":
        per10k = scenario.urban_residents / 10_000
        lines.append(
            f"  the worst community has {np.min(res.allocation.workers / per10k):.2f} workers per 10,000 "
            f"(baseline {np.min(scenario.baseline.workers / per10k):.2f})"
        )
    lines.append("Shadow prices (LP marginal rates; 'exact' where a re-solve with the next whole step was run):")
    lines += [f"  {t}" for t in res.shadow_prices.explanation]
    ch = res.changes(scenario, "district")
    lines.append("Change from the baseline by district:")
    cols = ["district", "workers_baseline", "workers_new", "workers_change", "street_staff_change", "cost_change_yuan"]
    lines.append(table(ch[cols]))
    return "\n".join(lines)


def allocate_cmd(args: argparse.Namespace) -> int:
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json
    from solvers.allocator import allocate

    s = load_scenario(args.scenario)
    out = check_out(args.out or default_out(s, "allocate"), s)
    from solvers.allocator import next_step_costs

    res = next_step_costs(s, allocate(s, _options(args), solver=args.solver), args.solver)
    with result_folder(out, s) as folder:
        write_allocation_result(folder, s, res)
        write_json(
            folder / "metadata.json",
            metadata(
                s,
                "allocate",
                args,
                objective=args.objective,
                solver=res.solver,  # the solver used (--solver auto picks one per objective)
                options=res.options.__dict__,
                objective_value=res.objective_value,
                cost_by_funder_yuan={"city": res.costs.city_yuan, **res.costs.district_yuan},
            ),
        )
    print(allocation_screen(s, res))
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------ compare / optimize / sweep / run
def _compare_screen(cmp) -> str:
    kw = max(len(k) for k in cmp.city.kpi) + 2
    aw = max(len(x) for x in cmp.labels) + 2
    lines = [f"{'KPI':<{kw}}{'allocation':<{aw}}{'mean':>12}   difference vs {cmp.labels[0]} [95% CI]"]
    for _, r in cmp.city.iterrows():
        share = "share" in r.kpi or "coverage" in r.kpi or "utilisation" in r.kpi
        f = (lambda x: f"{x:.2%}") if share else (lambda x: f"{x:,.1f}")
        d = partial(difference, share=share)
        diff = (
            ""
            if r.allocation == cmp.labels[0]
            else (
                f"{d(r.diff_vs_first)} [{d(r.diff_ci95_low)}, {d(r.diff_ci95_high)}]"
                + (" significant" if r.significant else " not significant")
            )
        )
        lines.append(f"{r.kpi:<{kw}}{r.allocation:<{aw}}{f(r['mean']):>12}   {diff}")
    lines.append("")
    lines.append(table(cmp.static))
    return "\n".join(lines)


def _allocation_labels(paths: list[Path], taken: list[str]) -> list[str]:
    """Each file's stem; folder/stem for every file whose stem another shares (e.g. two results'
    allocation.csv); the path itself if that still clashes. The same file twice is refused."""
    from scenario.errors import GridplanError

    seen: dict[Path, Path] = {}
    for p in paths:
        if p.resolve() in seen:
            raise GridplanError(f"--allocation {p}: the same file as {seen[p.resolve()]}; give each allocation once")
        seen[p.resolve()] = p
    stems = [p.stem for p in paths] + taken
    labels = [p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}/{p.stem}" for p in paths]
    return [str(p) if (labels + taken).count(x) > 1 else x for p, x in zip(paths, labels)]


def compare_cmd(args: argparse.Namespace) -> int:
    from gridplan.progress import progress
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json
    from workflows.compare import compare_allocations

    s = load_scenario(args.scenario)
    sim_days(args, s)
    allocs = [("baseline", s.baseline)] if args.with_baseline else []
    for p, label in zip(args.allocation, _allocation_labels(args.allocation, taken=[x for x, _ in allocs])):
        allocs.append((label, s.read_allocation(p, partial=True)))
    if len(allocs) < 2:
        from scenario.errors import GridplanError

        raise GridplanError(
            "compare needs at least two allocations (give --allocation twice, or once with the "
            "baseline, which is included unless --no-baseline)"
        )
    out = check_out(args.out or default_out(s, "compare"), s)
    with progress(len(allocs) * args.reps, "simulating") as tick:
        cmp = compare_allocations(
            s, allocs, args.reps, days=args.days, seed=args.seed, processes=args.processes, progress=tick
        )
    with result_folder(out, s) as folder:
        cmp.city.to_csv(folder / "compare_city.csv", index=False)
        cmp.static.to_csv(folder / "compare_static.csv", index=False)
        for g, df in cmp.groups.items():
            df.to_csv(folder / f"compare_{g}.csv", index=False)
        write_json(
            folder / "metadata.json",
            metadata(
                s,
                "compare",
                args,
                allocations=[a.source for _, a in allocs],
                seed=cmp.runs[0].seed,
                replications=args.reps,
            ),
        )
    for label, a in allocs:
        if a.filled_from_baseline:
            print(f"{label}: {len(a.filled_from_baseline)} row(s) missing from the table were taken from the baseline")
    print(_compare_screen(cmp))
    print(f"wrote {out}")
    return 0


VALIDATION_SEEDS = "seed + k x 1,000,003 in validation round k = 1, 2, ... (iterations.csv lists every seed)"


def optimize_cmd(args: argparse.Namespace) -> int:
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json
    from workflows.optimize import optimize

    s = load_scenario(args.scenario)
    sim_days(args, s)
    out = check_out(args.out or default_out(s, "optimize"), s)
    from gridplan.progress import progress

    with progress(None, "optimising", "replications") as tick:
        opt = optimize(
            s,
            _options(args),
            **_run_settings(args),
            progress=_say,
            tick=tick,
        )
    with result_folder(out, s) as folder:
        write_allocation_result(folder, s, opt.result)
        opt.iterations.to_csv(folder / "iterations.csv", index=False)
        opt.validation.summary().to_csv(folder / "validation_kpis.csv")
        opt.prediction.to_csv(folder / "prediction.csv", index=False)  # per community: predicted vs fresh runs
        write_json(
            folder / "metadata.json",
            metadata(
                s,
                "optimize",
                args,
                validation_seeds=VALIDATION_SEEDS,
                stop_reason=opt.stop_reason,
                validation_missing=opt.validation_missing,
            ),
        )
    print(f"stopped: {opt.stop_reason}")
    print(
        "validation on fresh replications: "
        + (
            "every community meets the target"
            if not opt.validation_missing
            else f"{len(opt.validation_missing)} communities miss the target"
        )
    )
    print(f"wrote {out}")
    return 0 if not opt.validation_missing else 1


def _run_settings(args: argparse.Namespace) -> dict:
    """The simulation and solver settings of a command line, as keyword arguments of the workflows."""
    return dict(reps=args.reps, days=args.days, seed=args.seed, processes=args.processes, solver=args.solver)


def _frontier_png(ok: pd.DataFrame) -> bytes:
    """The simulated on-time share against the budget, with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridplan.report import plot_png

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.errorbar(
        ok.budget_yuan / 1e6,
        ok.on_time_share,
        yerr=[ok.on_time_share - ok.on_time_share_ci95_low, ok.on_time_share_ci95_high - ok.on_time_share],
        marker="o",
    )
    ax.set_xlabel("total budget (M yuan)")
    ax.set_ylabel("simulated on-time share")
    return plot_png(fig)


def sweep_cmd(args: argparse.Namespace) -> int:
    """``gridplan sweep``: the budget frontier, resumable after an interruption (--resume)."""
    from gridplan.progress import progress
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json
    from scenario.errors import GridplanError
    from workflows.sweep import sweep

    s = load_scenario(args.scenario)
    sim_days(args, s)
    budgets = args.budget_yuan  # parsed and bounded by the command line
    out = check_out(args.out or default_out(s, "sweep"), s)
    # finished points live beside the result folder until the sweep completes (resumable with --resume)
    points = out.parent / f".{out.name}.points"
    if points.exists() and not args.resume:
        raise GridplanError(
            f"{points}: an interrupted sweep left its finished points there; rerun with "
            f"--resume to reuse them, or remove the folder to start afresh"
        )
    with progress(len(budgets), "budget points", "pt") as tick:
        df = sweep(
            s,
            budgets,
            **_run_settings(args),
            progress=tick,
            points_dir=points,
        )
    if df.resumed.any():
        _say(f"resumed: {int(df.resumed.sum())} of {len(df)} points were finished before and not recomputed")
    with result_folder(out, s) as folder:
        df.to_csv(folder / "frontier.csv", index=False)
        if df.get("feasible", pd.Series(dtype=bool)).any():
            (folder / "frontier.png").write_bytes(_frontier_png(df[df.feasible]))
        write_json(
            folder / "metadata.json",
            metadata(
                s, "sweep", args, budgets_yuan=budgets, replications=args.reps, resumed_points=int(df.resumed.sum())
            ),
        )
    from workflows.points import remove_points

    remove_points(points)  # the files gridplan wrote there; the complete result is in place
    print(table(df.drop(columns=["note"], errors="ignore")))
    for _, r in df[~df.get("feasible", pd.Series(True, index=df.index)).astype(bool)].iterrows():
        print(f"budget {r.budget_yuan:,.0f} yuan: no allocation; {r.note}")
    print(f"wrote {out}")
    return 0


def study_cmd(args: argparse.Namespace) -> int:
    """``gridplan study STUDY.yaml``: every point of a grid of scenario variants, resumable, in one table."""
    from gridplan.progress import progress
    from gridplan.results import check_out, metadata, result_folder, write_json
    from scenario.errors import GridplanError
    from workflows.study import load_study, run_study, study_points

    path = Path(args.study)
    if path.is_dir():
        path = path / "study.yaml"
    study = load_study(path)
    base = load_scenario(path.parent / study.grid.scenario[0])
    out = check_out(args.out or Path("results") / base.name / f"study-{study.name}", base)
    points = out.parent / f".{out.name}.points"
    if points.exists() and not args.resume:
        raise GridplanError(
            f"{points}: an interrupted study left its finished points there; rerun with --resume "
            f"to reuse them, or remove the folder to start afresh"
        )
    n = len(study_points(study))
    _say(f"study {study.name}: {n} points ({study.command}, objective {study.objective}, {study.reps} replications)")
    with progress(n, "study points", "pt") as tick:
        df = run_study(path, study, points, processes=args.processes, progress=tick)
    with result_folder(out, base) as folder:
        df.to_csv(folder / "study.csv", index=False)
        df.to_parquet(folder / "study.parquet", index=False)
        (folder / "study.html").write_text(study_page(study, df), encoding="utf-8")
        write_json(
            folder / "metadata.json",
            metadata(
                base, "study", args, study=study.model_dump(mode="json"), points=n, resumed_points=int(df.resumed.sum())
            ),
        )
    from workflows.points import remove_points

    remove_points(points)
    print(table(df.drop(columns=["note", "resumed"], errors="ignore").head(40)))
    if "feasible" in df:  # why a point has no allocation (the table's 'feasible' column says only 'no')
        for i, r in df[~df.feasible.astype(bool)].iterrows():
            print(f"point {i + 1} ({r.scenario}, budget {r.budget_yuan:,.0f} yuan): no allocation; {r.note}")
    print(f"wrote {out}")
    return 0


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
            label = f"{scen}, demand x{growth:g}" + ("" if pd.isna(minimum) else f", {minimum:g}/10k")
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


def serve_cmd(args: argparse.Namespace) -> int:
    """``gridplan serve``: the planner's desk on 127.0.0.1 (another address needs a token)."""
    from scenario.errors import GridplanError

    try:
        import dash  # noqa: F401  # the desk imports it when the app is built; say what to install first
    except ImportError:
        raise GridplanError(
            "gridplan serve needs Dash, which is not installed: pip install -e '.[serve]' (or 'gridplan[serve]')"
        ) from None
    from gridplan.desk import LOCAL_HOSTS, serve
    from gridplan.deskguard import resolve_token

    token = resolve_token(args.token, args.token_file)
    if args.host not in LOCAL_HOSTS and not token:
        raise GridplanError(
            f"--host {args.host}: other machines could reach the page; set GRIDPLAN_TOKEN (or --token-file "
            f"FILE; every request must then carry the token) or bind to 127.0.0.1"
        )
    if not 1 <= args.port <= 65535:
        raise GridplanError(f"--port must be 1-65535, found {args.port}")
    return serve(args.scenario, args.host, args.port, token)


def scorecard_screen(cards: pd.DataFrame, level: str, threshold: float, show: int = 8) -> str:
    """The best and worst units, and every unit likely to fall below the threshold."""
    cols = [
        level,
        "score",
        "score_ci95_low",
        "score_ci95_high",
        "rank_best",
        "rank_worst",
        "share_of_replications_below_threshold",
    ]
    flagged = cards[cards.likely_below_threshold]
    lines = [f"{level.capitalize()} scorecards ({len(cards)}): likely below {threshold:g} points: {len(flagged)}"]
    if len(cards) <= 2 * show:
        lines.append(table(cards[cols]))
    else:
        lines += [table(cards[cols].head(show)), "   ...", table(cards[cols].tail(show))]
    return "\n".join(lines)


def scorecard_cmd(args: argparse.Namespace) -> int:
    """``gridplan scorecard``: appraisal scores of every street and community, with intervals and ranks."""
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json
    from scenario.errors import GridplanError
    from workflows.scorecard import scorecards

    s = load_scenario(args.scenario)
    if s.spec.evaluation is None:
        raise GridplanError(
            f"{s.path}: no 'evaluation' section; add its indicators to compute scorecards "
            f"(see docs/scenario-reference.md, EvaluationSpec)"
        )
    alloc = s.read_allocation(args.allocation, partial=True) if args.allocation else s.baseline
    days = sim_days(args, s)
    seed = s.spec.seed if args.seed is None else args.seed
    out = check_out(args.out or default_out(s, "scorecard"), s)
    runs = run_sims(s, alloc, args.reps, "simulating", days=days, seed=seed, processes=args.processes)
    cards = {lv: scorecards(s, runs, lv) for lv in ("street", "community")}
    with result_folder(out, s) as folder:
        for lv, df in cards.items():
            df.to_csv(folder / f"scorecard_{lv}.csv", index=False)
        write_json(
            folder / "metadata.json",
            metadata(s, "scorecard", args, seed=seed, replications=args.reps, days=days, allocation=alloc.source),
        )
    thr = s.spec.evaluation.threshold_points
    for lv, df in cards.items():
        print(scorecard_screen(df, lv, thr))
    print(f"wrote {out}")
    return 0


def run_cmd(args: argparse.Namespace) -> int:
    """The main job: validate, check the baseline, optimise (min-cost and at equal money), compare,
    calibrate, report."""
    import datetime as dt
    import sys

    from gridplan.report import write_report
    from gridplan.results import check_out, result_folder
    from solvers.allocator import next_step_costs
    from workflows.calibration import calibration_table, static_figures

    s = load_scenario(args.scenario)
    sim_days(args, s)
    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = check_out(args.out or Path("results") / s.name / run_id, s)
    seed = s.spec.seed if args.seed is None else args.seed
    print(scenario_summary(s))
    base = check_policy(s, s.baseline)
    print(
        f"Baseline policy check: {'PASS' if base.passed else 'FAIL'} "
        f"({base.workers_total:,} workers = {base.workers_per_10k:.1f} per 10,000)"
    )
    plans = _optimised_plans(s, args)
    cmp = _compare_plans(s, args, plans, seed + 7)
    print(_compare_screen(cmp))
    calib = calibration_table(
        s,
        cmp.runs[0],
        args.reps,
        args.days,
        seed + 7,
        args.processes,
        progress=lambda m: _say("  " + m),
        static=static_figures(s),
    )
    if len(calib):
        print("Calibration against the source:")
        print(_calibration_screen(calib))
    plans[0].opt.result = next_step_costs(s, plans[0].opt.result, args.solver)
    cards = _scorecards_of(s, cmp)
    with result_folder(out, s) as folder:
        _write_run(folder, s, args, base, plans, cmp, calib, cards, seed)
        write_report(folder, s, plans, cmp, calib, " ".join(sys.argv), cards)
    print(f"wrote {out}/report.html")
    return 0


def _optimised_plans(s: Scenario, args: argparse.Namespace) -> list:
    """Simulation-optimisation for the chosen objective and, unless that is it, for the equal budget."""
    from dataclasses import replace as dc_replace

    from gridplan.progress import progress
    from gridplan.report import Plan
    from workflows.optimize import optimize

    opts = _options(args)
    plans = []
    for label, o in (
        (args.objective, opts),
        ("equal budget", dc_replace(opts, objective="rebalance", total_budget_yuan=None)),
    ):
        if label == "equal budget" and args.objective == "rebalance":
            continue
        print(f"Optimising '{label}' (allocate -> simulate -> correct -> allocate):")
        with progress(None, f"optimising '{label}'", "replications") as tick:
            opt = optimize(
                s,
                o,
                **_run_settings(args),
                progress=lambda m: _say("  " + m),
                tick=tick,
            )
        print(f"  stopped: {opt.stop_reason}")
        plans.append(Plan(label, opt))
    return plans


def _compare_plans(s: Scenario, args: argparse.Namespace, plans: list, seed: int):
    """The baseline and every plan on the same simulated complaints."""
    from gridplan.progress import progress
    from workflows.compare import compare_allocations

    _say("Comparing the allocations on the same complaints:")
    with progress((len(plans) + 1) * args.reps, "comparing") as tick:
        return compare_allocations(
            s,
            [("baseline", s.baseline)] + [(p.label, p.opt.result.allocation) for p in plans],
            args.reps,
            days=args.days,
            seed=seed,
            processes=args.processes,
            keep_first_log=True,
            progress=tick,
        )


def _calibration_screen(calib: pd.DataFrame) -> str:
    from workflows.calibration import shown

    view = calib.assign(
        model=[
            f"{shown(m)} [{shown(lo)}, {shown(hi)}]" if not np.isnan(lo) else shown(m)
            for m, lo, hi in zip(calib.model, calib.ci95_low, calib.ci95_high)
        ]
    )
    return table(view[["figure", "source", "model", "verdict"]])


def _scorecards_of(s: Scenario, cmp) -> dict:
    """Street and community scorecards under every compared allocation (none without an evaluation section)."""
    if s.spec.evaluation is None:
        return {}
    from workflows.scorecard import scorecards

    return {
        (label, lv): scorecards(s, run, lv)
        for label, run in zip(cmp.labels, cmp.runs)
        for lv in ("street", "community")
    }


def _key(label: str) -> str:
    return label.replace(" ", "_").replace("-", "_")


def _write_run(
    folder: Path,
    s: Scenario,
    args: argparse.Namespace,
    base,
    plans: list,
    cmp,
    calib: pd.DataFrame,
    cards: dict,
    seed: int,
) -> None:
    """Every table of the main job, and its metadata."""
    from gridplan.results import metadata, write_json
    from scenario.allocation import write_allocation

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
    base.rows.to_csv(folder / "check_baseline.csv", index=False)
    first.iterations.to_csv(folder / "iterations.csv", index=False)
    cmp.city.to_csv(folder / "compare_city.csv", index=False)
    cmp.static.to_csv(folder / "compare_static.csv", index=False)
    for g, df in cmp.groups.items():
        df.to_csv(folder / f"compare_{g}.csv", index=False)
    cmp.runs[0].duty_hours_mean().to_csv(folder / "duty_hours_baseline.csv", index=False)
    calib.to_csv(folder / "calibration.csv", index=False)
    for (label, lv), df in cards.items():
        df.to_csv(folder / f"scorecard_{lv}_{_key(label)}.csv", index=False)
    write_json(
        folder / "metadata.json",
        metadata(
            s,
            "run",
            args,
            compare_seed=seed + 7,
            validation_seeds=VALIDATION_SEEDS,
            replications=args.reps,
            plans={
                p.label: {"stop_reason": p.opt.stop_reason, "validation_missing": p.opt.validation_missing}
                for p in plans
            },
        ),
    )

"""The command-line commands: map the options, call the library, print its screens, write its folder.

What a command prints is in ``gridplan.screens``, what it writes in ``gridplan.writers``; the work itself
is in the workflows (``workflows.run`` is the main job).
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

from gridplan.fmt import interval_note, table, yuan
from gridplan.progress import say
from gridplan.screens import (
    RunConsole,
    allocation_screen,
    compare_screen,
    duty_screen,
    kpi_screen,
    scenario_summary,
    scorecard_screen,
)
from gridplan.writers import (
    VALIDATION_SEEDS,
    frontier_png,
    study_page,
    write_allocation_result,
    write_comparison,
    write_simulation,
)
from scenario.allocation import Allocation, atomic_write_text
from scenario.load import Scenario, load_scenario

__all__ = [
    "validate",
    "check",
    "schema",
    "simulate",
    "allocate_cmd",
    "compare_cmd",
    "optimize_cmd",
    "sweep_cmd",
    "study_cmd",
    "serve_cmd",
    "scorecard_cmd",
    "run_cmd",
    "plan_cmd",
    "robust_cmd",
    "next_million_cmd",
    "sim_days",
    "run_sims",
    "CHECK_HEADER",
]


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
    alloc = read_table(s, args.allocation, args.partial) if args.allocation else s.baseline
    from solvers.policy import check_policy

    rep = check_policy(s, alloc)
    print(f"Policy check of {alloc.source if args.allocation else 'the baseline allocation'} against scenario {s.name}")
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
def read_table(s: Scenario, path: Path, partial: bool, label: str = "") -> Allocation:
    """Read an allocation table and say what a partial one took from the baseline (rows, columns)."""
    alloc = s.read_allocation(path, partial=partial)
    taken = []
    if alloc.filled_from_baseline:
        taken.append(f"{len(alloc.filled_from_baseline)} row(s) missing from the table")
    if alloc.columns_from_baseline:
        taken.append(f"the column(s) it leaves out ({', '.join(alloc.columns_from_baseline)})")
    if taken:
        print(f"{label or path.name}: {' and '.join(taken)} were taken from the baseline")
    return alloc


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


def simulate(args: argparse.Namespace) -> int:
    """``gridplan simulate``: replications of one allocation, their KPIs with 95% intervals, and the case log."""
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json

    s = load_scenario(args.scenario)
    alloc = read_table(s, args.allocation, args.partial) if args.allocation else s.baseline
    days = sim_days(args, s)
    seed = s.spec.seed if args.seed is None else args.seed
    out = check_out(args.out or default_out(s, "simulate"), s)
    with result_folder(out, s) as folder:
        # with --case-log every replication writes its case log into the (temporary) result folder as it finishes
        reps = run_sims(
            s,
            alloc,
            args.reps,
            "simulating",
            days=days,
            seed=seed,
            processes=args.processes,
            log_dir=folder / "case_log" if args.case_log else None,
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
                "district=D/part-0.parquet when split by district (columns: case_log_schema.csv)"
                if args.case_log
                else "not written (gridplan simulate --case-log writes it)",
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


def allocate_cmd(args: argparse.Namespace) -> int:
    """``gridplan allocate``: one allocation by linear programming, what decides it and what it costs."""
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
    """``gridplan compare``: allocations on the same simulated complaints, with paired differences."""
    from gridplan.progress import progress
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json
    from workflows.compare import compare_allocations

    s = load_scenario(args.scenario)
    sim_days(args, s)
    out = check_out(args.out or default_out(s, "compare"), s)  # before the tables' notes: a refusal comes alone
    allocs = [("baseline", s.baseline)] if args.with_baseline else []
    for p, label in zip(args.allocation, _allocation_labels(args.allocation, taken=[x for x, _ in allocs])):
        allocs.append((label, read_table(s, p, True, label)))
    if len(allocs) < 2:
        from scenario.errors import GridplanError

        raise GridplanError(
            "compare needs at least two allocations (give --allocation twice, or once with the "
            "baseline, which is included unless --no-baseline)"
        )
    with progress(len(allocs) * args.reps, "simulating") as tick:
        cmp = compare_allocations(
            s, allocs, args.reps, days=args.days, seed=args.seed, processes=args.processes, progress=tick
        )
    with result_folder(out, s) as folder:
        write_comparison(folder, cmp)
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
    print(compare_screen(cmp))
    print(f"wrote {out}")
    return 0


def optimize_cmd(args: argparse.Namespace) -> int:
    """``gridplan optimize``: simulation-optimisation of one objective, validated on fresh replications."""
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
            progress=say,
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


SWEEP_SCREEN = (
    "budget_yuan",
    "feasible",
    "cost_total_yuan",
    "workers",
    "street_office_staff",
    "service_fund_yuan",
    "resolution_share_predicted",
    "resolution_share",
    "satisfaction_share_predicted",
    "satisfaction_share",
    "duty_coverage_predicted",
    "duty_coverage",
    "on_time_share",
)


def sweep_cmd(args: argparse.Namespace) -> int:
    """``gridplan sweep``: the budget frontier, resumable after an interruption (--resume)."""
    import pandas as pd

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
        say(f"resumed: {int(df.resumed.sum())} of {len(df)} points were finished before and not recomputed")
    with result_folder(out, s) as folder:
        df.to_csv(folder / "frontier.csv", index=False)
        if df.get("feasible", pd.Series(dtype=bool)).any():
            (folder / "frontier.png").write_bytes(frontier_png(df[df.feasible]))
        write_json(
            folder / "metadata.json",
            metadata(
                s, "sweep", args, budgets_yuan=budgets, replications=args.reps, resumed_points=int(df.resumed.sum())
            ),
        )
    from workflows.points import remove_points

    remove_points(points)  # the files gridplan wrote there; the complete result is in place
    shown = [c for c in SWEEP_SCREEN if c in df.columns]  # the rest, with every interval, is in frontier.csv
    print(table(df[shown]))
    for _, r in df[~df.get("feasible", pd.Series(True, index=df.index)).astype(bool)].iterrows():
        print(f"budget {r.budget_yuan:,.0f} yuan: no allocation; {r.note}")
    print(f"wrote {out}")
    return 0


def study_cmd(args: argparse.Namespace) -> int:
    """``gridplan study STUDY.yaml``: every point of a grid of scenario variants, resumable, in one table."""
    import pandas as pd

    from gridplan.progress import progress
    from gridplan.results import check_out, metadata, result_folder, write_json
    from scenario.errors import GridplanError
    from workflows.study import load_study, run_study, study_points

    path = Path(args.study)
    with contextlib.suppress(OSError):  # a name the system cannot look up: read_yaml says it does not exist
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
    say(f"study {study.name}: {n} points ({study.command}, objective {study.objective}, {study.reps} replications)")
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
            # a point of a study without a budget axis has the scenario's own budget (no number in the row)
            budget = "the scenario's budget" if pd.isna(r.budget_yuan) else f"budget {r.budget_yuan:,.0f} yuan"
            print(f"point {i + 1} ({r.scenario}, {budget}): no allocation; {r.note}")
    print(f"wrote {out}")
    return 0


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
    alloc = read_table(s, args.allocation, True) if args.allocation else s.baseline
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
    if note := interval_note(args.reps):
        print(f"Note: {note}")
    print(f"wrote {out}")
    return 0


def run_cmd(args: argparse.Namespace) -> int:
    """``gridplan run``: the main job (``workflows.run``), its screens as it goes, then its folder and report."""
    import datetime as dt
    import sys
    import time

    started = time.monotonic()
    from gridplan.report import write_report
    from gridplan.results import check_out, result_folder
    from gridplan.writers import write_run
    from workflows.run import RunOptions, run

    s = load_scenario(args.scenario)
    sim_days(args, s)
    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = check_out(args.out or Path("results") / s.name / run_id, s)
    print(scenario_summary(s))
    with RunConsole() as console:
        result = run(s, RunOptions(_options(args), **_run_settings(args)), progress=console)
    with result_folder(out, s) as folder:
        write_run(folder, result, args)
        write_report(folder, result, " ".join(sys.argv))
    print(f"wrote {out}/report.html")
    print(f"the main job took {_duration(time.monotonic() - started)} (after start-up)")
    return 0


def plan_cmd(args: argparse.Namespace) -> int:
    """``gridplan plan``: a multi-year path (``workflows.plan``), its screen, then its folder."""
    from gridplan.results import check_out, default_out, result_folder
    from gridplan.screens import plan_screen
    from gridplan.writers import write_plan
    from scenario.errors import GridplanError
    from solvers.lpmodel import AllocationOptions
    from workflows.plan import PlanOptions, plan

    s = load_scenario(args.scenario)
    if args.reps:
        sim_days(args, s)
    if args.target_year is not None and args.target_year > args.years:
        raise GridplanError(f"--target-year must be <= --years ({args.years}), found {args.target_year}")
    out = check_out(args.out or default_out(s, "plan"), s)
    opts = PlanOptions(
        years=args.years,
        target_year=args.target_year,
        allocation=AllocationOptions(),
        reps=args.reps,
        days=args.days,
        seed=args.seed,
        processes=args.processes,
        solver=args.solver,
        faster=args.faster,
    )
    with RunConsole() as console:
        result = plan(s, opts, progress=console)
    with result_folder(out, s) as folder:
        write_plan(folder, result, args)
    print(plan_screen(result))
    print(f"wrote {out}")
    return 0


def robust_cmd(args: argparse.Namespace) -> int:
    """``gridplan robust``: the plan that holds with a stated probability (``workflows.robust``), the cost of
    robustness, its screen, its folder and report; exit 1 if the fresh years fall short of the probability."""
    import sys

    from gridplan.results import check_out, default_out, result_folder
    from gridplan.robustreport import write_robust_report
    from gridplan.screens import robust_screen
    from gridplan.writers import write_robust
    from scenario.errors import GridplanError
    from workflows.robust import RobustOptions, robust

    s = load_scenario(args.scenario)
    sim_days(args, s)
    if args.probability is None and s.spec.targets.hold_probability is None:
        raise GridplanError(f"{s.path}: no targets.hold_probability; give --probability (e.g. 0.9)")
    variants = None
    if args.variant is not None:
        variants = () if args.variant == ["none"] else tuple(args.variant)
    out = check_out(args.out or default_out(s, "robust"), s)
    opts = RobustOptions(
        probability=args.probability,
        variants=variants,
        levels=args.levels,
        reps=args.reps,
        validation_reps=args.validation_reps,
        days=args.days,
        seed=args.seed,
        processes=args.processes,
        solver=args.solver,
        max_iterations=args.max_iterations,
        reference=args.reference,
    )
    try:
        with RunConsole() as console:
            result = robust(s, opts, progress=console)
    except ValueError as exc:
        raise GridplanError(str(exc)) from None
    with result_folder(out, s) as folder:
        write_robust(folder, result, args)
        write_robust_report(folder, result, " ".join(sys.argv))
    print(robust_screen(result))
    print(f"wrote {out}/report.html")
    return 0 if result.plan.holds_probability else 1


def next_million_cmd(args: argparse.Namespace) -> int:
    """``gridplan next-million``: every community's gain of one more million yuan as fund and as staff, from
    the allocator's rates at curves refitted to simulation, the ends of each ranking re-simulated."""
    from gridplan.results import check_out, default_out, metadata, result_folder, write_json
    from gridplan.screens import next_million_screen
    from workflows.nextmillion import NextMillionOptions, check_next_million

    s = load_scenario(args.scenario)
    sim_days(args, s)
    alloc = read_table(s, args.allocation, True) if args.allocation else s.baseline
    out = check_out(args.out or default_out(s, "next-million"), s)
    opts = NextMillionOptions(alloc, args.check, args.reps, args.days, args.seed, args.processes)
    with RunConsole() as console:
        result = check_next_million(s, opts, progress=console)
    with result_folder(out, s) as folder:
        result.table.to_csv(folder / "next_million.csv", index=False)
        result.check.to_csv(folder / "next_million_check.csv", index=False)
        result.agreement.to_csv(folder / "next_million_agreement.csv", index=False)
        write_json(
            folder / "metadata.json",
            metadata(s, "next-million", args, seed=result.seed, replications=args.reps, allocation=alloc.source),
        )
    print(next_million_screen(result))
    print(f"wrote {out}")
    return 0


def _duration(seconds: float) -> str:
    """``1 min 05 s``, or ``42 s`` under a minute."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"

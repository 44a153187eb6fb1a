"""The Python API: what a notebook calls. Each function returns a typed result with pandas DataFrames.

Stable surface (``import gridplan``): ``load_scenario``, ``check``, ``allocate``, ``simulate``,
``compare``, ``optimize``, ``sweep``, ``run``, ``plan``, ``robust``. Everything else is internal and may change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from gridplan.limits import MAX_DAYS, MAX_PROCESSES, MAX_REPS, MAX_SEED, check_budget, check_whole
from scenario.allocation import Allocation, align
from scenario.load import Scenario
from scenario.load import load_scenario as _load
from sim.replications import Replications, run_replications
from solvers.allocator import AllocationResult
from solvers.allocator import allocate as _allocate
from solvers.lpmodel import AllocationOptions
from solvers.policy import PolicyReport, check_policy
from workflows.compare import Comparison, compare_allocations
from workflows.optimize import OptimizationResult
from workflows.optimize import optimize as _optimize
from workflows.plan import PlanOptions, PlanResult
from workflows.plan import plan as _plan
from workflows.robust import RobustOptions, RobustResult
from workflows.robust import robust as _robust
from workflows.run import RunEvent, RunOptions, RunResult
from workflows.run import run as _run
from workflows.sweep import sweep as _sweep

__all__ = [
    "load_scenario",
    "check",
    "allocate",
    "simulate",
    "compare",
    "optimize",
    "sweep",
    "run",
    "plan",
    "robust",
    "Scenario",
    "Allocation",
    "AllocationOptions",
]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario (a YAML file or a folder holding scenario.yaml).

    Raises:
        ScenarioError: one line naming the file, the field or CSV cell, the rule and the value.
    """
    return _load(path)


def _run_args(
    scenario: Scenario,
    reps: int,
    days: int | None,
    seed: int | None,
    processes: int | None,
    min_reps: int = 1,
) -> tuple[int, int | None, int | None, int | None]:
    """The bounds the command line applies, so that a typo (``days=10**9``) is one ValueError, not a full memory.

    Raises:
        ValueError: one line naming the argument, what was expected and the value.
    """
    reps = check_whole("reps", reps, min_reps, MAX_REPS, " replications")
    if days is not None:
        days = check_whole("days", days, 1, MAX_DAYS, " days")
        warmup = scenario.spec.calendar.warmup_days
        if reps and days <= warmup:  # no replication (plan's reps=0) counts no case: no warm-up to outlast
            raise ValueError(f"days must be > the scenario's calendar.warmup_days ({warmup}), found {days}")
    if seed is not None:
        seed = check_whole("seed", seed, 0, MAX_SEED)
    if processes is not None:
        processes = check_whole("processes", processes, 1, MAX_PROCESSES, " processes")
    return reps, days, seed, processes


# compare, optimize and sweep answer with intervals and paired differences: two replications at least
PAIRED_REPS = 2


def _scenario(scenario: Scenario | str | Path) -> Scenario:
    """A loaded scenario, or a path to load (a YAML file or a folder holding scenario.yaml)."""
    if isinstance(scenario, (str, Path)):
        return _load(scenario)
    if not isinstance(scenario, Scenario):
        raise TypeError(
            f"scenario must be a Scenario (gridplan.load_scenario) or a path, found {type(scenario).__name__}"
        )
    return scenario


def _allocation(scenario: Scenario, allocation: Allocation | str | Path | None) -> Allocation:
    """The baseline (None), a table file read as ``--allocation`` is, or an ``Allocation`` matched to the
    scenario by id (an ``Allocation`` already refuses negative, fractional, infinite or NaN values).

    Raises:
        ValueError: the allocation's ids are not the scenario's (an unknown or a missing one).
        TypeError: ``allocation`` is none of these.
    """
    if allocation is None:
        return scenario.baseline
    if isinstance(allocation, Allocation):
        return align(allocation, scenario.community_ids, scenario.street_ids)
    if not isinstance(allocation, (str, Path)):
        raise TypeError(
            "allocation must be an Allocation, a path to an allocation table or None, "
            f"found {type(allocation).__name__}"
        )
    return scenario.read_allocation(Path(allocation), partial=True)


def check(scenario: Scenario | str | Path, allocation: Allocation | str | Path | None = None) -> PolicyReport:
    """Every active policy rule and budget against an allocation (default: the baseline); ``.rows`` per unit."""
    scenario = _scenario(scenario)
    return check_policy(scenario, _allocation(scenario, allocation))


def allocate(
    scenario: Scenario | str | Path,
    objective: str = "min-cost",
    budget_yuan: float | None = None,
    solver: str = "auto",
    **options: object,
) -> AllocationResult:
    """Optimise workers and funds (objectives: min-cost, max-service, rebalance, equity).

    ``options`` are fields of ``AllocationOptions`` (e.g. ``max_change_workers``). The result holds
    ``allocation``, ``costs``, ``constraints``, ``shadow_prices`` and ``deciding_community``.
    """
    scenario = _scenario(scenario)
    if budget_yuan is not None:
        budget_yuan = check_budget("budget_yuan", budget_yuan)
    opts = AllocationOptions(objective=objective, total_budget_yuan=budget_yuan, **options)  # type: ignore[arg-type]
    return _allocate(scenario, opts, solver=solver)


def simulate(
    scenario: Scenario | str | Path,
    allocation: Allocation | str | Path | None = None,
    reps: int = 5,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
) -> Replications:
    """Independent replications; ``.summary()`` is the KPI table with 95% intervals, ``.group(name)`` by
    category, community, street or district, ``.duty_hours_mean()`` hours by duty and level."""
    scenario = _scenario(scenario)
    reps, days, seed, processes = _run_args(scenario, reps, days, seed, processes)
    return run_replications(
        scenario, _allocation(scenario, allocation), reps, days=days, seed=seed, processes=processes
    )


def compare(
    scenario: Scenario | str | Path,
    allocations: Mapping[str, Allocation | str | Path],
    reps: int = 5,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
) -> Comparison:
    """Allocations on the same simulated complaints; ``.city`` holds each KPI and its paired difference
    from the first allocation."""
    scenario = _scenario(scenario)
    reps, days, seed, processes = _run_args(scenario, reps, days, seed, processes, min_reps=PAIRED_REPS)
    if not isinstance(allocations, Mapping):
        raise TypeError(
            "allocations must be a mapping label -> allocation, e.g. {'baseline': s.baseline, 'plan': a}, "
            f"found {type(allocations).__name__}"
        )
    if len(allocations) < 2:
        raise ValueError(
            f"compare needs at least two allocations (a mapping label -> allocation), found {len(allocations)}"
        )
    items = [(label, _allocation(scenario, a)) for label, a in allocations.items()]
    return compare_allocations(scenario, items, reps, days=days, seed=seed, processes=processes)


def optimize(
    scenario: Scenario | str | Path,
    objective: str = "min-cost",
    reps: int = 5,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    **options: object,
) -> OptimizationResult:
    """Simulation-optimisation; ``.result`` the allocation, ``.iterations``, ``.prediction`` against fresh
    replications, ``.stop_reason``."""
    scenario = _scenario(scenario)
    reps, days, seed, processes = _run_args(scenario, reps, days, seed, processes, min_reps=PAIRED_REPS)
    opts = AllocationOptions(objective=objective, **options)  # type: ignore[arg-type]
    return _optimize(scenario, opts, reps=reps, days=days, seed=seed, processes=processes)


def sweep(
    scenario: Scenario | str | Path,
    budgets_yuan: list[float],
    reps: int = 3,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
) -> pd.DataFrame:
    """The budget frontier: one max-service allocation per budget, predicted and simulated side by side."""
    scenario = _scenario(scenario)
    reps, days, seed, processes = _run_args(scenario, reps, days, seed, processes, min_reps=PAIRED_REPS)
    budgets = [check_budget("budgets_yuan", b) for b in budgets_yuan]
    if not budgets:
        raise ValueError("budgets_yuan is empty; give at least one total budget in yuan")
    return _sweep(scenario, budgets, reps=reps, days=days, seed=seed, processes=processes)


def run(
    scenario: Scenario | str | Path,
    objective: str = "min-cost",
    reps: int = 5,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    solver: str = "auto",
    budget_yuan: float | None = None,
    progress: Callable[[RunEvent], None] | None = None,
    out: str | Path | None = None,
    **options: object,
) -> RunResult:
    """The main job, as ``gridplan run``: check the baseline, optimise ``objective`` and the equal budget,
    compare them with the baseline on the same complaints, calibrate, score.

    The result holds ``baseline_check``, ``plans`` (each ``.label`` and ``.opt``, an OptimizationResult),
    ``comparison`` (a Comparison), ``calibration`` and ``scorecards``. ``progress`` receives each step's
    events (``workflows.run``: StepStarted, Ticked, Message, StepFinished). With ``out`` the result folder
    of ``gridplan run`` (its tables and report.html) is written there, refused before anything runs if
    gridplan may not write it. ``options`` are fields of ``AllocationOptions``.
    """
    scenario = _scenario(scenario)
    reps, days, seed, processes = _run_args(scenario, reps, days, seed, processes, min_reps=PAIRED_REPS)
    if budget_yuan is not None:
        budget_yuan = check_budget("budget_yuan", budget_yuan)
    opts = AllocationOptions(objective=objective, total_budget_yuan=budget_yuan, **options)  # type: ignore[arg-type]
    if out is not None:
        from gridplan.results import check_out, result_folder

        out = check_out(Path(out), scenario)
    result = _run(scenario, RunOptions(opts, reps, days, seed, processes, solver), progress)
    if out is not None:
        from gridplan.report import write_report
        from gridplan.writers import write_run

        with result_folder(Path(out), scenario) as folder:
            write_run(folder, result)
            write_report(folder, result, _run_call(scenario, objective, reps, days, seed))
    return result


def _run_call(scenario: Scenario, objective: str, reps: int, days: int | None, seed: int | None) -> str:
    """The call a report records: the days and seed the run used, the scenario's where none was given."""
    days = scenario.spec.calendar.days if days is None else days
    seed = scenario.spec.seed if seed is None else seed
    return f"gridplan.run({str(scenario.path)!r}, objective={objective!r}, reps={reps}, days={days}, seed={seed})"


def plan(
    scenario: Scenario | str | Path,
    years: int = 3,
    target_year: int | None = None,
    reps: int = 2,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    solver: str = "auto",
    faster: bool = True,
    progress: Callable[[RunEvent], None] | None = None,
    out: str | Path | None = None,
) -> PlanResult:
    """A multi-year plan, as ``gridplan plan``: the cheapest path from today's staffing (year 0) to an
    allocation that meets the targets from ``target_year`` (default: the last year) on, with the scenario's
    ``workforce`` section (leavers, promotions, lead time, recruitment and moves' limits, pay rises, demand
    and budget growth); each year simulated ``reps`` times on the same seed (0: not simulated).

    The result holds ``by_year``, ``costs`` (by funder), ``flows`` (by district), ``headcount`` (by post and
    level), ``checks``, ``kpis``, ``reach`` (the year each community reaches what it needs), ``faster`` (the
    cost of reaching the targets earlier) and ``assumptions``. With ``out`` the folder of ``gridplan plan``
    is written there.

    Raises:
        ValueError: a value outside the command line's bounds (years 1-30, a target year after the last).
        InfeasibleError: no path reaches the targets by the target year (the message names the limit).
    """
    from gridplan.limits import MAX_PLAN_YEARS

    scenario = _scenario(scenario)
    years = check_whole("years", years, 1, MAX_PLAN_YEARS, " years")
    if target_year is not None:
        target_year = check_whole("target_year", target_year, 1, years, " (the plan's years)")
    reps, days, seed, processes = _run_args(scenario, reps, days, seed, processes, min_reps=0)
    if out is not None:
        from gridplan.results import check_out, result_folder

        out = check_out(Path(out), scenario)
    options = PlanOptions(years, target_year, AllocationOptions(), reps, days, seed, processes, solver, faster)
    result = _plan(scenario, options, progress)
    if out is not None:
        from gridplan.writers import write_plan

        with result_folder(Path(out), scenario) as folder:
            write_plan(folder, result)
    return result


def robust(
    scenario: Scenario | str | Path,
    probability: float | None = None,
    variants: list[str | Path] | tuple[str | Path, ...] | None = None,
    levels: list[float | str | None] | tuple[float | str | None, ...] = (None,),
    reps: int = 3,
    validation_reps: int = 4,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    solver: str = "auto",
    max_iterations: int = 6,
    reference: bool = True,
    progress: Callable[[RunEvent], None] | None = None,
    out: str | Path | None = None,
) -> RobustResult:
    """The cheapest plan whose targets hold in ``probability`` of simulated years (default: the scenario's
    ``targets.hold_probability``) of the scenario and the ``variants`` files (default: its
    ``targets.hold_variants``; ``()``: none), checked on fresh years, as ``gridplan robust``; ``levels`` adds
    plans at up to 10 other probabilities for the cost of robustness (None or "mean": the mean rule).

    The result holds ``plan`` (its ``result``, ``margins`` per unit, ``holds``: the fresh check,
    ``iterations``), ``levels`` and ``table`` (the cost of robustness). With ``out`` the folder of
    ``gridplan robust`` (its tables and report.html) is written there.

    Raises:
        ValueError: a probability outside (0, 1), none stated, more than 10 levels, or run values outside the
            command line's bounds.
        TypeError: ``variants`` or ``levels`` is not a list or tuple, or a variant is not a file name.
        ScenarioError: a variant file is missing or invalid.
    """
    from gridplan.limits import MAX_REPS

    scenario = _scenario(scenario)
    reps, days, seed, processes = _run_args(scenario, reps, days, seed, processes, min_reps=PAIRED_REPS)
    validation_reps = check_whole("validation_reps", validation_reps, PAIRED_REPS, MAX_REPS, " replications")
    max_iterations = check_whole("max_iterations", max_iterations, 1, 50)
    options = RobustOptions(
        probability=probability,
        variants=variants,  # type: ignore[arg-type]  # RobustOptions checks and converts it to a tuple
        levels=levels,  # type: ignore[arg-type]
        reps=reps,
        validation_reps=validation_reps,
        days=days,
        seed=seed,
        processes=processes,
        solver=solver,
        max_iterations=max_iterations,
        reference=reference,
    )
    if out is not None:
        from gridplan.results import check_out, result_folder

        out = check_out(Path(out), scenario)
    result = _robust(scenario, options, progress)
    if out is not None:
        from gridplan.robustreport import write_robust_report
        from gridplan.writers import write_robust

        with result_folder(Path(out), scenario) as folder:
            write_robust(folder, result)
            write_robust_report(folder, result, f"gridplan.robust({str(scenario.path)!r}, probability={probability})")
    return result

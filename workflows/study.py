"""A study: a grid of scenario variants, each run as one point, collected into one tidy table.

A study file (YAML, in a scenario's folder) names scenario files of that folder and a grid::

    name: budget_and_growth
    command: compare            # allocate (predictions only) | compare (allocate, then simulate) | optimize
    objective: max-service
    reps: 2
    days: 90
    grid:
      scenario: [scenario.yaml, surge.yaml]      # variant files of the same folder
      budget_yuan: [380000000, 400000000]
      demand_growth: [1.0, 1.15]                 # multiplies every channel's rate
      workers_per_10k_minimum: [18, 20]          # a policy rule's minimum (rule id workers_per_10k)

Every combination is a point. Points run on local processes or Dask (``sim.dask_engine``), and each
finished point is kept (atomically, keyed by everything that shaped it) so an interrupted study resumes
where it stopped. The result is ``study.csv`` and ``study.parquet`` (one row per point: its settings and
its KPIs) and a summary page with plots.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import pydantic
from pydantic import Field

from scenario.errors import ScenarioError
from scenario.load import Scenario, check_demand_cap, load_scenario, path_in_folder
from scenario.spec import Frozen
from scenario.yamlio import lists_as_tuples, read_yaml
from sim.replications import Replications, confidence_interval, kpi_range, map_tasks, run_replications
from solvers.allocator import AllocationResult, allocate
from solvers.errors import InfeasibleError
from solvers.lpmodel import AllocationOptions
from workflows.points import open_points, point_path, read_point, write_point

__all__ = ["StudySpec", "load_study", "check_points", "study_points", "run_study", "MAX_POINTS", "COLUMNS"]

MAX_POINTS = 500
FLOOR_KIND = "workers_per_10k_residents"  # the rule kind the grid's workers_per_10k_minimum sets


class GridSpec(Frozen):
    """The study's axes; every combination is a point."""

    scenario: tuple[str, ...] = ("scenario.yaml",)
    budget_yuan: tuple[Annotated[float, Field(ge=0, le=1e13)] | None, ...] = (None,)
    demand_growth: tuple[Annotated[float, Field(gt=0, le=100)], ...] = (1.0,)
    workers_per_10k_minimum: tuple[Annotated[float, Field(ge=0, le=10_000)] | None, ...] = (None,)


_KPIS = ("on_time_share", "duty_coverage", "overdue_cases", "utilisation_grid")
# A row's columns, in this order whether the point ran now or was kept by an interrupted run
COLUMNS = (
    *GridSpec.model_fields,
    "feasible",
    "note",
    "cost_total_yuan",
    "workers",
    "street_office_staff",
    "on_time_share_predicted",
    "duty_coverage_predicted",
    *(f"{k}{end}" for k in _KPIS for end in ("", "_ci95_low", "_ci95_high")),
)


class StudySpec(Frozen):
    """A study file."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]+$")]
    command: Literal["allocate", "compare", "optimize"] = "compare"
    objective: Literal["min-cost", "max-service", "rebalance", "equity"] = "max-service"
    reps: Annotated[int, Field(ge=2, le=1000)] = 2
    days: Annotated[int, Field(ge=2, le=3660)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = None
    grid: GridSpec = GridSpec()


def load_study(path: Path) -> StudySpec:
    """Read and validate a study file (one-line errors naming the file and field)."""
    data = read_yaml(path)
    try:
        spec = StudySpec.model_validate(lists_as_tuples(data))
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ScenarioError(f"{path}: field '{loc}': {err['msg']}; found {err.get('input')!r}") from None
    unused = [f for f in ("reps", "days", "seed") if f in spec.model_fields_set]
    if spec.command == "allocate" and unused:
        raise ScenarioError(
            f"{path}: field '{unused[0]}': command 'allocate' simulates nothing, so reps, days and seed would be "
            "ignored; remove them, or use command: compare (allocate, then simulate)"
        )
    for i, name in enumerate(spec.grid.scenario):
        if Path(name).name != name or not (path.parent / name).is_file():
            raise ScenarioError(f"{path}: field 'grid.scenario': {name!r} must be a scenario file in {path.parent}")
        path_in_folder(path, f"grid.scenario.{i}", name)  # a symbolic link out of the folder
    n = len(study_points(spec))
    if n > MAX_POINTS:
        raise ScenarioError(f"{path}: field 'grid': {n:,} points; at most {MAX_POINTS} in one study")
    return spec


def check_points(path: Path, study: StudySpec, scenarios: dict[str, Scenario]) -> None:
    """Refuse, before any point runs, a study whose points cannot mean what the file says: simulated days
    within a scenario's warm-up (nothing counted), a floor axis for a scenario without an active
    workers-per-10k rule (the axis would change nothing), demand grown past the plausible cases a year.

    Raises:
        ScenarioError: one line naming the study file, the field and the scenario file concerned.
    """
    for name, s in scenarios.items():
        warmup = s.spec.calendar.warmup_days
        if study.days is not None and study.days <= warmup:
            raise ScenarioError(
                f"{path}: field 'days' must be > the calendar.warmup_days of {name} ({warmup}) so that some "
                f"cases are counted, found {study.days}"
            )
        floors = [x for x in study.grid.workers_per_10k_minimum if x is not None]
        if floors and not any(r.active and r.kind.value == FLOOR_KIND for r in s.spec.policy.rules.values()):
            raise ScenarioError(
                f"{path}: field 'grid.workers_per_10k_minimum': {name} has no active policy rule of kind "
                f"{FLOOR_KIND} for the axis to change; add one or remove the axis, found {floors}"
            )
    for p in study_points(study):
        if p["demand_growth"] != 1.0:
            check_demand_cap(
                variant(scenarios[p["scenario"]], p),
                f"{path}: field 'grid.demand_growth': {p['demand_growth']:g} on {p['scenario']}",
            )


def study_points(spec: StudySpec) -> list[dict]:
    """Every combination of the grid's axes, in a stable order."""
    g = spec.grid
    axes = {
        "scenario": g.scenario,
        "budget_yuan": g.budget_yuan,
        "demand_growth": g.demand_growth,
        "workers_per_10k_minimum": g.workers_per_10k_minimum,
    }
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def variant(base: Scenario, point: dict) -> Scenario:
    """The scenario of one point: demand scaled, the workers-per-10k minimum changed (in memory)."""
    spec = base.spec
    if point["demand_growth"] != 1.0:
        channels = {
            k: c.model_copy(update={"rate_per_10k_per_day": c.rate_per_10k_per_day * point["demand_growth"]})
            for k, c in spec.demand.channels.items()
        }
        spec = spec.model_copy(update={"demand": spec.demand.model_copy(update={"channels": channels})})
    if point["workers_per_10k_minimum"] is not None:
        rules = {
            k: (r.model_copy(update={"minimum": point["workers_per_10k_minimum"]}) if r.kind.value == FLOOR_KIND else r)
            for k, r in spec.policy.rules.items()
        }
        spec = spec.model_copy(update={"policy": spec.policy.model_copy(update={"rules": rules})})
    return replace(base, spec=spec) if spec is not base.spec else base


def _key(study: StudySpec, point: dict, sha: str) -> str:
    text = json.dumps(
        [study.command, study.objective, study.reps, study.days, study.seed, point, sha], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _run_point(args: tuple) -> dict:
    study, point, scenario, path = args
    row = {**point, "feasible": True, "note": ""}
    s = variant(scenario, point)
    opts = AllocationOptions(objective=study.objective, total_budget_yuan=point["budget_yuan"])
    res: AllocationResult | None = None
    runs: Replications | None = None
    try:
        if study.command == "optimize":
            from workflows.optimize import optimize

            opt = optimize(s, opts, reps=study.reps, days=study.days, seed=study.seed, processes=1)
            res, runs = opt.result, opt.validation
        else:
            res = allocate(s, opts)
            runs = (
                run_replications(s, res.allocation, study.reps, days=study.days, seed=study.seed, processes=1)
                if study.command == "compare"
                else None
            )
    except InfeasibleError as exc:
        row.update(feasible=False, note=str(exc))
    if res is not None:
        row.update(
            cost_total_yuan=res.costs.total_yuan,
            workers=res.allocation.total_workers,
            street_office_staff=int(res.allocation.street_office_staff.sum()),
            on_time_share_predicted=res.expected_on_time_share,
            duty_coverage_predicted=res.expected_duty_coverage,
        )
    if runs is not None:
        for k in _KPIS:
            m, lo, hi = confidence_interval(runs.per_rep[k].to_numpy(), bounds=kpi_range(k))
            row.update({k: m, f"{k}_ci95_low": lo, f"{k}_ci95_high": hi})
    if path is not None:
        write_point(path, row)
    return row


def run_study(
    study_path: Path,
    study: StudySpec,
    points_dir: Path,
    processes: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Run every point not already kept in ``points_dir``; return one row per point (``resumed`` marks reuse)."""
    scenarios = {name: load_scenario(study_path.parent / name) for name in study.grid.scenario}
    check_points(study_path, study, scenarios)
    points = study_points(study)
    open_points(points_dir)
    paths = [point_path(points_dir, _key(study, p, scenarios[p["scenario"]].sha256)) for p in points]
    kept = [read_point(p) for p in paths]
    done = {i: row for i, row in enumerate(kept) if row is not None}
    if progress and done:
        progress(len(done))
    todo = [i for i in range(len(points)) if i not in done]
    tasks = [(study, points[i], scenarios[points[i]["scenario"]], paths[i]) for i in todo]
    fresh = dict(zip(todo, map_tasks(_run_point, tasks, processes, progress)))
    df = pd.DataFrame([{**(done.get(i) or fresh[i]), "resumed": i in done} for i in range(len(points))])
    # a kept point's JSON has its keys sorted: the table takes its column order from COLUMNS instead
    return df[[c for c in COLUMNS if c in df] + [c for c in df if c not in COLUMNS]]

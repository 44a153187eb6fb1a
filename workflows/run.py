"""The main job: check the baseline, optimise the plans, compare them with the baseline, calibrate, score.

Data in, data out: :class:`RunOptions` and a progress callback in, a :class:`RunResult` out. Nothing is
printed or written here; the command line (``gridplan run``), the Python API (``gridplan.run``) and the
desk present the result and write its folder.

The steps, in order, each reported to ``progress`` as it starts and finishes (:class:`StepStarted`,
:class:`Ticked` per finished replication, :class:`StepFinished` with the step's part of the result) and
with a :class:`Message` per line of news in between:

1. ``check``: the baseline against every policy rule and budget;
2. ``optimise``: simulation-optimisation for the chosen objective and, unless that is ``rebalance``, for
   the equal budget (the baseline's money moved to where the work is), one step per plan;
3. ``compare``: the baseline and every plan on the same simulated complaints (seed + 7);
4. ``calibrate``: the scenario's calibration figures against the baseline's replications;
5. ``score``: street and community scorecards under every compared allocation (with an evaluation
   section), and the exact cost of the next step of each rule's minimum for a min-cost first plan;

and where the next million yuan would go under the first plan (``solvers.marginal``, at its curves refitted
to simulation; ``gridplan next-million`` checks such a ranking by re-simulation).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import staff_time
from sim.replications import load_compiled_code, measured_from
from sim.workers import Beside, can_run_beside, shared_workers
from solvers.allocator import next_step_costs
from solvers.lpmodel import AllocationOptions
from solvers.marginal import next_million
from solvers.policy import PolicyReport, check_policy
from workflows.calibration import calibration_table, static_figures
from workflows.compare import Comparison, compare_allocations
from workflows.optimize import OptimizationResult, optimize

__all__ = [
    "Plan",
    "RunOptions",
    "RunResult",
    "RunEvent",
    "StepStarted",
    "Ticked",
    "StepFinished",
    "Message",
    "run",
    "COMPARE_SEED_OFFSET",
    "EQUAL_BUDGET",
    "planned_load",
    "predictions",
]

COMPARE_SEED_OFFSET = 7  # the comparison's replications are not the tuning ones (seed) nor the validation ones
EQUAL_BUDGET = "equal budget"


@dataclass
class Plan:
    """One optimised allocation: its label (the objective, or ``equal budget``) and its optimisation."""

    label: str
    opt: OptimizationResult


@dataclass(frozen=True)
class RunOptions:
    """What the main job is asked: the allocator's options for the first plan and the simulation settings.

    ``seed`` None: the scenario's seed; ``days`` None: the scenario's calendar; ``processes`` None: all cores.
    """

    allocation: AllocationOptions = field(default_factory=AllocationOptions)
    reps: int = 5
    days: int | None = None
    seed: int | None = None
    processes: int | None = None
    solver: str = "auto"


@dataclass(frozen=True)
class StepStarted:
    """A step begins (``step``: check, optimise, compare, calibrate, score). ``label`` names the plan of an
    ``optimise`` step; ``total`` is the number of ticks it will report (None: not known ahead), each one
    ``unit``: a replication, or a district task when a large city's replications run district by district."""

    step: str
    label: str = ""
    total: int | None = None
    unit: str = "replications"


@dataclass(frozen=True)
class Ticked:
    """``n`` more replications of the current step finished."""

    n: int = 1


@dataclass(frozen=True)
class StepFinished:
    """A step ended; ``value`` is its part of the result (PolicyReport, Plan, Comparison, DataFrame, dict)."""

    step: str
    label: str = ""
    value: object = None


@dataclass(frozen=True)
class Message:
    """A line of news from inside a step (an iteration of the optimisation, a calibration variant)."""

    text: str


RunEvent = StepStarted | Ticked | StepFinished | Message


def planned_load(scenario: Scenario, allocations: list[tuple[str, Allocation]]) -> pd.DataFrame:
    """Per allocation and level (communities, street offices): the planning margin (the scenario's
    max_planned_utilisation), how many units plan above it, and the busiest unit with its planned load
    (planned hours / available hours)."""
    st = staff_time(scenario)
    rows = []
    for label, a in allocations:
        for level, ids, people in (
            ("community", scenario.community_ids, a.workers),
            ("street", scenario.street_ids, a.street_office_staff),
        ):
            load = st.planned_load(level, people)
            top = int(np.argmax(load))
            margin = st.planning_margin
            rows.append(
                {
                    "allocation": label,
                    "level": level,
                    "units": len(ids),
                    "planning_margin": np.nan if margin is None else margin,
                    "units_over_margin": np.nan if margin is None else int((load > margin + 1e-9).sum()),
                    "busiest_unit": ids[top],
                    "busiest_planned_load": float(load[top]),
                }
            )
    return pd.DataFrame(rows)


def predictions(scenario: Scenario, plans: list[Plan]) -> pd.DataFrame:
    """Per plan, city-wide: what the allocator predicted (service curves, planned hours) against the fresh
    replications that validated the plan (on-time share, duty coverage, overdue cases a year, resolution and
    satisfaction rates)."""
    rows = []
    for p in plans:
        res, v = p.opt.result, p.opt.validation
        measured = v.days - measured_from(scenario, v.days)
        k = v.per_rep
        rows.append(
            {
                "plan": p.label,
                "on_time_predicted": res.expected_on_time_share,
                "on_time_simulated": float(k["on_time_share"].mean()),
                "duty_coverage_predicted": res.expected_duty_coverage,
                "duty_coverage_simulated": float(k["duty_coverage"].mean()) if "duty_coverage" in k else np.nan,
                "overdue_predicted_per_year": res.expected_overdue_cases,
                "overdue_simulated_per_year": float(k["overdue_cases"].mean()) * 365.0 / measured,
                "resolution_predicted": res.expected_resolution_share,
                "resolution_simulated": float(k["resolution_share"].mean()),
                "satisfaction_predicted": res.expected_satisfaction_share,
                "satisfaction_simulated": float(k["satisfaction_share"].mean()),
                "validation_replications": v.reps,
                "validation_seed": v.seed,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class RunResult:
    """Everything the main job found. ``plans[0]`` is the chosen objective's plan (its shadow prices carry
    the exact cost of each rule's next step for min-cost); ``comparison.labels`` are ``baseline`` and the
    plans' labels, in that order; ``scorecards`` is keyed by (label, "street" | "community") and empty
    without an evaluation section."""

    scenario: Scenario
    options: RunOptions
    seed: int
    baseline_check: PolicyReport
    plans: list[Plan]
    comparison: Comparison
    calibration: pd.DataFrame
    scorecards: dict[tuple[str, str], pd.DataFrame]
    planned_load: pd.DataFrame  # per allocation and level: the planning margin, units over it, the busiest
    predictions: pd.DataFrame  # per plan, city-wide: predicted against the fresh validation replications
    next_million: pd.DataFrame = field(default_factory=pd.DataFrame)  # the first plan's: solvers.marginal

    @property
    def compare_seed(self) -> int:
        """The seed of the comparison's (and the calibration's) replications."""
        return self.seed + COMPARE_SEED_OFFSET


def _ignore(event: RunEvent) -> None:
    """No progress reporting."""


def _unit(scenario: Scenario, options: RunOptions) -> str:
    """What one tick counts: a replication, or a district task when replications run district by district."""
    from sim.split import split_by_default

    split = split_by_default(scenario, options.days or scenario.spec.calendar.days)
    return "district tasks" if split else "replications"


def _optimise(scenario: Scenario, options: RunOptions, report: Callable[[RunEvent], None]) -> list[Plan]:
    """Simulation-optimisation for the chosen objective and, unless that is rebalance, for the equal budget.

    The two are independent: where the replications run on a pool of worker processes, the equal budget's runs
    beside the first (``sim.workers.Beside``), so that each keeps the workers busy while the other solves its
    allocation in this process; its events are reported after the first plan's, in the order it made them, and
    its numbers are those of one after the other (tested)."""
    first = options.allocation
    jobs = [(first.objective, first)]
    if first.objective != "rebalance":
        jobs.append((EQUAL_BUDGET, replace(first, objective="rebalance", total_budget_yuan=None)))
    unit = _unit(scenario, options)

    def optimise(o: AllocationOptions, post: Callable[[RunEvent], None]) -> OptimizationResult:
        return optimize(
            scenario,
            o,
            reps=options.reps,
            days=options.days,
            seed=options.seed,
            processes=options.processes,
            solver=options.solver,
            progress=lambda m: post(Message(m)),
            tick=lambda n: post(Ticked(n)),
        )

    second: Beside[OptimizationResult] | None = None
    if len(jobs) == 2 and unit == "replications" and can_run_beside(options.processes):
        load_compiled_code(scenario, scenario.baseline)  # before the workers are forked: they inherit it
        second = Beside(lambda post: optimise(jobs[1][1], post))
    plans = []
    try:
        for i, (label, o) in enumerate(jobs):
            report(StepStarted("optimise", label, unit=unit))
            opt = second.relay(report) if i == 1 and second is not None else optimise(o, report)  # type: ignore[arg-type]
            plan = Plan(label, opt)
            report(StepFinished("optimise", label, plan))
            plans.append(plan)
    except BaseException as exc:
        if second is not None:
            second.cancel()
            theirs = second.own_error() if isinstance(exc, BrokenProcessPool) else None
            if theirs is not None:  # its failed task stopped the pool the two share
                raise theirs from None
        raise
    return plans


def _compare(
    scenario: Scenario, options: RunOptions, plans: list[Plan], seed: int, report: Callable[[RunEvent], None]
) -> Comparison:
    """The baseline and every plan on the same simulated complaints."""
    split = _unit(scenario, options) != "replications"
    ticks = (len(plans) + 1) * options.reps * (len(scenario.district_ids) if split else 1)
    report(StepStarted("compare", total=ticks, unit=_unit(scenario, options)))
    cmp = compare_allocations(
        scenario,
        [("baseline", scenario.baseline)] + [(p.label, p.opt.result.allocation) for p in plans],
        options.reps,
        days=options.days,
        seed=seed,
        processes=options.processes,
        keep_first_log=True,
        progress=lambda n: report(Ticked(n)),
    )
    report(StepFinished("compare", value=cmp))
    return cmp


def _scorecards(scenario: Scenario, cmp: Comparison) -> dict[tuple[str, str], pd.DataFrame]:
    """Street and community scorecards under every compared allocation (none without an evaluation section)."""
    if scenario.spec.evaluation is None:
        return {}
    from workflows.scorecard import scorecards

    return {
        (label, lv): scorecards(scenario, run, lv)
        for label, run in zip(cmp.labels, cmp.runs)
        for lv in ("street", "community")
    }


def run(
    scenario: Scenario, options: RunOptions | None = None, progress: Callable[[RunEvent], None] | None = None
) -> RunResult:
    """The main job (see the module docstring); ``progress`` receives every :data:`RunEvent` as it happens.
    Its batches of replications share one pool of worker processes (``sim.workers.shared_workers``)."""
    options = options or RunOptions()
    with shared_workers(options.processes):
        return _run(scenario, options, progress or _ignore)


def _run(scenario: Scenario, options: RunOptions, report: Callable[[RunEvent], None]) -> RunResult:
    seed = scenario.spec.seed if options.seed is None else options.seed
    report(StepStarted("check"))
    base = check_policy(scenario, scenario.baseline)
    report(StepFinished("check", value=base))
    plans = _optimise(scenario, options, report)
    cmp = _compare(scenario, options, plans, seed + COMPARE_SEED_OFFSET, report)
    report(StepStarted("calibrate"))
    calib = calibration_table(
        scenario,
        cmp.runs[0],
        options.reps,
        options.days,
        seed + COMPARE_SEED_OFFSET,
        options.processes,
        progress=lambda m: report(Message(m)),
        static=static_figures(scenario),
    )
    report(StepFinished("calibrate", value=calib))
    report(StepStarted("score"))
    plans[0].opt.result = next_step_costs(scenario, plans[0].opt.result, options.solver)
    cards = _scorecards(scenario, cmp)
    report(StepFinished("score", value=cards))
    load = planned_load(scenario, list(zip(cmp.labels, cmp.allocations)))
    first = plans[0].opt
    million = next_million(scenario, first.curves, first.result.allocation)  # at the curves refitted to simulation
    return RunResult(
        scenario, options, seed, base, plans, cmp, calib, cards, load, predictions(scenario, plans), million
    )

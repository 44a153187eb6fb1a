"""The multi-year plan: from the people in post today to an allocation that meets the targets, year by year.

Data in, data out: :class:`PlanOptions` and a progress callback in, a :class:`PlanResult` out; nothing is
printed or written here (``gridplan plan`` and ``gridplan.plan`` present it). Steps, each reported to
``progress`` (``workflows.run``'s events):

1. ``solve``: the cheapest path (``solvers.pathmodel``) that meets the targets, workload and rules from the
   target year (default: the last year) on, with the workforce section's leavers, promotions, lead time,
   recruitment and moves' limits, pay rises and growth;
2. ``faster``: the same for every earlier target year: what a faster path costs, or what stops it;
3. ``simulate``: each year's allocation in that year's scenario (its demand), the same seed every year and
   every plan (common random numbers), and the KPIs by year;

then the tables: headcount by post and level, costs by funder, the policy check, flows by district (start -
leavers + joiners + moves in - moves out = end), the year each community reaches what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scenario.load import Scenario
from scenario.workforcespec import WORKFORCE_DEFAULT_SOURCE
from sim.replications import Replications, run_replications
from solvers.costs import funder_costs
from solvers.errors import InfeasibleError
from solvers.lpmodel import AllocationOptions
from solvers.pathmodel import PathSolution, lead_delay, solve_path
from solvers.policy import PolicyReport, check_policy
from workflows.run import Message, RunEvent, StepFinished, StepStarted, Ticked
from workflows.units import share_misses, unit_misses

__all__ = ["PlanOptions", "PlanResult", "plan", "PLAN_KPIS", "reach_years"]

# the KPIs by year, in the order a budget office reads them: the three rates, then what moves them
PLAN_KPIS = (
    "resolution_share",
    "satisfaction_share",
    "response_share",
    "on_time_share",
    "duty_coverage",
    "found_late_share",
    "unfunded_share",
    "overdue_cases",
)


@dataclass(frozen=True)
class PlanOptions:
    """What the plan is asked: its years, the year the targets must hold from (None: the last), the
    allocator's options, and the simulation settings (``reps`` 0: no simulation)."""

    years: int = 3
    target_year: int | None = None
    allocation: AllocationOptions = field(default_factory=AllocationOptions)
    reps: int = 3
    days: int | None = None
    seed: int | None = None
    processes: int | None = None
    solver: str = "auto"
    faster: bool = True  # solve every earlier target year too


@dataclass
class PlanResult:
    """A multi-year plan and its tables (every DataFrame has a ``year`` column, 0 = today)."""

    scenario: Scenario
    options: PlanOptions
    seed: int
    path: PathSolution
    by_year: pd.DataFrame  # headcount, flows, a worker's pay, cost by funder, the policy check
    headcount: pd.DataFrame  # year, post, level, workers (city-wide, expected)
    costs: pd.DataFrame  # year, funder, cost_yuan (new posts' pay before they count included)
    flows: pd.DataFrame  # year, district, start, leavers, joiners, new_posts, moves_in, moves_out, end
    checks: list[PolicyReport]
    kpis: pd.DataFrame  # year, kpi, mean, ci95_low, ci95_high (empty without simulation)
    runs: list[Replications]
    reach: pd.DataFrame  # per community: need and staffing by year, the year it reaches its need
    faster: pd.DataFrame  # per target year: feasible, cost by year, total, extra over this plan, note
    assumptions: pd.DataFrame  # field, value, origin (scenario or default), source

    @property
    def target_year(self) -> int:
        return self.path.target_year


def _ignore(event: RunEvent) -> None:
    """No progress reporting."""


def plan(scenario: Scenario, options: PlanOptions | None = None, progress: Callable[[RunEvent], None] | None = None):
    """The multi-year plan (see the module docstring).

    Raises:
        ValueError: years below 1 or a target year outside 1..years.
        InfeasibleError: no path meets the targets by the target year (the message names the limit).
    """
    options = options or PlanOptions()
    report = progress or _ignore
    if options.years < 1:
        raise ValueError(f"years must be >= 1, found {options.years}")
    target = options.years if options.target_year is None else options.target_year
    if not 1 <= target <= options.years:
        raise ValueError(f"target_year must be 1 to years ({options.years}), found {target}")
    seed = scenario.spec.seed if options.seed is None else options.seed
    solver = "cbc" if options.solver == "auto" else options.solver
    curves: dict = {}
    report(StepStarted("solve"))
    path = solve_path(scenario, options.years, target, options.allocation, solver, curves)
    report(StepFinished("solve", value=path))
    faster = pd.DataFrame()
    if options.faster:
        report(StepStarted("faster"))
        faster = _faster(scenario, options, path, solver, curves, report)
        report(StepFinished("faster", value=faster))
    runs: list[Replications] = []
    if options.reps > 0:
        report(
            StepStarted(
                "simulate", "each year's allocation, the same seed every year", (options.years + 1) * options.reps
            )
        )
        for t in range(options.years + 1):
            runs.append(
                run_replications(
                    path.scenarios[t],
                    path.allocations[t],
                    options.reps,
                    days=options.days,
                    seed=seed,
                    processes=options.processes,
                    progress=lambda n: report(Ticked(n)),
                )
            )
        report(StepFinished("simulate", value=runs))
    checks = [check_policy(path.scenarios[t], path.allocations[t]) for t in range(options.years + 1)]
    costs = _costs(scenario, path)
    return PlanResult(
        scenario=scenario,
        options=options,
        seed=seed,
        path=path,
        by_year=_by_year(path, costs, checks),
        headcount=_headcount(path),
        costs=costs,
        flows=_flows(scenario, path),
        checks=checks,
        kpis=_kpis(scenario, runs),
        runs=runs,
        reach=reach_years(scenario, path),
        faster=faster,
        assumptions=_assumptions(scenario, path),
    )


def _faster(
    scenario: Scenario,
    options: PlanOptions,
    path: PathSolution,
    solver: str,
    curves: dict,
    report: Callable[[RunEvent], None],
) -> pd.DataFrame:
    """Every target year from 1 to the plan's years: the path's cost by year, or what stops it."""
    rows = []
    for k in range(1, options.years + 1):
        row: dict = {"target_year": k}
        try:
            p = (
                path
                if k == path.target_year
                else solve_path(scenario, options.years, k, options.allocation, solver, curves)
            )
        except InfeasibleError as exc:
            row.update(feasible=False, note=str(exc))
            report(Message(f"targets from year {k}: no path ({exc})"))
            rows.append(row)
            continue
        by_year = _costs(scenario, p).groupby("year")["cost_yuan"].sum()
        row.update(feasible=True, note="")
        for t in range(1, options.years + 1):
            row[f"cost_year_{t}_yuan"] = float(by_year.loc[t])
        row["cost_total_yuan"] = float(by_year.loc[1:].sum())
        report(Message(f"targets from year {k}: {row['cost_total_yuan'] / 1e6:,.2f} M yuan over {options.years} years"))
        rows.append(row)
    out = pd.DataFrame(rows)
    mine = out.loc[out.target_year == path.target_year, "cost_total_yuan"]
    if "cost_total_yuan" in out and len(mine):
        out["extra_over_plan_yuan"] = out["cost_total_yuan"] - float(mine.iloc[0])
    return out


def _costs(scenario: Scenario, path: PathSolution) -> pd.DataFrame:
    """Cost by year and funder: each year's allocation at that year's prices, plus the pay of new posts'
    holders in the year they join, before they count (paid by their district)."""
    rows = []
    for t, (sc, a) in enumerate(zip(path.scenarios, path.allocations)):
        fc = funder_costs(sc, a)
        rows.append({"year": t, "funder": "city", "cost_yuan": fc.city_yuan})
        for k, d in enumerate(scenario.district_ids):
            rows.append({"year": t, "funder": d, "cost_yuan": fc.district_yuan[d] + path.early_cost_yuan[t, k]})
    return pd.DataFrame(rows)


def _by_year(path: PathSolution, costs: pd.DataFrame, checks: list[PolicyReport]) -> pd.DataFrame:
    """One row a year: headcount and its flows, a worker's pay, the cost and the policy check."""
    total = costs.groupby("year")["cost_yuan"].sum()
    city = costs[costs.funder == "city"].set_index("year")["cost_yuan"]
    rows = []
    for t, a in enumerate(path.allocations):
        failing = checks[t].rows[~checks[t].rows.passed]
        rows.append(
            {
                "year": t,
                "workers": int(a.workers.sum()),
                "leavers": float(path.leavers[t].sum()),
                "joiners": float(path.joiners[t].sum()),
                "new_posts": float(path.new_posts[t].sum()),
                "moved": float(path.moves_in[t].sum()),
                "street_office_staff": int(a.street_office_staff.sum()),
                "street_staff_joiners": float(path.street_joiners[t].sum()),
                "service_fund_yuan": float(a.service_fund_yuan.sum()),
                "worker_cost_yuan": float(path.worker_cost_yuan[t]),
                "cost_city_yuan": float(city.loc[t]),
                "cost_districts_yuan": float(total.loc[t] - city.loc[t]),
                "cost_total_yuan": float(total.loc[t]),
                "policy_check": "PASS" if checks[t].passed else "FAIL",
                "failing": "; ".join(f"{r.rule} at {r.unit}" for r in failing.head(3).itertuples())
                + (f" and {len(failing) - 3} more" if len(failing) > 3 else ""),
            }
        )
    return pd.DataFrame(rows)


def _headcount(path: PathSolution) -> pd.DataFrame:
    """Community workers by year, post and level (city-wide; expected values from year 1)."""
    rows = []
    for t, stock in enumerate(path.stocks):
        for k, post in enumerate(path.rates.post_ids):
            for lv in range(stock.shape[1]):
                rows.append({"year": t, "post": post, "level": lv + 1, "workers": float(stock[k, lv])})
    return pd.DataFrame(rows)


def _flows(scenario: Scenario, path: PathSolution) -> pd.DataFrame:
    """Per year 1..N and district (and the city): community workers at the start, leavers, joiners (of which
    new posts), moves in and out, and at the end."""
    rows = []
    names = [*scenario.district_ids, "city"]
    keys = np.append(scenario.community_district, -1)
    for t in range(1, path.years + 1):
        for k, name in enumerate(names):
            sel = scenario.community_district == k if name != "city" else np.ones(len(keys) - 1, bool)
            rows.append(
                {
                    "year": t,
                    "district": name,
                    "start": float(path.allocations[t - 1].workers[sel].sum()),
                    "leavers": float(path.leavers[t, sel].sum()),
                    "joiners": float(path.joiners[t, sel].sum()),
                    "new_posts": float(path.new_posts[t, sel].sum()),
                    "moves_in": float(path.moves_in[t, sel].sum()),
                    "moves_out": float(path.moves_out[t, sel].sum()),
                    "end": float(path.allocations[t].workers[sel].sum()),
                }
            )
    return pd.DataFrame(rows)


def reach_years(scenario: Scenario, path: PathSolution) -> pd.DataFrame:
    """Per community: what it needs and has in each year (workers, service fund) and the first year from
    which it has what it needs in every later year of the plan (-1: not within the plan)."""
    n = scenario.n_communities
    ok = np.ones((path.years + 1, n), bool)
    out = pd.DataFrame({"community": list(scenario.community_ids)})
    for t, (a, need) in enumerate(zip(path.allocations, path.needs)):
        out[f"workers_year_{t}"] = a.workers.astype(int)
        out[f"workers_needed_year_{t}"] = need[0]
        out[f"fund_year_{t}_yuan"] = a.service_fund_yuan
        out[f"fund_needed_year_{t}_yuan"] = need[2]
        ok[t] = (a.workers >= need[0] - 1e-9) & (a.service_fund_yuan >= need[2] - 0.5)
    # the first year from which every later year is met
    from_end = np.flip(np.logical_and.accumulate(np.flip(ok, axis=0), axis=0), axis=0)
    first = np.where(from_end.any(axis=0), np.argmax(from_end, axis=0), -1)
    out["reaches_need_in_year"] = first
    return out


def _kpis(scenario: Scenario, runs: list[Replications]) -> pd.DataFrame:
    """The KPIs by year (mean and 95% interval over replications) and the communities missing each target by
    the rule simulation-optimisation cuts by (``workflows.units``: a share more than two binomial standard
    errors of its cases below the target, duty coverage's mean below it)."""
    rows = []
    t = scenario.spec.targets
    for year, r in enumerate(runs):
        s = r.summary()
        for k in PLAN_KPIS:
            if k in s.index:
                rows.append({"year": year, "kpi": k, **s.loc[k].to_dict()})
        per_c = r.group_per_rep("community")
        ids = scenario.community_ids
        for kpi, target in (
            ("resolution_share", t.resolution_share_min),
            ("on_time_share", t.on_time_share_min),
            ("duty_coverage", t.duty_coverage_min if scenario.spec.duties is not None else None),
        ):
            if target is None or kpi not in per_c:
                continue
            rule = unit_misses if kpi == "duty_coverage" else share_misses
            missing, _ = rule(per_c, ids, kpi, target)
            rows.append({"year": year, "kpi": f"communities_missing_{kpi}_target", "mean": int(missing.sum())})
    return pd.DataFrame(rows, columns=["year", "kpi", "mean", "ci95_low", "ci95_high"])


def _assumptions(scenario: Scenario, path: PathSolution) -> pd.DataFrame:
    """Every workforce figure the plan used, whether it came from the scenario or is gridplan's default,
    and its source."""
    wf = scenario.spec.workforce
    given = wf.model_fields_set
    src = wf.source or "the scenario's workforce section (no source given)"
    rows = []
    for name in type(wf).model_fields:
        if name == "source":
            continue
        value = getattr(wf, name)
        if name == "headcount_table":
            value = value or "generated: the baseline's workers spread over posts and levels by the pay table's shares"
        elif name == "recruits_max_share_per_year" and value is None:
            value = "no limit"
        elif name.endswith("_by_post") and not value:
            value = "the same for every post"
        rows.append(
            {
                "field": f"workforce.{name}",
                "value": str(value),
                "origin": "scenario" if name in given else "default",
                "source": src if name in given else WORKFORCE_DEFAULT_SOURCE,
            }
        )
    d, f = lead_delay(wf.hiring_lead_months)
    rows.append(
        {
            "field": "(derived) new posts",
            "value": f"count from {d} year(s) after they are opened; their holders are paid {f:.0%} of the year before",
            "origin": "derived",
            "source": "workforce.hiring_lead_months",
        }
    )
    rows.append(
        {
            "field": "(derived) attrition of community workers",
            "value": f"{path.attrition_mean:.2%} a year (posts weighted by today's headcount)",
            "origin": "derived",
            "source": "workforce.attrition_share_per_year(_by_post)",
        }
    )
    return pd.DataFrame(rows)

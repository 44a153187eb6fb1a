"""The allocator: workers and funds by linear programming, with explanations a budget office can use.

Objectives (formulas in the README):

* ``min-cost``: minimise the total annual cost (all funders) subject to every
  active policy rule, each community's on-time target (as a minimum number of
  workers from its service curve), the budgets and the planner's limits.
* ``max-service``: maximise on-time work hours a year: the handling hours of
  cases resolved on time (s_c under the concave hull of community c's curve)
  plus the scheduled duty hours covered (coverage <= (staff x available hours x
  COVERAGE_UTILISATION - case hours) / duty hours, at most 1), within the
  budgets and rules (cheapest among equally good allocations).
* ``rebalance``: the same yuan as the baseline, moved to where the work is:
  the largest t with available hours >= t x planned hours in every community
  and street office (the busiest unit's planned utilisation, 1 / t, as low as
  the money allows) within the baseline's total cost, the rules and the on-time
  targets. Solved by bisection on t over min-cost solves (each a small MILP);
  the money left below the next step of t is not spent.
* ``equity``: maximise the smallest number of workers per 10,000 residents over
  communities (raise the worst community first), within budgets and rules.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import staff_time
from solvers.costs import FunderCosts, cost_per_unit, funder_costs, unit_costs
from solvers.curves import Curves, service_curves
from solvers.deciding import deciding_constraints, fund_deciders, predicted_coverage, predicted_outcomes
from solvers.errors import InfeasibleError, SolverError, UnboundedError
from solvers.explain import city_budget_short, explain_infeasible, million_yuan, shadow_prices
from solvers.lpmodel import (
    EPS_COST,
    SERVICE_OBJECTIVES,
    AllocationOptions,
    LpModel,
    allocation_from_x,
    build_model,
    cost_part,
)
from solvers.lpsolve import LpSolution, Status, residuals, reused_models, solve, solve_fixed, whole_people
from solvers.policy import minimum_step, rule_checks

__all__ = [
    "AllocationResult",
    "allocate",
    "explain_infeasible",
    "deciding_constraints",
    "predicted_coverage",
    "predicted_outcomes",
    "fund_deciders",
    "next_step_costs",
]

log = logging.getLogger(__name__)


@dataclass
class AllocationResult:
    """An optimised allocation with its costs, binding constraints and shadow prices."""

    allocation: Allocation
    options: AllocationOptions
    objective_value: float  # cost in yuan (min-cost), minus the on-time work hours (max-service), minus the
    # worst community's workers per 10,000 (equity), minus the busiest unit's capacity margin (rebalance)
    costs: FunderCosts
    constraints: pd.DataFrame  # row, group, lhs, sense, rhs, slack, binding, dual_lp
    shadow_prices: pd.DataFrame  # per rule and budget, in planners' units
    expected_on_time_share: float  # from the curves, demand-weighted
    expected_overdue_cases: float
    model: LpModel
    solver: str
    curves: Curves
    deciding_community: pd.DataFrame  # per community: lower bound of each constraint family, and the decider
    deciding_street: pd.DataFrame  # per street office
    expected_duty_coverage: float  # city, hours-weighted (1 when the scenario has no duties)
    expected_resolution_share: float = float("nan")  # city, case-weighted (outcome curves)
    expected_satisfaction_share: float = float("nan")

    def deciding_counts(self) -> pd.DataFrame:
        """How many communities and street offices each constraint family decides."""
        c = self.deciding_community["decided_by"].value_counts().rename("communities")
        s = self.deciding_street["decided_by"].value_counts().rename("street_offices")
        return pd.concat([c, s], axis=1).fillna(0).astype(int).rename_axis("decided_by").reset_index()

    def curves_table(self, scenario: Scenario, max_workers: int | None = None) -> pd.DataFrame:
        """The service curves used: expected on-time share per community and number of workers."""
        top = int(max_workers or min(self.curves.workers[-1], self.allocation.workers.max() + 10))
        df = pd.DataFrame(self.curves.share[:, : top + 1], columns=[f"workers_{w}" for w in range(top + 1)])
        df.insert(0, "cases_per_year", self.curves.cases_per_year)
        df.insert(0, "community", list(scenario.community_ids))
        return df

    def changes(self, scenario: Scenario, level: str) -> pd.DataFrame:
        """Change from the baseline by district or street: workers, staff, cost (to all funders: the city's
        2.5 workers per community included; the budget check tests a district's own share)."""
        base, new = scenario.baseline, self.allocation
        if level == "district":
            keys_c, keys_s, names = scenario.community_district, scenario.street_district, scenario.district_ids
        else:
            keys_c, keys_s, names = scenario.community_street, np.arange(len(scenario.street_ids)), scenario.street_ids
        k = len(names)

        def agg(keys, v):
            return np.bincount(keys, weights=np.asarray(v, float), minlength=k)

        def heads(keys, v):  # people are whole: integers in the CSV and the report, not 97.0
            return agg(keys, v).round().astype(np.int64)

        def cost(a):
            u = unit_costs(scenario, a)
            return agg(keys_c, u.community_yuan) + agg(keys_s, u.street_district_yuan)

        return pd.DataFrame(
            {
                level: list(names),
                "workers_baseline": heads(keys_c, base.workers),
                "workers_new": heads(keys_c, new.workers),
                "workers_change": heads(keys_c, new.workers - base.workers),
                "street_staff_change": heads(keys_s, new.street_office_staff - base.street_office_staff),
                "mobile_change": heads(keys_s, new.mobile_grid_workers - base.mobile_grid_workers),
                "cost_baseline_yuan": cost(base),
                "cost_new_yuan": cost(new),
                "cost_change_yuan": cost(new) - cost(base),
            }
        )


LARGE_CITY = 5_000  # communities; above this the bulk path (LP relaxation + rounding) is used


def allocate(
    scenario: Scenario,
    opts: AllocationOptions | None = None,
    curves: Curves | None = None,
    solver: str = "auto",
    method: str = "auto",
    margin_hint: float | None = None,
) -> AllocationResult:
    """Solve the allocation model, re-check it, and explain it.

    ``solver``: "cbc", "highs", "scipy" or "auto" (CBC for min-cost, equity and rebalance; scipy's HiGHS
    for max-service).
    ``method``: "milp" (exact integer solve), "lp-round" (LP relaxation by HiGHS interior
    point, whole people by ``lpsolve.whole_people``, the continuous variables re-solved; for
    national-scale cities), or "auto" (milp up to 5,000 communities).
    ``margin_hint``: rebalance only, where the margin was last time (a simulation-optimisation's previous
    round): fewer solves to find it, the same answer.

    Raises:
        InfeasibleError: with the colliding rules or budgets named and quantified.
        UnboundedError: when nothing bounds the objective (e.g. equity without a budget).
        SolverError: when the solver fails or its answer violates a constraint.
    """
    opts = opts or AllocationOptions()
    curves = curves or service_curves(scenario)
    if solver == "auto":
        # measured on Weihai: CBC solves min-cost in 0.1 s but max-service not in 120 s; HiGHS (scipy) in 1-2 s
        solver = "scipy" if opts.objective in SERVICE_OBJECTIVES else "cbc"
    if opts.objective == "rebalance":
        rounded = method == "lp-round" or (method == "auto" and scenario.n_communities > LARGE_CITY)
        # a hint rests on feasibility growing harder with the margin: exact for the MILP, not for LP + rounding
        return _rebalance(scenario, opts, curves, solver, method, None if rounded else margin_hint)
    m, first, solver, method = _first_solve(scenario, opts, curves, solver, method)
    sol = first
    if opts.objective in SERVICE_OBJECTIVES:
        sol = _cheapest_near_best(scenario, m, first, curves, opts, solver, method)
    x = _values(sol).copy()
    x[m.integer] = np.round(x[m.integer])
    alloc = allocation_from_x(scenario, m, x, f"allocate --objective {opts.objective}")
    _recheck_policy(scenario, alloc)
    # duals from the LP relaxation of this model (lp-round solved it already; a second phase has one more row)
    relax = first if method == "lp-round" else solve(m, solver, relax=True)
    duals = relax.duals if relax.status is Status.optimal and relax.duals is not None else np.zeros(len(m.b))
    cons = _constraint_table(m, x, duals)
    dc, ds = _deciding(scenario, alloc, curves, opts, cons)
    return AllocationResult(
        allocation=alloc,
        options=opts,
        objective_value=_objective_value(m, sol, x, opts),
        costs=funder_costs(scenario, alloc),
        constraints=cons,
        shadow_prices=shadow_prices(scenario, m, duals, opts.objective, cons["binding"].to_numpy()),
        expected_on_time_share=curves.on_time_share(alloc.workers),
        expected_overdue_cases=curves.overdue(alloc.workers),
        model=m,
        solver=solver,
        curves=curves,
        deciding_community=dc,
        deciding_street=ds,
        expected_duty_coverage=predicted_coverage(scenario, alloc)[2],
        **_expected_outcomes(scenario, curves, alloc),
    )


def _first_solve(
    scenario: Scenario, opts: AllocationOptions, curves: Curves, solver: str, method: str, explain: bool = True
) -> tuple[LpModel, LpSolution, str, str]:
    """``allocate``'s model and its (first-phase) solve, checked: (model, solution, solver, method) as used.

    ``explain=False``: an infeasible model raises InfeasibleError without naming the colliding constraints (a
    search that only asks whether a model is feasible, such as rebalance's, need not pay for the re-solves)."""
    if method == "auto":
        method = "milp" if scenario.n_communities <= LARGE_CITY else "lp-round"
    if method not in ("milp", "lp-round"):
        raise ValueError(f"method must be auto, milp or lp-round: {method!r}")
    if city_budget_short(scenario):
        raise InfeasibleError(explain_infeasible(scenario, curves, opts, solver, method))
    m = build_model(scenario, curves, opts)
    solver = "scipy" if method == "lp-round" else solver
    return m, _solve_checked(scenario, m, curves, opts, solver, method, explain=explain), solver, method


def _expected_outcomes(scenario: Scenario, curves: Curves, alloc: Allocation) -> dict[str, float]:
    """City resolution and satisfaction the outcome curves predict (case-weighted)."""
    _, res, sat = predicted_outcomes(scenario, curves, alloc)
    w = curves.cases_per_year
    return {
        "expected_resolution_share": float(res @ w / w.sum()),
        "expected_satisfaction_share": float(sat @ w / w.sum()),
    }


# max-service keeps the cheapest allocation within this many outcomes (a case on time, resolved, or a resident
# satisfied) per case a year of the best: the curves keep rising by millionths past saturation, and a
# 1e-9-per-yuan tie-break alone would spend 180,000 yuan (3 workers on tiny) for 2e-6 of on-time share. On
# Weihai it is about 5 outcomes a year, worth some 20,000 yuan of staff or 7,000 of fund.
SERVICE_TOLERANCE = 1e-5


def _cheapest_near_best(
    scenario: Scenario,
    m: LpModel,
    best: LpSolution,
    curves: Curves,
    opts: AllocationOptions,
    solver: str,
    method: str,
) -> LpSolution:
    """Second phase of max-service: the cheapest allocation whose outcomes are within SERVICE_TOLERANCE per case
    of the best (lexicographic: service first, then cost). Its objective value is the first phase's (the best
    outcomes, which every solver agrees on); the allocation reaches it to within the tolerance."""
    cost = cost_part(m)
    svc = m.c - cost * EPS_COST
    bound = float(svc @ _values(best))  # minus the best outcomes
    near = replace(
        m,
        c=cost,  # yuan
        A=sp.vstack([m.A, sp.csr_matrix(svc)]).tocsr(),
        b=np.append(m.b, bound + curves.cases_per_year.sum() * SERVICE_TOLERANCE),
        row_names=[*m.row_names, "service:within_tolerance_of_best"],
        at_least=np.append(m.at_least, False),
    )
    sol = _solve_checked(scenario, near, curves, opts, solver, method, check=m)
    log.info(
        "max-service second phase: cost %.0f -> %.0f yuan",
        (m.c - svc) @ _values(best) / EPS_COST,
        near.c @ _values(sol),
    )
    return replace(sol, objective=best.objective)


def _deciding(
    scenario: Scenario, alloc: Allocation, curves: Curves, opts: AllocationOptions, cons: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``deciding_constraints``, naming a budget for the service objective only where one stops it."""
    dc, ds = deciding_constraints(scenario, alloc, curves, opts)
    budgets = cons[cons.group.isin(["budget_district", "budget_total"])]
    if opts.objective in SERVICE_OBJECTIVES and (budgets.slack < cost_per_unit(scenario)["workers"]).any():
        # a budget with less than one worker's cost left stops the service objective (otherwise the
        # service curves saturate first and the money left over is not spent)
        dc, ds = (d.replace({"decided_by": {"service objective": "budget (service objective)"}}) for d in (dc, ds))
    return dc, ds


def _unbounded(opts: AllocationOptions) -> UnboundedError:
    return UnboundedError(
        f"objective {opts.objective} is unbounded: nothing limits it; give a budget (--budget-yuan or district budgets)"
    )


def _values(sol: LpSolution) -> np.ndarray:
    """The values of an optimal solution.

    Raises:
        SolverError: the solver called the problem solved but gave no values or no objective.
    """
    if sol.status is not Status.optimal or sol.x is None or sol.objective is None:
        raise SolverError(
            f"solver {sol.solver} returned no allocation (status {sol.status.value}: {sol.message}); "
            f"try another --solver"
        )
    return sol.x


def _solve_checked(
    scenario: Scenario,
    m: LpModel,
    curves: Curves,
    opts: AllocationOptions,
    solver: str,
    method: str,
    check: LpModel | None = None,
    explain: bool = True,
) -> LpSolution:
    """Solve (exactly, or the LP relaxation in whole people), name any failure, and re-check every row ourselves.

    ``check``: the model whose rows the answer must meet (default ``m``; max-service's second phase adds a row
    that rounding to whole people may break, and is checked against the first phase's model). With lp-round,
    the continuous variables are re-solved by ``check``'s objective once the whole people are fixed.
    """
    check = check or m
    if method == "lp-round":
        sol = solve(m, "scipy", relax=True)
        if sol.status is Status.optimal and sol.x is not None:
            sol = _in_whole_people(check, sol)
    else:
        sol = solve(m, solver)
    if sol.status is Status.infeasible:
        why = explain_infeasible(scenario, curves, opts, solver, method) if explain else "(not explained)"
        raise InfeasibleError("no allocation meets every constraint: " + why)
    if sol.status is Status.unbounded:
        raise _unbounded(opts)
    if sol.status is not Status.optimal:
        # CBC reports some unbounded integer problems as 'not solved': ask the relaxation
        if solve(m, solver, relax=True).status is Status.unbounded:
            raise _unbounded(opts)
        raise SolverError(f"solver {solver} did not find an optimal allocation ({sol.message})")
    bad = residuals(check, _values(sol))
    if bad:
        raise SolverError(
            f"solver {solver} reported optimal, but the answer violates {len(bad)} constraint(s), e.g. {bad[0]}"
        )
    return sol


def _in_whole_people(m: LpModel, relaxed: LpSolution) -> LpSolution:
    """The LP relaxation's answer in whole people (``lpsolve.whole_people``: rounded to the nearest, or down
    when that breaks a budget), its continuous variables re-solved; the relaxation's duals are kept (shadow
    prices are its marginal rates).

    Raises:
        InfeasibleError: whole people break a row the fractional answer met (a budget the minimums' rounding
            overspends), named with its amounts.
    """
    for nearest in (True, False):
        y = whole_people(m, _values(relaxed), nearest=nearest)
        fixed = solve_fixed(m, y)
        if fixed.status is Status.optimal and fixed.x is not None:
            break
    if fixed.status is not Status.optimal or fixed.x is None:
        bad = residuals(m, y) or [fixed.message]
        raise InfeasibleError(
            f"whole people do not fit where the LP relaxation's fractional staffing did: {bad[0]} (a city above "
            f"{LARGE_CITY:,} communities is solved as an LP and rounded to whole people; give the budget room for "
            f"the rounding, or solve it exactly from Python with allocate(..., method='milp'))"
        )
    return LpSolution(Status.optimal, fixed.x, float(m.c @ fixed.x), relaxed.duals, "optimal", "scipy")


def _recheck_policy(scenario: Scenario, alloc: Allocation) -> None:
    """The allocation against every rule, in the policy check's own code (not the model's)."""
    for r in rule_checks(scenario, alloc):
        if not r.passed.all():
            i = int(np.argmin(r.passed))
            raise SolverError(f"re-check failed: rule {r.rule} at {r.units[i]}: {r.actual[i]:g} < {r.required[i]:g}")


def _objective_value(m: LpModel, sol: LpSolution, x: np.ndarray, opts: AllocationOptions) -> float:
    """The solver's objective, but equity's without its 1e-9-per-yuan tie-break: minus the worst
    community's workers per 10,000."""
    if opts.objective == "equity":
        return -float(x[m.blocks["worst_per_10k"].start])
    return float(sol.objective or 0.0)


def _constraint_table(m: LpModel, x: np.ndarray, duals: np.ndarray) -> pd.DataFrame:
    """Every row as written: its group, lhs, sense, rhs, slack (how far from binding, >= 0 when met), whether
    it binds (zero slack: the one definition) and its LP dual: the objective's change per unit more of the
    rhs as written (a minimum one worker higher: + that worker's cost)."""
    lhs = m.A @ x
    slack = m.b - lhs
    sign = np.where(m.at_least, -1.0, 1.0)  # a ">=" row was stored negated: shown as written
    group_of = np.full(len(m.b), "", dtype=object)
    for g, idx in m.row_groups.items():
        group_of[idx] = g
    return pd.DataFrame(
        {
            "row": m.row_names,
            "group": group_of,
            "lhs": sign * lhs + 0.0,
            "sense": np.where(m.at_least, ">=", "<="),
            "rhs": sign * m.b + 0.0,
            "slack": slack,
            "binding": np.abs(slack) <= 1e-6 * np.maximum(1, np.abs(m.b)),
            "dual_lp": sign * duals + 0.0,  # per unit more of rhs as written; + 0.0: no -0.0 in the CSV
        }
    )


def next_step_costs(scenario: Scenario, res: AllocationResult, solver: str = "auto") -> AllocationResult:
    """Add the exact cost of raising each rule's minimum by one step (a min-cost re-solve, whole people) to
    the shadow-price table of a min-cost result, beside the LP marginal rate."""
    if res.options.objective != "min-cost":
        return res
    table = res.shadow_prices.copy()
    exact = np.full(len(table), np.nan)
    for i, (kind, rid) in enumerate(zip(table.kind, table.name)):
        if kind != "rule":
            continue
        rule = scenario.spec.policy.rules[rid]
        step = minimum_step(rule)
        rules = {**scenario.spec.policy.rules, rid: rule.model_copy(update={"minimum": rule.minimum + step})}
        spec = scenario.spec.model_copy(update={"policy": scenario.spec.policy.model_copy(update={"rules": rules})})
        try:
            nxt = allocate(replace(scenario, spec=spec), res.options, curves=res.curves, solver=solver)
        except InfeasibleError:
            continue
        exact[i] = nxt.costs.total_yuan - res.costs.total_yuan
        table.loc[i, "explanation"] += (
            f"; re-solved with {rule.minimum + step:g}: {exact[i]:,.0f} yuan a year more (exact"
            + (", whole people)" if "yuan" not in rule.kind.value else ")")
        )
    table["exact_next_step_yuan"] = exact
    return replace(res, shadow_prices=table)


def _margin_test(
    scenario: Scenario, o: AllocationOptions, curves: Curves, solver: str, method: str
) -> Callable[..., bool]:
    """``feasible(t, explain=False)``: whether margin t fits: the min-cost model's solve alone (the full result
    only for the answer). A margin's model is its lower bounds, whole people that change only at some
    margins: a margin whose bounds were solved before has that answer, with no solve (once the search
    brackets one step of the bounds, every later margin has the bounds of one end)."""
    known: dict[tuple, bool] = {}  # per model (its lower bounds), whether it is feasible

    def feasible(t: float, explain: bool = False) -> bool:
        mo = _margin_options(scenario, o, t)
        key = (mo.min_workers, mo.min_street_staff)
        if key in known and not explain:
            return known[key]
        try:
            _first_solve(scenario, mo, curves, solver, method, explain=explain)
        except InfeasibleError:
            if explain:
                raise
            known[key] = False
            return False
        known[key] = True
        return True

    return feasible


def _bracket(feasible: Callable[..., bool], hint: float | None, width: float = 0.005) -> tuple[float, float]:
    """Margins known to fit (up to the first) and not to (from the second), from two solves ``width`` either
    side of ``hint``: a margin's model is its lower bounds, which grow with the margin, so a smaller margin
    than one that fits fits too and a larger one than one that does not does not either. The halving then
    solves only the steps between: the same steps, the same answer (tested), about half the solves when the
    margin moved less than ``width`` since the hint (0.3% at most between the main job's rounds)."""
    fits_to, fails_from = 0.0, math.inf
    if hint is None or not 0.0 < hint < 40.0:
        return fits_to, fails_from
    below, above = hint * (1 - width), hint * (1 + width)
    if feasible(below):
        fits_to = below
        if feasible(above):
            fits_to = above
        else:
            fails_from = above
    else:
        fails_from = below
    return fits_to, fails_from


def _rebalance(
    scenario: Scenario, opts: AllocationOptions, curves: Curves, solver: str, method: str, hint: float | None = None
) -> AllocationResult:
    """The largest capacity margin t the budget (default: the baseline's total cost) buys; see the module doc.
    The search halves [0, 40] to 1e-4; ``hint`` (a margin found before) only saves solves (``_bracket``)."""
    budget = (
        opts.total_budget_yuan
        if opts.total_budget_yuan is not None
        else funder_costs(scenario, scenario.baseline).total_yuan
    )

    o = replace(opts, total_budget_yuan=budget)
    feasible = _margin_test(scenario, o, curves, solver, method)
    feasible(0.0, explain=True)  # raises InfeasibleError (explained) when even the rules do not fit the budget
    lo, hi = 0.0, 2.0 / 0.05
    with reused_models():  # the steps differ only in lower bounds: one PuLP problem, re-solved
        fits_to, fails_from = _bracket(feasible, hint)
        for _ in range(40):
            if hi - lo < 1e-4:
                break
            mid = (lo + hi) / 2
            if mid <= fits_to or (mid < fails_from and feasible(mid)):
                lo = mid
            else:
                hi = mid
    if lo == 0.0:  # not even the smallest margin: some unit with planned work would have nobody
        raise InfeasibleError(_no_margin(scenario, opts, curves, solver, method, budget))
    best = _at_margin(scenario, o, curves, solver, method, lo)
    dc, ds = deciding_constraints(scenario, best.allocation, curves, o)
    # objective value: minus the capacity margin reached (available / planned hours of the busiest unit)
    # the budget defines rebalance: its LP dual (from the last min-cost solve) says nothing about what more
    # money would buy; say what does
    prices = best.shadow_prices.copy()
    on_budget = prices.kind == "budget"
    prices.loc[on_budget, "explanation"] = [
        f"rebalance spends the {name} budget on capacity margin (the busiest unit at {1 / lo:.0%} of its "
        f"available hours); what more money buys: gridplan sweep, or rebalance with --budget-yuan"
        if name == "total"
        else f"the {name} budget: rebalance moves money within the budgets; see the total budget"
        for name in prices.loc[on_budget, "name"]
    ]
    return replace(
        best,
        shadow_prices=prices,
        allocation=best.allocation.replace(source="allocate --objective rebalance"),
        options=o,
        objective_value=-lo,
        deciding_community=dc,
        deciding_street=ds,
    )


def _at_margin(
    scenario: Scenario, opts: AllocationOptions, curves: Curves, solver: str, method: str, t: float
) -> AllocationResult:
    """The cheapest allocation with available hours >= t x planned hours in every unit (within ``opts``'
    budgets, rules and targets): rebalance's step."""
    return allocate(scenario, _margin_options(scenario, opts, t), curves=curves, solver=solver, method=method)


def _margin_options(scenario: Scenario, opts: AllocationOptions, t: float) -> AllocationOptions:
    """Min-cost options whose lower bounds give every unit available hours >= t x its planned hours."""
    st = staff_time(scenario)
    hc, hs = st.available_per_person("community"), st.available_per_person("street")
    base_c = np.asarray(opts.min_workers if opts.min_workers is not None else np.zeros(scenario.n_communities))
    base_s = np.asarray(
        opts.min_street_staff if opts.min_street_staff is not None else np.zeros(len(scenario.street_ids))
    )
    need_c = np.ceil(np.round(t * st.planned_community / hc, 9))
    need_s = np.ceil(np.round(t * st.planned_street / hs, 9))
    return replace(
        opts,
        objective="min-cost",
        enforce_workload=False,
        min_workers=tuple(np.maximum(base_c, need_c)),
        min_street_staff=tuple(np.maximum(base_s, need_s)),
    )


def _no_margin(
    scenario: Scenario, opts: AllocationOptions, curves: Curves, solver: str, method: str, budget: float
) -> str:
    """Why rebalance finds no capacity margin: what the smallest margin (a person in every unit with planned
    work) costs, from a min-cost solve without the budgets."""
    unbudgeted = replace(opts, total_budget_yuan=None, district_budgets=False)
    try:
        need = _at_margin(scenario, unbudgeted, curves, solver, method, 1e-6).costs.total_yuan
        cost = f"costs {million_yuan(need)}"
    except InfeasibleError as exc:
        cost = f"is out of reach even without the budgets ({exc})"
    return (
        f"rebalance: the budget {million_yuan(budget)} buys no capacity margin: the smallest one (at least one "
        f"person in every community and street office with planned work, within the rules and targets) {cost}"
    )

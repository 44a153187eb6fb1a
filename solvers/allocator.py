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
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import split_desk, staff_time
from solvers.costs import FunderCosts, cost_per_unit, funder_costs, unit_costs
from solvers.curves import Curves, service_curves
from solvers.deciding import deciding_constraints, fund_deciders
from solvers.errors import InfeasibleError, SolverError, UnboundedError
from solvers.lpmodel import (
    COVERAGE_UTILISATION,
    EPS_COST,
    SERVICE_BLOCKS,
    SERVICE_OBJECTIVES,
    AllocationOptions,
    LpModel,
    build_model,
)
from solvers.lpsolve import LpSolution, Status, residuals, solve, whole_people, with_fixed
from solvers.policy import check_policy, minimum_step

__all__ = [
    "AllocationResult",
    "allocate",
    "allocation_from_x",
    "city_budget_short",
    "explain_infeasible",
    "deciding_constraints",
    "predicted_coverage",
    "predicted_outcomes",
    "fund_deciders",
    "next_step_costs",
]

log = logging.getLogger(__name__)


def _m(x: float) -> str:
    return f"{x / 1e6:,.2f} M yuan"


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


def allocation_from_x(scenario: Scenario, m: LpModel, x: np.ndarray, source: str) -> Allocation:
    """The allocation in the variables ``x`` of model ``m`` (people rounded to whole numbers, yuan to fen)."""

    def blk(k):
        return x[m.blocks[k]]

    return Allocation(
        community_ids=scenario.community_ids,
        street_ids=scenario.street_ids,
        workers=np.round(blk("workers")),
        secretary_assistants=np.round(blk("secretary_assistants")),
        work_fund_yuan=np.round(blk("work_fund_yuan"), 2),
        service_fund_yuan=np.round(blk("service_fund_yuan"), 2),
        street_office_staff=np.round(blk("street_office_staff")),
        mobile_grid_workers=np.round(blk("mobile_grid_workers")),
        source=source,
    )


def city_budget_short(scenario: Scenario) -> str | None:
    """Why the city's budget cannot pay its fixed posts, or None: the one home of the city-budget check."""
    f = scenario.spec.funding
    need = f.city_paid_workers_per_community * cost_per_unit(scenario)["workers"] * scenario.n_communities
    if f.city_budget_yuan is not None and f.city_budget_yuan < need - 1:
        return (
            f"city budget {_m(f.city_budget_yuan)} < {_m(need)} that the city's "
            f"{f.city_paid_workers_per_community:g} posts per community require"
        )
    return None


def _cost_part(m: LpModel) -> np.ndarray:
    """The objective of a service model without its service terms, in yuan (its cost)."""
    c = m.c.copy()
    for block in SERVICE_BLOCKS:
        c[m.blocks[block]] = 0.0
    return c / EPS_COST


def _what_is_required(spec, relaxed: AllocationOptions, opts: AllocationOptions) -> str:
    """The constraints a minimum-cost re-solve kept, in words ("the policy minimums, workload and ...")."""
    service = opts.objective in SERVICE_OBJECTIVES
    return (
        "the policy minimums"
        + (", workload" if spec.duties is not None and relaxed.enforce_workload else "")
        + (" and on-time targets" if relaxed.enforce_targets else "")
        + (
            " and resolution targets"
            if relaxed.enforce_targets
            and (spec.targets.resolution_share_min is not None or spec.targets.satisfaction_share_min is not None)
            else ""
        )
        + (
            f" and the {spec.targets.duty_coverage_min:.0%} duty-coverage target in every unit"
            if service and spec.duties is not None
            else ""
        )
        + (
            " within the planner's limits"
            if opts.max_change_workers is not None or opts.equity_spread_per_10k is not None
            else ""
        )
    )


def explain_infeasible(scenario: Scenario, curves: Curves, opts: AllocationOptions, solver: str) -> str:
    """Name the constraints that collide and by how much, by re-solving with parts removed."""
    spec = scenario.spec
    short = city_budget_short(scenario)
    if short:
        return short
    service = opts.objective in SERVICE_OBJECTIVES
    relaxed = replace(
        opts,
        objective="min-cost",
        district_budgets=False,
        total_budget_yuan=None,
        enforce_targets=opts.enforce_targets and not service,
        enforce_workload=opts.enforce_workload and not service,
    )
    if service:  # max-service's floors: the duty-coverage target in every unit; its cheapest cost
        m = build_model(scenario, curves, replace(opts, district_budgets=False, total_budget_yuan=None))
        m = replace(m, c=_cost_part(m))
    else:
        m = build_model(scenario, curves, replace(relaxed, total_budget_yuan=None))
    if m.row_groups.get("budget_total") is not None:  # scenario total budget: drop it too
        m = _drop_rows(m, "budget_total")
    sol = solve(m, solver)
    what = _what_is_required(spec, relaxed, opts)
    if sol.status is Status.optimal and sol.x is not None:
        a = allocation_from_x(scenario, m, sol.x, "minimum")
        costs = funder_costs(scenario, a)
        msgs = []
        for d in spec.districts:
            if opts.district_budgets and d.budget_yuan is not None and d.budget_yuan < costs.district_yuan[d.id] - 1:
                msgs.append(
                    f"district {d.id} budget {_m(d.budget_yuan)} < {_m(costs.district_yuan[d.id])} "
                    f"that {what} alone require"
                )
        total = opts.total_budget_yuan if opts.total_budget_yuan is not None else spec.funding.total_budget_yuan
        if total is not None and total < costs.total_yuan - 1:
            msgs.append(f"total budget {_m(total)} < {_m(costs.total_yuan)} that {what} alone require")
        if msgs:
            return "; ".join(msgs)
        return "the budgets are each sufficient alone but not together with the planner's limits"
    # infeasible even without budgets: the planner's limits collide with the rules
    if opts.max_change_workers is not None:
        m2 = build_model(scenario, curves, replace(relaxed, max_change_workers=None))
        s2 = solve(m2, solver)
        if s2.status is Status.optimal and s2.x is not None:
            a = allocation_from_x(scenario, m2, s2.x, "minimum")
            gap = a.workers - (scenario.baseline.workers + opts.max_change_workers)
            i = int(np.argmax(gap))
            return (
                f"maximum change of {opts.max_change_workers} workers per community collides with the minimums: "
                f"community {scenario.community_ids[i]} needs {int(a.workers[i])} workers, baseline "
                f"{int(scenario.baseline.workers[i])} (short by {int(gap[i])}; {int((gap > 0).sum())} communities)"
            )
    if opts.equity_spread_per_10k is not None:
        return (
            f"equity spread of {opts.equity_spread_per_10k:g} workers per 10,000 residents collides with the "
            f"minimums (whole-person rounding in small communities needs a wider spread)"
        )
    return "the policy rules contradict each other"


def _drop_rows(m: LpModel, group: str) -> LpModel:
    keep = np.setdiff1d(np.arange(len(m.b)), m.row_groups[group])
    return replace(
        m,
        A=m.A[keep],
        b=m.b[keep],
        row_names=[m.row_names[i] for i in keep],
        row_groups={k: v for k, v in m.row_groups.items() if k != group},
    )


def _shadow_prices(
    scenario: Scenario, m: LpModel, duals: np.ndarray, objective: str, binding_rows: np.ndarray
) -> pd.DataFrame:
    """Shadow prices from the LP relaxation, per rule (per unit of its minimum) and per budget (per M yuan).

    These are marginal *rates* of the LP relaxation; ``next_step_costs`` gives the exact cost of the next
    whole step by re-solving. ``binding_rows`` counts rows with zero slack, the one definition used
    everywhere (console, constraints.csv, this table).
    """
    spec = scenario.spec
    service = objective in SERVICE_OBJECTIVES
    unit_word = {
        "min-cost": "yuan a year",
        "max-service": "on-time work hours a year",
        "rebalance": "capacity margin (available / planned hours of the busiest unit)",
        "equity": "workers per 10,000 (worst community)",
    }[objective]
    rows = []
    for rid, rule in spec.policy.rules.items():
        if not rule.active or rid not in m.row_groups:
            continue
        idx = m.row_groups[rid]
        # rows are -sum x <= -req, so d f*/d req = -dual; per unit of the rule's minimum: x d req / d minimum.
        # f is the cost (min-cost) or minus the benefit (max-service, equity).
        step = minimum_step(rule)
        df = float(np.sum(-duals[idx] * m.row_scale[rid])) * step
        binding = int(np.sum(binding_rows[idx]))
        new = f"from {rule.minimum:g} to {rule.minimum + step:g}"
        if objective == "min-cost":
            value, text = df, f"raising '{rid}' {new}: LP marginal rate {df:,.0f} yuan a year"
        elif service:
            value, text = -df, f"raising '{rid}' {new} changes on-time work hours by {_whole(-df)} a year"
        else:
            value, text = -df, f"raising '{rid}' {new} changes the worst workers per 10,000 by {-df:,.3f}"
        value = 0.0 if abs(value) < 1e-9 else value
        text = text.replace("-0.000", "0.000").replace("-0.0 ", "0.0 ")
        rows.append(("rule", rid, f"+{step:g} on the minimum", value, unit_word, binding, len(idx), text))
    for group in ("budget_district", "budget_total"):
        if group not in m.row_groups:
            continue
        for r in m.row_groups[group]:
            d = -float(duals[r]) * 1e6  # saving (min-cost) or benefit (otherwise) per extra million yuan
            d = 0.0 if abs(d) < 1e-9 else d
            name = m.row_names[r].split(":", 2)[-1] if group == "budget_district" else "total"
            if service:
                text = f"one more million yuan for {name} buys {_whole(d)} more on-time work hours a year"
            elif objective == "equity":
                text = f"one more million yuan for {name} raises the worst workers per 10,000 by {d:,.3f}"
            else:
                text = (
                    f"one more million yuan for {name} saves {_whole(d)} yuan"
                    if abs(d) >= 1e-9
                    else f"the {name} budget is used up, but one more million yuan would not make the allocation "
                    f"cheaper (LP dual 0)"
                    if binding_rows[r]
                    else f"the {name} budget does not limit the cheapest allocation"
                )
            rows.append(("budget", name, "+1 M yuan", d, unit_word, int(binding_rows[r]), 1, text))
    return pd.DataFrame(
        rows, columns=["kind", "name", "change", "effect", "unit", "binding_rows", "rows", "explanation"]
    )


LARGE_CITY = 5_000  # communities; above this the bulk path (LP relaxation + rounding) is used


def allocate(
    scenario: Scenario,
    opts: AllocationOptions | None = None,
    curves: Curves | None = None,
    solver: str = "auto",
    method: str = "auto",
) -> AllocationResult:
    """Solve the allocation model, re-check it, and explain it.

    ``solver``: "cbc", "highs", "scipy" or "auto" (CBC for min-cost, equity and rebalance; scipy's HiGHS
    for max-service).
    ``method``: "milp" (exact integer solve), "lp-round" (LP relaxation by HiGHS interior
    point, whole people by ``lpsolve.whole_people``, the continuous variables re-solved; for
    national-scale cities), or "auto" (milp up to 5,000 communities).

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
        return _rebalance(scenario, opts, curves, solver, method)
    if city_budget_short(scenario):
        raise InfeasibleError(explain_infeasible(scenario, curves, opts, solver))
    m = build_model(scenario, curves, opts)
    if method == "auto":
        method = "milp" if scenario.n_communities <= LARGE_CITY else "lp-round"
    if method not in ("milp", "lp-round"):
        raise ValueError(f"method must be auto, milp or lp-round: {method!r}")
    solver = "scipy" if method == "lp-round" else solver
    first = _solve_checked(scenario, m, curves, opts, solver, method)
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
        shadow_prices=_shadow_prices(scenario, m, duals, opts.objective, cons["binding"].to_numpy()),
        expected_on_time_share=curves.city_share(alloc.workers),
        expected_overdue_cases=curves.overdue(alloc.workers),
        model=m,
        solver=solver,
        curves=curves,
        deciding_community=dc,
        deciding_street=ds,
        expected_duty_coverage=predicted_coverage(scenario, alloc)[2],
        **_expected_outcomes(scenario, curves, alloc),
    )


def _expected_outcomes(scenario: Scenario, curves: Curves, alloc: Allocation) -> dict[str, float]:
    """City resolution and satisfaction the outcome curves predict (case-weighted)."""
    _, res, sat = predicted_outcomes(scenario, curves, alloc)
    w = curves.cases_per_year
    return {
        "expected_resolution_share": float(res @ w / w.sum()),
        "expected_satisfaction_share": float(sat @ w / w.sum()),
    }


def _whole(v: float) -> str:
    """A whole number with separators, never "-0"."""
    text = f"{v:,.0f}"
    return "0" if text == "-0" else text


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
    cost = _cost_part(m)
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
        raise InfeasibleError(
            "no allocation meets every constraint: " + explain_infeasible(scenario, curves, opts, solver)
        )
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
        fixed = solve(with_fixed(m, y), "scipy", relax=True)
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
    policy = check_policy(scenario, alloc)
    failed = policy.rows[~policy.rows.passed & policy.rows.rule.isin(list(scenario.spec.policy.rules))]
    if len(failed):
        r = failed.iloc[0]
        raise SolverError(f"re-check failed: rule {r.rule} at {r.unit}: {r.actual:g} < {r.limit:g}")


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


def _rebalance(
    scenario: Scenario, opts: AllocationOptions, curves: Curves, solver: str, method: str
) -> AllocationResult:
    """The largest capacity margin t the budget (default: the baseline's total cost) buys; see the module doc."""
    budget = (
        opts.total_budget_yuan
        if opts.total_budget_yuan is not None
        else funder_costs(scenario, scenario.baseline).total_yuan
    )

    def at(t: float) -> AllocationResult:
        return _at_margin(scenario, replace(opts, total_budget_yuan=budget), curves, solver, method, t)

    best = at(0.0)  # raises InfeasibleError (explained) when even the rules do not fit the budget
    lo, hi = 0.0, 2.0 / 0.05
    for _ in range(40):
        if hi - lo < 1e-4:
            break
        mid = (lo + hi) / 2
        try:
            best, lo = at(mid), mid
        except InfeasibleError:
            hi = mid
    if lo == 0.0:  # not even the smallest margin: some unit with planned work would have nobody
        raise InfeasibleError(_no_margin(scenario, opts, curves, solver, method, budget))
    o = replace(opts, total_budget_yuan=budget)
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
    st = staff_time(scenario)
    hc, hs = st.available_per_person("community"), st.available_per_person("street")
    base_c = np.asarray(opts.min_workers if opts.min_workers is not None else np.zeros(scenario.n_communities))
    base_s = np.asarray(
        opts.min_street_staff if opts.min_street_staff is not None else np.zeros(len(scenario.street_ids))
    )
    need_c = np.ceil(np.round(t * st.planned_community / hc, 9))
    need_s = np.ceil(np.round(t * st.planned_street / hs, 9))
    o = replace(
        opts,
        objective="min-cost",
        enforce_workload=False,
        min_workers=tuple(np.maximum(base_c, need_c)),
        min_street_staff=tuple(np.maximum(base_s, need_s)),
    )
    return allocate(scenario, o, curves=curves, solver=solver, method=method)


def _no_margin(
    scenario: Scenario, opts: AllocationOptions, curves: Curves, solver: str, method: str, budget: float
) -> str:
    """Why rebalance finds no capacity margin: what the smallest margin (a person in every unit with planned
    work) costs, from a min-cost solve without the budgets."""
    unbudgeted = replace(opts, total_budget_yuan=None, district_budgets=False)
    try:
        need = _at_margin(scenario, unbudgeted, curves, solver, method, 1e-6).costs.total_yuan
        cost = f"costs {_m(need)}"
    except InfeasibleError as exc:
        cost = f"is out of reach even without the budgets ({exc})"
    return (
        f"rebalance: the budget {_m(budget)} buys no capacity margin: the smallest one (at least one person in "
        f"every community and street office with planned work, within the rules and targets) {cost}"
    )


def predicted_coverage(scenario: Scenario, alloc: Allocation) -> tuple[np.ndarray, np.ndarray, float]:
    """Predicted duty coverage per community, per street office and city (hours-weighted).

    A unit's people give available hours x COVERAGE_UTILISATION; cases come first, then its duties.
    In a community the desk (``split_desk``) serves its cases and duties first and lends its spare
    hours to the grid duties, as in the simulation's account.
    """
    st = staff_time(scenario)
    hc = st.available_per_person("community") * COVERAGE_UTILISATION
    desk, grid = split_desk(st, alloc.workers)
    d_desk, d_grid, d_s = st.duties_at("desk"), st.duties_at("grid"), st.duties_at("street")
    free_desk = np.clip(desk * hc - st.case_hours_desk, 0, None)
    done_desk = np.minimum(d_desk, free_desk)
    free_grid = np.clip(grid * hc - st.case_hours_grid, 0, None) + free_desk - done_desk
    done_grid = np.minimum(d_grid, free_grid)
    due_c = d_desk + d_grid
    done_s = np.minimum(
        d_s,
        np.clip(
            alloc.street_office_staff * st.available_per_person("street") * COVERAGE_UTILISATION - st.case_hours_street,
            0,
            None,
        ),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        cov_c = np.where(due_c > 0, (done_desk + done_grid) / np.where(due_c > 0, due_c, 1), 1.0)
        cov_s = np.where(d_s > 0, done_s / np.where(d_s > 0, d_s, 1), 1.0)
    total = due_c.sum() + d_s.sum()
    city = float((done_desk.sum() + done_grid.sum() + done_s.sum()) / total) if total > 0 else 1.0
    return cov_c, cov_s, city


def predicted_outcomes(
    scenario: Scenario, curves: Curves, alloc: Allocation
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per community: the predicted share of cases found late (duty hours left undone at the predicted coverage,
    falling first on the duty with the longest due window), resolution and satisfaction rates
    (``solvers.outcomecurves``); NaN rates when the scenario has no outcome model."""
    oc = curves.outcomes
    n = scenario.n_communities
    if oc is None:
        return np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    st = staff_time(scenario)
    cov_c, _, _ = predicted_coverage(scenario, alloc)
    undone = (st.duties_at("grid") + st.duties_at("desk")) * (1 - cov_c)
    late = np.minimum(oc.late_max, oc.late_per_undone_hour * undone)
    fund = alloc.service_fund_yuan
    return late, oc.resolution(fund, late), oc.satisfaction(fund, late)

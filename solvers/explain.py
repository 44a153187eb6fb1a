"""Explanations of an allocation model's answer: why no allocation meets the constraints (re-solving with
parts removed), and the shadow prices of the rules and budgets in planners' units."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from scenario.load import Scenario
from solvers.costs import cost_per_unit, funder_costs
from solvers.curves import Curves
from solvers.lpmodel import (
    SERVICE_OBJECTIVES,
    AllocationOptions,
    LpModel,
    allocation_from_x,
    build_model,
    cost_part,
)
from solvers.lpsolve import LpSolution, Status, solve, solve_fixed, whole_people
from solvers.policy import minimum_step

__all__ = ["explain_infeasible", "shadow_prices", "city_budget_short", "million_yuan", "whole"]


def million_yuan(x: float) -> str:
    """Yuan in millions, for messages (12.34 M yuan)."""
    return f"{x / 1e6:,.2f} M yuan"


def city_budget_short(scenario: Scenario) -> str | None:
    """Why the city's budget cannot pay its fixed posts, or None: the one home of the city-budget check."""
    f = scenario.spec.funding
    need = f.city_paid_workers_per_community * cost_per_unit(scenario)["workers"] * scenario.n_communities
    if f.city_budget_yuan is not None and f.city_budget_yuan < need - 1:
        return (
            f"city budget {million_yuan(f.city_budget_yuan)} < {million_yuan(need)} that the city's "
            f"{f.city_paid_workers_per_community:g} posts per community require"
        )
    return None


def explain_infeasible(
    scenario: Scenario, curves: Curves, opts: AllocationOptions, solver: str, method: str = "milp"
) -> str:
    """Name the constraints that collide and by how much, by re-solving with parts removed (``method``
    "lp-round": as a large city is solved, the LP relaxation in whole people, not a MILP of its size)."""
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
        m = replace(m, c=cost_part(m))
    else:
        m = build_model(scenario, curves, replace(relaxed, total_budget_yuan=None))
    if m.row_groups.get("budget_total") is not None:  # scenario total budget: drop it too
        m = _drop_rows(m, "budget_total")
    sol = _minimum(m, solver, method)
    what = _what_requires(scenario, relaxed, opts)
    if sol.status is Status.optimal and sol.x is not None:
        a = allocation_from_x(scenario, m, sol.x, "minimum")
        costs = funder_costs(scenario, a)
        msgs = []
        for d in spec.districts:
            if opts.district_budgets and d.budget_yuan is not None and d.budget_yuan < costs.district_yuan[d.id] - 1:
                msgs.append(
                    f"district {d.id} budget {million_yuan(d.budget_yuan)} < {million_yuan(costs.district_yuan[d.id])} "
                    f"that {what} alone require"
                )
        total = opts.total_budget_yuan if opts.total_budget_yuan is not None else spec.funding.total_budget_yuan
        if total is not None and total < costs.total_yuan - 1:
            msgs.append(
                f"total budget {million_yuan(total)} < {million_yuan(costs.total_yuan)} that {what} alone require"
            )
        if msgs:
            return "; ".join(msgs)
        return "the budgets are each sufficient alone but not together with the planner's limits"
    # infeasible even without budgets: the planner's limits collide with the rules
    if opts.max_change_workers is not None:
        m2 = build_model(scenario, curves, replace(relaxed, max_change_workers=None))
        s2 = _minimum(m2, solver, method)
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


def _minimum(m: LpModel, solver: str, method: str) -> LpSolution:
    """The cheapest answer of a model with the budgets removed: exactly, or (lp-round) the LP relaxation
    rounded to whole people by the minimums (``lpsolve.whole_people``), the continuous variables re-solved."""
    if method != "lp-round":
        return solve(m, solver)
    relaxed = solve(m, "scipy", relax=True)
    if relaxed.status is not Status.optimal or relaxed.x is None:
        return relaxed
    return solve_fixed(m, whole_people(m, relaxed.x))


def _what_requires(scenario: Scenario, relaxed: AllocationOptions, opts: AllocationOptions) -> str:
    """The constraints a re-solve without the budgets kept, in words ("the policy minimums, workload and ...")."""
    spec = scenario.spec
    limits = opts.max_change_workers is not None or opts.equity_spread_per_10k is not None
    outcome = spec.targets.resolution_share_min is not None or spec.targets.satisfaction_share_min is not None
    service = opts.objective in SERVICE_OBJECTIVES and spec.duties is not None
    return (
        "the policy minimums"
        + (", workload" if spec.duties is not None and relaxed.enforce_workload else "")
        + (" and on-time targets" if relaxed.enforce_targets else "")
        + (" and resolution targets" if relaxed.enforce_targets and outcome else "")
        + (f" and the {spec.targets.duty_coverage_min:.0%} duty-coverage target in every unit" if service else "")
        + (" within the planner's limits" if limits else "")
    )


def _drop_rows(m: LpModel, group: str) -> LpModel:
    keep = np.setdiff1d(np.arange(len(m.b)), m.row_groups[group])
    return replace(
        m,
        A=m.A[keep],
        b=m.b[keep],
        row_names=[m.row_names[i] for i in keep],
        row_groups={k: v for k, v in m.row_groups.items() if k != group},
    )


def whole(v: float) -> str:
    """A whole number with separators, never "-0"."""
    text = f"{v:,.0f}"
    return "0" if text == "-0" else text


def shadow_prices(
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
            value, text = -df, f"raising '{rid}' {new} changes on-time work hours by {whole(-df)} a year"
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
                text = f"one more million yuan for {name} buys {whole(d)} more on-time work hours a year"
            elif objective == "equity":
                text = f"one more million yuan for {name} raises the worst workers per 10,000 by {d:,.3f}"
            else:
                text = (
                    f"one more million yuan for {name} saves {whole(d)} yuan"
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

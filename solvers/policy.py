"""The policy check: an allocation against every active rule at its scope, and the budgets.

Headcount requirements are whole people: a rule's requirement is rounded up at
each unit of its scope (per community for a community rule, per street for a
street rule, and so on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.spec import RuleKind, RuleSpec, Scope
from solvers.costs import FunderCosts, funder_costs

__all__ = [
    "PolicyReport",
    "RuleCheck",
    "check_policy",
    "rule_checks",
    "rule_requirements",
    "scope_membership",
    "base_quantity",
    "minimum_step",
    "HEADCOUNT_RULES",
    "ROUNDING_NOTE",
]

HEADCOUNT_RULES = {
    RuleKind.workers_per_10k_residents,
    RuleKind.street_office_staff_per_street,
    RuleKind.secretary_assistants_per_community,
}
ROUNDING_NOTE = "Headcount requirements are whole people: each unit's requirement is rounded up at the rule's scope."
TOL = 1e-6
BUDGET_TOL_YUAN = 1.0  # costs are compared to the yuan


def scope_membership(scenario: Scenario, scope: Scope) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Units of a scope, and the unit index of every community and every street."""
    if scope is Scope.community:
        return list(scenario.community_ids), np.arange(scenario.n_communities), np.full(len(scenario.street_ids), -1)
    if scope is Scope.street:
        return list(scenario.street_ids), scenario.community_street, np.arange(len(scenario.street_ids))
    if scope is Scope.district:
        return list(scenario.district_ids), scenario.community_district, scenario.street_district
    return ["city"], np.zeros(scenario.n_communities, dtype=int), np.zeros(len(scenario.street_ids), dtype=int)


def base_quantity(scenario: Scenario, rule: RuleSpec) -> tuple[np.ndarray, bool]:
    """Per-community (or per-street) base the rule's minimum multiplies; True if per street."""
    n = scenario.n_communities
    k = rule.kind
    if k is RuleKind.workers_per_10k_residents:
        return scenario.urban_residents / 10_000.0, False
    if k is RuleKind.work_fund_yuan_per_1000_households:
        return scenario.households / 1_000.0, False
    if k is RuleKind.street_office_staff_per_street:
        return np.ones(len(scenario.street_ids)), True
    return np.ones(n), False  # per community


def minimum_step(rule: RuleSpec) -> float:
    """One step of a rule's minimum, as shadow prices and the next-step re-solve count it: one person (or
    assistant), 1,000 yuan of work fund per 1,000 households, 1 yuan of service fund."""
    return 1000.0 if rule.kind is RuleKind.work_fund_yuan_per_1000_households else 1.0


ALLOCATION_FIELD = {
    RuleKind.workers_per_10k_residents: "workers",
    RuleKind.street_office_staff_per_street: "street_office_staff",
    RuleKind.secretary_assistants_per_community: "secretary_assistants",
    RuleKind.work_fund_yuan_per_1000_households: "work_fund_yuan",
    RuleKind.service_fund_yuan_per_community: "service_fund_yuan",
}


def rule_requirements(scenario: Scenario, rule: RuleSpec) -> tuple[list[str], np.ndarray, np.ndarray, bool]:
    """Units, required amount per unit, unit index of each member, and whether members are streets."""
    units, c_unit, s_unit = scope_membership(scenario, rule.scope)
    base, per_street = base_quantity(scenario, rule)
    member_unit = s_unit if per_street else c_unit
    raw = np.bincount(member_unit, weights=base * rule.minimum, minlength=len(units))
    if rule.kind in HEADCOUNT_RULES:
        # Round up, but do not turn 18.000000001 (float noise) into 19.
        raw = np.ceil(np.round(raw, 9))
    return units, raw, member_unit, per_street


@dataclass(frozen=True)
class PolicyReport:
    """Result of a policy check: one row per rule and unit, plus totals."""

    rows: pd.DataFrame
    costs: FunderCosts
    workers_total: int
    workers_per_10k: float
    street_staff_total: int
    mobile_grid_workers_total: int
    notes: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return bool(self.rows["passed"].all())

    def summary(self) -> pd.DataFrame:
        """One row per rule: units, failing units, total required and actual, worst slack."""
        g = self.rows.groupby("rule", sort=False)
        return pd.DataFrame(
            {
                "scope": g["scope"].first(),
                "bound": g["bound"].first(),
                "units": g.size(),
                "failing": g["passed"].apply(lambda s: int((~s).sum())),
                "limit": g["limit"].sum(),
                "actual": g["actual"].sum(),
                "worst_slack": g["slack"].min(),
                "passed": g["passed"].all(),
            }
        ).reset_index()


@dataclass(frozen=True)
class RuleCheck:
    """One active rule against an allocation, per unit of its scope (``check_policy``'s rows of the rule)."""

    rule: str
    scope: str
    units: list[str]
    required: np.ndarray
    actual: np.ndarray
    slack: np.ndarray
    passed: np.ndarray


def rule_checks(scenario: Scenario, allocation: Allocation) -> list[RuleCheck]:
    """Every active rule at its scope, as arrays (``check_policy`` makes them rows of its table)."""
    out = []
    for rid, rule in scenario.spec.policy.rules.items():
        if not rule.active:
            continue
        units, required, member_unit, _ = rule_requirements(scenario, rule)
        values = getattr(allocation, ALLOCATION_FIELD[rule.kind]).astype(float)
        actual = np.bincount(member_unit, weights=values, minlength=len(units)).astype(float)
        slack = actual - required
        out.append(RuleCheck(rid, rule.scope.value, units, np.asarray(required, float), actual, slack, slack >= -TOL))
    return out


_COLUMNS = ["rule", "scope", "unit", "bound", "limit", "actual", "slack", "passed"]


def _table(checks: list[RuleCheck], records: list[tuple]) -> pd.DataFrame:
    """The check's rows: the rules' by columns (one a community at national scale: 100,000s of rows), then
    ``records`` (structure and budgets), one tuple a row."""
    columns: dict[str, list] = {c: [] for c in _COLUMNS}
    for r in checks:
        k = len(r.units)
        columns["rule"] += [r.rule] * k
        columns["scope"] += [r.scope] * k
        columns["unit"] += list(r.units)
        columns["bound"] += [">="] * k
        columns["limit"] += r.required.tolist()
        columns["actual"] += r.actual.tolist()
        columns["slack"] += r.slack.tolist()
        columns["passed"] += r.passed.tolist()
    for record in records:
        for column, value in zip(_COLUMNS, record):
            columns[column].append(value)
    if not columns["rule"]:
        return pd.DataFrame.from_records(records, columns=_COLUMNS)  # no rows: the columns' types as ever
    return pd.DataFrame(columns, columns=_COLUMNS)


def check_policy(scenario: Scenario, allocation: Allocation) -> PolicyReport:
    """Test an allocation against every active rule at its scope and against every budget."""
    records: list[tuple] = []
    # Structural: secretary assistants are community workers.
    over = allocation.secretary_assistants - allocation.workers
    for i in np.flatnonzero(over > 0):
        records.append(
            (
                "secretary_assistants_within_workers",
                "community",
                scenario.community_ids[i],
                "<=",
                float(allocation.workers[i]),
                float(allocation.secretary_assistants[i]),
                float(-over[i]),
                False,
            )
        )
    costs = funder_costs(scenario, allocation)
    funding = scenario.spec.funding
    budgets: list[tuple[str, str, float | None, float]] = [
        ("budget_city", "city", funding.city_budget_yuan, costs.city_yuan)
    ]
    for d in scenario.spec.districts:
        budgets.append(("budget_district", d.id, d.budget_yuan, costs.district_yuan[d.id]))
    budgets.append(("budget_total", "all funders", funding.total_budget_yuan, costs.total_yuan))
    for rid, unit, budget, spent in budgets:
        if budget is None:
            continue
        # costs are compared to the whole yuan, and shown so: 56,310,000.15 (the pay table's mean cost x 2.5
        # x 340) is 56,310,000 against a budget of 56,310,000, slack 0, not -0.15 marked "pass"
        spent = float(round(spent))
        budget_slack = float(budget - spent)
        budget_slack = 0.0 if abs(budget_slack) < BUDGET_TOL_YUAN else budget_slack
        records.append((rid, "funder", unit, "<=", float(budget), spent, budget_slack, bool(budget_slack >= 0)))
    rows = _table(rule_checks(scenario, allocation), records)
    residents = float(scenario.urban_residents.sum())
    return PolicyReport(
        rows=rows,
        costs=costs,
        workers_total=allocation.total_workers,
        workers_per_10k=allocation.total_workers / residents * 10_000,
        street_staff_total=int(allocation.street_office_staff.sum()),
        mobile_grid_workers_total=int(allocation.mobile_grid_workers.sum()),
        notes=(
            ROUNDING_NOTE,
            "Budgets: a '<=' row; cost of a worker = mean of the pay table over the post and level mix "
            f"({scenario.mean_worker_cost_yuan:,.0f} yuan/year).",
        ),
    )

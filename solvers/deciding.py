"""What decides each unit's staffing, and the duty coverage an allocation is predicted to reach.

``deciding_constraints`` names, for every community and street office, the constraint family whose lower bound
equals its staffing (policy floor, workload, on-time target, simulation cut, capacity margin), or the objective
within the budget when the unit is above every bound; the largest bound is what the unit needs
(``minimum_staffing``; for the fund: policy floor, resolution target, simulation cut). ``predicted_coverage``
is the planning arithmetic's duty coverage (the allocator's prediction, reported against simulation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import split_desk, staff_time
from solvers.curves import Curves
from solvers.lpmodel import COVERAGE_UTILISATION, SERVICE_OBJECTIVES, AllocationOptions
from solvers.policy import rule_requirements

__all__ = ["deciding_constraints", "predicted_coverage", "predicted_outcomes", "fund_deciders", "minimum_staffing"]


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


def _families_at(bounds: dict[str, np.ndarray], top: np.ndarray, at: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per unit: the families whose bound is ``at`` the top (``at(|bound - top|)``), joined by " = " in the
    order of ``bounds`` (an object array; "" where none is, as where the top is infinite)."""
    names = list(bounds)
    with np.errstate(invalid="ignore"):
        hit = np.column_stack([at(np.abs(np.asarray(bounds[k], float) - top)) for k in names])
    codes, which = np.unique(hit @ (1 << np.arange(len(names))), return_inverse=True)
    labels = np.array([" = ".join(k for j, k in enumerate(names) if int(c) >> j & 1) for c in codes], dtype=object)
    return labels[which.ravel()]


def _fund_bounds(scenario: Scenario, curves: Curves, opts: AllocationOptions) -> dict[str, np.ndarray]:
    """Lower bounds on each community's service fund, by family (policy floor, resolution target)."""
    spec = scenario.spec
    floor = np.zeros(scenario.n_communities)
    for rule in spec.policy.rules.values():
        if rule.active and rule.kind.value == "service_fund_yuan_per_community" and rule.scope.value == "community":
            floor = np.maximum(floor, rule_requirements(scenario, rule)[1])
    bounds = {"policy floor": floor}
    t, oc = spec.targets, curves.outcomes
    if oc is not None and opts.enforce_targets and opts.objective not in SERVICE_OBJECTIVES:
        if t.resolution_share_min is not None or t.satisfaction_share_min is not None:
            need = oc.min_fund_yuan(oc.min_funded(t.resolution_share_min, t.satisfaction_share_min))
            need[list(opts.outcome_exempt)] = 0.0
            bounds["resolution target"] = need
    if opts.min_service_fund_yuan is not None:
        bounds["simulation cut"] = np.asarray(opts.min_service_fund_yuan, float)
    return bounds


def minimum_staffing(
    scenario: Scenario, curves: Curves, opts: AllocationOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each unit needs under ``opts``: workers per community, staff per street office (whole people)
    and service fund per community (yuan): the largest bound of every family (not capacity margins: rebalance
    has no per-unit need)."""
    com, street = _family_bounds(scenario, curves, opts, scenario.baseline)
    fund = _fund_bounds(scenario, curves, opts)
    return (
        np.max(np.column_stack(list(com.values())), axis=1),
        np.max(np.column_stack(list(street.values())), axis=1),
        np.max(np.column_stack(list(fund.values())), axis=1),
    )


def fund_deciders(scenario: Scenario, curves: Curves, opts: AllocationOptions, alloc: Allocation) -> pd.DataFrame:
    """Which constraint decides each community's service fund: the policy floor, the resolution or satisfaction
    target (the fund the outcome curves need), or the objective above both."""
    bounds = _fund_bounds(scenario, curves, opts)
    fund = alloc.service_fund_yuan
    top = np.max(np.column_stack(list(bounds.values())), axis=1)
    above = "service objective" if opts.objective in SERVICE_OBJECTIVES else "aggregate rule or planner's limit"
    decided = np.where(fund > top + 0.5, above, _families_at(bounds, top, lambda gap: gap <= 0.5))
    out = pd.DataFrame({"community": list(scenario.community_ids), "service_fund_yuan": fund})
    for k, b in bounds.items():
        out[f"min_fund_{k.replace(' ', '_')}_yuan"] = b
    out["fund_decided_by"] = decided
    return out


def _family_bounds(scenario: Scenario, curves: Curves, opts: AllocationOptions, alloc: Allocation) -> tuple[dict, dict]:
    """Lower bounds on workers per community and staff per street office, by constraint family."""
    spec = scenario.spec
    n, S = scenario.n_communities, len(scenario.street_ids)
    floor_c = np.full(n, np.ceil(spec.funding.city_paid_workers_per_community - 1e-9))
    floor_s = np.zeros(S)
    for rule in spec.policy.rules.values():
        if not rule.active or rule.scope.value not in ("community", "street"):
            continue
        units, req, member, per_street = rule_requirements(scenario, rule)
        if (
            rule.kind.value in ("workers_per_10k_residents", "secretary_assistants_per_community")
            and rule.scope.value == "community"
        ):
            floor_c = np.maximum(floor_c, req)
        elif rule.kind.value == "street_office_staff_per_street" and rule.scope.value == "street":
            floor_s = np.maximum(floor_s, req)
    com = {"policy floor": floor_c}
    street = {"policy floor": floor_s}
    st = staff_time(scenario)
    if opts.objective == "rebalance":
        # the capacity margin reached: every unit gets what the busiest unit's margin asks of it
        hc, hs = st.available_per_person("community"), st.available_per_person("street")
        with np.errstate(divide="ignore"):
            t = min(
                np.min(np.where(st.planned_community > 0, alloc.workers * hc / st.planned_community, np.inf)),
                np.min(np.where(st.planned_street > 0, alloc.street_office_staff * hs / st.planned_street, np.inf)),
            )
        com["capacity margin"] = np.ceil(np.round(t * st.planned_community / hc, 6) - 1e-6)
        street["capacity margin"] = np.ceil(np.round(t * st.planned_street / hs, 6) - 1e-6)
    elif spec.duties is not None and opts.objective not in SERVICE_OBJECTIVES and opts.enforce_workload:
        com["workload"] = st.workload_people("community")
        street["workload"] = st.workload_people("street")
    target = spec.targets.on_time_share_min
    if target > 0 and opts.objective not in SERVICE_OBJECTIVES and opts.enforce_targets:
        need = curves.min_workers(target).astype(float)
        need[list(opts.target_exempt)] = 0.0
        com["on-time target"] = np.where(need >= 0, need, np.inf)
    if opts.min_workers is not None:
        com["simulation cut"] = np.asarray(opts.min_workers, float)
    if opts.min_street_staff is not None:
        street["simulation cut"] = np.asarray(opts.min_street_staff, float)
    return com, street


def deciding_constraints(
    scenario: Scenario, alloc: Allocation, curves: Curves, opts: AllocationOptions
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which constraint decides each community's workers and each street office's staff.

    A unit is decided by the families whose lower bound equals its staffing (the
    largest bound); a unit above every bound is decided by the objective within the
    budget ("service objective", "equity objective"), or by a planner's limit.
    """
    com, street = _family_bounds(scenario, curves, opts, alloc)
    above = {
        "min-cost": "aggregate rule or planner's limit",
        "max-service": "service objective",
        "rebalance": "budget (rebalance at equal money)",
        "equity": "equity objective",
    }[opts.objective]

    def table(ids, staff, bounds, key):
        b = pd.DataFrame(bounds, index=pd.Index(ids, name=key))
        top = b.max(axis=1).to_numpy()
        decided = np.where(staff > top + 1e-9, above, _families_at(bounds, top, lambda gap: gap < 1e-9))
        out = b.rename(columns=lambda f: f"min_{f.replace(' ', '_').replace('-', '_')}")
        out.insert(0, "staff", staff)
        out["decided_by"] = decided
        return out.reset_index()

    return (
        table(scenario.community_ids, alloc.workers, com, "community").merge(
            fund_deciders(scenario, curves, opts, alloc), on="community"
        ),
        table(scenario.street_ids, alloc.street_office_staff, street, "street"),
    )

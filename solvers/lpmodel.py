"""The allocation model as a sparse matrix: one source of truth for every solver path.

Variables (in this order): per community workers ``w``, secretary assistants ``sa``,
work fund ``wf`` (yuan), service fund ``sf`` (yuan); per street party-office staff
``st`` and mobile grid workers ``mb``; then objective-specific variables
(on-time share ``s`` per community for max-service; the worst workers per 10,000
``t`` for equity; ``rho_min``/``rho_max`` for the equity bound).
Rows are ``A x <= b``, each with a name a report can cite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from scenario.load import Scenario
from scenario.spec import RuleKind
from scenario.staffing import staff_time
from solvers.curves import Curves
from solvers.names import OBJECTIVES  # one list for the model and the command line
from solvers.policy import ALLOCATION_FIELD, rule_requirements

__all__ = ["LpModel", "AllocationOptions", "build_model", "OBJECTIVES", "SERVICE_OBJECTIVES", "COVERAGE_UTILISATION"]

SERVICE_OBJECTIVES = ("max-service",)
EPS_COST = 1e-9  # tie-break per yuan in max-service and equity: cheapest among the best
# Share of available hours a unit can turn into cases and duties done on time (prediction of coverage in
# max-service); the simulation's coverage against planned utilisation is measured in tests/test_duties.py.
COVERAGE_UTILISATION = 0.95


@dataclass(frozen=True)
class AllocationOptions:
    """The planner's choices for one allocation run."""

    objective: str = "min-cost"
    total_budget_yuan: float | None = None  # overrides the scenario's total budget
    district_budgets: bool = True  # enforce each district's budget
    max_change_workers: int | None = None  # per community, from the baseline
    min_workers: tuple[float, ...] | None = None  # extra lower bounds per community (simulation cuts)
    min_street_staff: tuple[float, ...] | None = None  # extra lower bounds per street office (simulation cuts)
    target_exempt: tuple[int, ...] = ()  # communities whose on-time target no staffing can reach
    equity_spread_per_10k: float | None = None  # max - min workers per 10,000 over communities
    free_mobile: bool = False  # let the model change mobile grid workers
    enforce_targets: bool = True  # on-time targets as constraints (min-cost, equity)
    enforce_workload: bool = True  # planned hours <= available x max utilisation (min-cost, equity)
    integer: bool = True


@dataclass
class LpModel:
    """``min c.x  s.t.  A x <= b,  lb <= x <= ub``, integrality per variable, names per row."""

    c: np.ndarray
    A: sp.csr_matrix
    b: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    row_names: list[str]
    var_names: list[str]
    blocks: dict[str, slice]
    row_groups: dict[str, np.ndarray] = field(default_factory=dict)  # rule id -> row indices
    row_scale: dict[str, np.ndarray] = field(default_factory=dict)  # d(rhs)/d(minimum) per row

    @property
    def n(self) -> int:
        return len(self.c)


class _Rows:
    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.names: list[str] = []
        self.count = 0

    def add(self, r: np.ndarray, cidx: np.ndarray, v: np.ndarray, rhs: np.ndarray, names: list[str]) -> np.ndarray:
        """Add len(rhs) rows; ``r`` are row offsets (0..len(rhs)-1) of each coefficient."""
        idx = np.arange(self.count, self.count + len(rhs))
        self.rows.append(r + self.count)
        self.cols.append(np.asarray(cidx))
        self.vals.append(np.asarray(v, float))
        self.b.append(np.asarray(rhs, float))
        self.names.extend(names)
        self.count += len(rhs)
        return idx


def build_model(scenario: Scenario, curves: Curves, opts: AllocationOptions) -> LpModel:
    """Build the matrix of the allocation model for ``opts.objective``."""
    if opts.objective not in OBJECTIVES or opts.objective == "rebalance":
        raise ValueError(
            f"objective must be one of {', '.join(OBJECTIVES)} (rebalance is solved by "
            f"solvers.allocator.allocate, by bisection): {opts.objective!r}"
        )
    spec = scenario.spec
    n, S = scenario.n_communities, len(scenario.street_ids)
    cid, sid = scenario.community_ids, scenario.street_ids
    base = scenario.baseline
    unit = spec.pay.mean_worker_cost_yuan_per_year
    blocks = {
        "workers": slice(0, n),
        "secretary_assistants": slice(n, 2 * n),
        "work_fund_yuan": slice(2 * n, 3 * n),
        "service_fund_yuan": slice(3 * n, 4 * n),
        "street_office_staff": slice(4 * n, 4 * n + S),
        "mobile_grid_workers": slice(4 * n + S, 4 * n + 2 * S),
    }
    nv = 4 * n + 2 * S
    service = opts.objective in SERVICE_OBJECTIVES
    st = staff_time(scenario)
    duty_c, duty_s = st.duties_at("grid") + st.duties_at("desk"), st.duties_at("street")
    if service:
        blocks["on_time_share"] = slice(nv, nv + n)
        nv += n
        blocks["duty_coverage_community"] = slice(nv, nv + n)
        blocks["duty_coverage_street"] = slice(nv + n, nv + n + S)
        nv += n + S
    if opts.objective == "equity":
        blocks["worst_per_10k"] = slice(nv, nv + 1)
        nv += 1
    if opts.equity_spread_per_10k is not None:
        blocks["rho"] = slice(nv, nv + 2)
        nv += 2
    W, SA, WF, SF, ST, MB = (
        np.arange(nv)[blocks[k]]
        for k in (
            "workers",
            "secretary_assistants",
            "work_fund_yuan",
            "service_fund_yuan",
            "street_office_staff",
            "mobile_grid_workers",
        )
    )
    big = np.inf
    lb = np.zeros(nv)
    ub = np.full(nv, big)
    integer = np.zeros(nv, bool)
    integer[W] = integer[SA] = integer[ST] = integer[MB] = opts.integer
    # the city-funded posts exist in every community
    city_posts = spec.funding.city_paid_workers_per_community
    lb[W] = np.ceil(city_posts - 1e-9)
    ub[W] = np.inf
    if opts.max_change_workers is not None:
        lb[W] = np.maximum(lb[W], base.workers - opts.max_change_workers)
        ub[W] = np.minimum(ub[W], base.workers + opts.max_change_workers)
    if not opts.free_mobile:
        lb[MB] = ub[MB] = base.mobile_grid_workers
    if opts.min_workers is not None:
        lb[W] = np.maximum(lb[W], np.asarray(opts.min_workers, float))
    if opts.min_street_staff is not None:
        lb[ST] = np.maximum(lb[ST], np.asarray(opts.min_street_staff, float))

    rows = _Rows()
    groups: dict[str, np.ndarray] = {}
    scale: dict[str, np.ndarray] = {}
    var_of = {
        "workers": W,
        "secretary_assistants": SA,
        "work_fund_yuan": WF,
        "service_fund_yuan": SF,
        "street_office_staff": ST,
    }
    for rid, rule in spec.policy.rules.items():
        if not rule.active:
            continue
        units, req, member_unit, per_street = rule_requirements(scenario, rule)
        cols = var_of[ALLOCATION_FIELD[rule.kind]]
        r = member_unit
        groups[rid] = rows.add(r, cols, -np.ones(len(cols)), -req, [f"rule:{rid}:{u}" for u in units])
        # rhs per unit of `minimum` (unrounded), for shadow prices in planners' units
        base_q = {
            RuleKind.workers_per_10k_residents: scenario.urban_residents / 10_000,
            RuleKind.work_fund_yuan_per_1000_households: scenario.households / 1_000,
            RuleKind.street_office_staff_per_street: np.ones(S),
        }.get(rule.kind, np.ones(n))
        scale[rid] = np.bincount(member_unit, weights=base_q, minlength=len(units))
    # secretary assistants are workers
    rows.add(
        np.repeat(np.arange(n), 2),
        np.column_stack([SA, W]).ravel(),
        np.tile([1.0, -1.0], n),
        np.zeros(n),
        [f"structure:secretary_within_workers:{c}" for c in cid],
    )
    # workload: planned hours (duties + expected cases) <= available hours x max planned utilisation
    u_max = spec.duties.max_planned_utilisation if spec.duties is not None else 1.0
    if spec.duties is not None and opts.enforce_workload and not service and opts.objective != "rebalance":
        groups["workload_community"] = rows.add(
            np.arange(n), W, -np.ones(n), -st.min_staff("community", u_max), [f"workload:community:{c}" for c in cid]
        )
        groups["workload_street"] = rows.add(
            np.arange(S), ST, -np.ones(S), -st.min_staff("street", u_max), [f"workload:street:{x}" for x in sid]
        )
    # on-time targets as minimum workers (from the curves)
    target = spec.targets.on_time_share_min
    if opts.enforce_targets and not service and target > 0:
        need = curves.min_workers(target)
        exempt = np.zeros(n, bool)
        exempt[list(opts.target_exempt)] = True
        need = np.where(exempt, 0, need)
        bad = np.flatnonzero(need < 0)
        if bad.size:
            from solvers.errors import InfeasibleError

            c0 = int(bad[0])
            raise InfeasibleError(
                f"on-time target {target:.0%} is unreachable in {len(bad)} communities (e.g. {cid[c0]}: at most "
                f"{curves.share[c0].max():.1%} with {int(curves.workers[-1])} workers); lower targets.on_time_share_min"
            )
        groups["target"] = rows.add(
            np.arange(n), W, -np.ones(n), -need.astype(float), [f"target:on_time:{c}" for c in cid]
        )
    # budgets: districts and total; the city's share is fixed (2.5 posts per community)
    cd, sd = scenario.community_district, scenario.street_district
    nd = len(scenario.district_ids)
    cost_cols = np.concatenate([W, WF, SF, ST, MB])
    cost_vals = np.concatenate(
        [
            np.full(n, unit),
            np.ones(n),
            np.ones(n),
            np.full(S, spec.pay.street_staff_cost_yuan_per_year),
            np.full(S, spec.pay.mobile_worker_allowance_yuan_per_year),
        ]
    )
    cost_district = np.concatenate([cd, cd, cd, sd, sd])
    if opts.district_budgets:
        budgets = [(i, d.budget_yuan) for i, d in enumerate(spec.districts) if d.budget_yuan is not None]
        if budgets:
            di = np.array([i for i, _ in budgets])
            pos = np.full(nd, -1)
            pos[di] = np.arange(len(di))
            keep = pos[cost_district] >= 0
            city_share = city_posts * unit * np.bincount(cd, minlength=nd)
            groups["budget_district"] = rows.add(
                pos[cost_district][keep],
                cost_cols[keep],
                cost_vals[keep],
                np.array([bgt + city_share[i] for i, bgt in budgets]),
                [f"budget:district:{scenario.district_ids[i]}" for i, _ in budgets],
            )
    total = opts.total_budget_yuan if opts.total_budget_yuan is not None else spec.funding.total_budget_yuan
    if total is not None:
        groups["budget_total"] = rows.add(
            np.zeros(len(cost_cols), int), cost_cols, cost_vals, np.array([total]), ["budget:total"]
        )
    # equity bound: rho_min <= w_c / (residents_c / 10k) <= rho_max, rho_max - rho_min <= spread
    r10k = scenario.urban_residents / 10_000
    if opts.equity_spread_per_10k is not None:
        rmin, rmax = blocks["rho"].start, blocks["rho"].start + 1
        rows.add(
            np.repeat(np.arange(n), 2),
            np.column_stack([W, np.full(n, rmax)]).ravel(),
            np.column_stack([np.ones(n), -r10k]).ravel(),
            np.zeros(n),
            [f"equity:max:{c}" for c in cid],
        )
        rows.add(
            np.repeat(np.arange(n), 2),
            np.column_stack([W, np.full(n, rmin)]).ravel(),
            np.column_stack([-np.ones(n), r10k]).ravel(),
            np.zeros(n),
            [f"equity:min:{c}" for c in cid],
        )
        groups["equity_spread"] = rows.add(
            np.array([0, 0]),
            np.array([rmax, rmin]),
            np.array([1.0, -1.0]),
            np.array([opts.equity_spread_per_10k]),
            ["equity:spread"],
        )
    # objective
    c = np.zeros(nv)
    c[cost_cols] = cost_vals
    if service:
        # maximise on-time work hours a year: case hours on time (s_c under the concave hull of the curve)
        # plus scheduled duty hours covered, cov x duty hours <= staff x available hours - case hours
        Sv = np.arange(nv)[blocks["on_time_share"]]
        Cc = np.arange(nv)[blocks["duty_coverage_community"]]
        Cs = np.arange(nv)[blocks["duty_coverage_street"]]
        ub[Sv] = ub[Cc] = ub[Cs] = 1.0
        c *= EPS_COST
        case_hours = st.case_hours_grid + st.case_hours_desk
        c[Sv] = -case_hours
        c[Cc] = -duty_c
        c[Cs] = -duty_s
        lb[Cc] = np.where(duty_c > 0, 0.0, 1.0)
        lb[Cs] = np.where(duty_s > 0, 0.0, 1.0)
        hc = st.available_per_person("community") * COVERAGE_UTILISATION
        hs = st.available_per_person("street") * COVERAGE_UTILISATION
        has_c, has_s = np.flatnonzero(duty_c > 0), np.flatnonzero(duty_s > 0)
        groups["coverage_community"] = rows.add(
            np.repeat(np.arange(len(has_c)), 2),
            np.column_stack([Cc[has_c], W[has_c]]).ravel(),
            np.column_stack([duty_c[has_c], np.full(len(has_c), -hc)]).ravel(),
            -case_hours[has_c],
            [f"coverage:community:{cid[i]}" for i in has_c],
        )
        groups["coverage_street"] = rows.add(
            np.repeat(np.arange(len(has_s)), 2),
            np.column_stack([Cs[has_s], ST[has_s]]).ravel(),
            np.column_stack([duty_s[has_s], np.full(len(has_s), -hs)]).ravel(),
            -st.case_hours_street[has_s],
            [f"coverage:street:{sid[i]}" for i in has_s],
        )
        row_i, col_i, val, rhs, names = [], [], [], [], []
        k = 0
        top = int(curves.workers[-1])  # the curve is flat beyond its last point
        for i in range(n):
            for a, slope in curves.concave_cuts(i, min(int(lb[W[i]]), top), int(min(ub[W[i]], top))):
                row_i += [k, k]
                col_i += [Sv[i], W[i]]
                val += [1.0, -slope]
                rhs.append(a)
                names.append(f"curve:{cid[i]}:{k}")
                k += 1
        groups["curve"] = rows.add(np.array(row_i), np.array(col_i), np.array(val), np.array(rhs), names)
    elif opts.objective == "equity":
        t = blocks["worst_per_10k"].start
        c *= EPS_COST
        c[t] = -1.0
        groups["equity_worst"] = rows.add(
            np.repeat(np.arange(n), 2),
            np.column_stack([np.full(n, t), W]).ravel(),
            np.column_stack([r10k, -np.ones(n)]).ravel(),
            np.zeros(n),
            [f"equity:worst:{c_}" for c_ in cid],
        )
        lb[t] = 0.0
        ub[t] = np.inf
    A = sp.csr_matrix(
        (np.concatenate(rows.vals), (np.concatenate(rows.rows), np.concatenate(rows.cols))), shape=(rows.count, nv)
    )
    street_blocks = ("street_office_staff", "mobile_grid_workers", "duty_coverage_street")
    community_blocks = (
        "workers",
        "secretary_assistants",
        "work_fund_yuan",
        "service_fund_yuan",
        "on_time_share",
        "duty_coverage_community",
    )
    names = []
    for block, sl in blocks.items():
        ids = (
            cid
            if block in community_blocks
            else sid
            if block in street_blocks
            else [str(i) for i in range(sl.stop - sl.start)]
        )
        names += [f"{block}[{x}]" for x in ids]
    return LpModel(
        c=c,
        A=A,
        b=np.concatenate(rows.b),
        lb=lb,
        ub=ub,
        integer=integer,
        row_names=rows.names,
        var_names=names,
        blocks=blocks,
        row_groups=groups,
        row_scale=scale,
    )

"""The allocation model as a sparse matrix: one source of truth for every solver path.

Variables (in this order): per community workers ``w``, secretary assistants ``sa``,
work fund ``wf`` (yuan), service fund ``sf`` (yuan); per street party-office staff
``st`` and mobile grid workers ``mb``; then objective-specific variables
(on-time share ``s`` per community for max-service; the worst workers per 10,000
``t`` for equity; ``rho_min``/``rho_max`` for the equity bound).
Rows are ``A x <= b``, each with a name a report can cite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.staffing import staff_time
from scenario.text import percent
from solvers.costs import cost_per_unit
from solvers.curves import Curves
from solvers.names import MAX_CHANGE_WORKERS, MAX_SPREAD_PER_10K, OBJECTIVES  # shared with the command line
from solvers.policy import ALLOCATION_FIELD, base_quantity, rule_requirements

__all__ = [
    "LpModel",
    "Rows",
    "AllocationOptions",
    "build_model",
    "allocation_from_x",
    "OBJECTIVES",
    "SERVICE_OBJECTIVES",
    "COVERAGE_UTILISATION",
]

SERVICE_OBJECTIVES = ("max-service",)
# max-service's benefit variables: per community the on-time share, the share of fixes the fund pays and the
# share of cases found late (a penalty); duty coverage (floored at the target) only limits the last
SERVICE_BLOCKS = ("on_time_share", "funded_share", "found_late")
COVERAGE_BLOCKS = ("duty_coverage_community", "duty_coverage_street")
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
    outcome_exempt: tuple[int, ...] = ()  # communities whose resolution and satisfaction targets no fund can reach
    min_service_fund_yuan: tuple[float, ...] | None = None  # extra lower bounds per community (simulation)
    equity_spread_per_10k: float | None = None  # max - min workers per 10,000 over communities
    free_mobile: bool = False  # let the model change mobile grid workers
    enforce_targets: bool = True  # on-time targets as constraints (min-cost, equity)
    enforce_workload: bool = True  # planned hours <= available x max utilisation (min-cost, equity)
    integer: bool = True

    def __post_init__(self) -> None:
        """Refuse what the command line refuses, naming the field, before a solver sees it (a solver answers a
        negative or fractional limit with its own error, and a truthy string flag would quietly mean True).

        Raises:
            ValueError: a field outside its bounds, of the wrong kind, or an unknown objective.
        """
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, found {self.objective!r}")
        for name in ("district_budgets", "free_mobile", "enforce_targets", "enforce_workload", "integer"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, found {getattr(self, name)!r}")
        if self.total_budget_yuan is not None:
            _set(self, "total_budget_yuan", _number("total_budget_yuan", self.total_budget_yuan, high=math.inf))
        if self.max_change_workers is not None:
            v = _number("max_change_workers", self.max_change_workers, high=MAX_CHANGE_WORKERS, whole=True)
            _set(self, "max_change_workers", int(v))
        if self.equity_spread_per_10k is not None:
            _set(
                self,
                "equity_spread_per_10k",
                _number("equity_spread_per_10k", self.equity_spread_per_10k, high=MAX_SPREAD_PER_10K),
            )
        for name in ("min_workers", "min_street_staff", "min_service_fund_yuan"):
            if getattr(self, name) is not None:
                _set(self, name, _bounds(name, getattr(self, name)))
        for name in ("target_exempt", "outcome_exempt"):
            for i, x in enumerate(_sequence(name, getattr(self, name))):
                if isinstance(x, (bool, np.bool_)) or not isinstance(x, Integral) or x < 0:
                    raise ValueError(f"{name}[{i}] must be a community's index (a whole number >= 0), found {x!r}")
            _set(self, name, tuple(int(x) for x in getattr(self, name)))


def _set(opts: AllocationOptions, name: str, value: object) -> None:
    """A checked value in a frozen dataclass (as a plain int, float or tuple)."""
    object.__setattr__(opts, name, value)


def _sequence(name: str, value: object) -> list | tuple | np.ndarray:
    """A list, tuple or array; a string, a number or a mapping is refused."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise ValueError(f"{name} must be a list or tuple, found {type(value).__name__} {value!r}")
    return value


def _bounds(name: str, value: object) -> tuple[float, ...]:
    """Lower bounds per unit: finite numbers (checked at once; one by one only to name the first bad one)."""
    items = _sequence(name, value)
    arr = np.asarray(items)
    if arr.ndim == 1 and arr.dtype.kind in "iuf" and np.isfinite(arr).all():
        return tuple(arr.astype(float).tolist())
    for i, x in enumerate(items):
        _number(f"{name}[{i}]", x, low=-math.inf, high=math.inf)
    raise ValueError(f"{name} must be a list of finite numbers, found {value!r}")


def _number(name: str, value: object, low: float = 0, high: float = math.inf, whole: bool = False) -> float:
    """A finite number in [low, high] (a whole one if ``whole``)."""
    kind = "a whole number" if whole else "a finite number"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be {kind}, found {value!r}")
    v = float(value)
    if whole and v != math.floor(v):
        raise ValueError(f"{name} must be {kind}, found {value!r}")
    if v < low:
        raise ValueError(f"{name} must be >= {low:g}, found {value!r}")
    if v > high:
        raise ValueError(f"{name} must be <= {high:,} (a plausible upper bound), found {value!r}")
    return v


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
    at_least: np.ndarray  # per row: a ">=" statement stored negated (-a.x <= -need), shown as written
    row_groups: dict[str, np.ndarray] = field(default_factory=dict)  # rule id -> row indices
    row_scale: dict[str, np.ndarray] = field(default_factory=dict)  # d(rhs)/d(minimum) per row

    @property
    def n(self) -> int:
        return len(self.c)


class Rows:
    """Rows of ``A x <= b`` gathered as sparse triplets, each with a name and whether it states ``>=``."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.names: list[str] = []
        self.at_least: list[np.ndarray] = []
        self.count = 0

    def add(
        self, r: np.ndarray, cidx: np.ndarray, v: np.ndarray, rhs: np.ndarray, names: list[str], at_least=False
    ) -> np.ndarray:
        """Add len(rhs) rows; ``r`` are row offsets (0..len(rhs)-1) of each coefficient; ``at_least``: the rows
        state a.x >= need, given here negated."""
        idx = np.arange(self.count, self.count + len(rhs))
        self.at_least.append(np.full(len(rhs), at_least))
        self.rows.append(r + self.count)
        self.cols.append(np.asarray(cidx))
        self.vals.append(np.asarray(v, float))
        self.b.append(np.asarray(rhs, float))
        self.names.extend(names)
        self.count += len(rhs)
        return idx


# Per community: these allocation fields are variables; per street: these.
COMMUNITY_VARS = ("workers", "secretary_assistants", "work_fund_yuan", "service_fund_yuan")
STREET_VARS = ("street_office_staff", "mobile_grid_workers")
WHOLE_PEOPLE = ("workers", "secretary_assistants", "street_office_staff", "mobile_grid_workers")


class _Builder:
    """Builds the allocation model one constraint family at a time; each method adds named rows."""

    def __init__(self, scenario: Scenario, curves: Curves, opts: AllocationOptions) -> None:
        self.scenario, self.curves, self.opts = scenario, curves, opts
        self.spec = scenario.spec
        self.n, self.ns = scenario.n_communities, len(scenario.street_ids)
        self.st = staff_time(scenario)
        self.service = opts.objective in SERVICE_OBJECTIVES
        self.blocks: dict[str, slice] = {}
        self.nv = 0
        for name in COMMUNITY_VARS:
            self._block(name, self.n)
        for name in STREET_VARS:
            self._block(name, self.ns)
        if self.service:
            for block in SERVICE_BLOCKS:
                self._block(block, self.n)
            self._block("duty_coverage_community", self.n)
            self._block("duty_coverage_street", self.ns)
        if opts.objective == "equity":
            self._block("worst_per_10k", 1)
        if opts.equity_spread_per_10k is not None:
            self._block("rho", 2)
        self.lb = np.zeros(self.nv)
        self.ub = np.full(self.nv, np.inf)
        self.integer = np.zeros(self.nv, bool)
        for name in WHOLE_PEOPLE:
            self.integer[self.var(name)] = opts.integer
        self.rows = Rows()
        self.groups: dict[str, np.ndarray] = {}
        self.scale: dict[str, np.ndarray] = {}
        self.c = np.zeros(self.nv)

    def _block(self, name: str, size: int) -> None:
        self.blocks[name] = slice(self.nv, self.nv + size)
        self.nv += size

    def var(self, name: str) -> np.ndarray:
        """Column indices of a variable block."""
        return np.arange(self.nv)[self.blocks[name]]

    def bounds(self) -> None:
        """City-funded posts, the planner's maximum change, fixed mobile workers, simulation cuts."""
        opts, base = self.opts, self.scenario.baseline
        w, st_, mb = self.var("workers"), self.var("street_office_staff"), self.var("mobile_grid_workers")
        self.lb[w] = np.ceil(self.spec.funding.city_paid_workers_per_community - 1e-9)
        if opts.max_change_workers is not None:
            self.lb[w] = np.maximum(self.lb[w], base.workers - opts.max_change_workers)
            self.ub[w] = np.minimum(self.ub[w], base.workers + opts.max_change_workers)
        if not opts.free_mobile:
            self.lb[mb] = self.ub[mb] = base.mobile_grid_workers
        if opts.min_workers is not None:
            self.lb[w] = np.maximum(self.lb[w], np.asarray(opts.min_workers, float))
        if opts.min_street_staff is not None:
            self.lb[st_] = np.maximum(self.lb[st_], np.asarray(opts.min_street_staff, float))
        if opts.min_service_fund_yuan is not None:
            sf = self.var("service_fund_yuan")
            self.lb[sf] = np.maximum(self.lb[sf], np.asarray(opts.min_service_fund_yuan, float))

    def at_least(self, group: str, cols: np.ndarray, need: np.ndarray, names: list[str]) -> None:
        """One row per column: x >= need (as -x <= -need)."""
        k = len(cols)
        self.groups[group] = self.rows.add(
            np.arange(k), cols, -np.ones(k), -np.asarray(need, float), names, at_least=True
        )

    def policy_rules(self) -> None:
        """Every active rule at its scope, with d(rhs)/d(minimum) kept for shadow prices."""
        for rid, rule in self.spec.policy.rules.items():
            if not rule.active:
                continue
            units, req, member_unit, _ = rule_requirements(self.scenario, rule)
            cols = self.var(ALLOCATION_FIELD[rule.kind])
            self.groups[rid] = self.rows.add(
                member_unit, cols, -np.ones(len(cols)), -req, [f"rule:{rid}:{u}" for u in units], at_least=True
            )
            base_q, _ = base_quantity(self.scenario, rule)
            self.scale[rid] = np.bincount(member_unit, weights=base_q, minlength=len(units))

    def secretaries_within_workers(self) -> None:
        n = self.n
        self.rows.add(
            np.repeat(np.arange(n), 2),
            np.column_stack([self.var("secretary_assistants"), self.var("workers")]).ravel(),
            np.tile([1.0, -1.0], n),
            np.zeros(n),
            [f"structure:secretary_within_workers:{c}" for c in self.scenario.community_ids],
        )

    def workload(self) -> None:
        """Planned hours (duties + expected cases) <= available hours x max planned utilisation."""
        duties = self.spec.duties
        if duties is None or not self.opts.enforce_workload or self.service:
            return
        self.at_least(
            "workload_community",
            self.var("workers"),
            self.st.workload_staff("community"),
            [f"workload:community:{c}" for c in self.scenario.community_ids],
        )
        self.at_least(
            "workload_street",
            self.var("street_office_staff"),
            self.st.workload_staff("street"),
            [f"workload:street:{x}" for x in self.scenario.street_ids],
        )

    def on_time_targets(self) -> None:
        """Each community's on-time target as a minimum number of workers, from its curve."""
        target = self.spec.targets.on_time_share_min
        if not self.opts.enforce_targets or self.service or target <= 0:
            return
        curves, cid = self.curves, self.scenario.community_ids
        need = curves.min_workers(target)
        exempt = np.zeros(self.n, bool)
        exempt[list(self.opts.target_exempt)] = True
        need = np.where(exempt, 0, need)
        bad = np.flatnonzero(need < 0)
        if bad.size:
            from solvers.errors import InfeasibleError

            c0 = int(bad[0])
            raise InfeasibleError(
                f"on-time target {percent(target)} is unreachable in {len(bad)} communities (e.g. {cid[c0]}: at most "
                f"{curves.share[c0].max():.1%} with {int(curves.workers[-1])} workers); lower targets.on_time_share_min"
            )
        self.at_least("target", self.var("workers"), need, [f"target:on_time:{c}" for c in cid])

    def outcome_targets(self) -> None:
        """Each community's resolution and satisfaction targets as a minimum service fund, from its outcome
        curve (``solvers.outcomecurves``) with every problem found early (the workload rows plan the duties)."""
        t, oc = self.spec.targets, self.curves.outcomes
        wanted = t.resolution_share_min is not None or t.satisfaction_share_min is not None
        if not self.opts.enforce_targets or self.service or not wanted or oc is None:
            return
        need = oc.min_fund_yuan(oc.min_funded(t.resolution_share_min, t.satisfaction_share_min))
        need[list(self.opts.outcome_exempt)] = 0.0
        bad = np.flatnonzero(~np.isfinite(need))
        if bad.size:
            from solvers.errors import InfeasibleError

            c0, cid = int(bad[0]), self.scenario.community_ids
            best_r = oc.resolution(np.full(self.n, 1e12))[c0]
            raise InfeasibleError(
                f"the resolution or satisfaction target is unreachable in {len(bad)} communities however much "
                f"service fund they get (e.g. {cid[c0]}: resolution at most {best_r:.1%}); lower "
                "targets.resolution_share_min or targets.satisfaction_share_min"
            )
        has = np.flatnonzero(need > 0)
        cols = self.var("service_fund_yuan")[has]
        self.at_least(
            "target_outcome", cols, need[has], [f"target:resolution:{self.scenario.community_ids[i]}" for i in has]
        )

    def costs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cost columns, their yuan a year, and the district paying each (``solvers.costs`` has the formula)."""
        s = self.scenario
        per = cost_per_unit(s)
        names = ("workers", "work_fund_yuan", "service_fund_yuan", "street_office_staff", "mobile_grid_workers")
        cols = np.concatenate([self.var(k) for k in names])
        vals = np.concatenate([np.full(len(self.var(k)), per[k]) for k in names])
        cd, sd = s.community_district, s.street_district
        return cols, vals, np.concatenate([cd, cd, cd, sd, sd])

    def budgets(self) -> None:
        """One row per district with a budget (the city's fixed posts added to it) and an optional total."""
        s, opts = self.scenario, self.opts
        cols, vals, district = self.costs()
        if opts.district_budgets:
            budgets = [(i, d.budget_yuan) for i, d in enumerate(self.spec.districts) if d.budget_yuan is not None]
            if budgets:
                nd = len(s.district_ids)
                pos = np.full(nd, -1)
                pos[[i for i, _ in budgets]] = np.arange(len(budgets))
                keep = pos[district] >= 0
                city_share = (
                    self.spec.funding.city_paid_workers_per_community
                    * cost_per_unit(s)["workers"]
                    * np.bincount(s.community_district, minlength=nd)
                )
                self.groups["budget_district"] = self.rows.add(
                    pos[district][keep],
                    cols[keep],
                    vals[keep],
                    np.array([bgt + city_share[i] for i, bgt in budgets]),
                    [f"budget:district:{s.district_ids[i]}" for i, _ in budgets],
                )
        total = opts.total_budget_yuan if opts.total_budget_yuan is not None else self.spec.funding.total_budget_yuan
        if total is not None:
            self.groups["budget_total"] = self.rows.add(
                np.zeros(len(cols), int), cols, vals, np.array([total]), ["budget:total"]
            )
        self.c[cols] = vals

    def equity_spread(self) -> None:
        """rho_min <= workers_c / (residents_c / 10k) <= rho_max, rho_max - rho_min <= spread."""
        spread = self.opts.equity_spread_per_10k
        if spread is None:
            return
        n, w, cid = self.n, self.var("workers"), self.scenario.community_ids
        r10k = self.scenario.urban_residents / 10_000
        rmin, rmax = self.blocks["rho"].start, self.blocks["rho"].start + 1
        for side, col, sign in (("max", rmax, 1.0), ("min", rmin, -1.0)):
            self.rows.add(
                np.repeat(np.arange(n), 2),
                np.column_stack([w, np.full(n, col)]).ravel(),
                np.column_stack([np.full(n, sign), -sign * r10k]).ravel(),
                np.zeros(n),
                [f"equity:{side}:{c}" for c in cid],
            )
        self.groups["equity_spread"] = self.rows.add(
            np.array([0, 0]), np.array([rmax, rmin]), np.array([1.0, -1.0]), np.array([spread]), ["equity:spread"]
        )

    def service_objective(self) -> None:
        """Maximise what residents see a year: cases on time + cases resolved + residents satisfied (the three
        rates x cases; ``solvers.outcomecurves``). The fund buys paid fixes (under the concave funded-share
        curve); staff buys duty coverage, whose shortfall falls first on the duty with the longest due window
        and lets the problems it finds surface late; coverage is floored at ``targets.duty_coverage_min``."""
        st, curves, n = self.st, self.curves, self.n
        cid, sid = self.scenario.community_ids, self.scenario.street_ids
        w, staff, fund = self.var("workers"), self.var("street_office_staff"), self.var("service_fund_yuan")
        share, funded, late = (self.var(b) for b in SERVICE_BLOCKS)
        cov_c, cov_s = self.var("duty_coverage_community"), self.var("duty_coverage_street")
        duty_c, duty_s = st.duties_at("grid") + st.duties_at("desk"), st.duties_at("street")
        case_hours = st.case_hours_grid + st.case_hours_desk
        floor = self.spec.targets.duty_coverage_min
        self.ub[share] = self.ub[funded] = self.ub[cov_c] = self.ub[cov_s] = 1.0
        self.lb[cov_c] = np.where(duty_c > 0, floor, 1.0)
        self.lb[cov_s] = np.where(duty_s > 0, floor, 1.0)
        self.c *= EPS_COST
        oc = curves.outcomes
        cases = curves.cases_per_year
        self.c[share] = -cases
        if oc is not None:
            # d(resolved + satisfied)/d(first-closure resolution), per case
            per_r = (1 - oc.revisit) + oc.unsat_unresolved
            self.c[funded] = -cases * per_r * oc.res_per_funded
            self.c[late] = cases * (per_r * oc.res_per_late + oc.unsat_late)
            # no upper bound: beyond the first duty's hours the line overstates the harm rather than cut the model
            slope = oc.late_per_undone_hour * duty_c  # late >= slope x (1 - coverage)
            has = np.flatnonzero(slope > 0)
            self.groups["found_late"] = self.rows.add(
                np.repeat(np.arange(len(has)), 2),
                np.column_stack([late[has], cov_c[has]]).ravel(),
                np.column_stack([-np.ones(len(has)), -slope[has]]).ravel(),
                -slope[has],
                [f"found_late:{cid[i]}" for i in has],
            )
            self._funded_curves(oc, funded, fund)
        else:
            self.ub[funded] = self.ub[late] = 0.0
        for group, cov, people, duty, cases_h, hours, ids in (
            ("coverage_community", cov_c, w, duty_c, case_hours, st.available_per_person("community"), cid),
            ("coverage_street", cov_s, staff, duty_s, st.case_hours_street, st.available_per_person("street"), sid),
        ):
            has = np.flatnonzero(duty > 0)
            self.groups[group] = self.rows.add(
                np.repeat(np.arange(len(has)), 2),
                np.column_stack([cov[has], people[has]]).ravel(),
                np.column_stack([duty[has], np.full(len(has), -hours * COVERAGE_UTILISATION)]).ravel(),
                -cases_h[has],
                [f"{group.replace('_', ':')}:{ids[i]}" for i in has],
            )
        row_i, col_i, val, rhs, names = [], [], [], [], []
        k = 0
        top = int(curves.workers[-1])  # the curve is flat beyond its last point
        for i in range(n):
            for a, slope_i in curves.concave_cuts(i, min(int(self.lb[w[i]]), top), int(min(self.ub[w[i]], top))):
                row_i += [k, k]
                col_i += [share[i], w[i]]
                val += [1.0, -slope_i]
                rhs.append(a)
                names.append(f"curve:{cid[i]}:{k}")
                k += 1
        self.groups["curve"] = self.rows.add(np.array(row_i), np.array(col_i), np.array(val), np.array(rhs), names)

    def _funded_curves(self, oc, funded: np.ndarray, fund: np.ndarray) -> None:
        """funded share <= each tangent of the community's funded-share curve in its fund."""
        cid = self.scenario.community_ids
        a, slope = oc.fund_cuts()  # (communities, tangents)
        m = a.shape[1]
        k = np.arange(self.n * m)
        self.groups["fund_curve"] = self.rows.add(
            np.repeat(k, 2),
            np.column_stack([np.repeat(funded, m), np.repeat(fund, m)]).ravel(),
            np.column_stack([np.ones(self.n * m), -slope.ravel()]).ravel(),
            a.ravel(),
            [f"fund_curve:{cid[i]}:{j}" for i in range(self.n) for j in range(m)],
        )

    def equity_objective(self) -> None:
        """Maximise t with workers_c >= t x residents_c / 10,000 (raise the worst community first)."""
        n, t = self.n, self.blocks["worst_per_10k"].start
        self.c *= EPS_COST
        self.c[t] = -1.0
        self.groups["equity_worst"] = self.rows.add(
            np.repeat(np.arange(n), 2),
            np.column_stack([np.full(n, t), self.var("workers")]).ravel(),
            np.column_stack([self.scenario.urban_residents / 10_000, -np.ones(n)]).ravel(),
            np.zeros(n),
            [f"equity:worst:{c}" for c in self.scenario.community_ids],
        )

    def model(self) -> LpModel:
        rows = self.rows
        A = sp.csr_matrix(
            (np.concatenate(rows.vals), (np.concatenate(rows.rows), np.concatenate(rows.cols))),
            shape=(rows.count, self.nv),
        )
        cid, sid = self.scenario.community_ids, self.scenario.street_ids
        per_community = (*COMMUNITY_VARS, *SERVICE_BLOCKS, "duty_coverage_community")
        per_street = (*STREET_VARS, "duty_coverage_street")
        names: list[str] = []
        for block, sl in self.blocks.items():
            ids = cid if block in per_community else sid if block in per_street else range(sl.stop - sl.start)
            names += [f"{block}[{x}]" for x in ids]
        return LpModel(
            c=self.c,
            A=A,
            b=np.concatenate(rows.b),
            lb=self.lb,
            ub=self.ub,
            integer=self.integer,
            row_names=rows.names,
            var_names=names,
            blocks=self.blocks,
            at_least=np.concatenate(rows.at_least),
            row_groups=self.groups,
            row_scale=self.scale,
        )


def allocation_from_x(scenario: Scenario, m: LpModel, x: np.ndarray, source: str) -> Allocation:
    """The allocation a solution ``x`` of the model describes (whole people rounded, funds to the fen)."""

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


def cost_part(m: LpModel) -> np.ndarray:
    """The objective of a service model without its service terms, in yuan (the allocation's cost)."""
    c = m.c.copy()
    for block in SERVICE_BLOCKS:
        if block in m.blocks:
            c[m.blocks[block]] = 0.0
    return c / EPS_COST


def _check_sizes(scenario: Scenario, opts: AllocationOptions) -> None:
    """Per-unit options against the scenario: one bound per community or street office, indices in range."""
    n, ns = scenario.n_communities, len(scenario.street_ids)
    for name, size, unit in (
        ("min_workers", n, "community"),
        ("min_service_fund_yuan", n, "community"),
        ("min_street_staff", ns, "street office"),
    ):
        value = getattr(opts, name)
        if value is not None and len(value) != size:
            raise ValueError(f"{name} must hold one value per {unit} ({size} in the scenario), found {len(value)}")
    for name in ("target_exempt", "outcome_exempt"):
        bad = [i for i in getattr(opts, name) if i >= n]
        if bad:
            raise ValueError(f"{name} must hold community indices 0 to {n - 1}, found {bad[0]}")


def build_model(scenario: Scenario, curves: Curves, opts: AllocationOptions) -> LpModel:
    """Build the matrix of the allocation model for ``opts.objective``, one constraint family at a time."""
    if opts.objective not in OBJECTIVES or opts.objective == "rebalance":
        raise ValueError(
            f"objective must be one of {', '.join(OBJECTIVES)} (rebalance is solved by "
            f"solvers.allocator.allocate, by bisection): {opts.objective!r}"
        )
    _check_sizes(scenario, opts)
    b = _Builder(scenario, curves, opts)
    b.bounds()
    b.policy_rules()
    b.secretaries_within_workers()
    b.workload()
    b.on_time_targets()
    b.outcome_targets()
    b.budgets()
    b.equity_spread()
    if b.service:
        b.service_objective()
    elif opts.objective == "equity":
        b.equity_objective()
    return b.model()

"""The multi-year plan as one model: each year's allocation model, linked by the people who stay, leave,
join and move.

Years 1..N each have the allocation model of their own scenario (``scenario.workforce.year_scenario``: pay,
budgets and demand of that year), stacked side by side; year 0 is today's allocation (the baseline). The
links, per community c and year t (``w`` its workers, ``a`` the post-weighted attrition):

* **No dismissals.** ``w[t] >= (1 - a) w[t-1] + in[t] - out[t] + g[t]``: only leavers leave; what the
  community gains above its survivors and moves are joiners (replacements of leavers, and ``g``, the new
  posts that count from year t).
* **Growth takes new posts.** ``w[t] <= w[t-1] + in[t] - out[t] + g[t]``: a community grows beyond last
  year's headcount only by moves or new posts. A new post is opened ``hiring_lead_months`` before it
  counts: its holder joins that much later and is paid for the months of the year before it counts (not
  counted in that year's staffing, a conservative choice); nothing was opened before year 1.
* **Moves** stay within a district (``sum in = sum out`` per district and year), at most
  ``moves_max_share_per_year`` of a community's workers leave it a year; a move costs a token 1 yuan (so
  that nobody is moved where it makes no difference).
* **Recruitment.** The people a district's communities and street office take on in a year (replacements
  and new posts' holders, joining that year) are at most ``recruits_max_share_per_year`` of its headcount at
  the start of the year.
* Street offices have the same rows without moves.

Before the target year each unit keeps at least the lesser of today's staffing and its need (it does not
fall further behind; its need includes the community and street headcount floors, which hiring cannot
reach at once either); from the target year on every year meets its rules, targets and workload. Leavers are
expected values (fractions of a person); headcounts are whole people. The objective is the sum of the
years' costs at each year's prices (not discounted). A worker's cost in year t is the average pay of that
year's levels, which depends on how many join (at the hire level): solved by a fixed point, re-solving
with the pay the last solution's joiners give until the city's headcount path repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.workforce import (
    WorkforceRates,
    YearFlows,
    check_growth,
    growth_factor,
    initial_stock,
    project,
    worker_costs,
    workforce_rates,
    year_scenario,
)
from solvers.curves import Curves, service_curves
from solvers.deciding import minimum_staffing
from solvers.errors import InfeasibleError, SolverError
from solvers.lpmodel import AllocationOptions, LpModel, Rows, allocation_from_x, build_model
from solvers.lpsolve import Status, residuals, solve

__all__ = ["PathSolution", "solve_path", "lead_delay", "MOVE_COST_YUAN", "MAX_FIXED_POINT"]

MOVE_COST_YUAN = 1.0  # a tie-break: nobody moved where moving changes nothing
MAX_FIXED_POINT = 8  # re-solves with the pay the last path's joiners give


def lead_delay(lead_months: int) -> tuple[int, float]:
    """(d, f): a new post opened at the start of year t counts from year t + d, its holder paid a share f of
    year t + d - 1 (the months between joining and counting)."""
    d = math.ceil(lead_months / 12)
    return d, (12 * d - lead_months) / 12 if d > 0 else 0.0


@dataclass
class PathSolution:
    """A solved path: years 0 (today) to N, each year's allocation, flows and pay."""

    target_year: int
    scenarios: list[Scenario]  # per year 0..N: pay, budgets and demand of the year
    curves: list[Curves]
    allocations: list[Allocation]  # year 0: the baseline
    needs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per year: workers, street staff, fund a unit needs
    leavers: np.ndarray  # (years + 1, communities), expected; row 0 zero
    joiners: np.ndarray  # (years + 1, communities): replacements and new posts counting that year
    new_posts: np.ndarray  # (years + 1, communities): new posts counting from that year
    moves_in: np.ndarray
    moves_out: np.ndarray
    street_leavers: np.ndarray  # (years + 1, streets)
    street_joiners: np.ndarray
    street_new_posts: np.ndarray
    early_cost_yuan: np.ndarray  # (years + 1, districts): new posts' pay in the year before they count
    worker_cost_yuan: np.ndarray  # (years + 1,): a worker's average pay
    stocks: list[np.ndarray]  # per year: (posts, levels)
    flows: list[YearFlows]  # per year 1..N
    stock_from_table: bool
    rates: WorkforceRates
    attrition_mean: float  # post-weighted attrition of community workers
    objective_yuan: float
    fixed_point_solves: int
    pay_converged: bool  # the last solve's headcount path gave the pay it was solved with
    model: LpModel = field(repr=False)

    @property
    def years(self) -> int:
        return len(self.allocations) - 1


@dataclass
class _Year:
    t: int
    scenario: Scenario
    curves: Curves
    model: LpModel
    need: tuple[np.ndarray, np.ndarray, np.ndarray]
    offset: int = 0  # first column of this year's block in the stacked model


@dataclass
class _Layout:
    """Columns of the link variables, per year 1..N (index t - 1)."""

    n: int
    ns: int
    years: int
    start: int
    total: int = 0

    def col(self, kind: str, t: int) -> np.ndarray:
        """Columns of link ``kind`` (in, out, g: per community; gs: per street) in year t."""
        size = {"in": self.n, "out": self.n, "g": self.n, "gs": self.ns}
        order = ("in", "out", "g", "gs")
        per_year = sum(size.values())
        first = self.start + (t - 1) * per_year + sum(size[k] for k in order[: order.index(kind)])
        return np.arange(first, first + size[kind])


class _PathBuilder:
    """Stacks the years' models and adds the links of the module docstring."""

    def __init__(self, base: Scenario, years: list[_Year], rates: WorkforceRates, opts: AllocationOptions) -> None:
        self.base, self.years, self.opts = base, years, opts
        self.N = len(years)
        self.n, self.ns = base.n_communities, len(base.street_ids)
        self.wf = base.spec.workforce
        self.rates = rates
        shares = initial_stock(base)[0].sum(axis=1)
        self.post_shares = shares / shares.sum()
        self.a = float(self.post_shares @ rates.attrition)
        self.d, self.f = lead_delay(self.wf.hiring_lead_months)
        col = 0
        for y in years:
            y.offset = col
            col += y.model.n
        self.lay = _Layout(self.n, self.ns, self.N, col)
        self.lay.total = col + self.N * (3 * self.n + self.ns)
        self.rows = Rows()
        self.groups: dict[str, np.ndarray] = {}

    def var(self, t: int, block: str) -> np.ndarray:
        """Columns of a year block's variable (workers, street_office_staff, service_fund_yuan...)."""
        y = self.years[t - 1]
        sl = y.model.blocks[block]
        return np.arange(y.offset + sl.start, y.offset + sl.stop)

    def hire_pay(self, t: int) -> float:
        """A joiner's pay in year t (the hire level, posts in today's shares)."""
        return float(self.post_shares @ self.rates.pay_yuan[:, self.rates.hire_level]) * growth_factor(
            self.rates.pay_rise, t
        )

    def stacked(self) -> tuple[sp.coo_matrix, np.ndarray, list[str], np.ndarray, dict[str, np.ndarray]]:
        """The years' rows side by side (names prefixed ``y<t>:``)."""
        blocks, b, names, at_least, groups, r0 = [], [], [], [], {}, 0
        for y in self.years:
            m = y.model
            coo = m.A.tocoo()
            blocks.append((coo.row + r0, coo.col + y.offset, coo.data))
            b.append(m.b)
            names += [f"y{y.t}:{nm}" for nm in m.row_names]
            at_least.append(m.at_least)
            for g, idx in m.row_groups.items():
                groups[f"y{y.t}:{g}"] = idx + r0
            r0 += len(m.b)
        rows = np.concatenate([x[0] for x in blocks])
        cols = np.concatenate([x[1] for x in blocks])
        vals = np.concatenate([x[2] for x in blocks])
        A = sp.coo_matrix((vals, (rows, cols)), shape=(r0, self.lay.total))
        return A, np.concatenate(b), names, np.concatenate(at_least), groups

    def _prev(self, t: int, block: str, base_values: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Last year's columns of ``block`` (None in year 1) and, in year 1, today's values."""
        return (None, np.asarray(base_values, float)) if t == 1 else (self.var(t - 1, block), np.zeros(0))

    def _flow_rows(self, group: str, t: int, ids, cur, prev, links, coef_prev: float, sign: float, base) -> None:
        """Per unit: sign x (cur - coef_prev x prev - sum links) <= 0 (rows ``group:<unit>:y<t>``); in year 1
        today's values are on the right."""
        k = len(cur)
        parts_c = [cur, *(c for c, _ in links)]
        parts_v = [np.ones(k), *(np.full(k, -s) for _, s in links)]
        rhs = np.zeros(k)
        if prev is None:
            rhs = sign * coef_prev * np.asarray(base, float)
        else:
            parts_c.append(prev)
            parts_v.append(np.full(k, -coef_prev))
        idx = self.rows.add(
            np.tile(np.arange(k), len(parts_c)),
            np.concatenate(parts_c),
            sign * np.concatenate(parts_v),
            rhs,
            [f"{group}:{u}:y{t}" for u in ids],
            at_least=sign < 0,
        )
        self.groups[group] = np.concatenate([self.groups.get(group, np.zeros(0, int)), idx]).astype(int)

    def links(self, lb: np.ndarray, ub: np.ndarray) -> None:
        """The rows of the module docstring, year by year."""
        base = self.base.baseline
        cid, sid = self.base.community_ids, self.base.street_ids
        a_s = self.wf.street_staff_attrition_share_per_year
        for t in range(1, self.N + 1):
            w, st = self.var(t, "workers"), self.var(t, "street_office_staff")
            w_prev, w0 = self._prev(t, "workers", base.workers)
            s_prev, s0 = self._prev(t, "street_office_staff", base.street_office_staff)
            cin, cout, g, gs = (self.lay.col(k, t) for k in ("in", "out", "g", "gs"))
            links = [(cin, 1.0), (cout, -1.0), (g, 1.0)]
            self._flow_rows("growth", t, cid, w, w_prev, links, 1.0, 1.0, w0)
            self._flow_rows("no_dismissal", t, cid, w, w_prev, links, 1 - self.a, -1.0, w0)
            self._flow_rows("growth_street", t, sid, st, s_prev, [(gs, 1.0)], 1.0, 1.0, s0)
            self._flow_rows("no_dismissal_street", t, sid, st, s_prev, [(gs, 1.0)], 1 - a_s, -1.0, s0)
            share = self.wf.moves_max_share_per_year
            if w_prev is None:
                ub[cout] = share * w0
            else:
                self.rows.add(
                    np.tile(np.arange(self.n), 2),
                    np.concatenate([cout, w_prev]),
                    np.concatenate([np.ones(self.n), np.full(self.n, -share)]),
                    np.zeros(self.n),
                    [f"moves_out:{c}:y{t}" for c in cid],
                )
            if t <= self.d:  # nothing was opened before the plan
                ub[g] = ub[gs] = 0.0
            self._balance(t, cin, cout)
        self._recruits()

    def _balance(self, t: int, cin: np.ndarray, cout: np.ndarray) -> None:
        """Moves stay within a district: sum in - sum out = 0 (as two rows)."""
        d = self.base.community_district
        nd = len(self.base.district_ids)
        for sign, word in ((1.0, "in_le_out"), (-1.0, "out_le_in")):
            self.rows.add(
                np.concatenate([d, d]),
                np.concatenate([cin, cout]),
                sign * np.concatenate([np.ones(self.n), -np.ones(self.n)]),
                np.zeros(nd),
                [f"moves_{word}:{x}:y{t}" for x in self.base.district_ids],
                at_least=sign < 0,
            )

    def _recruits(self) -> None:
        """Each district's recruits a year (joiners, new posts' holders when they join) within its limit."""
        cap = self.wf.recruits_max_share_per_year
        if cap is None:
            return
        base = self.base.baseline
        dc, ds = self.base.community_district, self.base.street_district
        nd = len(self.base.district_ids)
        a_s = self.wf.street_staff_attrition_share_per_year
        for t in range(1, self.N + 1):
            terms = [
                (dc, self.var(t, "workers"), 1.0),
                (ds, self.var(t, "street_office_staff"), 1.0),
                (dc, self.lay.col("g", t), -1.0),
                (ds, self.lay.col("gs", t), -1.0),
            ]
            join = t + 1 if self.f > 0 else t  # new posts join the year before they count, or when they do
            if join <= self.N:
                terms += [(dc, self.lay.col("g", join), 1.0), (ds, self.lay.col("gs", join), 1.0)]
            rhs = np.zeros(nd)
            if t == 1:
                rhs += (1 - self.a + cap) * np.bincount(dc, weights=base.workers.astype(float), minlength=nd)
                rhs += (1 - a_s + cap) * np.bincount(ds, weights=base.street_office_staff.astype(float), minlength=nd)
            else:
                terms += [
                    (dc, self.var(t - 1, "workers"), -(1 - self.a + cap)),
                    (ds, self.var(t - 1, "street_office_staff"), -(1 - a_s + cap)),
                ]
            self.rows.add(
                np.concatenate([k for k, _, _ in terms]),
                np.concatenate([cols for _, cols, _ in terms]),
                np.concatenate([np.full(len(cols), v) for _, cols, v in terms]),
                rhs,
                [f"recruits:{x}:y{t}" for x in self.base.district_ids],
            )

    def early_costs(self, c: np.ndarray, A: sp.lil_matrix, groups: dict[str, np.ndarray], names: list[str]) -> None:
        """New posts' pay in the year before they count (objective, that year's district and total budgets)."""
        if self.f <= 0:
            return
        dc, ds = self.base.community_district, self.base.street_district
        for t in range(2, self.N + 1):
            prev = self.years[t - 2]
            pay_w = self.f * self.hire_pay(t - 1)
            pay_s = self.f * prev.scenario.spec.pay.street_staff_cost_yuan_per_year
            g, gs = self.lay.col("g", t), self.lay.col("gs", t)
            c[g] += pay_w
            c[gs] += pay_s
            rows = {names[r].split(":", 3)[-1]: r for r in groups.get(f"y{t - 1}:budget_district", [])}
            for cols, keys, pay in ((g, dc, pay_w), (gs, ds, pay_s)):
                for col, k in zip(cols, keys):
                    r = rows.get(self.base.district_ids[k])
                    if r is not None:
                        A[r, col] = pay
                    for r_total in groups.get(f"y{t - 1}:budget_total", []):
                        A[r_total, col] = pay

    def model(self) -> LpModel:
        A_years, b_years, names, at_least, groups = self.stacked()
        lb = np.zeros(self.lay.total)
        ub = np.full(self.lay.total, np.inf)
        integer = np.zeros(self.lay.total, bool)
        c = np.zeros(self.lay.total)
        for y in self.years:
            sl = slice(y.offset, y.offset + y.model.n)
            lb[sl], ub[sl], integer[sl], c[sl] = y.model.lb, y.model.ub, y.model.integer, y.model.c
        self.links(lb, ub)
        for t in range(1, self.N + 1):
            c[self.lay.col("in", t)] = c[self.lay.col("out", t)] = MOVE_COST_YUAN
        A_links = sp.coo_matrix(
            (np.concatenate(self.rows.vals), (np.concatenate(self.rows.rows), np.concatenate(self.rows.cols))),
            shape=(self.rows.count, self.lay.total),
        )
        A = sp.lil_matrix(A_years)
        self.early_costs(c, A, groups, names)
        r0 = len(b_years)
        for g, idx in self.groups.items():
            groups[g] = idx + r0
        var_names = self._var_names()
        return LpModel(
            c=c,
            A=sp.vstack([A.tocsr(), A_links.tocsr()]).tocsr(),
            b=np.concatenate([b_years, np.concatenate(self.rows.b)]),
            lb=lb,
            ub=ub,
            integer=integer,
            row_names=names + self.rows.names,
            var_names=var_names,
            blocks={},
            at_least=np.concatenate([at_least, np.concatenate(self.rows.at_least)]),
            row_groups=groups,
        )

    def _var_names(self) -> list[str]:
        names: list[str] = []
        for y in self.years:
            names += [f"y{y.t}:{v}" for v in y.model.var_names]
        cid, sid = self.base.community_ids, self.base.street_ids
        for t in range(1, self.N + 1):
            for kind, ids in (("moves_in", cid), ("moves_out", cid), ("new_posts", cid), ("new_posts_street", sid)):
                names += [f"y{t}:{kind}[{u}]" for u in ids]
        return names


def _year_models(
    base: Scenario, years: int, target_year: int, opts: AllocationOptions, worker_cost: np.ndarray, curves: dict
) -> list[_Year]:
    """Each year's scenario, curves, needs and allocation model (targets from ``target_year`` on)."""
    out = []
    b = base.baseline
    for t in range(1, years + 1):
        # the city's budget pays its fixed posts, which the model does not decide: a shortfall is for the year's
        # policy check to report (``city_budget_short``), not a reason for no path
        sc = year_scenario(base, t, float(worker_cost[t]))
        demand = growth_factor(base.spec.workforce.demand_growth_share_per_year, t)
        if demand not in curves:
            curves[demand] = service_curves(sc)
        cv = curves[demand]
        full = replace(opts, objective="min-cost")
        need = minimum_staffing(sc, cv, full)
        if t >= target_year:
            o = full
        else:  # keep at least the lesser of today's staffing and the need: no unit falls further behind
            o = replace(
                full,
                enforce_targets=False,
                enforce_workload=False,
                min_workers=tuple(np.minimum(b.workers, need[0])),
                min_street_staff=tuple(np.minimum(b.street_office_staff, need[1])),
            )
        m = build_model(sc if t >= target_year else _floors_as_needs(sc), cv, o)
        if t < target_year:
            sf = m.blocks["service_fund_yuan"]
            lb = m.lb.copy()
            lb[sf] = np.maximum(lb[sf], np.ceil(np.minimum(b.service_fund_yuan, need[2])))  # whole yuan for CBC
            m = replace(m, lb=lb)
        out.append(_Year(t, sc, cv, m, need))
    return out


# headcount floors a unit may not reach at once (hiring takes time): before the target year they are part of
# the unit's need (min(today, need) above), not rules of their own
_PEOPLE_FLOORS = {("workers_per_10k_residents", "community"), ("street_office_staff_per_street", "street")}


def _floors_as_needs(sc: Scenario) -> Scenario:
    """The year's scenario for the model before the target year: community and street headcount floors
    inactive (the year's policy check still reports them)."""
    rules = {
        k: r.model_copy(update={"active": False}) if (r.kind.value, r.scope.value) in _PEOPLE_FLOORS else r
        for k, r in sc.spec.policy.rules.items()
    }
    policy = sc.spec.policy.model_copy(update={"rules": rules})
    return replace(sc, spec=sc.spec.model_copy(update={"policy": policy}))


def _solve_once(
    base: Scenario, years: list[_Year], rates: WorkforceRates, opts: AllocationOptions, solver: str
) -> tuple[_PathBuilder, LpModel, np.ndarray, float]:
    builder = _PathBuilder(base, years, rates, opts)
    m = builder.model()
    sol = solve(m, solver)
    if sol.status is Status.infeasible:
        raise InfeasibleError("no path meets every constraint")
    if sol.status is not Status.optimal or sol.x is None:
        raise SolverError(f"solver {solver} did not find an optimal path ({sol.message})")
    bad = residuals(m, sol.x)
    if bad:
        raise SolverError(f"solver {solver} reported optimal, but the path violates {len(bad)} row(s), e.g. {bad[0]}")
    return builder, m, sol.x, float(sol.objective or 0.0)


def solve_path(
    base: Scenario,
    years: int,
    target_year: int,
    opts: AllocationOptions | None = None,
    solver: str = "cbc",
    curves: dict | None = None,
) -> PathSolution:
    """The cheapest path from today over ``years`` years meeting the targets from ``target_year`` on.

    ``curves``: a cache of service curves by demand factor, shared between calls.

    Raises:
        InfeasibleError: no path meets the constraints (the message says which limit stops it).
        SolverError: the solver failed or its answer violates a row on our re-check.
        ScenarioError: growth rates that compound past what a plan can project (``check_growth``).
    """
    if not 1 <= target_year <= years:
        raise ValueError(f"target_year must be 1 to years ({years}), found {target_year}")
    check_growth(base, years)
    opts = opts or AllocationOptions()
    curves = {} if curves is None else curves
    rates = workforce_rates(base)
    stock0, from_table = initial_stock(base)
    heads = np.full(years, float(base.baseline.workers.sum()))
    solves = 0
    while True:
        flows = project(stock0, heads, rates)
        worker_cost = worker_costs(base, stock0, [f.stock for f in flows], rates)
        ym = _year_models(base, years, target_year, opts, worker_cost, curves)
        try:
            builder, m, x, obj = _solve_once(base, ym, rates, opts, solver)
        except InfeasibleError:
            raise InfeasibleError(_why_infeasible(base, ym, rates, opts, solver, target_year)) from None
        solves += 1
        new_heads = np.array([x[builder.var(t, "workers")].round().sum() for t in range(1, years + 1)])
        converged = bool(np.array_equal(new_heads, heads))
        if converged or solves >= MAX_FIXED_POINT:
            break
        heads = new_heads
    parts = _solution(base, target_year, builder, x, ym, worker_cost, flows, stock0, curves)
    return PathSolution(
        **parts,
        stock_from_table=from_table,
        rates=rates,
        objective_yuan=obj,
        fixed_point_solves=solves,
        pay_converged=converged,
        model=m,
    )


def _why_infeasible(
    base: Scenario, ym: list[_Year], rates: WorkforceRates, opts: AllocationOptions, solver: str, target_year: int
) -> str:
    """Which limit stops a path: re-solve without the recruitment limit, the moves' limit, the budgets."""
    wf = base.spec.workforce
    head = f"no path meets the targets from year {target_year}"
    for label, update in (
        (
            f"the recruitment limit ({wf.recruits_max_share_per_year:.0%} of a district's headcount a year)"
            if wf.recruits_max_share_per_year is not None
            else "",
            {"recruits_max_share_per_year": None},
        ),
        (
            f"the moves' limit ({wf.moves_max_share_per_year:.0%} of a community's workers a year)",
            {"moves_max_share_per_year": 1.0},
        ),
    ):
        if not label:
            continue
        relaxed = _with_workforce(base, update)
        try:
            _solve_once(relaxed, ym, rates, opts, solver)
        except InfeasibleError:
            continue
        return f"{head}: {label} stops it (the path exists without it)"
    d, _ = lead_delay(wf.hiring_lead_months)
    if target_year <= d:
        return (
            f"{head}: a new post takes {wf.hiring_lead_months} months to fill, so no new post counts before year "
            f"{d + 1}, and moves within districts do not cover the needs; ask for year {d + 1} or later"
        )
    return f"{head}: the budgets of some year are short of what the targets, rules and workload need"


def _with_workforce(base: Scenario, update: dict) -> Scenario:
    spec = base.spec
    return replace(base, spec=spec.model_copy(update={"workforce": spec.workforce.model_copy(update=update)}))


def _solution(
    base: Scenario,
    target_year: int,
    builder: _PathBuilder,
    x: np.ndarray,
    ym: list[_Year],
    worker_cost: np.ndarray,
    flows: list[YearFlows],
    stock0: np.ndarray,
    curves: dict,
) -> dict:
    """The path's per-year arrays from the stacked solution (the fields of ``PathSolution`` but the model's)."""
    n, ns, N = builder.n, builder.ns, builder.N
    allocations = [base.baseline]
    for y in ym:
        xs = x[y.offset : y.offset + y.model.n].copy()
        xs[y.model.integer] = np.round(xs[y.model.integer])
        allocations.append(allocation_from_x(y.scenario, y.model, xs, f"plan year {y.t}"))
    w = np.array([a.workers for a in allocations], float)
    st = np.array([a.street_office_staff for a in allocations], float)

    def link(kind: str, size: int) -> np.ndarray:
        out = np.zeros((N + 1, size))
        for t in range(1, N + 1):
            out[t] = x[builder.lay.col(kind, t)]
        return out

    mi, mo, g, gs = (
        np.where(np.abs(v) < 1e-7, 0.0, v) for v in (link("in", n), link("out", n), link("g", n), link("gs", ns))
    )
    leavers, street_leavers = np.zeros_like(w), np.zeros_like(st)
    leavers[1:] = builder.a * w[:-1]
    street_leavers[1:] = base.spec.workforce.street_staff_attrition_share_per_year * st[:-1]
    nd = len(base.district_ids)
    early = np.zeros((N + 1, nd))
    for t in range(2, N + 1):
        early[t - 1] = builder.f * (
            builder.hire_pay(t - 1) * np.bincount(base.community_district, weights=g[t], minlength=nd)
            + ym[t - 2].scenario.spec.pay.street_staff_cost_yuan_per_year
            * np.bincount(base.street_district, weights=gs[t], minlength=nd)
        )
    sc0 = year_scenario(base, 0, float(worker_cost[0]))
    if 1.0 not in curves:
        curves[1.0] = service_curves(sc0)
    need0 = minimum_staffing(sc0, curves[1.0], replace(builder.opts, objective="min-cost"))
    return dict(
        target_year=target_year,
        scenarios=[sc0] + [y.scenario for y in ym],
        curves=[curves[1.0]] + [y.curves for y in ym],
        allocations=allocations,
        needs=[need0] + [y.need for y in ym],
        leavers=leavers,
        joiners=np.vstack([np.zeros(n), w[1:] - w[:-1] + leavers[1:] - mi[1:] + mo[1:]]),
        new_posts=g,
        moves_in=mi,
        moves_out=mo,
        street_leavers=street_leavers,
        street_joiners=np.vstack([np.zeros(ns), st[1:] - st[:-1] + street_leavers[1:]]),
        street_new_posts=gs,
        early_cost_yuan=early,
        worker_cost_yuan=worker_cost,
        stocks=[stock0] + [f.stock for f in flows],
        flows=flows,
        attrition_mean=builder.a,
    )

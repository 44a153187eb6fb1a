"""Solving an ``LpModel``: PuLP (CBC by default, HiGHS when asked) or HiGHS through scipy in bulk.

The solver's status is mapped explicitly and its answer is never trusted alone:
``residuals`` recomputes every row and bound in our own code.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import hashlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from solvers.cbc import pulp_bound
from solvers.errors import SolverError
from solvers.lpmodel import LpModel
from solvers.names import SOLVERS

if TYPE_CHECKING:
    import pulp

    _PulpProblem = tuple[pulp.LpProblem, list[pulp.LpVariable], list[pulp.LpConstraint]]

__all__ = [
    "Status",
    "LpSolution",
    "solve",
    "solve_fixed",
    "residuals",
    "whole_people",
    "with_fixed",
    "reused_models",
    "SOLVERS",
]

log = logging.getLogger(__name__)


class Status(enum.Enum):
    """The solver's verdict, mapped explicitly from PuLP's and HiGHS's codes."""

    optimal = "optimal"
    infeasible = "infeasible"
    unbounded = "unbounded"
    not_solved = "not solved"


@dataclass
class LpSolution:
    """A solve's status, values, objective, duals and message."""

    status: Status
    x: np.ndarray | None
    objective: float | None
    duals: np.ndarray | None  # d objective / d b per row (LP relaxation only)
    message: str
    solver: str


def _pulp_solver(name: str, msg: bool = False):
    import pulp

    if name == "cbc":
        import warnings

        with warnings.catch_warnings():
            # PuLP 3.3 warns that its bundled CBC leaves in 4.0; we pin <4 and use the bundled binary.
            warnings.simplefilter("ignore", DeprecationWarning)
            return pulp.PULP_CBC_CMD(msg=msg)
    if name == "highs":
        s = pulp.HiGHS(msg=msg)
        if not s.available():
            raise SolverError("solver 'highs' is not available: pip install highspy (or use --solver cbc)")
        return s
    raise SolverError(f"unknown solver {name!r}; use one of {', '.join(SOLVERS)}")


# Threads solving with HiGHS at once (the desk's requests, the main job's two optimisations) share descriptor 1:
# the first in points it at /dev/null, the last out points it back (a count, under a lock)
_SILENCE_LOCK = threading.Lock()
_silenced: list[int] = []  # [the saved descriptor, threads inside] while silenced


@contextlib.contextmanager
def _native_stdout_silenced(active: bool) -> Iterator[None]:
    """HiGHS prints its banner from C++ straight to file descriptor 1, whatever ``msg`` says: point the
    descriptor at /dev/null while it solves, so that stdout carries only gridplan's results. The descriptor
    belongs to the process: threads that solve at once silence it once, and the last one restores it."""
    if not active:
        yield
        return
    with _SILENCE_LOCK:
        if not _silenced:
            sys.stdout.flush()
            saved = os.dup(1)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
            _silenced[:] = [saved, 0]
        _silenced[1] += 1
    try:
        yield
    finally:
        with _SILENCE_LOCK:
            _silenced[1] -= 1
            if _silenced[1] == 0:
                os.dup2(_silenced[0], 1)
                os.close(_silenced[0])
                _silenced.clear()


# Within ``reused_models()``: the last PuLP problem built, by its structure (rows, costs, integrality, solver),
# re-solved with new bounds rather than built again (None outside the block). A context variable, not a global:
# the desk allocates in several threads at once, and each thread (and each block) has its own.
_REUSED: contextvars.ContextVar[dict[bytes, _PulpProblem] | None] = contextvars.ContextVar("reused", default=None)


@contextlib.contextmanager
def reused_models() -> Iterator[None]:
    """Solve a series of models that differ only in their variables' bounds (a search over lower bounds, such
    as rebalance's bisection) without building the PuLP problem each time: building it was about half a
    solve's time on Weihai. PuLP's problems are built for HiGHS alone now (CBC reads a file written from the
    model's arrays, ``solvers.cbc``), so the block saves time only there. The problem the solver gets is the
    same as a fresh build's (same names, rows, order), so the answers are too. Kept only within the block, so
    a large city's problem is not held after it."""
    token = _REUSED.set({})
    try:
        yield
    finally:
        _REUSED.reset(token)


# True: CBC through PuLP's problem objects, as before ``solvers.cbc`` (the tests compare the two)
_VIA_PULP: contextvars.ContextVar[bool] = contextvars.ContextVar("via_pulp", default=False)


def _structure(m: LpModel, solver: str, relax: bool) -> bytes:
    """A digest of everything a PuLP problem holds except the variables' bounds."""
    A = m.A.tocsr()
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{solver}|{relax}|{A.shape}".encode())
    for a in (A.indptr, A.indices, A.data, m.b, m.c, m.integer):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.digest()


def _pulp_problem(m: LpModel, solver: str, relax: bool) -> _PulpProblem:
    """The PuLP problem of ``m``: (problem, variables, rows), built, or within ``reused_models()`` the last one
    of the same structure with ``m``'s bounds set."""
    reused = _REUSED.get()
    key = _structure(m, solver, relax) if reused is not None else b""
    if reused is not None and key in reused:
        prob, xs, cons = reused[key]
        for i, v in enumerate(xs):
            v.lowBound, v.upBound = pulp_bound(m.lb[i]), pulp_bound(m.ub[i])
        return prob, xs, cons
    built = _build_pulp(m, relax)
    if reused is not None:
        reused.clear()  # one problem at a time: the last structure is the one a search repeats
        reused[key] = built
    return built


def _build_pulp(m: LpModel, relax: bool) -> _PulpProblem:
    import pulp

    prob = pulp.LpProblem("gridplan_allocation", pulp.LpMinimize)
    # prob.add_variable is the PuLP 4 way (also in 3.3); LpVariable(...) alone is deprecated there.
    xs = [
        prob.add_variable(
            f"x{i}",
            lowBound=pulp_bound(m.lb[i]),
            upBound=pulp_bound(m.ub[i]),
            cat=pulp.LpInteger if (m.integer[i] and not relax) else pulp.LpContinuous,
        )
        for i in range(m.n)
    ]
    nz = np.flatnonzero(m.c)
    prob += pulp.LpAffineExpression([(xs[i], float(m.c[i])) for i in nz])
    A = m.A.tocsr()
    cons = []
    for r in range(A.shape[0]):
        lo, hi = A.indptr[r], A.indptr[r + 1]
        expr = pulp.LpAffineExpression([(xs[j], float(v)) for j, v in zip(A.indices[lo:hi], A.data[lo:hi])])
        con = pulp.LpConstraint(expr, pulp.LpConstraintLE, f"r{r}", float(m.b[r]))
        prob += con
        cons.append(con)
    return prob, xs, cons


def _solve_cbc(m: LpModel, relax: bool) -> LpSolution:
    """CBC on ``m`` as PuLP runs it, without PuLP's problem objects (``solvers.cbc``): the same answers."""
    from solvers.cbc import solve_cbc

    ans = solve_cbc(m, relax)
    status = {1: Status.optimal, -1: Status.infeasible, -2: Status.unbounded}.get(ans.status, Status.not_solved)
    if status is Status.optimal and not ans.proven:  # stopped with a solution it has not proven optimal
        status = Status.not_solved
    if status is not Status.optimal:
        return LpSolution(status, None, None, None, ans.message, "cbc")
    # a variable in no row and free of cost is left out of the problem CBC sees (no value): at its lower bound
    lower = np.where(np.isfinite(m.lb), m.lb, 0.0)
    x = np.array([v if v is not None else lower[i] for i, v in enumerate(ans.values)], dtype=float)
    return LpSolution(status, x, float(m.c @ x), ans.duals if relax else None, "optimal", "cbc")


def _solve_pulp(m: LpModel, solver: str, relax: bool) -> LpSolution:
    import pulp

    prob, xs, cons = _pulp_problem(m, solver, relax)
    with _native_stdout_silenced(solver == "highs"):
        prob.solve(_pulp_solver(solver))
    status = {1: Status.optimal, -1: Status.infeasible, -2: Status.unbounded}.get(prob.status, Status.not_solved)
    # PuLP's HiGHS interface may call a time-out "Optimal": require an optimal solution status too.
    if status is Status.optimal and getattr(prob, "sol_status", 1) not in (1,):
        status = Status.not_solved
    if status is not Status.optimal:
        return LpSolution(status, None, None, None, pulp.LpStatus.get(prob.status, "?"), solver)
    # a variable in no row and free of cost is left out of the problem CBC sees (no value): at its lower bound
    lower = np.where(np.isfinite(m.lb), m.lb, 0.0)
    x = np.array([v.varValue if v.varValue is not None else lower[i] for i, v in enumerate(xs)], dtype=float)
    duals = np.array([c.pi if c.pi is not None else np.nan for c in cons], dtype=float) if relax else None
    return LpSolution(status, x, float(m.c @ x), duals, "optimal", solver)


def _row_norms(m: LpModel) -> np.ndarray:
    """Each row's Euclidean norm (1 for an empty row)."""
    A = m.A.tocsr()
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())
    return np.where(norms > 0, norms, 1.0)


def _solve_scipy(m: LpModel, relax: bool) -> LpSolution:
    """HiGHS through scipy, on the rows divided by their norms: a budget row's coefficients are tens of
    thousands of yuan a worker beside rows of shares and hours, and unscaled the interior point method failed
    on the megacity ('HiGHS Status 4: Solve error' after 2 minutes, twice) where scaled it solves in 6 s.
    Duals are given back per unit of the unscaled rows."""
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp
    from scipy.sparse import diags

    norms = _row_norms(m)
    A, b = (diags(1.0 / norms) @ m.A).tocsr(), m.b / norms
    ub = m.ub
    if relax or not m.integer.any():
        res = linprog(m.c, A_ub=A, b_ub=b, bounds=np.column_stack([m.lb, ub]), method="highs-ipm")
        duals = res.ineqlin.marginals / norms if res.status == 0 else None
    else:
        with _native_stdout_silenced(True):  # scipy's HiGHS prints MIP diagnostics from C++ on some models
            res = milp(
                m.c,
                constraints=LinearConstraint(A, -np.inf, b),
                integrality=m.integer.astype(int),
                bounds=Bounds(m.lb, ub),
            )
        duals = None
    status = {0: Status.optimal, 2: Status.infeasible, 3: Status.unbounded}.get(res.status, Status.not_solved)
    if status is not Status.optimal:
        return LpSolution(status, None, None, None, str(res.message), "scipy")
    return LpSolution(status, np.asarray(res.x), float(m.c @ res.x), duals, "optimal", "scipy")


def solve(m: LpModel, solver: str = "cbc", relax: bool = False) -> LpSolution:
    """Solve the model (``relax``: LP relaxation, with duals)."""
    import time

    t = time.perf_counter()
    if solver == "scipy":
        sol = _solve_scipy(m, relax)
    elif solver == "cbc" and not _VIA_PULP.get():
        sol = _solve_cbc(m, relax)
    else:
        sol = _solve_pulp(m, solver, relax)
    log.info(
        "%s %s: %d rows, %d variables: %s, objective %s, %.2f s",
        sol.solver,
        "LP relaxation" if relax else "model",
        m.A.shape[0],
        m.A.shape[1],
        sol.status.name,
        "-" if sol.objective is None else f"{sol.objective:,.2f}",
        time.perf_counter() - t,
    )
    return sol


def residuals(m: LpModel, x: np.ndarray, tol: float = 1e-6) -> list[str]:
    """Every violated row, bound or integrality, as words (empty when the answer is valid)."""
    bad = []
    lhs = m.A @ x
    viol = lhs - m.b
    scale = np.maximum(1.0, np.abs(m.b))
    for r in np.flatnonzero(viol > tol * scale):
        bad.append(f"{m.row_names[r]}: {lhs[r]:.6g} > {m.b[r]:.6g}")
    for i in np.flatnonzero((x < m.lb - tol) | (x > m.ub + tol)):
        bad.append(f"{m.var_names[i]} = {x[i]:.6g} outside [{m.lb[i]:.6g}, {m.ub[i]:.6g}]")
    for i in np.flatnonzero(m.integer & (np.abs(x - np.round(x)) > 1e-6)):
        bad.append(f"{m.var_names[i]} = {x[i]:.6g} is not a whole number")
    return bad


def whole_people(m: LpModel, x: np.ndarray, nearest: bool = False) -> np.ndarray:
    """Whole people from an LP solution ``x``: each whole-people variable rounded down (``nearest``: to the
    nearest), then raised by as little as the minimums over whole people need (the ``>=`` rows whose
    variables are all whole people: policy floors, workload, targets, simulation cuts), the variables that
    lost most in rounding first.

    Rounded down, whole people cost no more than the LP's fractional ones, so the budgets the LP met are
    broken only by what the minimums add back (rounding every variable up adds about half a person per
    community: 3,500 workers in a city of 7,000 communities). Rounded to the nearest, they cost and serve
    about what the LP's do. Continuous variables are left as they are (re-solve them with :func:`solve_fixed`).
    """
    ints = m.integer
    y = x.copy()
    rounded = np.floor(x[ints] + 0.5) if nearest else np.floor(x[ints] + 1e-7)
    y[ints] = np.maximum(rounded, np.ceil(m.lb[ints] - 1e-7))
    A = m.A.tocsr()
    has_continuous = np.asarray(abs(A[:, np.flatnonzero(~ints)]).sum(axis=1)).ravel() > 0
    rows = np.flatnonzero(m.at_least & ~has_continuous)
    sub = A[rows]
    b = m.b[rows]
    # met as the solver will check them: a workload minimum of 13.0000012 people needs 14 (HiGHS's feasibility
    # tolerance is 1e-7 on the scaled rows; 1e-7 relative here once let 13 through and the re-solve failed)
    tol = 1e-9 * np.maximum(1.0, np.abs(b))
    for _ in range(100):  # each pass meets every row it finds short; a raise can only help other minimums
        short = np.flatnonzero(sub @ y - b > tol)
        if short.size == 0:
            break
        short = _raise_alone(sub, short, y, m.ub)
        for r in short:
            lo, hi = sub.indptr[r], sub.indptr[r + 1]
            cols, coef = sub.indices[lo:hi], sub.data[lo:hi]
            need = float(coef @ y[cols] - b[r])  # > 0: how far the row is from met
            if need <= tol[r]:
                continue
            can = (coef < 0) & (y[cols] < m.ub[cols])
            cols, coef = cols[can], -coef[can]
            order = np.argsort(-(x[cols] - y[cols]), kind="stable")  # the largest loss in rounding first
            gained = np.cumsum(coef[order])
            k = int(np.searchsorted(gained, need - tol[r])) + 1
            y[cols[order[:k]]] += 1.0
    return y


def _raise_alone(sub, short: np.ndarray, y: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """``whole_people``'s pass at once for the short rows of one variable that no other short row names (at
    national scale all but a few: a workload or target row one person short): each raises its variable by one
    person, as the row-by-row pass does, and no other row of the pass reads or moves that variable, so the
    order does not matter. Returns the short rows left to the row-by-row pass, in their order."""
    s = sub[short]
    if s.nnz == 0:
        return short
    nnz = np.diff(s.indptr)
    first = np.minimum(s.indptr[:-1], s.nnz - 1)  # a row's first entry (any entry for an empty row: masked)
    col, coef = s.indices[first], s.data[first]
    alone = (nnz == 1) & (np.bincount(s.indices, minlength=len(y))[col] == 1)
    y[col[alone & (coef < 0) & (y[col] < ub[col])]] += 1.0
    return short[~alone]


def with_fixed(m: LpModel, x: np.ndarray) -> LpModel:
    """The model with its whole-people variables fixed at ``x`` (to re-solve the continuous ones)."""
    lb, ub = m.lb.copy(), m.ub.copy()
    lb[m.integer] = ub[m.integer] = x[m.integer]
    return replace(m, lb=lb, ub=ub, integer=np.zeros_like(m.integer))


# HiGHS's primal feasibility tolerance, on the rows as ``_solve_scipy`` gives them (divided by their norms)
FEASIBILITY_TOL = 1e-7


def solve_fixed(m: LpModel, x: np.ndarray) -> LpSolution:
    """The continuous variables re-solved with the whole people fixed at ``x``: the LP
    ``solve(with_fixed(m, x), "scipy", relax=True)``, reduced first in numpy as HiGHS's presolve reduces it
    (no duals). The fixed columns go to the right-hand sides; a row of whole people alone is checked here,
    as the solver checks a row (within FEASIBILITY_TOL once divided by its norm); a row of one continuous
    variable becomes its bound; HiGHS solves the rest. At national scale (804,100 rows) the whole model took
    as long to hand to HiGHS as the relaxation itself; what is left is its 100 budget rows.

    Returns the values of every variable (``x``'s whole people), or the status of the reduced LP."""
    ints = m.integer
    A = m.A.tocsc()
    cont = np.flatnonzero(~ints)
    b = m.b - A @ np.where(ints, x, 0.0)  # what the continuous variables may use of each row
    Ac = A[:, cont].tocsr()
    Ac.eliminate_zeros()
    count = np.diff(Ac.indptr)
    lb, ub = m.lb[cont].copy(), m.ub[cont].copy()
    short = (count == 0) & (-b > FEASIBILITY_TOL * _row_norms(m))
    one = np.flatnonzero(count == 1)
    col, a = Ac.indices[Ac.indptr[one]], Ac.data[Ac.indptr[one]]
    bound = b[one] / a
    np.maximum.at(lb, col[a < 0], bound[a < 0])
    np.minimum.at(ub, col[a > 0], bound[a > 0])
    crossed = lb - ub > FEASIBILITY_TOL * np.maximum(1.0, np.abs(lb))
    if short.any() or crossed.any():
        what = m.row_names[int(np.flatnonzero(short)[0])] if short.any() else m.var_names[cont[crossed][0]]
        return LpSolution(Status.infeasible, None, None, None, f"infeasible with whole people fixed: {what}", "scipy")
    ub = np.maximum(ub, lb)  # crossed within the tolerance: at the lower bound
    y = x.copy()
    if cont.size:
        rest = np.flatnonzero(count > 1)
        reduced = replace(
            m,
            c=m.c[cont],
            A=Ac[rest],
            b=b[rest],
            lb=lb,
            ub=ub,
            integer=np.zeros(cont.size, bool),
            row_names=[m.row_names[r] for r in rest],
            var_names=[m.var_names[i] for i in cont],
            blocks={},
            at_least=m.at_least[rest],
            row_groups={},
            row_scale={},
        )
        sol = solve(reduced, "scipy", relax=True)
        if sol.status is not Status.optimal or sol.x is None:
            return replace(sol, x=None, objective=None, duals=None)
        y[cont] = sol.x
    return LpSolution(Status.optimal, y, float(m.c @ y), None, "optimal", "scipy")

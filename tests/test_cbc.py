"""CBC without PuLP's problem objects (``solvers.cbc``): the MPS file is PuLP's to the byte, and every answer
(status, values, objective, duals) is the one CBC gives through PuLP."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from solvers import lpsolve
from solvers.cbc import mps_text
from solvers.curves import service_curves
from solvers.errors import SolverError
from solvers.lpmodel import AllocationOptions, LpModel, build_model


@contextmanager
def _via_pulp():
    token = lpsolve._VIA_PULP.set(True)
    try:
        yield
    finally:
        lpsolve._VIA_PULP.reset(token)


def _pulp_mps(m: LpModel, relax: bool, tmp: Path) -> str:
    prob, _, _ = lpsolve._build_pulp(m, relax)
    path = tmp / "pulp.mps"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.writeMPS(str(path), rename=1)
    return path.read_text()


def _model(A, b, c, lb, ub, integer) -> LpModel:
    A = sp.csr_matrix(A)
    n_rows, n = A.shape
    return LpModel(
        c=np.asarray(c, float),
        A=A,
        b=np.asarray(b, float),
        lb=np.asarray(lb, float),
        ub=np.asarray(ub, float),
        integer=np.asarray(integer, bool),
        row_names=[f"row{r}" for r in range(n_rows)],
        var_names=[f"var{i}" for i in range(n)],
        blocks={},
        at_least=np.zeros(n_rows, bool),
    )


def _odd_models() -> list[LpModel]:
    """Every kind of bound line PuLP writes (fixed, binary, a lone integer, free, minus infinity, negative), a
    variable in no row (left out of the file), more than ten variables (names sort as text: x10 before x2),
    a zero right-hand side, a stored zero, and an objective of no term (PuLP's ``__dummy``)."""
    inf = np.inf
    n = 12
    A = np.zeros((4, n))
    A[0, [0, 1, 2, 10]] = [1.0, 2.5, -1.0, 1.0]
    A[1, [3, 4, 11]] = [-1.0, 1.0, 3.0]
    A[2, [5, 6, 7, 9]] = [1.0, 1.0, 1.0, -2.0]
    A[3, [0, 9]] = [1.0, 1.0]
    A = sp.csr_matrix(A)
    A[3, 5] = 0.0  # a stored zero: the variable is in the row for PuLP
    lb = [0, 0, 2, -inf, -inf, -3.5, 0, 4, 0, 1, 0, 0]
    ub = [1, 1, 2, 5, inf, 7.25, inf, inf, inf, 9, 3, inf]
    integer = [True, False, True, True, False, False, True, False, True, True, False, True]
    c = [1.0, -2.0, 0, -3.5, 0, 1e-9, 2e7, 0, 5.0, 0, 1.0, 0.5]  # x8 is in no row and costs 5: in the file
    m = _model(A, [4.0, 0.0, 12.0, 10.0], c, lb, ub, integer)
    no_cost = _model(A, [4.0, 0.0, 12.0, 10.0], np.zeros(n), lb, ub, integer)
    return [m, no_cost]


def _same(a: lpsolve.LpSolution, b: lpsolve.LpSolution) -> bool:
    def eq(x, y):
        return (x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y, equal_nan=True))

    return a.status is b.status and eq(a.x, b.x) and eq(a.duals, b.duals) and a.objective == b.objective


@pytest.mark.parametrize("relax", [False, True])
def test_the_file_is_pulps_to_the_byte(tiny, weihai, tmp_path, relax):
    models = [build_model(s, service_curves(s), AllocationOptions()) for s in (tiny, weihai)]
    budget = AllocationOptions(objective="max-service", total_budget_yuan=2_728_000)
    models += [build_model(tiny, service_curves(tiny), budget)]
    for m in models + _odd_models():
        mine, order = mps_text(m, relax)
        assert mine == _pulp_mps(m, relax, tmp_path)
        assert len(order) < m.n or m.n == len(order)
    odd = _odd_models()[0]
    assert "BV BND" in mps_text(odd, False)[0] and "MI BND" in mps_text(odd, False)[0]
    assert "__dummy" not in mps_text(_odd_models()[1], relax)[0]  # renamed X0000000, as PuLP does


@pytest.mark.parametrize("relax", [False, True])
def test_the_answers_are_cbc_through_pulp(tiny, weihai, relax):
    """Status, values (a variable in no row at its lower bound), objective and duals, to the bit; infeasible
    and unbounded models too."""
    inf = np.inf
    infeasible = _model([[1.0, 1.0], [-1.0, 0.0]], [1.0, -3.0], [1.0, 1.0], [0, 0], [inf, inf], [False, True])
    unbounded = _model([[1.0, -1.0]], [1.0], [-1.0, 0.0], [0, 0], [inf, inf], [False, False])
    models = [build_model(s, service_curves(s), AllocationOptions()) for s in (tiny, weihai)]
    models += [*_odd_models(), infeasible, unbounded]
    got = [lpsolve.solve(m, "cbc", relax=relax) for m in models]
    with _via_pulp():
        want = [lpsolve.solve(m, "cbc", relax=relax) for m in models]
    for g, w in zip(got, want):
        assert _same(g, w), (g.status, w.status, g.message, w.message)
    assert got[0].status is lpsolve.Status.optimal and got[2].status is lpsolve.Status.optimal
    assert got[-2].status is lpsolve.Status.infeasible and got[-1].status is not lpsolve.Status.optimal
    assert (got[0].duals is not None) == relax


def test_a_row_holding_a_column_twice_means_their_sum(tmp_path):
    """A sparse row that stores one column twice is the sum of the two (PuLP's problem would keep the last)."""
    twice = sp.csr_matrix((np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 2])), shape=(1, 1))
    assert not twice.has_canonical_format
    m = _model(twice, [6.0], [-1.0], [0.0], [np.inf], [False])
    assert f"{3.0: .12e}" in mps_text(m, False)[0]
    sol = lpsolve.solve(m, "cbc")
    assert sol.status is lpsolve.Status.optimal and sol.x is not None and sol.x[0] == pytest.approx(2.0)


def test_cbc_that_cannot_start_or_fails_is_one_clear_error(tiny, monkeypatch, tmp_path):
    import solvers.cbc

    m = build_model(tiny, service_curves(tiny), AllocationOptions())
    monkeypatch.setattr(solvers.cbc, "cbc_path", lambda: str(tmp_path / "no-cbc"))
    with pytest.raises(SolverError, match="cannot start CBC"):
        lpsolve.solve(m, "cbc")
    failing = tmp_path / "failing-cbc"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setattr(solvers.cbc, "cbc_path", lambda: str(failing))
    with pytest.raises(SolverError, match="exit code 3"):
        lpsolve.solve(m, "cbc")

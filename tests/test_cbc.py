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
from solvers.errors import InfeasibleError, SolverError
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


def _negative_zeros() -> LpModel:
    """-0.0 in a cost, a right-hand side, a bound and a stored coefficient."""
    inf = np.inf
    A = sp.csr_matrix(np.array([[1.0, -0.0, 2.0], [0.0, 1.0, 1.0]]))
    A[1, 0] = -0.0
    return _model(A, [-0.0, 3.0], [1.0, -0.0, -2.0], [-0.0, 0, -inf], [1.0, inf, -0.0], [True, False, True])


def _no_rows() -> LpModel:
    return _model(sp.csr_matrix((0, 2)), np.zeros(0), [1.0, -1.0], [0.0, 0.0], [3.0, 2.0], [True, False])


def _same(a: lpsolve.LpSolution, b: lpsolve.LpSolution) -> bool:
    def eq(x, y):
        return (x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y, equal_nan=True))

    return a.status is b.status and eq(a.x, b.x) and eq(a.duals, b.duals) and a.objective == b.objective


@pytest.mark.parametrize("relax", [False, True])
def test_the_file_is_pulps_to_the_byte(tiny, weihai, tmp_path, relax):
    models = [build_model(s, service_curves(s), AllocationOptions()) for s in (tiny, weihai)]
    budget = AllocationOptions(objective="max-service", total_budget_yuan=2_728_000)
    models += [build_model(tiny, service_curves(tiny), budget)]
    for m in models + _odd_models() + [_negative_zeros(), _no_rows()]:
        mine, order = mps_text(m, relax)
        assert mine == _pulp_mps(m, relax, tmp_path)
        assert order == sorted(order, key=lambda i: f"x{i}")
    odd = _odd_models()[0]
    assert 8 in mps_text(odd, relax)[1] and 9 in mps_text(odd, relax)[1]  # x8: in no row, but it costs something
    lines = mps_text(odd, False)[0]
    assert "BV BND" in lines and "MI BND" in lines and "FR BND" in lines and "'INTORG'" in lines
    assert ("'INTORG'" in mps_text(odd, True)[0]) is False  # relaxed: every variable continuous
    no_cost = mps_text(_odd_models()[1], relax)[0]
    assert "    X0000000  OBJ        1.000000000000e+00\n" in no_cost  # PuLP's __dummy, renamed


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


def test_crossed_bounds_are_infeasible_and_non_numbers_are_named(tiny):
    """CBC rejects a file with a lower bound above an upper one, or a number that is not one, and writes no
    solution: a crossed bound is an infeasible model (the allocator then says why), a NaN or infinity one line
    naming the variable or row."""
    from solvers.allocator import allocate

    crossed = _model([[1.0, 1.0]], [5.0], [1.0, 1.0], [0.0, 3.0], [4.0, 2.0], [False, False])
    assert lpsolve.solve(crossed, "cbc").status is lpsolve.Status.infeasible
    opts = AllocationOptions(max_change_workers=1, min_workers=tuple(float(w) + 3 for w in tiny.baseline.workers))
    with pytest.raises(InfeasibleError, match="collides with the minimums"):
        allocate(tiny, opts, solver="cbc")
    base = dict(A=[[1.0, 1.0]], b=[5.0], c=[1.0, 1.0], lb=[0.0, 0.0], ub=[4.0, 4.0], integer=[False, False])
    for field, value, named in (("b", [np.nan], "row0"), ("c", [1.0, np.inf], "var1"), ("A", [[1.0, np.nan]], "var1")):
        with pytest.raises(SolverError, match=named):
            lpsolve.solve(_model(**{**base, field: value}), "cbc")
    with pytest.raises(SolverError, match="bounds of var0"):
        lpsolve.solve(_model(**{**base, "lb": [np.nan, 0.0]}), "cbc")


def test_the_solution_file_is_read_as_pulp_reads_it_or_refused(tiny):
    """Row names past C9999999 have their duals; a line that is not a value line (a file cut off) or an empty
    file is one SolverError, not values read as 0; lines split at line feeds only."""
    from solvers.cbc import _read_solution

    m = _model(sp.csr_matrix((3, 1)), np.zeros(3), [1.0], [0.0], [1.0], [False])
    ok = "Optimal - objective value 0\n      0 C0000000 1 -7\n** 1 C0000002 0 2.5\f\n      0 X0000000 0.5 0\n"
    got = _read_solution(ok, m, [0])
    assert got.status == 1 and got.proven and got.values == [0.5]
    assert got.duals[0] == -7 and np.isnan(got.duals[1]) and got.duals[2] == 2.5
    big = _model(sp.csr_matrix((10_000_001, 1)), np.zeros(10_000_001), [1.0], [0.0], [1.0], [False])
    assert _read_solution("Optimal - objective value 0\n 1 C10000000 0 -3\n", big, [0]).duals[10_000_000] == -3
    for bad in ("", "\n", "Optimal - objective value 0\n      0 C0000000 1\n", "Optimal\n  0 X0000000 x 0\n"):
        with pytest.raises(SolverError, match="solution file"):
            _read_solution(bad, m, [0])
    stopped = _read_solution("Stopped on time - objective value 3\n      0 X0000000 1 0\n", m, [0])
    assert stopped.status == 1 and not stopped.proven  # lpsolve: not solved (no proof of optimality)


def test_cbc_that_cannot_start_or_fails_is_one_clear_error(tiny, monkeypatch, tmp_path):
    import solvers.cbc

    m = build_model(tiny, service_curves(tiny), AllocationOptions())
    monkeypatch.setattr(solvers.cbc, "cbc_path", lambda: str(tmp_path / "no-cbc"))
    with pytest.raises(SolverError, match="cannot start CBC"):
        lpsolve.solve(m, "cbc")
    scripts = {  # a stand-in CBC: what it does, and the error that names it
        "exit 3": "exit code 3",
        "echo 'Bad image at line 15 < UP BND x nan >'; echo 'Current model not valid'": "wrote no solution.*line 15",
        "kill -SEGV $$": "stopped by SIGSEGV",
    }
    for k, (body, error) in enumerate(scripts.items()):
        fake = tmp_path / f"cbc{k}"
        fake.write_text(f"#!/bin/sh\n{body}\n")
        fake.chmod(0o755)
        monkeypatch.setattr(solvers.cbc, "cbc_path", lambda fake=fake: str(fake))
        with pytest.raises(SolverError, match=error):
            lpsolve.solve(m, "cbc")
    monkeypatch.setattr(solvers.cbc, "cbc_path", lambda: str(tmp_path / "cbc0"))
    monkeypatch.setattr(solvers.cbc.tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    with pytest.raises(SolverError, match="temporary folder"):
        lpsolve.solve(m, "cbc")


def test_a_search_writes_pulps_file_from_the_kept_sections(weihai, tmp_path):
    """Solves of one model that differ in bounds and right-hand sides (a search's steps) write only the lines that
    changed from the sections kept for it (``solvers.cbc._Sections``: the same object each time) and still write
    PuLP's file to the byte: a lower bound raised, one set to -0.0 and back to 0.0 (the same number, other
    bits), a bound made infinite, a right-hand side changed, relaxed and not; a new matrix gets new sections."""
    from dataclasses import replace

    from solvers import cbc

    base = build_model(weihai, service_curves(weihai), AllocationOptions())
    lb, ub, b = base.lb.copy(), base.ub.copy(), base.b.copy()
    steps = []
    for k in range(5):
        lb = lb.copy()
        ub = ub.copy()
        lb[k * 7 : k * 7 + 30] += 1.0
        if k == 1:
            lb[3] = -0.0
        if k == 2:
            lb[3] = 0.0
            ub[5] = np.inf
        if k == 3:
            b = b.copy()
            b[10] -= 2.5
        steps.append(replace(base, lb=lb, ub=ub, b=b))
    cbc._SECTIONS.clear()
    for relax in (False, True):
        heads = set()
        for m in [base, *steps, base]:
            assert mps_text(m, relax)[0] == _pulp_mps(m, relax, tmp_path)
            heads.add(id(next(reversed(cbc._SECTIONS.values())).head))
        assert len(heads) == 1  # the rows and columns written once, kept for every step
    other = replace(base, A=base.A * 2.0)
    assert mps_text(other, False)[0] == _pulp_mps(other, False, tmp_path)
    assert len(cbc._SECTIONS) == 3

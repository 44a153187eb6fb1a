"""CBC without PuLP's problem objects: the MPS file PuLP would write for an ``LpModel``, to the byte, written
from the model's arrays; the CBC binary PuLP bundles, started with PuLP's arguments; its solution file read as
PuLP reads it.

Building PuLP's problem (an object per variable and per row), writing it and reading the answer back through
it took about half of each Weihai solve (48 ms, of which CBC itself about 20); the main job solves 89 models.
CBC reads the same file and is asked the same way, so the answers are PuLP's (the file is compared with
PuLP's own in the tests).
"""

# ruff: noqa: UP031 - PuLP's own %-formats, so that the file is PuLP's to the byte

from __future__ import annotations

import hashlib
import io
import math
import signal
import subprocess
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solvers.errors import SolverError
from solvers.lpmodel import LpModel

__all__ = ["mps_text", "solve_cbc", "CbcAnswer", "cbc_path", "pulp_bound"]

# PuLP's words for CBC's first word of the solution file, and its status names (``pulp.LpStatus``)
_STATUS = {"Optimal": 1, "Infeasible": -1, "Integer": -1, "Unbounded": -2, "Stopped": 0}
_STATUS_NAME = {0: "Not Solved", 1: "Optimal", -1: "Infeasible", -2: "Unbounded", -3: "Undefined"}


@dataclass
class CbcAnswer:
    """CBC's verdict as PuLP gives it: ``status`` (PuLP's code: 1 optimal, -1 infeasible, -2 unbounded, 0 not
    solved, -3 undefined), whether the solution is proven optimal, every variable's value (None where the
    variable is in no row and costs nothing: PuLP leaves it out of the file) and the rows' duals."""

    status: int
    proven: bool
    values: list[float | None]
    duals: np.ndarray
    message: str


def cbc_path() -> str:
    """The CBC binary bundled with PuLP (the one ``pulp.PULP_CBC_CMD`` runs; a class attribute: no solver object,
    no deprecation warning to silence, safe in several threads at once)."""
    import pulp

    return str(pulp.PULP_CBC_CMD.pulp_cbc_path)


def pulp_bound(v: float) -> float | None:
    """A variable's bound as PuLP takes it: None for an infinite one (no bound)."""
    return None if math.isinf(v) else float(v)


@dataclass
class _Sections:
    """One model's MPS text but its bounds and right-hand sides, kept for the next solve of a model that differs
    only there (a search's steps differ in lower bounds): the columns' order, their names, the ROWS and COLUMNS
    text; and the last bound lines and right-hand sides written, with the bits they were written from."""

    order: list[int]
    names: list[str]
    integer: list[bool]
    head: str  # from *SENSE to the COLUMNS section's end
    lb_bits: np.ndarray | None = None  # the bounds (in ``order``) the bound lines were written from
    ub_bits: np.ndarray | None = None
    bound_lines: list[str] | None = None
    b_bits: np.ndarray | None = None
    rhs: str = ""


_SECTIONS: OrderedDict[bytes, _Sections] = OrderedDict()  # by the model's fingerprint, the last few
_SECTIONS_LOCK = threading.Lock()  # the desk solves in threads
_SECTIONS_KEPT = 4
_SECTIONS_MAX_CHARS = 8_000_000  # a national model's text is not kept


def _fingerprint(C, c: np.ndarray, integer: np.ndarray, n_rows: int, relax: bool) -> bytes:
    """What the ROWS and COLUMNS sections are written from, as a digest: the matrix (columns), costs, which
    variables are integer (none when ``relax``) and the number of rows."""
    h = hashlib.blake2b(digest_size=20)
    h.update(np.array([n_rows, C.shape[1], int(relax)], np.int64).tobytes())
    h.update(C.data.dtype.str.encode())
    for a in (C.indptr.astype(np.int64), C.indices.astype(np.int64), C.data, c, integer):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.digest()


def mps_text(m: LpModel, relax: bool) -> tuple[str, list[int]]:
    """The MPS text of PuLP's ``LpProblem.writeMPS(rename=1)`` for the problem ``lpsolve`` builds of ``m``
    (variables ``x{i}``, rows ``r{r}``: ``A x <= b``, the cost as objective), and the model's variables in the
    file's column order. As PuLP: a variable is in the file when it is in a row (a stored zero too) or costs
    something; columns in the order of the names ``x{i}`` as text; names ``X%07d``/``C%07d``; an objective of
    no term gets PuLP's fixed variable ``__dummy``.

    The rows and columns of the last few models are kept (``_Sections``): the next solve of a model that
    differs only in bounds or right-hand sides writes only the lines that changed (a search's steps; the same
    text, tested against PuLP's file)."""
    A = m.A.tocsr()
    if not A.has_canonical_format:  # a sum over a row's entries of one column is what the row means
        A = A.copy()
        A.sum_duplicates()
    C = A.tocsc()
    C.sort_indices()
    n_rows = A.shape[0]
    c = np.asarray(m.c, dtype=float)
    integer_a = np.asarray(m.integer, bool) & (not relax)
    key = _fingerprint(C, c, integer_a, n_rows, relax)
    with _SECTIONS_LOCK:
        sec = _SECTIONS.get(key)
        if sec is not None:
            _SECTIONS.move_to_end(key)
    if sec is None:
        sec = _sections(C, c, integer_a, n_rows)
        if len(sec.head) <= _SECTIONS_MAX_CHARS:
            with _SECTIONS_LOCK:
                _SECTIONS[key] = sec
                while len(_SECTIONS) > _SECTIONS_KEPT:
                    _SECTIONS.popitem(last=False)
    dummy = len(sec.names) > len(sec.order)
    with _SECTIONS_LOCK:  # one writer of a model's kept lines at a time
        bounds = _bounds_text(sec, np.asarray(m.lb, float), np.asarray(m.ub, float), dummy)
        rhs = _rhs_text(sec, np.asarray(m.b, float))
    return "".join([sec.head, "RHS\n", rhs, "BOUNDS\n", bounds, "ENDATA\n"]), list(sec.order)


_LINE = "    %-8s  %-8s  % .12e\n"


def _sections(C, c: np.ndarray, integer_a: np.ndarray, n_rows: int) -> _Sections:
    """The column order and names, and the text from *SENSE to the end of COLUMNS."""
    stored = np.diff(C.indptr) > 0
    used = np.flatnonzero(stored | (c != 0))
    order = sorted(used.tolist(), key=lambda i: f"x{i}")
    dummy = not np.any(c != 0)  # PuLP's fixObjective: an objective of no term gets a fixed variable
    integer = integer_a.tolist()
    # Python lists, not numpy scalars: a column's few lines are formatted in Python
    indptr, rows_of, data = C.indptr.tolist(), C.indices.tolist(), C.data.tolist()
    cost = c.tolist()
    cols: list[str] = []
    names = [f"X{k:07d}" for k in range(len(order) + dummy)]
    if dummy:
        cols.append(_LINE % (names[0], "OBJ", 1))
    for name, j in zip(names[dummy:], order):
        lo, hi = indptr[j], indptr[j + 1]
        if integer[j]:
            cols.append("    MARK      'MARKER'                 'INTORG'\n")
        cols.extend(_LINE % (name, f"C{r:07d}", v) for r, v in zip(rows_of[lo:hi], data[lo:hi]))
        if cost[j] != 0:
            cols.append(_LINE % (name, "OBJ", cost[j]))
        if integer[j]:
            cols.append("    MARK      'MARKER'                 'INTEND'\n")
    head = "".join(
        [
            "*SENSE:Minimize\n",
            "NAME          MODEL\n",
            "ROWS\n",
            " N  OBJ\n",
            *[f" L  C{r:07d}\n" for r in range(n_rows)],
            "COLUMNS\n",
            *cols,
        ]
    )
    return _Sections(order, names, integer, head)


def _bounds_text(sec: _Sections, lb: np.ndarray, ub: np.ndarray, dummy: bool) -> str:
    """The BOUNDS section: each column's lines, rewritten where its bounds' bits changed since the last text."""
    idx = np.array(sec.order, np.int64)
    lb_bits, ub_bits = lb[idx].view(np.int64), ub[idx].view(np.int64)
    redo: list[int] | range
    if sec.bound_lines is None or sec.lb_bits is None or sec.ub_bits is None:
        redo = range(len(sec.order))
        lines = [""] * len(sec.order)
    else:
        redo = np.flatnonzero((lb_bits != sec.lb_bits) | (ub_bits != sec.ub_bits)).tolist()
        lines = sec.bound_lines
    los, his = lb[idx].tolist(), ub[idx].tolist()
    for k in redo:
        j = sec.order[k]
        lines[k] = "".join(_bound_lines(sec.names[k + dummy], pulp_bound(los[k]), pulp_bound(his[k]), sec.integer[j]))
    sec.lb_bits, sec.ub_bits, sec.bound_lines = lb_bits, ub_bits, lines
    fixed = " FX BND       %-8s  % .12e\n" % (sec.names[0], 0.0) if dummy else ""
    return fixed + "".join(lines)


def _rhs_text(sec: _Sections, b: np.ndarray) -> str:
    """The RHS section, written again only when a right-hand side's bits changed."""
    bits = b.view(np.int64)
    if sec.b_bits is None or not np.array_equal(bits, sec.b_bits):
        sec.rhs = "".join(
            "    RHS       %-8s  % .12e\n" % (f"C{r:07d}", v if v != 0 else 0) for r, v in enumerate(b.tolist())
        )
        sec.b_bits = bits.copy()
    return sec.rhs


def _bound_lines(name: str, low: float | None, up: float | None, integer: bool) -> list[str]:
    """PuLP's ``writeMPSBoundLines``."""
    if low is not None and low == up:
        return [" FX BND       %-8s  % .12e\n" % (name, low)]
    if low == 0 and up == 1 and integer:
        return [" BV BND       %-8s\n" % name]
    out = []
    if low is not None:
        if low != 0 or (integer and up is None):  # no bound line means >= 0 (COIN reads a lone integer as binary)
            out.append(" LO BND       %-8s  % .12e\n" % (name, low))
    elif up is not None:
        out.append(" MI BND       %-8s\n" % name)
    else:
        out.append(" FR BND       %-8s\n" % name)
    if up is not None:
        out.append(" UP BND       %-8s  % .12e\n" % (name, up))
    return out


def _check_finite(m: LpModel) -> None:
    """CBC rejects a file with a number that is not one (it writes no solution): one line naming where it is."""
    for what, a, names in (("cost", m.c, m.var_names), ("right-hand side", m.b, m.row_names)):
        bad = np.flatnonzero(~np.isfinite(np.asarray(a, float)))
        if bad.size:
            raise SolverError(f"the model's {what} of {names[int(bad[0])]} is {a[int(bad[0])]}, not a finite number")
    A = m.A.tocoo()
    bad = np.flatnonzero(~np.isfinite(A.data))
    if bad.size:
        r, j = int(A.row[bad[0]]), int(A.col[bad[0]])
        raise SolverError(f"the model's coefficient of {m.var_names[j]} in {m.row_names[r]} is {A.data[bad[0]]}")
    bad = np.flatnonzero(np.isnan(np.asarray(m.lb, float)) | np.isnan(np.asarray(m.ub, float)))
    if bad.size:
        raise SolverError(f"the model's bounds of {m.var_names[int(bad[0])]} are not numbers")


def solve_cbc(m: LpModel, relax: bool) -> CbcAnswer:
    """Solve ``m`` (``relax``: every variable continuous) with the bundled CBC as ``pulp.PULP_CBC_CMD`` does:
    the same file, the same arguments, the solution file read the same way. A variable whose lower bound is
    above its upper one makes the model infeasible here (CBC would reject the file); a number that is not one
    is a ``SolverError`` naming it; so is a CBC that cannot start, fails or writes no solution (quoting it)."""
    _check_finite(m)
    if np.any(np.asarray(m.lb, float) > np.asarray(m.ub, float)):
        return CbcAnswer(-1, False, [None] * m.n, np.full(m.A.shape[0], np.nan), _STATUS_NAME[-1])
    text, order = mps_text(m, relax)
    try:
        with tempfile.TemporaryDirectory(prefix="gridplan-cbc-") as tmp:
            mps, sol = Path(tmp) / "model.mps", Path(tmp) / "model.sol"
            mps.write_text(text)
            args = [cbc_path(), str(mps), "-timeMode", "elapsed", "-solve", "-printingOptions", "all"]
            args += ["-solution", str(sol)]
            try:
                done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
            except OSError as exc:
                raise SolverError(f"cannot start CBC ({args[0]}): {exc.strerror or exc}") from None
            if done.returncode != 0 or not sol.exists():
                raise SolverError(
                    f"CBC {_failure(done.returncode)} on a model of {m.A.shape[0]:,} row(s): {_said(done)}"
                )
            answer = sol.read_text(errors="replace")
    except OSError as exc:  # the temporary folder: no space, no such folder
        raise SolverError(f"cannot write CBC's files in the temporary folder: {exc.strerror or exc}") from None
    return _read_solution(answer, m, order)


def _failure(code: int) -> str:
    """How CBC ended, in words."""
    if code < 0:
        try:
            return f"was stopped by {signal.Signals(-code).name}"
        except ValueError:
            return f"was stopped by signal {-code}"
    return f"failed (exit code {code})" if code else "wrote no solution"


def _said(done: subprocess.CompletedProcess) -> str:
    """CBC's first line that says what went wrong (its output otherwise goes nowhere), or its last line."""
    lines = [" ".join(x.split()) for x in (done.stdout + "\n" + done.stderr).splitlines() if x.strip()]
    for x in lines:
        if any(w in x.lower() for w in ("error", "bad", "not valid", "unable", "fail")):
            return x[:300]
    return lines[-1][:300] if lines else "no output"


def _read_solution(text: str, m: LpModel, order: list[int]) -> CbcAnswer:
    """PuLP's ``readsol_MPS`` and ``get_status`` on CBC's solution file: CBC's verdict on the first line, then
    a line per row and variable (index, name, value, reduced cost or dual), up to a line of two characters or
    fewer. Lines split at line feeds only, as a file is read; a line that is not four words (a file cut off)
    is a ``SolverError`` naming it, where PuLP would fail with an IndexError."""
    lines = list(io.StringIO(text, newline=""))
    words = lines[0].split() if lines else []
    if not words:
        raise SolverError("CBC's solution file is empty")
    status = _STATUS.get(words[0], -3)
    proven = words[0] == "Optimal"
    if status == 0 and len(words) >= 5 and words[4] == "objective":  # stopped with an integer solution
        status = 1
    by_var = {f"X{k:07d}": j for k, j in enumerate(order, start=int(not np.any(np.asarray(m.c) != 0)))}
    values: list[float | None] = [None] * m.n
    for j in order:
        values[j] = 0.0
    n_rows = m.A.shape[0]
    duals = np.full(n_rows, np.nan)
    for number, raw in enumerate(lines[1:], start=2):
        if len(raw) <= 2:
            break
        w = raw.split()
        if w and w[0] == "**":  # CBC marks a row or variable that breaks a bound
            w = w[1:]
        try:
            name, val, dj = w[1], float(w[2]), float(w[3])
        except (IndexError, ValueError):
            raise SolverError(f"CBC's solution file, line {number}: {raw.strip()[:80]!r} is not a value line") from None
        if name in by_var:
            values[by_var[name]] = val
        elif name[:1] == "C" and name[1:].isdigit() and int(name[1:]) < n_rows:
            duals[int(name[1:])] = dj
    return CbcAnswer(status, proven, values, duals, _STATUS_NAME.get(status, "?"))

"""Cases in order of arrival: ``np.argsort(hours, kind="stable")`` in linear time, compiled (``sim.jit``); and
the (community, hour) cells a year's arrivals are drawn in (``nonzero_counts``).

A year's cases are drawn hour by hour, so their clock times are spread evenly: a bucket per case (the bucket
index grows with the time: a constant subtracted and a positive one multiplied, each rounding monotone),
cases put in their buckets in index order, then each bucket (about one case) sorted by insertion with a
strict comparison. Equal times keep their index order, as a stable sort's do: the same order, to the case.
Imported where it is used, so that modules that only import ``sim.demand`` do not import numba.
"""

from __future__ import annotations

import numpy as np

from sim.jit import njit

__all__ = ["arrival_order", "nonzero_counts", "order_of_runs"]


@njit(nogil=True)  # a thread may draw another stream meanwhile (sim.demand)
def _order(x):
    n = x.shape[0]
    out = np.empty(n, np.int64)
    if n == 0:
        return out
    in_order = True
    for i in range(1, n):
        if x[i] < x[i - 1]:
            in_order = False
            break
    if in_order:  # already in order (a run without mobile grid workers): each case where it is
        for i in range(n):
            out[i] = i
        return out
    x0, x1 = x[0], x[0]  # x.min() and x.max() (loops: quicker to compile)
    for i in range(1, n):
        v = x[i]
        if v != v or x0 != x0:  # a NaN: theirs too
            x0 = x1 = np.nan
        elif v < x0:
            x0 = v
        elif v > x1:
            x1 = v
    inv = n / (x1 - x0) if x1 > x0 else 0.0
    start = np.zeros(n + 1, np.int64)
    bucket = np.empty(n, np.int64)
    for i in range(n):
        f = (x[i] - x0) * inv  # inf, or NaN (0 x inf) at x0, where the range is too small for its inverse
        b = n - 1 if f >= n - 1 else (int(f) if f > 0 else 0)
        bucket[i] = b
        start[b + 1] += 1
    for b in range(n):
        start[b + 1] += start[b]
    pos = start[:n].copy()
    for i in range(n):
        out[pos[bucket[i]]] = i
        pos[bucket[i]] += 1
    for b in range(n):
        s, e = start[b], start[b + 1]
        for i in range(s + 1, e):
            v = out[i]
            xv = x[v]
            j = i - 1
            while j >= s and x[out[j]] > xv:
                out[j + 1] = out[j]
                j -= 1
            out[j + 1] = v
    return out


def arrival_order(hours: np.ndarray) -> np.ndarray:
    """Indices that sort ``hours`` (finite), equal times in index order: ``np.argsort(hours, kind="stable")``."""
    return _order(np.ascontiguousarray(hours, dtype=np.float64))


@njit(nogil=True)
def _nonzero_counts(counts, row0):
    n = 0
    rows, cols = counts.shape
    for i in range(rows):
        for j in range(cols):
            if counts[i, j] != 0:
                n += 1
    r = np.empty(n, np.int64)
    c = np.empty(n, np.int64)
    k = np.empty(n, np.int64)
    m = 0
    for i in range(rows):
        for j in range(cols):
            x = counts[i, j]
            if x != 0:
                r[m], c[m], k[m] = i + row0, j, x
                m += 1
    return r, c, k


def nonzero_counts(counts: np.ndarray, row0: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells of a (rows, columns) matrix of counts that are not 0, in row-major order: their row (plus
    ``row0``), column and count (``np.nonzero`` and the counts there, in one pass instead of three)."""
    return _nonzero_counts(np.ascontiguousarray(counts, dtype=np.int64), row0)


@njit
def _sorted_within(x, cls, c):
    """Whether the times of class ``c`` are in order (nondecreasing, none NaN), in index order."""
    last = -np.inf
    for i in range(x.shape[0]):
        if cls[i] == c:
            v = x[i]
            if not (v >= last):
                return False
            last = v
    return True


@njit
def _merge(a, xa, b, xb, c, xc):
    """The indices ``a``, ``b``, ``c`` (each in order of (time, index); ``xa``, ``xb``, ``xc`` their times) merged
    in order of (time, index)."""
    na, nb, nc = a.shape[0], b.shape[0], c.shape[0]
    out = np.empty(na + nb + nc, np.int64)
    i = j = k = 0
    for r in range(out.shape[0]):
        # the smallest (time, index) of the three heads; an exhausted run's head is never taken
        take = 0
        if i < na:
            t, idx = xa[i], a[i]
        else:
            take = -1
            t, idx = np.inf, -1
        if j < nb and (take < 0 or xb[j] < t or (xb[j] == t and b[j] < idx)):
            take, t, idx = 1, xb[j], b[j]
        if k < nc and (take < 0 or xc[k] < t or (xc[k] == t and c[k] < idx)):
            take, t, idx = 2, xc[k], c[k]
        out[r] = idx
        if take == 0:
            i += 1
        elif take == 1:
            j += 1
        else:
            k += 1
    return out


def order_of_runs(hours: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """``arrival_order(hours)`` (``np.argsort(hours, kind="stable")``) of times that are mostly in order already:
    those of class 0 and of class 1 (``cls``) each in order by index (the drawn cases, and those a mobile grid
    worker found earlier by the same lead), those of class 2 in no order (problems found late): class 2 sorted,
    the three merged in one pass. Falls back to ``arrival_order`` where classes 0 or 1 are not in order."""
    x = np.ascontiguousarray(hours, dtype=np.float64)
    c = np.ascontiguousarray(cls, dtype=np.int8)
    if not (_sorted_within(x, c, 0) and _sorted_within(x, c, 1)):
        return arrival_order(x)
    a, b, rest = (np.flatnonzero(c == k) for k in (0, 1, 2))
    rest = rest[arrival_order(x[rest])]
    return _merge(a, x[a], b, x[b], rest, x[rest])

"""The KPIs' per-group passes compiled (``sim.kpis.groups_kpis``): counts, sums and quantiles of every group in
one pass over the measured cases instead of one ``np.bincount`` per KPI.

The same bits as the numpy passes they replace: a count of 0/1 flags is a whole number, exact in any order; a
sum of hours is added in case order into a zeroed total per group, as ``np.bincount(g, weights=x)`` adds; a
quantile reads values only (which of equal values sits at a rank does not matter) and interpolates with
numpy's formula. Imported when KPIs are first computed, so that commands that compute none do not import numba.
"""

from __future__ import annotations

import numpy as np

from sim.jit import njit

__all__ = ["group_counts", "group_sums", "group_quantiles"]


@njit
def group_counts(g, k, flags):
    """(``k``, flags): per group, how many of its cases have each flag (``flags``: cases x flags, 0 or 1)."""
    m = flags.shape[1]
    out = np.zeros((k, m), np.int64)
    for i in range(g.shape[0]):
        gi = g[i]
        for j in range(m):
            out[gi, j] += flags[i, j]
    return out


@njit
def group_sums(g, k, x, keep):
    """Per group: the number of its cases with ``keep`` and the sum of their ``x``, added in case order
    (``np.bincount(g[keep], weights=x[keep], minlength=k)``, to the bit)."""
    n = np.zeros(k, np.int64)
    s = np.zeros(k)
    for i in range(g.shape[0]):
        if keep[i]:
            n[g[i]] += 1
            s[g[i]] += x[i]
    return n, s


@njit
def group_quantiles(g, k, x, keep, qs):
    """(quantiles, ``k``): per group, each q-quantile of its ``x`` where ``keep`` with numpy's default (linear)
    interpolation, both halves of its lerp; NaN for a group with none. The values are put in groups by a
    counting sort and each group partitioned at the ranks read: the values np.quantile reads there."""
    size = np.zeros(k + 1, np.int64)
    for i in range(g.shape[0]):
        if keep[i]:
            size[g[i] + 1] += 1
    start = np.cumsum(size)
    at = start[:k].copy()
    buf = np.empty(start[k])
    for i in range(g.shape[0]):
        if keep[i]:
            buf[at[g[i]]] = x[i]
            at[g[i]] += 1
    out = np.full((qs.shape[0], k), np.nan)
    for u in range(k):
        a, b = start[u], start[u + 1]
        if b == a:
            continue
        nq = qs.shape[0]
        lo = np.empty(nq, np.int64)
        hi = np.empty(nq, np.int64)
        t = np.empty(nq)
        for j in range(nq):
            pos = qs[j] * (b - a - 1)
            lo[j] = int(np.floor(pos))
            hi[j] = min(lo[j] + 1, b - a - 1)
            t[j] = pos - lo[j]
        seg = buf[a:b]
        if b - a > 1:  # the values at the ranks read put in place (a partition: the values a sort puts there)
            seg = np.partition(seg, np.unique(np.concatenate((lo, hi))))
        for j in range(nq):
            va, vb = seg[lo[j]], seg[hi[j]]
            out[j, u] = vb - (vb - va) * (1 - t[j]) if t[j] >= 0.5 else va + (vb - va) * t[j]
    return out

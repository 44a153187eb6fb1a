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
def _select(v, lo, hi, kth):
    """Put the value of rank ``kth`` of ``v[lo:hi + 1]`` at ``v[kth]``, none after it smaller, none before it
    larger (Wirth's selection: plain loops, quick to compile, where ``np.partition`` took seconds)."""
    while lo < hi:
        x = v[kth]
        i, j = lo, hi
        while i <= j:
            while v[i] < x:
                i += 1
            while x < v[j]:
                j -= 1
            if i <= j:
                v[i], v[j] = v[j], v[i]
                i += 1
                j -= 1
        if j < kth:
            lo = i
        if kth < i:
            hi = j


@njit
def group_quantiles(g, k, x, keep, qs):
    """(quantiles, ``k``): per group, each q-quantile of its ``x`` where ``keep`` with numpy's default (linear)
    interpolation, both halves of its lerp; NaN for a group with none (or a NaN). The values are put in groups by a
    counting sort and, in each group, the value of each rank read selected (``_select``): the values np.quantile reads
    there."""
    size = np.zeros(k + 1, np.int64)
    nan = np.zeros(k, np.bool_)  # a NaN among a group's values: its quantiles are NaN, as numpy's are
    for i in range(g.shape[0]):
        if keep[i]:
            size[g[i] + 1] += 1
            if x[i] != x[i]:
                nan[g[i]] = True
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
        if b == a or nan[u]:
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
        ranks = np.concatenate((lo, hi))
        for j in range(1, ranks.shape[0]):  # ascending (insertion sort: a handful of ranks)
            r, i = ranks[j], j
            while i > 0 and ranks[i - 1] > r:
                ranks[i] = ranks[i - 1]
                i -= 1
            ranks[i] = r
        done = -1  # each rank read gets the value a sort puts there; a rank selected stays put: the next is
        for j in range(ranks.shape[0]):  # selected among the values after it
            if ranks[j] > done:
                _select(seg, done + 1, b - a - 1, ranks[j])
                done = ranks[j]
        for j in range(nq):
            va, vb = seg[lo[j]], seg[hi[j]]
            out[j, u] = vb - (vb - va) * (1 - t[j]) if t[j] >= 0.5 else va + (vb - va) * t[j]
    return out

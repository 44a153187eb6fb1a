"""The recursion compiled (numba): ``sim.engine._recursion``'s window loop over preallocated arrays.

The same decisions, in the same order, with the same floating-point operations as the pure-Python recursion
(``njit`` without ``fastmath``: no reassociation, no fused multiply-add, so every time is the same bits):
per pool the start times (servers that never change: the earliest free one; servers that change by day:
after the last start, when one is free), the releases, the heap of busy servers, the wait for a day with
more people, the working-hours calendar (``WorkCalendar.start_and_end``: a binary search over the working
days' cumulative hours, as ``bisect_right``), and the feedback calls at each window's end.

``run_windows`` runs windows until the next day key whose cases are still to be decided (``sim.outcomes``:
``close_through``) or the end, and returns to Python with the services started since the last call; the
per-row decisions (``active``, the routing, the feedback extras) are numpy arrays shared with ``Outcomes``,
so what Python decides there the next call reads. Its state lives in arrays the caller keeps between calls
(``KernelState``); buffers that may grow (the three queues, the cases closed in a window, the services
started) are returned, possibly reallocated.

The first call compiles it (about 15 s of one core) and caches the machine code on disk beside this module
(``__pycache__``, or numba's ``NUMBA_CACHE_DIR``), so later processes load it in about half a second.
Imported only by ``sim.engine`` when it runs, so that commands that simulate nothing do not import numba.
Without numba the same code runs in the interpreter (``sim.jit``).
"""

from __future__ import annotations

import math

import numpy as np

from sim.jit import day_of, njit

__all__ = ["run_windows", "next_greater_all", "DONE", "CLOSE_DAY"]

DONE, CLOSE_DAY = 0, 1  # what ``run_windows`` returns: the run is over, or day key ``key`` needs deciding
_INF = math.inf
# stage codes (``sim.routing.Stage``) and CLOSE
_GRID, _COMMUNITY, _STREET, _CITY, _REOPEN = 0, 1, 2, 3, 4
_NSTAGES = 5
_CLOSE = -1
# per-run float parameters (``fpar``) and integer state (``ivar``)
F_UNTIL, F_SHIFT, F_DAY_END, F_WINDOW, F_DELAY, F_UNSAT_BASE, F_UNSAT_LATE, F_REOPEN_BASE, F_REOPEN_LATE = range(9)
I_NEXT_NEW, I_CLOSED, I_LOGGED, I_ALWAYS_ON, I_INCREMENTAL, I_REOPENING = range(6)


@njit
def next_greater_all(capk: np.ndarray, const: np.ndarray) -> np.ndarray:
    """Per pool whose servers change by day (``const`` < 0) and day key, the next key with more servers (-1:
    none): ``sim.pools.next_greater`` for every such pool."""
    pools, keys = capk.shape
    out = np.full((pools, keys), -1, np.int64)
    stack = np.empty(keys, np.int64)
    for p in range(pools):
        if const[p] >= 0:
            continue
        top = 0
        for k in range(keys):
            c = capk[p, k]
            while top > 0 and capk[p, stack[top - 1]] < c:
                top -= 1
                out[p, stack[top]] = k
            stack[top] = k
            top += 1
    return out


@njit(inline="always")
def _count_le(a, x, lo):
    """``bisect_right(a, x)`` for an ``x`` known to have at least ``lo`` elements of ``a`` at or below it: a few
    steps forward from ``lo`` (a case's hours rarely span many days), then a binary search."""
    n = a.shape[0]
    for _ in range(8):
        if lo >= n or a[lo] > x:
            return lo
        lo += 1
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit
def _start_and_end(t, hours, start_l, len_l, cum_l, wd_cum, wd_start, wd_len, wd_from):
    """``WorkCalendar.start_and_end``, operation for operation; ``wd_from[day]`` = ``bisect_right(wd_cum,
    cum_l[day])`` starts the searches (the same counts as ``bisect_right``, found in a step or two)."""
    day = day_of(t)
    x = t - start_l[day]
    ln = len_l[day]
    w = cum_l[day] + (0.0 if x <= 0 else (ln if x >= ln else x))
    k = _count_le(wd_cum, w, wd_from[day]) - 1
    start = wd_start[k] + (w - wd_cum[k])
    w2 = w + hours
    k = (_count_le(wd_cum, w2, k + 1) if w2 >= w else _count_le(wd_cum, w2, 0)) - 1
    if k < 0:
        k = 0
    off = w2 - wd_cum[k]
    if off == 0.0 and k > 0 and w2 > 0:
        return start, wd_start[k - 1] + wd_len[k - 1]
    return start, wd_start[k] + off


# ------------------------------------------------------------------ heaps
# A queue of (ready, case) pairs ordered as Python orders the tuples: a binary min-heap over two arrays. The
# order is total (a case is in one queue at most once), so the pops come in the order heapq's would.


@njit(inline="always")
def _less(t1, c1, t2, c2) -> bool:
    return t1 < t2 or (t1 == t2 and c1 < c2)


@njit
def _q_grow(qt, qc):
    """The queues' arrays, twice as long."""
    nt = np.empty((qt.shape[0], 2 * qt.shape[1]), np.float64)
    nc = np.empty((qc.shape[0], 2 * qc.shape[1]), np.int64)
    for h in range(qt.shape[0]):  # loops, not slice assignment: the same copy, seconds less to compile
        for j in range(qt.shape[1]):
            nt[h, j] = qt[h, j]
            nc[h, j] = qc[h, j]
    return nt, nc


@njit
def _q_push(qt, qc, qn, h, t, c):
    """Push (t, c) on queue ``h`` (the caller has made room: ``_q_grow``)."""
    n = qn[h]
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if _less(t, c, qt[h, parent], qc[h, parent]):
            qt[h, i] = qt[h, parent]
            qc[h, i] = qc[h, parent]
            i = parent
        else:
            break
    qt[h, i] = t
    qc[h, i] = c
    qn[h] = n + 1


@njit
def _q_pop(qt, qc, qn, h):
    """Remove the smallest pair of queue ``h`` (the caller has read it at index 0)."""
    n = qn[h] - 1
    qn[h] = n
    if n == 0:
        return
    t = qt[h, n]
    c = qc[h, n]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _less(qt[h, child + 1], qc[h, child + 1], qt[h, child], qc[h, child]):
            child += 1
        if _less(qt[h, child], qc[h, child], t, c):
            qt[h, i] = qt[h, child]
            qc[h, i] = qc[h, child]
            i = child
        else:
            break
    qt[h, i] = t
    qc[h, i] = c


# A pool's servers: a min-heap of floats in ``srv[off : off + size]``.


@njit
def _f_sift_down(a, off, n, i, x):
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and a[off + child + 1] < a[off + child]:
            child += 1
        if a[off + child] < x:
            a[off + i] = a[off + child]
            i = child
        else:
            break
    a[off + i] = x


@njit
def _f_pop(a, off, n):
    """Remove the smallest of ``n`` values; returns it. The caller decrements its size."""
    top = a[off]
    if n > 1:
        _f_sift_down(a, off, n - 1, 0, a[off + n - 1])
    return top


@njit
def _f_push(a, off, n, x):
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if x < a[off + parent]:
            a[off + i] = a[off + parent]
            i = parent
        else:
            break
    a[off + i] = x


@njit
def _more_servers_from(capk, up, p, key, busy, day_end):
    k = up[p, key]
    while k >= 0 and capk[p, k] <= busy:
        k = up[p, k]
    return (k - 1) * 24.0 + day_end if k >= 0 else _INF


@njit
def _grow(a):
    """``a`` twice as long (its first elements kept)."""
    b = np.empty(2 * a.shape[0] + 16, a.dtype)
    for i in range(a.shape[0]):
        b[i] = a[i]
    return b


@njit
def _feedback(
    closed, n_closed, first_close, deadline, u1, u2, unsat_x, reopen_x, sat, reopened, qt, qc, qn, fpar, reopening
):
    """The feedback calls of the cases closed in this window (``sim.routing``: ``late_days``, ``unsatisfied``,
    ``reopens``): a reopened case is back at its grid pool ``delay_hours`` later."""
    for i in range(n_closed):
        case = closed[i]
        t = first_close[case]
        late = (t - deadline[case]) / 24.0
        late = late * (1.0 if late > 0 else 0.0)
        if not (u1[case] < fpar[F_UNSAT_BASE] + fpar[F_UNSAT_LATE] * late + unsat_x[case]):
            sat[case] = 1
        elif reopening and u2[case] < fpar[F_REOPEN_BASE] + fpar[F_REOPEN_LATE] * late + reopen_x[case]:
            reopened[case] = 1
            if qn[0] == qt.shape[1]:
                qt, qc = _q_grow(qt, qc)
            _q_push(qt, qc, qn, 0, t + fpar[F_DELAY], case)
    return qt, qc


@njit
def run_windows(
    svc,
    grid_svc,
    pool_of,
    after_grid,
    after_comm,
    after_street,
    active,
    new_ready,
    new_case,
    capk,
    up,
    const,
    deadline,
    u1,
    u2,
    unsat_x,
    reopen_x,
    cal_start,
    cal_len,
    cal_cum,
    wd_cum,
    wd_start,
    wd_len,
    wd_from,
    fpar,
    st,
    en,
    first_close,
    sat,
    reopened,
    srv,
    srv_off,
    srv_n,
    last,
    qt,
    qc,
    qn,
    closed,
    log_k,
    log_s,
    log_e,
    log_p,
    ivar,
    next_key,
    decided,
):
    """Windows of the recursion (``sim.engine._recursion``) until the run ends (``DONE``) or a window would
    start in day key ``next_key`` or later (``CLOSE_DAY``, and that key). ``svc``: each service's working hours
    (flat, rows x stages, as drawn), ``grid_svc``: each row's at the grid under the allocation (mobile grid
    workers' finds take less). ``pool_of`` (3, rows): each row's
    pool at the grid, the desk and the street office; queues ``qt``/``qc`` (3, capacity): reopened cases
    back at the grid, cases handed to desks, to street offices. ``decided``: the clock time before which the
    grid's new cases are decided (the cases there that are not ``active`` are skipped at once). Returns
    (status, key, qt, qc, closed, log_k, log_s, log_e, log_p): buffers that may have grown. The log holds each
    service started: number, clock start and end, pool.

    Long because it is the whole hot loop in one body, as the pure-Python recursion was (numba inlines the
    heap helpers, and a call per level or per pool kind would pass a dozen arrays each time)."""
    until, shift, day_end, window = fpar[F_UNTIL], fpar[F_SHIFT], fpar[F_DAY_END], fpar[F_WINDOW]
    always_on = ivar[I_ALWAYS_ON] != 0
    incremental = ivar[I_INCREMENTAL] != 0
    reopening = ivar[I_REOPENING] != 0
    next_new = ivar[I_NEXT_NEW]
    n_closed = ivar[I_CLOSED]
    n_log = ivar[I_LOGGED]
    n_new = new_ready.shape[0]
    status, out_key = DONE, -1
    while next_new < n_new and new_ready[next_new] < decided and active[new_case[next_new]] == 0:
        next_new += 1  # a problem nobody found early: its twin comes later
    while True:
        if n_closed > 0:  # the feedback calls of the last window (or of the volunteers' cases, at first)
            qt, qc = _feedback(
                closed,
                n_closed,
                first_close,
                deadline,
                u1,
                u2,
                unsat_x,
                reopen_x,
                sat,
                reopened,
                qt,
                qc,
                qn,
                fpar,
                reopening,
            )
            n_closed = 0
        start = new_ready[next_new] if next_new < n_new else _INF
        for h in range(3):
            if qn[h] > 0 and qt[h, 0] < start:
                start = qt[h, 0]
        if start >= until:
            break
        if incremental:  # a window never crosses into the next day key
            key = day_of(start + shift)
            if key >= next_key:
                status, out_key = CLOSE_DAY, key
                break
            w_end = min(start + window, key * 24.0 + day_end)
        else:
            w_end = start + window
        for lvl in range(3):  # grid, desk, street office: each level's cases in order of readiness
            si = next_new if lvl == 0 else 0
            n_static = n_new if lvl == 0 else 0
            if lvl == 0:
                q_stage, after = _REOPEN, after_grid
            elif lvl == 1:
                q_stage, after = _COMMUNITY, after_comm
            else:
                q_stage, after = _STREET, after_street
            while True:
                has_q = qn[lvl] > 0
                if si < n_static and new_ready[si] < w_end and not (has_q and qt[lvl, 0] < new_ready[si]):
                    ready = new_ready[si]
                    case = new_case[si]
                    stage = _GRID
                    si += 1
                    if active[case] == 0:
                        continue
                elif has_q and qt[lvl, 0] < w_end:
                    ready = qt[lvl, 0]
                    case = qc[lvl, 0]
                    _q_pop(qt, qc, qn, lvl)
                    stage = q_stage
                else:
                    break
                k = case * _NSTAGES + stage
                p = pool_of[lvl, case]
                off = srv_off[p]
                c = const[p]
                if c > 0:  # servers that never change: the earliest free one
                    f = srv[off]
                    t = ready if ready > f else f
                    if t >= until:
                        continue
                elif c < 0:  # servers that change by day: after the last start, when one is free
                    t = last[p]
                    if ready > t:
                        t = ready
                    if t >= until:
                        continue
                    nb = srv_n[p]
                    while nb > 0 and srv[off] <= t:
                        _f_pop(srv, off, nb)
                        nb -= 1
                    key = day_of(t + shift)
                    cap = capk[p, key]
                    if nb >= cap:  # nobody free now
                        if nb == cap and nb > 0 and day_of(srv[off] + shift) == key:
                            t = _f_pop(srv, off, nb)  # the first release is the same day: it frees one
                            nb -= 1
                        else:  # sim.engine._wait_for_server
                            while True:
                                if t >= until:
                                    break
                                kk = day_of(t + shift)
                                if nb < capk[p, kk]:
                                    break
                                release = srv[off] if nb > 0 else _INF
                                more = _more_servers_from(capk, up, p, kk, nb, day_end)
                                if release == _INF and more == _INF:
                                    t = _INF
                                    break
                                if release <= more:
                                    t = release
                                    while nb > 0 and srv[off] <= t:
                                        _f_pop(srv, off, nb)
                                        nb -= 1
                                else:
                                    t = more
                        if t >= until:
                            srv_n[p] = nb
                            last[p] = t
                            continue
                    srv_n[p] = nb
                    last[p] = t
                else:  # nobody, ever
                    continue
                need = grid_svc[case] if stage == _GRID else svc[k]  # the grid's: under the allocation
                if always_on:
                    st[k] = t
                    end = t + need
                else:
                    s, end = _start_and_end(t, need, cal_start, cal_len, cal_cum, wd_cum, wd_start, wd_len, wd_from)
                    st[k] = s
                if n_log == log_k.shape[0]:
                    log_k, log_s, log_e, log_p = _grow(log_k), _grow(log_s), _grow(log_e), _grow(log_p)
                log_k[n_log] = k
                log_s[n_log] = st[k]
                log_e[n_log] = end
                log_p[n_log] = p
                n_log += 1
                if c > 0:  # the earliest free server is this one now
                    _f_sift_down(srv, off, c, 0, end)
                else:  # one more busy server
                    _f_push(srv, off, srv_n[p], end)
                    srv_n[p] += 1
                if end >= until:
                    continue
                en[k] = end
                if stage == _REOPEN:
                    continue
                nxt = after[case]
                if nxt == _CLOSE:
                    first_close[case] = end
                    if n_closed == closed.shape[0]:
                        closed = _grow(closed)
                    closed[n_closed] = case
                    n_closed += 1
                elif nxt == _COMMUNITY or nxt == _STREET:
                    h = 1 if nxt == _COMMUNITY else 2
                    if qn[h] == qt.shape[1]:
                        qt, qc = _q_grow(qt, qc)
                    _q_push(qt, qc, qn, h, end, case)
                else:  # city departments: a delay in working hours, no queue
                    k = case * _NSTAGES + _CITY
                    if always_on:
                        s, end2 = end, end + svc[k]
                    else:
                        s, end2 = _start_and_end(
                            end, svc[k], cal_start, cal_len, cal_cum, wd_cum, wd_start, wd_len, wd_from
                        )
                    st[k] = s
                    if end2 < until:
                        en[k] = end2
                        first_close[case] = end2
                        if n_closed == closed.shape[0]:
                            closed = _grow(closed)
                        closed[n_closed] = case
                        n_closed += 1
            if lvl == 0:
                next_new = si
    ivar[I_NEXT_NEW] = next_new
    ivar[I_CLOSED] = n_closed
    ivar[I_LOGGED] = n_log
    return status, out_key, qt, qc, closed, log_k, log_s, log_e, log_p

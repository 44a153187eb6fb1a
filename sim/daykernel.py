"""The day ledger's loops compiled (``sim.dayledger``): case hours of the days closed, one day of the duty account.

Both give the bits the numpy versions gave: each (pool, day)'s case hours are summed in order of service
number, and the duty account's element-wise minimum, maximum and clip keep numpy's choice between equal
operands (``np.minimum(a, b)`` is ``a if a <= b else b``). Imported when a ledger first closes a day, so that
commands that simulate nothing do not import numba (``sim.jit``).
"""

from __future__ import annotations

import math

import numpy as np

from sim.jit import day_of, floor_steps, njit

__all__ = [
    "close_case_hours",
    "duty_step",
    "step_duty_days",
    "decide_rows",
    "activity_into",
    "working_day_before",
]


@njit(inline="always")
def _to_work(t, day_start, day_len, cum, always_on):
    """``WorkCalendar.to_work_v`` of one time: working hours from time 0 to clock time ``t``."""
    if always_on:
        return t
    day = day_of(t)
    x = t - day_start[day]
    ln = day_len[day]
    return cum[day] + (0.0 if x <= 0 else (ln if x >= ln else x))


@njit
def add_case_hours(bk, bp, bws, bwe, n, k, pool, start, end, day_start, day_len, cum, always_on, last, bound):
    """Append to the buffers (their first ``n`` entries in use; reallocated when full) the services that
    started: number ``k``, ``pool``, working-hour start and end (an end past ``last`` counted to it), those
    that take time and touch a day after ``bound`` (the first day not closed). Returns the buffers and ``n``."""
    if n + k.shape[0] > bk.shape[0]:
        size = max(2 * bk.shape[0], n + k.shape[0])
        nk, npl, nws, nwe = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size), np.empty(size)
        for i in range(n):  # loops, not slice assignment: the same copy, seconds less to compile
            nk[i], npl[i], nws[i], nwe[i] = bk[i], bp[i], bws[i], bwe[i]
        bk, bp, bws, bwe = nk, npl, nws, nwe
    for i in range(k.shape[0]):
        ws = _to_work(start[i], day_start, day_len, cum, always_on)
        e = end[i] if end[i] <= last else last
        we = _to_work(e, day_start, day_len, cum, always_on)
        if not (we >= ws):
            we = ws
        if we > ws and we > bound:
            bk[n], bp[n], bws[n], bwe[n] = k[i], pool[i], ws, we
            n += 1
    return bk, bp, bws, bwe, n


@njit
def close_case_hours(busy, k, pool, ws, we, n, lo, hi, closed, upto, order):
    """Add to ``busy`` (pools x working days) the overlaps of the first ``n`` services (number ``k``, ``pool``,
    working-hour start ``ws`` and end ``we``) with working days ``closed <= i < upto`` (``lo``/``hi``: their
    working-hour bounds); per (pool, day) in order of service number (``order``: the first ``n`` by number).
    Keeps, first in the buffers, the services that still touch a later day; returns how many."""
    for i in order:
        first = np.searchsorted(hi, ws[i], side="right")
        if first < closed:
            first = closed
        last = np.searchsorted(lo, we[i], side="left") - 1
        if last > upto - 1:
            last = upto - 1
        for d in range(first, last + 1):
            a = we[i] if we[i] <= hi[d] else hi[d]
            b = ws[i] if ws[i] >= lo[d] else lo[d]
            busy[pool[i], d] += a - b
    bound = lo[upto] if upto < lo.shape[0] else math.inf
    m = 0
    for i in range(n):
        if we[i] > bound:
            k[m], pool[m], ws[m], we[m] = k[i], pool[i], ws[i], we[i]
            m += 1
    return m


@njit
def duty_step(avail, g, H, O, window, carry, order, n_first, n, done_d, over_d, desk_help):
    """One working day of the duty account (``sim.dayledger.DutyStepper.step``): ``avail`` spare hours per
    pool (used up in place), ``H``/``O`` hours undone and overdue (pools x duties, updated), ``done_d`` and
    ``over_d`` filled with the day's hours done and newly overdue, ``desk_help`` with the grid duty hours desk
    people did."""
    pools = avail.shape[0]
    own_grid = avail[:n].copy()
    left_desk = np.zeros(n)
    for step in range(order.shape[0]):
        j = order[step]
        if step == n_first:  # the desk's spare time joins its community's grid duties
            for c in range(n):
                left_desk[c] = avail[n + c]
                avail[c] += left_desk[c]
                avail[n + c] = 0.0
        for p in range(pools):
            gj = g[p, j]
            h = H[p, j] + gj
            a = avail[p]
            done = h if h <= a else a
            avail[p] = a - done
            h -= done
            o = O[p, j]
            o -= done if done <= o else o
            x = h - gj * (window[j] - 1)
            new_o = o if o >= x else x
            done_d[p, j] = done
            over_d[p, j] = new_o - o
            if carry[j]:
                H[p, j] = h
                O[p, j] = new_o
            else:
                H[p, j] = h - new_o
                O[p, j] = 0.0
    for c in range(n):
        x = own_grid[c] + left_desk[c] - avail[c] - own_grid[c]
        desk_help[c] = x if x >= 0.0 else 0.0


@njit
def step_duty_days(
    first,
    upto,
    busy,
    pools,
    present,
    day_len,
    g,
    H,
    O,
    window,
    carry,
    order,
    n_first,
    n,
    measured,
    sums,
    helped,
    recent,
    mine,
    cols,
):
    """Working days ``first <= i < upto`` of the duty account as ``sim.outcomes.Outcomes`` steps them, each day as
    numpy did it: the spare hours of the pools stepped (``pools``: their rows of ``busy``; ``duties.spare_hours``:
    ``np.maximum(present x day_len - busy, 0.0)``, whose NaN stays and whose -0.0 becomes 0.0), one
    ``duty_step``, the day added to each window's sums where ``measured[w, i]`` (``DutySums.add_day``: ``sums[w]``
    holds due, done and over, ``helped[w]`` the desk's help; due adds ``g x (1.0 or 0.0)``, a duty's tasks due
    once ``i - window + 1 >= 0``), and the finding duties' hours done by the ``mine`` communities stepped into
    the lookback's slot ``i % slots`` of ``recent``."""
    npools, k = H.shape
    avail = np.empty(npools)
    done_d, over_d, desk = np.zeros((npools, k)), np.zeros((npools, k)), np.zeros(n)
    look = recent.shape[0]
    for i in range(first, upto):
        for p in range(npools):
            x = present[p, i] * day_len[i] - busy[pools[p], i]
            avail[p] = 0.0 if x <= 0.0 else x
        duty_step(avail, g, H, O, window, carry, order, n_first, n, done_d, over_d, desk)
        for w in range(measured.shape[0]):
            if not measured[w, i]:
                continue
            for p in range(npools):
                for j in range(k):
                    sums[w, 1, p, j] += done_d[p, j]
                    sums[w, 2, p, j] += over_d[p, j]
                    sums[w, 0, p, j] += g[p, j] * (1.0 if i - window[j] + 1 >= 0 else 0.0)
            for c in range(n):
                helped[w, c] += desk[c]
        slot = i % look
        for c in range(mine):
            for jj in range(cols.shape[0]):
                recent[slot, c, jj] = done_d[c, cols[jj]]


@njit
def pay_fixes(
    rows, comm, cost, to_city, spent, budget, released, limit, paid, funded, unfunded, exhausted, key, ag, ac, a_s
):
    """Pay the day's fixes in order from each community's fund (``sim.outcomes.Outcomes._pay``): a paid fix above
    ``limit`` goes up to the street office for approval; an unpaid one to the city (``to_city``) or closed at its
    level. ``ag``/``ac``/``a_s``: the stage after the grid, the desk, the street office (-1: closed there)."""
    for i in range(rows.shape[0]):
        row, c, x = rows[i], comm[i], cost[i]
        if spent[c] + x <= budget[c] * released:
            spent[c] += x
            paid[row] = x
            funded[row] = 1  # FUNDED
            if x > limit:  # the street office approves it
                _climb(row, False, ag, ac, a_s)
            continue
        unfunded[c] += 1
        if math.isnan(exhausted[c]):
            exhausted[c] = key
        if to_city[i]:
            funded[row] = 2  # UNFUNDED_TO_CITY
            _climb(row, True, ag, ac, a_s)
        else:
            funded[row] = 3  # UNFUNDED_CLOSED


@njit
def decide_rows(rows_k, find, discovery, act, active, pay, fund, released, key, resolve, res):
    """One day key's decisions on its rows (``sim.outcomes.Outcomes._decide``), each step as it was: when ``find``,
    which drawn problems surface late (``found_late``: ``discovery`` holds its arrays after ``rows``, ``act`` is the
    activity); of the rows then active, those that need money paid in order when ``pay`` (``pay_fixes``:
    ``fund`` holds, per row, whether it needs money, its community, its fix's cost and whether an unpaid fix goes
    to the city, then ``pay_fixes``' arrays after ``to_city``); their resolution and feedback extras when
    ``resolve`` (``resolve_rows``: ``res`` holds its arguments after ``live``)."""
    twin_of, twin, community, category, cum_finds, u_find, u_done = discovery
    needs_money, comm, cost, to_city, spent, budget, limit, paid, funded, unfunded, exhausted, ag, ac, a_s = fund
    if find:
        found_late(rows_k, twin_of, twin, community, category, cum_finds, u_find, u_done, act, active)
    live = np.empty(rows_k.shape[0], np.int64)
    m = 0
    for i in range(rows_k.shape[0]):
        if active[rows_k[i]] == 1:
            live[m] = rows_k[i]
            m += 1
    if m == 0:
        return
    live = live[:m]
    if pay:
        rows_m = np.empty(m, np.int64)
        n_pay = 0
        for i in range(m):
            if needs_money[live[i]]:
                rows_m[n_pay] = live[i]
                n_pay += 1
        if n_pay:
            rows_m = rows_m[:n_pay]
            pay_fixes(
                rows_m, comm[rows_m], cost[rows_m], to_city[rows_m], spent, budget, released, limit, paid, funded,
                unfunded, exhausted, key, ag, ac, a_s,
            )  # fmt: skip
    if resolve:
        resolve_rows(live, *res)


@njit(inline="always")
def _climb(row, city, ag, ac, a_s):
    """Send a case at least up to the street office, or city departments."""
    if ag[row] == -1:
        ag[row] = 1
    if ac[row] == -1:
        ac[row] = 2
    if city and a_s[row] == -1:
        a_s[row] = 3


@njit
def activity_into(act, comm, recent, due_per_day, recent_days):
    """``Outcomes.activity``'s arithmetic, written into ``act`` (communities x finding duties) at the rows
    ``comm``: the hours done over the lookback (``recent``, slots x stepped communities x duties, summed slot
    after slot onto 0, as numpy sums axis 0 of more than one cell: the caller keeps numpy for a single cell, which
    numpy sums pairwise) over the hours due then (``due_per_day x recent_days``), at
    most 1; 1 where nothing is due."""
    look, m, k = recent.shape
    for i in range(m):
        for j in range(k):
            due = due_per_day[i, j] * recent_days
            if due > 0:
                s = 0.0  # numpy's sum starts from its identity (a sum of -0.0s is 0.0)
                for d in range(look):
                    s += recent[d, i, j]
                x = s / due
                act[comm[i], j] = 1.0 if x >= 1.0 else x  # np.minimum(1.0, x): NaN stays NaN
            else:
                act[comm[i], j] = 1.0


@njit
def found_late(rows, twin_of, twin, community, category, cum_finds, u_find, u_done, act, active):
    """Of a day's rows, each drawn problem a duty would find (it has a twin) is found early when its duty was done
    lately (``u_done < act[community, duty]``, the duty the first ``j`` with ``u_find < cum_finds[category, j]``,
    as ``argmax``); else it surfaces late: the row is not active, its twin is (``Outcomes._decide``)."""
    for i in range(rows.shape[0]):
        row = rows[i]
        if twin_of[row] >= 0 or twin[row] < 0:
            continue
        u = np.float64(u_find[row])
        c = category[row]
        j = 0
        for jj in range(cum_finds.shape[1]):
            if u < cum_finds[c, jj]:
                j = jj
                break
        if np.float64(u_done[row]) >= act[community[row], j]:
            active[row] = 0
            active[twin[row]] = 1


@njit
def resolve_rows(
    live, a_s, ac, ag, res, category, funded, unfunded_share, twin_of, res_factor, u_res, fpar, resolved, unsat, reopen
):
    """Whether each live row's problem will be resolved at closure (``resolved``), and its feedback extras
    (``unsat``, ``reopen``): ``Outcomes._resolve``, row by row. ``res`` (categories x closing level);
    ``unfunded_share`` (NaN: no fund) for a fix closed unpaid; ``res_factor`` (NaN: no discovery) for a problem
    found late; ``fpar``: the unsatisfied and reopen extras when unresolved, the unsatisfied extra when found
    late."""
    unsat_unres, reopen_unres, unsat_late = fpar[0], fpar[1], fpar[2]
    for i in range(live.shape[0]):
        row = live[i]
        level = 3 if a_s[row] != -1 else (2 if ac[row] != -1 else (1 if ag[row] != -1 else 0))
        p = res[category[row], level]
        if not math.isnan(unfunded_share) and funded[row] == 3:  # UNFUNDED_CLOSED
            p = unfunded_share
        late = twin_of[row] >= 0
        if not math.isnan(res_factor) and late:
            p = p * res_factor
        ok = np.float64(u_res[row]) < p
        extra = 0.0 if ok else unsat_unres
        if not math.isnan(res_factor):
            extra = extra + (unsat_late if late else 0.0)
        resolved[row] = ok
        unsat[row] = extra
        reopen[row] = 0.0 if ok else reopen_unres


@njit
def to_work_many(t, day_start, day_len, cum):
    """``WorkCalendar.to_work_v`` of a working calendar, time by time (NaN stays NaN)."""
    out = np.empty(t.shape[0])
    for i in range(t.shape[0]):
        out[i] = t[i] if math.isnan(t[i]) else _to_work(t[i], day_start, day_len, cum, False)
    return out


@njit
def working_day_before(w, day_hours, n):
    """``max(np.searchsorted(day_hours * np.arange(n), w, side="left") - 1, 0)``: per working-hour time, the working
    day it falls in (a day's end belongs to that day), for ``n`` working days of ``day_hours`` each whose sums
    are exact (``WorkCalendar._uniform_day``); NaN and times past the last day: the last. With 24-hour steps and
    ``n + 1`` of them, the backlog's first day end at or after each time (``sim.kpis.backlog``)."""
    out = np.empty(w.shape[0], np.int64)
    for i in range(w.shape[0]):
        v = w[i]
        if math.isnan(v) or v > day_hours * (n - 1):
            c = n  # every day starts before it
        elif v <= 0.0:
            c = 0
        else:
            q = int(floor_steps(v, day_hours))
            c = q if q * day_hours == v else q + 1  # the days starting before v: 0 .. ceil(v / day_hours) - 1
        out[i] = c - 1 if c > 0 else 0
    return out

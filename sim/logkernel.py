"""The case log's passes compiled (``sim.caselog``): each stage's start and end of the cases kept, and their
response, in one pass each instead of a fancy index of a (cases, stages) array and a dozen numpy passes.

The same bits as the numpy expressions they replace: values are copied, not computed; the working hours are
``WorkCalendar.to_work_v``'s arithmetic (``sim.daykernel``); ``np.maximum(x, 0.0)`` keeps ``x`` where
``x >= 0.0`` (or is NaN), as numpy's does. Imported when a log is first made, so that commands that make none
do not import numba (``sim.jit``).
"""

from __future__ import annotations

import math

import numpy as np

from sim.daykernel import _to_work
from sim.jit import njit

__all__ = ["stage_columns", "response_hours", "waits", "late_levels", "flag_matrix"]

_GRID, _COMMUNITY, _STREET, _CITY = 0, 1, 2, 3


@njit
def stage_columns(start, end, keep):
    """Of the rows ``keep`` of ``start`` and ``end`` (rows x stages): a (2 x stages, kept) array, each stage's
    starts then each stage's ends, every column contiguous; and each kept row's highest level reached (a city
    stage started or ended: 3; else the first of street office, desk with a start; else the grid)."""
    m, k = keep.shape[0], start.shape[1]
    out = np.empty((2 * k, m))
    reached = np.empty(m, np.int8)
    for i in range(m):
        r = keep[i]
        for j in range(k):
            out[j, i] = start[r, j]
            out[k + j, i] = end[r, j]
        if not (math.isnan(start[r, _CITY]) and math.isnan(end[r, _CITY])):
            reached[i] = _CITY
        elif not math.isnan(start[r, _STREET]):
            reached[i] = _STREET
        elif not math.isnan(start[r, _COMMUNITY]):
            reached[i] = _COMMUNITY
        else:
            reached[i] = _GRID
    return out, reached


@njit
def response_hours(arrival, grid_start, volunteer, category, limit_by_category, day_start, day_len, cum, always_on):
    """Per case: working hours from arrival to first contact (the grid's start; a volunteer's at arrival; NaN
    where the grid never started), at least 0; and 1.0 where that is within its category's limit, 0.0 where
    not (never reached: not), NaN where the category has no limit (``limit_by_category`` NaN)."""
    n = arrival.shape[0]
    response = np.empty(n)
    in_time = np.empty(n)
    for i in range(n):
        first = arrival[i] if volunteer[i] else grid_start[i]
        if math.isnan(first) or math.isnan(arrival[i]):  # numpy's difference: NaN
            d = math.nan
        else:
            d = _to_work(first, day_start, day_len, cum, always_on) - _to_work(
                arrival[i], day_start, day_len, cum, always_on
            )
            if not (d >= 0.0 or math.isnan(d)):
                d = 0.0
        response[i] = d
        lim = limit_by_category[category[i]]
        in_time[i] = math.nan if math.isnan(lim) else (1.0 if d <= lim else 0.0)
    return response, in_time


@njit
def waits(start, ready, measured, day_start, day_len, cum, always_on):
    """The working hours each measured case waited at a level (``sim.kpis.waiting_kpis``): from ``ready`` to
    ``start`` where both are known, at least 0, in case order (the array numpy's passes made: its mean is
    theirs)."""
    n = 0
    for i in range(start.shape[0]):
        if measured[i] and not math.isnan(start[i]) and not math.isnan(ready[i]):
            n += 1
    out = np.empty(n)
    m = 0
    for i in range(start.shape[0]):
        if measured[i] and not math.isnan(start[i]) and not math.isnan(ready[i]):
            w = _to_work(start[i], day_start, day_len, cum, always_on) - _to_work(
                ready[i], day_start, day_len, cum, always_on
            )
            out[m] = w if (w >= 0.0 or math.isnan(w)) else 0.0
            m += 1
    return out


_BIG = 1.7976931348623157e308  # np.nan_to_num's stand-in for an infinity


@njit(inline="always")
def _still_there(x):
    """``np.nan_to_num(x, nan=np.inf)``: not ended (NaN) is never; an infinity becomes the largest float."""
    if math.isnan(x):
        return math.inf
    if x == math.inf:
        return _BIG
    if x == -math.inf:
        return -_BIG
    return x


@njit
def late_levels(deadline, on_time, grid_end, desk_end, street_end, first_close, reached):
    """``sim.kpis.late_level``'s passes in one: per case where it was when its deadline passed (0 grid, 1 desk,
    2 street office, 3 city, 4 reopened after closing in time; a stage not reached counts as passed), -1 if on
    time."""
    n = deadline.shape[0]
    out = np.empty(n, np.int64)
    for i in range(n):
        if on_time[i]:
            out[i] = -1
            continue
        d = deadline[i]
        if d < _still_there(grid_end[i]):
            level = 0
        elif d < _still_there(desk_end[i]):
            level = 1
        elif d < _still_there(street_end[i]):
            level = 2
        elif d < _still_there(first_close[i]):
            level = 3
        else:
            level = 4
        if level >= 1 and level <= 3 and reached[i] < level:
            level = 4
        out[i] = level
    return out


@njit
def flag_matrix(
    keep,
    on_time,
    closed_hours,
    horizon,
    satisfied,
    reopened,
    reached,
    volunteer,
    mobile,
    resolved,
    found_late,
    fund_status,
    late,
    responded,
    n_levels,
):
    """(kept cases, flags) of 0/1, a row per kept case, the columns of ``sim.kpis.FLAG_NAMES`` (the flags
    ``groups_kpis`` worked out with numpy: open at the horizon is NaN or after it, reached the desk is
    ``reached >= 1``, unfunded is ``fund_status >= 2``, late at level ``L`` is ``late == L``, responded is a
    response flag of 1 (NaN: 0), has a limit is a flag that is not NaN); and how many response flags are neither
    0, 1 nor NaN."""
    m = 0
    for i in range(keep.shape[0]):
        if keep[i]:
            m += 1
    out = np.zeros((m, 13 + n_levels + 2), np.uint8)
    bad = 0
    r = 0
    for i in range(keep.shape[0]):
        if not keep[i]:
            continue
        c = closed_hours[i]
        lt = late[i]
        x = responded[i]
        out[r, 0] = on_time[i]
        out[r, 1] = math.isnan(c) or c > horizon
        out[r, 2] = satisfied[i]
        out[r, 3] = reopened[i]
        out[r, 4] = reached[i] >= 1
        out[r, 5] = reached[i] >= 2
        out[r, 6] = reached[i] >= 3
        out[r, 7] = volunteer[i]
        out[r, 8] = mobile[i]
        out[r, 9] = resolved[i]
        out[r, 10] = found_late[i]
        out[r, 11] = fund_status[i] >= 2
        out[r, 12] = lt >= 0
        if 0 <= lt < n_levels:
            out[r, 13 + lt] = 1
        out[r, 13 + n_levels] = (0.0 if math.isnan(x) else x) == 1.0
        out[r, 14 + n_levels] = not math.isnan(x)
        if not math.isnan(x) and x != 0.0 and x != 1.0:
            bad += 1
        r += 1
    return out, bad

"""Working time: conversion between clock hours and cumulative working hours.

Simulation time is in clock hours from midnight of day 0. Service times and
deadlines are in working hours: a job that needs 2 working hours and starts at
16:30 on a Friday (day ends 17:30) finishes at 9:30 on Monday.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from scenario.spec import CalendarSpec

__all__ = ["WorkCalendar"]


class WorkCalendar:
    """Piecewise-linear map between clock hours ``t`` and working hours ``w``.

    ``always_on`` calendars (24 hours, 7 days) map identically and skip all work.
    Days beyond the horizon repeat the weekly pattern; the calendar ends with a working day, so any time
    before its last day (where the engines stop) maps to a working instant at or after it.
    """

    def __init__(self, spec: CalendarSpec, horizon_days: int | None = None, always_on: bool = False):
        self.always_on = always_on or (
            spec.day_start_hour == 0 and spec.day_end_hour == 24 and len(set(spec.working_weekdays)) == 7
        )
        days = (horizon_days or spec.days) + 400  # room for work spilling past the horizon
        # The engines stop a day before the calendar ends (``horizon_hours - 24``): the last day must be a
        # working day, or a time after the last working day would map to an instant before it.
        while (spec.start_weekday + days - 1) % 7 not in spec.working_weekdays:
            days += 1
        d = np.arange(days)
        weekday = (spec.start_weekday + d) % 7
        works = np.isin(weekday, spec.working_weekdays)
        self.day_start = d * 24.0 + spec.day_start_hour
        length = np.where(works, spec.day_end_hour - spec.day_start_hour, 0.0)
        self.day_len = length
        self.cum = np.concatenate([[0.0], np.cumsum(length)])  # working hours before day d
        self._start_l = self.day_start.tolist()
        self._len_l = length.tolist()
        self._cum_l = self.cum.tolist()
        # Working days only, for the inverse map.
        wd = np.flatnonzero(works)
        self.wd_index = wd  # calendar indices of the working days (the inverse map and the compiled engine)
        self._wd_cum = self.cum[wd].tolist()
        self._wd_start = self.day_start[wd].tolist()
        self._wd_len = length[wd].tolist()
        self.horizon_hours = days * 24.0
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # ``day_arrays``, once made
        self._uniform: bool | None = None  # ``_uniform_day``, once known

    # scalar versions (used inside the event loop) ------------------------------------
    def to_work(self, t: float) -> float:
        """Working hours elapsed from time 0 to clock time ``t``."""
        if self.always_on:
            return t
        day = int(t // 24.0)
        x = t - self._start_l[day]
        ln = self._len_l[day]
        return self._cum_l[day] + (0.0 if x <= 0 else (ln if x >= ln else x))

    def from_work(self, w: float) -> float:
        """Earliest clock time at which ``w`` working hours have elapsed (within a working day)."""
        if self.always_on:
            return w
        k = bisect_right(self._wd_cum, w) - 1
        if k < 0:
            k = 0
        # w exactly at the end of day k equals start of day k+1: prefer the end of day k
        # (a job finishing at 17:30 finishes then, not at 8:30 next day).
        off = w - self._wd_cum[k]
        if off == 0.0 and k > 0 and w > 0:
            return self._wd_start[k - 1] + self._wd_len[k - 1]
        return self._wd_start[k] + off

    def start_at(self, t: float) -> float:
        """The first working instant at or after clock time ``t``."""
        if self.always_on:
            return t
        w = self.to_work(t)
        k = bisect_right(self._wd_cum, w) - 1
        return self._wd_start[k] + (w - self._wd_cum[k])

    def start_and_end(self, t: float, hours: float) -> tuple[float, float]:
        """(start_at(t), add(start_at(t), hours)) with one conversion: the engines' hot path.

        ``to_work`` and ``from_work`` written out (the same arithmetic, so the same bits): two method calls
        fewer per service."""
        if self.always_on:
            return t, t + hours
        day = int(t // 24.0)
        x = t - self._start_l[day]
        ln = self._len_l[day]
        w = self._cum_l[day] + (0.0 if x <= 0 else (ln if x >= ln else x))
        wd_cum, wd_start = self._wd_cum, self._wd_start
        k = bisect_right(wd_cum, w) - 1
        start = wd_start[k] + (w - wd_cum[k])
        w += hours
        k = bisect_right(wd_cum, w) - 1
        if k < 0:
            k = 0
        off = w - wd_cum[k]
        if off == 0.0 and k > 0 and w > 0:
            return start, wd_start[k - 1] + self._wd_len[k - 1]
        return start, wd_start[k] + off

    def add(self, t: float, hours: float) -> float:
        """Clock time when a job needing ``hours`` of work, ready at ``t``, finishes."""
        if self.always_on:
            return t + hours
        return self.from_work(self.to_work(t) + hours)

    # vectorised versions ------------------------------------------------------------
    def to_work_v(self, t: np.ndarray) -> np.ndarray:
        """``to_work`` of many times (compiled: ``sim.daykernel.to_work_many``, the same arithmetic as
        ``cum[day] + clip(t - day_start[day], 0, day_len[day])``)."""
        if self.always_on:
            return np.asarray(t, dtype=float)
        from sim.daykernel import to_work_many

        a = np.asarray(t, dtype=np.float64)
        return to_work_many(np.ascontiguousarray(a.ravel()), *self.day_arrays()).reshape(a.shape)

    def day_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``day_start``, ``day_len`` and ``cum`` as the compiled loops take them (contiguous float64), made once."""
        if self._arrays is None:
            f = np.float64
            self._arrays = (
                np.ascontiguousarray(self.day_start, dtype=f),
                np.ascontiguousarray(self.day_len, dtype=f),
                np.ascontiguousarray(self.cum, dtype=f),
            )
        return self._arrays

    def from_work_v(self, w: np.ndarray) -> np.ndarray:
        if self.always_on:
            return np.asarray(w, dtype=float)
        wd_cum = np.asarray(self._wd_cum)
        # side="left" picks the earlier day when w sits exactly on a boundary (end of that day)
        a = np.asarray(w, dtype=np.float64)
        if self._uniform_day() and a.ndim == 1:  # working days all alike: the day by arithmetic, the same day
            from sim.daykernel import working_day_before

            k = working_day_before(np.ascontiguousarray(a), wd_cum[1] if len(wd_cum) > 1 else 1.0, len(wd_cum))
        else:
            k = np.maximum(np.searchsorted(wd_cum, a, side="left") - 1, 0)
        return np.asarray(self._wd_start)[k] + (a - wd_cum[k])

    def _uniform_day(self) -> bool:
        """Whether the working days' cumulative hours are ``L * j`` as computed (every working day ``L`` hours long,
        their sums exact): the day of a working-hour time is then found by arithmetic (``from_work_v``)."""
        if self._uniform is None:
            wd_cum = np.asarray(self._wd_cum)
            ok = len(wd_cum) > 1 and wd_cum[1] > 0
            self._uniform = bool(ok and np.array_equal(wd_cum, wd_cum[1] * np.arange(len(wd_cum))))
        return self._uniform

    def add_v(self, t: np.ndarray, hours: np.ndarray) -> np.ndarray:
        return self.from_work_v(self.to_work_v(t) + hours)

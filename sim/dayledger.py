"""Day by day: the case hours each pool spent and the duties its people did with the rest.

Both engines keep a ``CaseHours`` as they go and close each working day once every service that touches it
has started (at the next day's boundary): a pool's case hours of a day are the overlaps of its services with
the day, summed in one order (by service number) whatever order the engine started them in, so the two
engines give the same bits. ``DutyStepper`` then works one day of the duty account (``sim.duties``): the
simulation reads it while it runs (``sim.outcomes``: a duty left undone means problems found late) and
``sim.duties.account_duties`` replays it after the run for the KPIs, with the same arithmetic.
"""

from __future__ import annotations

import numpy as np

from sim.calendar import WorkCalendar

__all__ = ["CaseHours", "DutyStepper", "working_days"]


def working_days(cal: WorkCalendar, days: int) -> np.ndarray:
    """Calendar indices of the run's working days."""
    return np.flatnonzero(cal.day_len[:days] > 0)


class CaseHours:
    """Case handling hours per pool and working day of the run (``busy``: pools x working days).

    ``add`` takes services as they start (flat number ``case * stages + stage``, pool, clock start and end);
    ``close(upto)`` accounts every working day before working-day index ``upto``: call it only when every
    service touching those days has been added.
    """

    def __init__(self, cal: WorkCalendar, days: int, n_pools: int) -> None:
        self.cal = cal
        wd = working_days(cal, days)
        self.lo = cal.cum[wd]
        self.hi = self.lo + cal.day_len[wd]
        self.busy = np.zeros((n_pools, len(wd)))
        self.closed = 0  # working days accounted
        # services still touching a day not closed: the first ``_n`` of these buffers
        self._k = np.zeros(1024, np.int64)
        self._pool = np.zeros(1024, np.int64)
        self._ws = np.zeros(1024)
        self._we = np.zeros(1024)
        self._n = 0
        self._cal = (
            np.ascontiguousarray(cal.day_start, dtype=np.float64),
            np.ascontiguousarray(cal.day_len, dtype=np.float64),
            np.ascontiguousarray(cal.cum, dtype=np.float64),
        )

    @property
    def n_days(self) -> int:
        return len(self.lo)

    def add(self, k: np.ndarray, pool: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        """Services that started (clock hours; an end past the calendar's last day counts to its end)."""
        if len(k) == 0:
            return
        from sim.daykernel import add_case_hours

        bound = self.lo[self.closed] if self.closed < self.n_days else np.inf
        self._k, self._pool, self._ws, self._we, self._n = add_case_hours(
            self._k,
            self._pool,
            self._ws,
            self._we,
            self._n,
            np.ascontiguousarray(k, dtype=np.int64),
            np.ascontiguousarray(pool, dtype=np.int64),
            np.ascontiguousarray(start, dtype=np.float64),
            np.ascontiguousarray(end, dtype=np.float64),
            *self._cal,
            self.cal.always_on,
            self.cal.horizon_hours - 1e-9,
            float(bound),
        )

    def close(self, upto: int) -> None:
        """Account working days ``closed <= i < upto``."""
        upto = min(upto, self.n_days)
        if upto <= self.closed:
            return
        from sim.daykernel import close_case_hours

        k = self._k[: self._n]  # service numbers, each once: any sort gives one order (here, not compiled)
        order = np.arange(self._n) if (k[1:] >= k[:-1]).all() else np.argsort(k, kind="stable")
        self._n = close_case_hours(
            self.busy, self._k, self._pool, self._ws, self._we, self._n, self.lo, self.hi, self.closed, upto, order
        )
        self.closed = upto


class DutyStepper:
    """The duty account, one working day at a time (``sim.duties`` states the rule).

    ``g`` (pools x duties): each duty's hours per working day; ``window``: days a task may wait; ``carry``:
    whether undone tasks stay in the backlog; ``order``: the duties in the order they are worked, desk and
    street duties (the first ``n_first``) before the desk's spare time joins its community's grid duties;
    ``n`` communities (pools are grid pools, desks, street offices).
    """

    def __init__(
        self, g: np.ndarray, window: np.ndarray, carry: list[bool], order: np.ndarray, n_first: int, n: int
    ) -> None:
        self.g = np.ascontiguousarray(g, dtype=np.float64)
        self.window = np.ascontiguousarray(window, dtype=np.float64)
        self.carry = np.array(carry, dtype=np.bool_)
        self.order = np.ascontiguousarray(order, dtype=np.int64)
        self.n_first, self.n = n_first, n
        pools, k = g.shape
        self.H = np.zeros((pools, k))  # hours undone
        self.O = np.zeros((pools, k))  # of which overdue
        self.day = 0

    def step(self, avail: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Work one day with ``avail`` spare hours per pool. Returns hours done and newly overdue (pools x
        duties), whether each duty's first tasks are due by now, and grid duty hours done by desk people."""
        from sim.daykernel import duty_step

        a = np.array(avail, dtype=np.float64)  # a copy: used up in place
        done_d, over_d, desk_help = np.zeros_like(self.H), np.zeros_like(self.H), np.zeros(self.n)
        duty_step(
            a,
            self.g,
            self.H,
            self.O,
            self.window,
            self.carry,
            self.order,
            self.n_first,
            self.n,
            done_d,
            over_d,
            desk_help,
        )
        due_now = self.day - self.window + 1 >= 0
        self.day += 1
        return done_d, over_d, due_now, desk_help

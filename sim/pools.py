"""What both engines share: the inputs of a run, the servers of each pool by day, and one tie rule.

Pools are ordered grid pools (one per community), desks, street offices. A pool's servers are the people
present that day who take cases; a clock time belongs to the day whose working hours come next (its
*day key*). Simultaneous events follow one rule in both engines: every release and every hand-over at an
instant happens before any pool takes its next case at that instant, pools take their next cases level by
level (grid, desk, street office: a service too short to move the clock hands its case on within the
instant), and a pool takes its waiting cases in order of (ready time, a new case before a passed-on one,
case number). Times are compared exactly: the event loop queues each event at its exact time.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, MutableSequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.routing import N_STAGES, Stage

__all__ = [
    "CaseRecord",
    "RunInputs",
    "capacity_by_key",
    "capacity_by_key_array",
    "after_horizon",
    "next_greater",
    "more_servers_from",
    "day_key_shift",
    "collector_paused",
    "staff_cases_in_order",
    "close_volunteer_cases",
]


@dataclass(frozen=True)
class RunInputs:
    """What both engines start from, once the allocation is applied to the cases."""

    arrival: np.ndarray  # per case: clock hours (mobile grid workers may find a case earlier)
    channel: np.ndarray  # per case: the channel it came in by (mobile grid workers may take it over)
    grid_service: np.ndarray  # per case: grid service hours under this allocation
    deadline: np.ndarray  # per case: clock hours
    people: np.ndarray  # per pool
    present: np.ndarray  # (pools, days)
    case_servers: np.ndarray  # (pools, days)


class CaseRecord(NamedTuple):
    """What an engine returns: per row and stage, service start and end (clock hours, NaN: not reached);
    closures and the first feedback call."""

    start: np.ndarray
    end: np.ndarray
    first_close: np.ndarray
    final_close: np.ndarray
    satisfied: np.ndarray
    reopened: np.ndarray
    events: int


def staff_cases_in_order(volunteer: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    """The cases staff handle (volunteers' excluded), in order of arrival (a tie keeps case-number order)."""
    from sim.arrivalorder import arrival_order

    order = arrival_order(arrival)  # np.argsort(arrival, kind="stable"), in linear time
    return order[~volunteer[order]]


def close_volunteer_cases(
    volunteer: np.ndarray,
    arrival: np.ndarray,
    handling_hours: float,
    start: MutableSequence[float],
    end: MutableSequence[float],
    close: Callable[[int, float], None],
) -> None:
    """Volunteers take no server: each of their cases is at its grid stage from arrival to arrival +
    ``handling_hours`` (``start``/``end``: flat per case and stage) and then closed by ``close(case, time)``,
    the engine's feedback call, which may reopen it."""
    grid = int(Stage.GRID)
    for i in np.flatnonzero(volunteer).tolist():
        t = arrival[i] + handling_hours
        start[i * N_STAGES + grid] = arrival[i]
        end[i * N_STAGES + grid] = t
        close(i, t)


def day_key_shift(always_on: bool, day_end_hour: float) -> tuple[float, float]:
    """(shift, day_end): a clock time ``t`` has day key ``int((t + shift) // 24)``, the working day whose
    working hours come next; day key ``k`` begins at ``(k - 1) * 24 + day_end``."""
    return (0.0, 24.0) if always_on else (24.0 - day_end_hour, day_end_hour)


def after_horizon(case_servers: np.ndarray, people: np.ndarray, working: np.ndarray) -> np.ndarray:
    """Per pool, the case servers of every day past the simulated days: the median of its working days'
    (the lower one of an even count), so that the cases still open at the horizon are finished by the staff
    of a usual day, with its leave and duties, not by everybody (everybody without a working day)."""
    if not working.any():
        return people.astype(np.int64)
    return np.percentile(case_servers[:, working], 50, axis=1, method="lower").astype(np.int64)


def capacity_by_key(case_servers: np.ndarray, people: np.ndarray, working: np.ndarray, total_days: int) -> list:
    """Per pool, case servers for each day key: the next working day's; past the horizon ``after_horizon``."""
    return capacity_by_key_array(case_servers, people, working, total_days).tolist()


def capacity_by_key_array(
    case_servers: np.ndarray, people: np.ndarray, working: np.ndarray, total_days: int
) -> np.ndarray:
    """``capacity_by_key`` as an int64 array (pools x day keys)."""
    days = case_servers.shape[1]
    idx = np.arange(days)
    nxt = np.where(working, idx, days)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]  # next working day at or after each day
    after = after_horizon(case_servers, people, working)
    full = np.concatenate([case_servers, after[:, None]], axis=1)  # column ``days``: beyond the horizon
    cap = full[:, nxt]
    pad = np.repeat(after[:, None], total_days - days + 1, axis=1)
    return np.ascontiguousarray(np.concatenate([cap, pad], axis=1), dtype=np.int64)


def next_greater(capk: list[int]) -> list[int] | None:
    """For each day key, the next key with more servers (-1: none); None when the servers never change."""
    if min(capk) == max(capk):
        return None
    out = [-1] * len(capk)
    stack: list[int] = []
    for k, c in enumerate(capk):
        while stack and capk[stack[-1]] < c:
            out[stack.pop()] = k
        stack.append(k)
    return out


def more_servers_from(capk: list[int], up: list[int] | None, key: int, busy: int, day_end: float) -> float:
    """The clock time at which the first day key after ``key`` with more than ``busy`` servers begins
    (inf: none). ``up`` is ``next_greater(capk)``."""
    if up is None:
        return math.inf
    k = up[key]
    while k >= 0 and capk[k] <= busy:
        k = up[k]
    return (k - 1) * 24.0 + day_end if k >= 0 else math.inf


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off while a loop runs, on again after.

    The loops create millions of short-lived acyclic objects (events, heap entries) next to long lists of
    per-case values; the cyclic collector would traverse those lists again and again for nothing (27% of a
    Weihai year's event loop, 45% of a megacity district). Reference counting frees everything the loops drop.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

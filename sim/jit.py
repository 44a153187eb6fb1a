"""numba's ``njit`` for the compiled loops (``sim.kernel``, ``sim.ledger``), or the interpreter where numba is missing.

The loops are written for numba (scalar arithmetic over numpy arrays, no fastmath: every operation is the
IEEE operation Python's floats do, so compiled and interpreted give the same bits). Without numba
``njit`` returns the function unchanged: the same results, tens of times slower, with one warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["njit", "HAVE_NUMBA", "day_of", "floor_steps"]

logger = logging.getLogger(__name__)

_numba_njit: Any
try:
    from numba import njit as _numba_njit
except ImportError:  # pragma: no cover - numba is a dependency; tested by hiding it (tests/test_kernel.py)
    _numba_njit = None

HAVE_NUMBA = _numba_njit is not None
_warned = False


def njit(func: Callable | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True, **options)``, or ``func`` itself without numba. Use as ``@njit`` or
    ``@njit(inline="always")``."""
    if func is None:
        return lambda f: njit(f, **options)
    if _numba_njit is not None:
        return _numba_njit(cache=True, **options)(func)
    global _warned
    if not _warned:
        _warned = True
        logger.warning("numba is not installed: the simulation's loops run in the interpreter (tens of times slower)")
    return func


@njit(inline="always")
def floor_steps(x: float, step: float) -> float:
    """``x // step`` as a float (Python's floor division) without the remainder numba's ``//`` works out first
    (``fmod``: about 6 ns a call): the quotient's floor, moved by one where its rounding crossed a whole step
    (for steps whose multiples are exact: 24 hours, a working day of 9 or 8.5 hours). For a finite ``x``. Inlined
    in loops cached by their own files, as ``day_of``: a change here needs their caches cleared."""
    q = np.floor(x / step)  # a float, compiled or not (math.floor gives an int)
    if q * step > x:
        q -= 1.0
    elif (q + 1.0) * step <= x:
        q += 1.0
    return q


@njit(inline="always")
def day_of(hours: float) -> int:
    """``int(hours // 24.0)`` (the day a clock time falls in, Python's floor division to the bit) without the
    remainder numba's ``//`` works out first (``fmod``: about 6 ns a call, most of a per-case step): the quotient's
    floor, moved by one where the rounding of ``hours / 24`` crossed a whole day (``q * 24`` is exact for any day
    count a run has). For a finite ``hours``; the loops call it on times before the horizon. The compiled loops
    that inline it are cached by their own file: a change here needs their caches cleared."""
    return int(floor_steps(hours, 24.0))

"""Plausible upper bounds of run values, shared by the command line and the Python API.

A typo such as ``days=10**9`` must give one clear error, not exhaust the machine's memory. (The scenario's
own numbers are bounded in ``scenario.spec``.)
"""

from __future__ import annotations

import math
from numbers import Real

MAX_SEED = 2**32 - 1
MAX_DAYS = 3_660
MAX_REPS = 10_000
MAX_PROCESSES = 1_024
MAX_BUDGET_YUAN = 1e13
MAX_SWEEP_POINTS = 200
MAX_PLAN_YEARS = 30  # a plan's years (a medium-term budget is 3; a long view 10 to 30)


def check_whole(name: str, value: object, low: int, high: int, unit: str = "") -> int:
    """``value`` as an int in [low, high]; ValueError naming ``name``, the bounds and the value otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a whole number, found {value!r}")
    f = float(value)
    if not math.isfinite(f) or f != math.floor(f):
        raise ValueError(f"{name} must be a whole number, found {value!r}")
    v = int(f)
    shown = f"{v:,}" if abs(f) < 1e15 else f"{f:g}"
    if v < low:
        raise ValueError(f"{name} must be >= {low:,}{unit}, found {shown}")
    if v > high:
        raise ValueError(f"{name} must be <= {high:,}{unit} (a plausible upper bound), found {shown}")
    return v


def check_budget(name: str, value: object) -> float:
    """A finite budget in yuan in [0, MAX_BUDGET_YUAN]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number of yuan, found {value!r}")
    v = float(value)
    if not 0 <= v <= MAX_BUDGET_YUAN:
        shown = f"{v:,.0f}" if abs(v) < 1e15 else f"{v:g}"
        raise ValueError(f"{name} must be in [0, {MAX_BUDGET_YUAN:,.0f}] yuan, found {shown}")
    return v

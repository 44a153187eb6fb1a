"""What the desk's callbacks accept: every value a page sends, checked as the command line checks it.

A page sends its controls' values as JSON, and anyone who can reach the desk can send other values
(a forged request: an objective "bogus", a budget "abc", null, Infinity or 1e300, replications
Infinity, a table that is a string). Each function here turns one value into what the desk uses, or
raises ``GridplanError`` with one line naming the control, the rule and the value, which the page
shows; numbers are bounded by the command line's limits (``gridplan.limits``).
"""

from __future__ import annotations

import math
from numbers import Real

from gridplan.limits import check_budget, check_whole
from scenario.errors import GridplanError
from solvers.names import OBJECTIVES

__all__ = ["session_id", "job_id", "run_values", "budget_yuan", "objective", "stored_result", "proposal"]

MAX_SESSION_CHARS = 64
MAX_REPS = 20  # a short simulation from the page: at most 20 replications of at most 366 days
MAX_DAYS = 366


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def session_id(value: object) -> str:
    """The page's session id (a text the page was given)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SESSION_CHARS:
        raise GridplanError("this page's session is not valid; reload the page")
    return value


def job_id(value: object) -> str | None:
    """A job id the page keeps (None: no job)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_SESSION_CHARS:
        raise GridplanError("this page's simulation is not valid; reload the page")
    return value


def _whole(name: str, value: object, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        return check_whole(name, value, low, high)
    except ValueError as exc:
        raise GridplanError(str(exc)) from None


def run_values(reps: object, days: object, warmup_days: int, calendar_days: int) -> tuple[int, int]:
    """(replications, days) of a short simulation: 2 to ``MAX_REPS``, and more than the warm-up to
    ``MAX_DAYS``; a blank control takes the page's default."""
    return (
        _whole("replications", reps, 3, 2, MAX_REPS),
        _whole("days", days, min(91, calendar_days), warmup_days + 1, MAX_DAYS),
    )


def objective(value: object) -> str:
    """One of the allocator's objectives."""
    if value not in OBJECTIVES:
        raise GridplanError(f"objective must be one of {', '.join(OBJECTIVES)}, found {_short(value)}")
    return str(value)


def budget_yuan(value: object) -> float:
    """The slider's total budget, in M yuan, as yuan: a finite number within the command line's bound."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise GridplanError(f"budget must be a finite number of M yuan, found {_short(value)}")
    try:
        return check_budget("budget", float(value) * 1e6)
    except ValueError as exc:
        raise GridplanError(str(exc)) from None


def stored_result(value: object) -> tuple[str, str | None, int | None, dict | None] | None:
    """The page's last simulation result as kept in its store: (KPI table JSON, scorecards JSON or None, its
    replications or None, how it was made or None: its seed, days and allocation table)."""
    if value is None:
        return None
    bad = GridplanError("this page's simulation result is not valid; run the simulation again")
    if not isinstance(value, dict) or not isinstance(value.get("table"), str):
        raise bad
    cards, reps = value.get("cards"), value.get("reps")
    if cards is not None and not isinstance(cards, str):
        raise bad
    if reps is not None and (isinstance(reps, bool) or not isinstance(reps, int) or not 2 <= reps <= MAX_REPS):
        raise bad
    made = None
    if "seed" in value:
        seed, days, table = value.get("seed"), value.get("days"), value.get("allocation")
        whole = all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (seed, days))
        if not whole or not isinstance(table, str):
            raise bad
        made = {"seed": seed, "days": days, "allocation": table}
    return value["table"], cards, reps, made


def proposal(value: object) -> tuple[list, list] | None:
    """The allocator's proposal as kept in the page's store: (community rows, street rows)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), list) for k in ("communities", "streets")):
        raise GridplanError("this page's proposal is not valid; call the allocator again")
    return value["communities"], value["streets"]

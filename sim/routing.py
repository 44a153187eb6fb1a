"""Where a case goes and how its feedback call ends: one definition for both engines.

A case passes through the stages of ``Stage`` in order, skipping those it does not reach: its grid
worker (or a volunteer), the community desk, the street office, the city departments, and after an
unsatisfied feedback call that reopens it, its grid worker again. ``routing`` says which cases escalate
where; ``unsatisfied`` and ``reopens`` decide the feedback call. The event loop and the exact recursion
(``sim.engine``) both call these, on one case or on arrays of cases, so they cannot drift apart.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from scenario.load import Scenario
from scenario.spec import FeedbackSpec
from sim.demand import Cases

__all__ = [
    "Stage",
    "STAGES",
    "N_STAGES",
    "CLOSE",
    "routing",
    "late_days",
    "unsatisfied",
    "reopens",
    "reopening_possible",
]


class Stage(IntEnum):
    """The stages of a case, in the order it can pass them; the column of each in per-stage arrays."""

    GRID = 0
    COMMUNITY = 1
    STREET = 2
    CITY = 3
    REOPEN = 4


STAGES = tuple(s.name.lower() for s in Stage)  # the case log's column prefixes
N_STAGES = len(Stage)
CLOSE = -1  # "next stage" of a case that is closed after this one


def routing(
    scenario: Scenario, cases: Cases, factor: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who escalates where: masks of cases reaching the desk, the street office and the city.

    ``factor`` (per case) multiplies each escalation probability (capped at 1): a problem found late has grown.
    Volunteer-handled cases are closed by volunteers and escalate nowhere.
    """
    cats = list(scenario.spec.demand.categories.values())
    u, cat = cases.u_escalate, cases.category
    f = np.ones(len(cat)) if factor is None else factor

    def p(name: str) -> np.ndarray:
        return np.minimum(1.0, np.array([getattr(c, name) for c in cats])[cat] * f)

    esc_c = (u[:, 0] < p("escalate_to_community")) & ~cases.volunteer
    esc_s = esc_c & (u[:, 1] < p("escalate_to_street"))
    esc_city = esc_s & (u[:, 2] < p("escalate_to_city"))
    return esc_c, esc_s, esc_city


def late_days(close, deadline):
    """Days past the deadline at closure, 0 when on time (a float or an array; NaN stays NaN)."""
    late = (close - deadline) / 24.0
    return late * (late > 0)


def unsatisfied(fb: FeedbackSpec, u, late, extra=0.0):
    """Whether the feedback call finds the resident unsatisfied, given the case's uniform ``u`` in [0, 1).

    The probability is ``unsatisfied_base + unsatisfied_per_late_day * late + extra`` capped at 1 (``extra``:
    the problem is unresolved, or was found late; ``sim.outcomes``); as ``u`` < 1 the cap needs no code.
    """
    return u < fb.unsatisfied_base + fb.unsatisfied_per_late_day * late + extra


def reopens(fb: FeedbackSpec, u, late, extra=0.0):
    """Whether an unsatisfied resident's case is reopened (a repeat complaint), given the case's second
    uniform ``u``; ``extra``: more likely when the problem is unresolved."""
    return u < fb.reopen_given_unsatisfied_base + fb.reopen_given_unsatisfied_per_late_day * late + extra


def reopening_possible(scenario: Scenario) -> bool:
    """Whether the feedback parameters let any case be reopened."""
    fb = scenario.spec.ladder.feedback
    can_be_unsatisfied = fb.unsatisfied_base > 0 or fb.unsatisfied_per_late_day > 0
    can_reopen = fb.reopen_given_unsatisfied_base > 0 or fb.reopen_given_unsatisfied_per_late_day > 0
    unresolved = any(c.resolution is not None for c in scenario.spec.demand.categories.values())
    can_be_unsatisfied = can_be_unsatisfied or (unresolved and fb.unsatisfied_if_unresolved > 0)
    can_be_unsatisfied = can_be_unsatisfied or (
        scenario.spec.discovery is not None and scenario.spec.discovery.unsatisfied_extra > 0
    )
    can_reopen = can_reopen or (unresolved and fb.reopen_if_unresolved > 0)
    return can_be_unsatisfied and can_reopen

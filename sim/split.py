"""One replication as one task per district, merged: bit-identical to the unsplit run.

Districts share nothing in this model: every pool belongs to one community or one street, a street
to one district, city departments are a delay (no shared queue), mobile grid workers work within their
street and volunteers within their community. So each district's cases can be simulated alone, with
the same per-case random numbers, and the results put back in place. ``district_coupling`` says what
would couple districts if the model ever gained it (it returns None today).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace

import numpy as np

from scenario.allocation import Allocation
from scenario.load import Scenario
from sim.calendar import WorkCalendar
from sim.demand import Cases
from sim.engine import SimResult, simulate_cases

__all__ = ["district_coupling", "subset_cases", "simulate_by_district"]

_PER_CASE = (
    "arrival",
    "community",
    "channel",
    "category",
    "grid",
    "service",
    "u_escalate",
    "u_feedback",
    "u_mobile",
    "volunteer",
)


def district_coupling(scenario: Scenario) -> str | None:
    """Why districts cannot be simulated apart, or None when they can (always, in the current model)."""
    return None


def subset_cases(cases: Cases, mask: np.ndarray) -> Cases:
    """The cases selected by ``mask``, in the same (arrival) order, with the same random numbers."""
    return replace(cases, **{f: getattr(cases, f)[mask] for f in _PER_CASE})


def _district_task(args: tuple) -> tuple[np.ndarray, SimResult]:
    scenario, cases, allocation, days, mask = args
    cal = WorkCalendar(scenario.spec.calendar, days)
    return np.flatnonzero(mask), simulate_cases(scenario, subset_cases(cases, mask), allocation, cal)


def simulate_by_district(
    scenario: Scenario, cases: Cases, allocation: Allocation, mapper: Callable[[Callable, list], list]
) -> SimResult:
    """Simulate each district's cases as its own task (``mapper`` runs them) and merge the results."""
    why = district_coupling(scenario)
    if why is not None:
        raise ValueError(f"districts are coupled ({why}); run the replication whole")
    district = scenario.community_district[cases.community]
    tasks = [(scenario, cases, allocation, cases.days, district == d) for d in range(len(scenario.district_ids))]
    parts = mapper(_district_task, [t for t in tasks if t[4].any()])
    n = len(cases)
    merged: dict[str, object] = {}
    first = parts[0][1]
    for f in fields(SimResult):
        value = getattr(first, f.name)
        if f.name == "events":
            merged[f.name] = sum(p.events for _, p in parts)
        elif f.name in ("people", "present", "case_servers"):
            merged[f.name] = value  # per pool, the same in every part
        else:
            out = np.empty((n, *value.shape[1:]), dtype=value.dtype)
            for idx, part in parts:
                out[idx] = getattr(part, f.name)
            merged[f.name] = out
    return SimResult(**merged)  # type: ignore[arg-type]

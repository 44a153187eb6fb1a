"""The calibration table: each figure of the source the scenario names, and the model's value beside it.

A scenario lists its figures under ``calibration:`` (see ``scenario.spec.CalibrationSpec``). Inputs are
reproduced by construction and say so; simulated figures come with their 95% interval over
replications; figures the model cannot express say why.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from scenario.load import Scenario, load_scenario
from scenario.spec import CalibrationSpec
from sim.replications import Replications, confidence_interval, kpi_range, run_replications

__all__ = ["calibration_table", "kpi_values", "static_figures", "shown"]


def kpi_values(reps: Replications, kpi: str) -> np.ndarray:
    """Per-replication values of a city KPI or of ``category:<id>:<column>``."""
    if kpi.startswith("category:"):
        _, cat, col = kpi.split(":", 2)
        per = reps.group_per_rep("category")
        return per.loc[per.index == cat, col].to_numpy(dtype=float)
    return reps.per_rep[kpi].to_numpy(dtype=float)


def _verdict(item: CalibrationSpec, m: float, lo: float, hi: float) -> str:
    """reproduced / NOT reproduced against the source's figure; "by construction" when the inputs were chosen
    to give it (a match then reproduces nothing)."""
    if item.target is None or np.isnan(m):
        return ""
    if item.rule == "at_least":
        ok = (hi if not np.isnan(hi) else m) >= item.target
    elif item.rule == "about":
        tol = item.tolerance * abs(item.target)
        ok = (lo if not np.isnan(lo) else m) <= item.target + tol and (
            hi if not np.isnan(hi) else m
        ) >= item.target - tol
    else:
        return ""
    if item.by_construction:
        return (
            "matches (by construction: inputs chosen to give it)"
            if ok
            else "NOT matched, although inputs were chosen to give it"
        )
    return "reproduced" if ok else "NOT reproduced"


def calibration_table(
    scenario: Scenario,
    baseline_runs: Replications | None,
    reps: int,
    days: int | None,
    seed: int,
    processes: int | None,
    progress: Callable[[str], None] | None = None,
    static: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per calibration figure: source value, model value, interval, verdict, note.

    ``static``: model values of inputs (e.g. ``workers_per_10k``) computed without simulation.
    """
    rows = []
    variant_runs: dict[str, Replications] = {}
    for item in scenario.spec.calibration:
        m = lo = hi = np.nan
        if item.rule == "input":
            m = (static or {}).get(item.kpi, np.nan)
            verdict = "input (by construction)"
        elif item.rule == "not_modelled":
            verdict = "not modelled"
        else:
            runs = baseline_runs
            if item.variant:
                if item.variant not in variant_runs:
                    if progress:
                        progress(f"calibration: simulating {item.variant}")
                    v = load_scenario(scenario.path.parent / item.variant)
                    variant_runs[item.variant] = run_replications(
                        v, v.baseline, reps, days=days, seed=seed, processes=processes
                    )
                runs = variant_runs[item.variant]
            if runs is None:
                runs = run_replications(scenario, scenario.baseline, reps, days=days, seed=seed, processes=processes)
                baseline_runs = runs
            name = item.kpi.rsplit(":", 1)[-1]
            m, lo, hi = confidence_interval(kpi_values(runs, item.kpi), bounds=kpi_range(name))
            verdict = _verdict(item, m, lo, hi)
        rows.append(
            {
                "figure": item.figure,
                "source": item.source_value,
                "model": m,
                "ci95_low": lo,
                "ci95_high": hi,
                "verdict": verdict,
                "scenario": item.variant or "this scenario",
                "note": item.note,
            }
        )
    return pd.DataFrame(
        rows, columns=["figure", "source", "model", "ci95_low", "ci95_high", "verdict", "scenario", "note"]
    )


def shown(value: float) -> str:
    """A model value as a planner reads it: shares as percentages, counts whole, money with separators."""
    if value is None or np.isnan(value):
        return "–"
    if 0 < abs(value) < 1:
        return f"{value:.1%}"
    return f"{value:,.0f}" if abs(value - round(value)) < 0.2 or abs(value) >= 1e5 else f"{value:,.1f}"


def static_figures(scenario: Scenario) -> dict[str, float]:
    """Model values of the figures that are inputs of the baseline (no simulation needed)."""
    from scenario.staffing import staff_time
    from solvers.costs import funder_costs

    b = scenario.baseline
    st = staff_time(scenario)
    out = {
        "workers_total": float(b.total_workers),
        "workers_per_10k": b.total_workers / scenario.urban_residents.sum() * 10_000,
        "street_office_staff_total": float(b.street_office_staff.sum()),
        "mobile_grid_workers_total": float(b.mobile_grid_workers.sum()),
        "grids": float(scenario.grids.sum()),
        "communities": float(scenario.n_communities),
        "city_cost_yuan": funder_costs(scenario, b).city_yuan,
        "registered_party_members": float(scenario.spec.volunteers.registered),
    }
    if scenario.spec.duties is not None:
        out["planned_utilisation_community"] = float(
            st.planned_community.sum() / (st.available_per_person("community") * b.workers.sum())
        )
        out["planned_utilisation_street"] = float(
            st.planned_street.sum() / (st.available_per_person("street") * b.street_office_staff.sum())
        )
    return out

"""The case log: one row per case, built from a replication's arrays (outside the event loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.demand import Cases
from sim.engine import STAGES, SimResult
from sim.scenario import Scenario

__all__ = ["case_log"]


def case_log(scenario: Scenario, cases: Cases, result: SimResult) -> pd.DataFrame:
    """Columns: ids, channel, category, places, arrival, each stage's start and end, deadline,
    closure, resolution time, flags. Times are clock hours from the start of day 0."""
    cats = list(scenario.spec.demand.categories)
    street = scenario.community_street[cases.community]
    reached = np.where(~np.isnan(result.start[:, 3]) | ~np.isnan(result.end[:, 3]), 3,
                       np.where(~np.isnan(result.start[:, 2]), 2, np.where(~np.isnan(result.start[:, 1]), 1, 0)))
    data = {
        "case_id": np.arange(len(cases), dtype=np.int64),
        "channel": pd.Categorical.from_codes(result.channel, categories=list(cases.channel_ids)),
        "category": pd.Categorical.from_codes(cases.category, categories=cats),
        "community": pd.Categorical.from_codes(cases.community, categories=list(scenario.community_ids)),
        "street": pd.Categorical.from_codes(street, categories=list(scenario.street_ids)),
        "district": pd.Categorical.from_codes(scenario.street_district[street],
                                              categories=list(scenario.district_ids)),
        "grid": cases.grid.astype(np.int32),
        "arrival_hours": result.arrival,
    }
    for j, stage in enumerate(STAGES):
        data[f"{stage}_start_hours"] = result.start[:, j]
        data[f"{stage}_end_hours"] = result.end[:, j]
    closed = result.final_close
    data.update({
        "deadline_hours": result.deadline,
        "first_close_hours": result.first_close,
        "closed_hours": closed,
        "resolution_hours": closed - result.arrival,
        "on_time": closed <= result.deadline,          # NaN (never closed) compares False
        "reopened": result.reopened,
        "satisfied": result.satisfied,
        "volunteer": cases.volunteer,
        "level_reached": reached.astype(np.int8),
    })
    return pd.DataFrame(data)

"""The case log: one row per case, built from a replication's arrays (outside the event loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scenario.load import Scenario
from sim.demand import Cases
from sim.engine import SimResult
from sim.routing import STAGES, Stage

__all__ = ["case_log", "CASE_LOG_COLUMNS", "write_case_log", "case_log_schema"]

# The case log's columns: name | dtype | unit | meaning, one a line (stage columns follow arrival_hours, one
# start and one end per stage). Written as case_log_schema.csv beside every case log.
_SCHEMA = """
case_id | int64 | | case number within the replication, in arrival order
channel | category | | intake channel (mobile_grid: discovered first by a mobile grid worker)
category | category | | complaint category
community | category | | community id
street | category | | street id
district | category | | district id
grid | int32 | | grid index within the community
arrival_hours | float64 | clock hours from midnight of day 0 | arrival
deadline_hours | float64 | clock hours | deadline (the category's working hours from arrival)
first_close_hours | float64 | clock hours | first closure (before any reopening)
closed_hours | float64 | clock hours | final closure (empty if still open at the end)
resolution_hours | float64 | clock hours | final closure minus arrival
on_time | bool | | closed for good by the deadline
reopened | bool | | reopened after an unsatisfied feedback call
satisfied | bool | | satisfied at the first feedback call
volunteer | bool | | handled by volunteers
level_reached | int8 | | highest level reached: 0 grid, 1 community desk, 2 street office, 3 city
"""


def _schema() -> dict[str, tuple[str, str, str]]:
    rows = [tuple(cell.strip() for cell in line.split("|")) for line in _SCHEMA.strip().splitlines()]
    out: dict[str, tuple[str, str, str]] = {}
    for name, dtype, unit, meaning in rows:
        out[name] = (dtype, unit, meaning)
        if name == "arrival_hours":
            for stage in STAGES:
                for edge in ("start", "end"):
                    out[f"{stage}_{edge}_hours"] = (
                        "float64",
                        "clock hours",
                        f"{edge} of service at level {stage} (empty if not reached)",
                    )
    return out


CASE_LOG_COLUMNS: dict[str, tuple[str, str, str]] = _schema()


def write_case_log(log: pd.DataFrame, folder, replication: int, district: str | None = None) -> None:
    """Write one replication's log as ``folder/replication=R/part-0.parquet`` (a Hive-partitioned dataset);
    a replication run district by district writes ``folder/replication=R/district=D/part-0.parquet``
    (the district column then lives in the folder name, as Hive partitioning has it)."""
    from pathlib import Path

    part = Path(folder) / f"replication={replication}"
    if district is not None:
        part = part / f"district={district}"
        log = log.drop(columns="district")
    part.mkdir(parents=True, exist_ok=True)
    log.to_parquet(part / "part-0.parquet", index=False)


def case_log_schema() -> pd.DataFrame:
    """The case log's columns as a table: column, dtype, unit, meaning."""
    return pd.DataFrame([(k, *v) for k, v in CASE_LOG_COLUMNS.items()], columns=["column", "dtype", "unit", "meaning"])


def case_log(scenario: Scenario, cases: Cases, result: SimResult) -> pd.DataFrame:
    """Columns: ids, channel, category, places, arrival, each stage's start and end, deadline,
    closure, resolution time, flags. Times are clock hours from the start of day 0."""
    cats = list(scenario.spec.demand.categories)
    street = scenario.community_street[cases.community]
    reached = np.where(
        ~np.isnan(result.start[:, Stage.CITY]) | ~np.isnan(result.end[:, Stage.CITY]),
        Stage.CITY,
        np.where(
            ~np.isnan(result.start[:, Stage.STREET]),
            Stage.STREET,
            np.where(~np.isnan(result.start[:, Stage.COMMUNITY]), Stage.COMMUNITY, Stage.GRID),
        ),
    )
    data = {
        "case_id": np.arange(len(cases), dtype=np.int64),
        "channel": pd.Categorical.from_codes(result.channel, categories=list(cases.channel_ids)),
        "category": pd.Categorical.from_codes(cases.category, categories=cats),
        "community": pd.Categorical.from_codes(cases.community, categories=list(scenario.community_ids)),
        "street": pd.Categorical.from_codes(street, categories=list(scenario.street_ids)),
        "district": pd.Categorical.from_codes(scenario.street_district[street], categories=list(scenario.district_ids)),
        "grid": cases.grid.astype(np.int32),
        "arrival_hours": result.arrival,
    }
    for j, stage in enumerate(STAGES):
        data[f"{stage}_start_hours"] = result.start[:, j]
        data[f"{stage}_end_hours"] = result.end[:, j]
    closed = result.final_close
    data.update(
        {
            "deadline_hours": result.deadline,
            "first_close_hours": result.first_close,
            "closed_hours": closed,
            "resolution_hours": closed - result.arrival,
            "on_time": closed <= result.deadline,  # NaN (never closed) compares False
            "reopened": result.reopened,
            "satisfied": result.satisfied,
            "volunteer": cases.volunteer,
            "level_reached": reached.astype(np.int8),
        }
    )
    return pd.DataFrame(data)

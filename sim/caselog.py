"""The case log: one row per case, built from a replication's arrays (outside the event loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scenario.load import Scenario
from sim.calendar import WorkCalendar
from sim.engine import SimResult
from sim.routing import STAGES, Stage

__all__ = ["case_log", "CASE_LOG_COLUMNS", "write_case_log", "case_log_schema"]

# The case log's columns: name | dtype | unit | meaning, one a line (stage columns follow arrival_hours, one
# start and one end per stage). Written as case_log_schema.csv beside every case log.
_SCHEMA = """
case_id | int64 | | case number within the replication: the drawn cases in arrival order, then the problems found late
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
found_late | bool | | a problem a grid duty would have found, left undone: it surfaced later as a resident's call
response_hours | float64 | working hours | arrival to first contact (the start of grid handling; volunteers at once)
responded_in_time | float64 | | 1: first contact within the category's response limit, 0: not, empty: no limit
resolved | bool | | the problem was solved (at closure or at the reopened visit), not only closed
needs_money | bool | | the fix costs money, paid from the community's people-service fund
fund_status | int8 | | 0 no money needed, 1 paid by the fund, 2 unpaid: sent to the city, 3 unpaid: closed at its level
paid_yuan | float64 | yuan | paid from the community's people-service fund
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


def _response(
    scenario: Scenario,
    cal: WorkCalendar,
    arrival: np.ndarray,
    grid_start: np.ndarray,
    volunteer: np.ndarray,
    category: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Working hours from arrival to first contact (the grid's start, a volunteer's at arrival), and 1/0 for
    within the category's limit (NaN: no limit); compiled (``sim.logkernel.response_hours``)."""
    from sim.logkernel import response_hours

    limit = np.array(
        [
            np.nan if c.response_working_hours is None else c.response_working_hours
            for c in scenario.spec.demand.categories.values()
        ],
        dtype=np.float64,
    )
    f = np.float64
    return response_hours(
        np.ascontiguousarray(arrival, dtype=f),
        np.ascontiguousarray(grid_start, dtype=f),
        np.ascontiguousarray(volunteer, dtype=np.bool_),
        np.ascontiguousarray(category, dtype=np.int64),
        limit,
        *cal.day_arrays(),
        cal.always_on,
    )


def case_log(scenario: Scenario, result: SimResult, cal: WorkCalendar) -> pd.DataFrame:
    """One row per case that reached someone (``SimResult.active``): ids, channel, category, places, arrival,
    each stage's start and end, deadline, closure, resolution time, response, flags. Times are clock hours
    from the start of day 0."""
    from sim.logkernel import stage_columns

    keep = np.flatnonzero(result.active)
    rows = result.rows
    cats = list(scenario.spec.demand.categories)
    community = rows.community[keep]
    street = scenario.community_street[community]
    # each stage's starts, then its ends, a contiguous column each; the highest level reached
    edges, reached = stage_columns(
        np.ascontiguousarray(result.start, dtype=np.float64), np.ascontiguousarray(result.end, dtype=np.float64), keep
    )
    arrival = result.arrival[keep]
    volunteer = rows.volunteer[keep]
    response, in_time = _response(scenario, cal, arrival, edges[Stage.GRID], volunteer, rows.category[keep])
    twin_of = rows.twin_of if rows.twin_of is not None else np.full(len(rows), -1)
    n_drawn = int((twin_of < 0).sum())
    data = {
        # a problem found late: the drawn cases' count + its drawn case (the same number, district by district)
        "case_id": np.where(twin_of[keep] < 0, keep, n_drawn + twin_of[keep]).astype(np.int64),
        "channel": pd.Categorical.from_codes(result.channel[keep], categories=list(rows.channel_ids)),
        "category": pd.Categorical.from_codes(rows.category[keep], categories=cats),
        "community": pd.Categorical.from_codes(community, categories=list(scenario.community_ids)),
        "street": pd.Categorical.from_codes(street, categories=list(scenario.street_ids)),
        "district": pd.Categorical.from_codes(scenario.street_district[street], categories=list(scenario.district_ids)),
        "grid": rows.grid[keep].astype(np.int32),
        "arrival_hours": arrival,
    }
    for j, stage in enumerate(STAGES):
        data[f"{stage}_start_hours"] = edges[j]
        data[f"{stage}_end_hours"] = edges[len(STAGES) + j]
    closed = result.final_close[keep]
    deadline = result.deadline[keep]
    data.update(
        {
            "deadline_hours": deadline,
            "first_close_hours": result.first_close[keep],
            "closed_hours": closed,
            "resolution_hours": closed - arrival,
            "on_time": closed <= deadline,  # NaN (never closed) compares False
            "reopened": result.reopened[keep],
            "satisfied": result.satisfied[keep],
            "volunteer": volunteer,
            "level_reached": reached.astype(np.int8),
            "found_late": twin_of[keep] >= 0,
            "response_hours": response,
            "responded_in_time": in_time,
            "resolved": result.resolved[keep],
            "needs_money": result.funded[keep] > 0,
            "fund_status": result.funded[keep].astype(np.int8),
            "paid_yuan": result.paid_yuan[keep],
        }
    )
    return pd.DataFrame(data, copy=False)  # the columns as made: no second copy into consolidated blocks

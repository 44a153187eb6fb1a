"""One replication's output from its case log and duty accounts: city KPIs, KPIs by group, backlog, hours.

Shared by the whole replication (``sim.replications``) and the replication run district by district
(``sim.split``), so that both give the same numbers from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from sim.calendar import WorkCalendar
from sim.duties import DutyAccount
from sim.kpis import (
    FundUse,
    backlog,
    city_kpis,
    community_staff_kpis,
    duty_hours_table,
    fund_kpis,
    group_kpis,
    hotline_shares,
    late_level,
    street_staff_kpis,
    waiting_kpis,
)
from sim.outcomes import released_years

__all__ = ["RepOutput", "assemble", "measured_from", "surge_window", "window_kpis", "GROUPS", "LOCAL_GROUPS"]

GROUPS = ("category", "community", "street", "district")


@dataclass
class RepOutput:
    """What one replication returns: city KPIs, KPIs by group, backlog, hours by duty, optionally its case log."""

    replication: int
    kpis: dict[str, float]
    groups: dict[str, pd.DataFrame]
    backlog: pd.DataFrame
    duty_hours: pd.DataFrame
    log: pd.DataFrame | None = None


LOCAL_GROUPS = ("community", "street", "district")  # groups that lie inside one district


def measured_from(scenario: Scenario, days: int) -> int:
    """The first measured day (the end of the warm-up, at most the last day)."""
    return min(scenario.spec.calendar.warmup_days, days - 1)


def surge_window(scenario: Scenario, days: int) -> tuple[int, int] | None:
    """The first surge's days [start, end) within the run, to compare with the rest of the year."""
    for surge in scenario.spec.demand.surges[:1]:
        start, end = surge.start_day, min(days, surge.start_day + surge.length_days)
        return (start, end) if start < end else None
    return None


def assemble(
    scenario: Scenario,
    allocation: Allocation,
    log: pd.DataFrame,
    acct: DutyAccount,
    window_acct: DutyAccount | None,
    groups: dict[str, pd.DataFrame],
    fund: FundUse,
    cal: WorkCalendar,
    days: int,
    replication: int,
    keep_log: bool,
    late: np.ndarray | None = None,
) -> RepOutput:
    """One replication's KPIs from its case log (at least the columns of ``CITY_LOG_COLUMNS``), its duty
    accounts, the people-service fund's use and the KPIs of the groups that lie inside one district, and of the
    categories when already made (``late``:
    ``late_level(log)`` when already known)."""
    warm_days = measured_from(scenario, days)
    warm, horizon = warm_days * 24.0, days * 24.0
    n = scenario.n_communities
    open_cases = backlog(log, horizon)
    late = late_level(log) if late is None else late
    k = city_kpis(log, acct, n, warm, horizon, open_cases, late)
    k["escalated_city_per_year"] = k["escalated_city"] * 365.0 / max(days - warm_days, 1)
    k.update(waiting_kpis(log, cal, scenario.spec.targets.wait_threshold_working_hours, warm))
    window = surge_window(scenario, days)
    if window is not None and window_acct is not None:
        k.update(window_kpis(log, window_acct, *window, "_surge", open_cases))
    groups = dict(groups)
    if "category" not in groups:  # a whole replication made it with the local groups
        groups["category"] = group_kpis(log, "category", warm, horizon, late)
    groups["category"]["hotline_share"] = hotline_shares(scenario, log, warm)
    staff = community_staff_kpis(acct, n)
    released = released_years(scenario.spec.service_fund, days - 1)
    fund_c, fund_city = fund_kpis(
        fund.spent_yuan, allocation.service_fund_yuan, fund.exhausted_day, fund.unfunded, released
    )
    k.update(fund_city)
    staff = staff.join(fund_c)
    staff.index = pd.Index(scenario.community_ids, name="community")
    groups["community"] = groups["community"].join(staff, how="outer")
    office = street_staff_kpis(acct, n, scenario.community_street)
    office.index = pd.Index(scenario.street_ids, name="street")
    groups["street"] = groups["street"].join(office, how="outer")
    groups = {g: groups[g] for g in GROUPS}
    return RepOutput(replication, k, groups, open_cases, duty_hours_table(acct, n), log if keep_log else None)


def window_kpis(
    log: pd.DataFrame,
    window_acct: DutyAccount,
    start_day: int,
    end_day: int,
    suffix: str,
    open_cases: pd.DataFrame | None = None,
) -> dict[str, float]:
    """On-time share of the cases arriving in [start_day, end_day), duty coverage there (``window_acct``:
    the duty account of those days) and mean open cases there (``open_cases``: ``backlog`` over a horizon at
    least as long, when already made: its days up to ``end_day`` are the same)."""
    arr = log["arrival_hours"].to_numpy()
    inside = (arr >= start_day * 24.0) & (arr < end_day * 24.0)
    due = window_acct.due_hours.sum()
    b = backlog(log, end_day * 24.0) if open_cases is None else open_cases
    t = b["time_hours"].to_numpy()
    in_window = (t > start_day * 24.0) & (t < end_day * 24.0 + 1e-9)
    return {
        f"on_time_share{suffix}": float(log["on_time"].to_numpy()[inside].mean()) if inside.any() else np.nan,
        f"duty_coverage{suffix}": float(1 - window_acct.overdue_hours.sum() / due) if due > 0 else 1.0,
        f"backlog_mean_cases{suffix}": float(b["open_cases"].to_numpy()[in_window].mean()),
    }

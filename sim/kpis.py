"""KPIs computed from the case log after the run, never inside the event loop."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.calendar import WorkCalendar
from sim.engine import STAGES
from sim.scenario import Scenario

__all__ = ["case_kpis", "city_kpis", "group_kpis", "backlog", "utilisation", "routine_coverage",
           "KPI_DESCRIPTIONS"]

KPI_DESCRIPTIONS = {
    "cases": "cases arriving after the warm-up",
    "on_time_share": "share of cases closed (for good) by their deadline",
    "overdue_cases": "cases closed after their deadline or never closed",
    "unresolved_cases": "cases still open at the end of the run",
    "resolution_mean_hours": "mean clock hours from arrival to final closure",
    "resolution_p50_hours": "median resolution time (clock hours)",
    "resolution_p90_hours": "90th percentile of resolution time (clock hours)",
    "satisfaction_share": "share of residents satisfied at the first feedback call",
    "reopened_share": "share of cases reopened after the feedback call",
    "escalated_community": "cases escalated to the community desk",
    "escalated_street": "cases escalated to the street office",
    "escalated_city": "cases escalated to city departments",
    "volunteer_share": "share of cases handled by volunteers",
    "mobile_share": "share of cases discovered by mobile grid workers",
}


def _measured(log: pd.DataFrame, warmup_hours: float) -> pd.DataFrame:
    return log[log["arrival_hours"] >= warmup_hours]


def case_kpis(log: pd.DataFrame) -> dict[str, float]:
    """Outcome KPIs of a set of cases (any slice of the log)."""
    n = len(log)
    if n == 0:
        return {k: np.nan for k in KPI_DESCRIPTIONS} | {"cases": 0}
    res = log["resolution_hours"].to_numpy()
    closed = ~np.isnan(res)
    q = np.percentile(res[closed], [50, 90]) if closed.any() else [np.nan, np.nan]
    on_time = log["on_time"].to_numpy()
    reached = log["level_reached"].to_numpy()
    return {
        "cases": float(n),
        "on_time_share": float(on_time.mean()),
        "overdue_cases": float(n - on_time.sum()),
        "unresolved_cases": float((~closed).sum()),
        "resolution_mean_hours": float(res[closed].mean()) if closed.any() else np.nan,
        "resolution_p50_hours": float(q[0]),
        "resolution_p90_hours": float(q[1]),
        "satisfaction_share": float(log["satisfied"].mean()),
        "reopened_share": float(log["reopened"].mean()),
        "escalated_community": float((reached >= 1).sum()),
        "escalated_street": float((reached >= 2).sum()),
        "escalated_city": float((reached >= 3).sum()),
        "volunteer_share": float(log["volunteer"].mean()),
        "mobile_share": float((log["channel"] == "mobile_grid").mean()),
    }


def group_kpis(log: pd.DataFrame, by: str, warmup_hours: float) -> pd.DataFrame:
    """Outcome KPIs per category, community, street or district."""
    m = _measured(log, warmup_hours)
    rows = {key: case_kpis(g) for key, g in m.groupby(by, observed=False)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    return out


def backlog(log: pd.DataFrame, horizon_hours: float, step_hours: float = 24.0) -> pd.DataFrame:
    """Open cases (arrived, not finally closed) at the end of each step."""
    t = np.arange(step_hours, horizon_hours + 1e-9, step_hours)
    arr = np.sort(log["arrival_hours"].to_numpy())
    closed = log["closed_hours"].to_numpy()
    closed = np.sort(np.where(np.isnan(closed), np.inf, closed))
    open_ = np.searchsorted(arr, t, side="right") - np.searchsorted(closed, t, side="right")
    return pd.DataFrame({"time_hours": t, "open_cases": open_})


def utilisation(log: pd.DataFrame, scenario: Scenario, cal: WorkCalendar, servers: dict[str, float],
                t0: float, t1: float) -> dict[str, float]:
    """Busy working hours / available working hours per pooled level in [t0, t1).

    ``servers`` gives total servers per level ("grid", "community", "street").
    """
    avail_hours = cal.to_work(t1) - cal.to_work(t0)
    out = {}
    for level, col in (("grid", ("grid", "reopen")), ("community", ("community",)), ("street", ("street",))):
        busy = 0.0
        for stage in col:
            s = log[f"{stage}_start_hours"].to_numpy()
            e = log[f"{stage}_end_hours"].to_numpy()
            ok = ~np.isnan(s) & ~np.isnan(e)
            s, e = np.clip(s[ok], t0, t1), np.clip(e[ok], t0, t1)
            busy += float((cal.to_work_v(e) - cal.to_work_v(s)).sum())
        out[f"utilisation_{level}"] = busy / (servers[level] * avail_hours) if servers[level] and avail_hours else np.nan
    return out


def routine_coverage(log: pd.DataFrame, scenario: Scenario, cal: WorkCalendar, grid_servers: np.ndarray,
                     workers: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Per community: share of required routine work (patrols by grid class, ledgers) done.

    Cases take priority; routine work fills the case-duty working time that cases leave
    free. Volunteer-handled cases do not use workers' time.
    """
    spec = scenario.spec
    weeks = (t1 - t0) / (24 * 7)
    per_grid = np.array([(g.patrol_visits_per_week * g.visit_hours) for g in spec.grid_classes.values()])
    required = (scenario.grids_by_class @ per_grid + workers * spec.routine.ledger_hours_per_worker_week) * weeks
    avail = grid_servers * (cal.to_work(t1) - cal.to_work(t0))
    busy = np.zeros(scenario.n_communities)
    vol = log["volunteer"].to_numpy()
    comm = log["community"].cat.codes.to_numpy()
    for stage in ("grid", "reopen"):
        s = log[f"{stage}_start_hours"].to_numpy()
        e = log[f"{stage}_end_hours"].to_numpy()
        ok = ~np.isnan(s) & ~np.isnan(e) & (~vol if stage == "grid" else True)
        w = cal.to_work_v(np.clip(e[ok], t0, t1)) - cal.to_work_v(np.clip(s[ok], t0, t1))
        busy += np.bincount(comm[ok], weights=w, minlength=scenario.n_communities)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.where(required > 0, np.clip((avail - busy) / required, 0, 1), 1.0)
    return cov


def city_kpis(log: pd.DataFrame, scenario: Scenario, cal: WorkCalendar, grid_servers: np.ndarray,
              desk_servers: np.ndarray, street_servers: np.ndarray, workers: np.ndarray,
              warmup_hours: float, horizon_hours: float) -> dict[str, float]:
    """City-wide KPIs of one replication."""
    k = case_kpis(_measured(log, warmup_hours))
    k.update(utilisation(log, scenario, cal, {"grid": float(grid_servers.sum()),
                                              "community": float(desk_servers.sum()),
                                              "street": float(street_servers.sum())},
                         warmup_hours, horizon_hours))
    cov = routine_coverage(log, scenario, cal, grid_servers, workers, warmup_hours, horizon_hours)
    k["routine_coverage_mean"] = float(cov.mean())
    k["routine_coverage_min"] = float(cov.min())
    b = backlog(log, horizon_hours)
    k["backlog_mean_cases"] = float(b.loc[b.time_hours > warmup_hours, "open_cases"].mean())
    return k

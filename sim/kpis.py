"""KPIs computed from the case log after the run, never inside the event loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.duties import DutyAccount

__all__ = [
    "late_level",
    "fund_kpis",
    "FundUse",
    "LATE_LEVELS",
    "case_kpis",
    "city_kpis",
    "group_kpis",
    "groups_kpis",
    "backlog",
    "duty_kpis",
    "community_staff_kpis",
    "street_staff_kpis",
    "duty_hours_table",
    "waiting_kpis",
    "hotline_shares",
    "KPI_DESCRIPTIONS",
]

# a case in progress is finished by whoever started it, also on a day the absence draw has them away
_WORKED = "hours worked (the people present, and overtime finishing a case)"

KPI_DESCRIPTIONS = {
    "cases": "cases arriving after the warm-up",
    "on_time_share": "share of cases closed (for good) by their deadline",
    "overdue_cases": "cases closed after their deadline or never closed",
    "unresolved_cases": "cases still open at the end of the simulated days (the horizon)",
    "resolution_mean_hours": "mean clock hours from arrival to final closure",
    "resolution_p50_hours": "median resolution time (clock hours)",
    "resolution_p90_hours": "90th percentile of resolution time (clock hours)",
    "satisfaction_share": "share of residents satisfied at the first feedback call",
    "reopened_share": "share of cases reopened after the feedback call",
    "response_share": "share of cases with first contact within their category's response limit (working hours)",
    "resolution_share": "share of cases whose problem was solved (at closure or a reopened visit), not only closed",
    "repeat_complaints": "cases that came back after an unsatisfied feedback call (reopened)",
    "found_late_share": "share of cases a grid duty left undone would have found: they surfaced as residents' calls",
    "unfunded_share": "share of cases whose fix needed money the people-service fund could not pay",
    "late_at_grid_share": "of the overdue cases, the share still at the grid (waiting or in handling) at the deadline",
    "late_at_desk_share": "of the overdue cases, the share at the community desk at the deadline",
    "late_at_street_share": "of the overdue cases, the share at the street office at the deadline",
    "late_at_city_share": "of the overdue cases, the share with city departments at the deadline",
    "late_after_reopen_share": "of the overdue cases, the share reopened after closure (closed in time, late for good)",
    "fund_spent_yuan": "people-service fund paid for fixes over the run",
    "fund_spent_share": "people-service fund paid for fixes, as a share of the fund released over the run",
    "fund_exhausted_day": "a community's first day a fix found its fund spent (empty: never)",
    "fund_exhausted_communities": "communities whose fund ran out at least once",
    "unfunded_cases": "fixes the people-service fund could not pay over the run",
    "escalated_community": "cases escalated to the community desk",
    "escalated_street": "cases escalated to the street office",
    "escalated_city": "cases escalated to city departments",
    "volunteer_share": "share of cases handled by volunteers",
    "mobile_share": "share of cases discovered by mobile grid workers",
    "utilisation_grid": "grid workers: (case + scheduled duty hours) / " + _WORKED,
    "utilisation_desk": "community desks: (case + scheduled duty hours) / " + _WORKED,
    "utilisation_street": "street offices: (case + scheduled duty hours) / " + _WORKED,
    "case_share_grid": "grid workers: case hours / " + _WORKED,
    "case_share_desk": "community desks: case hours / " + _WORKED,
    "case_share_street": "street offices: case hours / " + _WORKED,
    "duty_coverage": "share of scheduled duty hours done by their due date (all levels)",
    "duty_coverage_grid": "share of grid duty hours (visits, patrols, reports...) done by their due date",
    "duty_coverage_desk": "share of desk duty hours (service-hall transactions) done by their due date",
    "duty_coverage_street": "share of street-office duty hours (party work, meetings) done by their due date",
    "duty_backlog_hours": "scheduled duty hours undone at the end of the run",
    "backlog_mean_cases": "mean number of open cases at the end of each day",
    "escalated_city_per_year": "cases escalated to city departments, scaled to a year",
    "on_time_share_surge": "on-time share of the cases arriving in the first surge's days",
    "duty_coverage_surge": "duty coverage over the first surge's days",
    "backlog_mean_cases_surge": "mean number of open cases at the end of each day of the first surge",
    "hotline_share": "a category's share of the cases that came in on hotline channels",
    "office_duty_coverage": "a street office's share of its duty hours done by their due date",
    "office_duty_backlog_hours": "a street office's duty hours undone at the end of the run",
    **{f"wait_mean_hours_{lv}": f"{lv}: mean wait before service, working hours" for lv in ("grid", "desk", "street")},
    **{f"wait_probability_{lv}": f"{lv}: share of cases that wait before service" for lv in ("grid", "desk", "street")},
    **{
        f"served_within_threshold_share_{lv}": f"{lv}: share served within targets.wait_threshold_working_hours"
        for lv in ("grid", "desk", "street")
    },
}


# the KPIs of a set of cases (``case_kpis``), in its order
CASE_KPIS = (
    "cases",
    "on_time_share",
    "overdue_cases",
    "unresolved_cases",
    "resolution_mean_hours",
    "resolution_p50_hours",
    "resolution_p90_hours",
    "satisfaction_share",
    "reopened_share",
    "escalated_community",
    "escalated_street",
    "escalated_city",
    "volunteer_share",
    "mobile_share",
    "response_share",
    "resolution_share",
    "repeat_complaints",
    "found_late_share",
    "unfunded_share",
    "late_at_grid_share",
    "late_at_desk_share",
    "late_at_street_share",
    "late_at_city_share",
    "late_after_reopen_share",
)
LATE_LEVELS = ("grid", "desk", "street", "city", "after_reopen")


def late_level(log: pd.DataFrame) -> np.ndarray:
    """Per case, where it was when its deadline passed: 0 grid, 1 desk, 2 street office, 3 city departments,
    4 reopened after closing in time; -1 for a case on time. A case never closed is placed by the stage it
    had reached."""
    from sim.logkernel import late_levels

    def c(x: pd.Series, dtype=np.float64) -> np.ndarray:
        return np.ascontiguousarray(x.to_numpy(), dtype=dtype)

    # an end not there (NaN: not ended, or not reached) is never; a stage not reached has no end: the case
    # closed before it, so the deadline passed later on (compiled: ``sim.logkernel.late_levels``)
    return late_levels(
        c(log["deadline_hours"]),
        c(log["on_time"], np.bool_),
        c(log["grid_end_hours"]),
        c(log["community_end_hours"]),
        c(log["street_end_hours"]),
        c(log["first_close_hours"]),
        c(log["level_reached"], np.int64),
    )


def _measured(log: pd.DataFrame, warmup_hours: float) -> np.ndarray:
    """Which cases are measured (arrived after the warm-up): a mask, so that the log is never copied."""
    return log["arrival_hours"].to_numpy() >= warmup_hours


def _open_at(log: pd.DataFrame, horizon_hours: float) -> np.ndarray:
    """Per case: not closed for good by ``horizon_hours`` (the end of the simulated days). Cases open then are
    finished afterwards by a usual day's staff (``sim.pools.after_horizon``), so their outcome is known."""
    closed = log["closed_hours"].to_numpy()
    return np.isnan(closed) | (closed > horizon_hours)


def case_kpis(
    log: pd.DataFrame, horizon_hours: float = np.inf, rows: np.ndarray | None = None, late: np.ndarray | None = None
) -> dict[str, float]:
    """Outcome KPIs of a set of cases (any slice of the log, or the rows of ``log`` where the mask ``rows`` is
    true: the same numbers without copying the log); ``unresolved_cases`` counts those open at
    ``horizon_hours``; ``late``: ``late_level(log)`` when already known."""
    sel = slice(None) if rows is None else rows

    def col(name: str) -> np.ndarray:
        return log[name].to_numpy()[sel]

    n = len(log) if rows is None else int(np.count_nonzero(rows))
    if n == 0:
        return {k: np.nan for k in CASE_KPIS} | {"cases": 0.0}
    res = col("resolution_hours")
    closed = ~np.isnan(res)
    q = np.percentile(res[closed], [50, 90]) if closed.any() else [np.nan, np.nan]
    on_time = col("on_time")
    reached = col("level_reached")
    late = (late_level(log) if late is None else late)[sel]
    n_late = int((late >= 0).sum())
    resp = col("responded_in_time")
    return {
        "cases": float(n),
        "on_time_share": float(on_time.mean()),
        "overdue_cases": float(n - on_time.sum()),
        "unresolved_cases": float(_open_at(log, horizon_hours)[sel].sum()),
        "resolution_mean_hours": float(res[closed].mean()) if closed.any() else np.nan,
        "resolution_p50_hours": float(q[0]),
        "resolution_p90_hours": float(q[1]),
        "satisfaction_share": float(col("satisfied").mean()),
        "reopened_share": float(col("reopened").mean()),
        "escalated_community": float((reached >= 1).sum()),
        "escalated_street": float((reached >= 2).sum()),
        "escalated_city": float((reached >= 3).sum()),
        "volunteer_share": float(col("volunteer").mean()),
        "mobile_share": float(_is(log["channel"], "mobile_grid")[sel].mean()),
        "response_share": float(np.nanmean(resp)) if (~np.isnan(resp)).any() else np.nan,
        "resolution_share": float(col("resolved").mean()),
        "repeat_complaints": float(col("reopened").sum()),
        "found_late_share": float(col("found_late").mean()),
        "unfunded_share": float((col("fund_status") >= 2).mean()),
        **{
            f"late_at_{lv}_share" if lv != "after_reopen" else "late_after_reopen_share": (
                float((late == i).sum() / n_late) if n_late else np.nan
            )
            for i, lv in enumerate(LATE_LEVELS)
        },
    }


def hotline_shares(scenario, log: pd.DataFrame, warmup_hours: float) -> np.ndarray:
    """Per category: its share of the cases that came in on hotline channels (after the warm-up)."""
    hot = [c for c, spec in scenario.spec.demand.channels.items() if spec.is_hotline]
    m = _measured(log, warmup_hours)
    channel = log["channel"]
    on_hot = m & np.isin(channel.cat.codes.to_numpy(), [channel.cat.categories.get_loc(c) for c in hot])
    cats = log["category"]
    k = len(cats.cat.categories)
    counts = pd.Series(np.bincount(cats.cat.codes.to_numpy()[on_hot], minlength=k), index=cats.cat.categories)
    counts = counts.reindex(list(scenario.spec.demand.categories), fill_value=0)
    total = counts.sum()
    return (counts / total).to_numpy() if total else np.full(len(counts), np.nan)


def group_kpis(
    log: pd.DataFrame, by: str, warmup_hours: float, horizon_hours: float = np.inf, late: np.ndarray | None = None
) -> pd.DataFrame:
    """Outcome KPIs per category, community, street or district: ``case_kpis`` of each group (every unit
    of the column's categories, NaN KPIs and 0 cases where a unit has none), computed for all groups at
    once with sorted arrays (a Weihai year's 340 communities: 0.05 s instead of 0.7 s)."""
    return groups_kpis(log, (by,), warmup_hours, horizon_hours, late)[by]


def groups_kpis(
    log: pd.DataFrame,
    bys: tuple[str, ...],
    warmup_hours: float,
    horizon_hours: float = np.inf,
    late: np.ndarray | None = None,
) -> dict[str, pd.DataFrame]:
    """``group_kpis`` for several groupings of one log, each measured column read and weighted once."""
    keep = log["arrival_hours"].to_numpy() >= warmup_hours  # the measured cases, without copying the log

    def col(name: str) -> np.ndarray:
        return log[name].to_numpy()[keep]

    from sim.logkernel import flag_matrix

    res = col("resolution_hours")
    closed = ~np.isnan(res)
    late_all = late_level(log) if late is None else late

    def whole(name: str, dtype) -> np.ndarray:
        return np.ascontiguousarray(log[name].to_numpy(), dtype=dtype)

    b, i8, f8 = np.bool_, np.int64, np.float64
    # per measured case, the 0/1 flags the groups' counts add up, a row each (``sim.logkernel.flag_matrix``)
    matrix, not_flag = flag_matrix(
        np.ascontiguousarray(keep, dtype=b),
        whole("on_time", b),
        whole("closed_hours", f8),
        float(horizon_hours),
        whole("satisfied", b),
        whole("reopened", b),
        whole("level_reached", i8),
        whole("volunteer", b),
        np.ascontiguousarray(_is(log["channel"], "mobile_grid"), dtype=b),
        whole("resolved", b),
        whole("found_late", b),
        whole("fund_status", i8),
        np.ascontiguousarray(late_all, dtype=i8),
        whole("responded_in_time", f8),
        len(LATE_LEVELS),
    )
    if not_flag:  # pragma: no cover - a 0/1 flag
        raise ValueError("responded_in_time must be 0, 1 or empty")
    names = FLAG_NAMES
    out = {}
    for by in bys:
        units = log[by].cat.categories
        g = log[by].cat.codes.to_numpy()[keep].astype(np.int64)
        out[by] = _group_frame(by, units, g, names, matrix, res, closed)
    return out


# The flags ``groups_kpis`` counts per group, in ``sim.logkernel.flag_matrix``'s column order: on time, open at the
# horizon, satisfied, reopened, reached the desk / street office / city, volunteers', mobile grid workers', resolved,
# found late, unfunded, late, late at each level, responded in time where the category has a limit, has a limit.
FLAG_NAMES = [
    "on_time",
    "unresolved",
    "satisfied",
    "reopened",
    "reached_1",
    "reached_2",
    "reached_3",
    "volunteer",
    "mobile",
    "resolved",
    "found_late",
    "unfunded",
    "late",
    *[f"late_{i}" for i in range(len(LATE_LEVELS))],
    "responded",
    "has_limit",
]


def _group_frame(
    by: str, units: pd.Index, g: np.ndarray, names: list[str], flags: np.ndarray, res: np.ndarray, closed: np.ndarray
) -> pd.DataFrame:
    """One grouping's KPIs (``groups_kpis``): ``g`` each measured case's group, ``flags`` its 0/1 flags (a
    column per name in ``names``), ``res`` its resolution hours where ``closed``. Compiled passes
    (``sim.groupkernel``): the bits ``np.bincount`` gives."""
    from sim.groupkernel import group_counts, group_quantiles, group_sums

    k = len(units)
    counts = group_counts(g, k, flags).astype(float)
    c = {name: counts[:, j] for j, name in enumerate(names)}
    n = np.bincount(g, minlength=k).astype(float)
    n_closed, res_sum = group_sums(g, k, res, closed)
    p50, p90 = group_quantiles(g, k, res, closed, np.array([0.5, 0.9]))
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame(
            {
                "cases": n,
                "on_time_share": c["on_time"] / n,
                "overdue_cases": n - c["on_time"],
                "unresolved_cases": c["unresolved"],
                "resolution_mean_hours": res_sum / n_closed,
                "resolution_p50_hours": p50,
                "resolution_p90_hours": p90,
                "satisfaction_share": c["satisfied"] / n,
                "reopened_share": c["reopened"] / n,
                "escalated_community": c["reached_1"],
                "escalated_street": c["reached_2"],
                "escalated_city": c["reached_3"],
                "volunteer_share": c["volunteer"] / n,
                "mobile_share": c["mobile"] / n,
                "response_share": c["responded"] / c["has_limit"],
                "resolution_share": c["resolved"] / n,
                "repeat_complaints": c["reopened"],
                "found_late_share": c["found_late"] / n,
                "unfunded_share": c["unfunded"] / n,
                **{
                    f"late_at_{lv}_share" if lv != "after_reopen" else "late_after_reopen_share": (
                        c[f"late_{i}"] / c["late"]
                    )
                    for i, lv in enumerate(LATE_LEVELS)
                },
            },
            index=pd.Index(list(units), name=by),
        )
    frame.loc[n == 0, [col for col in CASE_KPIS if col != "cases"]] = np.nan
    return frame


def _is(column: pd.Series, value: str) -> np.ndarray:
    """``column == value`` for a categorical column, on its codes (no string comparison per row)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = column.cat.categories
        return column.cat.codes.to_numpy() == (cats.get_loc(value) if value in cats else -2)
    return (column == value).to_numpy()


def _group_percentiles(g: np.ndarray, x: np.ndarray, k: int, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Per group, each q-quantile of ``x`` with numpy's default (linear) interpolation; NaN for an empty group
    (``sim.groupkernel.group_quantiles``, compiled)."""
    from sim.groupkernel import group_quantiles

    out = group_quantiles(g.astype(np.int64), k, np.asarray(x, float), np.ones(len(g), np.bool_), np.array(qs, float))
    return list(out)


def backlog(log: pd.DataFrame, horizon_hours: float, step_hours: float = 24.0) -> pd.DataFrame:
    """Open cases (arrived, not finally closed) at the end of each step."""
    t = np.arange(step_hours, horizon_hours + 1e-9, step_hours)
    days = step_hours == 24.0 and np.array_equal(t, 24.0 * np.arange(1, len(t) + 1))

    def at_or_before(x: np.ndarray) -> np.ndarray:  # per step, how many of x are <= its time (x NaN: never)
        if days:  # steps of whole days: the first step at or after x by arithmetic (``sim.daykernel``)
            from sim.daykernel import working_day_before

            first = working_day_before(np.ascontiguousarray(x, dtype=np.float64), 24.0, len(t) + 1)
        else:
            first = np.searchsorted(t, x, side="left")  # the first step at or after x (NaN sorts last)
        return np.cumsum(np.bincount(first, minlength=len(t) + 1)[: len(t)])

    open_ = at_or_before(log["arrival_hours"].to_numpy()) - at_or_before(log["closed_hours"].to_numpy())
    return pd.DataFrame({"time_hours": t, "open_cases": open_})


def waiting_kpis(log: pd.DataFrame, cal, threshold_hours: float, warmup_hours: float) -> dict[str, float]:
    """Per pooled level: mean wait before service, P(wait > 0) and the share served within the threshold.

    Waits are in working hours (a case arriving at night waits for no one until the morning): from
    arrival (grid) or the end of the level below (desk, street) to the start of service.
    Volunteer-handled cases are left out.
    """
    from sim.logkernel import waits

    m = _measured(log, warmup_hours) & ~log["volunteer"].to_numpy()
    ready = {"grid": "arrival_hours", "community": "grid_end_hours", "street": "community_end_hours"}
    f = np.float64
    days = cal.day_arrays()
    out = {}
    for level, name in (("grid", "grid"), ("community", "desk"), ("street", "street")):
        start = np.ascontiguousarray(log[f"{level}_start_hours"].to_numpy(), dtype=f)
        r = np.ascontiguousarray(log[ready[level]].to_numpy(), dtype=f)
        w = waits(start, r, m, *days, cal.always_on)  # max(work(start) - work(ready), 0) where both are known
        out[f"wait_mean_hours_{name}"] = float(w.mean()) if w.size else np.nan
        out[f"wait_probability_{name}"] = float((w > 1e-9).mean()) if w.size else np.nan
        out[f"served_within_threshold_share_{name}"] = float((w <= threshold_hours).mean()) if w.size else np.nan
    return out


def duty_kpis(acct: DutyAccount, n_communities: int) -> dict[str, float]:
    """City KPIs of staff time: utilisation per level, duty coverage, backlog (see ``sim.duties``)."""
    n = n_communities
    levels = {"grid": slice(0, n), "desk": slice(n, 2 * n), "street": slice(2 * n, None)}
    out: dict[str, float] = {}
    for lv, sl in levels.items():
        worked = acct.worked_hours[sl].sum()
        case = acct.case_hours[sl].sum()
        out[f"utilisation_{lv}"] = float(acct.work_hours[sl].sum() / worked) if worked > 0 else np.nan
        out[f"case_share_{lv}"] = float(case / worked) if worked > 0 else np.nan
        due = acct.due_hours[sl].sum()
        out[f"duty_coverage_{lv}"] = float(1 - acct.overdue_hours[sl].sum() / due) if due > 0 else 1.0
    due = acct.due_hours.sum()
    out["duty_coverage"] = float(1 - acct.overdue_hours.sum() / due) if due > 0 else 1.0
    out["duty_backlog_hours"] = float(acct.backlog_hours.sum())
    return out


def _pair_coverage(acct: DutyAccount, n: int) -> np.ndarray:
    """Per community: coverage of its grid and desk duties together."""
    due = acct.due_hours[:n].sum(axis=1) + acct.due_hours[n : 2 * n].sum(axis=1)
    over = acct.overdue_hours[:n].sum(axis=1) + acct.overdue_hours[n : 2 * n].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(due > 0, 1 - over / np.where(due > 0, due, 1), 1.0)


def community_staff_kpis(acct: DutyAccount, n: int) -> pd.DataFrame:
    """Per community: duty coverage, utilisation of grid workers and desk, backlog hours."""
    return pd.DataFrame(
        {
            "duty_coverage": _pair_coverage(acct, n),
            "utilisation_grid": acct.utilisation[:n],
            "utilisation_desk": acct.utilisation[n : 2 * n],
            "duty_backlog_hours": acct.backlog_hours[:n].sum(axis=1) + acct.backlog_hours[n : 2 * n].sum(axis=1),
        }
    )


def street_staff_kpis(acct: DutyAccount, n: int, community_street: np.ndarray) -> pd.DataFrame:
    """Per street: its whole duty coverage (the office's duties and its communities' grid and desk duties,
    hours-weighted), and its office's duty coverage, utilisation and backlog hours."""
    ns = len(acct.due_hours) - 2 * n
    due = acct.due_hours.sum(axis=1)
    over = acct.overdue_hours.sum(axis=1)
    street_of = np.concatenate([community_street, community_street, np.arange(ns)])
    due_s = np.bincount(street_of, weights=due, minlength=ns)
    over_s = np.bincount(street_of, weights=over, minlength=ns)
    with np.errstate(invalid="ignore", divide="ignore"):
        whole = np.where(due_s > 0, 1.0 - over_s / np.where(due_s > 0, due_s, 1.0), 1.0)
    return pd.DataFrame(
        {
            "duty_coverage": whole,
            "office_duty_coverage": acct.coverage[2 * n :],
            "utilisation_street": acct.utilisation[2 * n :],
            "office_duty_backlog_hours": acct.backlog_hours[2 * n :].sum(axis=1),
        }
    )


def duty_hours_table(acct: DutyAccount, n: int) -> pd.DataFrame:
    """City hours by level and duty over the measured period, and a year's worth (x 365 / measured days)."""
    scale = acct.per_year
    levels = {"grid": slice(0, n), "desk": slice(n, 2 * n), "street": slice(2 * n, None)}
    rows = []
    for lv, sl in levels.items():
        rows.append((lv, "cases", "cases", np.nan, acct.case_hours[sl].sum(), np.nan, np.nan, np.nan))
        for j, (did, dlv) in enumerate(zip(acct.duty_ids, acct.duty_level)):
            if dlv != lv:
                continue
            due = acct.due_hours[sl, j].sum()
            rows.append(
                (
                    lv,
                    did,
                    "scheduled",
                    due,
                    acct.done_hours[sl, j].sum(),
                    acct.overdue_hours[sl, j].sum(),
                    # none came due (a short run, or a yearly duty): no coverage to show, not 100%
                    1 - acct.overdue_hours[sl, j].sum() / due if due > 0 else np.nan,
                    acct.backlog_hours[sl, j].sum(),
                )
            )
        rows.append((lv, "fixed duties", "fixed", np.nan, acct.fixed_hours[sl].sum(), np.nan, np.nan, np.nan))
        rows.append((lv, "leave", "leave", np.nan, acct.leave_hours[sl].sum(), np.nan, np.nan, np.nan))
    df = pd.DataFrame(
        rows,
        columns=["level", "work", "kind", "hours_due", "hours_done", "hours_overdue", "coverage", "backlog_end_hours"],
    )
    df["hours_done_per_year"] = df["hours_done"] * scale
    return df


def city_kpis(
    log: pd.DataFrame,
    acct: DutyAccount,
    n_communities: int,
    warmup_hours: float,
    horizon_hours: float,
    open_cases: pd.DataFrame | None = None,
    late: np.ndarray | None = None,
) -> dict[str, float]:
    """City-wide KPIs of one replication (``open_cases``: ``backlog(log, horizon_hours)``, ``late``:
    ``late_level(log)``, when already made)."""
    k = case_kpis(log, horizon_hours, _measured(log, warmup_hours), late)
    k.update(duty_kpis(acct, n_communities))
    b = backlog(log, horizon_hours) if open_cases is None else open_cases
    k["backlog_mean_cases"] = float(b.loc[b.time_hours > warmup_hours, "open_cases"].mean())
    return k


@dataclass(frozen=True)
class FundUse:
    """Per community, over the run: the people-service fund spent, the first day it ran out, unpaid fixes."""

    spent_yuan: np.ndarray
    exhausted_day: np.ndarray
    unfunded: np.ndarray


def fund_kpis(spent: np.ndarray, fund: np.ndarray, exhausted_day: np.ndarray, unfunded: np.ndarray, released: float):
    """Per community and city: the people-service fund spent (yuan and share of what was released over the
    run, ``released`` years' worth), the first day it ran out, the fixes it could not pay."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(fund > 0, spent / (fund * released), np.nan)
    per = pd.DataFrame(
        {
            "fund_spent_yuan": spent,
            "fund_spent_share": share,
            "fund_exhausted_day": exhausted_day,
            "unfunded_cases": unfunded.astype(float),
        }
    )
    total = float((fund * released).sum())
    city = {
        "fund_spent_yuan": float(spent.sum()),
        "fund_spent_share": float(spent.sum() / total) if total > 0 else np.nan,
        "fund_exhausted_communities": float((~np.isnan(exhausted_day)).sum()),
        "unfunded_cases": float(unfunded.sum()),
    }
    return per, city

"""One replication as one task per district, merged: bit-identical to the unsplit run.

Districts share nothing in this model: every pool belongs to one community or one street, a street
to one district, city departments are a delay (no shared queue), mobile grid workers work within their
street and volunteers within their community. So each district's cases can be simulated alone, with
the same per-case random numbers, and the results put back in place. ``district_coupling`` says what
would couple districts if the model ever gained it (it returns None today).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from sim.assembly import LOCAL_GROUPS, assemble, measured_from, surge_window
from sim.calendar import WorkCalendar
from sim.caselog import case_log, write_case_log
from sim.demand import PER_CASE, Cases, draw_cases
from sim.duties import DutyAccount, account_duties
from sim.engine import SimResult, simulate_cases
from sim.kpis import FundUse, groups_kpis, late_level

__all__ = [
    "split_by_default",
    "expected_cases",
    "SPLIT_ABOVE_CASES",
    "district_coupling",
    "subset_cases",
    "take_cases",
    "simulate_by_district",
    "run_by_district",
    "CITY_LOG_COLUMNS",
]


def district_coupling(scenario: Scenario) -> str | None:
    """Why districts cannot be simulated apart, or None when they can (always, in the current model)."""
    return None


# Above this many expected cases a replication runs district by district unless told otherwise: one
# process's engine for the whole year would need several GB (Weihai, 0.47 M cases, runs whole).
SPLIT_ABOVE_CASES = 2_000_000


def expected_cases(scenario: Scenario, days: int) -> float:
    """Cases a replication of ``days`` days should draw (the channels' rates; profiles average 1, surges
    are left out)."""
    rates = sum(c.rate_per_10k_per_day for c in scenario.spec.demand.channels.values())
    return float(scenario.urban_residents.sum()) / 10_000 * rates * days


def split_by_default(scenario: Scenario, days: int) -> bool:
    """Whether a replication should run district by district when the planner did not say."""
    return (
        len(scenario.district_ids) > 1
        and district_coupling(scenario) is None
        and expected_cases(scenario, days) > SPLIT_ABOVE_CASES
    )


def subset_cases(cases: Cases, mask: np.ndarray) -> Cases:
    """The cases selected by ``mask``, in the same (arrival) order, with the same random numbers."""
    return replace(cases, **{f: getattr(cases, f)[mask] for f in PER_CASE if getattr(cases, f) is not None})


def take_cases(cases: Cases, ids: np.ndarray) -> Cases:
    """The cases numbered ``ids`` (ascending: the same arrival order), with the same random numbers."""
    return replace(cases, **{f: getattr(cases, f)[ids] for f in PER_CASE if getattr(cases, f) is not None})


def _city_rows(ids: np.ndarray, twin_of: np.ndarray | None, n: int) -> np.ndarray:
    """A district's rows as city-wide case numbers: a drawn case its city number, a problem found late
    ``n`` + its drawn case's city number (the whole replication's order: drawn cases, then twins by their case)."""
    if twin_of is None:
        return ids
    local = np.arange(len(twin_of))
    return np.where(twin_of < 0, ids[np.minimum(local, len(ids) - 1)], n + ids[np.maximum(twin_of, 0)])


def _district_task(args: tuple) -> tuple[np.ndarray, SimResult]:
    scenario, cases, allocation, days, mask = args
    cal = WorkCalendar(scenario.spec.calendar, days)
    return np.flatnonzero(mask), simulate_cases(scenario, subset_cases(cases, mask), allocation, cal)


def simulate_by_district(
    scenario: Scenario, cases: Cases, allocation: Allocation, mapper: Callable[[Callable, list], list]
) -> SimResult:
    """Simulate each district's cases as its own task (``mapper`` runs them) and merge the results: rows in the
    whole replication's order (drawn cases, then each problem found late after them, by its drawn case)."""
    _check_uncoupled(scenario)
    district = scenario.community_district[cases.community]
    tasks = [(scenario, cases, allocation, cases.days, district == d) for d in range(len(scenario.district_ids))]
    parts = mapper(_district_task, [t for t in tasks if t[4].any()])
    n = len(cases)
    keys = [_city_rows(idx, p.rows.twin_of, n) for idx, p in parts]
    order = np.argsort(np.concatenate(keys), kind="stable")
    merged: dict[str, object] = {}
    first = parts[0][1]
    for f in fields(SimResult):
        value = getattr(first, f.name)
        if f.name == "events":
            merged[f.name] = sum(p.events for _, p in parts)
        elif f.name in ("people", "present", "case_servers"):
            merged[f.name] = value  # per pool, the same in every part
        elif f.name in ("busy", "fund_spent_yuan", "unfunded_cases"):
            merged[f.name] = sum(getattr(p, f.name) for _, p in parts)  # each pool and community in one part
        elif f.name == "duty_sums":  # each part's, of its own pools: the merged account is replayed
            merged[f.name] = None
        elif f.name == "fund_exhausted_day":
            merged[f.name] = np.fmin.reduce([p.fund_exhausted_day for _, p in parts])
        elif f.name == "rows":
            rows = [p.rows for _, p in parts]
            merged[f.name] = replace(
                rows[0],
                **{
                    g: np.concatenate([getattr(r, g) for r in rows])[order]
                    for g in (*PER_CASE, "twin_of")
                    if getattr(rows[0], g) is not None
                },
            )
        else:
            merged[f.name] = np.concatenate([getattr(p, f.name) for _, p in parts])[order]
    return SimResult(**merged)  # type: ignore[arg-type]


def _check_uncoupled(scenario: Scenario) -> None:
    why = district_coupling(scenario)
    if why is not None:
        raise ValueError(f"districts are coupled ({why}); run the replication whole")


# The case-log columns the city-wide KPIs read (``sim.assembly.assemble``); a district task returns
# only these, so the parent holds a slim log, never the whole one.
CITY_LOG_COLUMNS = (
    "case_id",
    "channel",
    "category",
    "arrival_hours",
    "grid_start_hours",
    "grid_end_hours",
    "community_start_hours",
    "community_end_hours",
    "street_start_hours",
    "street_end_hours",
    "deadline_hours",
    "first_close_hours",
    "closed_hours",
    "resolution_hours",
    "on_time",
    "reopened",
    "satisfied",
    "volunteer",
    "level_reached",
    "found_late",
    "responded_in_time",
    "resolved",
    "fund_status",
)


# The drawn cases of replications being split, by key, while their district tasks run in this process or
# in workers forked from it: such a task reads its district's cases from here instead of receiving a copy.
_INHERITED: dict[int, Cases] = {}
_KEYS = itertools.count()


def _tasks_inherit() -> bool:
    """Whether district tasks run where this process's memory is: in it, or in local workers forked from it
    (``sim.replications.map_tasks`` without Dask, under the fork start method); not on Dask's workers."""
    import multiprocessing

    from sim.dask_engine import active_client

    return active_client() is None and multiprocessing.get_start_method() == "fork"


@dataclass
class DistrictPart:
    """What one district's task returns: its slim case log, duty accounts and local group KPIs."""

    district: int
    log: pd.DataFrame
    acct: DutyAccount
    window_acct: DutyAccount | None
    groups: dict[str, pd.DataFrame]
    fund: FundUse


def _district_part(args: tuple) -> DistrictPart:
    scenario, allocation, cases, ids, ids_total, days, district, replication, log_dir = args
    if isinstance(cases, int):  # a key: the district's cases are the parent's, inherited (``_tasks_inherit``)
        if cases not in _INHERITED:
            raise RuntimeError("a district task that shares its parent's memory found no cases there")
        cases = take_cases(_INHERITED[cases], ids)
    cal = WorkCalendar(scenario.spec.calendar, days)
    communities = scenario.community_district == district
    streets = scenario.street_district == district
    only = (np.flatnonzero(communities), np.flatnonzero(streets))  # the duties of this district's pools alone
    warm_days = measured_from(scenario, days)
    window = surge_window(scenario, days)
    windows = ((warm_days, None),) + (() if window is None else (window,))
    result = simulate_cases(scenario, cases, allocation, cal, only=only, duty_windows=windows)
    log = case_log(scenario, result, cal)
    local = log["case_id"].to_numpy()  # a district's own numbering: its drawn cases, then len(ids) + drawn case
    log["case_id"] = np.where(
        local < len(ids), ids[np.minimum(local, len(ids) - 1)], ids_total + ids[np.maximum(local - len(ids), 0)]
    )
    acct = account_duties(scenario, result, cal, warm_days, only=only)
    window_acct = None if window is None else account_duties(scenario, result, cal, *window, only=only)
    keep = {"community": communities, "street": streets, "district": np.arange(len(scenario.district_ids)) == district}
    late = late_level(log)
    every = groups_kpis(log, LOCAL_GROUPS, warm_days * 24.0, days * 24.0, late)
    groups = {g: every[g][keep[g]] for g in LOCAL_GROUPS}
    if log_dir is not None:
        write_case_log(log, log_dir, replication, district=str(scenario.district_ids[district]))
    fund = FundUse(result.fund_spent_yuan, result.fund_exhausted_day, result.unfunded_cases)
    return DistrictPart(district, log[list(CITY_LOG_COLUMNS)], acct, window_acct, groups, fund)


def _merge_accounts(scenario: Scenario, parts: list[DistrictPart], accts: list[DutyAccount]) -> DutyAccount:
    """One duty account from the districts' accounts (``accts[i]`` of ``parts[i]``): each pool's rows from its
    own district."""
    cd = scenario.community_district
    pool_district = np.concatenate([cd, cd, scenario.street_district])
    merged: dict[str, object] = {}
    for f in fields(DutyAccount):
        value = getattr(accts[0], f.name)
        if isinstance(value, np.ndarray):
            owner = cd if f.name == "desk_help_hours" else pool_district
            out = np.zeros_like(value)
            for p, a in zip(parts, accts):
                rows = owner == p.district
                out[rows] = getattr(a, f.name)[rows]
            merged[f.name] = out
        else:
            merged[f.name] = value
    return DutyAccount(**merged)  # type: ignore[arg-type]


def run_by_district(
    scenario: Scenario,
    allocation: Allocation,
    days: int,
    seed_seq: np.random.SeedSequence,
    replication: int,
    keep_log: bool,
    log_dir: str | None,
    mapper: Callable[[Callable, list], list],
):
    """One replication as one task per district: each simulates its district, writes its part of the case
    log (``replication=R/district=D``) and aggregates it; the parent merges slim logs, accounts and group
    KPIs into the replication's output, with the same numbers as the whole replication.

    Memory: a task holds one district's simulation and log; the parent holds the cases until they are
    handed out, then the slim logs (``CITY_LOG_COLUMNS``) for the city-wide percentiles; ``keep_log``
    keeps that slim log (the whole log is in ``log_dir``).
    """
    _check_uncoupled(scenario)
    cal = WorkCalendar(scenario.spec.calendar, days)
    cases = draw_cases(scenario, days, seed_seq)
    n = len(cases)
    district = scenario.community_district[cases.community]
    # each district's cases in case order: one stable sort by district, then each district's slice of it (a
    # pass over the cases, not one boolean mask over all of them per district)
    by_district = np.argsort(district, kind="stable")
    edges = np.searchsorted(district[by_district], np.arange(len(scenario.district_ids) + 1))
    # where the tasks share this process's memory, each takes its district's cases from the parent's (no
    # copies handed out, nothing pickled: 1.4 GB on the megacity); on Dask each task carries its own
    key = next(_KEYS) if _tasks_inherit() else None
    tasks = []
    for d in range(len(scenario.district_ids)):
        ids = by_district[edges[d] : edges[d + 1]]
        if ids.size:
            mine = key if key is not None else take_cases(cases, ids)
            tasks.append((scenario, allocation, mine, ids, n, days, d, replication, log_dir))
    if key is not None:
        _INHERITED[key] = cases
    del cases, district, by_district  # the parent keeps the districts' shares, or the cases they read
    try:
        parts: list[DistrictPart] = mapper(_district_part, tasks)
    finally:
        if key is not None:
            del _INHERITED[key]
    del tasks
    log = _merge_logs(parts)
    acct = _merge_accounts(scenario, parts, [p.acct for p in parts])
    windows = [p.window_acct for p in parts if p.window_acct is not None]
    window_acct = _merge_accounts(scenario, parts, windows) if len(windows) == len(parts) else None
    groups = {}
    for g, units in (
        ("community", scenario.community_ids),
        ("street", scenario.street_ids),
        ("district", scenario.district_ids),
    ):
        groups[g] = pd.concat([p.groups[g] for p in parts]).reindex(pd.Index(list(units), name=g))
    fund = FundUse(
        np.sum([p.fund.spent_yuan for p in parts], axis=0),
        np.fmin.reduce([p.fund.exhausted_day for p in parts]),
        np.sum([p.fund.unfunded for p in parts], axis=0),
    )
    return assemble(scenario, allocation, log, acct, window_acct, groups, fund, cal, days, replication, keep_log)


def _merge_logs(parts: list[DistrictPart]) -> pd.DataFrame:
    """The districts' slim logs as one, in case order (the whole replication's); each part's log is released
    once copied."""
    order = np.argsort(np.concatenate([p.log["case_id"].to_numpy() for p in parts]), kind="stable")
    first = parts[0].log
    columns: dict[str, object] = {}
    for col in CITY_LOG_COLUMNS:
        kind = first[col].dtype
        if isinstance(kind, pd.CategoricalDtype):
            codes = np.concatenate([p.log[col].cat.codes.to_numpy() for p in parts])[order]
            columns[col] = pd.Categorical.from_codes(codes, dtype=kind)
        else:
            columns[col] = np.concatenate([p.log[col].to_numpy() for p in parts])[order]
        for p in parts:  # release this column of every part
            p.log = p.log.drop(columns=col)
    return pd.DataFrame(columns)

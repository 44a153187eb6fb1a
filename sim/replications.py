"""Independent replications with 95% confidence intervals, on local processes.

Replication ``r`` of a run with seed ``S`` always uses the child ``r`` of
``SeedSequence(S)``: the same complaints for every allocation (common random
numbers) and the same numbers whatever the number of processes.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.load import Scenario
from sim.assembly import GROUPS, LOCAL_GROUPS, RepOutput, assemble, measured_from, surge_window, window_kpis
from sim.calendar import WorkCalendar
from sim.caselog import case_log, write_case_log
from sim.demand import Cases, draw_cases
from sim.duties import account_duties
from sim.engine import simulate_cases
from sim.kpis import FundUse, groups_kpis, late_level
from sim.split import run_by_district, split_by_default
from sim.workers import at_once, default_processes, map_tasks, shared_workers

__all__ = [
    "load_compiled_code",
    "map_tasks",
    "shared_workers",
    "default_processes",
    "RepOutput",
    "Replications",
    "run_replication",
    "run_replications",
    "run_allocations",
    "confidence_interval",
    "kpi_range",
    "window_kpis",
    "replication_seeds",
    "measured_from",
    "GROUPS",
]

logger = logging.getLogger(__name__)


def replication_seeds(seed: int, reps: int) -> list[np.random.SeedSequence]:
    """Replication r's seed: child r of SeedSequence(seed), the same for every allocation."""
    return np.random.SeedSequence(seed).spawn(reps)


def kpi_range(name: str) -> str | None:
    """The natural range of a KPI: "share" (0 to 1), "nonneg" (>= 0) or None (any real)."""
    if "share" in name or "coverage" in name or "probability" in name:
        return "share"
    if (
        name.startswith(
            (
                "utilisation",
                "cases",
                "overdue",
                "unresolved",
                "escalated",
                "resolution",
                "backlog",
                "duty_backlog",
                "wait_",
                "repeat",
                "fund_",
                "unfunded",
            )
        )
        or "hours" in name
    ):
        return "nonneg"
    return None


def confidence_interval(x: np.ndarray, level: float = 0.95, bounds: str | None = None) -> tuple[float, float, float]:
    """Mean and 95% confidence interval over replications (NaN bounds for one replication).

    Student-t on the original scale; with ``bounds="share"`` on the logit scale and with
    ``bounds="nonneg"`` on the log scale, so the interval stays inside the KPI's range.
    A share that some replication has exactly at 0 or 1 has no logit: its interval is Student-t on
    the original scale, clipped to [0, 1] (a logit of the share clipped just below 1 would stretch the
    interval of replications at 99.4% and 100% to [0%, 100%]). The mean is always the plain mean.
    """
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if n < 2:
        return m, np.nan, np.nan
    from scipy.special import stdtrit  # scipy.stats.t.ppf's own function, without scipy.stats' start-up

    t = float(stdtrit(n - 1, 0.5 + level / 2))
    if bounds == "share":
        if np.all(x == x[0]):
            return m, m, m
        if np.any((x <= 0) | (x >= 1)):
            h = float(t * x.std(ddof=1) / np.sqrt(n))
            return m, max(0.0, m - h), min(1.0, m + h)
        y = np.log(x / (1 - x))
        h = t * y.std(ddof=1) / np.sqrt(n)
        c = y.mean()
        lo, hi = 1 / (1 + np.exp(-(c - h))), 1 / (1 + np.exp(-(c + h)))
        return m, float(min(lo, m)), float(max(hi, m))
    if bounds == "nonneg":
        y = np.log1p(np.clip(x, 0, None))
        h = t * y.std(ddof=1) / np.sqrt(n)
        lo, hi = max(0.0, np.expm1(y.mean() - h)), np.expm1(y.mean() + h)
        return m, float(min(lo, m)), float(max(hi, m))
    h = float(t * x.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h


def run_replication(
    scenario: Scenario,
    allocation: Allocation,
    days: int,
    seed_seq: np.random.SeedSequence,
    replication: int = 0,
    keep_log: bool = False,
    log_dir: str | None = None,
    split_processes: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> RepOutput:
    """Draw the cases, simulate them (``sim.engine``), compute KPIs from the log.

    ``split_processes``: simulate each district as its own task on that many processes (or the Dask
    cluster of an enclosing ``dask_engine``) and aggregate its log there (``sim.split``): the same
    numbers, and memory bounded by the largest district rather than the city. ``progress`` is then
    called with 1 after each district.
    """
    if split_processes is not None:

        def mapper(func: Callable, tasks: list) -> list:
            return map_tasks(func, tasks, processes=split_processes, progress=progress, fresh=True)

        return run_by_district(scenario, allocation, days, seed_seq, replication, keep_log, log_dir, mapper)
    t = time.perf_counter()
    cases = draw_cases(scenario, days, seed_seq)
    return _replication_of(scenario, allocation, cases, replication, keep_log, log_dir, t)


def _replication_of(
    scenario: Scenario,
    allocation: Allocation,
    cases: Cases,
    replication: int,
    keep_log: bool,
    log_dir: str | None,
    t: float,
) -> RepOutput:
    """``run_replication`` of cases drawn (at ``t``, for the log)."""
    days = cases.days
    cal = WorkCalendar(scenario.spec.calendar, days)
    warm_days = measured_from(scenario, days)
    window = surge_window(scenario, days)
    windows = ((warm_days, None),) + (() if window is None else (window,))
    result = simulate_cases(scenario, cases, allocation, cal, duty_windows=windows)
    logger.info(
        "replication %d: %d cases, %d completions, simulated in %.1f s",
        replication,
        len(cases),
        result.events,
        time.perf_counter() - t,
    )
    log = case_log(scenario, result, cal)
    acct = account_duties(scenario, result, cal, warm_days)
    window_acct = None if window is None else account_duties(scenario, result, cal, *window)
    late = late_level(log)
    groups = groups_kpis(log, (*LOCAL_GROUPS, "category"), warm_days * 24.0, days * 24.0, late)
    if log_dir is not None:  # each replication writes its own part: nothing large crosses processes
        write_case_log(log, log_dir, replication)
    fund = FundUse(result.fund_spent_yuan, result.fund_exhausted_day, result.unfunded_cases)
    return assemble(scenario, allocation, log, acct, window_acct, groups, fund, cal, days, replication, keep_log, late)


def _task(args: tuple) -> list[RepOutput]:
    """One replication of each allocation, on cases drawn once (they do not depend on the allocation)."""
    scenario, allocations, days, seed_seq, replication, keep_log, log_dir = args
    t = time.perf_counter()
    cases = draw_cases(scenario, days, seed_seq)
    out = []
    for a in allocations:  # the first's time includes the draws; each later one's is its own
        out.append(_replication_of(scenario, a, cases, replication, keep_log, log_dir, t))
        t = time.perf_counter()
    return out


# Scenarios whose compiled loops this process has loaded (``load_compiled_code``): once is enough
_LOADED_FOR: weakref.WeakSet[Scenario] = weakref.WeakSet()


def load_compiled_code(scenario: Scenario, allocation: Allocation) -> None:
    """Load the compiled loops (``sim.kernel``, from numba's cache) here, before the workers are forked, by
    simulating two days: each worker then inherits them instead of loading them again (about half a second a
    worker and a batch: the main job starts a batch per optimisation round). Once per scenario object and
    process (the main job's thirteen batches: 0.6 s of two-day runs saved); another scenario may take other
    specialisations of the loops, so it is warmed too."""
    from sim.jit import HAVE_NUMBA

    if HAVE_NUMBA and scenario.spec.calendar.days > 2 and scenario not in _LOADED_FOR:
        cases = draw_cases(scenario, 2, np.random.SeedSequence(0))
        simulate_cases(scenario, cases, allocation, WorkCalendar(scenario.spec.calendar, 2))
        _LOADED_FOR.add(scenario)


@dataclass
class Replications:
    """Results of N replications of one allocation."""

    outputs: list[RepOutput]
    seed: int
    days: int
    per_rep: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.per_rep = pd.DataFrame(
            [o.kpis for o in self.outputs], index=pd.Index([o.replication for o in self.outputs], name="replication")
        )

    @property
    def reps(self) -> int:
        return len(self.outputs)

    def summary(self) -> pd.DataFrame:
        """Per KPI: mean and 95% confidence interval over replications."""
        rows = {k: confidence_interval(self.per_rep[k].to_numpy(), bounds=kpi_range(k)) for k in self.per_rep.columns}
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "ci95_low", "ci95_high"])
        out.index.name = "kpi"
        return out

    def group(self, name: str) -> pd.DataFrame:
        """KPIs by group, averaged over replications, with the replication count."""
        frames = [o.groups[name].assign(replication=o.replication) for o in self.outputs]
        return pd.concat(frames).groupby(level=0, observed=False).mean(numeric_only=True).drop(columns="replication")

    def group_per_rep(self, name: str) -> pd.DataFrame:
        return pd.concat([o.groups[name].assign(replication=o.replication) for o in self.outputs])

    def duty_hours_mean(self) -> pd.DataFrame:
        """Hours by level and duty, mean over replications."""
        d = pd.concat([o.duty_hours.assign(replication=o.replication) for o in self.outputs])
        return (
            d.groupby(["level", "work", "kind"], as_index=False, sort=False)
            .mean(numeric_only=True)
            .drop(columns="replication")
        )

    def backlog_mean(self) -> pd.DataFrame:
        b = pd.concat([o.backlog.assign(replication=o.replication) for o in self.outputs])
        return b.groupby("time_hours", as_index=False)["open_cases"].mean()

    @property
    def first_log(self) -> pd.DataFrame | None:
        return self.outputs[0].log if self.outputs else None


def run_replications(
    scenario: Scenario,
    allocation: Allocation,
    reps: int,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    keep_first_log: bool = False,
    log_dir: str | None = None,
    progress: Callable[[int], None] | None = None,
    split_districts: bool | None = None,
) -> Replications:
    """Run ``reps`` replications on ``processes`` local processes (default: all cores).

    ``progress`` is called with 1 after each finished replication. ``split_districts``: replications one
    after another, each as one task per district on the processes (for a city too large for one core or
    one process's memory); ``progress`` is then called after each district task. None (the default):
    split when the city is large (``sim.split.split_by_default``).
    """
    (runs,) = run_allocations(
        scenario, [allocation], reps, days, seed, processes, keep_first_log, log_dir, progress, split_districts
    )
    return runs


def run_allocations(
    scenario: Scenario,
    allocations: list[Allocation],
    reps: int,
    days: int | None = None,
    seed: int | None = None,
    processes: int | None = None,
    keep_first_log: bool = False,
    log_dir: str | None = None,
    progress: Callable[[int], None] | None = None,
    split_districts: bool | None = None,
) -> list[Replications]:
    """``[run_replications(scenario, a, reps, ...) for a in allocations]`` (the same replications for each:
    common random numbers), in one batch of one task per replication: its cases, which do not depend on the
    allocation, drawn once and simulated under each allocation (a fifth of a Weihai year saved per allocation
    after the first, and no pool waiting for one allocation's last replication before the next starts).
    ``progress``: one tick per replication of each allocation. ``log_dir``: one allocation only."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1: {reps}")
    if log_dir is not None and len(allocations) != 1:
        raise ValueError("a case-log folder is for the replications of one allocation")
    days = days or scenario.spec.calendar.days
    seed = scenario.spec.seed if seed is None else seed
    if split_districts is None:
        split_districts = split_by_default(scenario, days)
    from sim.dask_engine import active_client

    if split_districts:
        where = "each split by district"
    elif active_client() is not None:
        where = "on the Dask cluster"
    else:
        where = f"up to {at_once(reps, processes)} at a time " + (
            f"on {default_processes()} core(s)" if processes is None else f"({processes} process(es) asked)"
        )
    logger.info(
        "%d replication(s) of %d days of %d allocation(s), seed %d, %s", reps, days, len(allocations), seed, where
    )
    log = None if log_dir is None else str(log_dir)
    if split_districts:  # progress: one tick per district task
        split = processes or default_processes()
        outputs = [
            [
                run_replication(scenario, a, days, seq, r, keep_first_log and r == 0, log, split, progress)
                for r, seq in enumerate(replication_seeds(seed, reps))  # each its own: spawning changes a sequence
            ]
            for a in allocations
        ]
        return [Replications(out, seed, days) for out in outputs]
    # a task per replication: its cases drawn once for every allocation
    tasks = [
        (scenario, allocations, days, seq, r, keep_first_log and r == 0, log)
        for r, seq in enumerate(replication_seeds(seed, reps))
    ]
    if min(len(tasks), processes or default_processes()) > 1:
        load_compiled_code(scenario, allocations[0])
    k = len(allocations)
    per_rep = map_tasks(_task, tasks, processes, None if progress is None else lambda n: progress(n * k))
    return [Replications([out[i] for out in per_rep], seed, days) for i in range(k)]

"""Independent replications with 95% confidence intervals, on local processes.

Replication ``r`` of a run with seed ``S`` always uses the child ``r`` of
``SeedSequence(S)``: the same complaints for every allocation (common random
numbers) and the same numbers whatever the number of processes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from sim.allocation import Allocation
from sim.calendar import WorkCalendar
from sim.caselog import case_log
from sim.demand import draw_cases
from sim.engine import pool_sizes, simulate_cases
from sim.kpis import city_kpis, group_kpis, backlog, routine_coverage
from sim.scenario import Scenario
from sim.stopping import critical

__all__ = ["map_tasks", "default_processes", "RepOutput", "Replications", "run_replication", "run_replications", "confidence_interval",
           "replication_seeds", "GROUPS"]

GROUPS = ("category", "community", "street", "district")


def replication_seeds(seed: int, reps: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(seed).spawn(reps)


def confidence_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval over replications (NaN bounds for one replication)."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if n < 2:
        return m, np.nan, np.nan
    h = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h


@dataclass
class RepOutput:
    """What one replication returns: city KPIs, KPIs by group, backlog, optionally its case log."""

    replication: int
    kpis: dict[str, float]
    groups: dict[str, pd.DataFrame]
    backlog: pd.DataFrame
    log: pd.DataFrame | None = None


def run_replication(scenario: Scenario, allocation: Allocation, days: int, seed_seq: np.random.SeedSequence,
                    replication: int = 0, keep_log: bool = False) -> RepOutput:
    """Draw the cases, run the event loop, compute KPIs from the log."""
    cal = WorkCalendar(scenario.spec.calendar, days)
    cases = draw_cases(scenario, days, seed_seq)
    result = simulate_cases(scenario, cases, allocation, cal)
    log = case_log(scenario, cases, result)
    warm = min(scenario.spec.calendar.warmup_days, days - 1) * 24.0
    horizon = days * 24.0
    grid_n, desk_n, street_n = pool_sizes(scenario, allocation)
    k = city_kpis(log, scenario, cal, grid_n, desk_n, street_n, allocation.workers, warm, horizon)
    groups = {g: group_kpis(log, g, warm) for g in GROUPS}
    groups["community"]["routine_coverage"] = routine_coverage(log, scenario, cal, grid_n, allocation.workers,
                                                               warm, horizon)
    return RepOutput(replication, k, groups, backlog(log, horizon), log if keep_log else None)


def _task(args: tuple) -> RepOutput:
    return run_replication(*args)


@dataclass
class Replications:
    """Results of N replications of one allocation."""

    outputs: list[RepOutput]
    seed: int
    days: int
    per_rep: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.per_rep = pd.DataFrame([o.kpis for o in self.outputs],
                                    index=pd.Index([o.replication for o in self.outputs], name="replication"))

    @property
    def reps(self) -> int:
        return len(self.outputs)

    def summary(self) -> pd.DataFrame:
        """Per KPI: mean and 95% confidence interval over replications."""
        rows = {k: confidence_interval(self.per_rep[k].to_numpy()) for k in self.per_rep.columns}
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "ci95_low", "ci95_high"])
        out.index.name = "kpi"
        return out

    def group(self, name: str) -> pd.DataFrame:
        """KPIs by group, averaged over replications, with the replication count."""
        frames = [o.groups[name].assign(replication=o.replication) for o in self.outputs]
        return pd.concat(frames).groupby(level=0, observed=False).mean(numeric_only=True).drop(columns="replication")

    def group_per_rep(self, name: str) -> pd.DataFrame:
        return pd.concat([o.groups[name].assign(replication=o.replication) for o in self.outputs])

    def backlog_mean(self) -> pd.DataFrame:
        b = pd.concat([o.backlog.assign(replication=o.replication) for o in self.outputs])
        return b.groupby("time_hours", as_index=False)["open_cases"].mean()

    @property
    def first_log(self) -> pd.DataFrame | None:
        return self.outputs[0].log if self.outputs else None


def map_tasks(func: Callable, tasks: list, processes: int | None = None,
              progress: Callable[[int], None] | None = None) -> list:
    """``[func(t) for t in tasks]`` on local processes (default: all cores), results in task order.

    On any exception in the parent (Ctrl-C, SIGTERM turned into an exception by the
    command line, a failed task) the workers are terminated at once, not awaited.
    Workers ignore Ctrl-C (the parent stops them) and die with the parent.
    """
    processes = min(len(tasks), processes or default_processes())
    if processes <= 1:
        out = []
        for t in tasks:
            out.append(func(t))
            if progress:
                progress(1)
        return out
    ex = ProcessPoolExecutor(max_workers=processes, initializer=_worker_init, initargs=(os.getpid(),))
    try:
        with critical():   # submitting forks the workers: a stop must not land in an at-fork hook
            results = ex.map(func, tasks)
        out = []
        for r in results:
            out.append(r)
            if progress:
                progress(1)
    except BaseException:
        _stop(ex)
        raise
    ex.shutdown()
    return out


PR_SET_PDEATHSIG = 1   # linux/prctl.h


def _worker_init(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:   # the kernel kills this worker when its parent dies, even by SIGKILL
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(1)


def _stop(ex: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers now and release the pool without waiting for running tasks."""
    with critical():   # a repeated stop must not leave a worker running (the interpreter's exit would wait for it)
        workers = list((getattr(ex, "_processes", None) or {}).values())
        for w in workers:
            w.terminate()
        ex.shutdown(wait=False, cancel_futures=True)
        for w in workers:
            w.join(timeout=1)
            if w.is_alive():   # pragma: no cover - SIGTERM is not ignored by workers
                w.kill()
                w.join(timeout=1)


def default_processes() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def run_replications(scenario: Scenario, allocation: Allocation, reps: int, days: int | None = None,
                     seed: int | None = None, processes: int | None = None, keep_first_log: bool = False,
                     progress: Callable[[int], None] | None = None) -> Replications:
    """Run ``reps`` replications on ``processes`` local processes (default: all cores).

    ``progress`` is called with 1 after each finished replication.
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1: {reps}")
    days = days or scenario.spec.calendar.days
    seed = scenario.spec.seed if seed is None else seed
    seqs = replication_seeds(seed, reps)
    tasks = [(scenario, allocation, days, seqs[r], r, keep_first_log and r == 0) for r in range(reps)]
    outputs = map_tasks(_task, tasks, processes, progress)
    return Replications(outputs, seed, days)

"""The planner's desk's results: simulation jobs per page session in worker processes, the comparison of the
edited allocation with the baseline as the page shows it, the what-if report and the budget frontier.
"""

from __future__ import annotations

import atexit
import html as html_escape
import threading
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scenario.allocation import Allocation
from scenario.errors import GridplanError
from scenario.load import Scenario
from sim.replications import Replications, RepOutput, replication_seeds, run_replication
from solvers.allocator import allocate
from solvers.lpmodel import AllocationOptions

__all__ = [
    "Job",
    "JobRegistry",
    "JOBS",
    "job_runs",
    "KPIS",
    "comparison_table",
    "comparison_rows",
    "COMPARISON_HEADER",
    "shown",
    "shown_difference",
    "report_html",
    "frontier_figure",
]

KPIS = [
    "on_time_share",
    "overdue_cases",
    "duty_coverage",
    "duty_coverage_desk",
    "utilisation_grid",
    "utilisation_desk",
    "utilisation_street",
    "satisfaction_share",
    "resolution_p90_hours",
]


# ------------------------------------------------------------------ background jobs
@dataclass
class Job:
    """A simulation of the edited allocation and the baseline on the same complaints, one task per replication."""

    session: str
    futures: list[Future]
    labels: list[str]
    reps: int
    seed: int
    days: int
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return sum(f.done() for f in self.futures)


class JobRegistry:
    """Jobs by id, each tied to the session (page load) that started it."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import os

            self._pool = ProcessPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1)))
            atexit.register(self._pool.shutdown, cancel_futures=True)
        return self._pool

    def start(
        self, session: str, s: Scenario, allocations: list[tuple[str, Allocation]], reps: int, days: int, seed: int
    ) -> str:
        seqs = replication_seeds(seed, reps)
        futures = [
            self.pool.submit(run_replication, s, a, days, seqs[r], r) for _, a in allocations for r in range(reps)
        ]
        job_id = uuid.uuid4().hex
        with self.lock:
            self.jobs[job_id] = Job(session, futures, [label for label, _ in allocations], reps, seed, days)
        return job_id

    def get(self, session: str, job_id: str) -> Job | None:
        """The job, only for the session that started it."""
        with self.lock:
            job = self.jobs.get(job_id)
        return job if job is not None and job.session == session else None


JOBS = JobRegistry()


def job_runs(job: Job) -> list[Replications]:
    """The finished job's replications per allocation, exactly as ``run_replications`` would give them."""
    outs: list[RepOutput] = [f.result() for f in job.futures]
    return [Replications(outs[i * job.reps : (i + 1) * job.reps], job.seed, job.days) for i in range(len(job.labels))]


def comparison_table(runs: list[Replications], labels: list[str]) -> pd.DataFrame:
    """Each KPI under each allocation and the paired difference from the first with its 95% interval."""
    from workflows.compare import paired

    rows = []
    for k in KPIS:
        base = runs[0].per_rep[k].to_numpy()
        row: dict[str, Any] = {"kpi": k}
        for label, run in zip(labels, runs):
            row[label] = float(np.nanmean(run.per_rep[k].to_numpy()))
        d, lo, hi, sig = paired(base, runs[-1].per_rep[k].to_numpy(), k)
        row["difference"], row["ci95_low"], row["ci95_high"], row["significant"] = d, lo, hi, sig
        rows.append(row)
    return pd.DataFrame(rows)


def _is_share(kpi: str) -> bool:
    return any(w in kpi for w in ("share", "coverage", "utilisation"))


def shown(kpi: str, v: float | None) -> str:
    """A KPI value as a planner reads it ("–" for none: a unit with nobody has no utilisation)."""
    if v is None or pd.isna(v):
        return "–"
    return f"{v:.2%}" if _is_share(kpi) else f"{v:,.1f}"


def shown_difference(kpi: str, v: float | None) -> str:
    """A paired difference: shares in percentage points (+0.39 pt), as the report and console give them."""
    from gridplan.fmt import difference

    return difference(np.nan if v is None else v, share=_is_share(kpi))


COMPARISON_HEADER = ("KPI", "baseline", "edited", "difference [95% CI]")


def comparison_rows(table: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """The comparison as the page shows it: values as percentages or numbers, differences of shares in
    points, "–" where there is none."""
    return [
        (
            r.kpi,
            shown(r.kpi, r.baseline),
            shown(r.kpi, r.edited),
            f"{shown_difference(r.kpi, r.difference)} [{shown_difference(r.kpi, r.ci95_low)}, "
            f"{shown_difference(r.kpi, r.ci95_high)}]" + (" significant" if r.significant else ""),
        )
        for r in table.itertuples()
    ]


def report_html(s: Scenario, check: str, table: pd.DataFrame | None, cards: pd.DataFrame | None) -> str:
    """A self-contained what-if report of the page's last results."""
    parts = [f"<h1>gridplan what-if: {html_escape.escape(s.name)}</h1>", f"<p>{html_escape.escape(check)}</p>"]
    if table is not None:
        shown_table = pd.DataFrame(comparison_rows(table), columns=list(COMPARISON_HEADER))
        parts.append("<h2>Simulated against the baseline (same complaints)</h2>" + shown_table.to_html(index=False))
    if cards is not None:
        parts.append("<h2>Scorecards (communities)</h2>" + cards.to_html(index=False))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>gridplan what-if</title></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def frontier_figure(s: Scenario, budgets_m: np.ndarray) -> dict:
    """The budget frontier of max-service allocations: predicted duty coverage against the total budget
    (M yuan); a budget with no allocation is a gap."""
    cov: list[float | None] = []
    for b in budgets_m:
        try:
            r = allocate(s, AllocationOptions(objective="max-service", total_budget_yuan=float(b) * 1e6))
            cov.append(r.expected_duty_coverage)
        except GridplanError:
            cov.append(None)
    return {
        "data": [{"x": list(budgets_m), "y": cov, "mode": "lines+markers", "name": "duty coverage"}],
        "layout": {
            "xaxis": {"title": "total budget (M yuan a year)"},
            "yaxis": {"title": "predicted duty coverage", "tickformat": ".0%"},
        },
    }

"""What the desk shows of its results: the simulated comparison of the edited allocation with the baseline,
the allocator's proposal, the what-if report and the budget frontier.

Values of shares are percentages; paired differences of shares are percentage points with their 95%
interval kept inside [-100, +100] points (``workflows.compare.paired``); a KPI with no value (nobody at a
desk) is "–".
"""

from __future__ import annotations

import html as html_escape
from typing import Any

import numpy as np
import pandas as pd

from gridplan.deskjobs import Job
from gridplan.fmt import difference
from scenario.errors import GridplanError
from scenario.load import Scenario
from sim.replications import Replications, RepOutput
from solvers.allocator import AllocationResult, allocate
from solvers.lpmodel import AllocationOptions
from workflows.compare import paired

__all__ = [
    "KPIS",
    "COMPARISON_HEADER",
    "job_runs",
    "comparison_table",
    "comparison_rows",
    "shown",
    "shown_difference",
    "interval_note",
    "proposal_text",
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
COMPARISON_HEADER = ("KPI", "baseline", "edited", "difference [95% CI]")
MIN_INFORMATIVE_REPS = 5


def job_runs(job: Job) -> list[Replications]:
    """The finished job's replications per allocation, exactly as ``run_replications`` would give them."""
    outs: list[RepOutput] = [f.result() for f in job.futures]
    return [Replications(outs[i * job.reps : (i + 1) * job.reps], job.seed, job.days) for i in range(len(job.labels))]


def comparison_table(runs: list[Replications], labels: list[str]) -> pd.DataFrame:
    """Each KPI under each allocation and the paired difference of the last from the first with its 95%
    interval (a difference of shares inside [-1, 1])."""
    rows = []
    for k in KPIS:
        base = runs[0].per_rep[k].to_numpy()
        row: dict[str, Any] = {"kpi": k}
        for label, run in zip(labels, runs):
            values = run.per_rep[k].to_numpy(dtype=float)
            row[label] = float(np.nanmean(values)) if (~np.isnan(values)).any() else np.nan
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
    if _is_share(kpi):
        return f"{v:.2%}"
    return f"{v:,.0f}" if kpi.endswith("_yuan") else f"{v:,.1f}"


def shown_difference(kpi: str, v: float | None) -> str:
    """A paired difference: shares in percentage points (+0.39 pt), as the report and console give them."""
    return difference(np.nan if v is None else v, share=_is_share(kpi))


def comparison_rows(table: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """The comparison as the page and the what-if report show it: values as percentages or numbers,
    differences of shares in points, "–" where there is none."""
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


def interval_note(reps: int) -> str:
    """What intervals over ``reps`` replications can say: with few, almost nothing (empty from 5 up)."""
    if reps >= MIN_INFORMATIVE_REPS:
        return ""
    from scipy import stats

    t = float(stats.t.ppf(0.975, reps - 1))
    return (
        f"With {reps} replications each 95% interval is {t:.1f} standard errors wide on either side (Student t "
        f"with {reps - 1} degree{'s' if reps > 2 else ''} of freedom): a difference is rarely significant and "
        f"the intervals say little. Run {MIN_INFORMATIVE_REPS} or more replications to read them."
    )


def proposal_text(objective: str, r: AllocationResult) -> str:
    """The allocator's proposal in one line: people, cost, what the curves predict, what decides the units."""
    counts = r.deciding_counts()
    predicted = ", ".join(
        f"{name} {shown('share', v)}"
        for name, v in (("on-time", r.expected_on_time_share), ("duty coverage", r.expected_duty_coverage))
    )
    return (
        f"{objective}: {r.allocation.total_workers:,} workers, {int(r.allocation.street_office_staff.sum()):,} "
        f"street staff, cost {r.costs.total_yuan / 1e6:,.2f} M yuan; predicted {predicted}; decided by "
        + ", ".join(f"{d} {n}" for d, n in zip(counts.decided_by, counts.communities))
    )


def report_html(
    s: Scenario, check: str, table: pd.DataFrame | None, cards: pd.DataFrame | None, reps: int | None = None
) -> str:
    """A self-contained what-if report of the page's last results: the rows the page shows, and the note on
    few replications (``reps``) under them."""
    parts = [f"<h1>gridplan what-if: {html_escape.escape(s.name)}</h1>", f"<p>{html_escape.escape(check)}</p>"]
    if table is not None:
        shown_table = pd.DataFrame(comparison_rows(table), columns=list(COMPARISON_HEADER))
        note = interval_note(reps) if reps else ""
        parts.append(
            "<h2>Simulated against the baseline (same complaints)</h2>"
            + shown_table.to_html(index=False)
            + (f"<p>{html_escape.escape(note)}</p>" if note else "")
        )
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
            "xaxis": {"title": {"text": "total budget (M yuan a year)"}},
            "yaxis": {"title": {"text": "predicted duty coverage"}, "tickformat": ".0%"},
        },
    }

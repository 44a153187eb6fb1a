"""What the desk shows of its results: the simulated comparison of the edited allocation with the baseline,
the allocator's proposal, the what-if report and the budget frontier.

The comparison leads with the three rates residents see (resolution, satisfaction, response), then what
moves them (repeat complaints, cases found late because a duty was left undone, fixes the people-service
fund could not pay, the fund's use), then lateness, duty coverage and staff utilisation: the city KPIs of
``gridplan compare``, the rates first in the report's order. Values of shares are percentages; paired
differences of shares are percentage points with their 95% interval kept inside [-100, +100] points
(``workflows.compare.paired``); a KPI with no value (nobody at a desk) is "–".
"""

from __future__ import annotations

import html as html_escape
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from gridplan.deskjobs import Job
from gridplan.fmt import difference, interval_note
from scenario.errors import GridplanError
from scenario.load import Scenario
from sim.replications import Replications, RepOutput
from solvers.allocator import AllocationResult, allocate
from solvers.lpmodel import AllocationOptions
from workflows.compare import CITY_KPIS, paired

__all__ = [
    "RATES",
    "KPIS",
    "COMPARISON_HEADER",
    "job_runs",
    "comparison_table",
    "comparison_rows",
    "shown",
    "shown_difference",
    "interval_note",
    "proposal_text",
    "next_million_text",
    "report_html",
    "frontier_figure",
]

RATES = ["resolution_share", "satisfaction_share", "response_share"]  # what residents see, as the report leads
KPIS = [*RATES, *(k for k in CITY_KPIS if k not in RATES)]  # then as ``gridplan compare`` gives the city
COMPARISON_HEADER = ("KPI", "baseline", "edited", "difference [95% CI]")


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


def proposal_text(objective: str, r: AllocationResult) -> str:
    """The allocator's proposal in one line: people, cost, what the curves predict, what decides the units."""
    counts = r.deciding_counts()
    predicted = ", ".join(
        f"{name} {shown('share', v)}"
        for name, v in (
            ("resolution", r.expected_resolution_share),
            ("satisfaction", r.expected_satisfaction_share),
            ("on-time", r.expected_on_time_share),
            ("duty coverage", r.expected_duty_coverage),
        )
    )
    return (
        f"{objective}: {r.allocation.total_workers:,} workers, {int(r.allocation.street_office_staff.sum()):,} "
        f"street staff, cost {r.costs.total_yuan / 1e6:,.2f} M yuan; predicted {predicted}; decided by "
        + ", ".join(f"{d} {n}" for d, n in zip(counts.decided_by, counts.communities))
    )


def next_million_text(s: Scenario, r: AllocationResult, top: int = 3) -> str:
    """Where the next million yuan would go under the proposal (``solvers.marginal``, the allocator's rates):
    the communities it buys most in, with the use and the outcomes a year."""
    from solvers.marginal import next_million

    t = next_million(s, r.curves, r.allocation).head(top)
    t = t[t.best != "none"]
    if not len(t):
        return "a million more would buy under 0.1 outcome a year in any community (the allocator's rates)"
    return (
        "the next million buys most in "
        + ", ".join(
            f"{x.community} (as {x.best}: {x.best_outcomes_per_year:,.0f} outcomes a year)" for x in t.itertuples()
        )
        + " (outcomes: cases on time + resolved + residents satisfied; the allocator's rates)"
    )


def report_html(
    s: Scenario,
    check: str,
    table: pd.DataFrame | None,
    cards: pd.DataFrame | None,
    reps: int | None = None,
    made: dict | None = None,
) -> str:
    """A self-contained what-if report of the page's last results: the rows the page shows, the note on few
    replications (``reps``) under them, and how they were made (``made``: seed, days and the allocation
    simulated), so that ``gridplan compare`` can reproduce them."""
    parts = [f"<h1>gridplan what-if: {html_escape.escape(s.name)}</h1>", f"<p>{html_escape.escape(check)}</p>"]
    if made is not None:
        how = (
            f"Scenario {s.path.name} (sha256 {s.sha256}); {reps} replications of {made['days']} simulated days, "
            f"seed {made['seed']}, the baseline and the allocation below on the same complaints. To reproduce: "
            f"save the table as edited.csv and run gridplan compare {s.path} --allocation edited.csv "
            f"--reps {reps} --days {made['days']} --seed {made['seed']}."
        )
        parts.append(
            "<h2>How these results were made</h2>"
            + f"<p>{html_escape.escape(how)}</p>"
            + f"<pre>{html_escape.escape(made['allocation'])}</pre>"
        )
    if table is not None:
        shown_table = pd.DataFrame(comparison_rows(table), columns=list(COMPARISON_HEADER))
        note = interval_note(reps) if reps else ""
        parts.append(
            "<h2>Simulated against the baseline (same complaints)</h2>"
            + shown_table.to_html(index=False)
            + (f"<p>{html_escape.escape(note)}</p>" if note else "")
        )
    if cards is not None:
        shown_cards = cards.round(2)
        parts.append("<h2>Scorecards (communities)</h2>" + shown_cards.to_html(index=False))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>gridplan what-if</title></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def _hover(text: str) -> str:
    """A message as plotly hover text: wrapped, and ``<`` not read as markup."""
    return "<br>".join(html_escape.escape(line) for line in textwrap.wrap(text, 70, break_on_hyphens=False))


def _no_allocation(x: list[float], why: list[str], target: float | None) -> dict[str, Any]:
    """What the frontier shows of budgets with no allocation (``why`` non-empty): a grey cross each on a
    hidden axis of its own (mid-height, not a value), whose hover gives the allocator's reason, a grey band
    behind it, and a note for the title."""
    none = [i for i, w in enumerate(why) if w]
    half = float(min(np.diff(x))) / 2 if len(x) > 1 else 0.05
    note = f"No allocation at {len(none)} of {len(x)} budgets (grey, ×; hover for why)"
    if target is not None:
        note += (
            f": max-service keeps duty coverage at least at its {target:.0%} target in every unit, and a "
            f"budget below what that target and the policy minimums need has none"
        )
    band = {"type": "rect", "xref": "x", "yref": "paper", "y0": 0, "y1": 1, "fillcolor": "#eeeeee"}
    return {
        "trace": {
            "x": [x[i] for i in none],
            "y": [0.5] * len(none),
            "yaxis": "y2",
            "mode": "markers",
            "marker": {"symbol": "x", "size": 11, "color": "#888888"},
            "name": "no allocation at this budget",
            "hovertext": [_hover(f"{x[i]:,.2f} M yuan: {why[i]}") for i in none],
            "hoverinfo": "text",
        },
        "layout": {
            "yaxis2": {"overlaying": "y", "range": [0, 1], "visible": False},
            "shapes": [
                band | {"x0": x[i] - half, "x1": x[i] + half, "line": {"width": 0}, "layer": "below"} for i in none
            ],
            "margin": {"t": 110},  # room for the note's lines above the plot
        },
        "note": "<br>".join(textwrap.wrap(note + ".", 130, break_on_hyphens=False)),
    }


def frontier_figure(s: Scenario, budgets_m: np.ndarray) -> dict:
    """The budget frontier of max-service allocations: predicted resolution share and duty coverage against
    the total budget (M yuan). A budget with no allocation is a gap in both lines, a grey band and a cross
    whose hover says why; max-service keeps duty coverage at its target in every unit, so budgets below
    what that target and the policy minimums need have none, and the title says so."""
    x = [round(float(b), 4) for b in budgets_m]
    res: list[float | None] = []
    cov: list[float | None] = []
    why: list[str] = []
    for b in x:
        try:
            r = allocate(s, AllocationOptions(objective="max-service", total_budget_yuan=b * 1e6))
            res.append(r.expected_resolution_share)
            cov.append(r.expected_duty_coverage)
            why.append("")
        except GridplanError as exc:
            res.append(None)
            cov.append(None)
            why.append(str(exc))

    def line(y: list[float | None], name: str) -> dict:
        tip = "%{x:,.2f} M yuan: " + name + " %{y:.1%}<extra></extra>"
        return {"x": x, "y": y, "mode": "lines+markers", "name": name, "hovertemplate": tip}

    data = [line(res, "predicted resolution share"), line(cov, "predicted duty coverage")]
    title = "Max-service allocation at each budget: what the allocator predicts"
    layout: dict[str, Any] = {
        "xaxis": {"title": {"text": "total budget (M yuan a year)"}},
        "yaxis": {"title": {"text": "predicted share"}, "tickformat": ".0%"},
        "legend": {"orientation": "h", "y": -0.2},
    }
    if any(why):
        none = _no_allocation(x, why, s.spec.targets.duty_coverage_min)
        data.append(none["trace"])
        layout |= none["layout"]
        title += "<br><sup>" + none["note"] + "</sup>"
    layout["title"] = {"text": title}
    return {"data": data, "layout": layout}

"""The robust plan's page: the cost of robustness, the fresh check, the margins units need, the rounds.

One self-contained HTML file (``robust.html.j2``, plots embedded) beside the tables of ``gridplan robust``;
each table carries an id that ``tests/test_robust.py`` checks against its CSV.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from gridplan.report import html_table, money, plot_png, share
from scenario.text import level_label

__all__ = ["write_robust_report", "robustness_columns"]

NOTES = (
    "A year counts as simulated: each replication of the scenario and of each variant file is one year, the "
    "variants weighted equally. A unit's KPI in a year is taken as normal around its replications' mean, its "
    "spread pooled with a prior (the binomial spread of its cases times a dispersion fitted over all units for "
    "shares of cases; the variant's median spread for duty coverage) and widened for one more year "
    "(workflows/holding.py).",
    "Sample-average approximation: every round simulates the same seeds (common random numbers), so the loop "
    "converges on one sample instead of chasing noise; the fresh check uses another seed (seed + 1,000,003), "
    "the same fresh years for every plan of the table.",
    "Duty coverage is fitted per unit as coverage = (people x available hours x kappa - case hours) / duty hours "
    "through its p-level coverage; a unit that did every duty in every year could plan busier (its margin is "
    "'at least'). Resolution and on-time are fitted through the curves the allocator plans by.",
)


TARGET_WORDS = {
    "on_time_share": "on time",
    "resolution_share": "resolution",
    "duty_coverage": "duty coverage",
    "office_duty_coverage": "street-office coverage",
    "all_targets": "all of a community's targets",
}


def robustness_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The cost-of-robustness table as the page shows it, in words: each target's share of unit-years meeting
    it with its interval in one cell, the margins as median [range] (the CSV keeps every number apart)."""
    out = pd.DataFrame({"plan": df.plan})
    out["cost (yuan a year)"] = df.cost_total_yuan.map(money)
    out["workers"] = df.workers.map(lambda v: f"{int(v):,}")
    out["street staff"] = df.street_office_staff.map(lambda v: f"{int(v):,}")
    out["service fund (yuan)"] = df.service_fund_yuan.map(money)
    out["planning margin, median [range]"] = [
        "–" if np.isnan(m) else f"{m:.0%} [{lo:.0%}, {hi:.0%}]"
        for m, lo, hi in zip(df.planning_margin_median, df.planning_margin_low, df.planning_margin_high)
    ]
    for key, words in TARGET_WORDS.items():
        if f"{key}_met_share" in df:
            out[f"{words}: met in [95% CI]"] = [
                f"{share(m)} [{share(lo)}, {share(hi)}]"
                for m, lo, hi in zip(df[f"{key}_met_share"], df[f"{key}_met_ci95_low"], df[f"{key}_met_ci95_high"])
            ]
    for col, words in (
        ("communities_no_fund_lifts", "communities no fund lifts"),
        ("units_coverage_stuck", "units whose coverage no staff lifts"),
        ("replications", "simulated years"),
    ):
        if col in df:
            out[words] = df[col].map(lambda v: f"{int(v):,}")
    return out


def _plot(table: pd.DataFrame, probability_rows: pd.DataFrame) -> bytes:
    """Cost and fresh share of community-years meeting every target, against the probability asked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9.5, 3.4))
    x = probability_rows.probability.to_numpy()
    cost = probability_rows.cost_total_yuan.to_numpy() / 1e6
    ax[0].plot(x, cost, "o-", color="#444")
    ax[0].set_xlabel("probability asked")
    ax[0].set_ylabel("cost (M yuan a year)")
    if "all_targets_met_share" in probability_rows:
        m = probability_rows.all_targets_met_share.to_numpy()
        lo, hi = probability_rows.all_targets_met_ci95_low.to_numpy(), probability_rows.all_targets_met_ci95_high
        ax[1].errorbar(x, m, yerr=[m - lo, hi.to_numpy() - m], fmt="o", color="#1971c2", capsize=3)
        ax[1].plot([0, 1], [0, 1], ls=":", color="#999")
        ax[1].set_xlim(min(x) - 0.05, 1)
        ax[1].set_ylim(min(0.4, float(np.nanmin(lo)) - 0.05), 1.01)
        ax[1].set_xlabel("probability asked")
        ax[1].set_ylabel("community-years meeting every target (fresh)")
    fig.tight_layout()
    return plot_png(fig)


def _margin_words(s, plan) -> tuple[str, pd.DataFrame]:
    """The planning margins' sentence and the communities whose margin is an estimate."""
    m = plan.margins
    com = m[(m.unit == "community") & m.margin_is_estimate]
    words = (
        f"{len(com)} of {int((m.unit == 'community').sum())} communities had their duty coverage fitted (below 100% "
        f"in some year at the p-level); the planning margin they need (planned hours / available hours at the "
        f"fewest people that hold) runs from {com.planning_margin_needed.min():.0%} to "
        f"{com.planning_margin_needed.max():.0%}, median {com.planning_margin_needed.median():.0%}, against the "
        f"scenario's {s.spec.duties.max_planned_utilisation:.0%} for every unit. The 30 lowest are shown; "
        f"margins.csv has every community and street office."
        if len(com) and s.spec.duties is not None
        else "No unit's duty coverage fell below 100% in the simulated years: the margins are not identified."
    )
    return words, com


def _words(s, plan, p: float) -> dict[str, object]:
    """The report's sentences: the headline, the verdict on fresh years, what the table holds."""
    at = level_label(p)
    return {
        "headline": (
            f"The cheapest allocation whose targets hold in {at} of simulated years (the scenario and "
            f"{', '.join(plan.variants) or 'no variant'}, equal weights) costs {plan.result.costs.total_yuan:,.0f} "
            f"yuan a year: {plan.result.allocation.total_workers:,} community workers, "
            f"{int(plan.result.allocation.street_office_staff.sum()):,} street staff, a service fund of "
            f"{plan.result.allocation.service_fund_yuan.sum():,.0f} yuan. Stopped: {plan.stop_reason}."
        ),
        "verdict": plan.holds_probability,
        "verdict_words": (
            f"On fresh years every target's share of unit-years meeting it reaches {at} within its 95% interval."
            if plan.holds_probability
            else f"On fresh years some target's share of unit-years meeting it stays below {at} (its whole 95% "
            "interval): see the check below."
        ),
        "table_words": (
            "Each plan is the cheapest the loop found at its probability ('the mean': targets on the scenario's "
            "mean, no variant, as gridplan optimize plans; the fixed planning margin: gridplan allocate's "
            "min-cost with the scenario's max_planned_utilisation, not simulated in the loop), checked on the "
            "same fresh years. Met: the share of unit-years meeting each target [95% Wilson interval]."
        ),
    }


def write_robust_report(folder: Path, result, command_line: str) -> Path:
    """Write report.html of ``gridplan robust`` into ``folder``; return its path."""
    s, plan = result.scenario, result.plan
    p = plan.probability
    table = result.table
    rows = pd.DataFrame(
        [
            {"probability": x.probability, **table.iloc[i].to_dict()}
            for i, x in enumerate(result.levels)
            if x.probability is not None
        ]
    )
    plots = (
        [{"alt": "cost and fresh share against the probability", "data": base64.b64encode(_plot(table, rows)).decode()}]
        if len(rows) > 1
        else []
    )
    margin_words, com = _margin_words(s, plan)
    env = Environment(loader=PackageLoader("gridplan", "templates"), autoescape=select_autoescape(["html", "j2"]))
    page = env.get_template("robust.html.j2").render(
        name=s.name,
        description=s.spec.description,
        **_words(s, plan, p),
        table=html_table(robustness_columns(table), {}, table_id="robustness"),
        plots=plots,
        probability=level_label(p),
        check_words=f"{plan.holds.unit_years.iloc[0]:,} community-years ({result.options.validation_reps} "
        f"replications of each of {1 + len(plan.variants)} variants x {s.n_communities} communities).",
        check=html_table(
            plan.holds,
            {"share": share, "ci95_low": share, "ci95_high": share, "minimum": share},
            table_id="fresh-check",
        ),
        margin_words=margin_words,
        margins=html_table(
            com.sort_values("planning_margin_needed").head(30).drop(columns=["probability"]),
            {"planned_load": share, "planning_margin_needed": share},
            table_id="margins",
        ),
        iterations=[
            {
                "note": f"{level_label(x.probability)}: stopped because "
                f"{x.stop_reason}; {x.replications} simulated years in all: "
                f"{int(x.iterations.replications.sum())} in these rounds, "
                f"{x.replications - int(x.iterations.replications.sum())} in the fresh check. A round is followed "
                f"by another while units fall below their level or the round changed a unit's lower bound "
                f"(bounds_changed; the first round may lower bounds, later rounds only raise them).",
                "table": html_table(x.iterations, {"cost_total_yuan": money, "service_fund_yuan": money}),
            }
            for x in result.levels
        ],
        notes=NOTES,
        sha=s.sha256,
        command=command_line,
    )
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

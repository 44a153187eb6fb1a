"""The planning report: one self-contained HTML page (plots embedded as PNG) plus the PNG files.

Rendered from ``templates/report.html.j2`` (Jinja2, autoescaped); tables are formatted here so
that shares read as percentages and money as yuan, never as raw fractions.
"""

from __future__ import annotations

import base64
import io
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from gridplan.fmt import difference
from gridplan.screens import next_million_view
from scenario.load import Scenario
from scenario.text import percent
from sim.replications import measured_from
from workflows.calibration import shown
from workflows.compare import Comparison
from workflows.run import Plan, RunResult

__all__ = ["write_report", "plot_png", "share", "money", "html_table"]


def plot_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def share(x: float, digits: int = 1) -> str:
    """A share as a percentage ('–' when missing)."""
    return "–" if x is None or np.isnan(x) else f"{x:.{digits}%}"


def money(x: float) -> str:
    """Yuan with thousands separators, no decimals ('–' when missing)."""
    return "–" if np.isnan(x) else f"{x:,.0f}"


def _hours(x: float) -> str:
    return "–" if np.isnan(x) else f"{x:,.1f}"


def _count(x: float) -> str:
    return "–" if np.isnan(x) else f"{x:,.0f}"


def _with_ci(fmt, m, lo, hi) -> str:
    return fmt(m) + (f" <small>[{fmt(lo)}, {fmt(hi)}]</small>" if not np.isnan(lo) else "")


def html_table(df: pd.DataFrame, formats: dict | None = None, table_id: str | None = None) -> str:
    """A table with per-column formats; shares must be given a format, other floats get separators.
    ``table_id``: the table's id (tests/test_report.py finds each table by it and checks it against its CSV)."""
    shown = df.copy()
    for col in shown.columns:
        f = (formats or {}).get(col)
        if f is not None:
            shown[col] = shown[col].map(f)
        elif pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "–" if np.isnan(v) else f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}")
        elif pd.api.types.is_bool_dtype(shown[col]):
            shown[col] = shown[col].map({True: "yes", False: "no"})
    return shown.to_html(index=False, border=0, escape=True, classes=None, na_rep="–", table_id=table_id)


_PLOT_STYLES: list[dict[str, Any]] = [
    dict(color="#444", lw=2.2),
    dict(color="#d9480f", lw=1.4, ls="--"),
    dict(color="#1971c2", lw=1.4, ls=":"),
    dict(color="#2b8a3e", lw=1.4, ls="-."),
]
# what residents see, as paired differences from the first plan (percentage points)
_RATES = (
    ("response_share", "response"),
    ("resolution_share", "resolution"),
    ("satisfaction_share", "satisfaction"),
    ("on_time_share", "on time"),
    ("found_late_share", "found late"),
    ("unfunded_share", "fixes unpaid"),
)


def _plots(scenario: Scenario, cmp: Comparison) -> dict[str, bytes]:
    """What differs between the plans: the rates' paired differences from the first plan with their 95%
    intervals, each community's resolution rate, and the open-case backlog in weekly means (daily values
    spike every weekend and hide the plans' differences)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    city = cmp.city.set_index(["kpi", "allocation"])
    rates = [(k, name) for k, name in _RATES if (k, cmp.labels[0]) in city.index]
    if len(cmp.labels) > 1 and rates:
        fig, ax = plt.subplots(figsize=(7.5, 3.5))
        width = 0.8 / (len(cmp.labels) - 1)
        for j, label in enumerate(cmp.labels[1:]):
            d = np.array([city.loc[(k, label), "diff_vs_first"] for k, _ in rates]) * 100
            lo = np.array([city.loc[(k, label), "diff_ci95_low"] for k, _ in rates]) * 100
            hi = np.array([city.loc[(k, label), "diff_ci95_high"] for k, _ in rates]) * 100
            x = np.arange(len(rates)) + (j - (len(cmp.labels) - 2) / 2) * width
            ax.bar(x, d, width, yerr=[d - lo, hi - d], label=label, color=_PLOT_STYLES[j + 1]["color"], capsize=3)
        ax.axhline(0, color="#444", lw=0.8)
        ax.set_xticks(np.arange(len(rates)), [name for _, name in rates])
        ax.set_ylabel(f"points vs {cmp.labels[0]}")
        ax.set_title("What each plan changes for residents (paired, 95% intervals)")
        ax.legend()
        out["rates_vs_first.png"] = plot_png(fig)
    per = {label: run.group("community") for label, run in zip(cmp.labels, cmp.runs)}
    if all("resolution_share" in g for g in per.values()):
        fig, ax = plt.subplots(figsize=(7.5, 3.5))
        order = np.argsort(scenario.urban_residents)
        for (label, g), st in zip(per.items(), _PLOT_STYLES):
            values = g.reindex(list(scenario.community_ids))["resolution_share"].to_numpy()[order] * 100
            ax.plot(np.arange(len(order)), values, label=label, marker=".", ms=3, **(st | {"lw": 0.8}))
        ax.set_xlabel("communities, smallest to largest by residents")
        ax.set_ylabel("resolution rate (%)")
        ax.set_title("Resolution rate by community (mean over replications)")
        ax.legend()
        out["resolution_by_community.png"] = plot_png(fig)
    fig, ax = plt.subplots(figsize=(7.5, 3.5))
    for (label, run), st in zip(zip(cmp.labels, cmp.runs), _PLOT_STYLES):
        b = run.backlog_mean()
        week = (b.time_hours // (7 * 24)).astype(int)
        weekly = b.groupby(week)["open_cases"].mean()
        ax.plot(weekly.index, weekly.to_numpy(), label=label, **st)
    ax.set_xlabel("week")
    ax.set_ylabel("open cases (weekly mean)")
    ax.set_title("Backlog of open cases over the year")
    ax.legend()
    out["backlog.png"] = plot_png(fig)
    return out


class _Headline:
    """The headline table's rows, each with the source a test checks it against (tests/test_report.py)."""

    def __init__(self, cmp: Comparison) -> None:
        self.cmp = cmp
        self.city = cmp.city.set_index(["kpi", "allocation"])
        self.st = cmp.static.set_index("allocation")
        self.labels = cmp.labels
        self.rows: list[dict] = []

    def add(self, name: str, cells: list[str], check: str) -> None:
        """A row; ``check`` names its source: "kpi:K" (mean and interval of compare_city.csv), "means:K1 K2"
        (means), "static:C1 C2" (compare_static.csv) or "movement"."""
        self.rows.append({"name": name, "cells": cells, "check": check})

    def kpi(self, name: str, k: str, fmt) -> None:
        """A row of one KPI's mean and interval per plan (none when no plan has it)."""
        if not any((k, l) in self.city.index for l in self.labels):
            return
        cells = [
            _with_ci(fmt, *self.city.loc[(k, l), ["mean", "ci95_low", "ci95_high"]])
            if (k, l) in self.city.index
            else "–"
            for l in self.labels
        ]
        self.add(name, cells, f"kpi:{k}")

    def means(self, name: str, kpis: tuple[str, ...], fmt=None) -> None:
        fmt = fmt or share
        self.add(
            name,
            [" / ".join(fmt(self.city.loc[(k, l), "mean"]) for k in kpis) for l in self.labels],
            "means:" + " ".join(kpis),
        )

    def static(self, name: str, cols: tuple[str, ...], fmt) -> None:
        self.add(
            name, [" / ".join(fmt(self.st.loc[l, c]) for c in cols) for l in self.labels], "static:" + " ".join(cols)
        )


def _headline(scenario: Scenario, cmp: Comparison) -> list[dict]:
    """What each plan costs, what residents see (the three rates and what moves them), and staff time."""
    h = _Headline(cmp)
    base = cmp.allocations[0]
    t = scenario.spec.targets
    h.static("Total cost (yuan a year)", ("cost_total_yuan",), money)
    h.static("· city / districts (yuan)", ("cost_city_yuan", "cost_districts_yuan"), money)
    h.add(
        "Community workers (per 10,000)",
        [f"{h.st.loc[l, 'workers']:,} ({h.st.loc[l, 'workers_per_10k']:.1f})" for l in h.labels],
        "static:workers workers_per_10k",
    )
    h.add(
        "· communities gaining / losing workers",
        [f"{int((a.workers > base.workers).sum())} / {int((a.workers < base.workers).sum())}" for a in cmp.allocations],
        "movement",
    )
    for name, col in (
        ("Secretary assistants", "secretary_assistants"),
        ("Street party-office staff", "street_office_staff"),
        ("Mobile grid workers", "mobile_grid_workers"),
    ):
        h.static(name, (col,), lambda v: f"{v:,}")
    h.static("Work fund / service fund (yuan)", ("work_fund_yuan", "service_fund_yuan"), money)
    # what residents see and what the fund does: two decimals, as the paired differences (hundredths of a point) need
    share2 = partial(share, digits=2)
    h.kpi("Resolution rate (solved, not only closed) [95% CI]", "resolution_share", share2)
    if t.resolution_share_min is not None:
        h.add(*_below_target_row(cmp, "community", "resolution_share", "communities below the resolution target"))
    h.kpi("Satisfaction at the feedback call", "satisfaction_share", share2)
    h.kpi("Response: first contact within the limit", "response_share", share2)
    h.kpi("Repeat complaints (reopened cases)", "repeat_complaints", _count)
    h.kpi("Cases found late (a duty left undone)", "found_late_share", share2)
    h.kpi("Fixes the service fund could not pay", "unfunded_share", share2)
    h.kpi("· service fund spent, of what was released", "fund_spent_share", share2)
    h.kpi("· communities whose service fund ran out", "fund_exhausted_communities", _count)
    h.kpi("On-time share [95% CI]", "on_time_share", share2)
    h.add(*_below_target_row(cmp, "community", "on_time_share", "communities below the on-time target"))
    measured = cmp.runs[0].days - measured_from(scenario, cmp.runs[0].days)
    h.kpi(f"Overdue cases in the {measured} measured days (after the warm-up)", "overdue_cases", _count)
    late = tuple(f"late_at_{lv}_share" for lv in ("grid", "desk", "street", "city")) + ("late_after_reopen_share",)
    if all((k, h.labels[0]) in h.city.index for k in late):
        h.means("· where they were at the deadline: grid / desk / street / city / reopened", late)
    h.kpi("Resolution time p90 (hours)", "resolution_p90_hours", _hours)
    # staff time
    h.kpi("Duty coverage, all levels", "duty_coverage", share)
    h.means("· grid / desk / street office", ("duty_coverage_grid", "duty_coverage_desk", "duty_coverage_street"))
    for level, k, what in (
        ("community", "duty_coverage", "communities below the duty-coverage target"),
        ("street", "office_duty_coverage", "street offices below the duty-coverage target"),
    ):
        h.add(*_below_target_row(cmp, level, k, what))
    h.means(
        "Utilisation incl. duties: grid / desk / street", ("utilisation_grid", "utilisation_desk", "utilisation_street")
    )
    h.static("Policy violations", ("policy_violations",), str)
    return h.rows


def _below_target_row(cmp: Comparison, level: str, kpi: str, what: str) -> tuple[str, list[str], str]:
    """A headline row: units below a target by their mean over the replications / with their whole 95%
    interval, of all units (``cmp.units``, ``workflows.units``)."""
    u = cmp.units[(cmp.units.level == level) & (cmp.units.kpi == kpi)].set_index("allocation")
    if u.empty:
        return f"· {what}", ["–"] * len(cmp.labels), f"units:{level}:{kpi}"
    target = percent(float(u.target.iloc[0]))
    cells = [
        f"{int(u.loc[lb, 'below_target'])} / {int(u.loc[lb, 'surely_below_target'])} of {int(u.loc[lb, 'units'])}"
        for lb in cmp.labels
    ]
    return f"· {what} ({target}): mean below / whole interval below", cells, f"units:{level}:{kpi}"


def _decided(scenario: Scenario, plans: list[Plan]) -> tuple[list[str], str, str]:
    words = []
    counts = []
    for p in plans:
        r = p.opt.result
        c = r.deciding_counts()
        counts.append(c.set_index("decided_by").add_prefix(f"{p.label}: "))
        parts = [f"{n} by {d}" for d, n in zip(c.decided_by, c.communities) if n]
        sparts = [f"{n} by {d}" for d, n in zip(c.decided_by, c.street_offices) if n]
        words.append(
            f"{p.label}: of {scenario.n_communities} communities, {', '.join(parts)}; of "
            f"{len(scenario.street_ids)} street offices, {', '.join(sparts)}. Stopped because "
            f"{p.opt.stop_reason}."
        )
    table = pd.concat(counts, axis=1).fillna(0).astype(int).reset_index()
    first = plans[0].opt.result
    dc = first.deciding_community.assign(street=[scenario.street_ids[i] for i in scenario.community_street])
    pivot = pd.crosstab(dc.street, dc.decided_by).rename_axis(index="street", columns=None)
    ds = first.deciding_street.set_index("street")
    base = pd.Series(scenario.baseline.street_office_staff, index=list(scenario.street_ids))
    # every column looked up by the pivot's own index (streets sorted by id), never by position
    pivot["street office staff (baseline → plan)"] = [
        f"{int(base[sid])} → {int(ds.loc[sid, 'staff'])}" for sid in pivot.index
    ]
    pivot["street office decided by"] = ds.loc[pivot.index, "decided_by"]
    return words, html_table(table, table_id="deciding-counts"), html_table(pivot.reset_index(), table_id="by-street")


def _scorecard_section(scenario: Scenario, cmp: Comparison, cards: dict) -> tuple[str, str]:
    """Words and a table: units likely below the appraisal threshold under each allocation, and the
    communities most at risk at the baseline with their score under every allocation."""
    ev = scenario.spec.evaluation
    if ev is None or not cards:
        return "The scenario has no evaluation section.", ""
    from workflows.scorecard import below_words

    parts = []
    for label in cmp.labels:
        thr = ev.threshold_points
        c, s_ = cards[(label, "community")], cards[(label, "street")]
        parts.append(f"{label}: communities {below_words(c, thr)}; streets {below_words(s_, thr)}")
    base = cards[(cmp.labels[0], "community")].set_index("community")
    worst = base.sort_values("score").head(10)
    rows = {"community": list(worst.index)}
    for label in cmp.labels:
        c = cards[(label, "community")].set_index("community").loc[worst.index]
        rows[f"{label}: score [95% CI]"] = [
            f"{m:.1f} [{lo:.1f}, {hi:.1f}]" for m, lo, hi in zip(c.score, c.score_ci95_low, c.score_ci95_high)
        ]
        rows[f"{label}: rank range"] = [f"{a}-{b}" for a, b in zip(c.rank_best, c.rank_worst)]
    words = (
        "; ".join(parts) + ". Scores are the appraisal's indicators computed from each replication's KPIs "
        "(weights and thresholds in the scenario's evaluation section); a rank is shown as the range it takes "
        "over replications. A street's duty coverage is the whole street's (its office's duties and its "
        "communities' grid and desk duties), so cutting its communities shows at street level."
    )
    return words, html_table(pd.DataFrame(rows), table_id="scorecards")


NOTES = [
    "Headcount requirements are whole people, rounded up at each rule's scope.",
    "The workload rule: each community's and street office's planned hours (scheduled duties plus expected "
    "case handling) stay within its available hours (after leave and fixed duties) x the scenario's "
    "max_planned_utilisation.",
    "Shadow prices are duals of the LP relaxation: marginal rates, valid for small changes.",
    "Duty coverage is the share of scheduled duty hours done by their due date (a daily account of the "
    "time cases leave; see sim/duties.py).",
]


def _paired_differences(cmp: Comparison) -> pd.DataFrame:
    """City KPIs of each plan against the first, in points for shares."""
    diffs = cmp.city[cmp.city.allocation != cmp.labels[0]][
        ["kpi", "allocation", "diff_vs_first", "diff_ci95_low", "diff_ci95_high", "significant"]
    ].copy()

    def diff_fmt(row, col):
        return difference(row[col], share=any(w in row.kpi for w in ("share", "coverage", "utilisation")))

    for col in ("diff_vs_first", "diff_ci95_low", "diff_ci95_high"):
        diffs[col] = [diff_fmt(r, col) for _, r in diffs.iterrows()]
    return diffs


def _prediction(plans: list[Plan]) -> tuple[list[str], pd.DataFrame]:
    """The allocator's predictions against fresh simulation: in words for every plan, and the first plan's
    communities with the largest gaps."""
    words = []
    for plan in plans:
        pred = plan.opt.prediction
        err_on = (pred.on_time_predicted - pred.on_time_simulated).abs()
        err_cov = (pred.duty_coverage_predicted - pred.duty_coverage_simulated).abs()
        words.append(
            f"{plan.label}: the allocator predicted an on-time share within {100 * err_on.mean():.2f} percentage "
            f"points of the simulated one on average over communities (largest gap {100 * err_on.max():.2f} "
            f"points) and a duty coverage within {100 * err_cov.mean():.2f} points (largest gap "
            f"{100 * err_cov.max():.2f} points), on {plan.opt.validation.reps} fresh replications "
            f"(seed {plan.opt.validation.seed}) the allocation was not tuned on (prediction_{_key(plan.label)}.csv)."
        )
    pred = plans[0].opt.prediction
    worst = pred.assign(gap_coverage=(pred.duty_coverage_predicted - pred.duty_coverage_simulated).abs()).nlargest(
        8, "gap_coverage"
    )
    words.append(f"Below: the {len(worst)} communities of {plans[0].label} whose duty coverage was predicted worst.")
    return words, worst


def _movers(scenario: Scenario, res) -> pd.DataFrame:
    """The ten communities that gain and the ten that lose most workers (none whose change is 0)."""
    delta = pd.DataFrame(
        {
            "community": list(scenario.community_ids),
            "workers_baseline": scenario.baseline.workers,
            "workers_plan": res.allocation.workers,
            "change": res.allocation.workers - scenario.baseline.workers,
            "decided_by": res.deciding_community.decided_by,
        }
    )
    moved = delta[delta.change != 0]
    return pd.concat([moved.nlargest(10, "change"), moved.nsmallest(10, "change")]).drop_duplicates()


PREDICTION_FORMATS = {
    f"{k}_{side}": (lambda v: share(v, 2))
    for k in ("on_time", "duty_coverage", "resolution", "satisfaction", "found_late")
    for side in ("predicted", "simulated")
}


def _key(label: str) -> str:
    """A plan's label as it appears in file names and table ids (min-cost -> min_cost)."""
    return label.replace(" ", "_").replace("-", "_")


def _load(x: float) -> str:
    """A planned load (planned / available hours) as a percentage; a unit with work and nobody says so."""
    return "work, nobody" if np.isinf(x) else share(x)


def _margin_words(result: RunResult) -> str:
    """The planning margin, how many units plan above it and the busiest unit's load, in words."""
    load = result.planned_load.set_index(["allocation", "level"])
    margin = load["planning_margin"].iloc[0]
    if np.isnan(margin):
        return "The scenario has no duties section: no planning margin (every person takes cases every day)."
    parts = []
    for label in result.comparison.labels:
        c, s = load.loc[(label, "community")], load.loc[(label, "street")]
        parts.append(
            f"{label}: {int(c.units_over_margin)} of {int(c.units)} communities and {int(s.units_over_margin)} of "
            f"{int(s.units)} street offices plan above it; the busiest community ({c.busiest_unit}) plans at "
            f"{_load(c.busiest_planned_load)} of its available hours, the busiest street office "
            f"({s.busiest_unit}) at {_load(s.busiest_planned_load)}"
        )
    sc = result.scenario
    return (
        f"The planning margin is the scenario's max_planned_utilisation, {percent(margin)}: the allocator plans "
        f"each community and street office at most at that share of its available hours (after leave and fixed "
        f"duties), a buffer for what the model leaves out (sickness waves, campaigns). " + "; ".join(parts) + ". "
        f"It is the scenario's most consequential assumption: edit it and rerun. What more or less money buys: "
        f"gridplan sweep {sc.path} --budget-yuan FROM:TO:STEP (the budget frontier of max-service plans)."
        + (
            f" The scenario states how often its targets must hold ({percent(sc.spec.targets.hold_probability)} of "
            f"simulated years, with {', '.join(sc.spec.targets.hold_variants) or 'no variant'}): this run plans "
            f"on the mean; gridplan robust {sc.path} plans for that probability and reports the margin each "
            f"unit needs in place of this one."
            if sc.spec.targets.hold_probability is not None
            else ""
        )
    )


def _duty_sources(scenario: Scenario) -> pd.DataFrame:
    """Every duty with its level, driver and source."""
    duties = scenario.spec.duties
    rows: list[tuple[str, str, str, str]] = [
        (did, d.level, d.driver, d.source) for did, d in (duties.scheduled.items() if duties else [])
    ]
    rows += [(fid, f.level, "per person", f.source) for fid, f in (duties.fixed.items() if duties else [])]
    return pd.DataFrame(rows, columns=["duty", "level", "driver", "source"])


def _million_words(result: RunResult) -> str:
    """What a million more buys under the first plan, in a sentence (the table shows the top communities)."""
    t = result.next_million
    if not len(t):
        return ""
    counts = t.best.value_counts()
    top = t.iloc[0]
    return (
        f"One more million yuan a year in one community, as people-service fund or as "
        f"{int(top.staff_workers)} more workers, from the allocator's rates at the plan's curves refitted to "
        f"simulation; outcomes a year = cases on time + cases resolved + residents satisfied. It buys most "
        f"in {top.community} ({top.best_outcomes_per_year:,.0f} outcomes a year as {top.best}); fund is the "
        f"better use in {counts.get('fund', 0)} communities, staff in {counts.get('staff', 0)}, and "
        f"{counts.get('none', 0)} would see under 0.1 outcome a year either way. next_million.csv has every "
        f"community; gridplan next-million re-simulates the ends of such a ranking."
    )


def _shadow_note(plan: Plan) -> str:
    """Why a budget can read 'does not limit' beside a stop on that budget: the prices are the returned
    allocation's, and the correction that did not fit was never made."""
    reason = plan.opt.stop_reason
    if not reason.startswith("the corrected model is infeasible"):
        return ""
    return (
        f"These prices are of the allocation {plan.label} returns, the last one its budgets allowed. The loop "
        f"stopped because the correction the simulation asked for next did not fit ({reason}); that allocation "
        f"was never made, so a budget it would have exceeded can read here as not limiting."
    )


def write_report(folder: Path, result: RunResult, command_line: str) -> Path:
    """Write report.html and the plots of the main job's ``result`` into ``folder``; return the report's path.

    Long because the template's context is one keyword call, a line or two per section of the page;
    every table is built by its own function above."""
    scenario, plans, cmp = result.scenario, result.plans, result.comparison
    calibration, cards = result.calibration, result.scorecards
    plots = _plots(scenario, cmp)
    for name, png in plots.items():
        (folder / name).write_bytes(png)
    first = plans[0].opt
    res = first.result
    prediction_words, worst = _prediction(plans)
    words, counts, by_street = _decided(scenario, plans)
    cal = calibration.copy()
    for col in ("model", "ci95_low", "ci95_high"):
        cal[col] = cal[col].map(shown)
    hours = cmp.runs[0].duty_hours_mean()
    hours = hours[["level", "work", "kind", "hours_done_per_year", "coverage", "backlog_end_hours"]]
    money_cols = {c: money for c in ("cost_baseline_yuan", "cost_new_yuan", "cost_change_yuan")}
    env = Environment(loader=PackageLoader("gridplan", "templates"), autoescape=select_autoescape(["html", "j2"]))
    page = env.get_template("report.html.j2").render(
        name=scenario.name,
        description=scenario.spec.description,
        labels=cmp.labels,
        headline=_headline(scenario, cmp),
        headline_note=(
            f"On-time share, overdue cases, duty coverage and utilisation come from the simulation "
            f"({cmp.runs[0].reps} replications of {cmp.runs[0].days} days, the same complaints for every "
            f"allocation); intervals are 95% over replications (shares on the logit scale, or clipped to "
            f"[0, 100%] when a replication is at 0% or 100%; counts on the log scale, so they stay in range). "
            f"A community or street office is below a target when its mean over the replications is; "
            f"'whole interval below' counts those whose 95% interval lies wholly below it. Simulation-optimisation "
            f"cuts by the mean for on-time and duty coverage, but for resolution (which a plan's fund is set to "
            f"reach exactly) only when the mean is more than two binomial standard errors of the community's "
            f"simulated cases below the target: a community within that allowance counts here as below and "
            f"is not corrected. Counts, not the lowest unit's estimate: the lowest of hundreds of noisy "
            f"estimates is biased low. Costs and headcounts are exact."
        ),
        decided_words=words,
        decided_counts=counts,
        by_street=by_street,
        calibration=html_table(cal, table_id="calibration") if len(cal) else "",
        prediction_words=prediction_words,
        prediction=html_table(
            worst,
            {
                f"{k}_{side}": share
                for k in ("on_time", "duty_coverage", "found_late", "resolution", "satisfaction")
                for side in ("predicted", "simulated")
            }
            | {"gap_coverage": lambda v: f"{100 * v:.2f} pt"},
            table_id="prediction",
        ),
        duty_hours=html_table(hours, {"coverage": share}, table_id="duty-hours"),
        million_words=_million_words(result),
        million=html_table(next_million_view(result.next_million), table_id="next-million")
        if len(result.next_million)
        else "",
        diffs=html_table(_paired_differences(cmp), table_id="differences"),
        plan=plans[0].label,
        margin_words=_margin_words(result),
        planned_load=html_table(
            result.planned_load,
            {"planning_margin": share, "busiest_planned_load": _load},
            table_id="planned-load",
        ),
        prediction_city=html_table(result.predictions, PREDICTION_FORMATS, table_id="prediction-city"),
        optimisations=[
            {
                "note": f"{p.label}: objective {p.opt.result.options.objective}; stopped because {p.opt.stop_reason}.",
                "table": html_table(
                    p.opt.iterations,
                    {"on_time_share": share, "duty_coverage": share, "cost_total_yuan": money},
                    table_id=f"iterations-{_key(p.label)}",
                ),
            }
            for p in plans
        ],
        shadow=html_table(res.shadow_prices[["kind", "name", "explanation"]], table_id="shadow-prices"),
        shadow_note=_shadow_note(plans[0]),
        changes_district=html_table(res.changes(scenario, "district"), money_cols, table_id="changes-district"),
        changes_street=html_table(res.changes(scenario, "street"), money_cols, table_id="changes-street"),
        movers=html_table(_movers(scenario, res), table_id="movers"),
        plots=[{"alt": n, "data": base64.b64encode(png).decode()} for n, png in plots.items()],
        assumptions=list(scenario.spec.assumptions),
        duties=html_table(_duty_sources(scenario), table_id="duties"),
        notes=NOTES,
        scorecard_words=_scorecard_section(scenario, cmp, cards or {})[0],
        scorecards=_scorecard_section(scenario, cmp, cards or {})[1],
        sha=scenario.sha256,
        command=command_line,
    )
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

"""The planning report: one self-contained HTML page (plots embedded as PNG) plus the PNG files."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from sim.scenario import Scenario
from solvers.compare import Comparison
from solvers.simopt import OptimizationResult

__all__ = ["write_report", "plot_png"]


def plot_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt_share(m, lo, hi) -> str:
    return f"{m:.1%} <small>[{lo:.1%}, {hi:.1%}]</small>" if not np.isnan(lo) else f"{m:.1%}"


def _fmt_num(m, lo, hi) -> str:
    return f"{m:,.0f} <small>[{lo:,.0f}, {hi:,.0f}]</small>" if not np.isnan(lo) else f"{m:,.0f}"


def _plots(scenario: Scenario, cmp: Comparison) -> dict[str, bytes]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = {}
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, run in zip(cmp.labels, cmp.runs):
        log = run.first_log
        if log is not None:
            warm = scenario.spec.calendar.warmup_days * 24
            r = log.loc[log.arrival_hours >= warm, "resolution_hours"].dropna() / 24
            ax.hist(r.clip(upper=20), bins=80, histtype="step", density=True, label=label)
    ax.set_xlabel("resolution time (days, clipped at 20)")
    ax.set_ylabel("density")
    ax.set_title("Resolution-time distribution (replication 0)")
    ax.legend()
    out["resolution_time.png"] = plot_png(fig)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, run in zip(cmp.labels, cmp.runs):
        b = run.backlog_mean()
        ax.plot(b.time_hours / 24, b.open_cases, label=label)
    ax.set_xlabel("day")
    ax.set_ylabel("open cases (mean over replications)")
    ax.set_title("Backlog over the year")
    ax.legend()
    out["backlog.png"] = plot_png(fig)
    return out


def write_report(folder: Path, scenario: Scenario, opt: OptimizationResult, cmp: Comparison,
                 command_line: str) -> Path:
    """Write report.html and the plots into ``folder``; return the report's path."""
    plots = _plots(scenario, cmp)
    for name, png in plots.items():
        (folder / name).write_bytes(png)
    city = cmp.city.set_index(["kpi", "allocation"])
    st = cmp.static.set_index("allocation")
    labels = cmp.labels
    rows = []

    def add(name, cells):
        rows.append(f"<tr><th>{name}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    add("Total cost (yuan a year)", [f"{st.loc[l, 'cost_total_yuan']:,.0f}" for l in labels])
    add("City cost / district cost (yuan)", [f"{st.loc[l, 'cost_city_yuan']:,.0f} / "
                                             f"{st.loc[l, 'cost_districts_yuan']:,.0f}" for l in labels])
    add("Community workers (per 10,000)", [f"{st.loc[l, 'workers']:,} ({st.loc[l, 'workers_per_10k']:.1f})"
                                          for l in labels])
    add("On-time share [95% CI]", [_fmt_share(*city.loc[("on_time_share", l), ["mean", "ci95_low", "ci95_high"]])
                                   for l in labels])
    add("Overdue cases a year [95% CI]", [_fmt_num(*city.loc[("overdue_cases", l), ["mean", "ci95_low", "ci95_high"]])
                                          for l in labels])
    add("Resolution time p90 (hours)", [f"{city.loc[('resolution_p90_hours', l), 'mean']:,.1f}" for l in labels])
    add("Policy violations", [str(st.loc[l, 'policy_violations']) for l in labels])
    headline = (f"<table id='headline'><thead><tr><th></th>"
                + "".join(f"<th>{html.escape(l)}</th>" for l in labels) + "</tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>")
    diffs = cmp.city[cmp.city.allocation != labels[0]][["kpi", "allocation", "diff_vs_first", "diff_ci95_low",
                                                         "diff_ci95_high", "significant"]]
    res = opt.result
    shadow = res.shadow_prices[["kind", "name", "explanation"]]
    binding = res.constraints[res.constraints.binding].groupby("group").size().rename("binding rows").reset_index()
    ch_d = res.changes(scenario, "district")
    ch_s = res.changes(scenario, "street")
    delta = pd.DataFrame({"community": list(scenario.community_ids),
                          "workers_baseline": scenario.baseline.workers, "workers_optimised": res.allocation.workers,
                          "change": res.allocation.workers - scenario.baseline.workers})
    movers = pd.concat([delta.nlargest(10, "change"), delta.nsmallest(10, "change")])

    def t(df: pd.DataFrame, **kw) -> str:
        return "<div class='wide'>" + df.to_html(
            index=False, float_format=lambda x: f"{x:,.4g}" if abs(x) < 10 else f"{x:,.0f}", border=0, **kw) + "</div>"
    assumptions = "".join(f"<li>{html.escape(a)}</li>" for a in scenario.spec.assumptions)
    notes = [
        "Headcount requirements are whole people, rounded up at each rule's scope.",
        "On-time share, overdue cases and resolution times come from the discrete-event simulation "
        f"({cmp.runs[0].reps} replications of {cmp.runs[0].days} days, common random numbers, "
        f"warm-up {scenario.spec.calendar.warmup_days} days); intervals are 95% Student-t intervals over replications.",
        "Differences are paired over replications (same complaints for every allocation).",
        "Shadow prices are duals of the LP relaxation: marginal, valid for small changes.",
        f"The optimised allocation was validated on fresh replications (seed + {1_000_003}) it was not tuned on: "
        + ("every community meets the target." if not opt.validation_missing else
           f"{len(opt.validation_missing)} communities miss the target: {', '.join(opt.validation_missing[:10])}."),
    ]
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridplan report: {html.escape(scenario.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}} th,td{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}
th:first-child,td:first-child{{text-align:left}} small{{color:#666}} h2{{border-bottom:2px solid #444;padding-bottom:2px}}
img{{max-width:100%}} .wide{{overflow-x:auto}} .note{{font-size:0.9em;color:#444}}
</style></head><body>
<h1>Staffing and funding plan: {html.escape(scenario.name)}</h1>
<p>{html.escape(scenario.spec.description)}</p>
<h2>Headline: baseline versus optimised</h2>
{headline}
<p class="note">Optimisation: objective <b>{html.escape(res.options.objective)}</b>; stopped because
{html.escape(opt.stop_reason)}.</p>
<h2>Simulation-optimisation iterations</h2>
{t(opt.iterations)}
<h2>Paired differences (optimised minus baseline)</h2>
{t(diffs)}
<h2>Policy rules and budgets: what binds and what it costs</h2>
{t(binding)}
{t(shadow)}
<h2>Changes by district</h2>
{t(ch_d)}
<h2>Changes by street</h2>
{t(ch_s)}
<h2>Communities that gain or lose most workers</h2>
{t(movers)}
<h2>Resolution times and backlog</h2>
{_img(plots['resolution_time.png'], 'resolution time distribution')}
{_img(plots['backlog.png'], 'backlog over the year')}
<h2>Assumptions of the scenario</h2>
<ul>{assumptions}</ul>
<h2>Notes</h2>
<ol class="note">{''.join(f'<li>{html.escape(n)}</li>' for n in notes)}</ol>
<p class="note">Scenario sha256 {scenario.sha256}. Command: <code>{html.escape(command_line)}</code></p>
</body></html>
"""
    path = folder / "report.html"
    path.write_text(body, encoding="utf-8")
    return path

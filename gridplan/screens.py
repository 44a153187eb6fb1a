"""What the commands print: one-screen summaries of a scenario, a simulation, an allocation, a comparison,
the calibration and the scorecards (plain text; the commands decide when to print them)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from gridplan.fmt import difference, number, table, yuan
from gridplan.progress import progress, say
from scenario.load import Scenario
from scenario.text import level_label, percent

if TYPE_CHECKING:  # tables come as DataFrames; validate prints none and does not import pandas
    import pandas as pd

__all__ = [
    "scenario_summary",
    "kpi_screen",
    "duty_screen",
    "allocation_screen",
    "compare_screen",
    "calibration_screen",
    "scorecard_screen",
    "plan_screen",
    "robust_screen",
    "next_million_screen",
    "RunConsole",
]


def _overlap(surge, days: int) -> int:
    """Days of a surge inside the simulated horizon."""
    return max(0, min(surge.start_day + surge.length_days, days) - surge.start_day)


def scenario_summary(s: Scenario) -> str:
    """A one-screen summary of a scenario: structure, baseline, rules, money, demand."""
    spec = s.spec
    res = int(s.urban_residents.sum())
    hh = int(s.households.sum())
    b = s.baseline
    daily = sum(c.rate_per_10k_per_day for c in spec.demand.channels.values()) * res / 10_000
    kinds = [d.kind for d in spec.districts]
    lines = [
        f"Scenario {spec.name}  ({s.path})",
        f"  {spec.description.strip()}" if spec.description else "",
        f"  sha256 {s.sha256[:16]}…",
        "Structure",
        f"  districts {kinds.count('district')} + development zones {kinds.count('development_zone')}, "
        f"streets {len(s.street_ids)}, communities {s.n_communities}",
        f"  urban residents {res:,}, households {hh:,}, grids {int(s.grids.sum()):,} "
        f"({', '.join(f'{g} {int(n):,}' for g, n in zip(s.grid_class_ids, s.grids_by_class.sum(axis=0)))})",
        f"  residents per community: min {int(s.urban_residents.min()):,}, median "
        f"{int(np.median(s.urban_residents)):,}, max {int(s.urban_residents.max()):,}",
        "Baseline allocation",
        f"  community workers {b.total_workers:,} = {b.total_workers / res * 10_000:.1f} per 10,000 residents",
        f"  street party-office staff {int(b.street_office_staff.sum()):,}, mobile grid workers "
        f"{int(b.mobile_grid_workers.sum()):,}",
        f"  work fund {yuan(b.work_fund_yuan.sum())}, service fund {yuan(b.service_fund_yuan.sum())}",
        "Policy rules",
        *(
            f"  {'on ' if r.active else 'off'} {rid}: {r.kind.value} >= {number(r.minimum)} per {r.scope.value}"
            for rid, r in spec.policy.rules.items()
        ),
        "Money",
        f"  mean worker cost {yuan(s.mean_worker_cost_yuan)} a year; city pays "
        f"{spec.funding.city_paid_workers_per_community} workers per community",
        "  budgets: city "
        + (yuan(spec.funding.city_budget_yuan) if spec.funding.city_budget_yuan is not None else "none")
        + f", districts {yuan(sum(d.budget_yuan or 0 for d in spec.districts))}",
        "Demand",
        f"  {daily:,.0f} cases a day (~{daily * 365:,.0f} a year) from {len(spec.demand.channels)} channels, "
        f"{len(spec.demand.categories)} categories, {len(spec.demand.surges)} surge(s)",
        *(
            f"  surge {u.name!r}: demand x{u.multiplier:g} for {u.length_days} days from day {u.start_day} "
            f"(~{daily * (u.multiplier - 1) * _overlap(u, spec.calendar.days):+,.0f} cases in the "
            f"{spec.calendar.days}-day horizon)"
            for u in spec.demand.surges
        ),
        f"  target: on-time share >= {percent(spec.targets.on_time_share_min)}",
        *_outcome_lines(s),
        f"Assumptions: {len(spec.assumptions)} stated in the scenario file",
    ]
    return "\n".join(line for line in lines if line)


def _outcome_lines(s: Scenario) -> list[str]:
    """What staff and money buy in this scenario: resolution, the service fund, problems found late."""
    spec = s.spec
    cats = spec.demand.categories.values()
    with_res = [c for c in cats if c.resolution is not None]
    if not with_res and spec.service_fund is None and spec.discovery is None:
        return []
    out = ["Outcomes (response, resolution, satisfaction)"]
    money = sum(c.share * c.resolution.needs_money_share for c in with_res if c.resolution is not None)
    out.append(
        f"  resolution modelled in {len(with_res)} of {len(spec.demand.categories)} categories; "
        f"{percent(money)} of cases need a fix that costs money"
    )
    f = spec.service_fund
    if f is not None:
        limit = (
            "no approval limit" if f.approval_limit_yuan is None else f"approval above {yuan(f.approval_limit_yuan)}"
        )
        out.append(
            f"  service fund released {f.release}, {limit}; "
            f"unpaid fixes to the city {percent(f.unfunded_to_city_share)}"
        )
    d = spec.discovery
    if d is not None and spec.duties is not None:
        finders = [did for did, x in spec.duties.scheduled.items() if x.finds]
        out.append(
            f"  problems found by duties ({', '.join(finders) or 'none'}) surface on {d.surfaced_channel} when undone"
        )
    t = spec.targets
    for name, v in (("resolution", t.resolution_share_min), ("satisfaction", t.satisfaction_share_min),
                    ("response", t.response_share_min)):  # fmt: skip
        if v is not None:
            out.append(f"  target: {name} rate >= {percent(v)} in every community")
    return out


def kpi_screen(reps) -> str:
    """The city KPIs of a simulation: mean and 95% interval over replications."""
    s = reps.summary()
    show = [
        "cases",
        "response_share",
        "resolution_share",
        "satisfaction_share",
        "repeat_complaints",
        "found_late_share",
        "unfunded_share",
        "fund_spent_share",
        "fund_exhausted_communities",
        "on_time_share",
        "overdue_cases",
        "late_at_grid_share",
        "late_at_desk_share",
        "late_at_street_share",
        "late_at_city_share",
        "late_after_reopen_share",
        "resolution_mean_hours",
        "resolution_p50_hours",
        "resolution_p90_hours",
        "reopened_share",
        "escalated_city",
        "utilisation_grid",
        "utilisation_desk",
        "utilisation_street",
        "duty_coverage",
        "duty_coverage_grid",
        "duty_coverage_desk",
        "duty_coverage_street",
        "duty_backlog_hours",
        "wait_mean_hours_grid",
        "wait_probability_grid",
        "wait_mean_hours_desk",
        "wait_probability_desk",
        "wait_mean_hours_street",
        "wait_probability_street",
        "mobile_share",
        "volunteer_share",
    ]
    kw = max(len(k) for k in show) + 1
    lines = [f"{'KPI':<{kw}}{'mean':>14}   95% CI"]
    for k in show:
        if k not in s.index:
            continue
        m, lo, hi = s.loc[k]
        fmt = (
            (lambda x: f"{x:.1%}")
            if ("share" in k or "utilisation" in k or "coverage" in k or "probability" in k)
            else (lambda x: f"{x:,.3f}")
            if "hours" in k and abs(m) < 10
            else (lambda x: f"{x:,.1f}")
        )
        ci = f"[{fmt(lo)}, {fmt(hi)}]" if not np.isnan(lo) else "(one replication)"
        lines.append(f"{k:<{kw}}{fmt(m):>14}   {ci}")
    return "\n".join(lines)


def duty_screen(reps) -> str:
    """Hours by level and work: done a year, coverage of scheduled duties, backlog at the end."""
    d = reps.duty_hours_mean()
    lines = [f"{'level':<8}{'work':<24}{'kind':<11}{'hours a year':>14}{'coverage':>10}{'backlog h':>11}"]
    for _, r in d.iterrows():
        cov = ("–" if r.kind == "scheduled" else "") if np.isnan(r.coverage) else f"{r.coverage:.1%}"
        bl = "" if np.isnan(r.backlog_end_hours) else f"{r.backlog_end_hours:,.0f}"
        lines.append(f"{r.level:<8}{r.work:<24}{r.kind:<11}{r.hours_done_per_year:>14,.0f}{cov:>10}{bl:>11}")
    if ((d.kind == "scheduled") & d.coverage.isna()).any():
        lines.append("(coverage –: none of that duty fell due in the measured days; a longer run shows it)")
    return "\n".join(lines)


def allocation_screen(scenario: Scenario, res) -> str:
    """What an allocation costs, what binds and decides it, its shadow prices and changes by district."""
    from solvers.policy import check_policy  # pandas: not for validate

    base = check_policy(scenario, scenario.baseline)
    res10k = res.allocation.total_workers / scenario.urban_residents.sum() * 10_000
    lines = [
        f"Objective {res.options.objective} (solver {res.solver})",
        f"  community workers {res.allocation.total_workers:,} = {res10k:.1f} per 10,000 "
        f"(baseline {scenario.baseline.total_workers:,})",
        f"  street party-office staff {int(res.allocation.street_office_staff.sum()):,}, mobile grid workers "
        f"{int(res.allocation.mobile_grid_workers.sum()):,}",
        f"  cost: city {yuan(res.costs.city_yuan)}, districts {yuan(sum(res.costs.district_yuan.values()))}, "
        f"total {yuan(res.costs.total_yuan)} (baseline {yuan(base.costs.total_yuan)})",
        f"  expected on-time share (service curves) {res.expected_on_time_share:.1%}; "
        f"expected overdue cases {res.expected_overdue_cases:,.0f} a year "
        f"({res.curves.overdue_waiting(res.allocation.workers):,.0f} of them for waiting for a grid worker; the "
        f"rest come from the escalation levels, the city's delay and reopened cases, which no staffing "
        f"changes); expected duty coverage "
        f"{res.expected_duty_coverage:.1%}",
        "Binding constraints (rows with zero slack; a workload row keeps the part of a person it rounds up, so "
        "what sets each unit is under 'Deciding constraint'):",
    ]
    b = res.constraints[res.constraints.binding].groupby("group").size()
    lines += [f"  {g or 'other'}: {n}" for g, n in b.items()]
    lines.append("Deciding constraint (the bound that sets each unit's staffing):")
    lines.append(table(res.deciding_counts()))
    if res.options.objective == "rebalance":
        lines.append(
            f"  capacity margin reached: the busiest unit plans at {1 / -res.objective_value:.1%} of its "
            f"available hours"
        )
    if res.options.objective == "equity":
        per10k = scenario.urban_residents / 10_000
        lines.append(
            f"  the worst community has {np.min(res.allocation.workers / per10k):.2f} workers per 10,000 "
            f"(baseline {np.min(scenario.baseline.workers / per10k):.2f})"
        )
    lines.append("Shadow prices (LP marginal rates; 'exact' where a re-solve with the next whole step was run):")
    lines += [f"  {t}" for t in res.shadow_prices.explanation]
    ch = res.changes(scenario, "district")
    lines.append("Change from the baseline by district:")
    cols = ["district", "workers_baseline", "workers_new", "workers_change", "street_staff_change", "cost_change_yuan"]
    lines.append(table(ch[cols]))
    return "\n".join(lines)


def compare_screen(cmp) -> str:
    """Every city KPI of every allocation, its paired difference from the first, and the static table."""
    kw = max(len(k) for k in cmp.city.kpi) + 2
    aw = max(len(x) for x in cmp.labels) + 2
    lines = [f"{'KPI':<{kw}}{'allocation':<{aw}}{'mean':>12}   difference vs {cmp.labels[0]} [95% CI]"]
    for _, r in cmp.city.iterrows():
        share = "share" in r.kpi or "coverage" in r.kpi or "utilisation" in r.kpi
        f = (lambda x: f"{x:.2%}") if share else (lambda x: f"{x:,.1f}")
        d = partial(difference, share=share)
        diff = (
            ""
            if r.allocation == cmp.labels[0]
            else (
                f"{d(r.diff_vs_first)} [{d(r.diff_ci95_low)}, {d(r.diff_ci95_high)}]"
                + (" significant" if r.significant else " not significant")
            )
        )
        lines.append(f"{r.kpi:<{kw}}{r.allocation:<{aw}}{f(r['mean']):>12}   {diff}")
    lines.append("(what each KPI means: the description column of compare_city.csv in the result folder)")
    lines.append("")
    lines.append(table(cmp.static))
    for r in cmp.static[cmp.static.policy_violations > 0].itertuples():  # simulated all the same: say so
        lines.append(
            f"note: {r.allocation} fails {r.policy_violations:,} policy check(s) (its policy_violations above); "
            f"`gridplan check` with its table names them"
        )
    return "\n".join(lines)


def calibration_screen(calib: pd.DataFrame, width: int = 110) -> str:
    """The calibration table: each figure of the source, the model's value [95% CI] and the verdict, a short
    block per figure wrapped to ``width`` (the sources are sentences, too wide for table columns)."""
    import textwrap

    from workflows.calibration import shown

    if calib.empty:
        return "  (the scenario names no figures of a source)"
    lines = []
    for r in calib.itertuples():
        model = (
            f"{shown(r.model)} [{shown(r.ci95_low)}, {shown(r.ci95_high)}]"
            if not np.isnan(r.ci95_low)
            else shown(r.model)
        )
        lines.append(f"  {r.figure}")
        text = f"source: {r.source}  |  model: {model}  |  {r.verdict}"
        lines += textwrap.wrap(text, width, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


def scorecard_screen(cards: pd.DataFrame, level: str, threshold: float, show: int = 8) -> str:
    """The best and worst units, and every unit likely to fall below the threshold."""
    cols = [
        level,
        "score",
        "score_ci95_low",
        "score_ci95_high",
        "rank_best",
        "rank_worst",
        "share_of_replications_below_threshold",
    ]
    from workflows.scorecard import below_words

    lines = [f"{level.capitalize()} scorecards ({len(cards)}): {below_words(cards, threshold)}"]
    if len(cards) <= 2 * show:
        lines.append(table(cards[cols]))
    else:
        lines += [table(cards[cols].head(show)), "   ...", table(cards[cols].tail(show))]
    return "\n".join(lines)


class RunConsole:
    """The main job's progress on the console: a bar per optimisation and for the comparison, news lines
    (silenced by --quiet), and each step's screen as it finishes (printed, as results are)."""

    def __init__(self) -> None:
        self.bar = contextlib.ExitStack()
        self.tick: Callable[[int], None] | None = None

    def __enter__(self) -> "RunConsole":
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def _open(self, total: int | None, desc: str, unit: str) -> None:
        self.tick = self.bar.enter_context(progress(total, desc, unit))

    def __call__(self, event: object) -> None:
        from workflows.run import Message, StepFinished, StepStarted, Ticked

        if isinstance(event, Ticked):
            if self.tick is not None:
                self.tick(event.n)
        elif isinstance(event, Message):
            say("  " + event.text)
        elif isinstance(event, StepStarted):
            if event.step == "optimise":
                print(f"Optimising '{event.label}' (allocate -> simulate -> correct -> allocate):")
                self._open(None, f"optimising '{event.label}'", event.unit)
            elif event.step == "compare":
                say("Comparing the allocations on the same complaints:")
                self._open(event.total, "comparing", "rep" if event.unit == "replications" else event.unit)
            elif event.step == "simulate":
                say(f"Simulating {event.label}:")
                self._open(event.total, "simulating", "rep")
            elif event.step == "faster":
                say("Looking for faster paths (targets met from earlier years):")
            elif event.step in ("robust", "reference"):
                say(f"Planning for {event.label}:" if event.step == "robust" else f"Checking {event.label}:")
                self._open(None, f"{event.label}", "replications")
        elif isinstance(event, StepFinished):
            self.bar.close()
            self.tick = None
            self._finished(event)

    @staticmethod
    def _finished(event) -> None:
        if event.step == "check":
            base = event.value
            print(
                f"Baseline policy check: {'PASS' if base.passed else 'FAIL'} "
                f"({base.workers_total:,} workers = {base.workers_per_10k:.1f} per 10,000)"
            )
        elif event.step == "optimise":
            print(f"  stopped: {event.value.opt.stop_reason}")
        elif event.step == "compare":
            print(compare_screen(event.value))
        elif event.step == "calibrate" and len(event.value):
            print("Calibration against the source:")
            print(calibration_screen(event.value))


def _m_yuan(v: float) -> str:
    import pandas as pd

    return "–" if pd.isna(v) else f"{v / 1e6:,.2f}"


def plan_screen(result) -> str:
    """A multi-year plan: its assumptions, the path by year (headcount, flows, pay, cost, check), what a
    faster path costs, the KPIs by year, and when communities reach what they need."""
    import pandas as pd

    p, s = result.path, result.scenario
    by = result.by_year
    lines = [
        f"Plan for {s.name}: {p.years} year(s) from today (year 0), targets, workload and rules met from year "
        f"{p.target_year} on (the cheapest such path); costs at each year's prices, not discounted",
        "Workforce figures (every one an assumption; 'default' = gridplan's, not the scenario's):",
    ]
    a = result.assumptions
    lines += [f"  {r.field} = {r.value} ({r.origin})" for r in a.itertuples()]
    view = pd.DataFrame(
        {
            "year": by.year,
            "workers": by.workers,
            "leavers": by.leavers.map(lambda v: f"{v:,.1f}"),
            "joiners": by.joiners.map(lambda v: f"{v:,.1f}"),
            "of which new posts": by.new_posts.map(lambda v: f"{v:,.0f}"),
            "street staff": by.street_office_staff,
            "service fund (M)": by.service_fund_yuan.map(_m_yuan),
            "a worker's pay": by.worker_cost_yuan.map(lambda v: f"{v:,.0f}"),
            "city (M)": by.cost_city_yuan.map(_m_yuan),
            "districts (M)": by.cost_districts_yuan.map(_m_yuan),
            "total (M yuan)": by.cost_total_yuan.map(_m_yuan),
            "policy check": by.policy_check,
        }
    )
    lines += ["By year (expected leavers and joiners; joiners count from the year shown):", table(view)]
    for r in by[by.policy_check != "PASS"].itertuples():
        lines.append(f"  year {r.year} fails: {r.failing}")
    if len(result.faster):
        f = result.faster
        lines.append("The cost of a faster path (targets met from each year on, the same limits):")
        for r in f.itertuples():
            if not r.feasible:
                lines.append(f"  from year {r.target_year}: no path; {r.note}")
                continue
            extra = r.extra_over_plan_yuan
            lines.append(
                f"  from year {r.target_year}: {_m_yuan(r.cost_total_yuan)} M yuan over {p.years} years"
                + ("" if abs(extra) < 0.5 else f" ({'+' if extra > 0 else ''}{_m_yuan(extra)} M against this plan)")
            )
    reach = result.reach.reaches_need_in_year.value_counts().sort_index()
    when = {0: "today", -1: "not within the plan"}
    words = [f"{n} {when.get(int(y), f'in year {y}')}" for y, n in reach.items()]
    lines.append("Communities reaching what they need (workers and service fund, and keeping it): " + ", ".join(words))
    if len(result.kpis):
        lines.append(
            f"Simulated KPIs by year ({result.options.reps} replication(s) a year, seed {result.seed}, "
            "the same every year; mean [95% CI]):"
        )
        lines.append(table(_kpi_wide(result.kpis)))
        lines.append(
            "  communities missing a target: a share more than two binomial standard errors of its cases below "
            "it, duty coverage's mean below it (the rule gridplan optimize cuts by); each year is allocated by the "
            "allocator's curves, not refitted to simulation"
        )
    return "\n".join(lines)


def _kpi_wide(kpis: pd.DataFrame) -> pd.DataFrame:
    """KPIs as rows and years as columns, each cell 'mean [low, high]' (shares in percent)."""
    import pandas as pd

    def cell(r) -> str:
        if r.kpi.startswith("communities_missing"):
            return f"{r['mean']:,.0f}"
        share = "share" in r.kpi or "coverage" in r.kpi
        f = (lambda x: f"{x:.2%}") if share else (lambda x: f"{x:,.0f}")
        return f"{f(r['mean'])} [{f(r.ci95_low)}, {f(r.ci95_high)}]" if not pd.isna(r.ci95_low) else f(r["mean"])

    k = kpis.assign(cell=[cell(r) for _, r in kpis.iterrows()])
    wide = k.pivot(index="kpi", columns="year", values="cell").reindex(list(dict.fromkeys(k.kpi)))
    wide.columns = [f"year {c}" for c in wide.columns]
    return wide.reset_index()


def robust_screen(result) -> str:
    """A plan that holds with a stated probability: the cost of robustness, the fresh check of the plan at
    the stated probability, and the planning margins its units need."""
    plan = result.plan
    p = plan.probability
    names = ", ".join(plan.variants) or "no variant"
    lines = [
        f"Plan for {result.scenario.name}: the targets hold in {level_label(p)} of simulated years (the scenario and "
        f"{names}, equal weights), seed {result.seed}; stopped: {plan.stop_reason}",
        "The cost of robustness (each plan checked on the same fresh years; met: the share of unit-years "
        "meeting the target [95% interval]):",
        table(_robust_view(result.table)),
        f"Fresh check of the {p:.0%} plan ({plan.holds.unit_years.iloc[0]:,} community-years):",
    ]
    for h in plan.holds.itertuples():
        verdict = "" if h.target.startswith("all") else ("  holds" if h.ci95_high >= p else f"  BELOW {level_label(p)}")
        lines.append(f"  {h.target}: {h.share:.2%} [{h.ci95_low:.2%}, {h.ci95_high:.2%}] of {h.unit_years:,}{verdict}")
    m = plan.margins[plan.margins.unit == "community"]
    est = m[m.margin_is_estimate]
    if len(est):
        q = est.planning_margin_needed.quantile([0.1, 0.5, 0.9])
        lines.append(
            f"Planning margins the communities need ({len(est)} whose coverage was fitted; margins.csv has every "
            f"unit): 10% of them at most {q.iloc[0]:.0%} of available hours, median {q.iloc[1]:.0%}, 90% at "
            f"most {q.iloc[2]:.0%} (the scenario assumes "
            f"{result.scenario.spec.duties.max_planned_utilisation:.0%} for all)"
        )
    if plan.coverage_stuck:
        lines.append(
            f"More people did not lift the duty coverage of {len(plan.coverage_stuck)} units to the target (they keep "
            f"what they have): {', '.join(plan.coverage_stuck[:10])}"
            + (" ..." if len(plan.coverage_stuck) > 10 else "")
        )
    if plan.no_fund_lifts:
        lines.append(
            f"No fund lifts {len(plan.no_fund_lifts)} communities to the resolution target at {p:.0%} (they get the "
            f"fund that pays all their fixes): {', '.join(plan.no_fund_lifts[:10])}"
            + (" ..." if len(plan.no_fund_lifts) > 10 else "")
        )
    return "\n".join(lines)


def _robust_view(df: pd.DataFrame) -> pd.DataFrame:
    """The cost-of-robustness table as shown: money in millions, each target's met share with its interval."""
    import pandas as pd

    out = pd.DataFrame({"plan": df.plan, "cost (M yuan)": df.cost_total_yuan.map(_m_yuan)})
    out["workers"] = df.workers
    out["street staff"] = df.street_office_staff
    out["service fund (M)"] = df.service_fund_yuan.map(_m_yuan)
    out["planning margin (median)"] = df.planning_margin_median.map(lambda v: "–" if pd.isna(v) else f"{v:.0%}")
    for key, label in (
        ("resolution_share", "resolution met"),
        ("duty_coverage", "coverage met"),
        ("all_targets", "all met"),
    ):
        if f"{key}_met_share" in df:
            out[label] = [
                f"{m:.1%} [{lo:.1%}, {hi:.1%}]"
                for m, lo, hi in zip(df[f"{key}_met_share"], df[f"{key}_met_ci95_low"], df[f"{key}_met_ci95_high"])
            ]
    return out


def next_million_view(table: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """The communities where a million buys most, as shown (the page and the console)."""
    import pandas as pd

    t = table.head(top)
    return pd.DataFrame(
        {
            "rank": t["rank"],
            "community": t.community,
            "best use": t.best,
            "fund: resolution (pt)": t.fund_resolution_points.map(lambda v: f"{v:+.2f}"),
            "fund: satisfaction (pt)": t.fund_satisfaction_points.map(lambda v: f"{v:+.2f}"),
            "fund: outcomes a year": t.fund_outcomes_per_year.map(lambda v: f"{v:,.0f}"),
            "staff: workers": t.staff_workers,
            "staff: coverage (pt)": t.staff_coverage_points.map(lambda v: f"{v:+.2f}"),
            "staff: outcomes a year": t.staff_outcomes_per_year.map(lambda v: f"{v:,.0f}"),
        }
    )


def next_million_screen(result) -> str:
    """Where the next million goes: the top of the ranking, how many communities it moves at all, and the
    check against re-simulation."""
    t = result.table
    counts = t.best.value_counts()
    lines = [
        f"Where the next million yuan goes ({result.scenario.name}, {t.staff_workers.iloc[0]} workers or a million "
        f"of service fund in one community; outcomes a year = cases on time + cases resolved + residents "
        f"satisfied, from the allocator's rates at curves refitted to {result.options.reps} simulated years):",
        table(next_million_view(t)),
        f"Best use: fund in {counts.get('fund', 0)} communities, staff in {counts.get('staff', 0)}, nothing "
        f"measurable (under 0.1 outcome a year) in {counts.get('none', 0)}.",
        "Checked by re-simulation (the same seeds; paired differences, 95% interval; a sign agrees when a "
        "predicted gain of 1 outcome a year or more simulates above zero, or a smaller one simulates within its "
        "interval or 1 of zero):",
    ]
    if result.checked_per_end < result.options.check:
        lines.append(
            f"  (--check {result.options.check}: {result.scenario.n_communities} communities allow "
            f"{result.checked_per_end} at each end of a ranking)"
        )
    c = result.check
    for r in c.itertuples():
        lines.append(
            f"  {r.use:<5} {r.community:<8} predicted {r.predicted_outcomes_per_year:>8,.0f}  simulated "
            f"{r.simulated_outcomes_per_year:>8,.0f} [{r.simulated_ci95_low:,.0f}, {r.simulated_ci95_high:,.0f}]"
            + ("" if r.sign_agrees else "  sign differs")
        )
    for r in result.agreement.itertuples():
        lines.append(
            f"  {r.use}: signs agree in {r.signs_agreeing} of {r.communities_checked}; Spearman's rank correlation "
            f"{r.spearman_rank_correlation:+.2f}" + (f" ({r.note})" if r.note else "")
        )
    return "\n".join(lines)

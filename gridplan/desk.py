"""The planner's desk: ``gridplan serve SCENARIO``, a local web page for "what if" questions.

Built on Dash (Flask underneath: plain HTTP requests that the framework's test client and a real
browser can both drive; editable tables and charts without writing JavaScript). The page shows the
scenario and its baseline, lets a planner edit the allocation as a table with the policy check
updating as they type, runs short simulations against the baseline on the same complaints (in worker
processes, with progress; the page stays responsive), calls the allocator (objective, budget slider),
draws the budget frontier, shows the scorecards, and offers the allocation CSV and a report.

Safety: it binds to 127.0.0.1 unless told otherwise, and then every request must carry the access
token (``?token=...`` once; a cookie after that). Edits pass the same validation as the command line
and fail with the same one-line messages. It writes no file: downloads are made in memory. Each page
load gets its own session id, so two tabs never see each other's runs.
"""

from __future__ import annotations

import hmac
import io
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridplan.desk_results import (
    COMPARISON_HEADER,
    JOBS,
    comparison_rows,
    comparison_table,
    frontier_figure,
    job_runs,
    report_html,
)
from scenario.allocation import Allocation
from scenario.errors import GridplanError
from scenario.load import Scenario, load_scenario
from solvers.allocator import allocate
from solvers.lpmodel import AllocationOptions
from solvers.policy import check_policy

__all__ = ["create_app", "check_text", "table_csv", "JOBS", "LOCAL_HOSTS"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
COMMUNITY_COLS = ["workers", "secretary_assistants", "work_fund_yuan", "service_fund_yuan"]
STREET_COLS = ["street_office_staff", "mobile_grid_workers"]


# ------------------------------------------------------------------ tables <-> allocations
def community_rows(s: Scenario, a: Allocation) -> list[dict[str, Any]]:
    """The community table the page edits."""
    return [
        {
            "community": c,
            "street": s.street_ids[s.community_street[i]],
            "urban_residents": int(s.urban_residents[i]),
            "workers": int(a.workers[i]),
            "secretary_assistants": int(a.secretary_assistants[i]),
            "work_fund_yuan": float(a.work_fund_yuan[i]),
            "service_fund_yuan": float(a.service_fund_yuan[i]),
        }
        for i, c in enumerate(s.community_ids)
    ]


def street_rows(s: Scenario, a: Allocation) -> list[dict[str, Any]]:
    """The street table the page edits."""
    return [
        {
            "street": x,
            "street_office_staff": int(a.street_office_staff[j]),
            "mobile_grid_workers": int(a.mobile_grid_workers[j]),
        }
        for j, x in enumerate(s.street_ids)
    ]


def table_csv(communities: list[dict], streets: list[dict]) -> str:
    """The two edited tables as one allocation CSV (the format every command reads)."""
    rows = [["level", "id", *COMMUNITY_COLS, *STREET_COLS]]
    for r in communities:
        rows.append(["community", r.get("community", ""), *(_cell(r.get(c)) for c in COMMUNITY_COLS), "", ""])
    for r in streets:
        rows.append(["street", r.get("street", ""), "", "", "", "", *(_cell(r.get(c)) for c in STREET_COLS)])
    buf = io.StringIO()
    import csv

    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def parse(s: Scenario, text: str) -> Allocation:
    """An edited table, validated exactly as ``--allocation`` files are (one-line errors)."""
    return s.read_allocation(Path("edited allocation"), text=text)


def check_text(s: Scenario, text: str) -> tuple[bool, str]:
    """(passes, a short summary) of the policy check of an edited table; an invalid edit explains itself."""
    try:
        a = parse(s, text)
    except GridplanError as exc:
        return False, f"Not a valid allocation: {exc}"
    rep = check_policy(s, a)
    failing = rep.rows[~rep.rows.passed]
    base = check_policy(s, s.baseline).costs.total_yuan
    head = (
        f"{'PASS' if rep.passed else 'FAIL'}: {rep.workers_total:,} workers = {rep.workers_per_10k:.1f} per "
        f"10,000; {rep.street_staff_total:,} street staff; cost {rep.costs.total_yuan / 1e6:,.2f} M yuan "
        f"(baseline {base / 1e6:,.2f} M)"
    )
    if len(failing):
        head += "; failing: " + "; ".join(
            f"{r.rule} at {r.unit} ({r.actual:g} vs {r.limit:g})" for r in failing.head(5).itertuples()
        )
    return rep.passed, head


# the table's own selected-cell style is a pale red: make it neutral, so that red marks failing cells only
ACTIVE_CELL = [
    {"if": {"state": "active"}, "backgroundColor": "#e7f0fb", "border": "1px solid #1971c2"},
    {"if": {"state": "selected"}, "backgroundColor": "#e7f0fb", "border": "1px solid #1971c2"},
]
FAILING_CELL = {"backgroundColor": "#fde2e1", "color": "#b42318", "fontWeight": "bold"}


def failing_cells(s: Scenario, text: str) -> tuple[list[dict], list[dict]]:
    """Styles marking each cell a community or street rule fails on (the table's ``style_data_conditional``
    for communities and streets), found by the unit's id so that sorting and filtering keep them right."""
    from solvers.policy import ALLOCATION_FIELD

    try:
        a = parse(s, text)
    except GridplanError:
        return list(ACTIVE_CELL), list(ACTIVE_CELL)
    rows = check_policy(s, a).rows
    rules = s.spec.policy.rules
    marks: dict[str, list[dict]] = {"community": list(ACTIVE_CELL), "street": list(ACTIVE_CELL)}
    for r in rows[~rows.passed].itertuples():
        rule = rules.get(r.rule)
        if rule is None or rule.scope.value not in marks:  # a budget, or a district or city rule: no one cell
            continue
        level = rule.scope.value
        unit = str(r.unit).replace('"', '\\"')
        marks[level].append(
            {"if": {"filter_query": f'{{{level}}} = "{unit}"', "column_id": ALLOCATION_FIELD[rule.kind]}} | FAILING_CELL
        )
    return marks["community"], marks["street"]


def interval_note(reps: int) -> str:
    """What intervals over ``reps`` replications can say: with few, almost nothing (empty from 5 up)."""
    if reps >= 5:
        return ""
    from scipy import stats

    t = float(stats.t.ppf(0.975, reps - 1))
    return (
        f"With {reps} replications each 95% interval is {t:.1f} standard errors wide on either side (Student t "
        f"with {reps - 1} degree{'s' if reps > 2 else ''} of freedom): a difference is rarely significant and "
        f"the intervals say little. Run 5 or more replications to read them."
    )


# ------------------------------------------------------------------ the app
def create_app(scenario_path: str | Path, token: str | None = None):  # noqa: C901 - one callback per control
    """The Dash app for one scenario. ``token``: when set, every request must carry it.

    Long because Dash registers callbacks on the app object: each control's callback is a short nested
    function decorated with ``@app.callback`` that shares this scenario, its baseline cost and the page's
    worker pool; taking them apart would pass that state through every one of them."""
    import dash
    from dash import Input, Output, State, dash_table, dcc, html
    from flask import abort, request

    s = load_scenario(scenario_path)
    base_cost = check_policy(s, s.baseline).costs.total_yuan
    app = dash.Dash(__name__, title=f"gridplan: {s.name}", update_title="")

    if token:

        @app.server.before_request
        def _require_token() -> None:
            given = (
                request.args.get("token")
                or request.cookies.get("gridplan_token")
                or request.headers.get("X-Gridplan-Token")
                or ""
            )
            if not hmac.compare_digest(given, token):
                abort(403)

        @app.server.after_request
        def _remember_token(resp):  # type: ignore[no-untyped-def]
            if request.args.get("token") == token:
                resp.set_cookie("gridplan_token", token, httponly=True, samesite="Strict")
            return resp

    numeric = {"type": "numeric"}
    comm_columns = [
        {"name": "community", "id": "community", "editable": False},
        {"name": "street", "id": "street", "editable": False},
        {"name": "residents", "id": "urban_residents", "editable": False, **numeric},
    ] + [{"name": c, "id": c, "editable": True, **numeric} for c in COMMUNITY_COLS]
    street_columns = [{"name": "street", "id": "street", "editable": False}] + [
        {"name": c, "id": c, "editable": True, **numeric} for c in STREET_COLS
    ]
    b_lo, b_hi = round(base_cost * 0.8 / 1e6, 2), round(base_cost * 1.2 / 1e6, 2)
    b_step = max(0.01, round((b_hi - b_lo) / 40, 2))

    def layout() -> Any:
        """A fresh page for each load (its own session id). Long because it is one declarative tree of the
        page's components, top to bottom."""
        return html.Div(
            [
                dcc.Store(id="session", data=uuid.uuid4().hex),
                dcc.Store(id="job"),
                dcc.Store(id="result"),
                dcc.Store(id="proposal"),
                dcc.Interval(id="tick", interval=700, disabled=True),
                html.H1(f"gridplan planner's desk: {s.name}"),
                html.P(s.spec.description),
                html.H2("Allocation (edit any white cell)"),
                html.Div(id="check", className="check"),
                dash_table.DataTable(  # type: ignore[attr-defined]
                    id="communities",
                    columns=comm_columns,
                    data=community_rows(s, s.baseline),
                    page_size=12,
                    sort_action="native",
                    filter_action="native",
                    style_table={"overflowX": "auto"},
                ),
                dash_table.DataTable(  # type: ignore[attr-defined]
                    id="streets",
                    columns=street_columns,
                    data=street_rows(s, s.baseline),
                    page_size=12,
                    style_table={"overflowX": "auto"},
                ),
                html.Button("Download allocation CSV", id="download-csv"),
                dcc.Download(id="csv-file"),
                html.H2("Simulate against the baseline"),
                html.Label("replications "),
                dcc.Input(id="reps", type="number", min=2, max=20, value=3),
                html.Label(" days "),
                dcc.Input(
                    id="days",
                    type="number",
                    min=s.spec.calendar.warmup_days + 1,
                    max=366,
                    value=min(91, s.spec.calendar.days),
                ),
                html.Button("Run short simulation", id="simulate"),
                html.Div(id="progress"),
                html.Div(id="sim-result"),
                html.Div(id="scorecards"),
                html.Button("Download report", id="download-report"),
                dcc.Download(id="report-file"),
                html.H2("Allocator"),
                dcc.Dropdown(
                    id="objective",
                    options=["min-cost", "max-service", "rebalance", "equity"],
                    value="min-cost",
                    clearable=False,
                ),
                html.Label("total budget (M yuan a year; min-cost ignores it unless below the need)"),
                dcc.Slider(
                    id="budget",
                    min=b_lo,
                    max=b_hi,
                    step=b_step,
                    value=round(base_cost / 1e6, 2),
                    marks={float(v): f"{v:,.2f}" for v in np.linspace(b_lo, b_hi, 5).round(2)},
                    tooltip={"placement": "bottom", "always_visible": True},
                ),
                html.Button("Allocate", id="allocate"),
                html.Button("Load the proposal into the table", id="use"),
                html.Div(id="alloc-result"),
                html.H2("Budget frontier (allocator's prediction)"),
                html.Button("Draw the frontier", id="frontier"),
                dcc.Graph(id="frontier-graph", style={"display": "none"}),  # shown once drawn
            ],
            style={"maxWidth": "1200px", "margin": "1em auto", "fontFamily": "system-ui, sans-serif"},
        )

    app.layout = layout

    edited_tables = (State("communities", "data"), State("streets", "data"))  # the allocation being edited

    @app.callback(
        Output("check", "children"),
        Output("communities", "style_data_conditional"),
        Output("streets", "style_data_conditional"),
        Input("communities", "data"),
        Input("streets", "data"),
    )
    def _check(communities, streets):  # type: ignore[no-untyped-def]
        csv_text = table_csv(communities, streets)
        ok, text = check_text(s, csv_text)
        comm_style, street_style = failing_cells(s, csv_text)
        return (
            html.P(text, style={"color": "#1a7f37" if ok else "#b42318", "fontWeight": "bold"}),
            comm_style,
            street_style,
        )

    @app.callback(
        Output("csv-file", "data"),
        Input("download-csv", "n_clicks"),
        *edited_tables,
        prevent_initial_call=True,
    )
    def _csv(_, communities, streets):  # type: ignore[no-untyped-def]
        return dict(content=table_csv(communities, streets), filename=f"{s.name}_allocation.csv")

    @app.callback(
        Output("job", "data"),
        Output("tick", "disabled"),
        Output("progress", "children"),
        Input("simulate", "n_clicks"),
        *edited_tables,
        State("reps", "value"),
        State("days", "value"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    def _simulate(_, communities, streets, reps, days, session):  # type: ignore[no-untyped-def]
        try:
            a = parse(s, table_csv(communities, streets))
            reps, days = int(reps or 3), int(days or 91)
            if not 2 <= reps <= 20 or not s.spec.calendar.warmup_days < days <= 366:
                raise GridplanError(
                    f"replications 2-20 and days {s.spec.calendar.warmup_days + 1}-366, found {reps} and {days}"
                )
        except (GridplanError, ValueError, TypeError) as exc:
            return None, True, f"Cannot simulate: {exc}"
        job = JOBS.start(session, s, [("baseline", s.baseline), ("edited", a)], reps, days, s.spec.seed)
        return job, False, f"simulating 0/{2 * reps} replications"

    @app.callback(
        Output("progress", "children", allow_duplicate=True),
        Output("sim-result", "children"),
        Output("scorecards", "children"),
        Output("tick", "disabled", allow_duplicate=True),
        Output("result", "data"),
        Input("tick", "n_intervals"),
        State("job", "data"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    def _poll(_, job_id, session):  # type: ignore[no-untyped-def]
        job = JOBS.get(session, job_id) if job_id else None
        if job is None:
            return "", dash.no_update, dash.no_update, True, dash.no_update
        total = len(job.futures)
        if job.done < total:
            return (
                f"simulating {job.done}/{total} replications, {time.monotonic() - job.started:.0f} s",
                dash.no_update,
                dash.no_update,
                False,
                dash.no_update,
            )
        try:
            runs = job_runs(job)
        except Exception as exc:  # a worker's error is shown, not raised into the page
            return f"the simulation failed: {exc}", dash.no_update, dash.no_update, True, dash.no_update
        table = comparison_table(runs, ["baseline", "edited"])
        note = interval_note(job.reps)
        shown_table = html.Div(
            [
                html.Table(
                    [html.Tr([html.Th(h) for h in COMPARISON_HEADER])]
                    + [html.Tr([html.Td(c) for c in row]) for row in comparison_rows(table)],
                    id="kpi-table",
                ),
                html.P(note, id="interval-note", style={"color": "#9a6700"}) if note else "",
            ]
        )
        cards_div: Any = ""
        cards_json = None
        if s.spec.evaluation is not None:
            from workflows.scorecard import scorecards

            cards = scorecards(s, runs[1], "community")
            cards_json = cards.to_json(orient="split")
            cols = [
                "community",
                "score",
                "score_ci95_low",
                "score_ci95_high",
                "rank_best",
                "rank_worst",
                "likely_below_threshold",
            ]
            cards_div = html.Div(
                [
                    html.H3("Scorecards of the edited allocation (communities)"),
                    dash_table.DataTable(  # type: ignore[attr-defined]
                        data=cards[cols].round(2).to_dict("records"),
                        columns=[{"name": c, "id": c} for c in cols],
                        page_size=10,
                    ),
                ]
            )
        done = f"done: {total} replications in {time.monotonic() - job.started:.0f} s (seed {job.seed})"
        return done, shown_table, cards_div, True, {"table": table.to_json(orient="split"), "cards": cards_json}

    @app.callback(
        Output("report-file", "data"),
        Input("download-report", "n_clicks"),
        State("result", "data"),
        *edited_tables,
        prevent_initial_call=True,
    )
    def _report(_, result, communities, streets):  # type: ignore[no-untyped-def]
        _, text = check_text(s, table_csv(communities, streets))
        table = pd.read_json(io.StringIO(result["table"]), orient="split") if result else None
        cards = pd.read_json(io.StringIO(result["cards"]), orient="split") if result and result["cards"] else None
        return dict(content=report_html(s, text, table, cards), filename=f"{s.name}_what_if.html")

    @app.callback(
        Output("alloc-result", "children"),
        Output("proposal", "data"),
        Input("allocate", "n_clicks"),
        State("objective", "value"),
        State("budget", "value"),
        prevent_initial_call=True,
    )
    def _allocate(_, objective, budget):  # type: ignore[no-untyped-def]
        budget_yuan = None if objective == "min-cost" else float(budget) * 1e6
        try:
            r = allocate(s, AllocationOptions(objective=objective, total_budget_yuan=budget_yuan))
        except GridplanError as exc:
            return html.P(f"No allocation: {exc}", style={"color": "#b42318"}), None
        counts = r.deciding_counts()
        text = (
            f"{objective}: {r.allocation.total_workers:,} workers, "
            f"{int(r.allocation.street_office_staff.sum()):,} street staff, cost {r.costs.total_yuan / 1e6:,.2f} "
            f"M yuan; predicted on-time {r.expected_on_time_share:.1%}, duty coverage "
            f"{r.expected_duty_coverage:.1%}; decided by "
            + ", ".join(f"{d} {n}" for d, n in zip(counts.decided_by, counts.communities))
        )
        return html.P(text, id="alloc-text"), {
            "communities": community_rows(s, r.allocation),
            "streets": street_rows(s, r.allocation),
        }

    @app.callback(
        Output("communities", "data"),
        Output("streets", "data"),
        Input("use", "n_clicks"),
        State("proposal", "data"),
        prevent_initial_call=True,
    )
    def _use(_, proposal):  # type: ignore[no-untyped-def]
        if not proposal:
            return dash.no_update, dash.no_update
        return proposal["communities"], proposal["streets"]

    @app.callback(
        Output("frontier-graph", "figure"),
        Output("frontier-graph", "style"),
        Input("frontier", "n_clicks"),
        prevent_initial_call=True,
    )
    def _frontier(_):  # type: ignore[no-untyped-def]
        return frontier_figure(s, np.linspace(b_lo, b_hi, 7)), {"display": "block"}

    return app

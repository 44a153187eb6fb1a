"""The planner's desk: ``gridplan serve SCENARIO``, a local web page for "what if" questions.

Built on Dash (Flask underneath: plain HTTP requests that the framework's test client and a real
browser can both drive; editable tables and charts without writing JavaScript). The page shows the
scenario and its baseline, lets a planner edit the allocation as a table with the policy check
updating as they type, runs short simulations against the baseline on the same complaints (in worker
processes, with progress; the page stays responsive), calls the allocator (objective, budget slider),
draws the budget frontier, shows the scorecards, and offers the allocation CSV and a report. This module
builds the page and its callbacks; the tables and their check are ``gridplan.desktables``, what the page
shows of results (the comparison, the proposal, the report, the frontier) ``gridplan.deskresults``.

Safety: it binds to 127.0.0.1 unless told otherwise, and then every request must carry the access
token (``?token=...`` once; a cookie after that); requests under another host name or from another
site's page, and bodies above a size limit, are refused (``gridplan.deskguard``). Simulations queue
within limits per page and in all, can be cancelled, and run in workers that die with the desk
(``gridplan.deskjobs``). Edits and every value a callback receives pass the same validation and bounds
as the command line and fail with one-line messages; a forged request gets 400, never a traceback. It
writes no file: downloads are made in memory, their cells made inert for spreadsheets. Each page load
gets its own session id, so two tabs never see each other's runs.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridplan import deskinput as given
from gridplan.deskguard import LOCAL_HOSTS, desk_url, install
from gridplan.deskjobs import JOBS, Job
from gridplan.deskresults import (
    COMPARISON_HEADER,
    comparison_rows,
    comparison_table,
    frontier_figure,
    interval_note,
    job_runs,
    next_million_text,
    proposal_text,
    report_html,
)
from gridplan.desktables import (
    ACTIVE_CELL,
    COMMUNITY_COLS,
    STREET_COLS,
    check_text,
    checked,
    community_rows,
    parse,
    street_rows,
    table_csv,
)
from scenario.errors import GridplanError
from scenario.load import load_scenario
from solvers.allocator import allocate
from solvers.lpmodel import AllocationOptions
from solvers.policy import check_policy

__all__ = ["create_app", "serve", "JOBS", "LOCAL_HOSTS", "SOLVER_SLOTS"]

SOLVER_SLOTS = 2  # allocator and frontier requests computing at once; more are told to try again


def _page_job(session: object, job_id: object) -> Job | None:
    """The job a page keeps in its stores, checked (None: no job, or one dropped since).

    Raises:
        GridplanError: the page's session or job id is not one the desk gave.
    """
    job = given.job_id(job_id)
    return JOBS.get(given.session_id(session), job) if job else None


def kpi_html(table: pd.DataFrame, reps: int) -> Any:
    """The comparison as the page shows it (id ``kpi-table``; a KPI's description on hover), and the note on
    few replications under it."""
    from dash import html

    from sim.kpis import KPI_DESCRIPTIONS

    note = interval_note(reps)
    return html.Div(
        [
            html.Table(
                [html.Tr([html.Th(h) for h in COMPARISON_HEADER])]
                + [
                    html.Tr([html.Td(row[0], title=KPI_DESCRIPTIONS.get(row[0], ""))] + [html.Td(c) for c in row[1:]])
                    for row in comparison_rows(table)
                ],
                id="kpi-table",
            ),
            html.P(note, id="interval-note", style={"color": "#9a6700"}) if note else "",
        ]
    )


# ------------------------------------------------------------------ the app
def create_app(  # noqa: C901 - one callback per control
    scenario_path: str | Path, token: str | None = None, host: str = "127.0.0.1"
):
    """The Dash app for one scenario bound to ``host``. ``token``: when set, every request must carry it.

    Long because Dash registers callbacks on the app object: each control's callback is a short nested
    function decorated with ``@app.callback`` that shares this scenario, its baseline cost and the page's
    worker pool; taking them apart would pass that state through every one of them."""
    import dash
    from dash import Input, Output, State, dash_table, dcc, html

    s = load_scenario(scenario_path)
    base_cost = check_policy(s, s.baseline).costs.total_yuan
    app = dash.Dash(__name__, title=f"gridplan: {s.name}", update_title="")
    install(app.server, host, token)
    solver_slots = threading.BoundedSemaphore(SOLVER_SLOTS)
    frontier: list[dict] = []  # the frontier's figure once drawn
    busy = f"the allocator is busy with {SOLVER_SLOTS} other requests; try again in a moment"

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
                    style_data_conditional=ACTIVE_CELL,
                    columns=comm_columns,
                    data=community_rows(s, s.baseline),
                    page_size=12,
                    sort_action="native",
                    filter_action="native",
                    style_table={"overflowX": "auto"},
                ),
                dash_table.DataTable(  # type: ignore[attr-defined]
                    id="streets",
                    style_data_conditional=ACTIVE_CELL,
                    columns=street_columns,
                    data=street_rows(s, s.baseline),
                    page_size=12,
                    style_table={"overflowX": "auto"},
                ),
                html.Button("Download allocation CSV", id="download-csv"),
                dcc.Download(id="csv-file"),
                html.H2("Simulate against the baseline"),
                html.Label("replications "),
                dcc.Input(id="reps", type="number", min=2, max=given.MAX_REPS, value=3),
                html.Label(" days "),
                dcc.Input(
                    id="days",
                    type="number",
                    min=s.spec.calendar.warmup_days + 1,
                    max=given.MAX_DAYS,
                    value=min(91, s.spec.calendar.days),
                ),
                html.Button("Run short simulation", id="simulate"),
                html.Button("Cancel", id="cancel"),
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
                html.Label("total budget (M yuan a year; min-cost spends only what the need costs; below it: none)"),
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
                dcc.Graph(id="frontier-graph", style={"display": "none"}),  # shown once drawn: no empty axes
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
        try:
            ok, text, comm_marks, street_marks = checked(s, table_csv(communities, streets), base_cost)
        except GridplanError as exc:
            ok, text, comm_marks, street_marks = False, f"Not a valid allocation: {exc}", ACTIVE_CELL, ACTIVE_CELL
        return (
            html.P(text, style={"color": "#1a7f37" if ok else "#b42318", "fontWeight": "bold"}),
            comm_marks,
            street_marks,
        )

    @app.callback(
        Output("csv-file", "data"),
        Input("download-csv", "n_clicks"),
        *edited_tables,
        prevent_initial_call=True,
    )
    def _csv(_, communities, streets):  # type: ignore[no-untyped-def]
        try:
            return dict(content=table_csv(communities, streets), filename=f"{s.name}_allocation.csv")
        except GridplanError:  # the check line above the table already says what is wrong
            return dash.no_update

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
            session = given.session_id(session)
            a = parse(s, table_csv(communities, streets))
            reps, days = given.run_values(reps, days, s.spec.calendar.warmup_days, s.spec.calendar.days)
            job = JOBS.start(session, s, [("baseline", s.baseline), ("edited", a)], reps, days, s.spec.seed)
        except GridplanError as exc:
            return dash.no_update, dash.no_update, f"Cannot simulate: {exc}"
        return job, False, f"simulating 0/{2 * reps} replications"

    @app.callback(
        Output("progress", "children", allow_duplicate=True),
        Output("tick", "disabled", allow_duplicate=True),
        Input("cancel", "n_clicks"),
        State("job", "data"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    def _cancel(_, job_id, session):  # type: ignore[no-untyped-def]
        try:
            job = _page_job(session, job_id)
        except GridplanError as exc:
            return f"Cannot cancel: {exc}", True
        if job is None or job.done == len(job.futures):
            return "no simulation is running", True
        dropped = JOBS.cancel(session, job_id)
        return f"cancelled: {job.done} of {len(job.futures)} replications had run, {dropped} dropped", True

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
        try:
            job = _page_job(session, job_id)
        except GridplanError as exc:
            return str(exc), dash.no_update, dash.no_update, True, dash.no_update
        if job is None or job.cancelled:
            return dash.no_update, dash.no_update, dash.no_update, True, dash.no_update
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
        shown_table = kpi_html(table, job.reps)
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
        kept = {
            "table": table.to_json(orient="split"),
            "cards": cards_json,
            "reps": job.reps,
            "seed": job.seed,
            "days": job.days,
            "allocation": job.allocation_csv,
        }
        return done, shown_table, cards_div, True, kept

    @app.callback(
        Output("report-file", "data"),
        Input("download-report", "n_clicks"),
        State("result", "data"),
        *edited_tables,
        prevent_initial_call=True,
    )
    def _report(_, result, communities, streets):  # type: ignore[no-untyped-def]
        try:
            _, text = check_text(s, table_csv(communities, streets), base_cost)
            kept = given.stored_result(result)
            table = pd.read_json(io.StringIO(kept[0]), orient="split") if kept else None
            cards = pd.read_json(io.StringIO(kept[1]), orient="split") if kept and kept[1] else None
        except (GridplanError, ValueError):  # a forged table or result: nothing to report
            return dash.no_update
        report = report_html(s, text, table, cards, kept[2] if kept else None, kept[3] if kept else None)
        return dict(content=report, filename=f"{s.name}_what_if.html")

    @app.callback(
        Output("alloc-result", "children"),
        Output("proposal", "data"),
        Input("allocate", "n_clicks"),
        State("objective", "value"),
        State("budget", "value"),
        prevent_initial_call=True,
    )
    def _allocate(_, objective, budget):  # type: ignore[no-untyped-def]
        if not solver_slots.acquire(blocking=False):
            return html.P(f"No allocation: {busy}", style={"color": "#b42318"}), None
        try:
            objective = given.objective(objective)
            budget_yuan = given.budget_yuan(budget)  # min-cost too: a budget below the need is refused, as by the CLI
            r = allocate(s, AllocationOptions(objective=objective, total_budget_yuan=budget_yuan))  # type: ignore[arg-type]
        except GridplanError as exc:
            return html.P(f"No allocation: {exc}", style={"color": "#b42318"}), None
        finally:
            solver_slots.release()
        return html.P(proposal_text(objective, r) + "; " + next_million_text(s, r), id="alloc-text"), {
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
        try:
            kept = given.proposal(proposal)
        except GridplanError:
            kept = None
        return kept if kept else (dash.no_update, dash.no_update)

    @app.callback(
        Output("frontier-graph", "figure"),
        Output("frontier-graph", "style"),
        Input("frontier", "n_clicks"),
        prevent_initial_call=True,
    )
    def _frontier(_):  # type: ignore[no-untyped-def]
        shown = {"display": "block"}
        if frontier:  # the same for every page: drawn once
            return frontier[0], shown
        if not solver_slots.acquire(blocking=False):
            return {"data": [], "layout": {"title": {"text": busy}}}, shown
        try:
            frontier[:] = [frontier_figure(s, np.linspace(b_lo, b_hi, 7))]
        finally:
            solver_slots.release()
        return frontier[0], shown

    return app


def serve(scenario_path: str | Path, host: str, port: int, token: str | None) -> int:
    """Serve the desk until stopped; the workers end with it at once (running replications are killed, not
    awaited). A stop (Ctrl-C, SIGTERM) reaches the caller as the exception it raised; the web server's own
    loop swallows it, so the command line reports it from the signal it saw."""
    app = create_app(scenario_path, token=token, host=host)
    print(f"planner's desk for {scenario_path}: open {desk_url(host, port, token)} (Ctrl-C stops it)", flush=True)
    try:
        app.run(host=host, port=port, debug=False)
    finally:
        JOBS.shutdown()
    return 0

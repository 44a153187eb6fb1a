"""The planner's desk: ``gridplan serve SCENARIO``, a local web page for "what if" questions.

Built on Dash (Flask underneath: plain HTTP requests that the framework's test client and a real
browser can both drive; editable tables and charts without writing JavaScript). The page shows the
scenario and its baseline, lets a planner edit the allocation as a table with the policy check
updating as they type, runs short simulations against the baseline on the same complaints (in worker
processes, with progress; the page stays responsive), calls the allocator (objective, budget slider),
draws the budget frontier, shows the scorecards, and offers the allocation CSV and a report.

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

import html as html_escape
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
from gridplan.spreadsheet import inert_cell
from scenario.allocation import Allocation
from scenario.errors import GridplanError
from scenario.load import Scenario, load_scenario
from sim.replications import Replications, RepOutput
from solvers.allocator import allocate
from solvers.lpmodel import AllocationOptions
from solvers.policy import check_policy

__all__ = ["create_app", "check_text", "table_csv", "serve", "JOBS", "LOCAL_HOSTS", "SOLVER_SLOTS"]

SOLVER_SLOTS = 2  # allocator and frontier requests computing at once; more are told to try again
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


def _rows(value: object, name: str) -> list[dict]:
    """A table as the page sends it: a list of rows, each a mapping (a forged request may send anything).

    Raises:
        GridplanError: naming the table and what was found instead.
    """
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise GridplanError(f"the {name} table must be a list of rows, found {type(value).__name__}")
    return value


def table_csv(communities: list[dict], streets: list[dict]) -> str:
    """The two edited tables as one allocation CSV (the format every command reads), its cells inert for a
    spreadsheet.

    Raises:
        GridplanError: a table that is not a list of rows.
    """
    rows = [["level", "id", *COMMUNITY_COLS, *STREET_COLS]]
    for r in _rows(communities, "communities"):
        rows.append(["community", _cell(r.get("community")), *(_cell(r.get(c)) for c in COMMUNITY_COLS), "", ""])
    for r in _rows(streets, "streets"):
        rows.append(["street", _cell(r.get("street")), "", "", "", "", *(_cell(r.get(c)) for c in STREET_COLS)])
    buf = io.StringIO()
    import csv

    csv.writer(buf, lineterminator="\n").writerows([[inert_cell(c) for c in row] for row in rows])
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


def check_text(s: Scenario, text: str, base: float | None = None) -> tuple[bool, str]:
    """(passes, a short summary) of the policy check of an edited table; an invalid edit explains itself.
    ``base``: the baseline's cost, when the caller knows it."""
    try:
        a = parse(s, text)
    except GridplanError as exc:
        return False, f"Not a valid allocation: {exc}"
    rep = check_policy(s, a)
    failing = rep.rows[~rep.rows.passed]
    base = check_policy(s, s.baseline).costs.total_yuan if base is None else base
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


# ------------------------------------------------------------------ results of a job
def _page_job(session: object, job_id: object) -> Job | None:
    """The job a page keeps in its stores, checked (None: no job, or one dropped since).

    Raises:
        GridplanError: the page's session or job id is not one the desk gave.
    """
    job = given.job_id(job_id)
    return JOBS.get(given.session_id(session), job) if job else None


def job_runs(job: Job) -> list[Replications]:
    """The finished job's replications per allocation, exactly as ``run_replications`` would give them."""
    outs: list[RepOutput] = [f.result() for f in job.futures]
    return [Replications(outs[i * job.reps : (i + 1) * job.reps], job.seed, job.days) for i in range(len(job.labels))]


def comparison_table(runs: list[Replications], labels: list[str]) -> pd.DataFrame:
    """Each KPI under each allocation and the paired difference from the first with its 95% interval."""
    from sim.replications import confidence_interval

    rows = []
    for k in KPIS:
        base = runs[0].per_rep[k].to_numpy()
        row: dict[str, Any] = {"kpi": k}
        for label, run in zip(labels, runs):
            row[label] = float(np.nanmean(run.per_rep[k].to_numpy()))
        d, lo, hi = confidence_interval(runs[-1].per_rep[k].to_numpy() - base)
        if any(w in k for w in ("share", "coverage", "utilisation")):  # a difference of shares lies in [-1, 1]
            lo, hi = max(lo, -1.0), min(hi, 1.0)
        row["difference"], row["ci95_low"], row["ci95_high"] = d, lo, hi
        row["significant"] = bool(not np.isnan(lo) and (lo > 0 or hi < 0))
        rows.append(row)
    return pd.DataFrame(rows)


def shown(kpi: str, v: float) -> str:
    """A KPI value as a planner reads it."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if any(w in kpi for w in ("share", "coverage", "utilisation")):
        return f"{v:.2%}"
    return f"{v:,.1f}"


def kpi_html(table: pd.DataFrame) -> Any:
    """The comparison table as the page shows it (id ``kpi-table``)."""
    from dash import html

    return html.Table(
        [html.Tr([html.Th(h) for h in ("KPI", "baseline", "edited", "difference [95% CI]")])]
        + [
            html.Tr(
                [
                    html.Td(r.kpi),
                    html.Td(shown(r.kpi, r.baseline)),
                    html.Td(shown(r.kpi, r.edited)),
                    html.Td(
                        f"{shown(r.kpi, r.difference)} [{shown(r.kpi, r.ci95_low)}, "
                        f"{shown(r.kpi, r.ci95_high)}]" + (" significant" if r.significant else "")
                    ),
                ]
            )
            for r in table.itertuples()
        ],
        id="kpi-table",
    )


def report_html(s: Scenario, check: str, table: pd.DataFrame | None, cards: pd.DataFrame | None) -> str:
    """A self-contained what-if report of the page's last results."""
    parts = [f"<h1>gridplan what-if: {html_escape.escape(s.name)}</h1>", f"<p>{html_escape.escape(check)}</p>"]
    if table is not None:
        parts.append("<h2>Simulated against the baseline (same complaints)</h2>" + table.to_html(index=False))
    if cards is not None:
        parts.append("<h2>Scorecards (communities)</h2>" + cards.to_html(index=False))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>gridplan what-if</title></head><body>"
        + "".join(parts)
        + "</body></html>"
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
                dcc.Graph(id="frontier-graph"),
            ],
            style={"maxWidth": "1200px", "margin": "1em auto", "fontFamily": "system-ui, sans-serif"},
        )

    app.layout = layout

    edited_tables = (State("communities", "data"), State("streets", "data"))  # the allocation being edited

    @app.callback(Output("check", "children"), Input("communities", "data"), Input("streets", "data"))
    def _check(communities, streets):  # type: ignore[no-untyped-def]
        try:
            ok, text = check_text(s, table_csv(communities, streets), base_cost)
        except GridplanError as exc:
            ok, text = False, f"Not a valid allocation: {exc}"
        return html.P(text, style={"color": "#1a7f37" if ok else "#b42318", "fontWeight": "bold"})

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
        shown_table = kpi_html(table)
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
        try:
            _, text = check_text(s, table_csv(communities, streets), base_cost)
            kept = given.stored_result(result)
            table = pd.read_json(io.StringIO(kept[0]), orient="split") if kept else None
            cards = pd.read_json(io.StringIO(kept[1]), orient="split") if kept and kept[1] else None
        except (GridplanError, ValueError):  # a forged table or result: nothing to report
            return dash.no_update
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
        if not solver_slots.acquire(blocking=False):
            return html.P(f"No allocation: {busy}", style={"color": "#b42318"}), None
        try:
            objective = given.objective(objective)
            budget_yuan = None if objective == "min-cost" else given.budget_yuan(budget)
            r = allocate(s, AllocationOptions(objective=objective, total_budget_yuan=budget_yuan))  # type: ignore[arg-type]
        except GridplanError as exc:
            return html.P(f"No allocation: {exc}", style={"color": "#b42318"}), None
        finally:
            solver_slots.release()
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
        try:
            kept = given.proposal(proposal)
        except GridplanError:
            kept = None
        return kept if kept else (dash.no_update, dash.no_update)

    @app.callback(Output("frontier-graph", "figure"), Input("frontier", "n_clicks"), prevent_initial_call=True)
    def _frontier(_):  # type: ignore[no-untyped-def]
        if frontier:  # the same for every page: drawn once
            return frontier[0]
        budgets = np.linspace(b_lo, b_hi, 7)
        if not solver_slots.acquire(blocking=False):
            return {"data": [], "layout": {"title": {"text": busy}}}
        cov = []
        try:
            for b in budgets:
                try:
                    r = allocate(s, AllocationOptions(objective="max-service", total_budget_yuan=float(b) * 1e6))
                    cov.append(r.expected_duty_coverage)
                except GridplanError:
                    cov.append(None)
        finally:
            solver_slots.release()
        frontier[:] = [
            {
                "data": [{"x": list(budgets), "y": cov, "mode": "lines+markers", "name": "duty coverage"}],
                "layout": {
                    "xaxis": {"title": "total budget (M yuan a year)"},
                    "yaxis": {"title": "predicted duty coverage", "tickformat": ".0%"},
                },
            }
        ]
        return frontier[0]

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

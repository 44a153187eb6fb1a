"""The planner's desk (gridplan serve): tables, validation, safety, sessions, and a real browser."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from gridplan.cli import main
from gridplan.desk import JOBS, create_app
from gridplan.desktables import check_text, community_rows, parse, street_rows, table_csv
from tests.conftest import ROOT, SCENARIOS

SCREENSHOT = ROOT / "docs" / "serve.png"


def _tables(s, a=None):
    a = a or s.baseline
    return community_rows(s, a), street_rows(s, a)


def test_tables_round_trip_to_the_allocation(tiny):
    a = parse(tiny, table_csv(*_tables(tiny)))
    for f in (
        "workers",
        "secretary_assistants",
        "work_fund_yuan",
        "service_fund_yuan",
        "street_office_staff",
        "mobile_grid_workers",
    ):
        assert np.array_equal(getattr(a, f), getattr(tiny.baseline, f)), f


def test_check_updates_and_bad_cells_are_one_line(tiny):
    comm, streets = _tables(tiny)
    assert check_text(tiny, table_csv(comm, streets))[0]
    comm[0]["workers"] = 2  # A needs 9 (18 per 10,000 of 5,000)
    ok, text = check_text(tiny, table_csv(comm, streets))
    assert not ok and text.startswith("FAIL") and "workers_per_10k at A" in text
    comm[0]["workers"] = "nine"
    ok, text = check_text(tiny, table_csv(comm, streets))
    assert not ok and "Not a valid allocation" in text and "column workers" in text and "\n" not in text


def test_shares_differ_in_points_and_none_is_a_dash():
    """The desk's paired differences of shares are percentage points, as in the report and on the console
    (-35.17% read as a relative change), and a KPI with no value (nobody at a desk) is "–", not nan%."""
    import pandas as pd

    from gridplan.deskresults import comparison_rows, shown

    table = pd.DataFrame(
        [
            ("on_time_share", 0.99, 0.6383, -0.3517, -1.0, 0.9783, False),
            ("overdue_cases", 3.0, 12.0, 9.0, -3.7, 21.7, False),
            ("utilisation_desk", float("nan"), 0.3, float("nan"), float("nan"), float("nan"), False),
        ],
        columns=["kpi", "baseline", "edited", "difference", "ci95_low", "ci95_high", "significant"],
    )
    rows = comparison_rows(table)
    assert rows[0] == ("on_time_share", "99.00%", "63.83%", "-35.17 pt [-100.00 pt, +97.83 pt]")
    assert rows[1][3] == "+9.0 [-3.7, +21.7]"
    assert rows[2][1] == "–" and "nan" not in " ".join(rows[2])
    assert shown("utilisation_desk", float("nan")) == "–"


def test_the_failing_cell_is_marked_and_the_selected_cell_is_not_red(tiny):
    """The check names 'workers_per_10k at A': that cell is marked (by its community id, so sorting keeps it),
    and the table's selected-cell style is neutral, so that red means failing."""
    from gridplan.desktables import ACTIVE_CELL, FAILING_CELL, failing_cells

    comm, streets = _tables(tiny)
    comm[0]["workers"] = 2
    streets[0]["street_office_staff"] = 3
    marks_c, marks_s = failing_cells(tiny, table_csv(comm, streets))
    failing = [m for m in marks_c if "filter_query" in m["if"]]
    assert failing == [{"if": {"filter_query": '{community} = "A"', "column_id": "workers"}} | FAILING_CELL]
    assert [m["if"] for m in marks_s if "filter_query" in m["if"]] == [
        {"filter_query": '{street} = "S1"', "column_id": "street_office_staff"}
    ]
    for style in ACTIVE_CELL:
        assert style["backgroundColor"] != FAILING_CELL["backgroundColor"]
    assert failing_cells(tiny, table_csv(*_tables(tiny))) == (ACTIVE_CELL, ACTIVE_CELL)


def test_an_edited_cell_error_names_the_row_the_page_shows(tiny):
    """The desk has no CSV lines and no id column: an error names the row by its level and id."""
    from gridplan.desktables import check_text

    comm, streets = _tables(tiny)
    streets[0]["mobile_grid_workers"] = -1
    text = check_text(tiny, table_csv(comm, streets))[1]
    assert "edited allocation, street 'S1', column mobile_grid_workers: must be >= 0, found -1" in text, text
    comm, streets = _tables(tiny)
    comm[0]["community"] = "ZZ"
    text = check_text(tiny, table_csv(comm, streets))[1]
    assert "community 'ZZ', column community: unknown community 'ZZ'" in text and "line" not in text, text


def test_the_check_line_writes_yuan_and_people_as_the_command_line_does(tiny):
    """A failing budget reads in yuan with separators, not 4.078e+06; a floor says which way it binds."""
    from gridplan.desktables import check_text

    comm, streets = _tables(tiny)
    comm[0]["workers"] = 40
    ok, text = check_text(tiny, table_csv(comm, streets))
    assert not ok and "budget_district at D1 (4,078,000 yuan against at most 2,400,000)" in text, text
    comm[0]["workers"] = 2
    assert "workers_per_10k at A (2 against at least 9)" in check_text(tiny, table_csv(comm, streets))[1]


def test_a_street_rule_on_workers_marks_its_communities(tiny_copy):
    """A street-scope workers rule has no cell of its own (the street table has no workers): the workers of
    that street's communities are marked, and nothing in the street table."""
    from gridplan.desktables import FAILING_CELL, failing_cells
    from scenario.load import load_scenario
    from solvers.policy import check_policy
    from tests.conftest import edit

    edit(
        tiny_copy / "scenario.yaml",
        "    street_office_staff:  {",
        "    street_workers:       {kind: workers_per_10k_residents, minimum: 30, scope: street}\n"
        "    street_office_staff:  {",
    )
    s = load_scenario(tiny_copy)
    rows = check_policy(s, s.baseline).rows
    streets = list(rows[(rows.rule == "street_workers") & ~rows.passed].unit)
    assert streets  # tiny has about 18 workers per 10,000
    marks_c, marks_s = failing_cells(s, table_csv(*_tables(s)))
    assert [m for m in marks_c if "filter_query" in m["if"]] == [
        {"if": {"filter_query": f'{{street}} = "{x}"', "column_id": "workers"}} | FAILING_CELL for x in streets
    ]
    assert not [m for m in marks_s if "filter_query" in m["if"]]


def test_the_frontier_has_no_empty_axes_and_few_replications_say_so(tiny):
    """The frontier's graph is hidden until drawn (its empty axes stood on the page); with 2 or 3 replications
    a note says the intervals are uninformative (t = 12.7 at 2)."""
    from gridplan.deskresults import frontier_figure, interval_note

    app = create_app(SCENARIOS / "tiny")
    layout = app.layout()
    graph = next(c for c in _walk(layout) if getattr(c, "id", None) == "frontier-graph")
    assert graph.style == {"display": "none"}
    fig = frontier_figure(tiny, np.array([2.6, 2.8, 3.0]))
    assert len(fig["data"][0]["y"]) == 3 and fig["data"][0]["y"][-1] is not None
    assert "12.7 standard errors" in interval_note(2) and "5 or more" in interval_note(3)
    assert interval_note(5) == ""


def test_the_comparison_leads_with_the_three_rates(tiny):
    """Issue 19: the desk's comparison leads with resolution, satisfaction and response, then what moves them
    (found late, unfunded, the fund's use), then lateness, duties and utilisation; each value is the mean of
    its replications, and the what-if report has the same rows and the note on few replications."""
    from gridplan.deskresults import KPIS, comparison_rows, comparison_table, report_html
    from sim.replications import run_replications

    assert KPIS[:3] == ["resolution_share", "satisfaction_share", "response_share"]
    moved = ["found_late_share", "unfunded_share", "fund_spent_share", "fund_exhausted_communities"]
    assert set(moved) < set(KPIS) and max(map(KPIS.index, moved)) < KPIS.index("on_time_share")
    assert KPIS.index("on_time_share") < KPIS.index("duty_coverage") < KPIS.index("utilisation_grid")
    cut = tiny.baseline.service_fund_yuan * 0.1
    edited = tiny.baseline.replace(service_fund_yuan=cut)
    runs = [run_replications(tiny, a, 2, days=30, processes=1) for a in (tiny.baseline, edited)]
    table = comparison_table(runs, ["baseline", "edited"])
    assert list(table.kpi) == KPIS
    for label, run in zip(("baseline", "edited"), runs):
        means = run.per_rep[KPIS].mean()
        assert np.allclose(table.set_index("kpi")[label], means, equal_nan=True), label
    rows = {r[0]: r for r in comparison_rows(table)}
    assert rows["resolution_share"][1] == f"{runs[0].per_rep.resolution_share.mean():.2%}"
    assert rows["resolution_share"][3].split(" [")[0].endswith(" pt")
    assert "%" not in rows["fund_exhausted_communities"][1] and "pt" not in rows["repeat_complaints"][3]
    report = report_html(tiny, "PASS", table, None, reps=2)
    for kpi, base, new, diff in rows.values():
        assert f"<td>{kpi}</td>\n      <td>{base}</td>\n      <td>{new}</td>\n      <td>{diff}</td>" in report
    assert "12.7 standard errors" in report and report.count("<tr>") == len(KPIS)


def test_the_frontier_plots_resolution_and_says_why_a_budget_has_none(tiny):
    """Issue 19: the frontier plots the predicted resolution share and duty coverage; max-service floors duty
    coverage at its 95% target, so 2.6 M yuan (below the 2.67 M the floors need) has no allocation: a gap in
    both lines, a cross whose hover says why, and a note in the title."""
    from gridplan.deskresults import frontier_figure
    from solvers.allocator import allocate
    from solvers.lpmodel import AllocationOptions

    fig = frontier_figure(tiny, np.array([2.6, 2.8, 3.0]))
    res, cov, none = fig["data"]
    assert res["name"] == "predicted resolution share" and cov["name"] == "predicted duty coverage"
    r = allocate(tiny, AllocationOptions(objective="max-service", total_budget_yuan=2.8e6))
    assert res["y"][0] is None and res["y"][1] == pytest.approx(r.expected_resolution_share)
    assert cov["y"][0] is None and cov["y"][1] == pytest.approx(r.expected_duty_coverage)
    assert none["x"] == [2.6] and "95% duty-coverage target" in none["hovertext"][0].replace("<br>", " ")
    assert "&lt; 2.67 M yuan" in none["hovertext"][0]  # '<' is not read as markup
    assert "No allocation at 1 of 3 budgets" in fig["layout"]["title"]["text"]
    assert "at least at its 95% target" in fig["layout"]["title"]["text"].replace("<br>", " ")
    assert len(frontier_figure(tiny, np.array([3.0]))["data"]) == 2  # no cross where every budget has one


def test_the_proposal_states_predicted_resolution_and_satisfaction(desk, tiny):
    """Issue 19: the allocator's proposal on the page says what the outcome curves predict."""
    from solvers.allocator import allocate
    from solvers.lpmodel import AllocationOptions

    client, jobs, pool = desk
    r = allocate(tiny, AllocationOptions(objective="min-cost"))
    text = str(_post(client, "allocate.n_clicks", _page_state(tiny)).get_json())
    assert f"predicted resolution {r.expected_resolution_share:.2%}" in text
    assert f"satisfaction {r.expected_satisfaction_share:.2%}" in text
    # issue 22: where the next million would go under the proposal (solvers.marginal)
    from solvers.marginal import next_million

    first = next_million(tiny, r.curves, r.allocation).iloc[0]
    assert f"the next million buys most in {first.community} (as {first.best}:" in text
    # a budget below what min-cost needs is refused, as `gridplan allocate --budget-yuan` refuses it
    low = str(_post(client, "allocate.n_clicks", _page_state(tiny, **{"budget.value": 2.18})).get_json())
    assert "No allocation" in low and "total budget 2.18 M yuan" in low, low


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        if hasattr(child, "children") or hasattr(child, "id"):
            yield from _walk(child)


def test_token_is_required_when_set():
    app = create_app(SCENARIOS / "tiny", token="s3cret")
    client = app.server.test_client()
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    assert client.get("/?token=s3cret").status_code == 200
    assert client.get("/_dash-layout").status_code == 200  # the cookie set above carries it
    open_app = create_app(SCENARIOS / "tiny").server.test_client()
    assert open_app.get("/").status_code == 200


def test_serve_refuses_a_public_address_without_a_token(capsys):
    assert main(["serve", str(SCENARIOS / "tiny"), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--token" in err and err.count("\n") == 1


def test_serve_without_dash_says_what_to_install(capsys, monkeypatch):
    """Without the [serve] extra: one line naming the extra, exit 2, no traceback."""
    monkeypatch.setitem(sys.modules, "dash", None)  # ``import dash`` now fails as if it were not installed
    assert main(["serve", str(SCENARIOS / "tiny")]) == 2
    err = capsys.readouterr().err
    assert "[serve]" in err and "Traceback" not in err and err.count("\n") == 1


def test_two_sessions_do_not_see_each_others_runs(tiny):
    job = JOBS.start("tab-one", tiny, [("baseline", tiny.baseline)], 2, 20, 1)
    assert JOBS.get("tab-one", job) is not None
    assert JOBS.get("tab-two", job) is None
    for f in JOBS.get("tab-one", job).futures:
        f.result(timeout=60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_desk_in_a_real_browser(tmp_path):
    """Load the page in headless Chromium, edit one cell, see the check change, run a short simulation and
    read a result on the page; save a screenshot (docs/serve.png with GRIDPLAN_UPDATE_SCREENSHOT=1)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium installed: the desk's browser test needs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gridplan.cli", "--quiet", "serve", str(SCENARIOS / "tiny"), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.txt", "w"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#check >> text=PASS", timeout=60_000)
            cell = page.locator('#communities td[data-dash-column="workers"]').first
            cell.click()
            page.keyboard.type("2")
            page.keyboard.press("Enter")
            page.wait_for_selector("#check >> text=FAIL", timeout=30_000)
            assert "workers_per_10k at A" in page.inner_text("#check")
            page.fill("#reps", "2")
            page.fill("#days", "30")
            page.click("#simulate")
            page.wait_for_selector("#progress >> text=done", timeout=180_000)
            table = page.inner_text("#kpi-table")
            assert "on_time_share" in table and "duty_coverage" in table and "%" in table
            assert table.split("\n")[1].startswith("resolution_share") and " pt" in table
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot), full_page=False)
            browser.close()
        assert shot.stat().st_size > 10_000
        if os.environ.get("GRIDPLAN_UPDATE_SCREENSHOT") == "1":
            shutil.copy(shot, SCREENSHOT)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


# ------------------------------------------------------------------ issue 20: the desk under attack
def _outputs(output: str) -> list[dict]:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [{"id": p.split(".", 1)[0], "property": p.split(".", 1)[1].split("@")[0]} for p in parts]


def _post(client, trigger: str, state: dict | None = None, value=1, headers=None):
    """Post the callback that ``trigger`` (id.property) fires, as the page would, with ``state`` values."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if f"{d['inputs'][0]['id']}.{d['inputs'][0]['property']}" == trigger)
    state = state or {}
    body = {
        "output": dep["output"],
        "outputs": _outputs(dep["output"]) if dep["output"].startswith("..") else _outputs(dep["output"])[0],
        "inputs": [{"id": i["id"], "property": i["property"], "value": value} for i in dep["inputs"]],
        "changedPropIds": [trigger],
        "state": [
            {"id": x["id"], "property": x["property"], "value": state.get(f"{x['id']}.{x['property']}")}
            for x in dep["state"]
        ],
    }
    return client.post("/_dash-update-component", json=body, headers=headers or {})


def _page_state(s, **changes):
    comm, streets = _tables(s)
    state = {
        "communities.data": comm,
        "streets.data": streets,
        "reps.value": 2,
        "days.value": 20,
        "session.data": "tab",
        "objective.value": "min-cost",
        "budget.value": 3.0,
    }
    state.update(changes)
    return state


class _NeverDone:
    """An executor whose tasks stay queued until the test finishes them (no process is started)."""

    def __init__(self) -> None:
        from concurrent.futures import Future

        self.futures: list[Future] = []
        self.calls: list[tuple] = []  # (function, *arguments) of each task, for a test to run itself
        self._Future = Future

    def submit(self, *args, **kwargs):
        f = self._Future()
        self.futures.append(f)
        self.calls.append(args)
        return f

    def shutdown(self, wait=True, cancel_futures=False) -> None:
        pass


@pytest.fixture
def desk(monkeypatch):
    """A desk app on tiny whose simulations never run (a registry with small limits and a fake pool)."""
    import gridplan.desk
    from gridplan.deskjobs import JobRegistry

    pool = _NeverDone()
    jobs = JobRegistry(lambda: pool, max_per_session=2, max_queued=120, keep_s=600)
    monkeypatch.setattr(gridplan.desk, "JOBS", jobs)
    app = create_app(SCENARIOS / "tiny")
    return app.server.test_client(), jobs, pool


FORGED = [
    ("simulate.n_clicks", {"reps.value": float("inf")}, "replications must be a whole number, found inf"),
    ("simulate.n_clicks", {"reps.value": "abc"}, "replications must be a whole number, found 'abc'"),
    ("simulate.n_clicks", {"reps.value": 1e300}, "replications must be <= 20"),
    ("simulate.n_clicks", {"days.value": [1]}, "days must be a whole number"),
    ("simulate.n_clicks", {"days.value": 5000}, "days must be <= 366"),
    ("simulate.n_clicks", {"communities.data": "a string"}, "communities table must be a list of rows, found str"),
    ("simulate.n_clicks", {"streets.data": [1, 2]}, "streets table must be a list of rows"),
    ("simulate.n_clicks", {"session.data": {"x": 1}}, "session is not valid"),
    ("allocate.n_clicks", {"objective.value": "bogus"}, "objective must be one of min-cost"),
    ("allocate.n_clicks", {"objective.value": "equity", "budget.value": "abc"}, "budget must be a finite number"),
    ("allocate.n_clicks", {"objective.value": "equity", "budget.value": None}, "budget must be a finite number"),
    ("allocate.n_clicks", {"objective.value": "equity", "budget.value": float("inf")}, "M yuan, found inf"),
    ("allocate.n_clicks", {"objective.value": "equity", "budget.value": float("nan")}, "M yuan, found nan"),
    ("allocate.n_clicks", {"objective.value": "rebalance", "budget.value": 1e300}, "must be in [0, 10,000,000,"),
    ("allocate.n_clicks", {"objective.value": "equity", "budget.value": True}, "budget must be a finite number"),
    ("tick.n_intervals", {"job.data": [1, 2]}, "simulation is not valid"),
    ("cancel.n_clicks", {"job.data": {"a": 1}}, "simulation is not valid"),
]


@pytest.mark.parametrize("trigger,changes,words", FORGED, ids=[f"{t} {c}" for t, c, _ in FORGED])
def test_a_forged_callback_gets_a_message_not_a_traceback(desk, tiny, trigger, changes, words):
    """Issue 20: 12 forged payloads gave 500 with a traceback and a budget of 1e300 passed the 10^13 bound."""
    client, jobs, pool = desk
    r = _post(client, trigger, _page_state(tiny, **changes))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert words in str(r.get_json())
    assert not pool.futures  # nothing was queued


def test_forged_stores_and_bodies_are_refused_cleanly(desk, tiny):
    """Stores the page keeps (the proposal, the last result) and bodies that are not callbacks: no update, a
    download that is not made, or 400; never 500."""
    client, jobs, pool = desk
    for trigger, changes in (
        ("use.n_clicks", {"proposal.data": "x"}),
        ("use.n_clicks", {"proposal.data": {"communities": 5, "streets": []}}),
        ("download-report.n_clicks", {"result.data": {"table": 5}}),
        ("download-report.n_clicks", {"result.data": {"table": "not json"}}),
        ("download-report.n_clicks", {"result.data": {"table": "{}", "reps": "two"}}),
        ("download-report.n_clicks", {"result.data": {"table": "{}", "reps": 10**9}}),
        ("download-report.n_clicks", {"result.data": {"table": "{}", "seed": -1, "days": 20, "allocation": ""}}),
        ("download-report.n_clicks", {"result.data": {"table": "{}", "seed": 1, "days": 20, "allocation": 5}}),
        ("download-csv.n_clicks", {"communities.data": 7}),
    ):
        r = _post(client, trigger, _page_state(tiny, **changes))
        assert r.status_code in (200, 204), (trigger, changes, r.status_code)
        assert "Traceback" not in r.get_data(as_text=True)
    r = _post(client, "communities.data", _page_state(tiny), value="a string")
    assert r.status_code == 200 and "Not a valid allocation" in str(r.get_json())
    frontier = b'{"output": "..frontier-graph.figure...frontier-graph.style..", "inputs": "x"}'
    for body in (b"{not json", b'{"output": 5}', b'{"output": "nothing.here", "inputs": 3}', frontier):
        r = client.post("/_dash-update-component", data=body, content_type="application/json")
        assert 400 <= r.status_code < 500, (body, r.status_code)
        assert "Traceback" not in r.get_data(as_text=True)


def test_the_queue_is_bounded_per_page_and_in_all(tiny):
    """At most 2 unfinished simulations a page and 120 replications in all; beyond, a message says which limit."""
    from gridplan.deskjobs import DeskBusy, JobRegistry

    pool = _NeverDone()
    jobs = JobRegistry(lambda: pool, max_per_session=2, max_queued=120, keep_s=600)
    both = [("baseline", tiny.baseline), ("edited", tiny.baseline)]
    first = jobs.start("tab", tiny, both, 20, 30, 1)
    jobs.start("tab", tiny, both, 20, 30, 1)
    with pytest.raises(DeskBusy, match="this page already has 2 simulations running"):
        jobs.start("tab", tiny, both, 2, 30, 1)
    jobs.start("other", tiny, both, 20, 30, 1)
    with pytest.raises(DeskBusy, match="120 replications are queued or running and this run adds 4"):
        jobs.start("third", tiny, both, 2, 30, 1)
    assert len(pool.futures) == 120
    assert jobs.cancel("someone else", first) == 0  # only the page that started it may cancel it
    assert jobs.cancel("tab", first) == 40 and all(f.cancelled() for f in pool.futures[:40])
    jobs.start("third", tiny, both, 2, 30, 1)  # room again


def test_finished_jobs_are_dropped_after_a_while(tiny):
    from gridplan.deskjobs import JobRegistry

    pool = _NeverDone()
    jobs = JobRegistry(lambda: pool, keep_s=0.2)
    job = jobs.start("tab", tiny, [("baseline", tiny.baseline)], 2, 30, 1)
    for f in pool.futures:
        f.set_result(None)
    assert jobs.get("tab", job) is not None  # its page can still read it
    time.sleep(0.3)
    assert jobs.get("tab", job) is None and not jobs.jobs


def test_two_hundred_posts_fill_the_queue_and_are_told_so(desk, tiny):
    """Issue 20: 200 posts of 20 x 366 days were all accepted; now the queue takes 120 replications (three jobs
    of 2 x 20) and every other post is told the desk is busy, at once."""
    client, jobs, pool = desk
    t0 = time.monotonic()
    said = [
        _post(client, "simulate.n_clicks", _page_state(tiny, **{"session.data": f"tab{i}", "reps.value": 20}))
        for i in range(200)
    ]
    assert all(r.status_code == 200 for r in said)
    assert len(pool.futures) == 120
    assert sum("the desk is busy" in str(r.get_json()) for r in said) == 197
    assert time.monotonic() - t0 < 60
    r = _post(client, "cancel.n_clicks", {"session.data": "tab0", "job.data": next(iter(jobs.jobs))})
    assert r.status_code == 200


def test_allocator_requests_are_bounded(desk, tiny, monkeypatch):
    """At most SOLVER_SLOTS allocator requests compute at once; the others are told to try again (40
    concurrent frontier requests took 1 GB)."""
    import threading

    import gridplan.desk
    from gridplan.desk import SOLVER_SLOTS

    client, jobs, pool = desk
    running, most, gate = [0], [0], threading.Event()
    real = gridplan.desk.allocate

    def slow_allocate(*args, **kwargs):
        running[0] += 1
        most[0] = max(most[0], running[0])
        gate.wait(10)
        running[0] -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(gridplan.desk, "allocate", slow_allocate)
    answers: list[str] = []

    def ask() -> None:
        answers.append(str(_post(app_client(), "allocate.n_clicks", _page_state(tiny)).get_json()))

    def app_client():
        return client.application.test_client()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    gate.set()
    for t in threads:
        t.join(30)
    assert most[0] <= SOLVER_SLOTS
    assert sum("busy" in a for a in answers) >= 8 - SOLVER_SLOTS and any("workers" in a for a in answers)


def test_a_finished_simulation_shows_the_rates_and_the_note_on_few_replications(desk, tiny):
    """The page's comparison of a finished run leads with the resolution rate, shows differences of shares in
    points, and says that 2 replications make the intervals uninformative; the stored result keeps its
    replications for the report."""
    client, jobs, pool = desk
    assert _post(client, "simulate.n_clicks", _page_state(tiny)).status_code == 200
    for f, (task, *args) in zip(pool.futures, pool.calls):
        f.set_result(task(*args))
    r = _post(client, "tick.n_intervals", {"session.data": "tab", "job.data": next(iter(jobs.jobs))})
    answer = r.get_json()["response"]
    shown = str(answer["sim-result"])
    assert shown.index("resolution_share") < shown.index("satisfaction_share") < shown.index("on_time_share")
    assert " pt [" in shown and "interval-note" in shown and "12.7 standard errors" in shown
    assert answer["result"]["data"]["reps"] == 2
    # the downloaded report says how to make the same numbers again: the seed, the days, the allocation
    kept = answer["result"]["data"]
    assert kept["seed"] == tiny.spec.seed and kept["days"] == 20 and kept["allocation"].startswith("level,id,")
    state = _page_state(tiny) | {"result.data": kept}
    report = _post(client, "download-report.n_clicks", state).get_json()["response"]["report-file"]["data"]
    text = report["content"]
    assert f"seed {tiny.spec.seed}" in text and "20 simulated days" in text and "--reps 2 --days 20" in text
    assert tiny.sha256 in text and "community,A," in text


def test_request_size_is_limited(desk):
    from gridplan.deskguard import MAX_REQUEST_BYTES

    client, jobs, pool = desk
    r = client.post("/_dash-update-component", data=b"x" * (MAX_REQUEST_BYTES + 1), content_type="application/json")
    assert r.status_code == 413


@pytest.mark.parametrize(
    "headers,status",
    [
        ({"Host": "evil.example"}, 403),
        ({"Host": "evil.example:8050"}, 403),
        ({"Host": "127.0.0.1.evil.example"}, 403),
        ({"Host": "localhost:8050"}, 200),
        ({"Host": "127.0.0.1:8050"}, 200),
        ({"Host": "[::1]:8050"}, 200),
        ({"Host": "localhost", "Origin": "http://evil.example"}, 403),
        ({"Host": "localhost", "Origin": "null"}, 403),
        ({"Host": "localhost:8050", "Origin": "http://localhost:8050"}, 200),
    ],
)
def test_dns_rebinding_is_refused(desk, headers, status):
    """A page of another site cannot read or drive the desk under its own host name (issue 20: Host
    evil.example returned every community's data)."""
    client, jobs, pool = desk
    r = client.get("/_dash-layout", headers=headers)
    assert r.status_code == status
    if status == 403:
        assert b'"community"' not in r.data and b"residents" not in r.data


def test_a_foreign_origin_cannot_start_work(desk, tiny):
    client, jobs, pool = desk
    r = _post(client, "simulate.n_clicks", _page_state(tiny), headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and not pool.futures
    r = _post(client, "simulate.n_clicks", _page_state(tiny), headers={"Origin": "http://localhost"})
    assert r.status_code == 200 and len(pool.futures) == 4


def test_tokens_of_any_characters_work_and_bad_ones_are_refused(capsys, monkeypatch, tmp_path):
    """Non-ASCII tokens work (issue 20: every request failed with 500), a non-ASCII guess is 403 (it was a
    TypeError), the printed URL percent-encodes the token, and a blank or short token is one line, exit 2."""
    import urllib.parse

    from gridplan.deskguard import desk_url, resolve_token

    for token in ("пароль-секрет", "a+b#c&d=e f"):
        app = create_app(SCENARIOS / "tiny", token=token)
        client = app.server.test_client()
        url = urllib.parse.urlsplit(desk_url("127.0.0.1", 8050, token))
        assert client.get(f"/?{url.query}").status_code == 200
        assert token not in client.get_cookie("gridplan_token").value  # the cookie holds an HMAC, not the token
        assert client.get("/_dash-layout").status_code == 200
        fresh = app.server.test_client()
        assert fresh.get("/?token=%C3%A9").status_code == 403
        assert fresh.get("/?token=%FF%FE").status_code == 403
        assert fresh.get("/", headers={"X-Gridplan-Token": "\u00e9" * 12}).status_code == 403
    for argv, words in (
        (["--token", " "], "blank"),
        (["--token", "short"], "at least 8"),
        (["--token", "tab\there-is-long"], "control character"),
        (["--token-file", str(tmp_path / "nowhere")], "cannot read"),
    ):
        assert main(["serve", str(SCENARIOS / "tiny"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Traceback" not in err, err
    monkeypatch.setenv("GRIDPLAN_TOKEN", "from-the-environment")
    assert resolve_token(None, None) == "from-the-environment"
    (tmp_path / "token").write_text("from-a-file-123\nignored\n")
    assert resolve_token(None, tmp_path / "token") == "from-a-file-123"
    monkeypatch.setenv("GRIDPLAN_TOKEN", "")
    assert resolve_token(None, None) is None


def test_the_token_is_hidden_in_the_access_log():
    import logging

    create_app(SCENARIOS / "tiny", token="s3cret-token")
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - [x] "%s" %s %s',
        ("127.0.0.1", "GET /?token=s3cret-token&a=1 HTTP/1.1", "200", "-"),
        None,
    )
    assert logging.getLogger("werkzeug").filter(record)
    assert "s3cret" not in record.getMessage() and "token=(hidden)&a=1" in record.getMessage()


# ------------------------------------------------------------------ issue 20: stopping the desk
def _start_desk(tmp_path, port: int, env: dict | None = None) -> subprocess.Popen:
    err = open(tmp_path / "server.txt", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gridplan.cli", "--quiet", "serve", str(SCENARIOS / "tiny"), "--port", str(port)],
        cwd=tmp_path,
        stdout=open(tmp_path / "stdout.txt", "w"),
        stderr=err,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    server.kill()
    raise AssertionError("the desk did not start: " + (tmp_path / "server.txt").read_text())


def _http(port: int, path: str, body: dict | None = None, cookie: str = "") -> tuple[int, str]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Cookie": cookie} if cookie else {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _queue_long_simulations(port: int, tiny, query: str = "") -> None:
    """Start two simulations of 20 x 366 days from one page (more work than the test waits for)."""
    import json

    status, text = _http(port, "/_dash-dependencies" + query)
    assert status == 200, text
    dep = next(d for d in json.loads(text) if d["inputs"][0]["id"] == "simulate")
    state = _page_state(tiny, **{"reps.value": 20, "days.value": 366})
    body = {
        "output": dep["output"],
        "outputs": _outputs(dep["output"]),
        "inputs": [{"id": "simulate", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["simulate.n_clicks"],
        "state": [
            {"id": x["id"], "property": x["property"], "value": state[f"{x['id']}.{x['property']}"]}
            for x in dep["state"]
        ],
    }
    for _ in range(2):
        status, text = _http(port, "/_dash-update-component" + query, body)
        assert status == 200 and "simulating 0/40" in str(json.loads(text)), text


def _workers(server: subprocess.Popen, count: int) -> list[int]:
    from tests.test_faults import session_members

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [p for p in session_members(server.pid) if p != server.pid]
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"the desk's workers did not start: {session_members(server.pid)}")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc to follow the desk's workers")
def test_sigterm_stops_the_desk_at_once(tmp_path, tiny):
    """With 80 replications queued, SIGTERM ends the desk within 2 s, exit code 143 and one line, its workers
    with it (issue 20: 34 s, exit code 0, no message). The token comes from the environment: not on the
    command line (ps), not in the access log."""
    from tests.test_faults import PROMPT_S, wait_gone

    port, token = _free_port(), "tøken-from-the-environment"
    server = _start_desk(tmp_path, port, env={"GRIDPLAN_TOKEN": token})
    try:
        assert token.encode() not in open(f"/proc/{server.pid}/cmdline", "rb").read()
        import urllib.parse

        query = "?token=" + urllib.parse.quote(token, safe="")
        assert query in (tmp_path / "stdout.txt").read_text()  # the printed address carries it, encoded
        assert _http(port, "/" + query)[0] == 200 and _http(port, "/")[0] == 403
        _queue_long_simulations(port, tiny, query)
        workers = _workers(server, 2)
        for w in workers:  # started by spawn: the desk's listening socket is not among their files
            links = [os.readlink(f"/proc/{w}/fd/{fd}") for fd in os.listdir(f"/proc/{w}/fd")]
            assert not [x for x in links if x.startswith("socket:")], links
        t0 = time.monotonic()
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=15)
        elapsed = time.monotonic() - t0
        left = wait_gone(server.pid, PROMPT_S)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    err = (tmp_path / "server.txt").read_text()
    assert rc == 143 and elapsed < PROMPT_S, (rc, elapsed, err)
    assert err.strip().splitlines()[-1] == "gridplan: terminated; nothing half-written was left", err
    assert "Traceback" not in err and not left
    assert "token=(hidden)" in err and urllib.parse.quote(token, safe="") not in err and token not in err


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc to follow the desk's workers")
def test_the_desks_workers_die_with_it_even_after_sigkill(tmp_path, tiny):
    """SIGKILL cannot be caught: the workers notice their parent is gone and end, and a new desk can bind
    the port at once (issue 20: two workers survived holding the socket; 'Address already in use')."""
    from tests.test_faults import PROMPT_S, wait_gone

    port = _free_port()
    server = _start_desk(tmp_path, port)
    try:
        _queue_long_simulations(port, tiny)
        _workers(server, 2)
        server.kill()
        server.wait(timeout=10)
        left = wait_gone(server.pid, PROMPT_S)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, "workers outlived the killed desk"
        again = _start_desk(tmp_path, port)
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=15) == 143
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def test_the_downloaded_csv_has_no_cell_a_spreadsheet_would_run(tiny):
    """Ids cannot start like a formula (validation), and the download makes any such cell inert anyway: a
    forged table's '=HYPERLINK(...)' arrives as text; numbers stay numbers."""
    comm, streets = _tables(tiny)
    comm[0]["community"] = '=HYPERLINK("http://evil.example","x")'
    comm[1]["work_fund_yuan"] = -5
    text = table_csv(comm, streets)
    assert "'=HYPERLINK(" in text and "\n=" not in text and ",=" not in text
    assert ",-5," in text

"""The planner's desk (gridplan serve): tables, validation, safety, sessions, and a real browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from gridplan.cli import main
from gridplan.desk import JOBS, check_text, community_rows, create_app, parse, street_rows, table_csv
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

    from gridplan.desk_results import comparison_rows, shown

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
    from gridplan.desk import ACTIVE_CELL, FAILING_CELL, failing_cells

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


def test_the_frontier_has_no_empty_axes_and_few_replications_say_so(tiny):
    """The frontier's graph is hidden until drawn (its empty axes stood on the page); with 2 or 3 replications
    a note says the intervals are uninformative (t = 12.7 at 2)."""
    from gridplan.desk import interval_note
    from gridplan.desk_results import frontier_figure

    app = create_app(SCENARIOS / "tiny")
    layout = app.layout()
    graph = next(c for c in _walk(layout) if getattr(c, "id", None) == "frontier-graph")
    assert graph.style == {"display": "none"}
    fig = frontier_figure(tiny, np.array([2.6, 2.8, 3.0]))
    assert len(fig["data"][0]["y"]) == 3 and fig["data"][0]["y"][-1] is not None
    assert "12.7 standard errors" in interval_note(2) and "5 or more" in interval_note(3)
    assert interval_note(5) == ""


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
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot), full_page=False)
            browser.close()
        assert shot.stat().st_size > 10_000
        if os.environ.get("GRIDPLAN_UPDATE_SCREENSHOT") == "1":
            shutil.copy(shot, SCREENSHOT)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)

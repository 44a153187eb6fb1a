"""Every table of report.html against the CSV it comes from, number by number.

The run is tiny split into two streets whose ids sort the other way round from the scenario's order (K2
before S1) and whose offices differ, so that a column looked up by position instead of by id shows.
Each number in a cell must equal its CSV value to the decimals shown (a share shown as 93.5% or +0.39 pt
is the CSV's 0.935 or 0.0039); text cells must equal the CSV's text. Every table of the report has a check
here: a new table without one fails ``test_every_table_is_checked``.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from gridplan.cli import main
from scenario.load import load_scenario
from tests.conftest import SCENARIOS, edit


class _Tables(HTMLParser):
    """The tables of a page: id -> {"head": [...], "rows": [(tr attributes, [cell texts])]}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.table: dict | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "table":
            self.table = {"head": [], "rows": []}
            self.tables[a.get("id") or f"unnamed-{len(self.tables)}"] = self.table
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr" and self.table is not None:
            self.row = []
            self.attrs = a
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table is not None:
            if self.in_head:
                self.table["head"] = self.row
            else:
                self.table["rows"].append((self.attrs, self.row))
            self.row = None
        elif tag == "thead":
            self.in_head = False
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


_NUMBER = re.compile(r"(?<![\w.])([+-]?)(\d[\d,]*)(?:\.(\d+))?(\s*%|\s*pt)?")


def numbers(text: str) -> list[tuple[float, int, str]]:
    """(value, decimals shown, unit: "%", "pt" or "") of every number in a cell."""
    out = []
    for sign, whole, frac, unit in _NUMBER.findall(text):
        value = float(f"{sign}{whole.replace(',', '')}.{frac or '0'}")
        out.append((value, len(frac), (unit or "").strip()))
    return out


def agrees(shown: tuple[float, int, str], value: float) -> bool:
    """A number shown to its decimals (a share as % or pt) equals the CSV's value."""
    v, decimals, unit = shown
    want = float(value) * (100.0 if unit in ("%", "pt") else 1.0)
    return abs(v - want) <= 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-9


def cell_agrees(text: str, value: object) -> bool:
    """A cell against its CSV value: "–" for none, yes/no for flags, a number to its decimals, else the text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return text == "–"
    if isinstance(value, (bool, np.bool_)):
        return text == ("yes" if value else "no")
    if isinstance(value, (int, float, np.integer, np.floating)):
        got = numbers(text)
        return len(got) == 1 and agrees(got[0], float(value))
    return text == str(value)


def cells_agree(text: str, values: list[float]) -> bool:
    """Several numbers in one cell ("12 → 14", "93.5% [92.1%, 94.0%]", "1 / 2") against their values."""
    got = numbers(text)
    return len(got) == len(values) and all(agrees(g, v) for g, v in zip(got, values))


def rows_of(table: dict) -> list[dict[str, str]]:
    return [dict(zip(table["head"], cells)) for _, cells in table["rows"]]


def key(label: str) -> str:
    return label.replace(" ", "_").replace("-", "_")


CALIBRATION = """
calibration:
  - {figure: "communities", source_value: "3", kpi: communities, rule: input}
  - {figure: "cases reaching the city a year", source_value: "10+", kpi: escalated_city_per_year, target: 10,
     rule: at_least, by_construction: true, note: "the escalation shares were chosen to give it"}
  - {figure: "on-time share", source_value: "99%", kpi: on_time_share, target: 0.99, rule: about, tolerance: 0.02}
  - {figure: "owner satisfaction", source_value: "57% -> 90.5%", rule: not_modelled, note: "not a timeliness effect"}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """gridplan run on tiny split into two streets (K2 sorts before S1; their offices differ)."""
    root = tmp_path_factory.mktemp("report")
    folder = root / "two_streets"
    shutil.copytree(SCENARIOS / "tiny", folder)
    edit(folder / "communities.csv", "C,S1,", "C,K2,")
    edit(
        folder / "scenario.yaml",
        '  - {id: S1, name: "Street one", district: D1}',
        '  - {id: S1, name: "Street one", district: D1}\n  - {id: K2, name: "Street two", district: D1}',
    )
    edit(folder / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: 3400000}")
    edit(folder / "baseline_allocation.csv", "street,S1,,,,,6,2", "street,S1,,,,,7,2\nstreet,K2,,,,,6,1")
    with (folder / "scenario.yaml").open("a", encoding="utf-8") as fh:
        fh.write(CALIBRATION)
    out = root / "out"
    argv = ["--quiet", "run", str(folder), "--reps", "2", "--days", "40", "--processes", "1", "--out", str(out)]
    assert main(argv) == 0
    parser = _Tables()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    return load_scenario(folder), out, parser.tables


CHECKED = {
    "headline",
    "deciding-counts",
    "by-street",
    "calibration",
    "scorecards",
    "prediction",
    "duty-hours",
    "differences",
    "iterations-min_cost",
    "iterations-equal_budget",
    "planned-load",
    "prediction-city",
    "shadow-prices",
    "changes-district",
    "changes-street",
    "movers",
    "duties",
    "next-million",
}


def test_every_table_is_checked(run):
    _, _, tables = run
    assert set(tables) == CHECKED


def _allocations(out) -> dict[str, pd.DataFrame]:
    city = pd.read_csv(out / "compare_city.csv")
    return {
        label: pd.read_csv(out / f"allocation_{key(label)}.csv").query("level == 'community'").set_index("id")
        for label in city.allocation.unique()
    }


def test_headline_equals_compare_tables(run):
    _, out, tables = run
    city = pd.read_csv(out / "compare_city.csv").set_index(["kpi", "allocation"])
    static = pd.read_csv(out / "compare_static.csv").set_index("allocation")
    units = pd.read_csv(out / "compare_units.csv").set_index(["allocation", "level", "kpi"])
    allocations = _allocations(out)
    t = tables["headline"]
    labels = t["head"][1:]
    assert labels == list(static.index)
    checked = 0
    for attrs, cells in t["rows"]:
        kind, _, names = attrs["data-check"].partition(":")
        for label, text in zip(labels, cells[1:]):
            if kind == "kpi":
                m, lo, hi = city.loc[(names, label), ["mean", "ci95_low", "ci95_high"]]
                want = [m] if np.isnan(lo) else [m, lo, hi]
            elif kind == "means":
                want = [city.loc[(k, label), "mean"] for k in names.split()]
            elif kind == "static":
                want = [static.loc[label, c] for c in names.split()]
            elif kind == "units":
                u = units.loc[(label, *names.split(":"))]
                want = [u.below_target, u.surely_below_target, u.units]
            else:
                a, b = allocations[label].workers, allocations["baseline"].workers
                want = [int((a > b).sum()), int((a < b).sum())]
            assert cells_agree(text, want), (cells[0], label, text, want)
            checked += 1
    assert checked == len(t["rows"]) * len(labels)


def test_deciding_counts_and_by_street_equal_the_deciding_tables(run):
    s, out, tables = run
    counts = rows_of(tables["deciding-counts"])
    labels = [h.split(":")[0] for h in tables["deciding-counts"]["head"][1:]]
    for label in dict.fromkeys(labels):
        dc = pd.read_csv(out / f"deciding_community_{key(label)}.csv").decided_by.value_counts()
        ds = pd.read_csv(out / f"deciding_street_{key(label)}.csv").decided_by.value_counts()
        for row in counts:
            assert int(row[f"{label}: communities"]) == dc.get(row["decided_by"], 0), (label, row)
            assert int(row[f"{label}: street_offices"]) == ds.get(row["decided_by"], 0), (label, row)
    dc = pd.read_csv(out / "deciding_community.csv")
    street_of = dict(zip(s.community_ids, (s.street_ids[j] for j in s.community_street)))
    dc["street"] = dc.community.map(street_of)
    ds = pd.read_csv(out / "deciding_street.csv").set_index("street")
    base = pd.read_csv(out / "allocation_baseline.csv").query("level == 'street'").set_index("id")
    by_street = rows_of(tables["by-street"])
    assert sorted(r["street"] for r in by_street) == sorted(s.street_ids) and len(s.street_ids) == 2
    for row in by_street:
        sid = row["street"]
        for family, n in dc[dc.street == sid].decided_by.value_counts().items():
            assert int(row[family]) == n, (sid, family)
        staff = row["street office staff (baseline → plan)"]
        assert cells_agree(staff, [base.loc[sid, "street_office_staff"], ds.loc[sid, "staff"]]), (sid, staff)
        assert row["street office decided by"] == ds.loc[sid, "decided_by"]


def _table_equals_csv(table: dict, csv: pd.DataFrame, keys: list[str] | None = None) -> None:
    """Each shown row equals its CSV row (by ``keys``, else in order), column by column."""
    shown = rows_of(table)
    if keys is None:
        assert len(shown) == len(csv)
        pairs = zip(shown, (r for _, r in csv.iterrows()))
    else:
        indexed = csv.set_index(keys)
        pairs = ((row, indexed.loc[row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)]) for row in shown)
    n = 0
    for row, want in pairs:
        for col, text in row.items():
            if keys and col in keys:
                continue
            assert cell_agrees(text, want[col]), (col, text, want[col])
            n += 1
    assert n > 0 or len(csv) == 0


def test_calibration_duty_hours_iterations_shadow_prices_and_changes_equal_their_csv(run):
    _, out, tables = run
    calibration = pd.read_csv(out / "calibration.csv")
    text = ["figure", "source", "verdict", "scenario", "note"]
    calibration[text] = calibration[text].fillna("")  # an empty note is empty text in both
    _table_equals_csv(tables["calibration"], calibration)
    assert "nothing is compared with a source" not in (out / "report.html").read_text(encoding="utf-8")
    assert list(calibration.verdict) == [
        "input (by construction)",
        "matches (by construction: inputs chosen to give it)",
        "reproduced",
        "not modelled",
    ]
    hours = pd.read_csv(out / "duty_hours_baseline.csv")
    _table_equals_csv(tables["duty-hours"], hours[tables["duty-hours"]["head"]])
    for plan in ("min_cost", "equal_budget"):
        _table_equals_csv(tables[f"iterations-{plan}"], pd.read_csv(out / f"iterations_{plan}.csv"))
    _table_equals_csv(tables["planned-load"], pd.read_csv(out / "planned_load.csv"))
    _table_equals_csv(tables["prediction-city"], pd.read_csv(out / "prediction_city.csv"))
    prices = pd.read_csv(out / "shadow_prices.csv")
    _table_equals_csv(tables["shadow-prices"], prices[["kind", "name", "explanation"]])
    _table_equals_csv(tables["changes-district"], pd.read_csv(out / "changes_by_district.csv"))
    _table_equals_csv(tables["changes-street"], pd.read_csv(out / "changes_by_street.csv"))


def test_differences_equal_compare_city(run):
    _, out, tables = run
    city = pd.read_csv(out / "compare_city.csv")
    plans = city[city.allocation != city.allocation.iloc[0]]
    _table_equals_csv(tables["differences"], plans[tables["differences"]["head"]], keys=["kpi", "allocation"])
    assert len(rows_of(tables["differences"])) == len(plans)


def test_prediction_and_movers_equal_their_csv(run):
    s, out, tables = run
    first = tables["headline"]["head"][2]  # the columns: baseline, then the plans
    pred = pd.read_csv(out / f"prediction_{key(first)}.csv")
    pred["gap_on_time"] = (pred.on_time_predicted - pred.on_time_simulated).abs()
    pred["gap_coverage"] = (pred.duty_coverage_predicted - pred.duty_coverage_simulated).abs()
    shown = tables["prediction"]
    _table_equals_csv(shown, pred[shown["head"]], keys=["community"])
    shares = [c for c in shown["head"] if c.endswith(("_predicted", "_simulated"))]
    assert len(shares) == 10 and all(r[c].endswith("%") for r in rows_of(shown) for c in shares)  # one way
    worst = pred.nlargest(len(shown["rows"]), "gap_coverage").community
    assert sorted(r["community"] for r in rows_of(shown)) == sorted(worst)
    base = pd.read_csv(out / "allocation_baseline.csv").query("level == 'community'").set_index("id")
    plan = pd.read_csv(out / "allocation.csv").query("level == 'community'").set_index("id")
    decided = pd.read_csv(out / "deciding_community.csv").set_index("community")
    for row in rows_of(tables["movers"]):
        c = row["community"]
        want = [base.loc[c, "workers"], plan.loc[c, "workers"], plan.loc[c, "workers"] - base.loc[c, "workers"]]
        assert cells_agree(" ".join(row[k] for k in ("workers_baseline", "workers_plan", "change")), want), row
        assert row["decided_by"] == decided.loc[c, "decided_by"]


def test_scorecards_and_duties_equal_their_sources(run):
    s, out, tables = run
    shown = rows_of(tables["scorecards"])
    labels = [h.split(":")[0] for h in tables["scorecards"]["head"][1::2]]
    cards = {lb: pd.read_csv(out / f"scorecard_community_{key(lb)}.csv").set_index("community") for lb in labels}
    lowest = cards[labels[0]].sort_values("score").head(len(shown)).index
    assert sorted(r["community"] for r in shown) == sorted(lowest)
    for row in shown:
        for label in labels:
            c = cards[label].loc[row["community"]]
            score = [c.score, c.score_ci95_low, c.score_ci95_high]
            assert cells_agree(row[f"{label}: score [95% CI]"], score), (label, row)
            assert row[f"{label}: rank range"] == f"{c.rank_best}-{c.rank_worst}"
    duties = s.spec.duties
    assert duties is not None
    want = [(d, x.level, x.driver, x.source) for d, x in duties.scheduled.items()]
    want += [(f, x.level, "per person", x.source) for f, x in duties.fixed.items()]
    got = [(r["duty"], r["level"], r["driver"], r["source"]) for r in rows_of(tables["duties"])]
    assert got == [tuple(" ".join(str(v).split()) for v in w) for w in want]


def test_numbers_are_read_to_their_decimals():
    assert numbers("93.5% [93.1%, 93.8%]") == [(93.5, 1, "%"), (93.1, 1, "%"), (93.8, 1, "%")]
    assert numbers("+0.39 pt") == [(0.39, 2, "pt")] and numbers("-1,234") == [(-1234.0, 0, "")]
    assert numbers("19 → 21") == [(19.0, 0, ""), (21.0, 0, "")]
    assert agrees((93.5, 1, "%"), 0.93549) and not agrees((93.5, 1, "%"), 0.9356)
    assert cell_agrees("–", float("nan")) and cell_agrees("yes", True) and not cell_agrees("16", 19)


def test_next_million_equals_its_csv(run):
    """The page's top communities are next_million.csv's first rows, each gain as shown."""
    _, out, tables = run
    csv = pd.read_csv(out / "next_million.csv")
    shown = rows_of(tables["next-million"])
    assert 0 < len(shown) <= 15 and [r["community"] for r in shown] == list(csv.community[: len(shown)])
    for row, (_, want) in zip(shown, csv.iterrows()):
        assert row["best use"] == want.best and int(row["rank"]) == want["rank"]
        for col, name in (
            ("fund: resolution (pt)", "fund_resolution_points"),
            ("fund: outcomes a year", "fund_outcomes_per_year"),
            ("staff: coverage (pt)", "staff_coverage_points"),
            ("staff: outcomes a year", "staff_outcomes_per_year"),
        ):
            assert cell_agrees(row[col], want[name]), (col, row[col], want[name])


def test_shadow_prices_say_why_a_budget_the_loop_stopped_on_reads_as_not_limiting():
    """min-cost stops when the correction it asks for next exceeds a budget: the prices shown are the returned
    allocation's, where that budget has slack; the section says so (and says nothing on other stops)."""
    from types import SimpleNamespace

    from gridplan.report import _shadow_note

    stop = "the corrected model is infeasible: no allocation meets every constraint: district d1 budget 9 < 10"
    note = _shadow_note(SimpleNamespace(label="min-cost", opt=SimpleNamespace(stop_reason=stop)))
    assert "the last one its budgets allowed" in note and "district d1 budget 9 < 10" in note
    other = SimpleNamespace(label="min-cost", opt=SimpleNamespace(stop_reason="every community meets ..."))
    assert _shadow_note(other) == ""

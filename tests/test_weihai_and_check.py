"""Bundled scenarios: Weihai totals equal the source figures; the policy check's verdicts."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gridplan.cli import main
from scenario.errors import AllocationError
from scenario.load import load_scenario
from solvers.policy import check_policy
from tests.conftest import SCENARIOS, edit

# Figures of the source document (../shared/domain.md).
SOURCE = dict(
    districts=4,
    development_zones=3,
    streets=24,
    communities=340,
    workers=3529,
    street_staff=433,
    mobile=400,
    grids=1896,
    city_subsidy_yuan=56_310_000,
    per_10k=22.6,
)


def test_weihai_totals_equal_source(weihai):
    kinds = [d.kind for d in weihai.spec.districts]
    assert kinds.count("district") == SOURCE["districts"]
    assert kinds.count("development_zone") == SOURCE["development_zones"]
    assert len(weihai.street_ids) == SOURCE["streets"]
    assert weihai.n_communities == SOURCE["communities"]
    assert int(weihai.grids.sum()) == SOURCE["grids"]
    b = weihai.baseline
    assert b.total_workers == SOURCE["workers"]
    assert int(b.street_office_staff.sum()) == SOURCE["street_staff"]
    assert int(b.mobile_grid_workers.sum()) == SOURCE["mobile"]
    assert round(b.total_workers / weihai.urban_residents.sum() * 10_000, 1) == SOURCE["per_10k"]
    assert abs(weihai.urban_residents.sum() - 1_560_000) < 5_000  # "≈1.56 M"
    assert weihai.spec.volunteers.registered == 46_000
    # the city pays 2.5 posts in each of 340 communities: 56.31 M yuan
    city = weihai.spec.funding.city_paid_workers_per_community * 340 * weihai.mean_worker_cost_yuan
    assert city == pytest.approx(SOURCE["city_subsidy_yuan"], abs=1.0)
    assert weihai.spec.funding.city_budget_yuan == SOURCE["city_subsidy_yuan"]


def test_weihai_generator_reproduces_committed_tables(tmp_path):
    """The per-community split is exactly what the committed, seeded script makes."""
    import shutil

    d = tmp_path / "weihai"
    shutil.copytree(SCENARIOS / "weihai", d)
    subprocess.run([sys.executable, str(d / "generate.py")], check=True, capture_output=True)
    for f in ("communities.csv", "baseline_allocation.csv", "structure.yaml"):
        assert (d / f).read_text() == (SCENARIOS / "weihai" / f).read_text(), f


@pytest.mark.parametrize("variant", ["surge.yaml", "property_before.yaml", "property_after.yaml"])
def test_variants_load_and_differ_as_stated(variant, weihai):
    v = load_scenario(SCENARIOS / "weihai" / variant)
    assert v.n_communities == 340 and v.baseline.total_workers == 3529
    cats = v.spec.demand.categories
    if variant == "surge.yaml":
        assert v.spec.volunteers.surge_mobilised == 72_000
        assert v.spec.demand.surges and v.spec.demand.surges[0].multiplier > 1
    elif variant == "property_before.yaml":
        assert cats["property_management"].share == 0.072
    else:
        assert cats["property_management"].share == 0.004
    assert math.isclose(sum(c.share for c in cats.values()), 1.0)


def test_weihai_baseline_check(weihai, capsys, tmp_path):
    rep = check_policy(weihai, weihai.baseline)
    assert rep.passed
    assert rep.workers_total == 3529 and round(rep.workers_per_10k, 1) == 22.6
    assert rep.street_staff_total == 433
    out = tmp_path / "check.csv"
    assert main(["check", str(SCENARIOS / "weihai"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3,529 = 22.6 per 10,000" in text and "street party-office staff 433" in text
    assert "rounded up" in text
    rows = pd.read_csv(out)
    assert set(rows.columns) == {"rule", "scope", "unit", "bound", "limit", "actual", "slack", "passed"}
    assert (rows["rule"] == "workers_per_10k").sum() == 340


def test_tiny_requirements_by_hand(tiny):
    rows = check_policy(tiny, tiny.baseline).rows.set_index(["rule", "unit"])
    # 18 per 10,000: 5000 -> 9, 3000 -> 5.4 -> 6, 2000 -> 3.6 -> 4 (rounded up per community)
    assert rows.loc[("workers_per_10k", "A"), "limit"] == 9
    assert rows.loc[("workers_per_10k", "B"), "limit"] == 6
    assert rows.loc[("workers_per_10k", "C"), "limit"] == 4
    assert rows.loc[("work_fund", "B"), "limit"] == pytest.approx(43_200)
    assert rows.loc[("street_office_staff", "S1"), "limit"] == 6
    # costs: 20 workers * 60,000; the city pays 2.5 per community = 7.5 workers
    rep = check_policy(tiny, tiny.baseline)
    assert rep.costs.city_yuan == pytest.approx(7.5 * 60_000)
    assert rep.costs.district_yuan["D1"] == pytest.approx(12.5 * 60_000 + 144_000 + 900_000 + 6 * 80_000 + 2 * 2_000)


def test_scope_changes_rounding(tiny_copy):
    """At city scope the requirement is rounded once: ceil(18 * 10,000 / 10,000) = 18, not 9 + 6 + 4."""
    edit(tiny_copy / "scenario.yaml", "minimum: 18, scope: community", "minimum: 18, scope: city")
    s = load_scenario(tiny_copy)
    rows = check_policy(s, s.baseline).rows
    r = rows[rows.rule == "workers_per_10k"]
    assert list(r.unit) == ["city"] and r.limit.iloc[0] == 18


def test_switched_off_rule_is_not_checked(tiny_copy):
    edit(
        tiny_copy / "scenario.yaml",
        "minimum: 300000, scope: community}",
        "minimum: 300000, scope: community, active: false}",
    )
    s = load_scenario(tiny_copy)
    assert "service_fund" not in set(check_policy(s, s.baseline).rows.rule)


def test_short_allocation_fails(tiny, tmp_path, capsys):
    short = tmp_path / "short.csv"
    short.write_text(
        "level,id,workers,secretary_assistants,work_fund_yuan,service_fund_yuan,street_office_staff,mobile_grid_workers\n"
        "community,A,8,1,72000,300000,,\n"  # one worker short of 9
        "community,B,6,0,43200,300000,,\n"  # no secretary assistant
        "community,C,4,1,28000,250000,,\n"  # funds short
        "street,S1,,,,,5,2\n"
    )  # one street staff short
    out = tmp_path / "res" / "check.csv"
    assert main(["check", str(SCENARIOS / "tiny"), "--allocation", str(short), "--out", str(out)]) == 1
    rows = pd.read_csv(out)
    failed = set(map(tuple, rows.loc[~rows.passed, ["rule", "unit"]].values))
    assert failed == {
        ("workers_per_10k", "A"),
        ("secretary_assistants", "B"),
        ("work_fund", "C"),
        ("service_fund", "C"),
        ("street_office_staff", "S1"),
    }
    slack = rows.set_index(["rule", "unit"]).loc[("work_fund", "C"), "slack"]
    assert slack == pytest.approx(-800)
    assert "FAIL" in capsys.readouterr().out
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_partial_allocation_falls_back_to_baseline(tiny, tmp_path):
    part = tmp_path / "part.csv"
    part.write_text("level,id,workers\ncommunity,A,12\n")
    a = tiny.read_allocation(part, partial=True)
    assert list(a.workers) == [12, 6, 4]
    assert a.filled_from_baseline == ("B", "C", "S1")
    assert np.array_equal(a.work_fund_yuan, tiny.baseline.work_fund_yuan)
    assert a.columns_from_baseline == (
        "secretary_assistants",
        "work_fund_yuan",
        "service_fund_yuan",
        "street_office_staff",
        "mobile_grid_workers",
    )


def test_blank_cell_is_refused_even_in_a_partial_table(tiny, tmp_path):
    """A blank cell in a column the table has is a value left out, not "keep the baseline's"."""
    part = tmp_path / "part.csv"
    part.write_text("level,id,workers,service_fund_yuan\ncommunity,A,12,\n")
    with pytest.raises(AllocationError, match=r"line 2, column service_fund_yuan: empty cell.*leave the column or"):
        tiny.read_allocation(part, partial=True)


def test_full_table_missing_a_column_names_it_and_partial(tiny, tmp_path, capsys):
    part = tmp_path / "part.csv"
    part.write_text("level,id,workers\ncommunity,A,12\n")
    with pytest.raises(AllocationError, match=r"missing column\(s\) secretary_assistants, .*--partial"):
        tiny.read_allocation(part)
    assert main(["check", str(SCENARIOS / "tiny"), "--allocation", str(part), "--partial"]) == 0
    out = capsys.readouterr().out
    assert "3 row(s) missing from the table and the column(s) it leaves out (secretary_assistants" in out


def test_over_budget_fails(tiny_copy):
    edit(tiny_copy / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: 2000000}")
    s = load_scenario(tiny_copy)
    rep = check_policy(s, s.baseline)
    bad = rep.rows[~rep.rows.passed]
    assert list(bad.rule) == ["budget_district"] and bad.slack.iloc[0] == pytest.approx(-278_000)


def test_validate_prints_summary(capsys):
    assert main(["validate", str(SCENARIOS / "weihai")]) == 0
    out = capsys.readouterr().out
    assert "communities 340" in out and "3,529 = 22.6 per 10,000" in out and out.strip().endswith("valid")


def test_budget_slack_within_rounding_prints_zero(weihai):
    """The city pays 2.5 x 340 posts at 66,247.06 yuan: 56,310,000.15 against a budget of 56,310,000."""
    from solvers.policy import check_policy

    rows = check_policy(weihai, weihai.baseline).rows.set_index("rule")
    city = rows.loc["budget_city"]
    # compared and shown to the whole yuan: 56,310,000 against 56,310,000, slack 0 (not 56,310,000.15, -0.15, pass)
    assert city.actual == 56_310_000 and city.slack == 0.0 and city.passed


def test_megacity_is_what_its_generator_makes_and_what_it_states(tmp_path):
    """The megacity's committed files are exactly what its seeded generator writes, and its size is the
    stated Beijing-like order: about 21 M residents, 16 districts, 340 streets, 7,000 communities."""
    import shutil

    for name in ("weihai", "megacity"):
        shutil.copytree(SCENARIOS / name, tmp_path / name)
    subprocess.run([sys.executable, str(tmp_path / "megacity" / "generate.py")], check=True, capture_output=True)
    for f in sorted(p.name for p in (SCENARIOS / "megacity").iterdir() if p.suffix in (".csv", ".yaml")):
        assert (tmp_path / "megacity" / f).read_text() == (SCENARIOS / "megacity" / f).read_text(), f
    m = load_scenario(SCENARIOS / "megacity")
    assert (len(m.district_ids), len(m.street_ids), m.n_communities) == (16, 340, 7_000)
    assert 20.5e6 <= m.urban_residents.sum() <= 21.5e6


def test_calibration_notes_state_what_published_norms_alone_give(tmp_path):
    """The scenario's calibration notes (and the README) say what the baseline would plan at without the two
    calibrated duties: recompute it with those duties at zero hours."""
    import re
    import shutil

    from workflows.calibration import static_figures

    d = tmp_path / "weihai"
    shutil.copytree(SCENARIOS / "weihai", d)
    (d / "nocal.yaml").write_text(
        "extends: scenario.yaml\nname: nocal\nduties:\n  scheduled:\n"
        "    community_services: {hours_each: 0.0}\n    street_party_building: {hours_each: 0.0}\n"
    )
    s = load_scenario(d / "scenario.yaml")
    bare = static_figures(load_scenario(d / "nocal.yaml"))
    notes = {c.kpi: c.note for c in s.spec.calibration}
    for kpi in ("planned_utilisation_community", "planned_utilisation_street"):
        stated = re.search(r"would plan at (\d+)%", notes[kpi])
        assert stated, kpi
        assert int(stated.group(1)) == round(100 * bare[kpi]), (kpi, bare[kpi])
    readme = (SCENARIOS.parent / "README.md").read_text()
    assert f"published norms alone give {round(100 * bare['planned_utilisation_community'])}% / " in readme


def test_validate_shows_the_surge(capsys):
    assert main(["validate", str(SCENARIOS / "weihai" / "surge.yaml")]) == 0
    out = capsys.readouterr().out
    # 1,283.4 cases a day x 1.5 extra x 30 days
    assert "surge 'March epidemic rebound': demand x2.5 for 30 days from day 59 (~+57,754 cases" in out

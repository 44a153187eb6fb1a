"""Studies: the bundled example (12 points) writes its table and page; a killed study resumes."""

from __future__ import annotations

import pandas as pd
import pytest

from gridplan.cli import main
from scenario.errors import ScenarioError
from tests.conftest import SCENARIOS
from workflows.study import COLUMNS, load_study, run_study, study_points, variant

# four points, one without an allocation (a floor of 20 per 10,000 costs more than 2.7 M yuan)
FOUR_POINTS = """name: four
command: compare
reps: 2
days: 20
grid:
  budget_yuan: [2700000, 2900000]
  workers_per_10k_minimum: [18, 20]
"""


def test_bundled_example_study(tmp_path, capsys):
    out = tmp_path / "study"
    assert (
        main(["--quiet", "study", str(SCENARIOS / "tiny" / "study.yaml"), "--processes", "2", "--out", str(out)]) == 0
    )
    df = pd.read_csv(out / "study.csv")
    assert len(df) == 12
    # a floor of 20 per 10,000 costs more than 2.7 M yuan: those points say so instead of failing the study
    bad = df[~df.feasible]
    assert set(zip(bad.budget_yuan, bad.workers_per_10k_minimum)) == {(2_700_000, 20)}
    assert bad.note.str.contains("policy minimums and the 95% duty-coverage target in every unit alone require").all()
    screen = capsys.readouterr().out
    assert "budget 2,700,000 yuan): no allocation; " in screen and "duty-coverage target in every unit alone" in screen
    assert pd.read_parquet(out / "study.parquet").shape == df.shape
    page = (out / "study.html").read_text()
    assert "data:image/png;base64," in page and "Study budget_growth_floor" in page
    import re

    cells = re.sub(r"<img[^>]*>", "", page)
    assert not re.search(r"\bnan\b", cells, re.IGNORECASE), "an infeasible point shows NaN"
    assert not re.search(r"\de[+-]\d", cells), "a raw scientific-notation number"
    assert "<td>2,700,000</td>" in cells and "%</td>" in cells  # yuan with separators, shares as percentages
    # more demand, same money: more overdue cases
    g = df.groupby("demand_growth").overdue_cases.mean()
    assert g.loc[1.5] > g.loc[1.0]
    # a higher floor never lowers the workers bought
    pivot = df[df.feasible].pivot_table(
        index=["budget_yuan", "demand_growth"], columns="workers_per_10k_minimum", values="workers"
    )
    assert (pivot[20.0].dropna() >= pivot[18.0][pivot[20.0].notna()]).all()


def test_variant_applies_growth_and_floor(tiny):
    study = load_study(SCENARIOS / "tiny" / "study.yaml")
    points = study_points(study)
    p = next(x for x in points if x["demand_growth"] == 1.5 and x["workers_per_10k_minimum"] == 20)
    v = variant(tiny, p)
    assert v.spec.demand.channels["hotline_12345"].rate_per_10k_per_day == pytest.approx(7.5)
    assert v.spec.policy.rules["workers_per_10k"].minimum == 20
    assert tiny.spec.policy.rules["workers_per_10k"].minimum == 18  # the base is not changed


def test_study_file_errors_are_one_line(tiny_copy):
    (tiny_copy / "study.yaml").write_text("name: x\ngrid: {scenario: [../weihai/scenario.yaml]}\n")
    with pytest.raises(ScenarioError, match="must be a scenario file in"):
        load_study(tiny_copy / "study.yaml")
    (tiny_copy / "study.yaml").write_text("name: x\nreps: 0\n")
    with pytest.raises(ScenarioError, match="field 'reps'"):
        load_study(tiny_copy / "study.yaml")


def test_a_resumed_study_table_equals_a_fresh_one(tiny_copy, tmp_path):
    """Kept points are JSON with sorted keys; the resumed table still has the fresh table's columns in the
    fresh table's order, and the same values."""
    path = tiny_copy / "four.yaml"
    path.write_text(FOUR_POINTS)
    argv = ["--quiet", "study", str(path), "--processes", "1", "--out"]
    assert main([*argv, str(tmp_path / "fresh")]) == 0
    run_study(path, load_study(path), tmp_path / ".resumed.points", processes=1)  # a run stopped before its table
    assert main([*argv, str(tmp_path / "resumed"), "--resume"]) == 0
    fresh = pd.read_csv(tmp_path / "fresh" / "study.csv")
    resumed = pd.read_csv(tmp_path / "resumed" / "study.csv")
    assert list(fresh.columns) == [*COLUMNS[:6], *[c for c in COLUMNS[6:] if c in fresh], "resumed"]
    assert list(resumed.columns) == list(fresh.columns)
    assert resumed.resumed.all() and not fresh.resumed.any() and (~fresh.feasible).sum() == 1
    pd.testing.assert_frame_equal(resumed.drop(columns="resumed"), fresh.drop(columns="resumed"))


def test_a_point_without_an_allocation_and_no_budget_axis_is_reported(tiny_copy, capsys):
    """Without a budget axis a point has the scenario's own budget: its note is printed, not a traceback."""
    path = tiny_copy / "floor.yaml"
    path.write_text("name: floor\ncommand: allocate\ngrid: {workers_per_10k_minimum: [18, 5000]}\n")
    assert main(["--quiet", "study", str(path), "--processes", "1", "--out", str(tiny_copy.parent / "o")]) == 0
    assert "point 2 (scenario.yaml, the scenario's budget): no allocation; " in capsys.readouterr().out


def test_demand_cap_of_a_derived_scenario(tiny):
    """``check_demand_cap`` refuses demand scaled in memory past the cap that loading checks."""
    from scenario.load import MAX_CASES_PER_YEAR, cases_per_year, check_demand_cap

    check_demand_cap(tiny, "here")
    factor = 2 * MAX_CASES_PER_YEAR / cases_per_year(tiny.spec, tiny.urban_residents)
    grown = variant(tiny, {"demand_growth": factor, "workers_per_10k_minimum": None})
    with pytest.raises(ScenarioError, match=r"^here: the demand comes to 100,000,000 cases a year .* 50,000,000"):
        check_demand_cap(grown, "here")

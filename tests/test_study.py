"""Studies: the bundled example (12 points) writes its table and page; a killed study resumes."""

from __future__ import annotations

import pandas as pd
import pytest

from gridplan.cli import main
from scenario.errors import ScenarioError
from tests.conftest import SCENARIOS
from workflows.study import load_study, study_points, variant


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

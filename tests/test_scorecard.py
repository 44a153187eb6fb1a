"""Scorecards: the appraisal arithmetic by hand on tiny, ranks as ranges, flags, the command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridplan.cli import main
from scenario.load import load_scenario
from sim.replications import run_replications
from tests.conftest import SCENARIOS, edit
from workflows.scorecard import indicator_points, scorecards


def test_indicator_points_by_hand():
    s = load_scenario(SCENARIOS / "tiny")
    on_time = s.spec.evaluation.indicators["on_time"]  # 60 points, full at 1.0, zero at 0.9
    assert indicator_points(on_time, np.array([0.95, 1.0, 0.85, np.nan])) == pytest.approx([30.0, 60.0, 0.0, 60.0])
    weihai = load_scenario(SCENARIOS / "weihai")
    reopened = weihai.spec.evaluation.indicators["reopened"]  # less is better: full at 2%, zero at 8%
    assert indicator_points(reopened, np.array([0.02, 0.05, 0.09])) == pytest.approx([10.0, 5.0, 0.0])


def test_tiny_scores_equal_the_hand_formula(tiny):
    runs = run_replications(tiny, tiny.baseline, 4, days=91, processes=1)
    cards = scorecards(tiny, runs, "community").set_index("community")
    per = runs.group_per_rep("community")
    for c in tiny.community_ids:
        g = per.loc[[c]]
        hand = 60 * np.clip((g.on_time_share - 0.9) / 0.1, 0, 1) + 40 * np.clip(
            (g.satisfaction_share - 0.8) / 0.2, 0, 1
        )
        assert cards.loc[c, "score"] == pytest.approx(hand.mean())
        assert cards.loc[c, "likely_below_threshold"] == ((hand < 80).mean() > 0.5)
        assert 0 <= cards.loc[c, "score_ci95_low"] <= cards.loc[c, "score"] <= cards.loc[c, "score_ci95_high"] <= 100
        assert 1 <= cards.loc[c, "rank_best"] <= cards.loc[c, "rank_worst"] <= 3


def test_rank_range_is_ranks_that_happened():
    from workflows.scorecard import rank_range

    assert rank_range(np.array([1, 52])) == (1, 52)
    assert rank_range(np.array([3, 3, 3])) == (3, 3)
    assert rank_range(np.arange(1, 201)) == (5, 196)


def test_scorecard_command_and_missing_section(tiny_copy, tmp_path, capsys):
    out = tmp_path / "cards"
    assert (
        main(["scorecard", str(tiny_copy), "--reps", "2", "--days", "60", "--processes", "1", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "Community scorecards (3)" in printed
    assert "likely below 80 points (below it in both replications): " in printed  # the rule, stated
    assert "mean score below it: " in printed
    assert "Note: With 2 replications each 95% interval is 12.7 standard errors wide" in printed  # as the desk says
    cards = pd.read_csv(out / "scorecard_community.csv")
    assert set(cards.community) == {"A", "B", "C"} and {"rank_best", "rank_worst", "points_on_time"} <= set(cards)
    assert (out / "scorecard_street.csv").is_file()
    text = (tiny_copy / "scenario.yaml").read_text()
    (tiny_copy / "scenario.yaml").write_text(text[: text.index("# Appraisal:")])
    assert main(["scorecard", str(tiny_copy), "--out", str(tmp_path / "x")]) == 2
    assert "no 'evaluation' section" in capsys.readouterr().err


def test_a_demanding_threshold_flags_every_unit(tiny_copy):
    edit(tiny_copy / "scenario.yaml", "threshold_points: 80", "threshold_points: 100.5")
    s = load_scenario(tiny_copy)
    runs = run_replications(s, s.baseline, 2, days=60, processes=1)
    assert scorecards(s, runs, "community").likely_below_threshold.all()


def test_a_streets_duty_indicator_sees_its_communities(tiny):
    """A street's duty coverage is the whole street's (its office's duties and its communities' grid and desk
    duties): cutting the communities lowers the street's score input, while its office's coverage alone
    (what the street was scored on) does not move."""
    lean = tiny.baseline.replace(workers=np.array([3, 3, 3]))
    runs = [run_replications(tiny, a, 2, days=60, processes=1) for a in (tiny.baseline, lean)]
    street = [r.group("street").loc["S1"] for r in runs]
    assert street[1].duty_coverage < street[0].duty_coverage - 0.002
    assert street[1].office_duty_coverage == pytest.approx(street[0].office_duty_coverage, abs=1e-3)
    cards = [scorecards(tiny, r, "street").set_index("street") for r in runs]
    assert cards[1].loc["S1", "score"] <= cards[0].loc["S1", "score"]

"""Where the next million goes (issue 22, part 3): the allocator's per-community gains, and their check by
re-simulation on the same seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridplan.cli import main
from scenario.load import load_scenario
from solvers.allocator import predicted_outcomes
from solvers.curves import service_curves
from solvers.marginal import MILLION_YUAN, next_million, with_more
from tests.conftest import SCENARIOS


def test_gains_are_the_curves_differences():
    s = load_scenario(SCENARIOS / "weihai")
    curves = service_curves(s)
    t = next_million(s, curves, s.baseline).set_index("community")
    assert (t.staff_workers == int(MILLION_YUAN // s.spec.pay.mean_worker_cost_yuan_per_year)).all()  # 15
    _, res0, _ = predicted_outcomes(s, curves, s.baseline)
    _, res1, _ = predicted_outcomes(s, curves, with_more(s.baseline, np.arange(s.n_communities), MILLION_YUAN))
    want = pd.Series(100 * (res1 - res0), index=list(s.community_ids))
    np.testing.assert_allclose(t.fund_resolution_points.loc[want.index], want, atol=1e-9)
    assert (t.fund_outcomes_per_year >= -1e-9).all() and (t.staff_outcomes_per_year >= -1e-9).all()
    # the fund buys most where fixes outrun it: the largest communities, the flat 300,000-yuan floor
    top = t.sort_values("rank").head(10)
    assert (top.best == "fund").all()
    assert top.cases_per_year.min() > t.cases_per_year.median()
    assert list(t.sort_values("rank").best_outcomes_per_year) == sorted(t.best_outcomes_per_year, reverse=True)


def test_next_million_command_checks_the_ranking(tmp_path, capsys):
    out = tmp_path / "nm"
    # --check 5 on three communities: one at each end of each ranking, and the screen says so
    argv = ["next-million", str(SCENARIOS / "tiny"), "--check", "5", "--reps", "3", "--processes", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Where the next million yuan goes" in text and "Spearman" in text
    assert "(--check 5: 3 communities allow 1 at each end of a ranking)" in text
    check = pd.read_csv(out / "next_million_check.csv")
    table = pd.read_csv(out / "next_million.csv")
    assert set(check.use) == {"fund", "staff"} and len(check) == 4
    top = table.sort_values("fund_outcomes_per_year", ascending=False).community.iloc[0]
    row = check[(check.use == "fund") & (check.community == top)].iloc[0]
    assert row.predicted_outcomes_per_year > 1 and row.simulated_outcomes_per_year > 0 and row.sign_agrees
    agreement = pd.read_csv(out / "next_million_agreement.csv")
    assert list(agreement.use) == ["fund", "staff"] and (agreement.communities_checked == 2).all()
    # two points always rank alike or opposite: the table and the screen say the correlation means nothing
    assert agreement.note.str.contains("by construction").all() and "+1 or -1 by construction" in text
    assert main([*argv[:2], "--check", "0", "--out", str(tmp_path / "x")]) == 2


def test_the_rank_note_suggests_more_checks_only_when_the_city_has_more():
    from workflows.nextmillion import _rank_note

    assert "by construction" in _rank_note(2, True) and "--check" not in _rank_note(2, True)
    assert "--check" in _rank_note(4, True) and "--check" not in _rank_note(4, False)
    assert _rank_note(10, True) == ""

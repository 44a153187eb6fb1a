"""Annual scorecards: each street's and community's appraisal score from simulated KPIs, with intervals.

The scenario's ``evaluation:`` section names the indicators. An indicator's points are its weight times
the KPI's position between ``zero_at`` and ``full_marks_at`` (linear, clipped to [0, 1]); a unit's score
is the sum over indicators, computed in every replication. The card shows the mean score with its 95%
interval, the rank (1 = best) with its 95% range over replications (a rank is uncertain: it is shown
as a range, not a number), the share of replications below the threshold, a flag when the unit is
likely to fall below it (below it in more than half of the replications: with 2 replications, in both),
and a flag when its mean score is below it (which two replications of 79 and 81 show and "likely" does not).

KPIs per unit: communities use their cases' on-time share, satisfaction, reopened share, p90 and
overdue cases, and the coverage of their grid and desk duties; streets use their cases' KPIs and the
duty coverage of the whole street (its party office's duties and its communities' grid and desk duties,
hours-weighted), so that cutting a street's communities shows in the street's score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scenario.load import Scenario
from scenario.spec import EvaluationSpec, IndicatorSpec
from sim.replications import Replications, confidence_interval

__all__ = ["indicator_points", "scorecards", "below_words"]


def indicator_points(ind: IndicatorSpec, value: np.ndarray) -> np.ndarray:
    """weight x clip((value - zero_at) / (full_marks_at - zero_at), 0, 1); NaN (no cases) earns full marks."""
    pos = (np.asarray(value, float) - ind.zero_at) / (ind.full_marks_at - ind.zero_at)
    return ind.weight * np.where(np.isnan(pos), 1.0, np.clip(pos, 0.0, 1.0))


def _scores(ev: EvaluationSpec, per_rep: pd.DataFrame, level: str) -> pd.DataFrame:
    """Per unit and replication: points per indicator and the total."""
    out = pd.DataFrame({"unit": per_rep.index, "replication": per_rep["replication"].to_numpy()})
    total = np.zeros(len(out))
    for iid, ind in ev.indicators.items():
        pts = indicator_points(ind, per_rep[ind.kpi].to_numpy(dtype=float))
        out[f"points_{iid}"] = pts
        total += pts
    out["score"] = total
    return out


def rank_range(ranks: np.ndarray) -> tuple[int, int]:
    """The 95% range of a unit's rank over replications, as ranks that happened (2.5% and 97.5% points
    without interpolation: ranks 1 and 52 in two replications give 1-52, not 2-51)."""
    return int(np.percentile(ranks, 2.5, method="lower")), int(np.percentile(ranks, 97.5, method="higher"))


def scorecards(scenario: Scenario, runs: Replications, level: str) -> pd.DataFrame:
    """One row per community or street: score (mean, 95% CI), rank range, points per indicator, flag."""
    ev = scenario.spec.evaluation
    if ev is None:
        raise ValueError("the scenario has no evaluation section")
    per = _scores(ev, runs.group_per_rep(level), level)
    per["rank"] = per.groupby("replication")["score"].rank(ascending=False, method="min")
    rows = []
    most = sum(i.weight for i in ev.indicators.values()) or 1.0
    for unit, g in per.groupby("unit", sort=False):
        # on the scale of the attainable points, so the interval stays within [0, all points]
        m, lo, hi = (most * v for v in confidence_interval(g["score"].to_numpy() / most, bounds="share"))
        below = float((g["score"] < ev.threshold_points).mean())
        best, worst = rank_range(g["rank"].to_numpy())
        row = {
            level: unit,
            "score": m,
            "score_ci95_low": lo,
            "score_ci95_high": hi,
            "rank_best": best,
            "rank_worst": worst,
            "share_of_replications_below_threshold": below,
            "likely_below_threshold": below > 0.5,
            "mean_below_threshold": bool(m < ev.threshold_points),
            "replications": len(g),
        }
        for iid in ev.indicators:
            row[f"points_{iid}"] = float(g[f"points_{iid}"].mean())
        rows.append(row)
    return pd.DataFrame(rows).sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def below_words(cards: pd.DataFrame, threshold: float) -> str:
    """How many units are likely below the threshold, with the rule, and how many score below it on average."""
    reps = int(cards["replications"].max()) if len(cards) else 0
    rule = "in both" if reps == 2 else f"in more than half of the {reps}"
    return (
        f"likely below {threshold:g} points (below it {rule} replications): {int(cards.likely_below_threshold.sum())}; "
        f"mean score below it: {int(cards.mean_below_threshold.sum())}"
    )

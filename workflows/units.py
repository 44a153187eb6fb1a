"""Per-unit estimates over replications, and the rule that says a unit misses a target.

A community (or street office) *misses* a target when the mean of its simulated value over the
replications is below it: the point estimate, the rule simulation-optimisation cuts by and the
report counts by. It is *surely below* when its whole 95% interval is. Until plans carry a stated
probability of holding, the point estimate is the honest rule: with 2-3 replications an interval's
upper end is far above the mean, so "its interval reaches the target" accepted nearly every unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.replications import confidence_interval, kpi_range

__all__ = ["unit_estimates", "unit_means", "unit_misses", "share_misses", "below_target_counts"]


def unit_estimates(per_rep: pd.DataFrame, ids: tuple[str, ...] | list[str], column: str) -> pd.DataFrame:
    """Per unit (rows in ``ids`` order): mean of ``column`` over replications and its 95% interval
    (NaN where the unit has no value, e.g. no case)."""
    out = np.full((len(ids), 3), np.nan)
    for i, x in _values_by_unit(per_rep, ids, column):
        out[i] = confidence_interval(x, bounds=kpi_range(column))
    return pd.DataFrame(out, index=pd.Index(list(ids)), columns=["mean", "ci95_low", "ci95_high"])


def unit_means(per_rep: pd.DataFrame, ids: tuple[str, ...] | list[str], column: str) -> np.ndarray:
    """``unit_estimates(...)["mean"]`` without the intervals: the same numbers (each the mean of the unit's
    values that are not NaN, as ``confidence_interval`` takes it), at a tenth of the time (the loop asks
    for it for every unit, round after round)."""
    out = np.full(len(ids), np.nan)
    for i, values in _values_by_unit(per_rep, ids, column):
        x = np.asarray(values, dtype=float)
        x = x[~np.isnan(x)]
        if len(x):
            out[i] = float(x.mean())
    return out


def _values_by_unit(per_rep: pd.DataFrame, ids: tuple[str, ...] | list[str], column: str):
    """(position, the unit's values over replications) for each unit of ``ids`` (none without ``column``)."""
    if column not in per_rep.columns:
        return
    values = {k: g.to_numpy() for k, g in per_rep.groupby(level=0)[column]}
    for i, uid in enumerate(ids):
        yield i, values.get(uid, np.array([]))


def unit_misses(
    per_rep: pd.DataFrame, ids: tuple[str, ...], column: str, target: float
) -> tuple[np.ndarray, np.ndarray]:
    """Units whose mean simulated ``column`` is below ``target`` (see the module docstring), and the means."""
    means = unit_means(per_rep, ids, column)
    return np.asarray(means < target), means


def share_misses(
    per_rep: pd.DataFrame, ids: tuple[str, ...], column: str, target: float, cases: str = "cases"
) -> tuple[np.ndarray, np.ndarray]:
    """Units whose mean simulated share ``column`` is below ``target`` by more than two binomial standard
    errors of all their simulated cases (``sqrt(t (1 - t) / cases)``), and the means.

    For a share an allocation is *planned* to reach exactly (the fund a resolution target needs), the point
    estimate alone sits below the target half of the time however many replications: the loop would chase
    noise. The allowance comes from the case count, not the replications' spread, so it does not widen at
    2-3 replications as a Student t interval would (a community with 6,000 simulated cases: 0.6 points)."""
    means = unit_means(per_rep, ids, column)
    n = per_rep.groupby(level=0)[cases].sum().reindex(list(ids)).fillna(0).to_numpy() if cases in per_rep else None
    if n is None:
        return np.asarray(means < target), means
    with np.errstate(invalid="ignore", divide="ignore"):
        allowance = 2 * np.sqrt(target * (1 - target) / np.where(n > 0, n, np.nan))
    return np.asarray(means < target - np.nan_to_num(allowance, nan=0.0)), means


def below_target_counts(per_rep: pd.DataFrame, ids: tuple[str, ...], column: str, target: float) -> dict:
    """How many units there are, how many are below ``target`` (mean) and how many surely (whole interval)."""
    est = unit_estimates(per_rep, ids, column)
    return {
        "units": int(est["mean"].notna().sum()),
        "below_target": int((est["mean"] < target).sum()),
        "surely_below_target": int((est["ci95_high"] < target).sum()),  # NaN (one replication) is not sure
    }

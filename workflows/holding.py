"""How often a unit meets a target, from simulated years: the value a plan must reach for a target to hold
with a stated probability, and the check of that frequency on fresh years.

**The p-level value.** A unit's KPI in a simulated year of variant v (the scenario itself, a surge, demand
growth) is taken as normal with the mean ``mu_v`` of its replications and a predictive spread
``sigma_v`` (below). Its target T holds in a year drawn from the variants (equal weights) with probability
``P(delta) = mean_v Phi((mu_v + delta - T) / sigma_v)`` if its KPI moved by ``delta``. The p-level value
``nu = T - delta*``, with ``P(delta*) = p``, is what the planning models must reach instead of the mean: a
unit holds at probability p exactly when ``nu >= T``, and ``mu_base - nu`` is its **margin**, how far above
the target its expected value (in the scenario itself) must be planned. Without a probability (the mean
rule of ``workflows.units``) ``nu`` is the scenario's mean.

**The spread.** Few replications give a poor variance per unit, so each unit's sample variance is pooled
with a prior of ``PRIOR_DF`` degrees of freedom: for a share of cases (resolution, on-time) the binomial
variance of its cases times a dispersion fitted over all units of the variant (fund exhaustion and the
calendar spread a year's share more than coin flips do); for duty coverage the median variance of the
variant's units whose coverage moves. The predictive spread of one more year is
``sigma sqrt(1 + 1/R)``.

**The check.** On fresh replications, the share of unit-years meeting each target, with its Wilson 95%
interval: the stated probability holds (within the interval) when the interval's upper end reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["UnitSamples", "unit_samples", "p_level", "wilson", "PRIOR_DF", "hold_frequency"]

PRIOR_DF = 4.0  # pseudo-replications of the prior variance pooled with each unit's own
MIN_SD = 1e-4  # a unit whose years never differ still has some spread (a year not simulated can differ)


@dataclass(frozen=True)
class UnitSamples:
    """One KPI per unit, replication and variant: ``values[v]`` and ``cases[v]`` are (units, replications)."""

    kpi: str
    values: list[np.ndarray]
    cases: list[np.ndarray] | None  # per variant, the unit's cases (shares of cases); None: not a share of cases


def unit_samples(per_rep: list[pd.DataFrame], ids: tuple[str, ...], kpi: str, share_of_cases: bool) -> UnitSamples:
    """``per_rep``: per variant, ``Replications.group_per_rep`` of the units' level (index: unit id, column
    ``replication``). Units without a value in a replication (no case) are NaN there."""
    values, cases = [], []
    for df in per_rep:
        reps = sorted(df["replication"].unique())
        v = np.full((len(ids), len(reps)), np.nan)
        n = np.zeros((len(ids), len(reps)))
        pos = {u: i for i, u in enumerate(ids)}
        rix = {r: j for j, r in enumerate(reps)}
        rows = np.array([pos.get(u, -1) for u in df.index])
        cols = np.array([rix[r] for r in df["replication"]])
        ok = rows >= 0
        if kpi in df:
            v[rows[ok], cols[ok]] = df[kpi].to_numpy(float)[ok]
        if "cases" in df:
            n[rows[ok], cols[ok]] = df["cases"].to_numpy(float)[ok]
        values.append(v)
        cases.append(n)
    return UnitSamples(kpi, values, cases if share_of_cases else None)


def _spread(s: UnitSamples) -> list[np.ndarray]:
    """Per variant, each unit's predictive standard deviation of one more year (see the module docstring)."""
    out = []
    for k, v in enumerate(s.values):
        reps = np.sum(~np.isnan(v), axis=1)
        mu = np.nanmean(np.where(np.isnan(v), np.nan, v), axis=1) if v.size else np.zeros(len(v))
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(reps > 1, np.nanvar(v, axis=1, ddof=1) if v.shape[1] > 1 else 0.0, np.nan)
            if s.cases is not None:
                n = np.nanmean(np.where(s.cases[k] > 0, s.cases[k], np.nan), axis=1)
                binom = mu * (1 - mu) / n
                usable = np.isfinite(var) & (binom > 0)
                phi = float(np.sum(var[usable]) / np.sum(binom[usable])) if usable.any() else 1.0
                prior = np.maximum(phi, 1e-3) * np.where(np.isfinite(binom), binom, 0.0)
            else:
                moving = np.isfinite(var) & (var > 0)
                prior = np.full(len(v), float(np.median(var[moving])) if moving.any() else MIN_SD**2)
        df = np.maximum(reps - 1, 0)
        pooled = (df * np.nan_to_num(var) + PRIOR_DF * prior) / (df + PRIOR_DF)
        out.append(np.maximum(np.sqrt(pooled * (1 + 1 / np.maximum(reps, 1))), MIN_SD))
    return out


def p_level(s: UnitSamples, target: float, probability: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit: the p-level value ``nu``, the probability its target holds as planned (``P(0)``), and the
    mean in the first variant (the scenario itself). ``probability`` None: the mean rule (``nu`` = that
    mean, the first variant only). Units with no value anywhere get NaN."""
    mus = [np.nanmean(v, axis=1) if v.shape[1] else np.full(len(v), np.nan) for v in s.values]
    base = mus[0]
    sds = _spread(s)
    mu = np.column_stack(mus)
    sd = np.column_stack(sds)
    has = ~np.isnan(mu)

    def prob(delta: np.ndarray) -> np.ndarray:
        z = stats.norm.cdf((mu + delta[:, None] - target) / sd)
        with np.errstate(invalid="ignore"):
            return np.nansum(np.where(has, z, 0.0), axis=1) / np.maximum(has.sum(axis=1), 1)

    held = prob(np.zeros(len(base)))
    if probability is None:
        return base, held, base
    lo, hi = np.full(len(base), -2.0), np.full(len(base), 2.0)
    for _ in range(60):  # P is increasing in delta: bisection, every unit at once
        mid = (lo + hi) / 2
        up = prob(mid) < probability
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    nu = np.where(has.any(axis=1), target - (lo + hi) / 2, np.nan)
    return nu, held, base


def wilson(hits: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a frequency ``hits / n``, within [0, 1] (its ends are exactly 0 or 1 at
    ``hits`` 0 or ``n``; rounding would put them a hair outside)."""
    if n <= 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(0.5 + level / 2))
    f = hits / n
    centre = (f + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(f * (1 - f) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def hold_frequency(s: UnitSamples, target: float) -> tuple[float, int, int]:
    """The share of unit-years (units with a value, every replication of every variant) meeting ``target``:
    (share, hits, unit-years)."""
    v = np.concatenate([x.ravel() for x in s.values])
    v = v[~np.isnan(v)]
    hits = int(np.sum(v >= target - 1e-12))
    return (hits / len(v) if len(v) else float("nan")), hits, len(v)

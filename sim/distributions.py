"""Bulk sampling of service-time distributions, parametrised by mean and coefficient of variation."""

from __future__ import annotations

import numpy as np

from scenario.spec import CostSpec, DistributionSpec

__all__ = ["sample", "mean_and_variance", "from_uniforms", "from_uniforms_by"]


def mean_and_variance(d: DistributionSpec) -> tuple[float, float]:
    """Theoretical mean and variance (hours, hours²)."""
    cv = {"exponential": 1.0, "fixed": 0.0}.get(d.kind, d.cv)
    return d.mean_hours, (cv * d.mean_hours) ** 2


def sample(d: DistributionSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws in working hours."""
    m = d.mean_hours
    if d.kind == "fixed":
        return np.full(n, m)
    if d.kind == "exponential":
        return rng.exponential(m, n)
    if d.cv == 0:
        return np.full(n, m)
    if d.kind == "lognormal":
        s2 = np.log1p(d.cv**2)
        return rng.lognormal(np.log(m) - s2 / 2, np.sqrt(s2), n)
    shape = 1.0 / d.cv**2  # gamma
    return rng.gamma(shape, m / shape, n)


def from_uniforms(d: DistributionSpec | CostSpec, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws from given uniforms (keeps common random numbers aligned by case), in the
    distribution's unit (hours, or yuan for a ``CostSpec``)."""
    m = d.mean
    if d.kind == "fixed" or (d.kind != "exponential" and d.cv == 0):
        return np.full(u.shape, m)
    if d.kind == "exponential":
        return -m * np.log1p(-u)
    if d.kind == "lognormal":
        from scipy import special  # not scipy.stats: a second of start-up

        s2 = np.log1p(d.cv**2)
        return np.exp(np.log(m) - s2 / 2 + np.sqrt(s2) * special.ndtri(u))
    from scipy import stats

    shape = 1.0 / d.cv**2
    return stats.gamma.ppf(u, shape, scale=m / shape)


def from_uniforms_by(dists: list[DistributionSpec], group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``from_uniforms(dists[g], u[i])`` for each element ``i`` of group ``g``: the same numbers, each kind of
    distribution worked out for all its groups at once (a year's service times: one inverse normal CDF for
    every lognormal category, not one per category). Each group's parameters are the scalars
    ``from_uniforms`` computes, so every element gets the same operations on the same operands."""
    out = np.empty(u.shape)
    kinds = ["fixed" if d.kind == "fixed" or (d.kind != "exponential" and d.cv == 0) else d.kind for d in dists]
    for kind in sorted(set(kinds)):
        of_kind = np.array([k == kind for k in kinds])
        rows = slice(None) if of_kind.all() else of_kind[group]  # one kind for all: no copies
        g, x = group[rows], u[rows]
        if kind == "gamma":  # scipy's ppf takes one shape at a time
            at = np.arange(len(u))[rows]
            for j in np.flatnonzero(of_kind).tolist():
                out[at[g == j]] = from_uniforms(dists[j], x[g == j])
            continue
        m = [d.mean for d in dists]
        if kind == "fixed":
            out[rows] = np.array(m, dtype=float)[g]
        elif kind == "exponential":
            out[rows] = np.array([-mj for mj in m], dtype=float)[g] * np.log1p(-x)
        else:  # lognormal
            from scipy import special

            s2 = [np.log1p(d.cv**2) for d in dists]
            a = np.array([np.log(mj) - s2j / 2 for mj, s2j in zip(m, s2)], dtype=float)
            b = np.array([np.sqrt(s2j) for s2j in s2], dtype=float)
            out[rows] = np.exp(a[g] + b[g] * special.ndtri(x))
    return out

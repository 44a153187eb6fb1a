"""Bulk sampling of service-time distributions, parametrised by mean and coefficient of variation."""

from __future__ import annotations

import numpy as np

from scenario.spec import CostSpec, DistributionSpec

__all__ = ["sample", "mean_and_variance", "from_uniforms"]


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

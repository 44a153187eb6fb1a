"""Demand over the horizon: the relative intensity of every hour, and the surge days."""

from __future__ import annotations

import numpy as np

from scenario.load import Scenario

__all__ = ["hourly_profile", "surge_days"]

_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def hourly_profile(scenario: Scenario, days: int) -> np.ndarray:
    """Relative intensity of each hour of the horizon (mean 1 without surges)."""
    d = scenario.spec.demand
    hw = np.asarray(d.hour_of_day_weights, float)
    dw = np.asarray(d.day_of_week_weights, float)
    mw = np.asarray(d.month_weights, float)
    hw, dw, mw = hw / hw.mean(), dw / dw.mean(), mw / mw.mean()
    day = np.arange(days)
    weekday = (scenario.spec.calendar.start_weekday + day) % 7
    month = np.searchsorted(np.cumsum(_MONTH_DAYS), day % 365, side="right")
    daily = dw[weekday] * mw[month]
    for s in d.surges:
        daily[s.start_day : s.start_day + s.length_days] *= s.multiplier
    return (daily[:, None] * hw[None, :]).ravel()


def surge_days(scenario: Scenario, days: int) -> np.ndarray:
    """Per day of the horizon: whether a surge episode is on."""
    flag = np.zeros(days, bool)
    for s in scenario.spec.demand.surges:
        flag[s.start_day : s.start_day + s.length_days] = True
    return flag

"""The scenario's ``workforce:`` section: how the people in post change from year to year.

A multi-year plan (``gridplan plan``) starts from the people in post today (the baseline allocation's
headcount, by post and level from ``headcount_table`` or generated from the pay table's shares) and moves
them year by year: a share leaves each year (attrition, by post), survivors move up one pay level with a
yearly probability (promotion, by post), new people join at ``hire_level`` after ``hiring_lead_months``,
a district recruits at most a share of its headcount a year, a community loses at most a share of its
workers to moves within its district a year, pay rises a share a year on top of seniority, and demand and
budgets grow a share a year. Every field has a default, and a plan lists which figures came from the
scenario and which are defaults (assumptions either way).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from scenario.specbase import Frozen, Ident, Share

__all__ = ["WorkforceSpec", "WORKFORCE_DEFAULT_SOURCE"]

Growth = Annotated[float, Field(ge=-0.5, le=1.0)]  # a share a year; negative: decline

WORKFORCE_DEFAULT_SOURCE = (
    "gridplan's default (an ASSUMPTION: the source gives no attrition, promotion, lead time or growth)"
)


class WorkforceSpec(Frozen):
    """How the people in post change from one plan year to the next (``gridplan plan``).

    Each year a share of every post leaves, survivors below the top level move up one level with a yearly
    probability, and joiners start at ``hire_level``; a new post counts ``hiring_lead_months`` after it is
    opened; moves stay within a district. ``headcount_table``: CSV ``post,level,workers`` (levels 1 to
    ``pay.levels``) of the community workers in post today, city-wide, summing to the baseline's workers;
    without it, today's workers are spread over posts and levels by the pay table's shares (largest
    remainders), a generated default the plan states. ``recruits_max_share_per_year``: the people a district
    can recruit in a year (community workers and street party-office staff) as a share of its headcount at
    the start of the year; none: no limit.
    """

    headcount_table: str | None = None
    attrition_share_per_year: Share = 0.08
    attrition_share_per_year_by_post: dict[Ident, Share] = {}
    promotion_share_per_year: Share = 0.5
    promotion_share_per_year_by_post: dict[Ident, Share] = {}
    hire_level: Annotated[int, Field(ge=1, le=100)] = 1
    street_staff_attrition_share_per_year: Share = 0.08
    hiring_lead_months: Annotated[int, Field(ge=0, le=36)] = 6
    recruits_max_share_per_year: Share | None = None
    moves_max_share_per_year: Share = 0.05
    pay_rise_share_per_year: Growth = 0.0
    demand_growth_share_per_year: Growth = 0.0
    budget_growth_share_per_year: Growth = 0.0
    source: str = ""

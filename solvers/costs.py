"""Cost of an allocation by funder.

Assumptions (stated in the README and reports): every community worker costs the
mean of the "3 posts, 18 levels" pay table weighted by the scenario's post and
level mix (or, when the scenario has a ``workforce.headcount_table``, the average
pay of the people in it: ``Scenario.mean_worker_cost_yuan``); the city pays
``city_paid_workers_per_community`` posts in every community (or all its workers
if it has fewer); the district of the community pays the remaining workers, the
work fund and the service fund; the district of the street pays its party-office
staff and mobile grid workers' allowances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenario.allocation import Allocation
from scenario.load import Scenario

__all__ = ["FunderCosts", "funder_costs", "cost_per_unit", "UnitCosts", "unit_costs"]


@dataclass(frozen=True)
class FunderCosts:
    """Annual cost in yuan: ``city`` plus one entry per district."""

    city_yuan: float
    district_yuan: dict[str, float]

    @property
    def total_yuan(self) -> float:
        return self.city_yuan + sum(self.district_yuan.values())


def cost_per_unit(scenario: Scenario) -> dict[str, float]:
    """Yuan a year per unit of each allocation field: the one home of the cost formula's coefficients."""
    pay = scenario.spec.pay
    return {
        "workers": scenario.mean_worker_cost_yuan,
        "work_fund_yuan": 1.0,
        "service_fund_yuan": 1.0,
        "street_office_staff": pay.street_staff_cost_yuan_per_year,
        "mobile_grid_workers": pay.mobile_worker_allowance_yuan_per_year,
    }


@dataclass(frozen=True)
class UnitCosts:
    """Who pays what, unit by unit: the one home of the cost formula (see the module docstring)."""

    city_posts: np.ndarray  # per community: workers the city pays
    worker_yuan: float  # one worker's cost a year
    community_district_yuan: np.ndarray  # per community: what its district pays (other workers, both funds)
    street_district_yuan: np.ndarray  # per street: what its district pays (party-office staff, mobile allowances)

    @property
    def community_yuan(self) -> np.ndarray:
        """Per community: its cost to all funders (the city's posts included)."""
        return self.city_posts * self.worker_yuan + self.community_district_yuan


def unit_costs(scenario: Scenario, allocation: Allocation) -> UnitCosts:
    """Annual cost of an allocation per community and per street, split by funder."""
    per = cost_per_unit(scenario)
    unit = per["workers"]
    w = allocation.workers.astype(float)
    city_posts = np.minimum(w, scenario.spec.funding.city_paid_workers_per_community)
    community_district = (w - city_posts) * unit + allocation.work_fund_yuan + allocation.service_fund_yuan
    street_district = (
        allocation.street_office_staff * per["street_office_staff"]
        + allocation.mobile_grid_workers * per["mobile_grid_workers"]
    )
    return UnitCosts(city_posts, unit, community_district, street_district)


def funder_costs(scenario: Scenario, allocation: Allocation) -> FunderCosts:
    """Annual cost of an allocation by funder (see the module docstring for who pays what)."""
    u = unit_costs(scenario, allocation)
    nd = len(scenario.district_ids)
    by_d = np.bincount(scenario.community_district, weights=u.community_district_yuan, minlength=nd) + np.bincount(
        scenario.street_district, weights=u.street_district_yuan, minlength=nd
    )
    return FunderCosts(
        city_yuan=float(u.city_posts.sum() * u.worker_yuan),
        district_yuan={d: float(v) for d, v in zip(scenario.district_ids, by_d)},
    )

"""The workforce year by year: people by post and pay level, leavers, promotions, joiners, and the scenario
of each plan year (its pay, budgets and demand).

The model of one year (``step``), per post of the "3 posts, 18 levels" table:

1. **Leavers.** A share ``a`` of every level leaves (attrition, by post).
2. **Promotions.** A share ``p`` of the survivors below the top level moves up one level (by post).
3. **Joiners.** Posts keep their shares of the city's headcount (the establishment's shares today): a
   post's joiners are its share of next year's headcount minus its survivors, placed at ``hire_level``. When
   the city shrinks faster than a post's attrition, that post's joiners are negative: people leave it for
   another post, taken from its levels in proportion.

With a constant headcount and constant rates the levels of a post tend to the steady state
(``steady_state``): joiners ``a N`` at the hire level, each level above it ``r / (a + r)`` times the one
below (``r = (1 - a) p``: promoted and still in post), the top level ``r / a`` times the one below (nobody
is promoted out of it). A worker's average pay in a year is the pay table, raised by
``workforce.pay_rise_share_per_year`` a year, averaged over that year's levels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scenario.errors import ScenarioError
from scenario.load import Scenario, check_demand_cap

__all__ = [
    "WorkforceRates",
    "YearFlows",
    "workforce_rates",
    "initial_stock",
    "spread",
    "step",
    "project",
    "steady_state",
    "average_pay",
    "worker_costs",
    "check_growth",
    "MAX_GROWTH_FACTOR",
    "year_scenario",
    "growth_factor",
]


@dataclass(frozen=True)
class WorkforceRates:
    """The workforce section's rates, one entry per post of the pay table (in its order)."""

    post_ids: tuple[str, ...]
    attrition: np.ndarray  # (posts,) share leaving a year
    promotion: np.ndarray  # (posts,) share of survivors below the top moving up a level a year
    hire_level: int  # 0-based level joiners start at
    pay_yuan: np.ndarray  # (posts, levels) yuan a year today
    pay_rise: float  # share a year on top of the table

    @property
    def levels(self) -> int:
        return self.pay_yuan.shape[1]


@dataclass(frozen=True)
class YearFlows:
    """One year's movements by post and level: the stock after, and what left, moved up and joined."""

    stock: np.ndarray  # (posts, levels) in post after the year's joiners
    leavers: np.ndarray  # (posts, levels)
    promoted: np.ndarray  # (posts, levels): moved up from this level
    joiners: np.ndarray  # (posts,) net of moves between posts (negative: left the post for another)


def workforce_rates(scenario: Scenario) -> WorkforceRates:
    """The rates of ``scenario.spec.workforce`` (a post without its own figure takes the section's)."""
    wf, pay = scenario.spec.workforce, scenario.spec.pay
    posts = tuple(pay.posts)
    return WorkforceRates(
        post_ids=posts,
        attrition=np.array([wf.attrition_share_per_year_by_post.get(p, wf.attrition_share_per_year) for p in posts]),
        promotion=np.array([wf.promotion_share_per_year_by_post.get(p, wf.promotion_share_per_year) for p in posts]),
        hire_level=wf.hire_level - 1,
        pay_yuan=np.array([pay.posts[p].pay_yuan_per_year_by_level for p in posts], float),
        pay_rise=wf.pay_rise_share_per_year,
    )


def spread(total: int, post_shares: np.ndarray, level_shares: np.ndarray) -> np.ndarray:
    """``total`` whole people over posts x levels in proportion to the shares' product, by largest
    remainders (the cells sum to ``total`` exactly)."""
    want = total * np.outer(post_shares, level_shares) / (np.sum(post_shares) * np.sum(level_shares))
    out = np.floor(want)
    short = int(total - out.sum())
    if short > 0:
        order = np.argsort(-(want - out), axis=None, kind="stable")[:short]
        out.flat[order] += 1
    return out


def initial_stock(scenario: Scenario) -> tuple[np.ndarray, bool]:
    """Today's community workers by post and level (posts, levels) and whether they come from the scenario's
    ``workforce.headcount_table`` (False: the baseline's workers spread by the pay table's shares)."""
    if scenario.headcount_by_post_level is not None:
        return np.array(scenario.headcount_by_post_level, float), True
    pay = scenario.spec.pay
    shares = np.array([p.share for p in pay.posts.values()])
    return spread(int(scenario.baseline.workers.sum()), shares, np.array(pay.level_shares)), False


def step(stock: np.ndarray, headcount: float, rates: WorkforceRates, post_shares: np.ndarray) -> YearFlows:
    """One year (see the module docstring): ``headcount`` is next year's city-wide total."""
    a, p = rates.attrition[:, None], rates.promotion[:, None]
    leavers = stock * a
    survivors = stock - leavers
    promoted = np.zeros_like(stock)
    promoted[:, :-1] = survivors[:, :-1] * p
    after = survivors - promoted
    after[:, 1:] += promoted[:, :-1]
    joiners = post_shares * headcount - after.sum(axis=1)
    for k in range(len(joiners)):
        if joiners[k] >= 0:
            after[k, rates.hire_level] += joiners[k]
        else:  # moved to another post: taken from this post's levels in proportion
            have = after[k].sum()
            after[k] *= max(0.0, 1 + joiners[k] / have) if have > 0 else 0.0
    return YearFlows(after, leavers, promoted, joiners)


def project(stock0: np.ndarray, headcounts: list[float] | np.ndarray, rates: WorkforceRates) -> list[YearFlows]:
    """Year by year from ``stock0`` (today) with the city's headcount of each later year; posts keep today's
    shares."""
    shares = stock0.sum(axis=1) / max(stock0.sum(), 1e-12)
    out, stock = [], stock0
    for h in headcounts:
        flows = step(stock, float(h), rates, shares)
        out.append(flows)
        stock = flows.stock
    return out


def steady_state(rates: WorkforceRates, post_headcount: np.ndarray) -> np.ndarray:
    """The levels each post tends to with ``post_headcount`` people and constant rates (the closed form of
    the module docstring), (posts, levels). A post nobody leaves ends at the top level (or, with no
    promotion either, has no steady state of its own: NaN)."""
    levels, h = rates.levels, rates.hire_level
    out = np.zeros((len(rates.post_ids), levels))
    for k, n in enumerate(post_headcount):
        a, r = rates.attrition[k], (1 - rates.attrition[k]) * rates.promotion[k]
        if h == levels - 1 or (a == 0 and r > 0):
            out[k, -1 if a == 0 else h] = n
            continue
        if a == 0:
            out[k] = np.nan
            continue
        x = np.zeros(levels)
        x[h] = a / (a + r)
        for lv in range(h + 1, levels - 1):
            x[lv] = x[lv - 1] * r / (a + r)
        x[-1] = x[-2] * r / a
        out[k] = n * x
    return out


def average_pay(stock: np.ndarray, rates: WorkforceRates, year: int) -> float:
    """A worker's average pay in ``year`` (0 = today): the table raised by the pay rise, over ``stock``."""
    people = stock.sum()
    if people <= 0:
        return float(np.mean(rates.pay_yuan)) * growth_factor(rates.pay_rise, year)
    return float((stock * rates.pay_yuan).sum() / people) * growth_factor(rates.pay_rise, year)


def worker_costs(scenario: Scenario, stock0: np.ndarray, stocks: list[np.ndarray], rates: WorkforceRates) -> np.ndarray:
    """A worker's average cost in year 0 (today) and each later year: year 0 is ``Scenario.mean_worker_cost_yuan``,
    the figure every other command costs today's workers at (so a plan's year 0 costs what ``gridplan check``
    says; a generated headcount, whole people spread by the pay table's shares, would differ from it by a few
    yuan); each later year moves from it as the stock's average pay does (its level mix after promotions,
    leavers and joiners, and the pay rise)."""
    today = scenario.mean_worker_cost_yuan
    pays = np.array([average_pay(stock0, rates, 0)] + [average_pay(x, rates, t + 1) for t, x in enumerate(stocks)])
    if pays[0] <= 0:  # no pay at all today: nothing to move from
        return pays
    return today * (pays / pays[0])


# a plan's growth may compound to at most this factor of today's figure, or down to its inverse: beyond it a
# year's pay, budget or demand is no longer a projection of the city the scenario describes
MAX_GROWTH_FACTOR = 100.0


def check_growth(scenario: Scenario, years: int) -> None:
    """Refuse workforce growth rates that compound, over ``years``, past ``MAX_GROWTH_FACTOR`` (either way) or
    take the last year's demand past the cases a year a simulation can hold.

    Raises:
        ScenarioError: one line naming the scenario file, the field, its value and the year it goes wrong.
    """
    wf = scenario.spec.workforce
    for name in ("pay_rise_share_per_year", "budget_growth_share_per_year", "demand_growth_share_per_year"):
        g = getattr(wf, name)
        f = growth_factor(g, years)
        if not 1 / MAX_GROWTH_FACTOR <= f <= MAX_GROWTH_FACTOR:
            raise ScenarioError(
                f"{scenario.path}: field 'workforce.{name}' ({g:g}) compounds to {f:.3g} x today's figure by year "
                f"{years}; a plan's growth must stay within {1 / MAX_GROWTH_FACTOR:g} to {MAX_GROWTH_FACTOR:g} x "
                "today's (fewer years or a smaller rate)"
            )
    if wf.demand_growth_share_per_year > 0:
        last = year_scenario(scenario, years, scenario.mean_worker_cost_yuan)
        check_demand_cap(
            last,
            f"{scenario.path}: field 'workforce.demand_growth_share_per_year' ({wf.demand_growth_share_per_year:g}) "
            f"in year {years}",
        )


def growth_factor(share_per_year: float, year: int) -> float:
    """``(1 + share) ** year``: a yearly growth compounded from today (year 0)."""
    return float((1.0 + share_per_year) ** year)


def year_scenario(scenario: Scenario, year: int, worker_cost_yuan: float) -> Scenario:
    """The scenario of plan year ``year`` (0 = today): every post's pay scaled so that a worker costs
    ``worker_cost_yuan`` on average, street staff's cost and the mobile allowance raised by the pay rise,
    every budget by the budget growth and every channel's rate by the demand growth (in memory)."""
    spec = scenario.spec
    wf, pay = spec.workforce, spec.pay
    if year == 0 and abs(worker_cost_yuan - scenario.mean_worker_cost_yuan) < 1e-6:
        return scenario
    # a later year's scenario has no headcount table (today's people): its workers cost the scaled pay table
    f = worker_cost_yuan / pay.mean_worker_cost_yuan_per_year
    rise = growth_factor(wf.pay_rise_share_per_year, year)
    budget = growth_factor(wf.budget_growth_share_per_year, year)
    demand = growth_factor(wf.demand_growth_share_per_year, year)
    posts = {
        k: p.model_copy(update={"pay_yuan_per_year_by_level": tuple(x * f for x in p.pay_yuan_per_year_by_level)})
        for k, p in pay.posts.items()
    }
    new_pay = pay.model_copy(
        update={
            "posts": posts,
            "street_staff_cost_yuan_per_year": pay.street_staff_cost_yuan_per_year * rise,
            "mobile_worker_allowance_yuan_per_year": pay.mobile_worker_allowance_yuan_per_year * rise,
        }
    )
    funding = spec.funding.model_copy(
        update={
            k: None if getattr(spec.funding, k) is None else getattr(spec.funding, k) * budget
            for k in ("city_budget_yuan", "total_budget_yuan")
        }
    )
    districts = tuple(
        d.model_copy(update={"budget_yuan": None if d.budget_yuan is None else d.budget_yuan * budget})
        for d in spec.districts
    )
    channels = {
        k: c.model_copy(update={"rate_per_10k_per_day": c.rate_per_10k_per_day * demand})
        for k, c in spec.demand.channels.items()
    }
    new_spec = spec.model_copy(
        update={
            "pay": new_pay,
            "funding": funding,
            "districts": districts,
            "demand": spec.demand.model_copy(update={"channels": channels}),
        }
    )
    return replace(scenario, spec=new_spec, headcount_by_post_level=None)

"""What the allocator expects residents to see: resolution and satisfaction against the fund and the visits.

The simulation's rules (``sim.outcomes``) in expectation, per community, linear wherever the LP needs them:

* **Resolution at closure** ``R = A + B x funded - Lr x late``: ``A`` with no fix paid (each category's
  escalation mix of closing levels and their probabilities; unpaid fixes go to the city or close, by the
  fund section's shares; volunteers' cases at their own probability), ``B`` what paying every fix adds (a
  paid fix above the approval limit closes at the street office), ``late`` the share of cases found late,
  each resolved ``resolution_factor`` times as often. A reopened visit resolves ``revisit`` of what is left:
  the resolution rate is ``q + (1 - q) R``.
* **The funded share** of a community's fixes with fund ``F`` a year: ``E[min(F, X)] / E[X]`` with ``X`` the
  year's asks, normal with the compound-Poisson mean and variance of its categories' costs (concave in
  ``F``: the LP bounds it by tangents). The quarterly release and the seasons are left to the
  simulation; ``refit`` moves each community's level to what the simulation shows.
* **Found late**: hours of duties left undone fall on the duties with the longest due window first (the daily
  account works the most urgent first); the share of cases found late is that duty's ``finds`` share of the
  community's grid-channel problems times the share of its hours left undone. Linear while less than that
  duty's hours are left undone (Weihai: ordinary visits, about 13% of duty hours): beyond it the allocator
  underestimates the harm, and the simulation shows it.
* **Satisfaction** ``S = 1 - unsatisfied_base - unsatisfied_if_unresolved x (1 - R) - unsatisfied_extra x
  late``; lateness (days late) is left to the refit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import special  # not scipy.stats: its import is most of a second of every planning command

from scenario.load import Scenario
from scenario.spec import CostSpec
from scenario.staffing import annual_cases, staff_time, volunteer_share

__all__ = ["OutcomeCurves", "outcome_curves", "share_above"]

_SQRT_2PI = np.sqrt(2 * np.pi)


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    """``stats.norm.pdf`` to the bit (its formula), without the generic distribution's argument handling: the
    fund's bisection calls it 128 times on 100,000 communities at national scale."""
    return np.exp(-(z**2) / 2.0) / _SQRT_2PI


def _norm_sf(z: np.ndarray) -> np.ndarray:
    """``stats.norm.sf`` to the bit (its formula), likewise."""
    return special.ndtr(-z)


_TANGENTS = np.array([0.0, 0.25, 0.5, 0.7, 0.85, 0.95, 1.0, 1.05, 1.15, 1.3, 1.6, 2.0, 3.0])  # x money asked


def share_above(cost: CostSpec, limit: float | None) -> float:
    """P(one fix costs more than ``limit``)."""
    if limit is None:
        return 0.0
    m = cost.mean_yuan
    if cost.kind == "fixed" or (cost.kind != "exponential" and cost.cv == 0):
        return float(m > limit)
    if cost.kind == "exponential":
        return float(np.exp(-limit / m))
    if cost.kind == "lognormal":
        s2 = np.log1p(cost.cv**2)
        return float(_norm_sf((np.log(limit) - (np.log(m) - s2 / 2)) / np.sqrt(s2)))
    shape = 1.0 / cost.cv**2
    if limit <= 0:  # all of a gamma's mass is above 0 (scipy.stats.gamma.sf's support)
        return 1.0
    return float(special.gammaincc(shape, limit / (m / shape)))  # scipy.stats.gamma.sf's own function


def _second_moment(cost: CostSpec) -> float:
    cv = {"exponential": 1.0, "fixed": 0.0}.get(cost.kind, cost.cv)
    return cost.mean_yuan**2 * (1.0 + cv**2)


@dataclass(frozen=True)
class OutcomeCurves:
    """Per community (arrays of length communities): the linear model of the module docstring."""

    cases: np.ndarray  # cases a year (volunteers' included)
    res_base: np.ndarray  # A: resolution at closure with no fix paid, everything found early
    res_per_funded: np.ndarray  # B
    res_per_late: np.ndarray  # Lr: resolution lost per unit of found-late share
    money_yuan: np.ndarray  # expected fixes' cost a year
    money_sd_yuan: np.ndarray
    late_per_undone_hour: np.ndarray  # found-late share per hour a year of duties left undone
    late_max: np.ndarray  # that duty's share of cases found at most
    revisit: float  # q
    unsat_base: float
    unsat_unresolved: float
    unsat_late: float
    res_offset: np.ndarray  # from the simulation (refit); 0 in theory
    sat_offset: np.ndarray
    source: str = "theory"

    @property
    def active(self) -> bool:
        """Whether anything the allocator decides moves these outcomes (money or duties)."""
        return bool((self.res_per_funded > 0).any() or (self.late_per_undone_hour > 0).any())

    def funded_share(self, fund_yuan: np.ndarray) -> np.ndarray:
        """Expected share of fixes paid with ``fund_yuan`` a year (1 where nothing costs money)."""
        return self._phi_v(np.asarray(fund_yuan, float))

    def fund_cuts(self) -> tuple[np.ndarray, np.ndarray]:
        """Tangents bounding each community's funded share from above: (intercepts, slopes per yuan), each
        (communities, tangents); a community whose fixes cost nothing gets the line 1."""
        d = self.money_yuan[:, None]
        x = _TANGENTS[None, :] * d
        value = self._phi_v(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(d > 0, _norm_sf((x - d) / self._sd[:, None]) / np.where(d > 0, d, 1.0), 0.0)
        return np.where(d > 0, value - slope * x, 1.0), slope

    def resolution_first(self, fund_yuan: np.ndarray, late: np.ndarray | float = 0.0) -> np.ndarray:
        return self.res_base + self.res_per_funded * self.funded_share(fund_yuan) - self.res_per_late * late

    def resolution(self, fund_yuan: np.ndarray, late: np.ndarray | float = 0.0) -> np.ndarray:
        """Expected resolution rate (reopened visits included)."""
        r = self.resolution_first(fund_yuan, late)
        return np.clip(self.revisit + (1 - self.revisit) * r + self.res_offset, 0.0, 1.0)

    def satisfaction(self, fund_yuan: np.ndarray, late: np.ndarray | float = 0.0) -> np.ndarray:
        r = self.resolution_first(fund_yuan, late)
        s = 1.0 - self.unsat_base - self.unsat_unresolved * (1 - r) - self.unsat_late * late
        return np.clip(s + self.sat_offset, 0.0, 1.0)

    def min_funded(self, resolution: float | None, satisfaction: float | None) -> np.ndarray:
        """Per community: the funded share the targets need with everything found early (0: none; > 1:
        unreachable however much money)."""
        need = np.zeros(len(self.cases))
        with np.errstate(invalid="ignore", divide="ignore"):
            b = np.where(self.res_per_funded > 0, self.res_per_funded, np.nan)
            if resolution is not None:
                r_first = (resolution - self.res_offset - self.revisit) / (1 - self.revisit)
                need = np.fmax(need, (r_first - self.res_base) / b)
                need = np.where(np.isnan(b) & (self.resolution(np.zeros_like(need)) < resolution - 1e-12), 2.0, need)
            if satisfaction is not None and self.unsat_unresolved > 0:
                r_first = 1 - (1 - self.unsat_base - satisfaction + self.sat_offset) / self.unsat_unresolved
                need = np.fmax(need, (r_first - self.res_base) / b)
                need = np.where(
                    np.isnan(b) & (self.satisfaction(np.zeros_like(need)) < satisfaction - 1e-12), 2.0, need
                )
        return np.nan_to_num(np.maximum(need, 0.0), nan=0.0)

    def min_fund_yuan(self, funded: np.ndarray) -> np.ndarray:
        """Per community: the fewest yuan a year giving at least ``funded`` (inf where ``funded`` >= 1)."""
        want = np.asarray(funded, float)
        lo = np.zeros(len(want))
        hi = np.maximum(self.money_yuan, 1.0)
        reach = want < 1 - 1e-9
        for _ in range(80):  # double until enough (the share tends to 1)
            short = reach & (self._phi_v(hi) < want)
            if not short.any():
                break
            hi = np.where(short, hi * 2, hi)
        for _ in range(60):  # bisection, every community at once
            mid = (lo + hi) / 2
            low = self._phi_v(mid) < want
            lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
        return np.where(want <= 0, 0.0, np.where(reach, hi, np.inf))

    @property
    def _sd(self) -> np.ndarray:
        return np.maximum(self.money_sd_yuan, 1e-9)

    def _phi_v(self, f: np.ndarray) -> np.ndarray:
        """The funded share at ``f`` yuan (communities along the first axis)."""
        d = self.money_yuan if f.ndim == 1 else self.money_yuan[:, None]
        sd = self._sd if f.ndim == 1 else self._sd[:, None]
        z = (f - d) / sd
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (d - (sd * _norm_pdf(z) - (f - d) * _norm_sf(z))) / np.where(d > 0, d, 1.0)
        return np.where(d > 0, np.clip(share, 0.0, 1.0), 1.0)

    def refit(
        self, fund_yuan: np.ndarray, late: np.ndarray, resolution: np.ndarray, satisfaction: np.ndarray
    ) -> OutcomeCurves:
        """Offsets so that each community's predictions pass through its simulated rates (NaN: kept)."""
        base = replace(self, res_offset=np.zeros_like(self.res_offset), sat_offset=np.zeros_like(self.sat_offset))
        r_off = np.where(np.isnan(resolution), self.res_offset, resolution - base.resolution(fund_yuan, late))
        s_off = np.where(np.isnan(satisfaction), self.sat_offset, satisfaction - base.satisfaction(fund_yuan, late))
        return replace(self, res_offset=r_off, sat_offset=s_off, source="theory fitted to simulation")


def outcome_curves(scenario: Scenario) -> OutcomeCurves:
    """The outcome model of ``scenario`` (see the module docstring).

    Long because it is one pass over the categories, each adding its closing-level mix, its fixes' costs and
    its unpaid path to the community arrays; split, the pieces would pass a dozen arrays between them."""
    spec = scenario.spec
    cats = list(spec.demand.categories.values())
    n = scenario.n_communities
    cases = annual_cases(scenario)
    p = np.array([c.share for c in cats])
    elig = np.array([c.volunteer_eligible for c in cats])
    vol = volunteer_share(scenario)
    staff_k = cases[:, None] * p[None, :] * (1 - elig[None, :] * vol[:, None])  # (communities, categories)
    vol_k = cases[:, None] * p[None, :] * elig[None, :] * vol[:, None]
    fund = spec.service_fund
    disc = spec.discovery
    fb = spec.ladder.feedback
    rho = np.ones(len(cats))  # resolution with no money needed
    rho_paid = np.ones(len(cats))
    unpaid = np.ones(len(cats))
    needs = np.zeros(len(cats))
    mean_cost = np.zeros(len(cats))
    second = np.zeros(len(cats))
    rv = np.ones(len(cats))
    for k, c in enumerate(cats):
        res = c.resolution
        if res is None:
            continue
        e1, e2, e3 = c.escalate_to_community, c.escalate_to_street, c.escalate_to_city
        levels = np.array([res.grid, res.community, res.street, res.city])
        closes = np.array([1 - e1, e1 * (1 - e2), e1 * e2 * (1 - e3), e1 * e2 * e3])
        rho[k] = closes @ levels
        at_street = (closes[0] + closes[1] + closes[2]) * res.street + closes[3] * res.city
        above = share_above(res.fix_cost, fund.approval_limit_yuan) if (res.fix_cost is not None and fund) else 0.0
        rho_paid[k] = (1 - above) * rho[k] + above * at_street
        unpaid[k] = (
            fund.unfunded_to_city_share * res.city + (1 - fund.unfunded_to_city_share) * fund.unfunded_resolution_share
            if fund is not None
            else rho[k]
        )
        needs[k] = res.needs_money_share
        if res.fix_cost is not None:
            mean_cost[k] = res.fix_cost.mean_yuan
            second[k] = _second_moment(res.fix_cost)
        rv[k] = res.volunteer
    total = np.maximum(cases, 1e-12)
    res_base = (staff_k @ ((1 - needs) * rho + needs * unpaid) + vol_k @ rv) / total
    res_per_funded = staff_k @ (needs * (rho_paid - unpaid)) / total
    money = staff_k @ (needs * mean_cost)
    money_sd = np.sqrt(staff_k @ (needs * second))
    late_per_hour, late_max, res_late = np.zeros(n), np.zeros(n), np.zeros(n)
    if disc is not None and spec.duties is not None:
        late_per_hour, late_max = _found_late(scenario, staff_k)
        avg = (staff_k @ rho) / np.maximum(staff_k.sum(axis=1), 1e-12)
        res_late = avg * (1 - disc.resolution_factor)
    p_unsat = min(1.0, fb.unsatisfied_base + fb.unsatisfied_if_unresolved)
    p_again = min(1.0, fb.reopen_given_unsatisfied_base + fb.reopen_if_unresolved)
    return OutcomeCurves(
        cases=cases,
        res_base=res_base,
        res_per_funded=res_per_funded,
        res_per_late=res_late,
        money_yuan=money,
        money_sd_yuan=money_sd,
        late_per_undone_hour=late_per_hour,
        late_max=late_max,
        revisit=p_unsat * p_again * fb.revisit_resolution_share,
        unsat_base=fb.unsatisfied_base,
        unsat_unresolved=fb.unsatisfied_if_unresolved,
        unsat_late=disc.unsatisfied_extra if disc is not None else 0.0,
        res_offset=np.zeros(n),
        sat_offset=np.zeros(n),
    )


def _found_late(scenario: Scenario, staff_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per community: the share of cases found late per hour a year left undone of the duty undone first (the
    grid or desk duty with the longest due window), and that duty's share of cases at most."""
    spec = scenario.spec
    duties = spec.duties
    assert duties is not None and spec.discovery is not None
    st = staff_time(scenario)
    specs = list(duties.scheduled.values())
    community = [j for j, d in enumerate(specs) if d.level in ("grid", "desk")]
    if not community:
        n = scenario.n_communities
        return np.zeros(n), np.zeros(n)
    first = max(community, key=lambda j: specs[j].window_days)
    cats = list(spec.demand.categories)
    rates = {cid: c.rate_per_10k_per_day for cid, c in spec.demand.channels.items()}
    grid_share = rates[spec.discovery.grid_channel] / sum(rates.values())
    finds = np.array([specs[first].finds.get(c, 0.0) for c in cats])
    found = staff_k @ finds * grid_share  # cases a year this duty finds
    total = np.maximum(staff_k.sum(axis=1), 1e-12)
    hours = st.duty_hours[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_hour = np.where(hours > 0, found / total / np.where(hours > 0, hours, 1.0), 0.0)
    return per_hour, found / total

"""Complaint demand: the cases of one replication, drawn in bulk.

Cases are drawn independently of the allocation, from separate random streams
per source (arrivals, marks, service times, escalations, feedback, mobile
discovery), so that two allocations of one scenario see the same complaints
(common random numbers). The allocation enters only through per-case uniforms
(mobile grid workers' discoveries), never through extra draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenario.allocation import Allocation
from scenario.load import Scenario
from scenario.profile import hourly_profile, surge_days
from scenario.staffing import volunteer_capacity
from sim.distributions import from_uniforms, from_uniforms_by

__all__ = [
    "PER_CASE",
    "Cases",
    "draw_cases",
    "apply_allocation",
    "hourly_profile",
    "surge_days",
    "STREAMS",
    "MOBILE_CHANNEL",
]

# New streams go at the end: SeedSequence.spawn keeps the earlier children, so old streams do not move.
STREAMS = (
    "arrivals",
    "marks",
    "service",
    "escalation",
    "feedback",
    "mobile",
    "volunteers",
    "absence",
    "discovery",
    "resolution",
    "money",
)
MOBILE_CHANNEL = "mobile_grid"
# The fields of ``Cases`` with one entry per case (the rest describe the replication)
PER_CASE = (
    "arrival",
    "community",
    "channel",
    "category",
    "grid",
    "service",
    "u_escalate",
    "u_feedback",
    "u_mobile",
    "volunteer",
    "u_discovery",
    "surface_delay_hours",
    "u_resolve",
    "u_money",
    "fix_cost_yuan",
)


@dataclass(frozen=True)
class Cases:
    """One replication's cases, sorted by arrival. Times in clock hours, services in working hours."""

    arrival: np.ndarray
    community: np.ndarray
    channel: np.ndarray
    category: np.ndarray
    grid: np.ndarray  # grid index within the community
    service: np.ndarray  # (n, 5): grid, community, street, city, reopened-grid
    u_escalate: np.ndarray  # (n, 3)
    u_feedback: np.ndarray  # (n, 2)
    u_mobile: np.ndarray
    volunteer: np.ndarray  # handled by volunteers (bool)
    channel_ids: tuple[str, ...]
    days: int
    # (grid pools + desks + street offices, days, 2) uniforms for daily availability; None: 0.5 (round half up)
    u_absence: np.ndarray | None = None
    # What a case buys (``sim.outcomes``); None: the neutral value (found early, resolved when it can be,
    # no money needed)
    u_discovery: np.ndarray | None = None  # (n, 2): which duty finds the problem; whether it was done
    surface_delay_hours: np.ndarray | None = None  # clock hours until a problem found late surfaces
    u_resolve: np.ndarray | None = None  # (n, 2): resolved at closure; at a reopened visit
    u_money: np.ndarray | None = None  # (n, 2): needs money; where an unfunded case goes
    fix_cost_yuan: np.ndarray | None = None  # the fix's cost where the category's fixes cost money, else 0
    twin_of: np.ndarray | None = None  # rows the engine adds: the drawn case a late-found problem is (-1: drawn)

    def __len__(self) -> int:
        return len(self.arrival)


def draw_cases(scenario: Scenario, days: int, seed_seq: np.random.SeedSequence) -> Cases:
    """Draw the cases of one replication (allocation-independent)."""
    spec = scenario.spec
    dem = spec.demand
    rng = dict(zip(STREAMS, (np.random.default_rng(s) for s in seed_seq.spawn(len(STREAMS)))))
    channels = list(dem.channels)
    rates = np.array([c.rate_per_10k_per_day for c in dem.channels.values()])
    per_hour = scenario.urban_residents / 10_000 * rates.sum() / 24.0  # per community
    profile = hourly_profile(scenario, days)
    lam = per_hour[:, None] * profile[None, :]  # (communities, hours)
    counts = rng["arrivals"].poisson(lam)
    comm, hour = np.nonzero(counts)
    k = counts[comm, hour]
    community = np.repeat(comm, k)
    arrival = np.repeat(hour.astype(float), k) + rng["arrivals"].random(int(k.sum()))
    from sim.arrivalorder import arrival_order

    order = arrival_order(arrival)  # np.argsort(arrival, kind="stable"), in linear time
    arrival, community = arrival[order], community[order]
    n = len(arrival)

    m = rng["marks"]
    channel = m.choice(len(channels), size=n, p=rates / rates.sum()) if rates.sum() > 0 else np.zeros(n, int)
    cats = list(dem.categories.values())
    category = m.choice(len(cats), size=n, p=np.array([c.share for c in cats]))
    grid = (m.random(n) * scenario.grids[community]).astype(np.int64)

    s = rng["service"]
    u = s.random((n, 5))
    travel = s.random(n) * spec.ladder.travel_minutes_max / 60.0  # uniform on [0, travel_hours_max]
    service = np.empty((n, 5))
    for col, field in enumerate(("grid_service", "community_service", "street_service", "city_delay", "grid_service")):
        service[:, col] = from_uniforms_by([getattr(c, field) for c in cats], category, u[:, col])
    service[:, 0] += travel
    service[:, 4] += travel

    volunteer = _volunteers(scenario, days, arrival, community, category, rng["volunteers"])
    u_disc, delay, u_money, cost = _outcome_draws(scenario, category, rng["discovery"], rng["money"])
    return Cases(
        arrival=arrival,
        community=community,
        channel=channel,
        category=category,
        grid=grid,
        service=service,
        u_escalate=rng["escalation"].random((n, 3)),
        u_feedback=rng["feedback"].random((n, 2)),
        u_mobile=rng["mobile"].random(n),
        volunteer=volunteer,
        u_absence=rng["absence"].random(
            (2 * scenario.n_communities + len(scenario.street_ids), days, 2), dtype=np.float32
        ),
        channel_ids=tuple(channels) + (MOBILE_CHANNEL,),
        days=days,
        u_discovery=u_disc,
        surface_delay_hours=delay,
        u_resolve=rng["resolution"].random((n, 2), dtype=np.float32),
        u_money=u_money,
        fix_cost_yuan=cost,
    )


def _outcome_draws(
    scenario: Scenario, category: np.ndarray, rng_discovery: np.random.Generator, rng_money: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a case may buy (``sim.outcomes``): discovery uniforms and the delay until a problem found late
    surfaces (clock hours); money uniforms and the fix's cost in yuan (0 where the category's fixes are free)."""
    n = len(category)
    disc = scenario.spec.discovery
    u_disc = rng_discovery.random((n, 3), dtype=np.float32)
    delay = from_uniforms(disc.surface_delay, u_disc[:, 2].astype(float)) if disc is not None else np.zeros(n)
    u_money = rng_money.random((n, 3))
    cost = np.zeros(n)
    for j, c in enumerate(scenario.spec.demand.categories.values()):
        if c.resolution is not None and c.resolution.fix_cost is not None:
            idx = np.flatnonzero(category == j)
            cost[idx] = from_uniforms(c.resolution.fix_cost, u_money[idx, 2])
    return u_disc[:, :2], delay, u_money[:, :2].astype(np.float32), cost


def _volunteers(
    scenario: Scenario,
    days: int,
    arrival: np.ndarray,
    community: np.ndarray,
    category: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Volunteers take eligible cases first-come first-served up to a daily capacity per community
    (``scenario.staffing.volunteer_capacity``, rounded at random so that its expectation is exact)."""
    eligible_cat = np.array([c.volunteer_eligible for c in scenario.spec.demand.categories.values()])
    cap = volunteer_capacity(scenario, days)  # (communities, days)
    cap = np.floor(cap + rng.random(cap.shape)).astype(np.int64)
    out = np.zeros(len(arrival), bool)
    if not cap.any():
        return out
    day = (arrival // 24).astype(np.int64)
    cand = np.flatnonzero(eligible_cat[category] & (cap[community, np.minimum(day, days - 1)] > 0))
    if cand.size == 0:
        return out
    key = community[cand] * days + day[cand]  # cases are in arrival order already
    order = np.argsort(key, kind="stable")
    sk = key[order]
    first = np.searchsorted(sk, sk, side="left")
    rank = np.arange(len(sk)) - first
    ok = rank < cap.ravel()[sk]
    out[cand[order[ok]]] = True
    return out


def apply_allocation(
    scenario: Scenario, cases: Cases, allocation: Allocation
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mobile grid workers' discoveries under an allocation.

    A hotline case in a street is discovered first by a mobile grid worker with
    probability p = min(max_share_of_hotline, discoveries/day / hotline cases/day of
    the street). It then arrives ``discovery_lead_hours`` earlier on the mobile
    channel and needs ``handling_time_factor`` of the grid handling time; the hotline
    call it would have caused is not made.

    Returns (arrival, channel, grid_service) for the allocation.
    """
    mg = scenario.spec.mobile_grid
    chans = list(scenario.spec.demand.channels.values())
    hot = np.array([c.is_hotline for c in chans])
    hot_rate = sum(c.rate_per_10k_per_day for c in chans if c.is_hotline)
    street_res = np.bincount(
        scenario.community_street, weights=scenario.urban_residents, minlength=len(scenario.street_ids)
    )
    hot_per_day = street_res / 10_000 * hot_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(hot_per_day > 0, allocation.mobile_grid_workers * mg.discoveries_per_worker_day / hot_per_day, 0)
    p = np.minimum(p, mg.max_share_of_hotline)
    street = scenario.community_street[cases.community]
    found = hot[cases.channel] & ~cases.volunteer & (cases.u_mobile < p[street])
    arrival = np.where(found, np.maximum(cases.arrival - mg.discovery_lead_hours, 0.0), cases.arrival)
    channel = np.where(found, len(chans), cases.channel)
    grid_service = np.where(found, cases.service[:, 0] * mg.handling_time_factor, cases.service[:, 0])
    return arrival, channel, grid_service

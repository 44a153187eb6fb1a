"""Complaint demand: the cases of one replication, drawn in bulk.

Cases are drawn independently of the allocation, from separate random streams
per source (arrivals, marks, service times, escalations, feedback, mobile
discovery), so that two allocations of one scenario see the same complaints
(common random numbers). The allocation enters only through per-case uniforms
(mobile grid workers' discoveries), never through extra draws.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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
    comm, hour, k = _hourly_counts(per_hour, profile, rng["arrivals"])
    n = int(k.sum())
    cats = list(dem.categories.values())
    # The streams are independent of one another: a thread draws the marks (they need the number of cases
    # alone) while the arrivals are put in order here, and then every stream but the service times while
    # those are worked out here (numpy and the compiled sort let go of the interpreter in bulk work), each
    # stream by itself as before: the same numbers, sooner where a core is free.
    pool = ThreadPoolExecutor(1)
    try:
        marks = pool.submit(_marks, rng["marks"], n, rates, cats)
        community = np.repeat(comm, k)
        arrival = np.repeat(hour.astype(float), k) + rng["arrivals"].random(n)
        from sim.arrivalorder import arrival_order

        order = arrival_order(arrival)  # np.argsort(arrival, kind="stable"), in linear time
        arrival, community = arrival[order], community[order]
        channel, category, u_grid = marks.result()
        grid = (u_grid * scenario.grids[community]).astype(np.int64)
        rest = pool.submit(_other_streams, scenario, days, arrival, community, category, rng)
        service = _service_times(spec, cats, category, rng["service"])
        volunteer, (u_disc, delay, u_money, cost), u_escalate, u_feedback, u_mobile, u_absence, u_resolve = (
            rest.result()
        )
    except BaseException:  # a stop (Ctrl-C) is not held here until the thread's draws end (the command line
        pool.shutdown(wait=False, cancel_futures=True)  # then ends at once; an interpreter's exit waits for them)
        raise
    pool.shutdown()  # its thread gone before a caller forks workers (a district split forks right after)
    return Cases(
        arrival=arrival,
        community=community,
        channel=channel,
        category=category,
        grid=grid,
        service=service,
        u_escalate=u_escalate,
        u_feedback=u_feedback,
        u_mobile=u_mobile,
        volunteer=volunteer,
        u_absence=u_absence,
        channel_ids=tuple(channels) + (MOBILE_CHANNEL,),
        days=days,
        u_discovery=u_disc,
        surface_delay_hours=delay,
        u_resolve=u_resolve,
        u_money=u_money,
        fix_cost_yuan=cost,
    )


def _marks(m: np.random.Generator, n: int, rates: np.ndarray, cats: list) -> tuple[np.ndarray, ...]:
    """The marks stream: each case's channel, category and the uniform that picks its grid, in that order."""
    channel = m.choice(len(rates), size=n, p=rates / rates.sum()) if rates.sum() > 0 else np.zeros(n, int)
    category = m.choice(len(cats), size=n, p=np.array([c.share for c in cats]))
    return channel, category, m.random(n)


# Hours of Poisson means drawn at a time: a megacity year's (7,000 communities x 8,760 hours) would be two
# arrays of 490 MB; in slices of whole communities the stream gives the same counts in the same order.
_POISSON_CHUNK = 1 << 21


def _hourly_counts(
    per_hour: np.ndarray, profile: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson counts of (community, hour) with mean ``per_hour[c] * profile[h]``: the (community, hour) pairs
    with any, in row-major order, and their counts (``np.nonzero`` of the whole matrix, drawn a slice of
    communities at a time: numpy draws an array of means element by element in that order)."""
    from sim.arrivalorder import nonzero_counts

    step = max(1, _POISSON_CHUNK // max(len(profile), 1))
    comms, hours, ks = [], [], []
    for a in range(0, len(per_hour), step):
        c, h, k = nonzero_counts(rng.poisson(per_hour[a : a + step, None] * profile[None, :]), a)
        comms.append(c)
        hours.append(h)
        ks.append(k)
    if not comms:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(comms), np.concatenate(hours), np.concatenate(ks)


def _service_times(spec, cats: list, category: np.ndarray, s: np.random.Generator) -> np.ndarray:
    """(cases, 5) working hours: grid, community, street, city delay, the reopened grid visit (travel included
    at the grid)."""
    n = len(category)
    u = s.random((n, 5))
    travel = s.random(n) * spec.ladder.travel_minutes_max / 60.0  # uniform on [0, travel_hours_max]
    service = np.empty((n, 5))
    for col, field in enumerate(("grid_service", "community_service", "street_service", "city_delay", "grid_service")):
        service[:, col] = from_uniforms_by([getattr(c, field) for c in cats], category, u[:, col])
    service[:, 0] += travel
    service[:, 4] += travel
    return service


def _other_streams(
    scenario: Scenario,
    days: int,
    arrival: np.ndarray,
    community: np.ndarray,
    category: np.ndarray,
    rng: dict[str, np.random.Generator],
) -> tuple:
    """Every stream after the marks but the service times, each from its own generator."""
    n = len(arrival)
    return (
        _volunteers(scenario, days, arrival, community, category, rng["volunteers"]),
        _outcome_draws(scenario, category, rng["discovery"], rng["money"]),
        rng["escalation"].random((n, 3)),
        rng["feedback"].random((n, 2)),
        rng["mobile"].random(n),
        rng["absence"].random((2 * scenario.n_communities + len(scenario.street_ids), days, 2), dtype=np.float32),
        rng["resolution"].random((n, 2), dtype=np.float32),
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

"""Generate the synthetic per-community split of the Weihai reference city.

The source document gives city totals only. This script spreads them over
communities from stated, seeded assumptions, so that every total equals the
source figure exactly. Run it from anywhere:

    python scenarios/weihai/generate.py      (with gridplan installed: it writes the allocation with its writer)

It writes ``structure.yaml`` (districts with budgets, streets), ``communities.csv``
and ``baseline_allocation.csv`` beside itself. Assumptions (also in scenario.yaml):

* 4 districts + 3 development zones; the 24 streets are spread over them as
  STREETS_PER_DISTRICT below (synthetic: the source gives no split).
* Communities per street: 340 spread in proportion to a log-normal street size
  (sigma 0.35), at least 6 per street.
* Urban residents per community: log-normal (sigma 0.5), scaled and rounded
  (largest remainder) so that the city total is 1,561,500 (3,529 workers at
  22.6 per 10,000).
* Households: residents / household size, household size uniform in [2.4, 2.9].
* Grids: 1,896 (one per grid station), in proportion to residents, at least 2 per
  community; five-colour classes drawn per grid with shares CLASS_SHARES.
* Baseline workers: 3,529 in all; every community first gets its policy floor
  (18 per 10,000 rounded up, at least 3 so the city-funded 2.5 posts are filled),
  the rest in proportion to residents (largest remainder). One secretary
  assistant per community, counted among its workers.
* Street party-office staff: 433 (at least 6 per street) and mobile grid workers:
  400, both in proportion to street residents.
* Funds: work fund exactly 36,000 yuan per 1,000 households (rounded up to the
  yuan), service fund 300,000 yuan per community (the floors).
* District budgets: the baseline cost of each district plus 5% headroom, rounded
  up to 10,000 yuan (the source gives no district budgets).
* Special-attention households (elderly living alone, hardship, floating
  population, community correction): a share per community drawn from
  Beta(4, 36) (mean 10%, sd 4.7 points; the source gives no figure), rounded.
* Registered in-service party members: 46,000 (source), spread in proportion to
  residents times a log-normal factor (sigma 0.3), largest remainder.

The last two are drawn after everything else, so the earlier columns do not
depend on them.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import yaml

from scenario.allocation import Allocation, write_allocation

SEED = 20_240_601
HERE = Path(__file__).resolve().parent
RESIDENTS = 1_561_500
WORKERS = 3_529
STREET_STAFF = 433
MOBILE = 400
GRIDS = 1_896
COMMUNITIES = 340
PARTY_MEMBERS = 46_000
DISTRICTS = [
    ("huancui", "Huancui District (环翠区)", "district"),
    ("wendeng", "Wendeng District (文登区)", "district"),
    ("rongcheng", "Rongcheng (荣成市)", "district"),
    ("rushan", "Rushan (乳山市)", "district"),
    ("torch_hitech", "Torch Hi-tech Zone (火炬高技术产业开发区)", "development_zone"),
    ("etdz", "Economic and Technological Development Zone (经济技术开发区)", "development_zone"),
    ("lingang", "Lingang Development Zone (临港经济技术开发区)", "development_zone"),
]
STREETS_PER_DISTRICT = {
    "huancui": 6,
    "wendeng": 4,
    "rongcheng": 5,
    "rushan": 3,
    "torch_hitech": 2,
    "etdz": 3,
    "lingang": 1,
}
CLASSES = ["red", "orange", "yellow", "blue", "green"]
CLASS_SHARES = [0.05, 0.10, 0.20, 0.30, 0.35]
MEAN_WORKER_COST_YUAN = 56_310_000 / (2.5 * COMMUNITIES)
STREET_STAFF_COST_YUAN = 90_000
MOBILE_ALLOWANCE_YUAN = 3_000


def largest_remainder(weights: np.ndarray, total: int, minimum: np.ndarray | int = 0) -> np.ndarray:
    """Integers >= minimum summing to total, in proportion to weights beyond the minimum."""
    minimum = np.broadcast_to(np.asarray(minimum, dtype=np.int64), weights.shape)
    rest = total - int(minimum.sum())
    if rest < 0:
        raise ValueError("minimums exceed total")
    share = weights / weights.sum() * rest
    out = np.floor(share).astype(np.int64)
    left = rest - int(out.sum())
    order = np.argsort(-(share - out), kind="stable")
    out[order[:left]] += 1
    return out + minimum


def main() -> None:
    """Write structure.yaml, communities.csv and baseline_allocation.csv beside this script."""
    rng = np.random.default_rng(SEED)
    streets = []
    for did, _, _ in DISTRICTS:
        for k in range(STREETS_PER_DISTRICT[did]):
            streets.append((f"{did}_s{k + 1}", f"{did.replace('_', ' ').title()} street {k + 1}", did))
    assert len(streets) == 24
    street_size = rng.lognormal(0.0, 0.35, len(streets))
    per_street = largest_remainder(street_size, COMMUNITIES, 6)

    comm_street = np.repeat(np.arange(len(streets)), per_street)
    size = rng.lognormal(0.0, 0.5, COMMUNITIES)
    residents = largest_remainder(size, RESIDENTS)
    hh_size = rng.uniform(2.4, 2.9, COMMUNITIES)
    households = np.maximum(1, np.round(residents / hh_size)).astype(np.int64)
    grids = largest_remainder(residents.astype(float), GRIDS, 2)
    grid_classes = np.stack([rng.multinomial(g, CLASS_SHARES) for g in grids])

    floor = np.maximum(3, np.ceil(np.round(18 * residents / 10_000, 9))).astype(np.int64)
    workers = largest_remainder(residents.astype(float), WORKERS, floor)
    street_res = np.bincount(comm_street, weights=residents, minlength=len(streets))
    staff = largest_remainder(street_res, STREET_STAFF, 6)
    mobile = largest_remainder(street_res, MOBILE)
    work_fund = np.ceil(36_000 * households / 1_000).astype(np.int64)
    service_fund = np.full(COMMUNITIES, 300_000, dtype=np.int64)

    special = np.round(households * rng.beta(4, 36, COMMUNITIES)).astype(np.int64)
    party = largest_remainder(residents * rng.lognormal(0.0, 0.3, COMMUNITIES), PARTY_MEMBERS)

    cids = [f"C{i + 1:03d}" for i in range(COMMUNITIES)]
    with (HERE / "communities.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            ["community_id", "street_id", "urban_residents", "households", "special_households", "party_members"]
            + [f"grids_{c}" for c in CLASSES]
        )
        for i, cid in enumerate(cids):
            w.writerow(
                [cid, streets[comm_street[i]][0], residents[i], households[i], special[i], party[i], *grid_classes[i]]
            )
    sids = tuple(s[0] for s in streets)
    ones = np.ones(len(cids), dtype=np.int64)
    baseline = Allocation(tuple(cids), sids, workers, ones, work_fund, service_fund, staff, mobile)
    write_allocation(baseline, HERE / "baseline_allocation.csv")

    # District budgets: baseline district cost + 5%.
    district_of = {s[0]: s[2] for s in streets}
    cost = {d[0]: 0.0 for d in DISTRICTS}
    for i in range(COMMUNITIES):
        d = streets[comm_street[i]][2]
        cost[d] += (workers[i] - 2.5) * MEAN_WORKER_COST_YUAN + work_fund[i] + service_fund[i]
    for j, s in enumerate(streets):
        cost[district_of[s[0]]] += staff[j] * STREET_STAFF_COST_YUAN + mobile[j] * MOBILE_ALLOWANCE_YUAN
    structure = {
        "districts": [
            {"id": d, "name": n, "kind": k, "budget_yuan": float(math.ceil(cost[d] * 1.05 / 1e4) * 1e4)}
            for d, n, k in DISTRICTS
        ],
        "streets": [{"id": s, "name": n, "district": d} for s, n, d in streets],
    }
    header = f"# Generated by generate.py (seed {SEED}); do not edit by hand.\n"
    (HERE / "structure.yaml").write_text(header + yaml.safe_dump(structure, allow_unicode=True, sort_keys=False))
    print(
        f"communities {COMMUNITIES}, residents {residents.sum()}, workers {workers.sum()}, "
        f"grids {grids.sum()}, staff {staff.sum()}, mobile {mobile.sum()}"
    )


if __name__ == "__main__":
    main()

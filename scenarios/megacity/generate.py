"""Generate the megacity scenario: a Beijing-sized city on Weihai's model (seeded; gridplan installed).

    python scenarios/megacity/generate.py

Writes scenario.yaml, structure.yaml, communities.csv and baseline_allocation.csv beside itself.
Assumptions (also in the scenario's ``assumptions``):

* 21,000,000 urban residents, 16 districts, 340 streets, 7,000 communities (Beijing's order of magnitude:
  about 21.9 M residents, 16 districts, about 340 streets and 7,000 communities).
* Complaints: Beijing's 12345 took about 21 M contacts in 2023 (about 0.98 per resident), 41.5% of them
  requests or complaints: 0.41 cases per resident a year (about 8.6 M), split over channels as in Weihai.
* Everything else (categories, ladder, duties and their norms, pay table, policy rules, targets,
  evaluation) is Weihai's scenario, read from ../weihai/scenario.yaml, without its variants (a plan that
  holds with a stated probability is checked on the megacity's own years); the calibrated duty items keep
  Weihai's values per 1,000 residents (not re-calibrated for a megacity: stated, not claimed).
* Streets per district ~ log-normal (sigma 0.3), at least 8; communities per street ~ log-normal
  (sigma 0.35), at least 6; residents per community ~ log-normal (sigma 0.5); households = residents /
  uniform(2.4, 2.9); special-attention households Beta(4, 36); grids one per ~800 residents (at least 2),
  five-colour classes as Weihai; registered in-service party members 3% of residents.
* Baseline: 22.6 workers per 10,000 residents (Weihai's ratio; at least each community's floor), one
  secretary assistant per community, 18 party-office staff per street on average (at least 6), one
  mobile grid worker per 4,000 residents; funds at their floors.
* District budgets: 5% above what the district's communities and street offices cost when each has the
  larger of its baseline staff and what the workload rule needs at the 85% planning margin. Weihai's duty
  norms at 0.41 cases per resident put the workload above the baseline's 22.6 workers per 10,000 (d01
  needs 553 M yuan where its baseline costs 497 M), so a budget of baseline + 5% would make the main job
  infeasible by construction; the 5% is room for the on-time targets and the simulation's cuts.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import numpy as np
import yaml

from scenario.allocation import Allocation, write_allocation

HERE = Path(__file__).resolve().parent


def _weihai_generator():  # Weihai's generator's helpers, loaded by path (scenarios/ is not a package)
    spec = importlib.util.spec_from_file_location("weihai_generate", HERE.parent / "weihai" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_W = _weihai_generator()
CLASS_SHARES, CLASSES, largest_remainder = _W.CLASS_SHARES, _W.CLASSES, _W.largest_remainder

SEED = 20_231_231
RESIDENTS = 21_000_000
DISTRICTS = 16
STREETS = 340
COMMUNITIES = 7_000
CASES_PER_RESIDENT_YEAR = 0.98 * 0.415
WORKERS_PER_10K = 22.6


def main() -> None:
    """Write the megacity scenario beside this script."""
    rng = np.random.default_rng(SEED)
    weihai = yaml.safe_load((HERE.parent / "weihai" / "scenario.yaml").read_text(encoding="utf-8"))
    per_district = largest_remainder(rng.lognormal(0, 0.3, DISTRICTS), STREETS, 8)
    street_district = np.repeat(np.arange(DISTRICTS), per_district)
    per_street = largest_remainder(rng.lognormal(0, 0.35, STREETS), COMMUNITIES, 6)
    comm_street = np.repeat(np.arange(STREETS), per_street)
    residents = largest_remainder(rng.lognormal(0, 0.5, COMMUNITIES), RESIDENTS, 500)
    households = np.maximum(1, np.round(residents / rng.uniform(2.4, 2.9, COMMUNITIES))).astype(np.int64)
    special = np.round(households * rng.beta(4, 36, COMMUNITIES)).astype(np.int64)
    party = np.round(residents * 0.03).astype(np.int64)
    grids = np.maximum(2, residents // 800)
    classes = np.stack([rng.multinomial(g, CLASS_SHARES) for g in grids])
    floor = np.maximum(3, np.ceil(np.round(18 * residents / 10_000, 9))).astype(np.int64)
    workers = largest_remainder(residents.astype(float), int(round(RESIDENTS * WORKERS_PER_10K / 10_000)), floor)
    street_res = np.bincount(comm_street, weights=residents, minlength=STREETS)
    staff = largest_remainder(street_res, 18 * STREETS, 6)
    mobile = largest_remainder(street_res, RESIDENTS // 4_000)
    work_fund = np.ceil(36_000 * households / 1_000).astype(np.int64)

    dids = [f"d{d + 1:02d}" for d in range(DISTRICTS)]
    sids = [f"{dids[street_district[j]]}_s{j + 1:03d}" for j in range(STREETS)]
    cids = [f"M{i + 1:05d}" for i in range(COMMUNITIES)]
    with (HERE / "communities.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            ["community_id", "street_id", "urban_residents", "households", "special_households", "party_members"]
            + [f"grids_{c}" for c in CLASSES]
        )
        for i, cid in enumerate(cids):
            w.writerow([cid, sids[comm_street[i]], residents[i], households[i], special[i], party[i], *classes[i]])
    ones = np.ones(len(cids), dtype=np.int64)
    baseline = Allocation(tuple(cids), tuple(sids), workers, ones, work_fund, 300_000.0 * ones, staff, mobile)
    write_allocation(baseline, HERE / "baseline_allocation.csv")

    pay = weihai["pay"]
    unit = sum(
        p["share"] * sum(a * b for a, b in zip(pay["level_shares"], p["pay_yuan_per_year_by_level"]))
        for p in pay["posts"].values()
    )
    comm_district = street_district[comm_street]
    cost = np.bincount(comm_district, weights=(workers - 2.5) * unit + work_fund + 300_000, minlength=DISTRICTS)
    cost += np.bincount(
        street_district,
        weights=staff * pay["street_staff_cost_yuan_per_year"] + mobile * pay["mobile_worker_allowance_yuan_per_year"],
        minlength=DISTRICTS,
    )
    header = f"# Generated by generate.py (seed {SEED}); do not edit by hand.\n"

    def write_structure(cost_by_district: np.ndarray) -> None:
        structure = {
            "districts": [
                {
                    "id": d,
                    "name": f"District {i + 1}",
                    "kind": "district",
                    "budget_yuan": float(math.ceil(cost_by_district[i] * 1.05 / 1e4) * 1e4),
                }
                for i, d in enumerate(dids)
            ],
            "streets": [
                {"id": s, "name": f"Street {j + 1}", "district": dids[street_district[j]]} for j, s in enumerate(sids)
            ],
        }
        (HERE / "structure.yaml").write_text(header + yaml.safe_dump(structure, sort_keys=False), encoding="utf-8")

    write_structure(cost)  # provisional: the workload needs the whole scenario, written below

    scenario = {k: v for k, v in weihai.items() if k not in ("calibration",)}
    scenario["extends"] = "structure.yaml"
    scenario["name"] = "megacity"
    scenario["seed"] = SEED
    scenario["description"] = (
        "A Beijing-sized city on Weihai's model: 21 M residents, 16 districts, 340 streets, "
        "7,000 communities, 0.41 cases per resident a year (synthetic; generate.py)."
    )
    scenario["assumptions"] = [
        line.strip()
        for line in __doc__.split("Assumptions (also in the scenario's ``assumptions``):")[1].split("\n* ")[1:]
    ]
    scenario["assumptions"] = [" ".join(a.split()) for a in scenario["assumptions"]]
    scale = CASES_PER_RESIDENT_YEAR / 0.3
    for ch in scenario["demand"]["channels"].values():
        ch["rate_per_10k_per_day"] = round(ch["rate_per_10k_per_day"] * scale, 4)
    scenario["volunteers"]["registered"] = int(party.sum())
    scenario["targets"].pop("hold_variants", None)  # Weihai's variant files (its surge, its growth) are not copied
    scenario["funding"]["city_budget_yuan"] = float(math.ceil(2.5 * unit * COMMUNITIES))
    (HERE / "scenario.yaml").write_text(
        header
        + "# Weihai's model at Beijing's scale; see generate.py.\n"
        + yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=110),
        encoding="utf-8",
    )
    write_structure(_workload_cost(baseline))
    print(
        f"communities {COMMUNITIES}, residents {residents.sum():,}, workers {workers.sum():,}, "
        f"streets {STREETS}, districts {DISTRICTS}, cases a year ~{RESIDENTS * CASES_PER_RESIDENT_YEAR:,.0f}"
    )


def _workload_cost(baseline: Allocation) -> np.ndarray:
    """Per district: the cost (its own share) when every community and street office has the larger of its
    baseline staff and what the workload rule needs (see the module docstring)."""
    from scenario.load import load_scenario
    from scenario.staffing import staff_time
    from solvers.costs import funder_costs

    s = load_scenario(HERE)
    st = staff_time(s)
    needed = baseline.replace(
        workers=np.maximum(baseline.workers, st.workload_people("community")),
        street_office_staff=np.maximum(baseline.street_office_staff, st.workload_people("street")),
    )
    by_district = funder_costs(s, needed).district_yuan
    return np.array([by_district[d] for d in s.district_ids])


if __name__ == "__main__":
    main()

"""A generated national-scale city: 100,000 communities in 2,000 streets (benchmark input)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import yaml

from scenario.allocation import Allocation, write_allocation

ROOT = Path(__file__).resolve().parents[1]


def national_scenario(
    folder: Path, communities: int = 100_000, streets: int = 2_000, districts: int = 100, seed: int = 1
):
    """Weihai's rules, pay and demand on a generated city; district budgets are generous."""
    from scenario.load import load_scenario

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    src = ROOT / "scenarios" / "weihai"
    shutil.copy(src / "scenario.yaml", folder / "scenario.yaml")
    street_of = np.sort(rng.integers(0, streets, communities))
    street_of[:streets] = np.arange(streets)  # every street has a community
    street_of.sort()
    residents = np.maximum(500, rng.lognormal(np.log(4000), 0.5, communities)).astype(int)
    households = (residents / rng.uniform(2.4, 2.9, communities)).astype(int)
    grids = np.maximum(2, residents // 800)
    with (folder / "communities.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "community_id",
                "street_id",
                "urban_residents",
                "households",
                "special_households",
                "party_members",
                "grids_red",
                "grids_orange",
                "grids_yellow",
                "grids_blue",
                "grids_green",
            ]
        )
        for i in range(communities):
            w.writerow(
                [
                    f"C{i}",
                    f"S{street_of[i]}",
                    residents[i],
                    households[i],
                    households[i] // 10,
                    residents[i] * 3 // 100,
                    0,
                    0,
                    grids[i],
                    0,
                    0,
                ]
            )
    workers = np.maximum(3, np.ceil(22 * residents / 10_000)).astype(int)
    ones = np.ones(communities, dtype=np.int64)
    tens = np.full(streets, 10, dtype=np.int64)
    ids = tuple(f"C{i}" for i in range(communities))
    baseline = Allocation(
        ids, tuple(f"S{j}" for j in range(streets)), workers, ones, 36.0 * households, 300_000.0 * ones, tens, tens
    )
    write_allocation(baseline, folder / "baseline_allocation.csv")
    structure = {
        "districts": [{"id": f"D{d}", "name": f"District {d}", "budget_yuan": 1e10} for d in range(districts)],
        "streets": [{"id": f"S{j}", "name": f"Street {j}", "district": f"D{j % districts}"} for j in range(streets)],
    }
    (folder / "structure.yaml").write_text(yaml.safe_dump(structure))
    text = (folder / "scenario.yaml").read_text().replace("name: weihai", "name: national")
    text = text.replace("city_budget_yuan: 56310000", "city_budget_yuan: null")
    text = text.replace("hold_variants: [surge.yaml, growth.yaml]", "hold_variants: []")  # variant files not copied
    # a tenth of Weihai's complaint rate: 400 M residents would otherwise exceed the loader's bound of
    # 50 M cases a year (this benchmark allocates, it does not simulate)
    import re

    text = re.sub(
        r"rate_per_10k_per_day: ([0-9.]+)", lambda m: f"rate_per_10k_per_day: {float(m.group(1)) / 10:.5f}", text
    )
    (folder / "scenario.yaml").write_text(text)
    return load_scenario(folder)

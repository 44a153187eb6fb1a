"""The engine-overhead benchmark case: M/M/c with 10 servers at load 0.9.

``reference_heapq`` is a bare heapq event loop of the same queue (arrival and
departure events); ``mmc_scenario`` builds the same queue as a gridplan scenario.
"""

from __future__ import annotations

import heapq
import shutil
from collections import deque
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SERVERS = 10
SERVICE_HOURS = 0.05
RATE_PER_HOUR = 0.9 * SERVERS / SERVICE_HOURS  # 180 an hour


def mmc_scenario(tmp: Path, customers: int, leave_days_per_person_year: float = 0.0):
    """The erlang_c scenario with 10 servers at load 0.9 and enough days for ``customers`` arrivals.

    With leave, the servers present change by day (a day with one of them away runs at load 1): the
    branch of the engine that a city's pools take, as their people present change with leave and duties.
    """
    from scenario.load import load_scenario

    d = tmp / "mmc"
    shutil.copytree(ROOT / "scenarios" / "erlang_c", d)
    days = int(np.ceil(customers / RATE_PER_HOUR / 24))
    (d / "mmc.yaml").write_text(
        "extends: scenario.yaml\nname: mmc\n"
        f"calendar: {{days: {days}, warmup_days: 0}}\n"
        f"demand: {{channels: {{calls: {{rate_per_10k_per_day: {RATE_PER_HOUR * 24}}}}}}}\n"
        + (
            f"duties: {{leave_days_per_person_year: {leave_days_per_person_year}, "
            'leave_source: "benchmark: people present that change by day"}\n'
            if leave_days_per_person_year
            else ""
        )
    )
    (d / "baseline_allocation.csv").write_text(
        (d / "baseline_allocation.csv").read_text().replace("community,Q,14,", f"community,Q,{SERVERS},")
    )
    return load_scenario(d / "mmc.yaml"), days


def reference_heapq(customers: int, seed: int = 1) -> float:
    """Bare event loop: arrivals and departures on a heap, FCFS queue. Returns the mean wait."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / RATE_PER_HOUR, customers)).tolist()
    service = rng.exponential(SERVICE_HOURS, customers).tolist()
    heap = [(arrivals[0], 0, 0)]
    busy, waits = 0, 0.0
    queue: deque[int] = deque()
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        t, kind, j = pop(heap)
        if kind == 0:
            if j + 1 < customers:
                push(heap, (arrivals[j + 1], 0, j + 1))
            if busy < SERVERS:
                busy += 1
                push(heap, (t + service[j], 1, j))
            else:
                queue.append(j)
        elif queue:
            k = queue.popleft()
            waits += t - arrivals[k]
            push(heap, (t + service[k], 1, k))
        else:
            busy -= 1
    return waits / customers


def run_model(scenario, days: int, seed: int = 1) -> float:
    """gridplan's model on the same queue: draw the cases, run the event loop. Returns the mean wait."""
    from sim.demand import draw_cases
    from sim.engine import simulate_cases

    cases = draw_cases(scenario, days, np.random.SeedSequence(seed))
    r = simulate_cases(scenario, cases, scenario.baseline)
    return float(np.mean(r.start[:, 0] - r.arrival))

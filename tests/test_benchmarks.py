"""Performance benchmarks (pytest-benchmark), off by default: ``pytest -m benchmark --benchmark-enable``.

Every gate is a ratio to a reference timed in the same run (machines here differ
2-3x in speed and are shared): the bare heapq M/M/10 loop of ``benchmarks/mmc.py``
(1 M customers), or scipy's HiGHS on the same model. Absolute times go into
pytest-benchmark's JSON (``extra_info``), never into an assertion.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchmarks.mmc import mmc_scenario, reference_heapq, run_model
from tests.conftest import GATED_RATIOS

pytestmark = pytest.mark.benchmark

CUSTOMERS = 1_000_000
# The engine every scenario runs (the recursion compiled: ``sim.kernel``) on M/M/10 against the bare heapq loop,
# the cases drawn as every run draws them. Measured 0.49 in a fresh-clone CI run late on 2026-12-06 (0.32 by hand
# with freed memory reused, 0.46 without), 0.38-0.48 in fresh-clone CI runs earlier that day, 0.44-0.63 before
# (1.0-1.55 with the pure-Python recursion); issue 21's target of 0.15 is not met: drawing the million cases'
# random numbers, stream by stream as every scenario draws them, is about 0.2 alone, and the kernel about 0.1.
MMC_RATIO = 0.8
# The same queue with people present changing by day (leave): the branch a city's pools take. Measured 0.36 in a
# fresh-clone CI run late on 2026-12-06, 0.40-0.41 in fresh-clone CI runs earlier that day, 0.45-0.62 before
# (1.2-1.6 with the pure-Python recursion); target 0.25, not met.
MMC_DAILY_RATIO = 0.8
# Weihai year (KPIs included, the case log made but not written) / heapq reference: measured 0.70 in a fresh-clone CI
# run late on 2026-12-06 (freed memory reused, the day's duty account and decisions compiled), 1.05 earlier that day,
# 1.1-1.8 in earlier runs, 5.5 on main in the same minutes (the pure-Python recursion with the day ledger); issue
# 21's target of 0.5 is not met (see the README's table for where the time goes).
WEIHAI_YEAR_RATIO = 2.5
# gridplan simulate scenarios/weihai --reps 1 --processes 1, the whole command in a new process (imports,
# numba's cached machine code, the year, the result folder) / heapq reference: measured 2.43 in a fresh-clone CI run
# late on 2026-12-06, 2.6-2.7 on 2026-12-05 and 06, 3.3-4.6 in earlier runs (main: about 6); issue 21's target of
# 1.2 is not met (imports and loading the machine code alone are about 1.5).
SIMULATE_COMMAND_RATIO = 5.5
# Weihai allocate / heapq reference: 0.07-0.11 measured on 2026-12-06 (0.12-0.28 through PuLP); 0.75 is about 1 s
# on this machine.
ALLOCATE_RATIO = 0.75
# The SimPy event loop (the recursion's test oracle, and the engine of a network whose reopened cases come back
# with no delay) on M/M/10: 4.2-6.8 measured here (the reference is a short 200,000-customer loop), about 6.3 on
# a CI machine. Gated at 9, which still catches a lost fast path such as a scan of later days at every
# dispatch (18x).
EVENT_MODE_RATIO = 9.0
# District split on ONE process / whole replication on a Weihai half-year: the split's own overhead (handing out
# cases, per-district accounts, merging the logs), measured without a second core. With the compiled recursion a
# half-year's simulation is about half a second and the split's fixed costs weigh more: 0.49x here (machine loaded).
# Gated at SPLIT_OVERHEAD_MIN so that the overhead cannot grow unseen.
SPLIT_OVERHEAD_MIN = 0.2


def gated(what: str, ratio: float, gate: float, at_most: bool = True) -> bool:
    """Record a gated ratio for the end-of-run summary (tests/conftest.py) and say whether it passes."""
    GATED_RATIOS.append((what, f"{ratio:.2f}x", f"{'<=' if at_most else '>='} {gate:g}x"))
    return ratio <= gate if at_most else ratio >= gate


def _best_of(f, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


@pytest.fixture(scope="module", autouse=True)
def memory_as_commands_keep_it() -> None:
    """Freed memory reused for the next arrays, as in every command and worker process
    (``sim.workers.retain_freed_memory``): the path real runs take. For this benchmark session's process only
    (``pytest -m benchmark`` runs in its own); the bare heapq loop's lists are not affected."""
    from sim.workers import retain_freed_memory

    retain_freed_memory()


@pytest.fixture(scope="module")
def heapq_reference() -> float:
    """Seconds of the bare heapq M/M/10 loop (1 M customers), best of 3, timed in this run."""
    return _best_of(lambda: reference_heapq(CUSTOMERS))


def _mmc_ratio(benchmark, tmp_path, reference: float, leave_days_per_person_year: float = 0.0) -> float:
    scenario, days = mmc_scenario(tmp_path, CUSTOMERS, leave_days_per_person_year)
    run_model(scenario, days)  # warm imports and caches
    benchmark.pedantic(run_model, args=(scenario, days), rounds=3, iterations=1)
    model = benchmark.stats.stats.min
    ratio = model / reference
    benchmark.extra_info.update(reference_heapq_s=reference, model_s=model, ratio=ratio)
    print(f"\nM/M/10 1M customers: heapq {reference:.2f} s, gridplan {model:.2f} s, ratio {ratio:.2f}")
    return ratio


def test_engine_overhead_mmc(benchmark, tmp_path, heapq_reference):
    """M/M/10 at load 0.9, 1 M customers, drawn and run as any scenario is (``simulate_cases``'s auto mode:
    the compiled recursion): within MMC_RATIO x a bare heapq event loop timed in the same run."""
    assert gated("M/M/10 recursion / heapq", _mmc_ratio(benchmark, tmp_path, heapq_reference), MMC_RATIO)


def test_engine_overhead_mmc_daily(benchmark, tmp_path, heapq_reference):
    """The same queue with leave (5 days a person-year), so the servers present change by day: the
    recursion's branch for such pools, the one every pool of a city with duties takes."""
    ratio = _mmc_ratio(benchmark, tmp_path, heapq_reference, 5.0)
    assert gated("M/M/10 with leave / heapq", ratio, MMC_DAILY_RATIO)


def test_simulate_command_end_to_end(benchmark, tmp_path, heapq_reference):
    """``gridplan simulate scenarios/weihai --reps 1 --processes 1`` as a planner runs it, in a new process
    (start-up, imports, numba's machine code loaded from its cache, the year, KPIs, the result folder; the case
    log not written: its default), best of 2, against the heapq reference timed in this run."""
    import subprocess
    import sys

    from tests.conftest import ROOT, SCENARIOS

    runs = iter(range(10))

    def command():
        out = tmp_path / f"sim{next(runs)}"
        argv = [sys.executable, "-m", "gridplan.cli", "simulate", str(SCENARIOS / "weihai")]
        done = subprocess.run(
            [*argv, "--reps", "1", "--processes", "1", "--out", str(out)], cwd=ROOT, capture_output=True, timeout=600
        )
        assert done.returncode == 0, done.stderr

    command()  # numba's cache written if this checkout has none yet (the first compile)
    benchmark.pedantic(command, rounds=2, iterations=1)
    ratio = benchmark.stats.stats.min / heapq_reference
    benchmark.extra_info.update(seconds=benchmark.stats.stats.min, reference_heapq_s=heapq_reference, ratio=ratio)
    print(f"\ngridplan simulate weihai, 1 rep: {benchmark.stats.stats.min:.2f} s = {ratio:.2f}x heapq")
    assert gated("simulate command end to end / heapq", ratio, SIMULATE_COMMAND_RATIO)


def test_event_mode_overhead_mmc(benchmark, tmp_path):
    """The SimPy event loop on the same queue (200,000 customers): the recursion's oracle in the tests, and the
    engine of a scenario whose reopened cases come back with no delay. About 4.4x the heapq loop here."""
    from sim.demand import draw_cases
    from sim.engine import simulate_cases

    n = 200_000
    scenario, days = mmc_scenario(tmp_path, n)
    cases = draw_cases(scenario, days, np.random.SeedSequence(1))
    reference = _best_of(lambda: reference_heapq(n), rounds=2)
    benchmark.pedantic(
        simulate_cases, args=(scenario, cases, scenario.baseline), kwargs={"mode": "events"}, rounds=2, iterations=1
    )
    ratio = benchmark.stats.stats.min / reference
    benchmark.extra_info.update(reference_heapq_s=reference, ratio=ratio)
    print(f"\nevent mode, 200k customers: ratio to heapq {ratio:.2f}")
    assert gated("M/M/10 event loop / heapq", ratio, EVENT_MODE_RATIO)


def test_weihai_year_one_core(benchmark, weihai):
    """One full Weihai year (all levels, reopening, daily availability, the duty account and the day ledger,
    problems found late, the fund, mobile grid workers, KPIs; the case log made, not written) on one core, as
    every run simulates it: within WEIHAI_YEAR_RATIO x the heapq reference; case log <= 200 MB.

    The reference is timed right before each round (pedantic's untimed setup), so a machine that gets
    busier or quieter during the run moves both alike."""
    from sim.replications import run_replication

    refs: list[float] = []

    def setup():
        # 3 M customers (2-4 s): a reference long enough to run at the same clock speed as the year
        # (a 0.6 s burst gets turbo clocks the 10 s year does not)
        refs.append(_best_of(lambda: reference_heapq(3 * CUSTOMERS), rounds=1) / 3)
        return (weihai, weihai.baseline, 365, np.random.SeedSequence(1), 0, True), {}

    out = benchmark.pedantic(run_replication, setup=setup, rounds=3, iterations=1)
    mem_mb = out.log.memory_usage(deep=True).sum() / 2**20
    heapq_reference = min(refs)
    ratio = benchmark.stats.stats.min / heapq_reference
    benchmark.extra_info.update(
        seconds=benchmark.stats.stats.min,
        reference_heapq_s=heapq_reference,
        ratio=ratio,
        case_log_mb=mem_mb,
        cases=len(out.log),
    )
    print(
        f"\nWeihai year: {benchmark.stats.stats.min:.2f} s = {ratio:.2f}x heapq ({heapq_reference:.2f} s), "
        f"{len(out.log):,} cases, log {mem_mb:.0f} MB"
    )
    assert gated("Weihai year / heapq", ratio, WEIHAI_YEAR_RATIO)
    GATED_RATIOS.append(("Weihai year's case log", f"{mem_mb:.0f} MB", "<= 200 MB"))
    assert mem_mb <= 200


def test_allocator_weihai(benchmark, weihai, heapq_reference):
    """Weihai (340 communities): build and solve the min-cost MILP (plus LP duals) within 0.75x the heapq
    reference timed in the same run (about 1 s here)."""
    from solvers.allocator import allocate
    from solvers.curves import service_curves
    from solvers.lpmodel import AllocationOptions

    curves = service_curves(weihai)
    benchmark.pedantic(allocate, args=(weihai, AllocationOptions()), kwargs={"curves": curves}, rounds=3, iterations=1)
    ratio = benchmark.stats.stats.min / heapq_reference
    benchmark.extra_info.update(seconds=benchmark.stats.stats.min, reference_heapq_s=heapq_reference, ratio=ratio)
    print(f"\nWeihai allocate: {benchmark.stats.stats.min:.2f} s = {ratio:.2f}x heapq")
    assert gated("Weihai allocate / heapq", ratio, ALLOCATE_RATIO)


def test_allocator_national_scale_ratio(benchmark, tmp_path):
    """100,000 communities in 2,000 streets: build + solve + round + re-check within 3x scipy's HiGHS alone."""
    from scipy.optimize import linprog

    from benchmarks.national import national_scenario
    from solvers.allocator import allocate
    from solvers.curves import service_curves
    from solvers.lpmodel import AllocationOptions, build_model

    s = national_scenario(tmp_path / "national")
    curves = service_curves(s)
    m = build_model(s, curves, AllocationOptions())

    def scipy_alone():
        r = linprog(m.c, A_ub=m.A, b_ub=m.b, bounds=np.column_stack([m.lb, m.ub]), method="highs-ipm")
        assert r.status == 0

    reference = _best_of(scipy_alone, rounds=2)
    res = benchmark.pedantic(allocate, args=(s, AllocationOptions()), kwargs={"curves": curves}, rounds=2, iterations=1)
    ratio = benchmark.stats.stats.min / reference
    benchmark.extra_info.update(scipy_highs_s=reference, ratio=ratio)
    print(
        f"\nnational: scipy HiGHS alone {reference:.2f} s, gridplan {benchmark.stats.stats.min:.2f} s, "
        f"ratio {ratio:.2f}, workers {res.allocation.total_workers:,}"
    )
    assert gated("national allocate / scipy HiGHS alone", ratio, 3.0)


def test_district_split_overhead(benchmark, weihai):
    """One Weihai half-year as one task per district, on ONE process, against the whole replication timed in
    the same run: the split's own overhead (handing out the cases, the districts' accounts, merging the logs),
    gated at SPLIT_OVERHEAD_MIN so that it cannot grow unseen, on any machine however busy (no gate depends
    on a second free core). The split on two processes is timed too, and recorded, not gated: on a shared or
    loaded machine the second core may not be free (0.50x with the compiled recursion in a benchmark run on the
    loaded machine; 0.75-0.8x with the pure-Python one). It is for bounded memory at megacity scale, where it is
    also faster (README). Best of 3 each way: this shared machine's speed varies."""
    from sim.replications import run_replication

    args = (weihai, weihai.baseline, 180, np.random.SeedSequence(1), 0)
    reference = _best_of(lambda: run_replication(*args), rounds=3)
    two = _best_of(lambda: run_replication(*args, split_processes=2), rounds=3)
    benchmark.pedantic(run_replication, args=args, kwargs={"split_processes": 1}, rounds=3, iterations=1)
    ratio = reference / benchmark.stats.stats.min
    benchmark.extra_info.update(
        whole_s=reference, split_one_process_s=benchmark.stats.stats.min, split_two_processes_s=two
    )
    two_speed = f"{reference / two:.2f}x"
    GATED_RATIOS.append(("district split on 2 processes / whole (speed, recorded)", two_speed, "none"))
    assert gated("district split on 1 process / whole (speed)", ratio, SPLIT_OVERHEAD_MIN, at_most=False)

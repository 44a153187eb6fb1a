"""One pool of worker processes for a whole command (``sim.workers.shared_workers``): kept from one batch to
the next, given up where it would not be right (another thread, another number of processes, a task that
needs the parent's memory as it is now, a failed task), gone when the block ends; the same numbers."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from sim.replications import run_replications
from sim.workers import map_tasks, shared_workers


def _pid(_: object) -> int:
    time.sleep(0.05)  # long enough for both workers to take tasks
    return os.getpid()


def _pid_or_fail(x: int) -> int:
    if x == 1:
        raise ValueError("task 1 fails")
    return _pid(x)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _batch(processes: int = 2, fresh: bool = False) -> set[int]:
    return set(map_tasks(_pid, list(range(6)), processes=processes, fresh=fresh))


def test_without_a_block_each_call_forks_its_own_workers():
    a, b = _batch(), _batch()
    assert len(a) == 2 and not a & b and os.getpid() not in a


def test_a_block_keeps_one_pool_and_ends_it():
    with shared_workers(2):
        a, b = _batch(), _batch()
        with shared_workers(2):  # an inner block is the outer one
            c = _batch()
        assert all(_alive(p) for p in a)
    assert a == b == c and len(a) == 2 and os.getpid() not in a
    assert not any(_alive(p) for p in a), "the workers outlived their block"


def test_a_failed_task_ends_the_pool_and_the_next_call_forks_anew():
    with shared_workers(2):
        a = _batch()
        with pytest.raises(ValueError, match="task 1 fails"):
            map_tasks(_pid_or_fail, [0, 1, 2, 3], processes=2)
        b = _batch()
    assert len(b) == 2 and not a & b
    assert not any(_alive(p) for p in a | b)


def test_an_exception_in_the_block_stops_its_workers():
    with pytest.raises(KeyboardInterrupt), shared_workers(2):
        a = _batch()
        raise KeyboardInterrupt
    assert not any(_alive(p) for p in a)


def test_other_threads_other_sizes_and_fresh_tasks_get_pools_of_their_own():
    seen: dict[str, set[int]] = {}
    with shared_workers(2):
        a = _batch()
        thread = threading.Thread(target=lambda: seen.setdefault("thread", _batch()))
        thread.start()
        thread.join()
        three = _batch(processes=3)
        assert _batch() == a  # the block's pool is still there
        fresh = _batch(fresh=True)  # forked from the parent as it is now: the block's pool ended first
        after = _batch()
    assert not seen["thread"] & a and not three & a and not fresh & a
    assert not after & a and not after & fresh and len(after) == 2


def test_the_numbers_are_those_of_fresh_pools(tiny):
    alone = run_replications(tiny, tiny.baseline, 3, days=20, seed=5, processes=2).per_rep
    with shared_workers(2):
        first = run_replications(tiny, tiny.baseline, 3, days=20, seed=5, processes=2).per_rep
        again = run_replications(tiny, tiny.baseline, 3, days=20, seed=5, processes=2).per_rep
    for frame in (first, again):
        assert frame.columns.equals(alone.columns)
        assert np.array_equal(frame.to_numpy(), alone.to_numpy(), equal_nan=True)


def test_allocations_in_one_batch_are_each_run_alone(tiny, monkeypatch):
    """``run_allocations`` hands every allocation's replications to the processes at once, each replication's
    cases drawn once for all of them: each allocation gets exactly the replications ``run_replications``
    gives it alone, in order, with one tick each."""
    import sim.replications
    from sim.replications import run_allocations

    draws: list[int] = []
    draw = sim.replications.draw_cases
    monkeypatch.setattr(sim.replications, "draw_cases", lambda *a: draws.append(1) or draw(*a))

    cut = tiny.baseline.replace(workers=np.maximum(tiny.baseline.workers * 6 // 10, 1))
    allocations = [tiny.baseline, cut]
    alone = [run_replications(tiny, a, 3, days=20, seed=9, processes=1).per_rep for a in allocations]
    assert not alone[0].equals(alone[1])  # two allocations, not one twice
    for processes in (1, 2):  # in this process too: the same seeds for each allocation
        ticks: list[int] = []
        draws.clear()
        together = run_allocations(
            tiny, [*allocations, tiny.baseline], 3, days=20, seed=9, processes=processes, progress=ticks.append
        )
        assert len(together) == 3 and sum(ticks) == 3 * 3
        if processes == 1:  # here, where the draws can be counted
            assert len(draws) == 3, "the cases of a replication are drawn once for all allocations"
        for runs, expected in zip(together, [*alone, alone[0]]):
            assert [o.replication for o in runs.outputs] == [0, 1, 2]
            assert np.array_equal(runs.per_rep.to_numpy(), expected.to_numpy(), equal_nan=True), processes


def _span(_: object) -> tuple[float, float]:
    start = time.time()
    time.sleep(0.3)
    return start, time.time()


def test_by_default_the_cores_stay_busy_to_the_last_task(monkeypatch, tiny, caplog):
    """All cores by default: ``P + n mod P`` tasks at once (five on two cores: three, then two, instead of a
    last wave on one core); asked for a number of processes: that many. The same numbers either way, and the
    log says how many ran at once."""
    import logging

    import sim.replications
    import sim.workers
    from sim.workers import at_once

    monkeypatch.setattr(sim.workers, "default_processes", lambda: 2)
    assert [at_once(n, None) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 3, 2, 3, 2, 3]
    assert [at_once(n, 2) for n in (1, 2, 5)] == [1, 2, 2]
    monkeypatch.setattr(sim.workers, "default_processes", lambda: 4)
    assert [at_once(n, None) for n in (3, 5, 8, 10)] == [3, 5, 4, 6]
    monkeypatch.setattr(sim.workers, "default_processes", lambda: 2)
    monkeypatch.setattr(sim.replications, "default_processes", lambda: 2)

    def most_at_once(spans: list[tuple[float, float]]) -> int:
        return max(sum(s <= t < e for s, e in spans) for t, _ in spans)

    assert most_at_once(map_tasks(_span, list(range(5)))) == 3
    assert most_at_once(map_tasks(_span, list(range(5)), processes=2)) == 2
    with shared_workers():  # the block's pool has room for three at once
        assert most_at_once(map_tasks(_span, list(range(5)))) == 3
        assert most_at_once(map_tasks(_span, list(range(4)))) == 2
    with caplog.at_level(logging.INFO, logger="sim.replications"):
        alone = run_replications(tiny, tiny.baseline, 5, days=20, seed=3, processes=1).per_rep
        spread = run_replications(tiny, tiny.baseline, 5, days=20, seed=3).per_rep
    assert np.array_equal(spread.to_numpy(), alone.to_numpy(), equal_nan=True)
    said = [r.getMessage() for r in caplog.records if "replication(s) of" in r.getMessage()]
    assert said[0].endswith("up to 1 at a time (1 process(es) asked)")
    assert said[1].endswith("up to 3 at a time on 2 core(s)")


def test_the_compiled_loops_are_loaded_once_per_scenario_before_forking(tiny, monkeypatch):
    """Each batch on more than one process loads the compiled loops in the parent first (workers inherit them),
    by a two-day run: once per scenario object, not once per batch (the main job runs thirteen)."""
    import dataclasses

    import sim.replications

    warm: list[int] = []
    simulate = sim.replications.simulate_cases
    monkeypatch.setattr(sim.replications, "_LOADED_FOR", sim.replications.weakref.WeakSet())
    monkeypatch.setattr(
        sim.replications,
        "simulate_cases",
        lambda sc, cases, *a, **k: warm.append(cases.days) or simulate(sc, cases, *a, **k),
    )
    other = dataclasses.replace(tiny)  # the same scenario, another object: warmed by itself
    with shared_workers(2):
        for scenario in (tiny, tiny, other, tiny):
            run_replications(scenario, scenario.baseline, 2, days=10, seed=1, processes=2)
    assert warm == [2, 2], "a two-day warm-up per scenario object, in the parent"


_BIG = 128 << 20  # above glibc's largest threshold for a mapping of its own (32 MB), below the one set (256 MB)


def _faults_of_a_second_array(_: object = None) -> int:
    """Page faults while a large array is filled after an array as large was freed."""
    import resource

    a = np.ones(_BIG // 8)
    del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    b = np.ones(_BIG // 8)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del b
    return faults


@pytest.mark.skipif(not os.uname().sysname == "Linux", reason="glibc's mallopt")
def test_workers_reuse_the_memory_a_replication_freed():
    """A worker's next arrays land on the pages its last ones touched (``retain_freed_memory``), not on new
    mappings faulted in page by page: without it, this second 128 MB array takes at least 64 faults (2 MB
    pages; about 570 here)."""
    faults = map_tasks(_faults_of_a_second_array, [0, 1], processes=2)
    assert max(faults) < 32, faults


def test_the_command_line_keeps_freed_memory_except_for_the_desk(monkeypatch, tmp_path):
    import sim.workers
    from gridplan.cli import main

    calls: list[int] = []
    monkeypatch.setattr(sim.workers, "retain_freed_memory", lambda: calls.append(1) or True)
    assert main(["validate", "scenarios/erlang_c/scenario.yaml"]) == 0
    assert calls == [1]
    monkeypatch.setattr("gridplan.commands.serve_cmd", lambda args: 0)
    assert main(["serve", "scenarios/erlang_c/scenario.yaml"]) == 0
    assert calls == [1]  # the desk's server lives on: it gives freed memory back


def _beside_work(post) -> set[int]:
    """Two batches on the pool, an event after each; the workers' process ids."""
    pids = set()
    for i in range(2):
        pids |= _batch()
        post(f"batch {i}")
    return pids


def test_work_beside_shares_the_pool_and_relays_its_events_in_order():
    """``Beside``: a workflow in a thread beside the command's, its tasks on the command's pool (no second pool,
    no fork while it runs), its events handed on in order in the command's thread, its result returned."""
    from sim.workers import Beside, can_run_beside

    assert not can_run_beside(2)  # outside a block
    with shared_workers(2):
        assert can_run_beside(2) and not can_run_beside(3)
        beside = Beside(_beside_work)
        mine = _batch() | _batch()
        seen: list[object] = []
        theirs = beside.relay(seen.append)
    assert seen == ["batch 0", "batch 1"]
    assert mine == theirs and len(mine) == 2  # the one pool of two workers
    assert not any(t.name == "gridplan-beside" for t in threading.enumerate())


def _fails(post) -> None:
    post("before")
    raise ValueError("the work beside failed")


def test_work_beside_hands_on_its_exception():
    from sim.workers import Beside

    with shared_workers(2):
        beside = Beside(_fails)
        seen: list[object] = []
        with pytest.raises(ValueError, match="beside failed"):
            beside.relay(seen.append)
    assert seen == ["before"]


def test_work_beside_ends_when_the_command_stops():
    """The command's thread leaving by an exception (a stop) cancels the work beside it: it ends at its next
    batch or event instead of forking a pool of its own, and no thread is left."""
    from sim.workers import Beside, WorkersGone

    started = threading.Event()

    def long_work(post) -> None:
        started.set()
        while True:
            _batch()
            post("batch")

    with pytest.raises(KeyboardInterrupt), shared_workers(2):
        beside = Beside(long_work)
        started.wait(10)
        try:
            raise KeyboardInterrupt
        except BaseException:
            beside.cancel()
            raise
    assert beside.own_error() is None  # it ended for want of workers, not by an error of its own
    assert not any(t.name == "gridplan-beside" for t in threading.enumerate())
    assert isinstance(beside._error, (WorkersGone, BrokenProcessPool)), beside._error


def _slow_or_fail(x: int) -> int:
    time.sleep(0.3)
    if x == 99:
        raise ValueError("a task beside failed")
    return x


def test_a_failed_task_beside_is_the_error_the_command_sees():
    """A task that fails beside the command's thread stops the pool they share; the command's batch then fails
    for want of workers, and ``cancel`` hands it the first error (what the main job raises)."""
    from sim.workers import Beside

    with shared_workers(2):
        beside = Beside(lambda post: map_tasks(_slow_or_fail, [99, 1, 2], processes=2))
        with pytest.raises(BrokenProcessPool):
            try:
                map_tasks(_slow_or_fail, list(range(8)), processes=2)
            except BaseException:
                beside.cancel()
                theirs = beside.own_error()
                raise
    assert isinstance(theirs, ValueError) and "beside failed" in str(theirs)


def test_no_new_pool_after_a_failure_beside():
    """A batch that failed where a thread beside may still run leaves the block without workers: the next batch
    raises, it does not fork a pool beside that thread."""
    from sim.workers import Beside

    with shared_workers(2):
        beside = Beside(lambda post: map_tasks(_slow_or_fail, [99, 1], processes=2))
        with pytest.raises(ValueError, match="beside failed"):
            beside.relay(lambda event: None)
        with pytest.raises(BrokenProcessPool):
            _batch()

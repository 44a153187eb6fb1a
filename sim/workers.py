"""Local worker processes: ``map_tasks`` runs tasks on a pool of them (or on a Dask cluster), and a
``shared_workers`` block keeps one pool from one call to the next.

Light on purpose (the standard library only): the command line opens the block for every command, and a
``validate`` must not import numpy's or pandas' world for it.
"""

from __future__ import annotations

import contextvars
import ctypes
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Generic, TypeVar

from sim.stopping import critical

__all__ = [
    "map_tasks",
    "shared_workers",
    "default_processes",
    "at_once",
    "retain_freed_memory",
    "Beside",
    "can_run_beside",
    "WorkersGone",
]

T = TypeVar("T")


class WorkersGone(RuntimeError):
    """A thread run ``Beside`` the command's work asked for workers after its block ended (a stop, a failure)."""


class _Shared:
    """The worker pool of a ``shared_workers`` block: its size, the threads that use it (the one that opened
    it and those started ``Beside`` it), the pool (made at the first ``map_tasks`` that needs one), and whether
    the block has ended."""

    def __init__(self, processes: int | None) -> None:
        self.asked = processes
        self.size = _pool_size(processes)
        self.threads = {threading.get_ident()}
        self.pool: ProcessPoolExecutor | None = None
        self.ended = False
        self.had_beside = False  # a ``Beside`` thread was started in the block
        self.lost = False  # a failed batch stopped the pool while a thread beside may still run: no new pool


_SHARED: _Shared | None = None
_BESIDE = threading.local()  # in a thread started by ``Beside``: ``block``, the block whose pool it shares


def _block_of_this_thread() -> _Shared | None:
    """The ``shared_workers`` block whose pool this thread may use (None: none)."""
    if _SHARED is not None and threading.get_ident() in _SHARED.threads:
        return _SHARED
    return None


@contextmanager
def shared_workers(processes: int | None = None) -> Iterator[None]:
    """Within this block, ``map_tasks`` calls of the thread that opened it (and of threads started ``Beside`` it),
    asking for ``processes`` processes (default: all cores), hand their tasks to one pool of worker processes, kept
    from one call to the next, instead of forking a pool per call. A workflow that simulates batch after batch (the
    main job's rounds, compare's allocations) saves the fork and, more, the first replication of each new worker:
    its arrays land on memory the process never touched (page faults), about 0.2 s of a Weihai year. Tasks carry all
    they need, so the numbers are those of fresh pools (tested). A block inside another is the outer one; other
    threads (the desk's requests) and calls asking for another number of processes get pools of their own, as
    outside any block; a call that needs workers forked from the parent's memory as it is now (``fresh``: a
    replication split by district) ends the block's pool first. The workers end with the block (terminated at once
    when it ends by an exception)."""
    global _SHARED
    if _SHARED is not None:
        yield
        return
    shared = _SHARED = _Shared(processes)
    try:
        yield
    except BaseException:
        shared.ended = True
        _SHARED = None
        if shared.pool is not None:
            _stop(shared.pool)
        raise
    shared.ended = True
    _SHARED = None
    if shared.pool is not None:
        shared.pool.shutdown()


def can_run_beside(processes: int | None) -> bool:
    """Whether this thread may start a ``Beside`` thread for ``map_tasks`` calls asking for ``processes``: it is in
    a ``shared_workers`` block asking for as many, whose pool runs more than one task at once, and no Dask
    cluster takes the tasks."""
    from sim.dask_engine import active_client

    block = _block_of_this_thread()
    return block is not None and block.asked == processes and block.size > 1 and active_client() is None


class Beside(Generic[T]):
    """``fn(post)`` run in a thread beside this one, its tasks on the same pool of workers: two independent
    workflows (the main job's two optimisations) keep the cores busy while either one works alone in the parent
    (an allocation solved, curves refitted), and take no more memory than one (the pool runs as many tasks at
    once as before). The numbers are those of one after the other: each task carries all it needs.

    ``post(x)`` queues ``x`` (progress events) for ``relay``, which hands them on in this thread, in order, until
    ``fn`` ends, and returns its result (raises its exception). Start it only where ``can_run_beside``. The pool
    is started first, so that no worker is forked while the thread runs. ``cancel`` (this thread leaving by an
    exception) ends it at its next ``post`` or ``map_tasks`` (``WorkersGone``), or as the block's pool stops under
    its batch; the thread is a daemon, so that a stop never waits for it."""

    def __init__(self, fn: Callable[[Callable[[object], None]], T]) -> None:
        block = _block_of_this_thread()
        if block is None:
            raise RuntimeError("Beside needs a shared_workers block of this thread")
        if block.lost:
            raise BrokenProcessPool("the command's workers were stopped by a failed task")
        if block.pool is None:
            block.pool = _new_pool(block.size)
        block.had_beside = True
        with critical():  # the first task forks the workers, now, before the thread exists
            block.pool.submit(int).result()
        self._block = block
        self._events: queue.Queue = queue.Queue()
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()  # this thread's settings (a solver's test switch, say) go along
        self._thread = threading.Thread(target=context.run, args=(self._main, fn), name="gridplan-beside", daemon=True)
        self._thread.start()

    def _main(self, fn: Callable[[Callable[[object], None]], T]) -> None:
        _BESIDE.block = self._block
        self._block.threads.add(threading.get_ident())
        try:
            self._result = fn(self._post)
        except BaseException as exc:  # handed on by ``relay``
            self._error = exc
        finally:
            self._block.threads.discard(threading.get_ident())
            self._done.set()

    def _post(self, event: object) -> None:
        if self._cancelled.is_set() or self._block.ended:
            raise WorkersGone("the command stopped: the work beside it ends too")
        self._events.put(event)

    def relay(self, report: Callable[[object], None]) -> T:
        """Hand every event posted to ``report`` (here, in order) until ``fn`` ends; its result or exception."""
        while True:
            try:
                event = self._events.get(timeout=0.05)
            except queue.Empty:
                if self._done.is_set() and self._events.empty():
                    break
                continue
            report(event)
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def cancel(self) -> None:
        """End the thread at its next event or batch (this thread is leaving by an exception; the block's pool
        stops as it does). Not awaited: the thread is a daemon and forks nothing once cancelled."""
        self._cancelled.set()

    def own_error(self, wait_s: float = 5.0) -> BaseException | None:
        """After ``cancel``: the exception the thread ended by, if it ends within ``wait_s`` by one of its own (not
        for want of workers). Its failed task stops the pool the two share, so it may be why this thread failed."""
        self._thread.join(wait_s)
        error = self._error
        return None if isinstance(error, (WorkersGone, BrokenProcessPool)) else error


def _new_pool(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=processes, initializer=_worker_init, initargs=(os.getpid(),))


def _pool_size(processes: int | None) -> int:
    """Workers a pool needs for calls asking for ``processes`` (None: all cores, up to ``at_once`` tasks at a time)."""
    cores = processes or default_processes()
    return cores if processes is not None else 2 * cores - 1


def at_once(n_tasks: int, processes: int | None) -> int:
    """How many of ``n_tasks`` equal tasks run at once. Asked for a number of processes: that many. By default
    (all ``P`` cores), ``P + n_tasks mod P``: five replications on two cores run three at once, then two, and
    take 2.5 replications' time instead of three waves' (one core idle in the last); four run two at once.
    The cores share the extra workers, so the numbers are the same; the memory is that of the replications
    running at once (at most ``2P - 1``)."""
    if processes is not None:
        return min(n_tasks, processes)
    cores = default_processes()
    return min(n_tasks, cores + n_tasks % cores if n_tasks > cores else n_tasks)


def map_tasks(
    func: Callable,
    tasks: list,
    processes: int | None = None,
    progress: Callable[[int], None] | None = None,
    fresh: bool = False,
) -> list:
    """``[func(t) for t in tasks]`` on local processes (default: all cores), results in task order; on the
    Dask cluster of an enclosing ``sim.dask_engine.dask_engine`` block when there is one; on the pool of an
    enclosing ``shared_workers`` block when it fits (``fresh``: never, workers forked now).

    On any exception in the parent (Ctrl-C, SIGTERM turned into an exception by the
    command line, a failed task) the workers are terminated at once, not awaited.
    Workers ignore Ctrl-C (the parent stops them) and die with the parent.
    """
    from sim.dask_engine import active_client, map_on_dask

    beside = getattr(_BESIDE, "block", None)
    beside_pool = None if beside is None else beside.pool  # read once: the command's thread may drop it meanwhile
    if beside is not None and (beside.ended or beside_pool is None):  # never a fork beside the command's thread
        raise WorkersGone("the command stopped: the work beside it ends too")
    client = active_client()
    if client is not None:
        return map_on_dask(client, func, tasks, progress)
    window = at_once(len(tasks), processes)
    if window <= 1:
        out = []
        for t in tasks:
            out.append(func(t))
            if progress:
                progress(1)
        return out
    shared = _block_of_this_thread()
    if beside is not None and beside_pool is not None:
        if shared is None or shared is not beside or fresh or processes != shared.asked:
            raise RuntimeError("a thread beside a command's work runs its tasks on the command's pool only")
        ex, reuse = beside_pool, True
    else:
        ex, reuse = _pool_for(shared, window, processes, fresh)
    try:
        out = _run_window(ex, func, tasks, window, progress)
    except BaseException:
        if reuse and shared is not None:
            if shared.pool is ex:
                shared.pool = None  # the next call forks a new pool ...
            shared.lost = shared.lost or shared.had_beside  # ... unless a thread beside may still be running
        _stop(ex)
        raise
    if not reuse:
        ex.shutdown()
    return out


def _pool_for(
    shared: _Shared | None, window: int, processes: int | None, fresh: bool
) -> tuple[ProcessPoolExecutor, bool]:
    """The pool a batch of the command's thread runs on, and whether it is the block's (kept after the batch)."""
    if shared is not None and shared.lost:
        raise BrokenProcessPool("a task failed beside this batch: the command's workers were stopped")
    if shared is not None and fresh and shared.pool is not None:  # its workers hold the parent as it was
        pool, shared.pool = shared.pool, None
        pool.shutdown()
    reuse = shared is not None and not fresh and shared.asked == processes and shared.size >= window
    if reuse and shared is not None and shared.pool is None:
        shared.pool = _new_pool(shared.size)
    if reuse and shared is not None and shared.pool is not None:
        return shared.pool, True
    return _new_pool(window), False


def _run_window(
    ex: ProcessPoolExecutor, func: Callable, tasks: list, window: int, progress: Callable[[int], None] | None
) -> list:
    """``tasks`` on ``ex``, ``window`` at a time (the next submitted as one ends); results in task order."""
    out: list = [None] * len(tasks)
    index: dict[Future, int] = {}
    running: set[Future] = set()
    for i, t in enumerate(tasks):
        if len(running) == window:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            _collect(done, index, out, progress)
        with critical():  # the first submission forks the workers: a stop must not land in an at-fork hook
            try:
                f = ex.submit(func, t)
            except RuntimeError as exc:  # shut down under this batch: a failure beside it stopped the workers
                raise BrokenProcessPool(f"the command's workers were stopped ({exc})") from None
        index[f] = i
        running.add(f)
    while running:
        done, running = wait(running, return_when=FIRST_COMPLETED)
        _collect(done, index, out, progress)
    return out


def _collect(done: set[Future], index: dict[Future, int], out: list, progress: Callable[[int], None] | None) -> None:
    for f in done:
        out[index[f]] = f.result()  # a task's exception is raised here
        if progress:
            progress(1)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker_init(parent: int) -> None:
    global _SHARED
    _SHARED = None  # the parent's block is not this worker's: its pool copy has no manager thread here
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:  # the kernel kills this worker when its parent dies, even by SIGKILL
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    retain_freed_memory()


# glibc's malloc.h: mallopt's parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_RETAIN_BYTES = 1 << 28


def retain_freed_memory() -> bool:
    """Let this process reuse the memory it frees for its next arrays instead of handing it back to the system.
    By default glibc gives each array above 32 MB a mapping of its own and unmaps it when freed, so every
    replication's arrays land on pages the kernel must fault in one by one (a Weihai year: about 20,000 faults,
    a twentieth of its time). With no such mapping below 256 MB and no trimming, the next replication's arrays
    reuse the last one's pages. Larger arrays (a megacity's) keep a mapping of their own: numpy asks for huge
    pages there, which the reused heap would not give (with no limit, a megacity year took 5% longer for 10%
    more memory; with this one 9% less time and 1-2% more memory). A process keeps what it freed until it ends:
    this is for processes that end with the command (the workers of ``map_tasks`` and the command line), not
    for a library's caller or the desk's server. The numbers do not change. False where the C library has no
    such setting (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - no mallopt in this C library
        return False
    if not sys.platform.startswith("linux"):  # pragma: no cover - another C library's mallopt means other things
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _RETAIN_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * _RETAIN_BYTES))


def _stop(ex: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers now and release the pool without waiting for running tasks."""
    with critical():  # a repeated stop must not leave a worker running (the interpreter's exit would wait for it)
        workers = list((getattr(ex, "_processes", None) or {}).values())
        for w in workers:
            w.terminate()
        ex.shutdown(wait=False)  # tasks not started fail as the pool breaks, which wakes any thread waiting on them
        for w in workers:
            w.join(timeout=1)
            if w.is_alive():  # pragma: no cover - SIGTERM is not ignored by workers
                w.kill()
                w.join(timeout=1)


def default_processes() -> int:
    """The cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

"""The desk's simulations: a bounded queue of jobs on worker processes that die with the desk.

A job is one simulation of the edited allocation and the baseline, one task per replication. Limits
(the README's desk section states them):

- a page (session) has at most ``MAX_JOBS_PER_SESSION`` unfinished jobs, and all pages together at most
  ``MAX_QUEUED`` replications queued or running; a job beyond either is refused with a message saying
  which limit and what to do (wait, or cancel);
- a job can be cancelled: its queued replications are dropped at once, a running one finishes in its
  worker and is discarded;
- a finished or cancelled job is dropped ``KEEP_S`` seconds after it ended, its results with it.

Workers are started with ``spawn``: a fresh interpreter that inherits no open file of the desk (the
listening socket included, so a new desk can bind the port as soon as this one is gone). Each worker
watches its parent and ends within a fraction of a second when the parent is gone, however it died
(SIGKILL included; the kernel's parent-death signal would follow the thread that started the worker, a
short-lived request thread here, not the desk).
"""

from __future__ import annotations

import atexit
import csv
import gc
import io
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from gridplan.deskworker import worker_init
from scenario.allocation import Allocation
from scenario.errors import GridplanError
from scenario.load import Scenario
from sim.replications import replication_seeds, run_replication
from sim.stopping import critical

__all__ = ["Job", "JobRegistry", "DeskBusy", "JOBS", "MAX_JOBS_PER_SESSION", "MAX_QUEUED", "KEEP_S"]

MAX_JOBS_PER_SESSION = 2  # unfinished simulations of one page
MAX_QUEUED = 120  # replications queued or running, all pages together (three full jobs of 2 x 20)
KEEP_S = 600.0  # a finished job's results are kept this long for its page to read, then dropped


class DeskBusy(GridplanError):
    """A simulation refused because a limit of the desk's queue is reached; the message says which."""


@dataclass
class Job:
    """A simulation of allocations on the same complaints, one task per replication."""

    session: str
    futures: list[Future]
    labels: list[str]
    reps: int
    seed: int
    days: int
    allocation_csv: str = ""  # the last allocation simulated (the edited one), as its table: the report shows it
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None  # when the last task ended or the job was cancelled
    cancelled: bool = False

    @property
    def done(self) -> int:
        return sum(f.done() for f in self.futures)

    @property
    def unfinished(self) -> int:
        return sum(not f.done() for f in self.futures)


def _spawn_pool() -> Executor:
    workers = max(1, min(2, os.cpu_count() or 1))
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=worker_init, initargs=(os.getpid(),))


class JobRegistry:
    """Jobs by id, each tied to the session (page load) that started it, within the desk's limits."""

    def __init__(
        self,
        pool_factory: Callable[[], Executor] = _spawn_pool,
        max_per_session: int = MAX_JOBS_PER_SESSION,
        max_queued: int = MAX_QUEUED,
        keep_s: float = KEEP_S,
    ) -> None:
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self._pool: Executor | None = None
        self._pool_factory = pool_factory
        self.max_per_session, self.max_queued, self.keep_s = max_per_session, max_queued, keep_s

    @property
    def pool(self) -> Executor:
        with self.lock:
            if self._pool is None:
                self._pool = self._pool_factory()
                atexit.register(self.shutdown)
            return self._pool

    def _prune(self) -> None:
        """Note when jobs ended; drop those that ended more than ``keep_s`` ago (the lock is held)."""
        now = time.monotonic()
        for job_id, job in list(self.jobs.items()):
            if job.ended is None and job.unfinished == 0:
                job.ended = now
            if job.ended is not None and now - job.ended >= self.keep_s:
                del self.jobs[job_id]

    def _admit(self, session: str, tasks: int) -> None:
        """Raise DeskBusy when one more job of ``tasks`` replications would pass a limit (the lock is held)."""
        mine = sum(1 for j in self.jobs.values() if j.session == session and j.unfinished and not j.cancelled)
        if mine >= self.max_per_session:
            raise DeskBusy(
                f"this page already has {mine} simulations running (at most {self.max_per_session}); "
                f"wait for one to finish or cancel it"
            )
        queued = sum(j.unfinished for j in self.jobs.values())
        if queued + tasks > self.max_queued:
            raise DeskBusy(
                f"the desk is busy: {queued} replications are queued or running and this run adds {tasks} "
                f"(at most {self.max_queued} in all); wait a little, or run fewer replications"
            )

    def start(
        self, session: str, s: Scenario, allocations: list[tuple[str, Allocation]], reps: int, days: int, seed: int
    ) -> str:
        """Queue a job; its id.

        Raises:
            DeskBusy: the page's or the desk's limit is reached (nothing is queued).
        """
        seqs = replication_seeds(seed, reps)
        pool = self.pool
        with self.lock:  # admitted and queued at once: two pages at the same moment cannot pass a limit together
            self._prune()
            self._admit(session, len(allocations) * reps)
            futures = [
                pool.submit(run_replication, s, a, days, seqs[r], r) for _, a in allocations for r in range(reps)
            ]
            job_id = uuid.uuid4().hex
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(allocations[-1][1].to_rows())
            labels = [label for label, _ in allocations]
            self.jobs[job_id] = Job(session, futures, labels, reps, seed, days, buf.getvalue())
        return job_id

    def get(self, session: str, job_id: str) -> Job | None:
        """The job, only for the session that started it (None once dropped)."""
        with self.lock:
            self._prune()
            job = self.jobs.get(job_id)
        return job if job is not None and job.session == session else None

    def cancel(self, session: str, job_id: str) -> int:
        """Cancel a job of this session; the number of replications dropped before they ran."""
        job = self.get(session, job_id)
        if job is None:
            return 0
        dropped = sum(f.cancel() for f in job.futures)
        with self.lock:
            job.cancelled, job.ended = True, time.monotonic()
        return dropped

    def shutdown(self) -> None:
        """End the workers now (the desk is stopping): queued replications are dropped, running ones killed.

        The pool is then released within a second at most (a worker killed while sending a result can
        leave its reader waiting), so that its named semaphores are removed, not reported as leaked."""
        with critical():  # a repeated stop must not leave a worker running
            pool, self._pool = self._pool, None
            if pool is None:
                return
            for w in list((getattr(pool, "_processes", None) or {}).values()):
                w.terminate()
            release = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True}, daemon=True)
            release.start()
            release.join(timeout=1.0)
            del pool
            gc.collect()


JOBS = JobRegistry()

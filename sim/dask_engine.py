"""Dask as the engine for independent work (replications, compared allocations, sweep points, rounds).

``with dask_engine(scheduler="tcp://HOST:PORT")`` uses an existing cluster; ``dask_engine(workers=N)``
starts a local cluster of N single-threaded worker processes for the duration. Inside the block,
``sim.replications.map_tasks`` sends its tasks to the cluster; outside, it uses local processes. Tasks
are the same pure functions of their arguments either way, so the numbers are identical: the seed,
not the engine, decides them (tested with a LocalCluster). Dask is optional: ``pip install
'gridplan[dask]'``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from scenario.errors import GridplanError

__all__ = ["dask_engine", "active_client", "map_on_dask"]

_CLIENT: Any = None


def active_client() -> Any:
    """The Dask client of the enclosing ``dask_engine`` block, or None."""
    return _CLIENT


@contextlib.contextmanager
def dask_engine(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """Run the block's independent tasks on Dask (see the module docstring); a no-op when both are None."""
    global _CLIENT
    if scheduler is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise GridplanError(
            "Dask is not installed: pip install 'gridplan[dask]' (or drop --scheduler and "
            "--dask-workers to use local processes)"
        ) from None
    if not logging.getLogger("gridplan").isEnabledFor(logging.INFO):  # Dask's own news only with --verbose
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = None
    try:
        if scheduler is not None:
            client = Client(scheduler, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise GridplanError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
    previous, _CLIENT = _CLIENT, client
    try:
        yield client
    finally:
        _CLIENT = previous
        client.close()
        if cluster is not None:
            cluster.close()


def map_on_dask(client: Any, func: Callable, tasks: list, progress: Callable[[int], None] | None) -> list:
    """``[func(t) for t in tasks]`` on the cluster, results in task order; progress per finished task."""
    from distributed import as_completed

    # the tasks' data go straight to the workers (no task graph of several hundred MB; dask warns of one)
    data = client.scatter(tasks, hash=False)
    futures = client.map(func, data, pure=False)
    try:
        for _ in as_completed(futures):
            if progress:
                progress(1)
        return client.gather(futures)
    except BaseException:
        client.cancel(futures + data)
        raise

"""The start of a desk worker: standard library only, so that it runs before the heavy imports.

A spawned worker unpickles its initializer, and so imports this module, before any task; the watch on
the desk starts then, and a worker whose desk was killed during its start ends within ``WATCH_S``
seconds of its first instructions, not after numpy and pandas are loaded.
"""

from __future__ import annotations

import os
import signal
import threading
import time

__all__ = ["worker_init", "WATCH_S"]

WATCH_S = 0.2  # how often a worker checks that the desk is still there


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:  # reparented: the desk is gone
            os._exit(1)
        time.sleep(WATCH_S)


def worker_init(parent: int) -> None:
    """Ignore Ctrl-C (the desk stops its workers) and end as soon as the desk ``parent`` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch_parent, args=(parent,), name="gridplan-watch-desk", daemon=True).start()

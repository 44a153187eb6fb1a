"""Critical sections that a stop (Ctrl-C, SIGTERM) must not cut short.

The command line turns SIGINT and SIGTERM into exceptions raised in the main
thread, between any two bytecodes. Some moments must not be cut: renaming a
result folder into place (a stop between two renames would lose the earlier
result), and forking worker processes (an exception raised in an at-fork hook is
printed as "Exception ignored" and lost). Code runs those inside
:func:`critical`; a stop that arrives meanwhile is raised when the section ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["critical", "stop_now"]

_depth = 0
_pending: list[BaseException] = []


def stop_now(exc: BaseException) -> None:
    """Raise ``exc`` now, or when the current critical section ends (for signal handlers)."""
    if _depth:
        if not _pending:
            _pending.append(exc)
        return
    _pending.clear()
    raise exc


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Defer stops raised through :func:`stop_now` until the block is done. Stops are raised in the main thread
    only (signal handlers run there): in another thread (a workflow run beside the main one) the block defers
    nothing, and must not hold back, or raise there, the main thread's stop."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending:
            exc = _pending.pop()
            _pending.clear()
            raise exc

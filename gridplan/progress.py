"""Progress on long runs: a bar on a terminal, a line every few seconds on a pipe or log, nothing with --quiet.

Progress goes to stderr, so that results on stdout stay clean for a pipe.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

__all__ = ["progress", "say", "set_quiet", "quiet", "LINE_EVERY_S"]

LINE_EVERY_S = 5.0
_QUIET = False


def set_quiet(value: bool) -> None:
    """Silence (or restore) progress output for this process."""
    global _QUIET
    _QUIET = bool(value)


def quiet() -> bool:
    """Whether progress output is silenced."""
    return _QUIET


def say(message: str) -> None:
    """A progress message of a long run, on stdout (silenced by --quiet); results are printed, not said."""
    if not _QUIET:
        print(message, flush=True)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


class _Lines:
    """Stage, done/total and an ETA, printed at most every LINE_EVERY_S seconds and once at the end."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.t0 = time.monotonic()
        self.last = self.t0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= LINE_EVERY_S:
            self.last = now
            self.line(now)

    def line(self, now: float) -> None:
        elapsed = now - self.t0
        if self.total:
            eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
            eta_text = f", ETA {_clock(eta)}" if self.done else ""
            text = (
                f"{self.desc}: {self.done}/{self.total} {self.unit} ({self.done / self.total:.0%}), "
                f"elapsed {_clock(elapsed)}{eta_text}"
            )
        else:
            text = f"{self.desc}: {self.done} {self.unit} done, elapsed {_clock(elapsed)}"
        print(text, file=sys.stderr, flush=True)


def _ignore(n: int = 1) -> None:
    """Progress that goes nowhere (--quiet)."""


@contextlib.contextmanager
def progress(total: int | None, desc: str, unit: str = "rep") -> Iterator[Callable[[int], None]]:
    """Yield an ``update(n=1)`` callable; see the module docstring for where progress shows."""
    if _QUIET:
        yield _ignore
        return
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr) as bar:
            yield bar.update
        return
    lines = _Lines(total, desc, unit)
    try:
        yield lines.update
    finally:
        if lines.done:
            lines.line(time.monotonic())

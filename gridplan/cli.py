"""The ``gridplan`` command line. Errors: one line on stderr, exit code 2."""

from __future__ import annotations

import _thread
import argparse
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from gridplan.limits import (
    MAX_BUDGET_YUAN,
    MAX_DAYS,
    MAX_PLAN_YEARS,
    MAX_PROCESSES,
    MAX_REPS,
    MAX_SEED,
    MAX_SWEEP_POINTS,
)
from solvers.names import MAX_CHANGE_WORKERS, MAX_SPREAD_PER_10K, OBJECTIVES, SOLVER_CHOICES, SOLVER_HELP

__all__ = ["main", "entry", "build_parser"]

log = logging.getLogger("gridplan")


def _cmd(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from gridplan import commands

        return getattr(commands, name)(args)

    return run


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage text is one ``--help`` away)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A value such as -5:-1:1 is a (bad) value, not an unknown option: let the type check report it.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(message: object) -> str:
    """A message as one line that cannot drive the terminal (a value typed or read may hold escapes)."""
    from scenario.textrules import printable

    return printable(" ".join(str(message).split()))


def _number(
    text: str,
    *,
    whole: bool = False,
    low: float = 0,
    high: float = float("inf"),
    low_open: bool = False,
    unit: str = "",
) -> float:
    """Parse one number in [low, high] (or (low, high]); argparse names the option in its error."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    if whole and v != int(v):
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}")
    if v < low or (low_open and v == low):
        raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low:g}, found {text}")
    if v > high:
        raise argparse.ArgumentTypeError(f"must be <= {high:,.0f}{unit} (a plausible upper bound), found {text}")
    return v


def _bounded(whole: bool = False, low: float = 0, high: float = float("inf"), unit: str = "") -> Callable[[str], float]:
    def parse(text: str) -> float:
        v = _number(text, whole=whole, low=low, high=high, unit=unit)
        return int(v) if whole else v

    parse.__name__ = "number"  # argparse shows this name for a value it cannot convert
    return parse


_seed = _bounded(whole=True, high=MAX_SEED)
_days = _bounded(whole=True, low=1, high=MAX_DAYS, unit=" days")
_reps = _bounded(whole=True, low=1, high=MAX_REPS, unit=" replications")
_reps_or_none = _bounded(whole=True, low=0, high=MAX_REPS, unit=" replications")


# commands whose answer is an interval or a paired difference: one replication gives no interval
def _reps_paired(text: str) -> int:
    v = _reps(text)
    if v < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (an interval needs two replications), found {text}")
    return int(v)


_reps_paired.__name__ = "number"
_processes = _bounded(whole=True, low=1, high=MAX_PROCESSES, unit=" processes")
_years = _bounded(whole=True, low=1, high=MAX_PLAN_YEARS, unit=" years")
_budget = _bounded(high=MAX_BUDGET_YUAN, unit=" yuan")
_max_change = _bounded(whole=True, high=MAX_CHANGE_WORKERS, unit=" workers")
_spread = _bounded(high=MAX_SPREAD_PER_10K, unit=" workers per 10,000 residents")


def _budget_range(text: str) -> list[float]:
    """FROM:TO:STEP in yuan (TO included): finite, FROM <= TO, STEP > 0, at most MAX_SWEEP_POINTS points."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected FROM:TO:STEP in yuan, found {text!r}")
    a, b = (_number(x, high=MAX_BUDGET_YUAN, unit=" yuan") for x in parts[:2])
    step = _number(parts[2], low=0, low_open=True, high=MAX_BUDGET_YUAN, unit=" yuan")
    if b < a:
        raise argparse.ArgumentTypeError(f"TO must be >= FROM, found {text!r}")
    n = math.floor((b - a) / step + 1e-9) + 1
    if n > MAX_SWEEP_POINTS:
        raise argparse.ArgumentTypeError(
            f"gives {n:,} budget points, more than {MAX_SWEEP_POINTS}; use a larger STEP, found {text!r}"
        )
    return [a + i * step for i in range(n)]


def _path(text: str) -> Path:
    """A path argument; an empty one is refused (it would read as the current folder, ".")."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, found {text!r}")
    return Path(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (options are checked here, before any computing)."""
    from gridplan import __version__

    p = _Parser(prog="gridplan", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--version", action="version", version=f"gridplan {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress (bars on a terminal, a line every few seconds on a pipe or log)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_study_and_schema(sub)
    _add_scenario_commands(sub)
    _add_planning_commands(sub)
    for sp in sub.choices.values():  # after the command too (gridplan simulate ... -q), as planners type them
        sp.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def _add(sub, name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
    """A command that takes a scenario."""
    sp = sub.add_parser(name, help=help_, description=help_)
    sp.set_defaults(func=func)
    sp.add_argument("scenario", type=_path, help="scenario YAML file, or a folder holding scenario.yaml")
    return sp


def _out_arg(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--out", type=_path, help="result folder (default results/SCENARIO/RUN-ID)")


def _sim_args(sp: argparse.ArgumentParser, reps: int, paired: bool = False, none: str = "") -> None:
    """Options of every simulating command (``paired``: its answer is an interval, so at least 2 reps;
    ``none``: what --reps 0 means, when the command can do without simulation)."""
    if none:
        sp.add_argument("--reps", type=_reps_or_none, default=reps, help=f"replications (default {reps}; 0: {none})")
    elif paired:
        sp.add_argument(
            "--reps",
            type=_reps_paired,
            default=reps,
            help=f"replications, at least 2: the answer's intervals need two (default {reps})",
        )
    else:
        sp.add_argument("--reps", type=_reps, default=reps, help=f"replications (default {reps})")
    sp.add_argument(
        "--days", type=_days, help="simulated days (default: the scenario's calendar.days; more than its warm-up)"
    )
    sp.add_argument("--seed", type=_seed, help="random seed, 0 to 2**32-1 (default: the scenario's seed)")
    sp.add_argument(
        "--processes",
        type=_processes,
        help="local processes (default: all cores, plus a few so that no core idles at the end of a batch)",
    )
    sp.add_argument("--scheduler", help="run replications and points on this Dask cluster (tcp://HOST:PORT)")
    sp.add_argument(
        "--dask-workers",
        type=_processes,
        help="run replications and points on a local Dask cluster of this many workers",
    )
    _out_arg(sp)


def _opt_args(sp: argparse.ArgumentParser) -> None:
    """Options of every allocating command."""
    sp.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="min-cost",
        help="min-cost, max-service (on-time work hours within a budget), rebalance (the baseline's "
        "money moved to where the work is) or equity",
    )
    sp.add_argument("--budget-yuan", type=_budget, help="total budget of all funders (yuan a year)")
    sp.add_argument("--max-change", type=_max_change, help="largest change of workers per community from the baseline")
    sp.add_argument(
        "--equity-spread-per-10k",
        type=_spread,
        help="largest difference in workers per 10,000 residents between communities",
    )
    sp.add_argument(
        "--free-mobile",
        action="store_true",
        help="let the model change mobile grid workers "
        "(default: kept at the baseline; the queueing curves do not value them)",
    )
    sp.add_argument("--solver", choices=SOLVER_CHOICES, default="auto", help=SOLVER_HELP)


def _add_study_and_schema(sub) -> None:
    """The commands that take no scenario: study (a study file) and schema."""
    sp: argparse.ArgumentParser = sub.add_parser(
        "study",
        help="run a study file: a grid of scenario variants, resumable, one table",
        description="run a study file (a grid of scenario variants), resumable, into one table",
    )
    sp.set_defaults(func=_cmd("study_cmd"))
    sp.add_argument("study", type=_path, help="study YAML file (in a scenario's folder), or a folder with study.yaml")
    sp.add_argument(
        "--processes",
        type=_processes,
        help="local processes (default: all cores, plus a few so that no core idles at the end of a batch)",
    )
    sp.add_argument("--scheduler", help="run the points on this Dask cluster (tcp://HOST:PORT)")
    sp.add_argument("--dask-workers", type=_processes, help="run the points on a local Dask cluster")
    sp.add_argument("--resume", action="store_true", help="reuse the points an interrupted run finished")
    _out_arg(sp)
    sp = sub.add_parser(
        "schema",
        help="write the scenario format's JSON Schema (for editors)",
        description="write the scenario format's JSON Schema (for editors that validate YAML)",
    )
    sp.set_defaults(func=_cmd("schema"))
    sp.add_argument("--out", type=_path, help="write here instead of printing")


def _add_scenario_commands(sub) -> None:
    """validate, check, simulate and allocate: one scenario, one allocation."""
    _add(sub, "validate", _cmd("validate"), "validate a scenario and print a one-screen summary")
    sp = _add(
        sub, "check", _cmd("check"), "check an allocation against every policy rule and budget (exit 1 if any fails)"
    )
    sp.add_argument("--allocation", type=_path, help="allocation table CSV (default: the scenario's baseline)")
    sp.add_argument(
        "--partial", action="store_true", help="allow an allocation with missing rows; they are taken from the baseline"
    )
    sp.add_argument("--out", type=_path, help="write the per-unit check table as CSV here")
    sp = _add(sub, "simulate", _cmd("simulate"), "simulate a year of case handling under an allocation")
    sp.add_argument("--allocation", type=_path, help="allocation table CSV (default: the scenario's baseline)")
    sp.add_argument("--partial", action="store_true", help="missing rows of the allocation come from the baseline")
    sp.add_argument(
        "--split-districts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each replication as one task per district, each aggregating its own case log (a large "
        "city on several cores, in bounded memory); the same numbers as the whole replication "
        "(default: split above 2 million expected cases, e.g. the megacity)",
    )
    sp.add_argument(
        "--case-log",
        action="store_true",
        help="also write the case log: one row per case, every replication, as a Parquet dataset (case_log/; "
        "about 60 MB a Weihai year). Off by default: the KPIs are computed from it either way",
    )
    _sim_args(sp, 5)
    sp = _add(sub, "allocate", _cmd("allocate_cmd"), "optimise workers and funds by linear programming")
    _opt_args(sp)
    _out_arg(sp)


def _add_planning_commands(sub) -> None:
    """compare, optimize, sweep, serve, scorecard and run: allocations against each other and the targets."""
    sp = _add(sub, "compare", _cmd("compare_cmd"), "simulate allocations on the same complaints and compare them")
    sp.add_argument(
        "--allocation",
        type=_path,
        action="append",
        required=True,
        help="allocation table (repeat); missing rows come from the baseline",
    )
    sp.add_argument(
        "--no-baseline",
        dest="with_baseline",
        action="store_false",
        help="do not include the baseline as the first allocation",
    )
    _sim_args(sp, 5, paired=True)
    sp = _add(
        sub, "optimize", _cmd("optimize_cmd"), "allocate, simulate, correct the curves, repeat until targets are met"
    )
    _opt_args(sp)
    _sim_args(sp, 5, paired=True)
    sp = _add(sub, "sweep", _cmd("sweep_cmd"), "budget versus on-time frontier of max-service allocations")
    sp.add_argument(
        "--budget-yuan",
        required=True,
        type=_budget_range,
        help=f"FROM:TO:STEP in yuan a year (TO included; at most {MAX_SWEEP_POINTS} points)",
    )
    sp.add_argument("--solver", choices=SOLVER_CHOICES, default="auto", help=SOLVER_HELP)
    sp.add_argument(
        "--resume", action="store_true", help="reuse the points an interrupted sweep with the same --out finished"
    )
    _sim_args(sp, 3, paired=True)
    sp = _add(
        sub, "serve", _cmd("serve_cmd"), "the planner's desk: a local web page to edit, check, simulate and allocate"
    )
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sp.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    sp.add_argument(
        "--token",
        help="access token every request must carry (at least 8 characters); required for a non-local --host. "
        "Prefer the GRIDPLAN_TOKEN environment variable or --token-file: other users see a command line",
    )
    sp.add_argument("--token-file", type=_path, help="read the access token from this file (its first line)")
    sp = _add(
        sub,
        "scorecard",
        _cmd("scorecard_cmd"),
        "annual appraisal scores of every street and community from simulated KPIs, with intervals",
    )
    sp.add_argument("--allocation", type=_path, help="allocation table CSV (default: the scenario's baseline)")
    _sim_args(sp, 5, paired=True)
    sp = _add(sub, "run", _cmd("run_cmd"), "the main job: validate, check, optimise, compare, report")
    _opt_args(sp)
    _sim_args(sp, 5, paired=True)
    _add_plan(sub)
    _add_robust(sub)
    _add_next_million(sub)


def _add_next_million(sub) -> None:
    sp = _add(
        sub,
        "next-million",
        _cmd("next_million_cmd"),
        "where the next million yuan goes: per community, what it buys as fund and as staff, checked by simulation",
    )
    sp.add_argument("--allocation", type=_path, help="allocation table CSV (default: the scenario's baseline)")
    sp.add_argument(
        "--check",
        type=_bounded(whole=True, low=1, high=100),
        default=5,
        help="communities re-simulated at each end of each use's ranking (default 5)",
    )
    _sim_args(sp, 3, paired=True)


def _probability(text: str) -> float:
    """A share of simulated years, strictly between 0 and 1 (the API's rule)."""
    v = _number(text, low=-math.inf)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1 (a share of simulated years), found {text}")
    return v


_probability.__name__ = "number"


def _levels(text: str) -> tuple[float | None, ...]:
    """P,P,... probabilities (each strictly between 0 and 1), 'mean' for the mean rule; at most 10."""
    from workflows.robust import MAX_LEVELS

    parts = [x.strip() for x in text.split(",")]
    if not 1 <= len(parts) <= MAX_LEVELS or any(not x for x in parts):
        raise argparse.ArgumentTypeError(
            f"expected 1 to {MAX_LEVELS} comma-separated probabilities or 'mean', found {text!r}"
        )
    return tuple(None if x == "mean" else _probability(x) for x in parts)


_levels.__name__ = "levels"


def _add_robust(sub) -> None:
    """robust: the cheapest allocation whose targets hold with a stated probability, and its cost."""
    sp = _add(
        sub,
        "robust",
        _cmd("robust_cmd"),
        "the cheapest plan whose targets hold in a stated share of simulated years (and variants), checked on "
        "fresh years; the margin each unit needs and the cost of robustness",
    )
    sp.add_argument(
        "--probability",
        type=_probability,
        help="share of simulated years the targets must hold in (default: the scenario's targets.hold_probability)",
    )
    sp.add_argument(
        "--variant",
        action="append",
        help="a variant file of the scenario's folder whose years count too (repeat; default: the scenario's "
        "targets.hold_variants; --variant none: no variant)",
    )
    sp.add_argument(
        "--levels",
        type=_levels,
        default=(None,),
        help="the cost of robustness at these probabilities too, e.g. mean,0.5,0.8,0.9,0.95 (default: mean)",
    )
    sp.add_argument(
        "--validation-reps",
        type=_reps_paired,
        default=4,
        help="fresh replications of each variant that check the plan (default 4, at least 2)",
    )
    sp.add_argument(
        "--max-iterations", type=_bounded(whole=True, low=1, high=50), default=6, help="loop rounds (default 6)"
    )
    sp.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="do not check the scenario's fixed planning margin on the same fresh years",
    )
    sp.add_argument("--solver", choices=SOLVER_CHOICES, default="auto", help=SOLVER_HELP)
    _sim_args(sp, 3, paired=True)


def _add_plan(sub) -> None:
    """plan: a path over years from today's staffing to an allocation that meets the targets."""
    sp = _add(
        sub,
        "plan",
        _cmd("plan_cmd"),
        "a multi-year plan: hires, leavers, moves and pay year by year from today to the targets",
    )
    sp.add_argument("--years", type=_years, default=3, help="years of the plan (default 3, at most 30)")
    sp.add_argument(
        "--target-year",
        type=_years,
        help="the year from which the targets must hold (default: the last year, the cheapest path)",
    )
    sp.add_argument("--no-faster", dest="faster", action="store_false", help="skip the cost of every faster path")
    sp.add_argument("--solver", choices=SOLVER_CHOICES, default="auto", help=SOLVER_HELP)
    _sim_args(sp, 2, none="no simulation, the path and its costs only")


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C), raised in the main thread so that context managers remove temporary files.

    A subclass, not KeyboardInterrupt itself: CPython makes a process that saw a bare
    KeyboardInterrupt pass through code run by ``PyRun_String`` (some extension
    modules' imports) end by SIGINT even after gridplan caught it, not by exit code 130.
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that context managers remove temporary files."""


class _StopSignals:
    """SIGINT and SIGTERM become exceptions in the main thread, raised again every 0.5 s until the command ends.

    Python drops an exception raised where it cannot propagate (a ``__del__``, a
    weakref callback, some library's bare ``except``), so a single raise can be
    lost and the command would run on; repeating it keeps every stop prompt.
    Once ``ending`` is set (the command is reporting its end) signals do nothing.
    Outside the main thread (an embedding program) signals are left alone. A stop
    dropped that way is not reported as "Exception ignored" with a traceback (numba's
    compiler calls back into Python through ctypes, where a stop lands during a first
    compile): the repeat raises it again where it can end the command.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> "_StopSignals":
        self.signum: int | None = None
        self.ending = False
        self.lock = threading.Lock()
        self.pid = os.getpid()
        active = threading.current_thread() is threading.main_thread()
        self.previous = {s: signal.signal(s, self._raise) for s in self.SIGNALS} if active else {}
        self.previous_hook = sys.unraisablehook
        if active:
            sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, u: object) -> None:
        if isinstance(getattr(u, "exc_value", None), (Interrupted, Terminated)):
            return  # a stop dropped where it cannot propagate: the repeat raises it again
        self.previous_hook(u)  # type: ignore[arg-type]

    def _raise(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:  # a worker forked before it set its own handlers: it just ends
            os._exit(128 + signum)
        if self.ending:
            return
        if self.signum is None:
            self.signum = signum
            threading.Thread(target=self._repeat, name="gridplan-stop", daemon=True).start()
        exc = Terminated() if self.signum == signal.SIGTERM else Interrupted()
        # sim.stopping not (fully) imported yet: no critical section can be running
        stop_now = getattr(sys.modules.get("sim.stopping"), "stop_now", None)
        if stop_now is None:
            raise exc
        stop_now(exc)

    def _repeat(self) -> None:
        while True:
            time.sleep(0.5)
            with self.lock:
                if self.ending:
                    return
                _thread.interrupt_main(signal.Signals(self.signum or signal.SIGINT))

    def __exit__(self, *exc: object) -> None:
        with self.lock:  # no repeat is on its way once this is set
            self.ending = True
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        if self.previous:
            sys.unraisablehook = self.previous_hook


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (2: bad input, 130: Ctrl-C, 143: SIGTERM)."""
    with _StopSignals() as stop:
        try:
            from scenario.errors import GridplanError  # after the handlers: an early Ctrl-C is one line too

            try:
                args = build_parser().parse_args(argv)
            except SystemExit as exc:  # --help, --version, or a bad option (one line already printed)
                return int(exc.code or 0)
            from gridplan.progress import set_quiet

            set_quiet(args.quiet)
            logging.basicConfig(
                level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
            )
            from sim.dask_engine import dask_engine
            from sim.workers import retain_freed_memory, shared_workers

            if args.command != "serve":  # the process ends with the command: freed memory is for its next arrays
                retain_freed_memory()

            # one pool of workers for the whole command, asked for by its --processes (all cores by default)
            with (
                dask_engine(getattr(args, "scheduler", None), getattr(args, "dask_workers", None)),
                shared_workers(getattr(args, "processes", None)),
            ):
                code = int(args.func(args) or 0)
                if stop.signum is not None:  # a library's loop (the desk's web server) swallowed the stop
                    raise Terminated() if stop.signum == signal.SIGTERM else Interrupted()
                return code
        except (KeyboardInterrupt, ImportError) as exc:
            # A stop that lands while an extension module initialises (scipy's, under load) comes out of the
            # import as "ImportError: initialization failed" caused by it: a stop all the same.
            if isinstance(exc, ImportError) and not isinstance(exc.__cause__, KeyboardInterrupt):
                raise
            stop.ending = True  # first, before any other call: a repeated signal must not interrupt the report
            term = isinstance(exc, Terminated) or stop.signum == signal.SIGTERM
            print(
                f"gridplan: {'terminated' if term else 'interrupted'}; nothing half-written was left", file=sys.stderr
            )
            return 143 if term else 130
        except GridplanError as exc:
            print(f"gridplan: error: {_one_line(exc)}", file=sys.stderr)
            return 2


def entry() -> NoReturn:
    """The ``gridplan`` program: :func:`main`, then exit with its code.

    After a stop, everything of ours is cleaned up and the workers are gone; the
    process then ends at once rather than in the interpreter's exit handlers, which
    join the process pool's manager thread and could wait on a worker killed in
    the middle of sending its result. A reader that closes the pipe early ends the
    program quietly with 141 (128 + SIGPIPE), as it ends any Unix filter.
    """
    for stream in (sys.stdout, sys.stderr):  # a character the terminal cannot show is escaped, never fatal
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        code = main()
    except BrokenPipeError:  # the reader went away (gridplan validate ... | head -1): stop quietly, like head's writer
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
        sys.exit(128 + signal.SIGPIPE)
    if code in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()

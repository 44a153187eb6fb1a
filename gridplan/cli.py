"""The ``gridplan`` command line. Errors: one line on stderr, exit code 2."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from sim.errors import GridplanError
from solvers.lpmodel import OBJECTIVES
from solvers.lpsolve import SOLVERS

__all__ = ["main", "build_parser"]

log = logging.getLogger("gridplan")


def _cmd(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from gridplan import commands
        return getattr(commands, name)(args)
    return run


def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, found {text}")
    return v


def _nonneg_int(text: str) -> int:
    v = _nonneg_float(text)
    if v != int(v):
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}")
    return int(v)


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, found {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from gridplan import __version__
    p = argparse.ArgumentParser(prog="gridplan", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--version", action="version", version=f"gridplan {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        sp.add_argument("scenario", type=Path, help="scenario YAML file, or a folder holding scenario.yaml")
        return sp

    add("validate", _cmd("validate"), "validate a scenario and print a one-screen summary")
    sp = add("check", _cmd("check"), "check an allocation against every policy rule and budget (exit 1 if any fails)")
    sp.add_argument("--allocation", type=Path, help="allocation table CSV (default: the scenario's baseline)")
    sp.add_argument("--partial", action="store_true",
                    help="allow an allocation with missing rows; they are taken from the baseline")
    sp.add_argument("--out", type=Path, help="write the per-unit check table as CSV here")
    sp = add("simulate", _cmd("simulate"), "simulate a year of case handling under an allocation")
    sp.add_argument("--allocation", type=Path, help="allocation table CSV (default: the scenario's baseline)")
    sp.add_argument("--partial", action="store_true", help="missing rows of the allocation come from the baseline")
    sp.add_argument("--reps", type=_positive, default=5, help="independent replications (default 5)")
    sp.add_argument("--days", type=_positive, help="simulated days (default: the scenario's calendar.days)")
    sp.add_argument("--seed", type=int, help="random seed (default: the scenario's seed)")
    sp.add_argument("--processes", type=_positive, help="local processes (default: all cores)")
    sp.add_argument("--out", type=Path, help="result folder (default results/SCENARIO/RUN-ID)")
    sp = add("allocate", _cmd("allocate_cmd"), "optimise workers and funds by linear programming")
    sp.add_argument("--objective", choices=list(OBJECTIVES), default="min-cost")
    sp.add_argument("--budget-yuan", type=_nonneg_float, help="total budget of all funders (yuan a year)")
    sp.add_argument("--max-change", type=_nonneg_int, help="largest change of workers per community from the baseline")
    sp.add_argument("--equity-spread-per-10k", type=_nonneg_float,
                    help="largest difference in workers per 10,000 residents between communities")
    sp.add_argument("--free-mobile", action="store_true", help="let the model change mobile grid workers "
                    "(default: kept at the baseline; the queueing curves do not value them)")
    sp.add_argument("--solver", choices=["auto", *SOLVERS], default="auto",
                    help="auto: CBC for min-cost and equity, HiGHS (scipy) for max-service")
    sp.add_argument("--out", type=Path, help="result folder (default results/SCENARIO/RUN-ID)")

    def sim_args(sp: argparse.ArgumentParser, reps: int) -> None:
        sp.add_argument("--reps", type=_positive, default=reps, help=f"replications (default {reps})")
        sp.add_argument("--days", type=_positive, help="simulated days (default: the scenario's calendar.days)")
        sp.add_argument("--seed", type=int, help="random seed (default: the scenario's seed)")
        sp.add_argument("--processes", type=_positive, help="local processes (default: all cores)")
        sp.add_argument("--out", type=Path, help="result folder (default results/SCENARIO/RUN-ID)")

    def opt_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--objective", choices=list(OBJECTIVES), default="min-cost")
        sp.add_argument("--budget-yuan", type=_nonneg_float, help="total budget of all funders (yuan a year)")
        sp.add_argument("--max-change", type=_nonneg_int, help="largest change of workers per community")
        sp.add_argument("--equity-spread-per-10k", type=_nonneg_float, help="largest spread of workers per 10,000")
        sp.add_argument("--free-mobile", action="store_true", help="let the model change mobile grid workers")
        sp.add_argument("--solver", choices=["auto", *SOLVERS], default="auto",
                    help="auto: CBC for min-cost and equity, HiGHS (scipy) for max-service")

    sp = add("compare", _cmd("compare_cmd"), "simulate allocations on the same complaints and compare them")
    sp.add_argument("--allocation", type=Path, action="append", required=True,
                    help="allocation table (repeat); missing rows come from the baseline")
    sp.add_argument("--no-baseline", dest="with_baseline", action="store_false",
                    help="do not include the baseline as the first allocation")
    sim_args(sp, 5)
    sp = add("optimize", _cmd("optimize_cmd"), "allocate, simulate, correct the curves, repeat until targets are met")
    opt_args(sp)
    sim_args(sp, 5)
    sp = add("sweep", _cmd("sweep_cmd"), "budget versus on-time frontier of max-service allocations")
    sp.add_argument("--budget-yuan", required=True, help="FROM:TO:STEP in yuan a year")
    sp.add_argument("--solver", choices=["auto", *SOLVERS], default="auto",
                    help="auto: CBC for min-cost and equity, HiGHS (scipy) for max-service")
    sim_args(sp, 3)
    sp = add("run", _cmd("run_cmd"), "the main job: validate, check, optimise, compare, report")
    opt_args(sp)
    sim_args(sp, 5)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except GridplanError as exc:
        print(f"gridplan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("gridplan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

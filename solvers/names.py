"""Names the command line offers before anything heavy is imported (no numpy here)."""

from __future__ import annotations

__all__ = ["OBJECTIVES", "SOLVERS", "SOLVER_CHOICES", "SOLVER_HELP"]

OBJECTIVES = ("min-cost", "max-service", "rebalance", "equity")
SOLVERS = ("cbc", "highs", "scipy")
SOLVER_CHOICES = ("auto", *SOLVERS)
SOLVER_HELP = "auto (default): CBC for min-cost, equity and rebalance; HiGHS through scipy for max-service"

"""Names the command line offers before anything heavy is imported (no numpy here)."""

from __future__ import annotations

__all__ = ["OBJECTIVES", "SOLVERS", "SOLVER_CHOICES", "SOLVER_HELP", "MAX_CHANGE_WORKERS", "MAX_SPREAD_PER_10K"]

OBJECTIVES = ("min-cost", "max-service", "rebalance", "equity")
SOLVERS = ("cbc", "highs", "scipy")
SOLVER_CHOICES = ("auto", *SOLVERS)
SOLVER_HELP = "auto (default): CBC for min-cost, equity and rebalance; HiGHS through scipy for max-service"
# plausible upper bounds of the planner's limits (AllocationOptions and the command line)
MAX_CHANGE_WORKERS = 100_000  # workers per community, from the baseline
MAX_SPREAD_PER_10K = 10_000  # workers per 10,000 residents between communities

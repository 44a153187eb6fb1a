"""Policy checks, the allocation LP and simulation-optimisation. Builds on ``sim``."""

from solvers.costs import FunderCosts, funder_costs
from solvers.policy import PolicyReport, check_policy

__all__ = ["FunderCosts", "PolicyReport", "check_policy", "funder_costs"]

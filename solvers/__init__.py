"""Policy checks, the allocation LP and simulation-optimisation. Builds on ``sim``.

Importing the package imports nothing heavy (the command line reads ``solvers.names`` before it
installs its signal handlers); the names below load on first use.
"""

from __future__ import annotations

__all__ = ["FunderCosts", "PolicyReport", "check_policy", "funder_costs"]
_HOME = {
    "FunderCosts": "solvers.costs",
    "funder_costs": "solvers.costs",
    "PolicyReport": "solvers.policy",
    "check_policy": "solvers.policy",
}


def __getattr__(name: str):  # PEP 562
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'solvers' has no attribute {name!r}")

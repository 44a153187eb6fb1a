"""Errors of the solvers, reported to users as one line with exit code 2."""

from __future__ import annotations

from scenario.errors import GridplanError

__all__ = ["InfeasibleError", "UnboundedError", "SolverError"]


class InfeasibleError(GridplanError):
    """No allocation meets every constraint; the message names what collides and by how much."""


class UnboundedError(GridplanError):
    """The objective can improve without limit (typically: no budget bounds it)."""


class SolverError(GridplanError):
    """The solver failed, or its answer violates a constraint on our own re-check."""

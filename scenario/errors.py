"""Exceptions of gridplan. Every message is one line a planner can act on."""

from __future__ import annotations

__all__ = ["GridplanError", "ScenarioError", "AllocationError"]


class GridplanError(Exception):
    """Base class of all errors gridplan reports to users (exit code 2)."""


class ScenarioError(GridplanError):
    """A scenario file or one of its tables is invalid.

    The message names the file, the field or CSV row/column, the rule broken
    and the value found.
    """


class AllocationError(GridplanError):
    """An allocation table is invalid for the scenario it is used with."""

"""The scenario model: the scenario format, its loader and tables, allocations, and the planning arithmetic
of staff time. The bottom layer: imports nothing else of gridplan's."""

from scenario.allocation import Allocation, read_allocation, write_allocation
from scenario.errors import AllocationError, GridplanError, ScenarioError
from scenario.load import Scenario, load_scenario

__all__ = [
    "Allocation",
    "AllocationError",
    "GridplanError",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "read_allocation",
    "write_allocation",
]

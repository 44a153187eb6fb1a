"""Scenario model and discrete-event simulation of gridplan. Never imports ``solvers``."""

from sim.allocation import Allocation, read_allocation, write_allocation
from sim.errors import AllocationError, GridplanError, ScenarioError
from sim.scenario import Scenario, load_scenario

__all__ = ["Allocation", "AllocationError", "GridplanError", "Scenario", "ScenarioError", "load_scenario",
           "read_allocation", "write_allocation"]

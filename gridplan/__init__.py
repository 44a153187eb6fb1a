"""gridplan: staffing and funding planner for neighbourhood (grid) governance.

The Python API (``gridplan.api``) is loaded on first use, so that ``gridplan --version`` stays quick::

    import gridplan
    s = gridplan.load_scenario("scenarios/tiny")
    runs = gridplan.simulate(s, reps=2, days=60)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridplan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

API = ("load_scenario", "check", "allocate", "simulate", "compare", "optimize", "sweep", "run", "plan", "robust")
__all__ = ["__version__", *API, "Allocation", "ScenarioError"]


def __getattr__(name: str):  # PEP 562: import the API lazily
    if name in API:
        from gridplan import api

        return getattr(api, name)
    if name == "Allocation":  # an allocation built in a notebook (``s.baseline.replace(workers=...)``)
        from scenario.allocation import Allocation

        return Allocation
    if name == "ScenarioError":  # what a bad scenario or table raises (one line: file, field, value)
        from scenario.errors import ScenarioError

        return ScenarioError
    raise AttributeError(f"module 'gridplan' has no attribute {name!r}")

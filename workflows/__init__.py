"""Planning workflows that combine simulation and solvers: compare, optimise, sweep, calibrate."""

__all__: list[str] = []

"""The discrete-event simulation of complaints and duties. Builds on ``scenario``; never imports ``solvers``."""

__all__: list[str] = []

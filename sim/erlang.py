"""Queueing theory for M/M/c (Erlang C): validation of the simulation and staffing curves."""

from __future__ import annotations

import math

__all__ = ["erlang_c", "mean_wait", "service_level", "servers_for_service_level"]


def erlang_c(servers: int, load: float) -> float:
    """P(wait > 0) in M/M/c with offered load ``load`` = arrival rate x mean service (erlangs).

    Returns 1.0 when the queue is unstable (load >= servers).
    """
    if servers <= 0 or load >= servers:
        return 1.0
    if load <= 0:
        return 0.0
    # Erlang B by the stable recursion, then C from B.
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1 - b))


def mean_wait(servers: int, arrival_rate: float, mean_service: float) -> float:
    """Mean waiting time in queue (same time unit as the inputs)."""
    load = arrival_rate * mean_service
    if load >= servers:
        return math.inf
    return erlang_c(servers, load) * mean_service / (servers - load)


def service_level(servers: int, arrival_rate: float, mean_service: float, limit: float) -> float:
    """P(wait <= limit) in M/M/c."""
    load = arrival_rate * mean_service
    if load >= servers:
        return 0.0
    return 1.0 - erlang_c(servers, load) * math.exp(-(servers - load) * limit / mean_service)


def servers_for_service_level(arrival_rate: float, mean_service: float, limit: float, target: float,
                              max_servers: int = 100_000) -> int:
    """Smallest c with P(wait <= limit) >= target."""
    c = max(1, math.floor(arrival_rate * mean_service) + 1)
    while c <= max_servers:
        if service_level(c, arrival_rate, mean_service, limit) >= target:
            return c
        c += 1
    raise ValueError("target not reachable within max_servers")

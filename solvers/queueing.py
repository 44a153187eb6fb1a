"""Queueing theory for M/M/c (Erlang C): validation of the simulation and staffing curves."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["erlang_c", "erlang_c_vector", "mean_wait", "service_level"]


def erlang_c(servers: int, load: float) -> float:
    """P(wait > 0) in M/M/c with offered load ``load`` = arrival rate x mean service (erlangs).

    Returns 1.0 when the queue is unstable (load >= servers).
    """
    return float(erlang_c_vector(np.array(servers), np.array(load)))


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


def erlang_c_vector(servers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """P(wait > 0) for arrays of servers and offered loads (1.0 where load >= servers or servers < 1).

    Erlang B by its recursion B(k) = a B(k-1) / (k + a B(k-1)), vectorised over the loads;
    C = k B / (k - a (1 - B)).
    """
    k = np.asarray(servers, dtype=np.int64)
    a = np.asarray(load, dtype=float)
    out = np.ones(np.broadcast(k, a).shape)
    k, a = np.broadcast_to(k, out.shape), np.broadcast_to(a, out.shape)
    b = np.ones(out.shape)
    out[(a <= 0) & (k >= 1)] = 0.0
    for j in range(1, int(k.max(initial=0)) + 1):
        b = a * b / (j + a * b)
        at = (k == j) & (a < j) & (a > 0)
        out[at] = (j * b / (j - a * (1 - b)))[at]
    return out

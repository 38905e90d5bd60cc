"""Baselines of SPEC §5: greedy (the paper's), single split, no-split, all-client, brute force."""

from __future__ import annotations

import itertools

import numpy as np

from ..costs import Costs
from ..errors import SplittuiError
from .exact import meets_each

__all__ = ["prefix_latencies", "greedy_policy", "single_split_policy", "brute_force_policy",
           "prefix_policy", "prefix_table", "pinned_prefix", "pinned_prefixes", "BRUTE_FORCE_MAX_LAYERS"]

BRUTE_FORCE_MAX_LAYERS = 22


def prefix_policy(n: int, k: int) -> tuple[int, ...]:
    """Client runs layers 1..k, the server the rest."""
    return (1,) * k + (0,) * (n - k)


def prefix_latencies(c: Costs) -> np.ndarray:
    """Exact latency of every prefix policy k = 0..L, in one O(L) pass."""
    L = c.n
    client_cum = np.concatenate(([0.0], np.cumsum(c.client_ms)))
    server_suffix = np.concatenate((np.cumsum(c.server_ms[::-1])[::-1], [0.0]))
    lat = client_cum + server_suffix
    k = np.arange(L + 1)
    if not c.start_client:
        lat[1:] += c.down_ms[0]                      # input comes down before layer 1
    up_at = np.append(c.up_ms, 0.0)                   # k < L: layer k+1 is the first on the server
    has_up = (k < L) & ((k > 0) | c.start_client)
    lat += np.where(has_up, up_at, 0.0)
    if c.end_client:
        lat[:L] += c.down_out_ms
    else:
        lat[L] += c.up_out_ms
    return lat


def pinned_prefix(c: Costs, k: int) -> tuple[int, ...]:
    """Prefix policy k with every pinned layer on its side (SPEC §10: pins leave the choice)."""
    x = prefix_policy(c.n, k)
    if c.pin is None:
        return x
    return tuple(np.where(c.pin >= 0, c.pin, np.array(x, dtype=np.int8)).astype(int).tolist())


def prefix_table(c: Costs) -> tuple[np.ndarray, np.ndarray]:
    """Latency and client reward of every (pinned) prefix policy k = 0..L; O(L) without pins, O(L²) with (one
    array pass over all L + 1 pinned prefixes, `costs.breakdown`'s terms in its order)."""
    if c.pin is None:
        return prefix_latencies(c), np.concatenate(([0.0], np.cumsum(c.reward)))
    X = pinned_prefixes(c)
    L = c.n
    sides = np.concatenate((np.full((L + 1, 1), int(c.start_client), np.int8), X), axis=1)
    prev, cur = sides[:, :-1], sides[:, 1:]
    up = np.where((prev == 1) & (cur == 0), c.up_ms, 0.0).sum(axis=1)
    down = np.where((prev == 0) & (cur == 1), c.down_ms, 0.0).sum(axis=1)
    last = X[:, -1] if L else np.full(L + 1, int(c.start_client), np.int8)
    if c.end_client:
        down = down + np.where(last == 0, float(c.down_out_ms), 0.0)
    else:
        up = up + np.where(last == 1, float(c.up_out_ms), 0.0)
    on = X == 1
    client = np.where(on, c.client_ms, 0.0).sum(axis=1)
    server = np.where(on, 0.0, c.server_ms).sum(axis=1)
    return client + server + up + down, np.where(on, c.reward, 0.0).sum(axis=1)


def pinned_prefixes(c: Costs) -> np.ndarray:
    """Every prefix policy k = 0..L (rows) with the pinned layers on their sides, as int8."""
    X = np.tri(c.n + 1, c.n, k=-1, dtype=np.int8)
    return X if c.pin is None else np.where(c.pin >= 0, c.pin, X).astype(np.int8)


def greedy_policy(c: Costs) -> tuple[int, ...] | None:
    """Take layers for the client in order while the prefix policy still meets the deadline."""
    ok = meets_each(prefix_table(c)[0], c.deadline_ms)
    misses = np.flatnonzero(~ok[1:])                  # prefix k+1 misses: greedy stops at k
    k = c.n if misses.size == 0 else int(misses[0])
    if k == 0 and not ok[0]:
        return None
    return pinned_prefix(c, k)


def single_split_policy(c: Costs) -> tuple[int, ...] | None:
    """The feasible prefix policy with the least server load (Neurosurgeon-style)."""
    lat, client_reward = prefix_table(c)
    feasible = np.flatnonzero(meets_each(lat, c.deadline_ms))
    if feasible.size == 0:
        return None
    best = int(feasible[np.argmax(client_reward[feasible])])   # the first of equal rewards
    return pinned_prefix(c, best)


def brute_force_policy(c: Costs) -> tuple[int, ...] | None:
    """Enumerate all 2^L policies (tests only; L <= 22). Ties: fewer latency wins."""
    L = c.n
    if L > BRUTE_FORCE_MAX_LAYERS:
        raise SplittuiError(f"brute-force is limited to {BRUTE_FORCE_MAX_LAYERS} layers, this chain has {L}")
    X = np.array(list(itertools.product((0, 1), repeat=L)), dtype=np.int8).reshape(-1, L)
    first = np.full((X.shape[0], 1), int(c.start_client), dtype=np.int8)
    prev = np.hstack((first, X[:, :-1]))
    lat = X @ c.client_ms + (1 - X) @ c.server_ms
    lat = lat + ((prev == 1) & (X == 0)) @ c.up_ms + ((prev == 0) & (X == 1)) @ c.down_ms
    last = X[:, -1]
    lat = lat + np.where((last == 1) & (not c.end_client), c.up_out_ms, 0.0)
    lat = lat + np.where((last == 0) & c.end_client, c.down_out_ms, 0.0)
    reward = X @ c.reward
    ok = meets_each(lat, c.deadline_ms)
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)
    best = idx[np.lexsort((lat[idx], -reward[idx]))[0]]
    return tuple(int(v) for v in X[best])

"""An independent oracle for SPEC §2-§3 and §5, straight from a profile *document*.

Nothing here imports splittui: the oracle reads the JSON dict of a `splittui.profile/1` document, a
scenario given as a plain dict and a 0/1 policy, and recomputes with plain Python loops

* the interpolated per-layer values at a sequence length (the rule of `splittui.costs`' docstring:
  the quadratic through the two samples that bracket the length and the nearer of their outer
  neighbours, linear with two samples, clamped to the bracketing pair's range; the lower neighbour
  on a tie; exact at a sample; an error outside the sampled range),
* the transfer times, latency (with its four parts), server load and server share of SPEC §3,
* the least latency, the best client reward under a deadline (brute force), and the §5 baselines.

A bug in `splittui.costs` (or in a solver's bookkeeping) therefore shows up as a disagreement with
this module, whereas splittui's own brute force would share it. §8 (prefill + decode) is not in the
profile schema yet; add it here, from the SPEC text, when it lands.

Scenario dict keys: deadline_ms, up_mbps, down_mbps, delay_ms, seq_len, start, end, objective.
"""

from __future__ import annotations

import itertools
import math

__all__ = ["interp", "layer_costs", "latency_parts", "latency", "server_load", "server_share", "switches",
           "min_latency", "best_reward", "greedy", "single_split_reward", "meets", "all_policies"]

_MBIT = 1e6  # bit per Mbit (SPEC §2)


def meets(latency_ms: float, deadline_ms: float) -> bool:
    """latency <= deadline, with float-summation slack only (1e-9 relative)."""
    return latency_ms <= deadline_ms + 1e-9 * max(1.0, abs(deadline_ms))


def _poly_at(points: list[tuple[float, float]], s: float) -> float:
    """Newton's divided differences through `points`, evaluated at s (another route than Lagrange)."""
    xs = [p[0] for p in points]
    coef = [p[1] for p in points]
    n = len(points)
    for j in range(1, n):
        for i in range(n - 1, j - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / (xs[i] - xs[i - j])
    value = coef[n - 1]
    for i in range(n - 2, -1, -1):
        value = value * (s - xs[i]) + coef[i]
    return value


def interp(seq_lens: list[int], values: list[float], s: int) -> float:
    """One cost sampled at seq_lens, at length s (see the module docstring for the rule)."""
    if not seq_lens[0] <= s <= seq_lens[-1]:
        raise ValueError(f"seq_len {s} outside {seq_lens[0]}..{seq_lens[-1]}")
    for x, v in zip(seq_lens, values, strict=True):
        if x == s:
            return float(v)
    hi = 0
    while seq_lens[hi] < s:
        hi += 1
    lo = hi - 1
    chosen = [lo, hi]
    if len(seq_lens) > 2:
        below = s - seq_lens[lo - 1] if lo >= 1 else math.inf
        above = seq_lens[hi + 1] - s if hi + 1 < len(seq_lens) else math.inf
        chosen = [lo - 1, lo, hi] if below <= above else [lo, hi, hi + 1]
    value = _poly_at([(float(seq_lens[i]), float(values[i])) for i in chosen], float(s))
    a, b = float(values[lo]), float(values[hi])
    return min(max(value, min(a, b)), max(a, b))


def layer_costs(doc: dict, sc: dict) -> dict:
    """Per-layer lists client_ms, server_ms, up_ms, down_ms, reward and the answer's up_out/down_out."""
    lens, s = doc["seq_lens"], sc["seq_len"]
    delay = float(sc["delay_ms"])
    up_mbps = float(sc["up_mbps"])
    down_mbps = float(sc["down_mbps"] if sc.get("down_mbps") is not None else sc["up_mbps"])

    def up(nbytes: float) -> float:        # ms = delay + bits / (bit per ms)
        return delay + nbytes * 8.0 / (up_mbps * _MBIT / 1000.0)

    def down(nbytes: float) -> float:
        return delay + nbytes * 8.0 / (down_mbps * _MBIT / 1000.0)

    out: dict = {k: [] for k in ("client_ms", "server_ms", "up_ms", "down_ms", "reward")}
    for layer in doc["layers"]:
        at = {k: interp(lens, layer[k], s) for k in ("client_ms", "server_ms", "in_bytes")}
        out["client_ms"].append(at["client_ms"])
        out["server_ms"].append(at["server_ms"])
        out["up_ms"].append(up(at["in_bytes"]))
        out["down_ms"].append(down(at["in_bytes"]))
        out["reward"].append(interp(lens, layer[sc["objective"]], s))
    answer = interp(lens, doc["output_bytes"], s)
    out["up_out_ms"], out["down_out_ms"] = up(answer), down(answer)
    out["start_client"], out["end_client"] = sc["start"] == "client", sc["end"] == "client"
    return out


def latency_parts(k: dict, x) -> dict:
    """SPEC §3 term by term: client, server, upload and download ms of policy x (1 = client)."""
    L = len(k["client_ms"])
    side = [1 if k["start_client"] else 0] + [int(v) for v in x] + [1 if k["end_client"] else 0]
    parts = {"client": 0.0, "server": 0.0, "upload": 0.0, "download": 0.0}
    for layer in range(1, L + 1):
        before, here = side[layer - 1], side[layer]
        if here == 1:
            parts["client"] += k["client_ms"][layer - 1]
        else:
            parts["server"] += k["server_ms"][layer - 1]
        if before == 1 and here == 0:
            parts["upload"] += k["up_ms"][layer - 1]
        if before == 0 and here == 1:
            parts["download"] += k["down_ms"][layer - 1]
    if side[L] == 1 and side[L + 1] == 0:
        parts["upload"] += k["up_out_ms"]
    if side[L] == 0 and side[L + 1] == 1:
        parts["download"] += k["down_out_ms"]
    return parts


def latency(k: dict, x) -> float:
    p = latency_parts(k, x)
    return p["client"] + p["server"] + p["upload"] + p["download"]


def server_load(k: dict, x) -> float:
    return sum(r for r, v in zip(k["reward"], x, strict=True) if v == 0)


def server_share(k: dict, x) -> float:
    total = sum(k["reward"])
    return server_load(k, x) / total if total > 0 else 0.0


def switches(k: dict, x) -> int:
    side = [1 if k["start_client"] else 0] + [int(v) for v in x] + [1 if k["end_client"] else 0]
    return sum(1 for a, b in zip(side, side[1:], strict=False) if a != b)


def all_policies(k: dict):
    return itertools.product((0, 1), repeat=len(k["client_ms"]))


def min_latency(k: dict) -> float:
    return min(latency(k, x) for x in all_policies(k))


def best_reward(k: dict, deadline_ms: float) -> float | None:
    """The largest client-side reward of a policy meeting the deadline (brute force), None if none."""
    best = None
    for x in all_policies(k):
        if meets(latency(k, x), deadline_ms):
            r = sum(rw for rw, v in zip(k["reward"], x, strict=True) if v == 1)
            best = r if best is None else max(best, r)
    return best


def _prefix(L: int, n: int) -> tuple[int, ...]:
    return tuple(1 if i < n else 0 for i in range(L))


def greedy(k: dict, deadline_ms: float) -> tuple[int, ...] | None:
    """SPEC §5's greedy, word for word: grow the client prefix while the prefix policy meets Λ."""
    L = len(k["client_ms"])
    n = 0
    while n < L and meets(latency(k, _prefix(L, n + 1)), deadline_ms):
        n += 1
    if n == 0 and not meets(latency(k, _prefix(L, 0)), deadline_ms):
        return None
    return _prefix(L, n)


def single_split_reward(k: dict, deadline_ms: float) -> float | None:
    """The best client reward over the feasible prefix policies, None if none is feasible."""
    L = len(k["client_ms"])
    best = None
    for n in range(L + 1):
        if meets(latency(k, _prefix(L, n)), deadline_ms):
            r = sum(k["reward"][:n])
            best = r if best is None else max(best, r)
    return best

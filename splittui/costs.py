"""Scenario + profile -> per-layer times, transfer costs and rewards (numpy), and exact latency.

Interpolation between sampled sequence lengths: each cost is interpolated by the quadratic through
the three nearest samples (linear when the profile has two), then clamped to the range of the two
samples that bracket the length. This is exact at the samples and exact for any cost of the form
a + b*s + c*s^2 that is monotone between them (transformer FLOPs, bytes and, roughly, times are).
A length outside the sampled range is an error, never an extrapolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from .errors import ProfileError, SplittuiError
from .memory import MemRows
from .model import Breakdown, Profile, Scenario, returned_bytes

__all__ = ["Costs", "costs_for", "reward_field", "interpolate", "latency", "breakdown", "switches", "min_latency",
           "COST_LIMIT", "check_cost_range"]

# Largest time (ms) or reward one layer may cost. Far below float64's 1.8e308, so the solvers' sums over
# any chain (2L+2 terms) stay finite; anything above is a typo or a unit slip, refused up front.
COST_LIMIT = 1e300


@dataclass(frozen=True, slots=True)
class Costs:
    """Everything a solver needs, as float64 arrays of length L (ms, reward units)."""

    client_ms: np.ndarray
    server_ms: np.ndarray
    up_ms: np.ndarray      # transfer of layer l's input, client -> server
    down_ms: np.ndarray    # server -> client
    reward: np.ndarray     # r_l: server resource of layer l under the objective
    up_out_ms: float
    down_out_ms: float
    start_client: bool
    end_client: bool
    deadline_ms: float
    # SPEC §10 constraints, set only when the scenario has them (generation.phase_costs attaches them):
    pin: np.ndarray | None = None      # per layer 1 pinned to the client, 0 to the server, −1 free
    mem: MemRows | None = None         # per-layer memory and the two sides' limits (active limits only)

    @property
    def constrained(self) -> bool:
        """Pins or memory limits: dp, exact and brute force then run `solvers.constrained`."""
        return self.pin is not None or (self.mem is not None and self.mem.active)

    @property
    def n(self) -> int:
        return len(self.client_ms)

    @property
    def total_reward(self) -> float:
        return float(self.reward.sum())


def _weights(seq_lens: tuple[int, ...], s: int) -> tuple[list[int], list[float], int, int]:
    """Sample indices and Lagrange weights for length s, plus the bracketing pair (lo, hi)."""
    lens = seq_lens
    if s in lens:
        i = lens.index(s)
        return [i], [1.0], i, i
    hi = next(i for i, v in enumerate(lens) if v > s)
    lo = hi - 1
    if len(lens) == 2:
        idx = [lo, hi]
    elif hi + 1 < len(lens) and (lo == 0 or (lens[hi + 1] - s) < (s - lens[lo - 1])):
        idx = [lo, hi, hi + 1]
    else:
        idx = [lo - 1, lo, hi]
    xs = [float(lens[i]) for i in idx]
    w = []
    for j, xj in enumerate(xs):
        num = den = 1.0
        for k, xk in enumerate(xs):
            if k != j:
                num *= s - xk
                den *= xj - xk
        w.append(num / den)
    return idx, w, lo, hi


def check_seq_len(profile: Profile, s: int) -> None:
    lo, hi = profile.seq_range
    if not lo <= s <= hi:
        raise SplittuiError(
            f"seq_len {s} is outside the profile's range {lo}..{hi} ({profile.origin or profile.model})")


def interpolate(profile: Profile, values: np.ndarray, s: int) -> np.ndarray:
    """values: array (..., n_seq) sampled at profile.seq_lens -> array (...) at length s."""
    check_seq_len(profile, s)
    idx, w, lo, hi = _weights(profile.seq_lens, s)
    out = sum(wj * values[..., i] for i, wj in zip(idx, w, strict=False))
    a, b = values[..., lo], values[..., hi]
    return np.clip(out, np.minimum(a, b), np.maximum(a, b))


@lru_cache(maxsize=64)
def _table(profile: Profile, field: str) -> np.ndarray:
    if field == "mem_bytes" and not profile.has_mem:
        raise SplittuiError(f"{profile.origin or profile.model}: objective mem_bytes needs mem_bytes "
                            "for every layer, and this profile lacks it")
    return np.array([getattr(layer, field) for layer in profile.layers], dtype=np.float64)


def layer_values(profile: Profile, field: str, s: int) -> np.ndarray:
    """One per-layer field (flops, client_ms, ...) at sequence length s."""
    return interpolate(profile, _table(profile, field), s)


@np.errstate(over="ignore")  # an overflow becomes inf, which check_cost_range refuses by name
def costs_for(profile: Profile, sc: Scenario) -> Costs:
    s = sc.seq_len
    in_bytes = layer_values(profile, "in_bytes", s)
    out_bytes = returned_bytes(sc.returns, profile.is_llm,
                               float(interpolate(profile, np.array(profile.output_bytes), s)), sc.gen_tokens)
    up_per_byte = 8.0 / (sc.up_mbps * 1e3)
    down_per_byte = 8.0 / ((sc.down_mbps if sc.down_mbps is not None else sc.up_mbps) * 1e3)
    c = Costs(
        client_ms=layer_values(profile, "client_ms", s),
        server_ms=layer_values(profile, "server_ms", s),
        up_ms=sc.delay_ms + in_bytes * up_per_byte,
        down_ms=sc.delay_ms + in_bytes * down_per_byte,
        reward=layer_values(profile, reward_field(sc.objective), s),
        up_out_ms=sc.delay_ms + out_bytes * up_per_byte,
        down_out_ms=sc.delay_ms + out_bytes * down_per_byte,
        start_client=sc.start == "client", end_client=sc.end == "client",
        deadline_ms=float(sc.deadline_ms),
    )
    check_cost_range(profile, sc, c)
    return c


def reward_field(objective: str) -> str:
    """The per-layer field that is a layer's server resource: the objective's own, or FLOPs for client_energy
    (its server load is still reported in FLOPs; the energy solvers read docs/energy.md's chain instead)."""
    return "flops" if objective == "client_energy" else objective


def check_cost_range(profile: Profile, sc: Scenario, c: Costs) -> None:
    """Refuse, naming the field, any cost over COST_LIMIT (or NaN/inf) before a solver adds them up.

    Every solver goes through costs_for, so dp, exact and the baselines refuse the same inputs.
    """
    over = f"over the {COST_LIMIT:g} limit (sums of such values overflow)"
    for flag in ("delay_ms", "up_mbps", "down_mbps"):
        per = sc.delay_ms if flag == "delay_ms" else 8.0 / (getattr(sc, flag) * 1e3)
        if not per <= COST_LIMIT:
            unit = "ms per transfer" if flag == "delay_ms" else "ms per byte"
            raise SplittuiError(f"scenario: {flag} {getattr(sc, flag):g} gives {per:g} {unit}, {over}")
    src, at = profile.origin or profile.model, f"at seq_len {sc.seq_len}"
    for field, values, link in (("client_ms", c.client_ms, ""), ("server_ms", c.server_ms, ""),
                                ("in_bytes", c.up_ms, "up"), ("in_bytes", c.down_ms, "down"),
                                (reward_field(sc.objective), c.reward, "")):
        bad = np.flatnonzero(~(values <= COST_LIMIT))
        if bad.size:
            i = int(bad[0])
            what = f"{values[i]:g}"
            if link:
                n_bytes = layer_values(profile, "in_bytes", sc.seq_len)[i]
                mbps = getattr(sc, f"{link}_mbps")
                what = f"{n_bytes:g} bytes take {values[i]:g} ms to {link}load at {link}_mbps {mbps:g}"
            raise ProfileError(src, f"layers[{i}] ({profile.layers[i].name}).{field}", f"{what} {at}, {over}")
    for value, link in ((c.up_out_ms, "up"), (c.down_out_ms, "down")):
        if not value <= COST_LIMIT:
            raise ProfileError(src, "output_bytes", f"{value:g} ms to {link}load at {link}_mbps "
                               f"{getattr(sc, link + '_mbps'):g} {at}, {over}")


def _sides(c: Costs, policy: np.ndarray) -> np.ndarray:
    """x_0 .. x_{L+1}: start side, the policy, end side (1 = client)."""
    return np.concatenate(([int(c.start_client)], policy, [int(c.end_client)])).astype(np.int8)


def breakdown(c: Costs, policy: ArrayLike) -> Breakdown:
    """Exact float latency of a policy split into its parts (SPEC §3)."""
    x = np.asarray(policy, dtype=np.int8)
    xs = _sides(c, x)
    prev, cur = xs[:-2], xs[1:-1]
    ups = (prev == 1) & (cur == 0)
    downs = (prev == 0) & (cur == 1)
    up = float(c.up_ms[ups].sum())
    down = float(c.down_ms[downs].sum())
    if xs[-2] == 1 and not c.end_client:
        up += c.up_out_ms
    if xs[-2] == 0 and c.end_client:
        down += c.down_out_ms
    return Breakdown(client_ms=float(c.client_ms[x == 1].sum()), server_ms=float(c.server_ms[x == 0].sum()),
                     upload_ms=up, download_ms=down)


def latency(c: Costs, policy: ArrayLike) -> float:
    return breakdown(c, policy).total_ms


def switches(c: Costs, policy: ArrayLike) -> int:
    """Number of network crossings, counting the input's and the answer's when they cross."""
    xs = _sides(c, np.asarray(policy, dtype=np.int8))
    return int(np.count_nonzero(xs[1:] != xs[:-1]))


def min_latency(c: Costs) -> float:
    """The least latency any policy achieves (two-state shortest path, exact floats); pins respected."""
    inf = float("inf")
    on_c, on_s = (0.0, inf) if c.start_client else (inf, 0.0)
    layers = zip(c.client_ms.tolist(), c.server_ms.tolist(), c.up_ms.tolist(), c.down_ms.tolist())
    pins = [-1] * c.n if c.pin is None else c.pin.tolist()
    for (client, server, up, down), pin in zip(layers, pins):   # Python floats: no numpy scalars
        on_c, on_s = min(on_c, on_s + down) + client, min(on_s, on_c + up) + server
        if pin == 1:
            on_s = inf
        elif pin == 0:
            on_c = inf
    end_c = on_c + (0.0 if c.end_client else c.up_out_ms)
    end_s = on_s + (c.down_out_ms if c.end_client else 0.0)
    return float(min(end_c, end_s))

"""Chains of tiers (SPEC §11): the topology, its per-tier costs and the exact score of a tier policy.

``K`` tiers stand in a line (2 ≤ K ≤ 4; tier 0 is the client, e.g. phone → edge → cloud), with one hop
between neighbours, each its own up/down bandwidth and delay. A policy gives each layer one tier
(``x_l ∈ {0..K−1}`` here; documents print tiers 1..K and by name). An activation that leaves tier ``i``
for tier ``j`` pays every hop between them, in order (hop ``h`` joins tiers ``h`` and ``h+1``; "up" is
away from the client). The input starts, and the answer must end, on ``start``/``end`` (default tier 0).

Costs come from the two-tier machinery, one tier pair at a time: ``profiles[k]`` is the model timed with
tier 0's device as client and tier ``k``'s as server (``profiles[0]``: tier 0's own runtime), and hop
``h``'s transfers are `generation.phase_costs` of ``profiles[h+1]`` under the hop's bandwidth and delay.
So with ``K = 2`` every array here is the two-tier `Costs` array itself, bit for bit.

Objective: the weighted work ``Σ_l w[x_l]·r_l`` (``r`` the scenario's objective, per tier), to minimise;
the default weights ``0, 1, …, K−1`` put the first tier's work at no cost and the last tier's (the
cloud's) at the most, then the next one's. With ``K = 2`` this is the server load of SPEC §3.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import SplittuiError
from .generation import Phases, phase_costs
from .memory import MemRows, memory_rows, reserve_bytes
from .model import Profile, Scenario

__all__ = ["topology_of", "layer_runs",
           "MAX_TIERS", "Tier", "Hop", "Topology", "TierCosts", "TierPhases", "TierScore", "tier_phases",
           "score", "tier_min_latency", "hop_scenario", "memory_need", "memory_violations"]

MAX_TIERS = 4
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Tier:
    """One place to run layers: a device preset (None: the profile's own times), runtime, memory limit."""

    name: str
    device: str | None = None
    runtime: str | None = None
    mem_gb: float | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """The link between two neighbouring tiers: Mbit/s away from / towards the client, one-way delay."""

    up_mbps: float
    down_mbps: float
    delay_ms: float


@dataclass(frozen=True, slots=True)
class Topology:
    """K tiers in a line and the K − 1 hops between them; validated on construction."""

    tiers: tuple[Tier, ...]
    hops: tuple[Hop, ...]
    start: int = 0
    end: int = 0
    weights: tuple[float, ...] | None = None    # None: 0, 1, …, K−1
    pins: tuple[tuple[int, int], ...] = ()      # (layer, tier) pairs: the layer must run on that tier

    def __post_init__(self) -> None:
        _topology_iv(self)

    @property
    def k(self) -> int:
        return len(self.tiers)

    @property
    def weight_vector(self) -> tuple[float, ...]:
        return self.weights if self.weights is not None else tuple(float(i) for i in range(self.k))

    @property
    def letters(self) -> str:
        """One letter per tier for strips readable without colour: initials, else the tier numbers."""
        initials = "".join(t.name[0].upper() for t in self.tiers)
        return initials if len(set(initials)) == self.k else "".join(str(i + 1) for i in range(self.k))

    def tier_index(self, name: str) -> int:
        for i, t in enumerate(self.tiers):
            if t.name == name:
                return i
        raise SplittuiError(f"topology: no tier named {name!r} (tiers: {', '.join(t.name for t in self.tiers)})")

    def to_dict(self) -> dict[str, Any]:
        return {"tiers": [{"name": t.name, "device": t.device, "runtime": t.runtime, "mem_gb": t.mem_gb}
                          for t in self.tiers],
                "hops": [{"up_mbps": h.up_mbps, "down_mbps": h.down_mbps, "delay_ms": h.delay_ms} for h in self.hops],
                "start": self.tiers[self.start].name, "end": self.tiers[self.end].name,
                "weights": list(self.weight_vector), "pins": [[layer, self.tiers[t].name] for layer, t in self.pins]}


def _topology_iv(t: Topology) -> None:
    k = len(t.tiers)
    if not 2 <= k <= MAX_TIERS:
        raise SplittuiError(f"topology: {k} tier(s); give 2 to {MAX_TIERS} tiers")
    if len(t.hops) != k - 1:
        raise SplittuiError(f"topology: {k} tiers need {k - 1} hop(s) between neighbours, got {len(t.hops)}")
    names = [tier.name for tier in t.tiers]
    for n in names:
        if not _NAME.match(n):
            raise SplittuiError(f"topology: tier name {n!r}: a letter, then letters, digits, '-' or '_'")
    if len(set(names)) != k:
        raise SplittuiError(f"topology: tier names repeat ({', '.join(names)})")
    for tier in t.tiers:
        if tier.mem_gb is not None and not (tier.mem_gb > 0 and math.isfinite(tier.mem_gb)):
            raise SplittuiError(f"topology: tier {tier.name}: memory {tier.mem_gb:g} GB must be a finite number > 0")
    for i, h in enumerate(t.hops):
        for what, v, low in (("up", h.up_mbps, 0.0), ("down", h.down_mbps, 0.0)):
            if not (v > low and math.isfinite(v)):
                raise SplittuiError(f"topology: hop {i + 1} {what} bandwidth {v:g} Mbit/s must be a finite number > 0")
        if not (h.delay_ms >= 0 and math.isfinite(h.delay_ms)):
            raise SplittuiError(f"topology: hop {i + 1} delay {h.delay_ms:g} ms must be a finite number >= 0")
    for what, v in (("start", t.start), ("end", t.end)):
        if not 0 <= v < k:
            raise SplittuiError(f"topology: {what} tier {v + 1} is not one of the {k} tiers")
    if t.weights is not None and (len(t.weights) != k or not all(w >= 0 and math.isfinite(w) for w in t.weights)):
        raise SplittuiError(f"topology: weights {list(t.weights)}: one finite number >= 0 per tier ({k})")
    for layer, at in t.pins:
        if not 0 <= at < k or layer < 0:
            raise SplittuiError(f"topology: pin of layer {layer} to tier {at + 1} is out of range")


def hop_scenario(sc: Scenario, hop: Hop) -> Scenario:
    """The two-tier scenario of one hop: its bandwidths and delay, the rest as `sc`."""
    return sc.replace(up_mbps=hop.up_mbps, down_mbps=hop.down_mbps, delay_ms=hop.delay_ms)


@dataclass(frozen=True, slots=True, eq=False)
class TierCosts:
    """One phase (or the whole request) over K tiers: float64 arrays, ms and reward units.

    time[k, l]: layer l on tier k · up[h, l] / down[h, l]: layer l's input over hop h away from / towards
    the client · up_out[h] / down_out[h]: the answer over hop h · reward[k, l]: r_l counted on tier k.
    """

    time: _F
    up: _F
    down: _F
    up_out: _F
    down_out: _F
    reward: _F
    weights: _F
    start: int
    end: int
    deadline_ms: float
    pin: NDArray[np.int64] | None = None     # per layer: the tier it must run on, −1 free

    @property
    def k(self) -> int:
        return int(self.time.shape[0])

    @property
    def n(self) -> int:
        return int(self.time.shape[1])

    @property
    def cost(self) -> _F:
        """w[k]·r[k, l]: what layer l adds to the objective on tier k."""
        out: _F = self.weights[:, None] * self.reward
        return out

    def transfer(self) -> _F:
        """trans[i, j, l]: layer l's input moving from tier i to tier j, every hop in order (0 when i = j)."""
        return _moves(self.up, self.down)

    def out_transfer(self) -> _F:
        """out[i, j]: the answer moving from tier i to tier j."""
        return _moves(self.up_out[:, None], self.down_out[:, None])[:, :, 0]

    def plus(self, other: TierCosts) -> TierCosts:
        """Phase sums (SPEC §8's composite chain), in the order `Phases.composite` adds them."""
        return replace(self, time=self.time + other.time, up=self.up + other.up, down=self.down + other.down,
                       up_out=self.up_out + other.up_out, down_out=self.down_out + other.down_out,
                       reward=self.reward + other.reward)


def _moves(up: _F, down: _F) -> _F:
    k = up.shape[0] + 1
    out = np.zeros((k, k, up.shape[1]))
    for i in range(k):
        for j in range(i + 1, k):
            acc, back = up[i].copy(), down[i].copy()
            for h in range(i + 1, j):     # left to right: the hops in the order the bytes cross them
                acc = acc + up[h]
                back = back + down[h]
            out[i, j], out[j, i] = acc, back
    return out


@dataclass(frozen=True, slots=True, eq=False)
class TierPhases:
    """Prefill and the decode steps summed (None without a step), and what the memory check reads."""

    prefill: TierCosts
    decode: TierCosts | None
    steps: int
    mem: MemRows | None = None
    mem_limits: tuple[float | None, ...] = ()    # bytes per tier; None: no limit
    names: tuple[str, ...] = field(default_factory=tuple)

    def composite(self) -> TierCosts:
        return self.prefill if self.decode is None else self.prefill.plus(self.decode)


def tier_phases(profiles: Sequence[Profile], sc: Scenario, topo: Topology) -> TierPhases:
    """Per-tier costs of the request: tier k's times from profiles[k] (server side; tier 0: client side
    of profiles[0]), hop h's transfers from profiles[h+1] under the hop's scenario (see the module doc)."""
    if len(profiles) != topo.k:
        raise SplittuiError(f"topology: {topo.k} tiers need {topo.k} profiles, got {len(profiles)}")
    base = sc.replace(client_mem_gb=None, server_mem_gb=None, pin_client=(), pin_server=())
    per_hop = [phase_costs(profiles[h + 1], hop_scenario(base, hop)) for h, hop in enumerate(topo.hops)]
    first = per_hop[0] if profiles[0] is profiles[1] else phase_costs(profiles[0], hop_scenario(base, topo.hops[0]))
    pre = _phase(topo, sc, first, per_hop, decode=False)
    dec = None if per_hop[0].decode is None else _phase(topo, sc, first, per_hop, decode=True)
    limits = tuple(None if t.mem_gb is None else t.mem_gb * 1e9 for t in topo.tiers)
    mem = memory_rows(profiles[-1], base) if any(m is not None for m in limits) else None
    if mem is None and any(m is not None for m in limits):
        raise SplittuiError(f"{profiles[-1].origin or profiles[-1].model}: memory limits need weight_bytes and "
                            "kv_bytes for every layer (SPEC §10), and this profile lacks them")
    return TierPhases(prefill=pre, decode=dec, steps=per_hop[0].steps, mem=mem, mem_limits=limits,
                      names=tuple(layer.name for layer in profiles[0].layers))


def _phase(topo: Topology, sc: Scenario, first: Phases, per_hop: list[Phases], *, decode: bool) -> TierCosts:
    def part(ph: Phases):   # type: ignore[no-untyped-def]
        return ph.decode if decode else ph.prefill

    c0 = part(first)
    hops = [part(ph) for ph in per_hop]
    pin = None
    if topo.pins:
        pin = np.full(c0.n, -1, dtype=np.int64)
        for layer, tier in topo.pins:
            if layer >= c0.n:
                raise SplittuiError(f"topology: pin of layer {layer}: the model has {c0.n} layers")
            pin[layer] = tier
    return TierCosts(time=np.stack([c0.client_ms, *(h.server_ms for h in hops)]),
                     up=np.stack([h.up_ms for h in hops]), down=np.stack([h.down_ms for h in hops]),
                     up_out=np.array([h.up_out_ms for h in hops]), down_out=np.array([h.down_out_ms for h in hops]),
                     reward=np.stack([c0.reward, *(h.reward for h in hops)]),
                     weights=np.array(topo.weight_vector, dtype=np.float64), start=topo.start, end=topo.end,
                     deadline_ms=float(sc.deadline_ms), pin=pin)


@dataclass(frozen=True, slots=True)
class TierScore:
    """The exact float score of one tier policy (SPEC §3 over K tiers)."""

    latency_ms: float
    compute_ms: tuple[float, ...]            # per tier
    hop_ms: tuple[tuple[float, float], ...]  # per hop: (up, down) transfer time
    work: tuple[float, ...]                  # per tier: Σ r_l of its layers
    objective: float                         # Σ w[x_l]·r_l
    crossings: int                           # hops crossed in all


def score(c: TierCosts, policy: ArrayLike) -> TierScore:
    """Latency (compute per tier + every hop crossed, in layer order) and work of a tier policy."""
    x = np.asarray(policy, dtype=np.int64)
    if x.shape != (c.n,) or not ((x >= 0) & (x < c.k)).all():
        raise SplittuiError(f"tier policy must be {c.n} tier numbers in 1..{c.k} (one per layer)")
    path = np.concatenate(([c.start], x, [c.end]))
    up = np.zeros(c.k - 1)
    down = np.zeros(c.k - 1)
    crossings = 0
    for li in range(c.n + 1):
        i, j = int(path[li]), int(path[li + 1])
        u, d = (c.up_out, c.down_out) if li == c.n else (c.up[:, li], c.down[:, li])
        for h in range(min(i, j), max(i, j)):
            if j > i:
                up[h] += u[h]
            else:
                down[h] += d[h]
            crossings += 1
    compute = tuple(float(c.time[k][x == k].sum()) for k in range(c.k))
    work = tuple(float(c.reward[k][x == k].sum()) for k in range(c.k))
    lat = sum(compute) + float(up.sum()) + float(down.sum())
    obj = float(c.cost[x, np.arange(c.n)].sum())
    return TierScore(latency_ms=lat, compute_ms=compute, hop_ms=tuple(zip(up.tolist(), down.tolist(), strict=True)),
                     work=work, objective=obj, crossings=crossings)


def tier_min_latency(c: TierCosts) -> float:
    """The least latency any tier policy achieves (a K-state shortest path), pins respected."""
    trans, out = c.transfer(), c.out_transfer()
    best = np.full(c.k, np.inf)
    best[c.start] = 0.0
    for li in range(c.n):
        best = (best[:, None] + trans[:, :, li]).min(axis=0) + c.time[:, li]
        if c.pin is not None and c.pin[li] >= 0:
            keep = best[c.pin[li]]
            best = np.full(c.k, np.inf)
            best[c.pin[li]] = keep
    return float((best + out[:, c.end]).min())


def memory_need(ph: TierPhases, policy: ArrayLike) -> tuple[float, ...]:
    """Bytes each tier holds under a policy: weights + KV + activation peak (a tied matrix once per tier)."""
    if ph.mem is None:
        return ()
    x = np.asarray(policy, dtype=np.int64)
    rows = ph.mem
    out = []
    for k in range(len(ph.mem_limits)):
        on = x == k
        if not on.any():
            out.append(0.0)
            continue
        shared = 0.0
        if rows.tied is not None and x[rows.tied[0]] == k and x[rows.tied[1]] == k:
            shared = rows.tied[2]
        out.append(float(rows.weights[on].sum() + rows.kv[on].sum()) - shared + float(rows.act[on].max()))
    return tuple(out)


def memory_violations(ph: TierPhases, policy: ArrayLike, names: Sequence[str]) -> tuple[str, ...]:
    """One line per tier whose memory limit (less its runtime reserve) the policy exceeds."""
    need = memory_need(ph, policy)
    out = []
    for name, got, limit in zip(names, need, ph.mem_limits, strict=False):
        if limit is not None and got > limit - reserve_bytes(limit):
            out.append(f"does not fit: tier {name} needs {got / 1e9:,.2f} GB, limit {limit / 1e9:,.2f} GB "
                       f"less {reserve_bytes(limit) / 1e9:,.2f} GB reserve")
    return tuple(out)


def topology_of(sec: Any, source: str = "the policy file") -> Topology:
    """The topology a policy document's ``tiers`` section (or `Topology.to_dict()`) records: tiers, hops, ends,
    weights, pins."""
    try:
        tiers = tuple(Tier(name=str(t["name"]), device=t.get("device"), runtime=t.get("runtime"),
                           mem_gb=None if t.get("mem_gb") is None else float(t["mem_gb"])) for t in sec["tiers"])
        hops = tuple(Hop(float(h["up_mbps"]), float(h["down_mbps"]), float(h["delay_ms"])) for h in sec["hops"])
        topo = Topology(tiers=tiers, hops=hops, weights=None if sec.get("weights") is None
                        else tuple(float(w) for w in sec["weights"]))
        start = topo.tier_index(str(sec["start"])) if sec.get("start") is not None else 0
        end = topo.tier_index(str(sec["end"])) if sec.get("end") is not None else 0
        pins = tuple((int(layer), topo.tier_index(str(name))) for layer, name in sec.get("pins") or ())
    except (KeyError, TypeError, ValueError) as exc:
        raise SplittuiError(f"{source}: its 'tiers' section is not a topology ({exc})") from None
    return replace(topo, pins=pins, start=start, end=end)


def layer_runs(strip: str) -> str:
    """A strip (one letter per layer) as runs of layers, e.g. 'P 1-12 · E 13-259'."""
    out, start = [], 0
    for i in range(1, len(strip) + 1):
        if i == len(strip) or strip[i] != strip[start]:
            out.append(f"{strip[start]} {start + 1}" + (f"-{i}" if i - start > 1 else ""))
            start = i
    return " · ".join(out)

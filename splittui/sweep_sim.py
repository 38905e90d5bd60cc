"""The simulator's inputs from sweeps (`splittui.sim`): per cell and method, the placement's prefill and decode
costs at every context length (`sim_cells`), read from the sweep's kept placements.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .costs import Costs, breakdown
from .errors import SplittuiError
from .generation import phase_costs
from .model import Profile
from .sweep import Sweep, SweepConfig, _scenario

__all__ = ["sim_cells"]

if TYPE_CHECKING:
    from .sim import Cells, LengthCosts


def sim_cells(sweeps: list[Sweep], methods: tuple[str, ...] = ("dp", "greedy", "no-split"), *,
              profiles: list[Profile] | None = None, decode: bool = False) -> Cells:
    """The cells of one or more sweeps where every method is feasible, as simulation input.

    With ``profiles`` (one per sweep) also each method's costs as functions of the output length
    and its shared server weights (``Cells.lengths``, ``Cells.resident_bytes``); ``decode``: the
    requests may decode (needs the profiles' decode costs), else they stay at the planned length.
    """
    from .sim import Cells

    deadline: list[NDArray[np.float64]] = []
    load: dict[str, list[NDArray[np.float64]]] = {m: [] for m in methods}
    lat: dict[str, list[NDArray[np.float64]]] = {m: [] for m in methods}
    oks: list[NDArray[np.bool_]] = []
    for sw in sweeps:
        ok = np.all([np.isfinite(sw.share(m)) for m in methods], axis=0)
        oks.append(ok)
        deadline.append(sw.deadline_ms[ok])
        for m in methods:
            load[m].append(sw.server_load(m)[ok])
            lat[m].append(sw.latency(m)[ok])
    cat = np.concatenate
    plan = sweeps[0].config.gen_tokens if sweeps else 0
    lengths: dict[str, LengthCosts] | None = None
    resident: dict[str, float] | None = None
    if profiles is not None:
        if len(profiles) != len(sweeps):
            raise SplittuiError("sim_cells: give one profile per sweep")
        lengths, resident = _length_tables(sweeps, profiles, oks, methods, decode)
    return Cells(deadline_ms=cat(deadline), server_load={m: cat(v) for m, v in load.items()},
                 latency_ms={m: cat(v) for m, v in lat.items()}, lengths=lengths, plan_tokens=plan,
                 resident_bytes=resident or {})


def _layer_table(profile: Profile, name: str) -> np.ndarray:
    return np.array([getattr(layer, name) for layer in profile.layers], dtype=np.float64)   # (L, K)


def _knot_steps(profile: Profile, cfg: SweepConfig, bw: float) -> list[Costs]:
    """One decode step's chain at each of the profile's lengths (context c = the length)."""
    return [phase_costs(profile, _scenario(k, bw, 1.0, replace(cfg, gen_tokens=2))).decode  # type: ignore[misc]
            for k in profile.seq_lens]


def _one_model(sw: Sweep, profile: Profile, rows: np.ndarray, method: str, *, decode: bool,
               mem: bool) -> dict[str, np.ndarray]:
    """LengthCosts columns of one sweep's kept cells under one method (knotted ones: (rows, K))."""
    cfg, K = sw.config, len(profile.seq_lens)
    w_tab, kv_tab = (_layer_table(profile, "weight_bytes"), _layer_table(profile, "kv_bytes")) if mem else (None, None)
    steps: dict[float, list[Costs]] = {}
    pre: dict[tuple[int, float], Costs] = {}
    out: dict[str, list[Any]] = {k: [] for k in ("seq", "max_tokens", "prefill_load", "prefill_ms", "step_load",
                                            "step_ms", "weight_bytes", "kv_bytes")}
    for i in rows:
        s, bw, x = int(sw.seq[i]), float(sw.bandwidth[i]), sw.policy(method)[i]
        key = (s, bw)
        if key not in pre:
            # the prefill of a request that generates returns its first token (SPEC §8); a request drawn
            # with 0 output tokens is costed so too (a single forward pass inside a decoding simulation)
            first = max(cfg.gen_tokens, 1) if decode else cfg.gen_tokens
            pre[key] = phase_costs(profile, _scenario(s, bw, 1.0, replace(cfg, gen_tokens=first))).prefill
        server = x == 0
        out["seq"].append(s)
        out["max_tokens"].append(profile.seq_range[1] - s + 2 if decode else cfg.gen_tokens)
        out["prefill_load"].append(float(pre[key].reward[server].sum()))
        out["prefill_ms"].append(breakdown(pre[key], x).total_ms)
        if decode:
            if bw not in steps:
                steps[bw] = _knot_steps(profile, cfg, bw)
            out["step_load"].append([float(d.reward[server].sum()) for d in steps[bw]])
            out["step_ms"].append([breakdown(d, x).total_ms for d in steps[bw]])
        else:
            out["step_load"].append([0.0] * K)
            out["step_ms"].append([0.0] * K)
        if w_tab is not None and kv_tab is not None:
            out["weight_bytes"].append(w_tab[server].sum(axis=0))
            out["kv_bytes"].append(kv_tab[server].sum(axis=0))
    keys = [k for k in out if mem or k not in ("weight_bytes", "kv_bytes")]
    return {k: np.array(out[k], dtype=np.float64).reshape(len(rows), K) if k in _KNOTTED
            else np.array(out[k], dtype=np.float64) for k in keys}


_KNOTTED = ("step_load", "step_ms", "weight_bytes", "kv_bytes")


def _pad(a: np.ndarray, k: int) -> np.ndarray:
    """Rows padded to k columns by repeating the last (a zero-length piece adds nothing)."""
    return np.concatenate([a, np.repeat(a[:, -1:], k - a.shape[1], axis=1)], axis=1) if a.shape[1] < k else a


def _length_tables(sweeps: list[Sweep], profiles: list[Profile], oks: list[NDArray[np.bool_]],
                   methods: tuple[str, ...], decode: bool) -> tuple[dict[str, LengthCosts], dict[str, float]]:
    from .sim import LengthCosts

    K = max(len(p.seq_lens) for p in profiles)
    mem = all(p.has_server_mem for p in profiles)
    lengths, resident = {}, {}
    for m in methods:
        parts, knots, res = [], [], 0.0
        for sw, prof, ok in zip(sweeps, profiles, oks, strict=True):
            rows = np.flatnonzero(ok)
            parts.append(_one_model(sw, prof, rows, m, decode=decode, mem=mem))
            knots.append(np.tile(np.array(prof.seq_lens, dtype=np.float64), (len(rows), 1)))
            if mem and rows.size:
                used = np.any(sw.policy(m)[rows] == 0, axis=0)
                res += float(_layer_table(prof, "weight_bytes")[used].max(axis=1, initial=0.0).sum())
        col = {k: np.concatenate([_pad(p[k], K) if k in _KNOTTED else p[k] for p in parts]) for k in parts[0]}
        lengths[m] = LengthCosts(seq=col["seq"].astype(np.int64), max_tokens=col["max_tokens"].astype(np.int64),
                                 prefill_load=col["prefill_load"], prefill_ms=col["prefill_ms"],
                                 knots=np.concatenate([_pad(k, K) for k in knots]), step_load=col["step_load"],
                                 step_ms=col["step_ms"], weight_bytes=col.get("weight_bytes") if mem else None,
                                 kv_bytes=col.get("kv_bytes") if mem else None,
                                 load_is_memory=sweeps[0].config.objective == "server_mem")
        resident[m] = res
    return lengths, resident

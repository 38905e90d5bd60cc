"""Fit explained (issue 25): the memory of a placement per side, what binds, and fixes that are re-checked.

For a fixed placement (a policy, or a baseline such as no-split) the question is memory alone (SPEC §10): the
breakdown per side (weights, KV, activation peak, reserve, total vs limit), the side that does not fit, and
what would make it fit, each fix checked again before it is shown: a smaller dtype (the profile rebuilt at that
precision), a larger device preset (its usable memory as the side's limit), a shorter context (the longest
prompt that fits with the scenario's output tokens), N more layers moved to the other side (the layers at the
split nearest the overflowing side's edge, the other side's limit checked too).

For a solver the question is the whole scenario: the solver's policy and its breakdown; when no policy
meets the scenario, what binds (memory of a side, found by lifting each limit and solving again; else the
deadline and TTFT/TPOT limits) and fixes re-solved with the same solver.

Inverses: `longest_context` — the longest prompt (with the scenario's output tokens) whose memory fits a
given placement, or the best single-split placement (memory only, pins kept); `least_client_memory` — the
smallest client memory limit under which the solver reaches a target server share. Both are exact
bisections over monotone quantities: memory grows with the context (KV and activations are linear in
tokens, weights constant), and a larger client limit only widens the feasible set.

Pure numpy; no UI import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .errors import SplittuiError
from .fit_report import FitFix, FitReport, _fits, _over_text, _policy, _rows, _sides_text, _slack_text
from .memory import GB, MemRows, SideMemory, device_fits, fmt_gb, reserve_bytes, side_memory
from .model import Profile, Result, Scenario

__all__ = ["FitFix", "FitReport", "fit_policy", "fit_solver", "longest_context", "least_client_memory",
           "DTYPES_SMALLER"]

DTYPES_SMALLER = {"fp32": ("bf16", "int8", "int4"), "fp16": ("int8", "int4"), "bf16": ("int8", "int4"),
                  "int8": ("int4",), "int4": (), "q4_k_m": ("int4",)}

Rebuild = Callable[[dict], Profile]   # overrides (dtype, client_device, server_device) -> profile


# --- a fixed placement ----------------------------------------------------------------------------

def fit_policy(profile: Profile, sc: Scenario, policy: Sequence[int], *, label: str = "policy",
               rebuild: Rebuild | None = None, devices: dict[str, float] | None = None) -> FitReport:
    """Memory of a fixed placement and, when a side does not fit, fixes re-checked on that placement.
    `rebuild` rebuilds the profile with overrides (for the dtype fix); `devices` maps preset names to their
    usable memory in bytes (for the larger-device fix)."""
    x = _policy(profile, policy)
    rows = _rows(profile, sc)
    sides = side_memory(rows, x)
    over = [s for s in sides if not s.fits]
    if not over:
        return FitReport(label, tuple(x.tolist()), sides, True, True,
                         _slack_text(sides, device_fits(profile, rows, x)))
    binding = "; ".join(_over_text(s) for s in over)
    fixes: list[FitFix] = []
    fixes += _dtype_fixes(profile, sc, x, rebuild)
    fixes += _device_fixes(sides, devices or {})
    fix = _context_fix(profile, sc, x)
    if fix is not None:
        fixes.append(fix)
    fixes += _layer_fixes(rows, x, sides)
    return FitReport(label, tuple(x.tolist()), sides, False, False, binding, tuple(fixes))


def _current_dtype(profile: Profile) -> str | None:
    d = profile.extra.get("dtype") if isinstance(profile.extra, dict) else None
    return str(d) if d else None


def _dtype_fixes(profile: Profile, sc: Scenario, x: np.ndarray, rebuild: Rebuild | None) -> list[FitFix]:
    dtype = _current_dtype(profile)
    if rebuild is None or dtype is None:
        return []
    for smaller in DTYPES_SMALLER.get(dtype, ()):
        ok, sides = _fits(_rows(rebuild({"dtype": smaller}), sc), x)
        if ok:
            return [FitFix("dtype", f"--dtype {smaller}", _sides_text(sides), True)]
    if DTYPES_SMALLER.get(dtype):
        last = DTYPES_SMALLER[dtype][-1]
        _, sides = _fits(_rows(rebuild({"dtype": last}), sc), x)
        return [FitFix("dtype", f"--dtype {last} (the smallest)", _sides_text(sides) + ": still does not fit", False)]
    return []


def _device_fixes(sides: tuple[SideMemory, SideMemory], devices: dict[str, float]) -> list[FitFix]:
    """The smallest preset whose usable memory holds the overflowing side (the reserve recomputed for it)."""
    out = []
    for s in sides:
        if s.fits:
            continue
        need = s.total - s.reserve
        ok = sorted((b, name) for name, b in devices.items() if need + reserve_bytes(b) <= b)
        if ok:
            b, name = ok[0]
            out.append(FitFix("device", f"--{s.side}-device {name}",
                              f"{s.side} {fmt_gb(need + reserve_bytes(b))} of {fmt_gb(b)}", True))
        elif devices:
            out.append(FitFix("device", f"a larger {s.side} device",
                              f"no preset holds {fmt_gb(need)} plus its reserve", False))
    return out


def _linear_rows(profile: Profile, sc: Scenario) -> tuple[MemRows, MemRows, int, int]:
    """Rows at two prompt lengths (memory is linear in tokens between and beyond them): the scenario's and the
    profile's sampled length farthest from it whose contexts the profile covers; for an LLM config with no
    second such length, the scenario's and its double with the KV cache and activations scaled (both are per
    token there: SPEC §10)."""
    from dataclasses import replace as _replace

    from .generation import last_context
    from .model import kv_tokens

    lo, hi = profile.seq_range
    n = sc.gen_tokens
    a = sc.seq_len
    ra = _rows(profile, sc)
    others = [int(v) for v in profile.seq_lens if v != a and lo <= v and last_context(int(v), n) <= hi]
    if others:
        b = max(others, key=lambda v: abs(v - a))
        return ra, _rows(profile, sc.replace(seq_len=b)), a, b
    if not profile.is_llm:
        return ra, ra, a, a
    b = 2 * a
    k = kv_tokens(b, n) / kv_tokens(a, n) if kv_tokens(a, n) else 0.0
    return ra, _replace(ra, kv=ra.kv * k, act=ra.act * 2.0), a, b


def _need_at(ra: MemRows, rb: MemRows, a: int, b: int, x: np.ndarray, s: int) -> tuple[float, float]:
    """(client, server) need at prompt length s, linear in s through the two rows (exact for LLM configs:
    KV bytes per token and activation bytes per token are constant)."""
    na, nb = ra.need(x), rb.need(x)
    if b == a:
        return na
    t = (s - a) / (b - a)
    return na[0] + t * (nb[0] - na[0]), na[1] + t * (nb[1] - na[1])


def _context_fits(ra: MemRows, rb: MemRows, a: int, b: int, x: np.ndarray, s: int) -> bool:
    need = _need_at(ra, rb, a, b, x, s)
    budget = ra.budget
    return all(need[k] <= budget[k] * (1 + 1e-12) for k in (0, 1))


def _longest_for(ra: MemRows, rb: MemRows, a: int, b: int, x: np.ndarray, cap: int) -> int | None:
    if not _context_fits(ra, rb, a, b, x, 1):
        return None
    if _context_fits(ra, rb, a, b, x, cap):
        return cap
    lo, hi = 1, cap          # fits at lo, not at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _context_fits(ra, rb, a, b, x, mid):
            lo = mid
        else:
            hi = mid
    return lo


def _max_context(profile: Profile) -> int:
    arch = profile.extra.get("arch") if isinstance(profile.extra, dict) else None
    if isinstance(arch, dict) and isinstance(arch.get("context"), int):
        return int(arch["context"])
    return int(profile.seq_range[1])


def _context_fix(profile: Profile, sc: Scenario, x: np.ndarray) -> FitFix | None:
    if not profile.is_llm:
        return None
    s = longest_context(profile, sc, x)
    n = sc.gen_tokens
    if s is None or s >= sc.seq_len:
        return FitFix("context", "a shorter context", f"does not fit even with a 1-token prompt and {n} output "
                      "tokens (the weights alone are too large)", False)
    return FitFix("context", f"--seq {s}" + (f" (with {n} output tokens)" if n else ""),
                  f"the longest prompt that fits this placement: {s:,} tokens", True)


def _layer_fixes(rows: MemRows, x: np.ndarray, sides: tuple[SideMemory, SideMemory]) -> list[FitFix]:
    """Move layers from the overflowing side to the other, one at a time from the split nearest that side's
    edge (client: its last layers before the first server run; server: its first layers), until it fits."""
    out = []
    for k, (s, v) in enumerate(zip(sides, (1, 0))):
        if s.fits:
            continue
        y = x.copy()
        on = [int(i) for i in np.flatnonzero(y == v)]
        order = on[::-1] if v == 1 else on     # client: from its highest layer down; server: lowest up
        other = "server" if v == 1 else "client"
        moved = 0
        for i in order:
            y[i] = 1 - v
            moved += 1
            ok, now = _fits(rows, y)
            if ok:
                out.append(FitFix("layers", f"{moved} more layer{'s' if moved != 1 else ''} to the {other}",
                                  _sides_text(now), True))
                break
            if not now[1 - k].fits:
                out.append(FitFix("layers", f"layers to the {other}",
                                  f"the {other} runs out of memory at {moved} moved layers, before the {s.side} "
                                  f"fits ({_sides_text(now)})", False))
                break
        else:
            out.append(FitFix("layers", f"layers to the {other}", "no number of moved layers fits", False))
    return out


def longest_context(profile: Profile, sc: Scenario, policy: Sequence[int] | np.ndarray | None = None) -> int | None:
    """The longest prompt (with sc.gen_tokens output tokens) whose memory fits `policy`, or, when `policy` is
    None, some single-split placement honouring the pins (see `_placements`); None when not even a 1-token
    prompt fits. Bounded by the model's context (its config's max_position_embeddings − output tokens)."""
    ra, rb, a, b = _linear_rows(profile, sc)
    cap = max(1, _max_context(profile) - sc.gen_tokens)
    if policy is not None:
        return _longest_for(ra, rb, a, b, _policy(profile, policy), cap)
    best: int | None = None
    for x in _placements(profile, sc):
        s = _longest_for(ra, rb, a, b, x, cap)
        if s is not None and (best is None or s > best):
            best = s
    return best


def _placements(profile: Profile, sc: Scenario) -> list[np.ndarray]:
    """Candidate placements for memory alone: every prefix on the client (one split point), pins applied.
    Not every placement: fitting two memory budgets is a two-bin packing, and a placement with several
    switches can fit where no single split does; `longest_context(policy=None)` is therefore the longest over
    single-split placements (a lower bound on the longest over all placements), and says so."""
    from .memory import pin_array

    n = profile.n_layers
    pin = pin_array(n, sc, tuple(layer.name for layer in profile.layers))
    out = []
    for k in range(n + 1):
        x = np.zeros(n, dtype=np.int8)
        x[:k] = 1
        if pin is not None:
            x = np.where(pin >= 0, pin, x).astype(np.int8)
        out.append(x)
    return out


# --- a solver on the whole scenario ---------------------------------------------------------------

def _solve(profile: Profile, sc: Scenario, solver: str) -> Result:
    from .solvers import solve

    return solve(profile, sc, solver)


def fit_solver(profile: Profile, sc: Scenario, solver: str, *, rebuild: Rebuild | None = None,
               devices: dict[str, float] | None = None) -> FitReport:
    """The solver's policy under the scenario and its memory; when it finds none, what binds and fixes
    re-solved with the same solver."""
    res = _solve(profile, sc, solver)
    rows = _rows(profile, sc)
    if res.feasible and res.policy is not None:
        ok = side_memory(rows, np.asarray(res.policy, dtype=np.int8))
        return FitReport(solver, res.policy, ok, True, True, _slack_text(ok, device_fits(profile, rows, res.policy)))
    sides = None if res.policy is None else side_memory(rows, np.asarray(res.policy, dtype=np.int8))
    fits = sides is not None and all(s.fits for s in sides)
    binding, memory_sides = _binding(profile, sc, solver)
    fixes: list[FitFix] = []
    if memory_sides:
        fixes += _solver_dtype_fixes(profile, sc, solver, rebuild)
        fixes += _solver_device_fixes(profile, sc, solver, memory_sides, rebuild, devices or {})
        fix = _solver_context_fix(profile, sc, solver)
        if fix is not None:
            fixes.append(fix)
    return FitReport(solver, res.policy, sides, fits, False, binding, tuple(fixes), tuple(res.violations))


def _binding(profile: Profile, sc: Scenario, solver: str) -> tuple[str, tuple[str, ...]]:
    """What binds: each memory limit lifted alone, then both; the deadline and TTFT/TPOT limits otherwise."""
    if not sc.has_memory_limits or not _solve(profile, _without(sc, ("client", "server")), solver).feasible:
        return ("the deadline and TTFT/TPOT limits (or the pins): no policy meets them even without memory "
                "limits; see `splittui solve` for the least deadline and fixes", ())
    alone = [side for side in ("client", "server") if getattr(sc, f"{side}_mem_gb") is not None
             and _solve(profile, _without(sc, (side,)), solver).feasible]
    if alone:
        return " or ".join(f"{side} memory ({fmt_gb(getattr(sc, f'{side}_mem_gb') * GB)} limit): lifting it "
                           "alone makes the scenario solvable" for side in alone), tuple(alone)
    return ("client and server memory together: lifting either alone is not enough, both are",
            ("client", "server"))


def _without(sc: Scenario, sides: Sequence[str]) -> Scenario:
    return sc.replace(**{f"{side}_mem_gb": None for side in sides})


def _solver_dtype_fixes(profile: Profile, sc: Scenario, solver: str, rebuild: Rebuild | None) -> list[FitFix]:
    dtype = _current_dtype(profile)
    if rebuild is None or dtype is None:
        return []
    for smaller in DTYPES_SMALLER.get(dtype, ()):
        res = _solve(rebuild({"dtype": smaller}), sc, solver)
        if res.feasible:
            return [FitFix("dtype", f"--dtype {smaller}", _result_text(res), True)]
    return [FitFix("dtype", "a smaller dtype", "none of " + ", ".join(DTYPES_SMALLER.get(dtype, ())) +
                   " makes it solvable", False)] if DTYPES_SMALLER.get(dtype) else []


def _result_text(res: Result) -> str:
    share = "—" if res.server_share is None else f"{res.server_share:.1%}"
    return f"server share {share}, latency {res.latency_ms:,.1f} ms" if res.latency_ms is not None else share


def _solver_device_fixes(profile: Profile, sc: Scenario, solver: str, sides: Sequence[str],
                         rebuild: Rebuild | None, devices: dict[str, float]) -> list[FitFix]:
    """The presets with more memory than the binding side's limit, smallest first, re-solved on that device
    (its times change too, so the scenario is solved again, not only the memory checked)."""
    if rebuild is None:
        return []
    out = []
    for side in sides:
        limit = getattr(sc, f"{side}_mem_gb")
        bigger = sorted((b, name) for name, b in devices.items() if limit is not None and b / GB > limit)
        for b, name in bigger[:4]:
            res = _solve(rebuild({f"{side}_device": name}), sc.replace(**{f"{side}_mem_gb": b / GB}), solver)
            if res.feasible:
                out.append(FitFix("device", f"--{side}-device {name} ({fmt_gb(b)})", _result_text(res), True))
                break
        else:
            if bigger:
                out.append(FitFix("device", f"a larger {side} device",
                                  f"tried {', '.join(n for _, n in bigger[:4])}: none solves it", False))
    return out


def _solver_context_fix(profile: Profile, sc: Scenario, solver: str) -> FitFix | None:
    """Halve the prompt (the profile's shortest length at the end) until the solver finds a policy."""
    lo = profile.seq_range[0]
    s = sc.seq_len
    while s > lo:
        s = max(lo, s // 2)
        try:
            res = _solve(profile, sc.replace(seq_len=s), solver)
        except SplittuiError:
            break
        if res.feasible:
            return FitFix("context", f"--seq {s}", _result_text(res), True)
    return None


def least_client_memory(profile: Profile, sc: Scenario, share: float, solver: str = "exact", *,
                        tol_gb: float = 0.01) -> float | None:
    """The smallest client memory limit (GB) under which `solver` reaches a server share ≤ `share`, to
    `tol_gb`; None when even no client limit does not reach it. Bisection: the feasible set only grows with the
    limit, so the least share reachable only falls (exact for exact solvers; the DP's rounding is monotone too)."""
    if not 0.0 <= share <= 1.0:
        raise SplittuiError(f"--share {share}: a server share is between 0 and 1")

    def reaches(gb: float | None) -> bool:
        res = _solve(profile, sc.replace(client_mem_gb=gb), solver)
        return res.feasible and res.server_share is not None and res.server_share <= share + 1e-12

    if not reaches(None):
        return None
    rows = _rows(profile, sc.replace(client_mem_gb=None))
    hi = (float(rows.held.sum()) + float(rows.act.max())) / GB
    hi = hi + reserve_bytes(hi * GB) / GB + 1.0
    if not reaches(hi):
        return None
    if reaches(max(tol_gb, 1e-3)):
        return max(tol_gb, 1e-3)
    lo = max(tol_gb, 1e-3)
    while hi - lo > tol_gb:
        mid = (lo + hi) / 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid
    return math.ceil(hi / tol_gb) * tol_gb if tol_gb > 0 else hi

"""What would make an infeasible scenario feasible: the binding constraint and one-knob fixes.

`diagnose(profile, sc)` answers for a scenario that no placement meets (the exact solver, TTFT/TPOT
limits included, finds nothing): the least request latency of a placement that meets the limits (None
when no deadline is enough: a limit cannot be met), the least latency with the limits ignored, which
constraint binds, and a list of `Fix` — each one knob changed, checked: ``feasible(profile,
fix.apply(sc))`` holds for every fix returned, with the value exactly as the fix shows it.

Every check is an exact solve under the limits (milliseconds each); least values are found by
bisection to the precision shown (0.1 ms), grid values (bandwidth, delay, length, output tokens) by
bisection over the grid the caller's knobs offer. A pure function of its inputs: no UI import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

from ..costs import Costs, min_latency
from ..errors import SplittuiError
from ..generation import phase_costs
from ..model import Profile, Result, Scenario

__all__ = ["Fix", "Diagnosis", "Grids", "diagnose", "feasible", "least_latency_ms", "fmt_fix_ms"]

_STEP_MS = 0.1    # the precision a least deadline or limit is shown with (and applied at)


def fmt_fix_ms(v: float) -> str:
    """A time as every line of the banner shows it: ms, one decimal, thousands separated."""
    return f"{v:,.1f} ms"


def _log_grid(lo: float, hi: float) -> tuple[float, ...]:
    return tuple(v for e in range(-1, 7) for m in (1, 2, 5) if lo <= (v := round(m * 10.0 ** e, 12)) <= hi)


@dataclass(frozen=True, slots=True)
class Grids:
    """The values a knob can take (the app passes its sliders'), searched for a grid fix."""

    bandwidths: Sequence[float] = _log_grid(1, 10_000)
    delays: Sequence[float] = tuple(float(v) for v in range(0, 201))
    seq_lens: Sequence[int] | None = None          # None: the profile's own lengths
    gen_tokens: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True, slots=True)
class Fix:
    """One knob changed: `text` says it, `changes` are the scenario fields it sets."""

    knob: str
    text: str
    changes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def apply(self, sc: Scenario) -> Scenario:
        return sc.replace(**self.changes)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why a scenario is infeasible and what would fix it (see the module docstring)."""

    least_ms: float | None       # least request latency of a placement meeting the limits (None: none does)
    free_ms: float               # least request latency with the TTFT/TPOT limits ignored
    binding: tuple[str, ...]     # "deadline", or the limits ("TTFT", "TPOT") that cause it
    reason: str                  # one sentence naming the binding constraint
    fixes: tuple[Fix, ...]


def _solve(profile: Profile, sc: Scenario) -> Result | None:
    from . import solve

    try:
        return solve(profile, sc, "exact")
    except SplittuiError:   # e.g. a length whose contexts the profile does not cover
        return None


def feasible(profile: Profile, sc: Scenario) -> bool:
    """Some placement meets the deadline and the TTFT/TPOT limits (the exact solver finds one)."""
    res = _solve(profile, sc)
    return res is not None and res.feasible


def _at_deadline(sc: Scenario, deadline_ms: float) -> Scenario:
    """`sc` at another deadline; a TTFT limit at or above it is implied by it, so dropped."""
    deadline_ms = max(deadline_ms, 1e-9)   # a Scenario's deadline must be > 0
    ttft = sc.ttft_ms if sc.ttft_ms is not None and sc.ttft_ms < deadline_ms else None
    return sc.replace(deadline_ms=deadline_ms, ttft_ms=ttft)


def _bisect(ok: Callable[[float], float | None], lo: float, hi: float) -> float:
    """The least value in (lo, hi] at which `ok` holds, to _STEP_MS/2: `ok(v)` returns None where it fails
    and else a value ≤ v at which it surely holds too (the found policy's own time), which moves hi down
    faster. `ok(hi)` must hold."""
    while hi - lo > _STEP_MS / 2 and hi - lo > 1e-9 * hi:
        mid = (lo + hi) / 2
        got = ok(mid)
        if got is None:
            lo = mid
        else:
            hi = max(min(got, mid), lo)
    return hi


def _shown_up(v: float) -> float:
    """`v` rounded up to the precision it is shown with (a shown value is the one applied)."""
    return math.ceil(v / _STEP_MS - 1e-9) * _STEP_MS if v > 0 else _STEP_MS


def least_latency_ms(profile: Profile, sc: Scenario) -> float | None:
    """The least request latency of a placement meeting sc's TTFT/TPOT limits (sc's deadline ignored),
    to 0.1 ms (rounded up); None when no placement meets the limits at any deadline."""
    c = phase_costs(profile, sc).composite()
    free = min_latency(c)
    top = _top_ms(c)
    at_top = _solve(profile, _at_deadline(sc, top))
    if at_top is None or not at_top.feasible or at_top.latency_ms is None:
        return None

    def ok(d: float) -> float | None:
        res = _solve(profile, _at_deadline(sc, d))
        return res.latency_ms if res is not None and res.feasible else None

    if ok(free) is not None:
        return free
    return _bisect(ok, free, at_top.latency_ms)


def _top_ms(c: Costs) -> float:
    """A deadline above every policy's latency (each layer at its slower side, every transfer paid)."""
    import numpy as np

    return float(np.maximum(c.client_ms, c.server_ms).sum() + c.up_ms.sum() + c.down_ms.sum()
                 + c.up_out_ms + c.down_out_ms) * (1 + 1e-9) + 1.0


def _first_ok(grid: Sequence[Any], ok: Callable[[Any], bool]) -> Any:
    """The first grid value that passes `ok`, assuming ok is monotone along the grid (bisection); the
    value returned has passed `ok` itself."""
    lo, hi = 0, len(grid)
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(grid[mid]):
            hi = mid
        else:
            lo = mid + 1
    return grid[lo] if lo < len(grid) else None


def diagnose(profile: Profile, sc: Scenario, grids: Grids = Grids()) -> Diagnosis:
    """The binding constraint and the one-knob fixes of an infeasible scenario, cheapest first (none, and
    nothing binding, for a feasible one)."""
    c = phase_costs(profile, sc).composite()
    free = min_latency(c)
    if feasible(profile, sc):
        return Diagnosis(least_latency_ms(profile, sc), free, (), "a placement meets every constraint", ())
    least = least_latency_ms(profile, sc)
    binding, reason = _binding(profile, sc, least, free)
    fixes = [f for f in (_deadline_fix(sc, least), *_limit_fixes(profile, sc), *_grid_fixes(profile, sc, grids))
             if f is not None]
    return Diagnosis(least, free, binding, reason, tuple(fixes or [_two_knob_fix(sc, free)]))


def _two_knob_fix(sc: Scenario, free: float) -> Fix:
    """When no one knob is enough (a limit no placement meets, and the deadline too short without it):
    the limits off and the deadline raised to the least latency."""
    value = _shown_up(max(free, sc.deadline_ms))
    names = " and ".join(n for n, v in (("TTFT", sc.ttft_ms), ("TPOT", sc.tpot_ms)) if v is not None)
    return Fix("limits", f"turn the {names} limit{'s' if ' and ' in names else ''} off and raise deadline to ≥ "
               f"{fmt_fix_ms(value)}", MappingProxyType({"ttft_ms": None, "tpot_ms": None, "deadline_ms": value}))


def _limit_text(sc: Scenario, name: str) -> str:
    value = sc.ttft_ms if name == "TTFT" else sc.tpot_ms
    return f"{name} ≤ {fmt_fix_ms(value or 0.0)}"


def _binding(profile: Profile, sc: Scenario, least: float | None, free: float) -> tuple[tuple[str, ...], str]:
    limits = [n for n, v in (("TTFT", sc.ttft_ms), ("TPOT", sc.tpot_ms if sc.gen_tokens else None)) if v is not None]
    if least is not None and least <= free + _STEP_MS or not limits:
        return ("deadline",), f"the least achievable latency is {fmt_fix_ms(least if least is not None else free)}"
    off = {n: sc.replace(**{"ttft_ms" if n == "TTFT" else "tpot_ms": None}) for n in limits}
    if least is None:
        alone = [n for n in limits if least_latency_ms(profile, off[_other(n, limits)]) is None] \
            if len(limits) == 2 else limits
        names = tuple(alone) or tuple(limits)
        what = " and ".join(_limit_text(sc, n) for n in names)
        together = " together" if len(names) == 2 and not alone else ""
        return names, f"no placement meets {what}{together}, whatever the deadline"
    lower = [n for n in limits if (v := least_latency_ms(profile, off[n])) is not None and v < least - _STEP_MS / 2]
    names = tuple(lower) or tuple(limits)
    what = " and ".join(_limit_text(sc, n) for n in names)
    return names, (f"the {what} limit{'s' if len(names) > 1 else ''} bind{'' if len(names) > 1 else 's'}: "
                   f"meeting {'them' if len(names) > 1 else 'it'}, the least latency is {fmt_fix_ms(least)} "
                   f"(ignoring the limits, {fmt_fix_ms(free)})")


def _other(name: str, limits: list[str]) -> str:
    return next(n for n in limits if n != name)


def _deadline_fix(sc: Scenario, least: float | None) -> Fix | None:
    if least is None:
        return None
    value = _shown_up(max(least, sc.deadline_ms))
    return Fix("deadline", f"raise deadline to ≥ {fmt_fix_ms(value)}", MappingProxyType({"deadline_ms": value}))


def _limit_fixes(profile: Profile, sc: Scenario) -> list[Fix | None]:
    out: list[Fix | None] = []
    for name, key, now in (("TTFT", "ttft_ms", sc.ttft_ms), ("TPOT", "tpot_ms", sc.tpot_ms)):
        if now is None or (name == "TPOT" and not sc.gen_tokens):
            continue
        out.append(_limit_fix(profile, sc, name, key, now))
    return out


def _limit_fix(profile: Profile, sc: Scenario, name: str, key: str, now: float) -> Fix | None:
    """The least limit (to 0.1 ms, at most the deadline for TTFT) that makes `sc` feasible, or "off"."""
    res = _solve(profile, sc.replace(**{key: None}))
    if res is None or not res.feasible:
        return None   # even without this limit nothing fits: raising it cannot help
    own = res.ttft_ms if name == "TTFT" else res.tpot_ms

    def ok(v: float) -> float | None:
        got = _solve(profile, sc.replace(**{key: v}))
        if got is None or not got.feasible:
            return None
        return got.ttft_ms if name == "TTFT" else got.tpot_ms

    value = _shown_up(_bisect(ok, now, max(float(own or now), now)))
    if name == "TTFT" and value >= sc.deadline_ms or not feasible(profile, sc.replace(**{key: value})):
        return Fix(name, f"turn the {name} limit off", MappingProxyType({key: None}))
    return Fix(name, f"{name} limit ≥ {fmt_fix_ms(value)}", MappingProxyType({key: value}))


def _grid_fixes(profile: Profile, sc: Scenario, grids: Grids) -> list[Fix | None]:
    def meets(**kw: Any) -> bool:
        return feasible(profile, sc.replace(**kw))

    out: list[Fix | None] = []
    up, down = sc.up_mbps, float(sc.down_mbps or sc.up_mbps)
    if up == down:
        bw = _first_ok([v for v in grids.bandwidths if v > up], lambda v: meets(up_mbps=v, down_mbps=v))
        out.append(None if bw is None else Fix("bandwidth", f"bandwidth ≥ {_mbps(bw)}",
                                               MappingProxyType({"up_mbps": bw, "down_mbps": bw})))
    else:
        for knob, key, now in (("upload", "up_mbps", up), ("download", "down_mbps", down)):
            v = _first_ok([b for b in grids.bandwidths if b > now], partial(_meets_one, meets, key))
            out.append(None if v is None else Fix(knob, f"{knob} ≥ {_mbps(v)}", MappingProxyType({key: v})))
    delay = _first_ok([d for d in grids.delays if d < sc.delay_ms][::-1], lambda v: meets(delay_ms=v))
    out.append(None if delay is None else Fix("delay", f"delay ≤ {delay:g} ms", MappingProxyType({"delay_ms": delay})))
    seqs = [s for s in (grids.seq_lens or profile.seq_lens) if s < sc.seq_len][::-1]
    seq = _first_ok(seqs, lambda v: meets(seq_len=int(v)))
    out.append(None if seq is None else Fix("seq", f"seq len ≤ {seq}", MappingProxyType({"seq_len": int(seq)})))
    if sc.gen_tokens > 1:
        gens = [n for n in grids.gen_tokens if 0 < n < sc.gen_tokens][::-1]
        n = _first_ok(gens, lambda v: meets(gen_tokens=int(v)))
        out.append(None if n is None else Fix("output", f"output ≤ {n} tokens",
                                              MappingProxyType({"gen_tokens": int(n)})))
    return out


def _meets_one(meets: Callable[..., bool], key: str, value: float) -> bool:
    return meets(**{key: value})


def _mbps(v: float) -> str:
    return f"{v / 1000:g} Gbit/s" if v >= 1000 else f"{v:g} Mbit/s"

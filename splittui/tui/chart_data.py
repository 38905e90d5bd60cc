"""What the app's charts draw, computed from solved results in the solve worker, never in render():
greedy's and no-split's share along the frontier, server share against bandwidth, and the timeline
of each solver's placement. Pure numpy over the core; no textual here.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..costs import Costs
from ..generation import Phases, phase_costs
from ..model import Profile, Result, Scenario
from ..solvers import evaluate_costs
from ..solvers.baselines import greedy_policy, pinned_prefix, prefix_latencies, prefix_table, single_split_policy
from ..solvers.dp_span import DPSpan, dp_span

__all__ = ["greedy_shares", "sweep_lines", "sweep_table", "SweepTable", "timeline_segments", "request_timeline",
           "sweep_key", "Segment", "SWEEP_POINTS", "SWEEP_MAX_UNITS", "SWEEP_REUSE", "SWEEP_SOLVERS",
           "FRONTIER_SAMPLES", "sweep_top", "prefetch_sweep"]

SWEEP_POINTS = 13   # 3 per decade: the lines are smooth between them, and each point is a DP solve
SWEEP_MAX_UNITS = 2_000
SWEEP_REUSE = 1.3   # a sweep table serves deadlines from 1/1.3 to 1.3 times the one it was built at
SWEEP_SOLVERS = ("single-split", "greedy", "dp")   # dp drawn last, on top
FRONTIER_SAMPLES = 60

Segment = tuple[str, float, float]   # (row, start_ms, end_ms)


def greedy_shares(profile: Profile, sc: Scenario, deadlines: np.ndarray, *, phases: Phases | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy's and no-split's server share at each deadline (NaN where infeasible), from one prefix pass
    over the request's chain (the prefill chain when no tokens are generated); a prefix policy that breaks
    a TTFT/TPOT limit, or does not fit a memory limit, counts as infeasible. With pins, the prefix policies
    are pinned as the solvers pin them (`prefix_table`). `phases`: `phase_costs(profile, sc)`, if already
    computed."""
    from ..solvers.constrained import fits as fits_memory
    from ..solvers.request import has_limits, limits_of

    ph = phase_costs(profile, sc) if phases is None else phases
    c = ph.composite()
    if c.pin is None:   # the O(L) table, its shares summed from the end as the chart always drew them
        lat = prefix_latencies(c)
        tail = np.concatenate((np.cumsum(c.reward[::-1])[::-1], [0.0])) / max(c.total_reward, 1e-300)
    else:
        lat, client = prefix_table(c)
        tail = (c.total_reward - client) / max(c.total_reward, 1e-300)
    ok = lat[None, :] <= deadlines[:, None] * (1 + 1e-12)
    stop = np.where(ok[:, 1:].all(axis=1), c.n, np.argmin(ok[:, 1:], axis=1))  # first prefix that misses
    fits = np.ones(c.n + 1, dtype=bool)   # prefix k meets the limits
    if has_limits(sc):
        ttft, dec = limits_of(sc)
        fits = prefix_table(ph.prefill)[0] <= ttft * (1 + 1e-9)
        if ph.decode is not None:
            fits &= prefix_table(ph.decode)[0] <= dec * (1 + 1e-9)
    if c.mem is not None and c.mem.active:   # the prefixes these deadlines stop at, as the solvers check them
        for k in np.unique(np.append(stop, 0)).tolist():
            fits[k] &= fits_memory(c.mem, np.array(pinned_prefix(c, k), dtype=np.int8))
    greedy = np.where(((stop > 0) | ok[:, 0]) & fits[stop], tail[stop], np.nan)
    nosplit = np.where(ok[:, 0] & fits[0], tail[0], np.nan)
    return greedy, nosplit


def sweep_key(sc: Scenario) -> Scenario:
    """The scenario with the bandwidth left out: the bandwidth sweep depends on nothing else."""
    return sc.replace(up_mbps=1.0, down_mbps=1.0)


def _table_key(sc: Scenario) -> Scenario:
    """What a SweepTable depends on: neither the bandwidth nor the deadline (nor the limits, not applied)."""
    return sc.replace(up_mbps=1.0, down_mbps=1.0, ttft_ms=None, tpot_ms=None, deadline_ms=1.0)


@dataclass(frozen=True, slots=True)
class SweepTable:
    """Per sweep bandwidth, the request's chain and a DP pass (`DPSpan`) at `unit_ms`, filled once for
    the deadlines [lo_ms, hi_ms] around the one it was built for: a deadline step then reads every
    point instead of solving 13 DPs."""

    key: Scenario
    unit_ms: float
    lo_ms: float
    hi_ms: float
    bandwidths: np.ndarray
    chains: tuple[Costs, ...]
    spans: tuple[DPSpan, ...]
    phases: tuple[Phases, ...] = ()   # per bandwidth, for the TTFT/TPOT limits' check

    def serves(self, sc: Scenario) -> bool:
        return self.key == _table_key(sc) and self.lo_ms < sc.deadline_ms <= self.hi_ms and \
            self.unit_ms == max(sc.unit_ms, self.hi_ms / SWEEP_MAX_UNITS)

    def lines(self, deadline_ms: float, rounding: str, sc: Scenario | None = None) -> dict[str, np.ndarray]:
        """Server share (%) per SWEEP_SOLVERS solver at each bandwidth for this deadline (NaN: none); with
        `sc`'s TTFT/TPOT limits, a policy that breaks one counts as none (no solver here enforces them)."""
        from ..solvers.request import has_limits, limits_of

        lims = limits_of(sc) if sc is not None and has_limits(sc) and self.phases else None
        out: dict[str, list[float]] = {name: [] for name in SWEEP_SOLVERS}
        for i, (c, span) in enumerate(zip(self.chains, self.spans, strict=True)):
            at = replace(c, deadline_ms=deadline_ms)

            def share(policy: tuple[int, ...] | None, i: int = i, c: Costs = c) -> float:
                return _share(c, policy if lims is None or _meets(self.phases[i], policy, lims) else None)

            out["greedy"].append(share(greedy_policy(at)))
            out["single-split"].append(share(single_split_policy(at)))
            dp = self._dp_share(c, span, deadline_ms, rounding)
            if lims is not None and math.isfinite(dp):
                dp = share(span.policy(deadline_ms))
            out["dp"].append(dp)
        return {name: np.asarray(v) for name, v in out.items()}

    @staticmethod
    def _dp_share(c: Costs, span: DPSpan, deadline_ms: float, rounding: str) -> float:
        total = c.total_reward
        if total <= 0:
            return math.nan
        if rounding != "ceil":   # rounded to nearest, a DP policy may miss the deadline: score it
            r = evaluate_costs(replace(c, deadline_ms=deadline_ms), span.policy(deadline_ms), min_lat=math.nan)
            return 100 * r.server_share if r.feasible and r.server_share is not None else math.nan
        best = float(span.end_values(deadline_ms)[-1])   # rounded up, every DP policy meets the deadline
        return 100 * max(0.0, total - best) / total if math.isfinite(best) else math.nan


def _meets(ph: Phases, policy: tuple[int, ...] | None, lims: tuple[float, float]) -> bool:
    from ..solvers.request import meets_limits

    return policy is not None and meets_limits(ph, policy, lims)


def _share(c: Costs, policy: tuple[int, ...] | None) -> float:
    """Server share (%) of a baseline's policy (NaN: none meets the deadline)."""
    total = c.total_reward
    if policy is None or total <= 0:
        return math.nan
    return 100 * float(c.reward[np.asarray(policy) == 0].sum()) / total


def sweep_top(deadline_ms: float) -> float:
    """The top of the deadline's bucket, SWEEP_REUSE^k: a table serves the deadlines (top / SWEEP_REUSE, top]."""
    k = math.ceil(math.log(deadline_ms) / math.log(SWEEP_REUSE) - 1e-9)
    return SWEEP_REUSE ** k if SWEEP_REUSE ** k >= deadline_ms else SWEEP_REUSE ** (k + 1)


# Tables built lately, by (profile's id, table key, bucket top, T, rounding) -> (profile, table): a deadline
# that steps into the next bucket finds the table `prefetch_sweep` built there after the last key (issue 32)
_TABLES: OrderedDict[tuple, tuple[Profile, SweepTable]] = OrderedDict()
_TABLES_KEPT = 8


def _cache_key(profile: Profile, sc: Scenario, hi: float) -> tuple:
    return id(profile), _table_key(sc), hi, max(sc.unit_ms, hi / SWEEP_MAX_UNITS), sc.rounding


def _cached(profile: Profile, key: tuple) -> SweepTable | None:
    hit = _TABLES.get(key)
    if hit is None or hit[0] is not profile:
        return None
    _TABLES.move_to_end(key)   # kept the longest: the tables read lately
    return hit[1]


def sweep_table(profile: Profile, sc: Scenario, have: SweepTable | None = None, *, top: float | None = None,
                cancelled: Callable[[], bool] = lambda: False) -> SweepTable | None:
    """Build the sweep's chains and DP passes for the deadlines of sc's bucket (`sweep_top`; `top`: that
    of another bucket), at T >= the bucket's top / SWEEP_MAX_UNITS; the chains of `have` are kept where it
    is one for these knobs (they depend on neither the deadline nor T). A table built lately for the same
    bucket is returned as it is. None if `cancelled()` turns true between two DP passes."""
    hi = sweep_top(sc.deadline_ms) if top is None else top
    ck = _cache_key(profile, sc, hi)
    if (hit := _cached(profile, ck)) is not None:
        return hit
    key, unit = ck[1], ck[3]
    bws = np.geomspace(1, 10_000, SWEEP_POINTS)
    if have is not None and have.key == key and have.phases:
        phases, chains = have.phases, have.chains
    else:
        phases = tuple(phase_costs(profile, sc.replace(up_mbps=float(bw), down_mbps=float(bw), ttft_ms=None,
                                                       tpot_ms=None)) for bw in bws)
        chains = tuple(ph.composite() for ph in phases)
    spans: list[DPSpan] = []
    for c in chains:
        if cancelled():
            return None
        spans.append(dp_span(c, unit, hi, rounding=sc.rounding))
    table = SweepTable(key=key, unit_ms=unit, lo_ms=hi / SWEEP_REUSE, hi_ms=hi, bandwidths=bws, chains=chains,
                       spans=tuple(spans), phases=phases)
    _TABLES[ck] = (profile, table)
    while len(_TABLES) > _TABLES_KEPT:
        _TABLES.popitem(last=False)
    return table


def prefetch_sweep(profile: Profile, sc: Scenario, table: SweepTable, cancelled: Callable[[], bool],
                   deadlines: tuple[float, ...] = ()) -> None:
    """Build the tables the next key may read, off the key's path: those of `deadlines` (the deadline
    slider's values one step each way), then of the buckets above and below `table`'s. The solve worker
    calls this after its answers are shown, and it stops between DP passes once a newer key asks."""
    k = round(math.log(table.hi_ms) / math.log(SWEEP_REUSE))   # the top is SWEEP_REUSE ** k (sweep_top)
    tops = [sweep_top(d) for d in deadlines if d > 0] + [SWEEP_REUSE ** (k + 1), SWEEP_REUSE ** (k - 1)]
    for top in dict.fromkeys(t for t in tops if t != table.hi_ms):
        if cancelled() or sweep_table(profile, sc, table, top=top, cancelled=cancelled) is None:
            return


def sweep_lines(profile: Profile, sc: Scenario, table: SweepTable | None = None
                ) -> tuple[np.ndarray, dict[str, np.ndarray], SweepTable]:
    """Server share (%) of each SWEEP_SOLVERS solver at SWEEP_POINTS bandwidths (up = down), 1 Mbit/s
    to 10 Gbit/s, over the whole request's chain; a policy that breaks a TTFT/TPOT limit counts as
    infeasible; NaN where infeasible. The DP runs at T = max(T, D0 / SWEEP_MAX_UNITS) for the top D0 of the
    deadline's bucket (`sweep_top`); `table` is reused where it serves `sc`."""
    if table is None or not table.serves(sc):
        table = sweep_table(profile, sc, table)
        assert table is not None   # never cancelled here
    return table.bandwidths, table.lines(sc.deadline_ms, sc.rounding, sc), table


def timeline_segments(c: Costs, res: Result, t0: float = 0.0) -> list[Segment]:
    """(row, start_ms, end_ms) for a policy on one chain: compute on "client"/"server", transfers "up"/"down"."""
    assert res.policy is not None
    sides = [int(c.start_client), *res.policy, int(c.end_client)]
    segs: list[Segment] = []
    t = t0

    def add(row: str, dur: float) -> None:
        nonlocal t
        if segs and segs[-1][0] == row:
            segs[-1] = (row, segs[-1][1], t + dur)
        else:
            segs.append((row, t, t + dur))
        t += dur

    for i in range(c.n):
        if sides[i + 1] != sides[i]:
            add("up" if sides[i + 1] == 0 else "down", c.up_ms[i] if sides[i + 1] == 0 else c.down_ms[i])
        add("client" if sides[i + 1] else "server", c.client_ms[i] if sides[i + 1] else c.server_ms[i])
    if sides[-1] != sides[-2]:
        add("up" if sides[-1] == 0 else "down", c.up_out_ms if sides[-1] == 0 else c.down_out_ms)
    return segs


def request_timeline(ph: Phases, res: Result) -> tuple[list[Segment], float | None]:
    """The prefill's segments, then one (mean) decode step's after them, and where the prefill ends
    (None when no tokens are generated)."""
    pre = timeline_segments(ph.prefill, res)
    d, n = ph.decode, ph.steps   # the mean of the N − 1 decode steps (SPEC §8)
    if d is None or n <= 0:
        return pre, None
    step = replace(d, client_ms=d.client_ms / n, server_ms=d.server_ms / n, up_ms=d.up_ms / n,
                   down_ms=d.down_ms / n, up_out_ms=d.up_out_ms / n, down_out_ms=d.down_out_ms / n)
    end = pre[-1][2] if pre else 0.0
    return pre + timeline_segments(step, res, end), end

"""The paper's §IV-C experiment: every solver over a grid of sequence lengths, bandwidths and deadlines.

Grid, per model: the profile's sequence lengths x bandwidths (default 10..1000 Mbit/s, up = down)
x a halving series of deadlines per sequence length, delay 10 ms, start and end on the client.

Deadline rule (the paper's "each subsequent latency is half of the larger one"): for sequence
length s, ``D_0`` = the all-client latency (every layer fits on the client; or the least latency,
if that is larger), then
``D_j = D_0 * 2**(-j / per_halving)``, kept while ``D_j`` is at least the least latency any policy
reaches at the fastest bandwidth of the grid (below it nothing is feasible anywhere, so the last
deadline is one where almost nothing fits on the client). At most ``max_steps`` halvings.

The DP runs once per (s, bandwidth) pair at ``D_0``; its last row (the frontier) and a backtrack
per budget give the DP answer at every deadline of the series without re-solving. Its time unit T
is ``D_min / resolution`` (at most 2**20 units per pass), so the rounding error is the same
fraction of the tightest deadline for every s. The exact solver (optional) also runs once per
pair: its Pareto labels do not depend on the deadline, so the end labels give every deadline.
Greedy, single split and no-split come from one ``prefix_latencies`` pass per pair.
Time O(pairs * L * W) for the DP, W = resolution * 2**halvings.

Aggregates (SPEC §5 metrics): client share = 1 - server share; improvement over greedy is
reported two ways, over the cells where both DP and greedy are feasible:
``ratio of means`` = (mean cs_dp - mean cs_greedy) / mean cs_greedy (robust; the headline), and
``median of ratios`` = median over those cells with cs_greedy > 0 of (cs_dp - cs_greedy) / cs_greedy
(a median, because a cell where greedy keeps one tiny layer gives a ratio in the thousands); also
``mean of ratios`` (the same per-cell ratios, averaged: the paper does not say how it averages),
the gain in percentage points (mean cs_dp - mean cs_greedy), and SPEC §5's server-load reduction
``(L_greedy - L_dp) / L_greedy`` per cell (= the same ratio on server shares), as a ratio of the mean
server shares and as a mean of per-cell ratios.

Rounding (:func:`rounding`): cells where the exact solver keeps more than one point more on the
client than the DP, and cells the DP finds infeasible that exact does not; both come from the DP's
time unit T (each layer's time is rounded up to a multiple of T).

Paper grid (``grid="paper"``): bandwidths from 50 Mbit/s up, and per (s, bandwidth) ``paper_steps``
deadlines spaced geometrically from ``(1 - PAPER_TOP_GAP)`` x the all-client latency ("almost all on
the client") down to the no-split latency ("all on the server"; the least latency when no-split is
slower than all-client). ``server_speedup=X`` rescales every length's server times so that the
whole-model client time over the server time is X (the paper measured 79x; the shipped profiles'
rtx3090 roofline is several hundred times faster than our client).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .costs import costs_for, min_latency
from .errors import SplittuiError
from .generation import last_context, phase_costs, request_costs
from .model import Profile, Scenario, parse_returns
from .solvers import APP_SOLVERS
from .solvers.baselines import prefix_latencies
from .sweep_cells import Cell, _dp_cells, _exact_cells, _prefix_cells
from .sweep_paper import PAPER, PAPER_SPEEDUP, paper_key, rescale_server

__all__ = ["SweepConfig", "Sweep", "PAPER", "SOLVERS", "DEFAULT_BANDWIDTHS", "deadline_series", "run_sweep",
           "paper_key", "sweep_seq_lens", "GRIDS", "PAPER_BANDWIDTHS", "PAPER_SPEEDUP", "paper_deadlines",
           "rescale_server", "server_speedups", "POLICY_SOLVERS", "halving_series", "given_deadlines", "dp_unit"]

SOLVERS = APP_SOLVERS
POLICY_SOLVERS = ("dp", "greedy", "single-split", "no-split")   # whose per-cell placements a Sweep always keeps
# (exact's too when the sweep runs it: one optimal placement per cell, rebuilt from its labels)
DEFAULT_BANDWIDTHS = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
_MAX_W = 1 << 20  # cap on DP budget units per pass (memory and time): T grows instead
GRIDS = ("default", "paper")
PAPER_BANDWIDTHS = (50.0, 100.0, 200.0, 500.0, 1000.0)
PAPER_TOP_GAP = 0.05      # paper grid: the loosest deadline is 95 % of the all-client latency
ROUNDING_POINTS = 0.01    # "exact keeps more than 1 point more on the client than dp"


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """Grid and solver options; `unit_ms` fixes T instead of the per-s `resolution` rule."""

    bandwidths: tuple[float, ...] = DEFAULT_BANDWIDTHS
    seq_lens: tuple[int, ...] | None = None  # None: the profile's own
    delay_ms: float = 10.0
    per_halving: int = 1
    max_steps: int = 16
    resolution: int = 1000
    unit_ms: float | None = None
    exact: bool = True
    objective: str = "flops"
    gen_tokens: int = 0   # > 0: each cell is a whole request of N output tokens (SPEC §8: prefill + N − 1 steps)
    ttft_ms: float | None = None   # TTFT/TPOT limits: a cell whose policy breaks one is infeasible; exact
    tpot_ms: float | None = None   # solves under them (the Pareto front of the policies that meet them)
    returns: str = "auto"          # what the answer's last transfer carries (model.RETURNS)
    grid: str = "default"
    paper_steps: int = 8
    server_speedup: float | None = None
    radio: str = "wifi"            # the client's radio, for each cell's client joules (estimates, docs/energy.md)
    deadlines: tuple[float, ...] | None = None   # these deadlines (ms) for every (s, bandwidth) pair, not a series

    def __post_init__(self) -> None:
        if self.grid not in GRIDS:
            raise SplittuiError(f"sweep: grid must be one of {', '.join(GRIDS)}, got {self.grid!r}")
        if self.paper_steps < 2:
            raise SplittuiError("sweep: paper_steps must be >= 2")
        if self.server_speedup is not None and not (self.server_speedup > 0 and math.isfinite(self.server_speedup)):
            raise SplittuiError(f"--server-speedup: must be a finite number > 0, got {self.server_speedup}")
        if not self.bandwidths or any(not (b > 0 and math.isfinite(b)) for b in self.bandwidths):
            raise SplittuiError("sweep: bandwidths must be finite numbers > 0")
        if self.per_halving < 1 or self.max_steps < 0 or self.resolution < 1:
            raise SplittuiError("sweep: per_halving and resolution must be >= 1, max_steps >= 0")
        if self.unit_ms is not None and not self.unit_ms > 0:
            raise SplittuiError("sweep: unit_ms must be > 0")
        if isinstance(self.gen_tokens, bool) or not isinstance(self.gen_tokens, int) or self.gen_tokens < 0:
            raise SplittuiError(f"sweep: gen_tokens must be an integer >= 0, got {self.gen_tokens!r}")
        for name in ("ttft_ms", "tpot_ms"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise SplittuiError(f"sweep: {name} must be a finite number > 0, got {v!r}")
        parse_returns(self.returns)
        if self.deadlines is not None:
            if not self.deadlines or any(not (d > 0 and math.isfinite(d)) for d in self.deadlines):
                raise SplittuiError("sweep: deadlines must be finite numbers > 0")
            if self.grid == "paper":
                raise SplittuiError("--deadlines: the paper grid sets its own deadlines; give one or the other")

    @property
    def has_limits(self) -> bool:
        return self.ttft_ms is not None or (self.tpot_ms is not None and self.gen_tokens > 0)

    def describe(self) -> str:
        """What a sweep ran, in a few words (the experiments screen and the tables say it)."""
        parts = [f"{self.gen_tokens} output tokens (request latency)" if self.gen_tokens else "prefill only"]
        if self.ttft_ms is not None:
            parts.append(f"TTFT ≤ {self.ttft_ms:g} ms")
        if self.tpot_ms is not None and self.gen_tokens:
            parts.append(f"TPOT ≤ {self.tpot_ms:g} ms")
        if self.returns != "auto":
            parts.append(f"returns {self.returns}")
        if self.radio != "wifi":
            parts.append(f"radio {self.radio}")
        if self.deadlines:
            parts.append("deadlines " + ", ".join(f"{d:g}" for d in sorted(set(self.deadlines), reverse=True)) + " ms")
        return " · ".join(parts)

    @property
    def solvers(self) -> tuple[str, ...]:
        return SOLVERS if self.exact else tuple(s for s in SOLVERS if s != "exact")


@dataclass(frozen=True, slots=True, eq=False)
class Sweep:
    """One model's sweep, one row per cell; (n, len(solvers)) arrays hold NaN where infeasible."""

    model: str
    solvers: tuple[str, ...]
    seq: NDArray[np.int64]
    bandwidth: NDArray[np.float64]
    step: NDArray[np.int64]
    deadline_ms: NDArray[np.float64]
    unit_ms: NDArray[np.float64]
    total_load: NDArray[np.float64]
    client_share: NDArray[np.float64]
    latency_ms: NDArray[np.float64]
    elapsed_s: float = 0.0
    config: SweepConfig = field(default_factory=SweepConfig)
    speedups: tuple[float, ...] = ()   # whole-model client ms / server ms per swept length (after rescaling)
    policies: dict[str, np.ndarray] = field(default_factory=dict)   # solver -> (n, L) int8; -1 rows: infeasible
    # (n, len(solvers)) client joules per request of each cell's placement (estimates, docs/energy.md, under
    # config.radio); NaN where infeasible or the request has no energy model
    client_j: NDArray[np.float64] | None = None

    def policy(self, solver: str) -> np.ndarray:
        """Per cell, the solver's placement (1 = client); rows of -1 where infeasible."""
        if solver not in self.policies:
            raise SplittuiError(f"sweep: the placements of {solver} are not kept (only {', '.join(self.policies)})")
        return self.policies[solver]

    @property
    def n_cells(self) -> int:
        return len(self.seq)

    def share(self, solver: str) -> NDArray[np.float64]:
        """Client share of one solver per cell (NaN where infeasible)."""
        return self.client_share[:, self.solvers.index(solver)]

    def server_load(self, solver: str) -> NDArray[np.float64]:
        return (1.0 - self.share(solver)) * self.total_load

    def latency(self, solver: str) -> NDArray[np.float64]:
        return self.latency_ms[:, self.solvers.index(solver)]


def _scenario(s: int, bw: float, deadline: float, cfg: SweepConfig, unit: float = 1.0) -> Scenario:
    """One cell's scenario, without the TTFT/TPOT limits (`_limits_scenario` adds them)."""
    return Scenario(deadline_ms=deadline, up_mbps=bw, delay_ms=cfg.delay_ms, seq_len=s,
                    unit_ms=unit, objective=cfg.objective, gen_tokens=cfg.gen_tokens, returns=cfg.returns,
                    radio=cfg.radio)


def _limits_scenario(sc: Scenario, cfg: SweepConfig) -> Scenario:
    """`sc` with the config's limits (its deadline raised to the TTFT limit if below: every trial deadline
    is set by the solvers' own calls, see solvers.goal.scenario_at)."""
    return sc.replace(deadline_ms=max(sc.deadline_ms, cfg.ttft_ms or 0.0), ttft_ms=cfg.ttft_ms, tpot_ms=cfg.tpot_ms)


def sweep_seq_lens(profile: Profile, cfg: SweepConfig) -> tuple[int, ...]:
    """The sequence lengths swept: the config's, or the profile's own whose contexts s+N−1 it covers."""
    if cfg.seq_lens:
        return cfg.seq_lens
    hi = profile.seq_range[1]
    seqs = tuple(s for s in profile.seq_lens if last_context(s, cfg.gen_tokens) <= hi)
    if not seqs:
        raise SplittuiError(f"{profile.model}: no profiled length s has s + gen_tokens - 2 <= {hi}")
    return seqs


def deadline_series(profile: Profile, s: int, cfg: SweepConfig = SweepConfig()) -> np.ndarray:
    """The halving series of deadlines (ms) for sequence length s (see the module docstring)."""
    if cfg.deadlines:
        return given_deadlines(cfg)
    top = _scenario(s, max(cfg.bandwidths), 1.0, cfg)
    c = request_costs(profile, top)
    floor_ms = min_latency(c)
    d0 = max(float(c.client_ms.sum()), floor_ms)
    if not d0 > 0:
        raise SplittuiError(f"{profile.model}: every policy takes 0 ms at seq {s}, so there is no deadline to sweep")
    return halving_series(d0, floor_ms, cfg)


def halving_series(d0: float, floor_ms: float, cfg: SweepConfig) -> np.ndarray:
    """D_0, then D_0 / 2^(j/per_halving) while at least `floor_ms`, at most max_steps halvings."""
    out = [d0]
    for j in range(1, cfg.max_steps * cfg.per_halving + 1):
        d = d0 * 2.0 ** (-j / cfg.per_halving)
        if d < floor_ms:
            break
        out.append(d)
    return np.array(out)


def given_deadlines(cfg: SweepConfig) -> np.ndarray:
    """The config's own deadlines, loosest first, each once."""
    return np.array(sorted(set(cfg.deadlines or ()), reverse=True), dtype=np.float64)


def paper_deadlines(profile: Profile, s: int, bw: float, cfg: SweepConfig = SweepConfig(grid="paper")) -> np.ndarray:
    """The paper grid's deadlines (ms) for one (s, bandwidth) pair, loosest first (module docstring)."""
    c = costs_for(profile, _scenario(s, bw, 1.0, cfg))
    floor_ms = min_latency(c)
    all_client = float(prefix_latencies(c)[-1])
    no_split = float(prefix_latencies(c)[0])
    hi = max(all_client * (1.0 - PAPER_TOP_GAP), floor_ms)
    lo = no_split if floor_ms <= no_split < hi else floor_ms
    if not hi > 0:
        raise SplittuiError(f"{profile.model}: every policy takes 0 ms at seq {s}, so there is no deadline to sweep")
    j = np.arange(cfg.paper_steps) / (cfg.paper_steps - 1)
    return hi * (lo / hi) ** j


def server_speedups(profile: Profile, seqs: Sequence[int] | NDArray[np.int64]) -> tuple[float, ...]:
    """Whole-model client time over server time at each length (interpolated like the costs)."""
    out: list[float] = []
    for s in seqs:
        c = costs_for(profile, _scenario(int(s), 1.0, 1.0, SweepConfig()))
        out.append(float(c.client_ms.sum() / c.server_ms.sum()) if c.server_ms.sum() > 0 else math.inf)
    return tuple(out)


def dp_unit(series: np.ndarray, cfg: SweepConfig) -> float:
    """The DP's time unit T for one deadline series: --unit-ms, else D_min / resolution (at most 2**20 units)."""
    if cfg.unit_ms is not None:
        return cfg.unit_ms
    unit: float = max(series[-1] / cfg.resolution, series[0] / _MAX_W)
    return unit


def _pair(profile: Profile, s: int, bw: float, series: np.ndarray, cfg: SweepConfig) -> dict[str, list[Cell]]:
    """Every solver's (client reward, latency, policy or None) or None, at each deadline of one (s, bw) pair.
    With TTFT/TPOT limits, a cell whose policy breaks one is None, and exact solves under them."""
    unit = dp_unit(series, cfg)
    sc = _scenario(s, bw, float(series[0]), cfg, unit)
    if cfg.has_limits:
        return _limited_pair(profile, _limits_scenario(sc, cfg), series, unit, cfg)
    c = request_costs(profile, sc)
    cells: dict[str, list[Cell]] = {"dp": _dp_cells(c, series, unit), **_prefix_cells(c, series)}
    if cfg.exact:
        cells["exact"] = _exact_cells(c, series)
    return cells


def _limited_pair(profile: Profile, sc: Scenario, series: np.ndarray, unit: float,
                  cfg: SweepConfig) -> dict[str, list[Cell]]:
    from .solvers.goal import request_frontier
    from .solvers.request import limits_of, meets_limits

    ph = phase_costs(profile, sc)
    c = ph.composite()
    lims = limits_of(sc)

    def meets(cell: Cell) -> Cell:
        if cell is None or cell[2] is None:
            return cell
        return cell if meets_limits(ph, cell[2], lims) else None

    cells = {name: [meets(cell) for cell in col]
             for name, col in {"dp": _dp_cells(c, series, unit), **_prefix_cells(c, series)}.items()}
    if cfg.exact:
        points = request_frontier(ph, sc)   # fastest first; each is exact's answer until the next
        lat = np.array([p.deadline_ms for p in points])
        out: list[Cell] = []
        for d in series:
            i = int(np.searchsorted(lat, d + 1e-9 * max(1.0, d), side="right")) - 1
            r = points[i].result if i >= 0 else None
            out.append(None if r is None or r.server_load is None or r.latency_ms is None else
                       (r.total_load - r.server_load, r.latency_ms,
                        None if r.policy is None else np.asarray(r.policy, dtype=np.int8)))
        cells["exact"] = out
    return cells


def run_sweep(profile: Profile, cfg: SweepConfig = SweepConfig(), *,
              progress: Callable[[int, int], object] | None = None) -> Sweep:
    """Sweep one profile. progress(done_pairs, total_pairs) is called after each (s, bw) pair."""
    t0 = time.perf_counter()
    if cfg.server_speedup is not None:
        profile = rescale_server(profile, cfg.server_speedup)
    seqs = sweep_seq_lens(profile, cfg)
    if cfg.grid == "paper":
        series = {(s, bw): paper_deadlines(profile, s, bw, cfg) for s in seqs for bw in cfg.bandwidths}
    else:
        series = {(s, bw): d for s in seqs for d in [deadline_series(profile, s, cfg)] for bw in cfg.bandwidths}
    total = len(seqs) * len(cfg.bandwidths)
    cols: dict[str, list[float]] = {k: [] for k in ("seq", "bw", "step", "deadline", "unit", "total")}
    share: list[list[float]] = []
    lat: list[list[float]] = []
    joules: list[list[float]] = []
    pols: dict[str, list[NDArray[np.int8]]] = {m: [] for m in (*POLICY_SOLVERS, "exact") if m in cfg.solvers}
    none = np.full(profile.n_layers, -1, dtype=np.int8)
    done = 0
    for s in seqs:
        total_load = float(request_costs(profile, _scenario(s, 1.0, 1.0, cfg)).reward.sum())
        for bw in cfg.bandwidths:
            ser = series[(s, bw)]
            cells = _pair(profile, s, bw, ser, cfg)
            energy = phase_costs(profile, _scenario(s, bw, 1.0, cfg)).energy   # no deadline in it
            for j, d in enumerate(ser):
                for key, v in zip(cols, (s, bw, j, d, dp_unit(ser, cfg), total_load), strict=True):
                    cols[key].append(v)
                row = [cells[name][j] for name in cfg.solvers]
                share.append([np.nan if r is None else r[0] / total_load if total_load > 0 else 0.0
                              for r in row])
                lat.append([np.nan if r is None else r[1] for r in row])
                joules.append([np.nan if r is None or r[2] is None or energy is None
                               else energy.figures(np.asarray(r[2], dtype=np.int8)).client_j for r in row])
                for m in pols:
                    cell = cells[m][j]
                    placed = None if cell is None else cell[2]
                    pols[m].append(none if placed is None else placed)
            done += 1
            if progress is not None:
                progress(done, total)
    return Sweep(model=profile.model, solvers=cfg.solvers, seq=np.array(cols["seq"], dtype=np.int64),
                 bandwidth=np.array(cols["bw"], dtype=float), step=np.array(cols["step"], dtype=np.int64),
                 deadline_ms=np.array(cols["deadline"]), unit_ms=np.array(cols["unit"]),
                 total_load=np.array(cols["total"]), client_share=np.clip(np.array(share), 0.0, 1.0),
                 latency_ms=np.array(lat), elapsed_s=time.perf_counter() - t0, config=cfg,
                 speedups=server_speedups(profile, seqs),
                 policies={m: np.array(v, dtype=np.int8).reshape(-1, profile.n_layers) for m, v in pols.items()},
                 client_j=np.array(joules, dtype=np.float64).reshape(-1, len(cfg.solvers)))

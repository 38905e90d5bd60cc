"""Charts (plotext): the deadline frontier, per-layer FLOPs by side, server share against
bandwidth, and a timeline of DP's placement. A chart redraws only while it is on screen; otherwise
it remembers that its state changed and redraws when its tab is shown.
"""

from __future__ import annotations

import math
import numpy as np
from rich.text import Text
from textual_plotext import PlotextPlot

from ...costs import costs_for, layer_values
from ...model import Result
from ...solvers import solve_costs
from ...solvers.baselines import prefix_latencies
from ..messages import AppState

__all__ = ["Chart", "CHARTS", "greedy_shares", "timeline_segments"]

CLIENT_RGB = (42, 161, 179)
SERVER_RGB = (217, 83, 79)
NET_RGB = (230, 190, 60)
SWEEP_POINTS = 25
SWEEP_MAX_UNITS = 2_000


def greedy_shares(state: AppState, deadlines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy's and no-split's server share at each deadline (NaN where infeasible), from one prefix pass."""
    c = costs_for(state.profile, state.scenario)
    lat = prefix_latencies(c)
    tail = np.concatenate((np.cumsum(c.reward[::-1])[::-1], [0.0])) / max(c.total_reward, 1e-300)
    ok = lat[None, :] <= deadlines[:, None] * (1 + 1e-12)
    stop = np.where(ok[:, 1:].all(axis=1), c.n, np.argmin(ok[:, 1:], axis=1))  # first prefix that misses
    greedy = np.where((stop > 0) | ok[:, 0], tail[stop], np.nan)
    nosplit = np.where(ok[:, 0], 1.0, np.nan)
    return greedy, nosplit


def _frontier(plt, st: AppState) -> None:
    f = st.frontier
    x = np.asarray(f.deadline_ms)
    keep = np.isfinite(f.server_share)
    step = max(1, int(keep.sum()) // 120)   # plotext build time grows with points
    xs, ys = x[keep][::step], 100 * f.server_share[keep][::step]
    samples = np.linspace(x[0], x[-1], 60) if len(x) else np.array([])
    greedy, nosplit = greedy_shares(st, samples)
    for name, ys_, rgb in (("no-split", nosplit, SERVER_RGB), ("greedy", greedy, NET_RGB)):
        ok = np.isfinite(ys_)
        if ok.any():
            plt.plot(samples[ok].tolist(), (100 * ys_[ok]).tolist(), label=name, color=rgb, marker="braille")
    if len(xs):   # drawn last, on top where it meets no-split's 100 %
        plt.plot(xs.tolist(), ys.tolist(), label="optimal (DP)", color=CLIENT_RGB, marker="braille")
    if not keep.any() and not np.isfinite(greedy).any():
        plt.title(f"no placement meets any deadline up to {x[-1]:g} ms (the least latency is "
                  f"{st.exact.min_latency_ms:,.1f} ms)")
        return
    plt.vline(st.scenario.deadline_ms, "white")
    plt.title(f"server share vs deadline (one DP pass, T = {st.frontier_unit_ms:g} ms; "
              f"│ = current {st.scenario.deadline_ms:g} ms)")
    plt.xlabel("deadline (ms)")
    plt.ylabel("server share %")
    _share_ylim(plt, ys, 100 * greedy)


def _share_ylim(plt, *series) -> None:
    """Zoom the share axis onto the data (shares are often all within 70..100 %)."""
    finite = [v for ys in series for v in np.asarray(ys, dtype=float).ravel() if math.isfinite(v)]
    low = min(finite, default=0.0)
    plt.ylim(max(0.0, math.floor(low / 10) * 10 - 5), 101)


def _flops(plt, st: AppState) -> None:
    flops = layer_values(st.profile, "flops", st.scenario.seq_len) / 1e9
    dp = st.dp
    policy = dp.policy if dp is not None and dp.policy is not None else (0,) * len(flops)
    idx = np.arange(1, len(flops) + 1)
    side = np.asarray(policy)
    for value, label, rgb in ((1, "client", CLIENT_RGB), (0, "server", SERVER_RGB)):
        sel = side == value
        if sel.any():
            plt.bar(idx[sel].tolist(), flops[sel].tolist(), color=rgb, label=label, width=1 / 2)
    shown = dp is not None and dp.policy is not None
    plt.title("FLOPs per layer, coloured by DP's side" + ("" if shown else " (DP infeasible: drawn as server)"))
    plt.xlabel("layer")
    plt.ylabel("GFLOP")


def _sweep(plt, st: AppState) -> None:
    sc = st.scenario
    unit = max(sc.unit_ms, sc.deadline_ms / SWEEP_MAX_UNITS)
    bws = np.geomspace(1, 10_000, SWEEP_POINTS)
    lines: dict[str, list[float]] = {"single-split": [], "greedy": [], "dp": []}  # dp drawn on top
    for bw in bws:
        s2 = sc.replace(up_mbps=float(bw), down_mbps=float(bw), unit_ms=unit)
        c = costs_for(st.profile, s2)
        for name in lines:
            r = solve_costs(c, s2, name)
            lines[name].append(100 * r.server_share if r.feasible else math.nan)
    drawn = False
    for (name, ys), rgb in zip(lines.items(), (SERVER_RGB, NET_RGB, CLIENT_RGB)):
        y = np.asarray(ys)
        ok = np.isfinite(y)
        if ok.any():
            plt.plot(bws[ok].tolist(), y[ok].tolist(), label=name, color=rgb, marker="braille")
            drawn = True
    if not drawn:
        plt.title(f"no bandwidth up to 10 Gbit/s meets {sc.deadline_ms:g} ms")
        return
    plt.xscale("log")
    plt.vline(sc.up_mbps, "white")
    plt.title(f"server share vs bandwidth (up = down) at deadline {sc.deadline_ms:g} ms; │ = current")
    plt.xlabel("Mbit/s")
    plt.ylabel("server share %")
    _share_ylim(plt, *(np.asarray(v) for v in lines.values()))


def timeline_segments(st: AppState, res: Result) -> list[tuple[str, float, float]]:
    """(row, start_ms, end_ms) for DP's policy: compute on client/server, transfers on network."""
    c = costs_for(st.profile, st.scenario)
    sides = [int(c.start_client), *res.policy, int(c.end_client)]
    segs: list[tuple[str, float, float]] = []
    t = 0.0

    def add(row: str, dur: float) -> None:
        nonlocal t
        if segs and segs[-1][0] == row:
            segs[-1] = (row, segs[-1][1], t + dur)
        else:
            segs.append((row, t, t + dur))
        t += dur

    for l in range(c.n):
        if sides[l + 1] != sides[l]:
            add("network", c.up_ms[l] if sides[l + 1] == 0 else c.down_ms[l])
        add("client" if sides[l + 1] else "server", c.client_ms[l] if sides[l + 1] else c.server_ms[l])
    if sides[-1] != sides[-2]:
        add("network", c.up_out_ms if sides[-1] == 0 else c.down_out_ms)
    return segs


def _timeline(plt, st: AppState) -> None:
    res = st.dp
    if res is None or res.policy is None:
        plt.title("timeline: DP finds no placement that meets the deadline")
        return
    rows = {"server": (3, SERVER_RGB), "network": (2, NET_RGB), "client": (1, CLIENT_RGB)}
    for row, t0, t1 in timeline_segments(st, res):
        y, rgb = rows[row]
        plt.plot([t0, max(t1, t0 + 1e-9)], [y, y], color=rgb, marker="█")
    plt.vline(st.scenario.deadline_ms, "white")
    plt.yticks([1, 2, 3], ["client", "network", "server"])
    plt.ylim(0.5, 3.5)
    plt.xlim(0, max(st.scenario.deadline_ms, res.latency_ms) * 1.05)
    plt.title(f"DP timeline: {res.latency_ms:,.1f} ms of {st.scenario.deadline_ms:g} ms (│ = deadline)")
    plt.xlabel("ms")


CHARTS = {"frontier": _frontier, "flops": _flops, "bandwidth": _sweep, "timeline": _timeline}


class Chart(PlotextPlot):
    """One of CHARTS, drawn from an AppState. The plot is rebuilt in `render`, so a chart in a
    hidden tab costs nothing until it is shown."""

    def __init__(self, kind: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind = kind
        self.state: AppState | None = None
        self._dirty = False

    def show_state(self, state: AppState) -> None:
        """Take a new state; the plot is rebuilt after the frame that shows the new numbers and
        strip, so a key press reaches the screen without waiting for plotext (~10-40 ms)."""
        self.state = state
        self._dirty = True
        self.call_after_refresh(self.refresh)

    def _rebuild(self) -> None:
        plt = self.plt
        plt.clear_figure()
        st = self.state
        if st.error or not st.results:
            plt.title(st.error or "solving…")
        else:
            CHARTS[self.kind](plt, st)

    def render(self):
        if self._dirty and self.state is not None:
            self._dirty = False
            self._rebuild()
        try:
            return super().render()
        except (ValueError, ZeroDivisionError, IndexError) as exc:   # plotext on degenerate data
            return Text(f"chart unavailable here ({exc})", style="dim")

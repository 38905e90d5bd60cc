"""Tables and strips of a chain of tiers (SPEC §11): one row per solver with each tier's share, and a strip
of one letter per layer per solver (the letter names the tier, so colour is decoration only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..tiers import Topology
from .formats import pct
from .tables import colour_on

__all__ = ["tier_table", "tier_strips", "TIER_STYLES"]

TIER_STYLES = ("bold green", "bold yellow", "bold magenta", "bold cyan")


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}"


def tier_table(topo: Topology, results: Mapping[str, Any]) -> Table:
    hops = " · ".join(f"{a.name}→{b.name} {h.up_mbps:g}/{h.down_mbps:g} Mbit/s {h.delay_ms:g} ms"
                      for a, b, h in zip(topo.tiers, topo.tiers[1:], topo.hops, strict=False))
    t = Table(title=f"{len(topo.tiers)} tiers · {hops} · weights {', '.join(f'{w:g}' for w in topo.weight_vector)}",
              title_justify="left")
    t.add_column("solver", no_wrap=True)
    for tier in topo.tiers:
        t.add_column(f"{tier.name}\nshare", justify="right", no_wrap=True)
    for col in ("latency\nms", "TTFT\nms", "TPOT\nms", "hops\ncrossed", "solve\nms"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("note", overflow="fold")
    for name, r in results.items():
        shares = r.shares or (None,) * len(topo.tiers)
        note = "; ".join(r.violations) if r.violations else ("" if r.feasible else
                                                             f"infeasible: least latency {r.min_latency_ms:,.1f} ms")
        t.add_row(name, *(pct(s) for s in shares), _ms(r.latency_ms), _ms(r.ttft_ms),
                  "—" if r.tpot_ms is None else f"{r.tpot_ms:,.2f}", "—" if r.crossings is None else str(r.crossings),
                  f"{r.solve_ms:,.1f}", note)
    return t


class _TierStrips:
    def __init__(self, topo: Topology, n_layers: int, results: Mapping[str, Any]) -> None:
        self.topo, self.n_layers, self.results = topo, n_layers, results

    def grid(self, colour: bool) -> Table:
        letters = self.topo.letters
        g = Table.grid(padding=(0, 1))
        g.add_column(justify="right", no_wrap=True)
        g.add_column(overflow="fold")
        legend = Text.assemble(*((f"{letters[i]} {tier.name}  ", TIER_STYLES[i] if colour else "")
                                 for i, tier in enumerate(self.topo.tiers)),
                               f" one letter per layer, {self.n_layers} layers, input → output")
        g.add_row("", legend)
        for name, r in self.results.items():
            if r.tiers is None:
                g.add_row(name, Text("infeasible"))
                continue
            g.add_row(name, Text.assemble(*((letters[t], TIER_STYLES[t] if colour else "") for t in r.tiers)))
        return g

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.grid(colour_on(console))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.grid(colour_on(console)))


def tier_strips(topo: Topology, n_layers: int, results: Mapping[str, Any]) -> _TierStrips:
    return _TierStrips(topo, n_layers, results)

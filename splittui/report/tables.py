"""Rich renderings of solver results: the solver table and the placement strips (`solve`, `evaluate`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..model import Profile, Result, Scenario
from ..policy import improvement_over_greedy
from .formats import gain, pct
from .palette import CLIENT_STYLE, SERVER_STYLE

__all__ = ["results_table", "strips", "strip_text"]


def results_table(profile: Profile, sc: Scenario, results: dict[str, Result]) -> Table:
    t = Table(title=f"{profile.model} · seq {sc.seq_len} · deadline {sc.deadline_ms:g} ms · "
                    f"up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s · delay {sc.delay_ms:g} ms · "
                    f"T {sc.unit_ms:g} ms · {sc.objective}", title_justify="left")
    t.add_column("solver", no_wrap=True)
    for col in ("server share", "client share", "latency ms", "hops", "vs greedy", "solve ms"):
        t.add_column(col, justify="right")
    greedy = results.get("greedy")
    for name, r in results.items():
        if not r.feasible:
            t.add_row(name, "[red]none[/]", "—", f"[red]> {sc.deadline_ms:,.0f}[/]", "—", "—",
                      f"{r.solve_ms:.2f}")
            continue
        g = improvement_over_greedy(r, greedy) if greedy is not None else None
        t.add_row(name, pct(r.server_share, fine=True), pct(r.client_share, fine=True),
                  f"{r.latency_ms:,.1f}", str(r.switches),
                  gain(g), f"{r.solve_ms:.2f}")
    m = next(iter(results.values())).min_latency_ms
    if m > sc.deadline_ms:
        t.caption = (f"[red]infeasible: no policy meets {sc.deadline_ms:g} ms; the least achievable latency "
                     f"is {m:,.1f} ms — raise the deadline or the bandwidth[/]")
    elif any(not r.feasible for r in results.values()):
        t.caption = "none: that solver finds no policy that meets the deadline"
    if any(gain(improvement_over_greedy(r, greedy)).startswith("×") for r in results.values() if greedy):
        t.caption = ((t.caption + "\n") if t.caption else "") + (
            "vs greedy: gain in client share over greedy's (SPEC §5); ×N: N times greedy's client share")
    return t


def strip_text(policy: tuple[int, ...] | None, width: int | None = None) -> Text:
    if policy is None:
        return Text("(no policy meets the deadline)", style="red")
    out = Text(overflow="fold", no_wrap=False)
    for x in policy:
        out.append("█", style=CLIENT_STYLE if x else SERVER_STYLE)
    return out


def strips(profile: Profile, results: dict[str, Result]) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(justify="right", no_wrap=True)
    t.add_column()
    legend = Text.assemble(("█", CLIENT_STYLE), " client  ", ("█", SERVER_STYLE),
                           f" server   one cell per layer, {profile.n_layers} layers, input → output")
    t.add_row("", legend)
    for name, r in results.items():
        t.add_row(name, strip_text(r.policy))
    return t

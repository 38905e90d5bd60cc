"""Rich renderings of solver results: the solver table and the placement strips (`solve`, `evaluate`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..model import Profile, Result, Scenario
from ..policy import improvement_over_greedy
from .formats import gain, pct
from .palette import CLIENT_STYLE, SERVER_STYLE

__all__ = ["results_table", "generation_table", "strips", "strip_text"]


def _generation(sc: Scenario) -> bool:
    return sc.gen_tokens > 0 or sc.ttft_ms is not None or sc.tpot_ms is not None


def _limits(sc: Scenario) -> str:
    parts = [f"{sc.gen_tokens} output tokens"]
    if sc.ttft_ms is not None:
        parts.append(f"TTFT ≤ {sc.ttft_ms:g} ms")
    if sc.tpot_ms is not None:
        parts.append(f"TPOT ≤ {sc.tpot_ms:g} ms")
    return " · ".join(parts)


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}"


def generation_table(profile: Profile, sc: Scenario, results: dict[str, Result]) -> Table:
    """The solver table of a whole request (SPEC §8): TTFT, TPOT and request latency per solver."""
    t = Table(title=f"{profile.model} · seq {sc.seq_len} · {_limits(sc)} · request deadline {sc.deadline_ms:g} ms · "
                    f"up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s · delay {sc.delay_ms:g} ms · "
                    f"T {sc.unit_ms:g} ms · {sc.objective}", title_justify="left")
    t.add_column("solver", no_wrap=True)
    for col in ("server share", "TTFT ms", "TPOT ms", "request ms", "server mem", "hops", "solve ms"):
        t.add_column(col, justify="right")
    broken = []
    for name, r in results.items():
        if r.policy is None:
            t.add_row(name, "[red]none[/]", "—", "—", f"[red]> {sc.deadline_ms:,.0f}[/]", "—", "—", f"{r.solve_ms:.2f}")
            continue
        share = pct(r.server_share) if r.feasible else f"[red]{pct(r.server_share)} ✗[/]"
        if not r.feasible:
            broken.append(f"{name}: {'; '.join(r.violations)}")
        mem = "—" if r.server_mem_bytes is None else f"{r.server_mem_bytes / 2**20:,.0f} MiB"
        t.add_row(name, share, _ms(r.ttft_ms), _ms(r.tpot_ms), _ms(r.latency_ms), mem, str(r.switches),
                  f"{r.solve_ms:.2f}")
    notes = ["request = prefill (TTFT) + every decode step; TPOT = mean decode step (SPEC §8)"]
    if broken:
        notes.append("[red]✗ breaks a limit (only exact and brute-force solve the TTFT/TPOT limits): "
                     + " · ".join(broken) + "[/]")
    t.caption = "\n".join(notes)
    return t


def results_table(profile: Profile, sc: Scenario, results: dict[str, Result]) -> Table:
    if _generation(sc):
        return generation_table(profile, sc, results)
    t = Table(title=f"{profile.model} · seq {sc.seq_len} · deadline {sc.deadline_ms:g} ms · "
                    f"up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s · delay {sc.delay_ms:g} ms · "
                    f"T {sc.unit_ms:g} ms · {sc.objective}", title_justify="left")
    t.add_column("solver", no_wrap=True)
    for col in ("server share", "client share", "latency ms", "hops", "vs greedy", "solve ms"):
        t.add_column(col, justify="right")
    greedy = results.get("greedy")
    for name, r in results.items():
        if not r.feasible and r.latency_ms is not None:   # a given policy that misses: show by how much
            t.add_row(name, pct(r.server_share), pct(r.client_share),
                      f"[red]{r.latency_ms:,.1f} (+{r.latency_ms - sc.deadline_ms:,.1f} late)[/]",
                      str(r.switches), "—", f"{r.solve_ms:.2f}")
            continue
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
    elif any(not r.feasible and r.policy is None for r in results.values()):
        t.caption = "none: that solver finds no policy that meets the deadline"
    elif any(not r.feasible for r in results.values()):
        t.caption = f"[red]late: the policy misses the {sc.deadline_ms:g} ms deadline by the amount shown[/]"
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

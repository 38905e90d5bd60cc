"""Rich renderings of solver results: the solver table and the placement strips (`solve`, `evaluate`),
and how every command prints a table so that no number is ever cut (`print_table`).

Output is a contract (STYLE habit 18): numeric columns never wrap and are never elided, at any width
(a pipe is 80 columns): text columns fold and come last, and a table whose numbers need more than the
console's width is printed wider rather than cut. Colour is decoration only: with colour off
(``NO_COLOR``, or not a terminal) the strips draw the client as ``C`` and the server as ``S``.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..model import Profile, Result, Scenario
from ..policy import improvement_over_greedy
from .formats import gain, pct
from .palette import CLIENT_CHAR, CLIENT_STYLE, SERVER_CHAR, SERVER_STYLE

__all__ = ["results_table", "generation_table", "strips", "strip_text", "print_table", "colour_on", "whole_numbers",
           "infeasible_note", "CLIENT_CHAR", "SERVER_CHAR"]

def colour_on(console: Console) -> bool:
    """Whether `console` shows colour (not with NO_COLOR set, nor when it is not a terminal)."""
    return console.color_system is not None and not console.no_color


def _plain_len(cell: Any, console: Console) -> int:
    if isinstance(cell, Text):
        return max((cell_len(line) for line in cell.plain.splitlines()), default=0)
    if isinstance(cell, str):
        return max((cell_len(line) for line in Text.from_markup(cell).plain.splitlines()), default=0)
    return Measurement.get(console, console.options, cell).maximum


def _widest(col: Any) -> int:
    return max((_plain_len(c, Console()) for c in (col.header, *col.cells)), default=0)


def whole_numbers(table: Table, console: Console) -> Table:
    """Give each no-wrap column (numbers) the width of its widest cell, so rich cannot cut it."""
    for col in table.columns:
        if col.no_wrap:
            widest = max((_plain_len(c, console) for c in (col.header, *col.cells)), default=0)
            col.min_width = max(col.min_width or 0, widest)
    return table


def _numbers_width(table: Table) -> int:
    """The width at which every no-wrap column gets its widest cell and each text column 18 cells."""
    cols = [(col.min_width or 0) if col.no_wrap else min(18, _widest(col)) for col in table.columns]
    return sum(w + table._get_padding_width(i) for i, w in enumerate(cols)) + table._extra_width


def print_table(console: Console, renderable: RenderableType) -> None:
    """Print at the console's width, or wider when a table's numbers need it: never an elided number."""
    if isinstance(renderable, Group):
        for part in renderable.renderables:
            print_table(console, part)
        return
    need = 0
    if isinstance(renderable, Table):
        need = _numbers_width(whole_numbers(renderable, console))
    if need <= console.width:
        console.print(renderable)
        return
    width = console.width   # wider than the console rather than a number cut short
    console.width = need
    try:
        console.print(renderable, crop=False)
    finally:
        console.width = width



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


def _request_deadline(profile: Profile, sc: Scenario) -> str:
    """'request deadline X ms', or 'no request deadline' when it is above every policy's latency (the
    default with output tokens: the TTFT/TPOT limits alone decide)."""
    from ..generation import request_costs
    from ..solvers.goal import latency_bound

    if sc.deadline_ms >= latency_bound(request_costs(profile, sc)) * (1 - 1e-12):
        return "no request deadline"
    return f"request deadline {sc.deadline_ms:,.6g} ms"


def generation_table(profile: Profile, sc: Scenario, results: dict[str, Result]) -> Table:
    """The solver table of a whole request (SPEC §8): TTFT, TPOT and request latency per solver."""
    t = Table(title=f"{profile.model} · seq {sc.seq_len} · {_limits(sc)} · {_request_deadline(profile, sc)} · "
                    f"up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s · delay {sc.delay_ms:g} ms · "
                    f"T {sc.unit_ms:g} ms · {sc.objective}", title_justify="left")
    t.add_column("solver", no_wrap=True)
    for col in ("server\nshare", "TTFT\nms", "TPOT\nms", "request\nms", "server\nmem", "client\nJ", "J/tok\ndecode",
                "hops", "solve\nms"):
        t.add_column(col, justify="right", no_wrap=True)
    broken = []
    for name, r in results.items():
        if r.policy is None:
            t.add_row(name, "[red]none[/]", "—", "—", f"[red]> {sc.deadline_ms:,.0f}[/]", "—", "—", "—", "—",
                      f"{r.solve_ms:.2f}")
            continue
        share = pct(r.server_share) if r.feasible else f"[red]{pct(r.server_share)} ✗[/]"
        if not r.feasible:
            broken.append(f"{name}: {'; '.join(r.violations)}")
        mem = "—" if r.server_mem_bytes is None else f"{r.server_mem_bytes / 2**20:,.0f} MiB"
        t.add_row(name, share, _ms(r.ttft_ms), _ms(r.tpot_ms), _ms(r.latency_ms), mem, joules(r.client_energy_j),
                  joules(r.client_j_per_token), str(r.switches), f"{r.solve_ms:.2f}")
    notes = ["request = prefill (TTFT) + every decode step; TPOT = mean decode step (SPEC §8)", energy_note(sc)]
    if results and not any(r.feasible for r in results.values()):
        notes.append(f"[red]{infeasible_note(profile, sc, next(iter(results.values())).min_latency_ms)}[/]")
    if broken:
        notes.append("[red]✗ breaks a limit (exact and brute-force solve the TTFT/TPOT limits, dp and exact the "
                     "client-energy limit; the others are checked after): "
                     + " · ".join(broken) + "[/]")
    notes += solver_notes(results)
    t.caption = "\n".join(notes)
    return t


def solver_notes(results: dict[str, Result]) -> list[str]:
    """One line per solver that said what it could not do (e.g. a search stopped before proving optimality)."""
    return [f"[yellow]{name}: {'; '.join(r.notes)}[/]" for name, r in results.items() if r.notes]


def device_fit_notes(profile: Profile, sc: Scenario, results: dict[str, Result]) -> list[str]:
    """One line per side left without a memory limit that some answer's share overflows on its device
    preset (estimates, SPEC §10): the solvers that overflow it, the largest need, and the flag that plans
    within the device. Empty when every plan fits, every side has a limit, or the devices are unknown."""
    from ..memory import device_fits, fmt_gb, memory_rows

    rows = memory_rows(profile, sc) if profile.has_server_mem else None
    over: dict[str, list] = {}
    for name, r in results.items():
        if r.policy is not None:
            for d in device_fits(profile, rows, r.policy):
                if not d.fits:
                    over.setdefault(d.side, []).append((name, d))
    out = []
    for side, hits in over.items():
        worst = max(hits, key=lambda h: h[1].total)[1]
        names = ", ".join(n for n, _ in hits)
        out.append(f"[yellow]memory (estimate): {names} hold{'s' if len(hits) == 1 else ''} up to "
                   f"{fmt_gb(worst.need)} on the {side} (+ reserve {fmt_gb(worst.reserve)}); {worst.device} "
                   f"leaves {fmt_gb(worst.usable)}. No {side} limit is set: --{side}-mem-gb device plans "
                   "within it[/]")
    return out


def joules(v: float | None) -> str:
    """Joules at three significant figures, trailing zeros kept so a column reads alike (18.0 beside 42.5);
    whole joules from 100 up ('—' without a policy)."""
    return "—" if v is None else f"{v:#.3g}" if abs(v) < 100 else f"{v:,.0f}"


def energy_note(sc: Scenario) -> str:
    """The table's note on its energy columns: estimates, with the radio and the limit."""
    limit = "" if sc.client_energy_j is None else f"; limit {sc.client_energy_j:g} J"
    return (f"client J: the client's joules per request, J/tok: per decode step; radio {sc.radio}{limit} "
            "(estimates: docs/energy.md)")


def results_table(profile: Profile, sc: Scenario, results: dict[str, Result]) -> Table:
    if _generation(sc):
        return generation_table(profile, sc, results)
    t = Table(title=f"{profile.model} · seq {sc.seq_len} · deadline {sc.deadline_ms:g} ms · "
                    f"up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s · delay {sc.delay_ms:g} ms · "
                    f"T {sc.unit_ms:g} ms · {sc.objective}", title_justify="left")
    t.add_column("solver", no_wrap=True)
    for col in ("server\nshare", "client\nshare", "latency\nms", "client\nJ", "hops", "vs\ngreedy", "solve\nms"):
        t.add_column(col, justify="right", no_wrap=True)
    greedy = results.get("greedy")
    for name, r in results.items():
        if not r.feasible and r.latency_ms is not None:   # a given policy that misses: show by how much
            late = r.latency_ms - sc.deadline_ms
            shown = f"{r.latency_ms:,.1f} (+{late:,.1f} late)" if late > 0 else f"{r.latency_ms:,.1f}"
            t.add_row(name, pct(r.server_share), pct(r.client_share), f"[red]{shown}[/]",
                      joules(r.client_energy_j), str(r.switches), "—", f"{r.solve_ms:.2f}")
            continue
        if not r.feasible:
            t.add_row(name, "[red]none[/]", "—", f"[red]> {sc.deadline_ms:,.0f}[/]", "—", "—", "—",
                      f"{r.solve_ms:.2f}")
            continue
        g = improvement_over_greedy(r, greedy) if greedy is not None else None
        t.add_row(name, pct(r.server_share, fine=True), pct(r.client_share, fine=True),
                  f"{r.latency_ms:,.1f}", joules(r.client_energy_j), str(r.switches),
                  gain(g), f"{r.solve_ms:.2f}")
    m = next(iter(results.values())).min_latency_ms
    if m > sc.deadline_ms:
        t.caption = f"[red]{infeasible_note(profile, sc, m)}[/]"
    elif any(not r.feasible and r.policy is None for r in results.values()):
        t.caption = "none: that solver finds no policy that meets the deadline"
    elif any(not r.feasible for r in results.values()):
        t.caption = f"[red]late: the policy misses the {sc.deadline_ms:g} ms deadline by the amount shown[/]"
    if any(gain(improvement_over_greedy(r, greedy)).startswith("×") for r in results.values() if greedy):
        t.caption = ((t.caption + "\n") if t.caption else "") + (
            "vs greedy: gain in client share over greedy's (SPEC §5); ×N: N times greedy's client share")
    energy = [f"{n}: {'; '.join(r.violations)}" for n, r in results.items() if any("energy" in v for v in r.violations)]
    if energy:
        t.caption = ((t.caption + "\n") if t.caption else "") + "[red]✗ " + " · ".join(energy) + "[/]"
    t.caption = "\n".join([*([str(t.caption)] if t.caption else []), energy_note(sc), *solver_notes(results)])
    return t


def _limit_floor(profile: Profile, sc: Scenario) -> tuple[float | None, float | None]:
    """The least TTFT and the least TPOT any policy reaches (each alone), ms; None where not asked."""
    if sc.gen_tokens <= 0 or (sc.ttft_ms is None and sc.tpot_ms is None):
        return None, None
    from ..costs import min_latency
    from ..generation import phase_costs

    ph = phase_costs(profile, sc)
    ttft = min_latency(ph.prefill) if sc.ttft_ms is not None else None
    tpot = min_latency(ph.decode) / ph.steps if sc.tpot_ms is not None and ph.decode is not None else None
    return ttft, tpot


def infeasible_note(profile: Profile, sc: Scenario, least_ms: float) -> str:
    """Why no solver meets the scenario: the least latency and the limit that binds, with the fix."""
    what = "the request" if sc.gen_tokens else "a policy"
    if least_ms > sc.deadline_ms:
        return (f"infeasible: the deadline binds: {what} needs at least {least_ms:,.1f} ms, the deadline is "
                f"{sc.deadline_ms:,.1f} ms; raise it (e.g. --deadline-ms {_ceil_ms(least_ms)}) or the bandwidth")
    ttft, tpot = _limit_floor(profile, sc)
    if ttft is not None and sc.ttft_ms is not None and ttft > sc.ttft_ms:
        return (f"infeasible: the TTFT limit binds: the first token needs at least {ttft:,.1f} ms, the limit is "
                f"{sc.ttft_ms:,.1f} ms; raise it (e.g. --ttft-ms {_ceil_ms(ttft)}) or the bandwidth")
    if tpot is not None and sc.tpot_ms is not None and tpot > sc.tpot_ms:
        return (f"infeasible: the TPOT limit binds: a decode step needs at least {tpot:,.2f} ms, the limit is "
                f"{sc.tpot_ms:,.2f} ms; raise it (e.g. --tpot-ms {_ceil_ms(tpot)}) or the bandwidth")
    return (f"infeasible: each limit alone can be met (least request latency {least_ms:,.1f} ms), but no "
            "policy meets the deadline, TTFT and TPOT limits together; relax one of them")


def _ceil_ms(v: float) -> str:
    import math

    return f"{math.ceil(v * 1.001):d}"


def strip_text(policy: tuple[int, ...] | None, width: int | None = None, *, colour: bool = True) -> Text:
    """One cell per layer: a coloured block, or (colour off) C for the client and S for the server."""
    if policy is None:
        return Text("(no policy meets the deadline)", style="red")
    out = Text(overflow="fold", no_wrap=False)
    client, server = ("█", "█") if colour else (CLIENT_CHAR, SERVER_CHAR)
    for x, run in groupby(policy):   # one span per run of layers on one side
        n = len(list(run))
        out.append((client if x else server) * n, style=CLIENT_STYLE if x else SERVER_STYLE)
    return out


class _Strips:
    """The placement strips, drawn for the console they are printed on (colour or letters)."""

    def __init__(self, profile: Profile, results: dict[str, Result]) -> None:
        self.profile, self.results = profile, results

    def grid(self, colour: bool) -> Table:
        t = Table.grid(padding=(0, 1))
        t.add_column(justify="right", no_wrap=True)
        t.add_column(overflow="fold")
        client, server = ("█", "█") if colour else (CLIENT_CHAR, SERVER_CHAR)
        legend = Text.assemble((client, CLIENT_STYLE), " client  ", (server, SERVER_STYLE),
                               f" server   one cell per layer, {self.profile.n_layers} layers, input → output")
        t.add_row("", legend)
        for name, r in self.results.items():
            t.add_row(name, strip_text(r.policy, colour=colour))
        return t

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.grid(colour_on(console))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.grid(colour_on(console)))


def strips(profile: Profile, results: dict[str, Result]) -> _Strips:
    return _Strips(profile, results)

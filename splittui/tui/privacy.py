"""Pins and memory limits in the app (SPEC §10), as text and as scenario changes: a pin cycled on one layer,
pins named the way `--pin-client` names them (embed+head, h3), the cost of privacy (the selected solver's
server share with the pins and without them) and the selected placement's memory per side against the
limits. Pure functions over a state the worker computed; no textual here.
"""

from __future__ import annotations

from rich.text import Text

from ..memory import GB, SideMemory, device_fits, device_usable_bytes, fmt_gb
from ..model import Profile, Scenario
from ..pins import blocks_of, pin_groups
from .state import AppState

__all__ = ["cycle_pin", "pin_of", "describe_pins", "privacy_line", "memory_line", "device_gb", "parse_limit",
           "limit_text", "PIN_CYCLE"]

PIN_CYCLE = ("none", "client", "server")   # what P does to the strip's layer, in turn


def pin_of(sc: Scenario, layer: int) -> str:
    """'client', 'server' or 'none': where `layer` is pinned."""
    return "client" if layer in sc.pin_client else "server" if layer in sc.pin_server else "none"


def cycle_pin(sc: Scenario, layer: int) -> Scenario:
    """`sc` with `layer`'s pin moved on: none → client → server → none."""
    nxt = PIN_CYCLE[(PIN_CYCLE.index(pin_of(sc, layer)) + 1) % len(PIN_CYCLE)]
    client = {*sc.pin_client} - {layer} | ({layer} if nxt == "client" else set())
    server = {*sc.pin_server} - {layer} | ({layer} if nxt == "server" else set())
    return sc.replace(pin_client=tuple(sorted(client)), pin_server=tuple(sorted(server)))


def describe_pins(profile: Profile, pins: tuple[int, ...], most: int = 4) -> str:
    """Pins by the names `--pin-client` takes: whole groups (embed, head) and blocks (h3) by name, the rest
    by layer name; past `most` names, a count."""
    names = [layer.name for layer in profile.layers]
    left = set(pins)
    groups = pin_groups(names)
    named = [("embed", groups["embed"]), *blocks_of(names), ("head", groups["head"])]
    out = []
    for name, idx in named:
        if idx and left.issuperset(idx):
            out.append(name)
            left -= set(idx)
    out += [names[i] if i < len(names) else str(i) for i in sorted(left)]
    if len(out) > most:
        return f"{'+'.join(out[: most - 1])}+… ({len(pins)} layers)"
    return "+".join(out)


def _pins_phrase(profile: Profile, sc: Scenario) -> str:
    sides = [f"{describe_pins(profile, pins)} on {side}"
             for side, pins in (("client", sc.pin_client), ("server", sc.pin_server)) if pins]
    return " · ".join(sides)


def privacy_line(st: AppState, selected: str) -> Text | None:
    """"pins: embed+head on client — dp server 83.3 % (without pins 79.2 %: +4.1 points)"; None without pins."""
    sc = st.scenario
    if not sc.has_pins:
        return None
    text = Text().append("pins: ", "bold").append(_pins_phrase(st.profile, sc)).append(" — ")
    res = st.results.get(selected)
    free = None if st.unpinned is None else st.unpinned[1].get(selected)
    if res is None:
        return text.append(f"{selected}: solving…", "dim")
    without = ("solving…" if free is None else "no placement" if not free.feasible or free.server_share is None
               else f"{100 * free.server_share:.1f} %")
    if not res.feasible or res.server_share is None:
        what = "the pins and memory limits" if sc.has_memory_limits else "the pins"
        return text.append(f"{selected}: no placement meets {what}", "bold red").append(f" (without pins {without})")
    text.append(f"{selected} server {100 * res.server_share:.1f} % (without pins {without}")
    if free is not None and free.feasible and free.server_share is not None:
        text.append(f": {100 * (res.server_share - free.server_share):+.1f} points")
    return text.append(")")


def _side_text(s: SideMemory) -> Text:
    text = Text().append(f"{s.side} ", "bold")
    if s.limit is None:   # no reserve is counted without a limit
        return text.append(f"{fmt_gb(s.total)}").append(" (no limit)", "dim")
    text.append(f"{fmt_gb(s.weights + s.kv + s.act)} + reserve {fmt_gb(s.reserve)} = {fmt_gb(s.total)}")
    text.append(f" of {fmt_gb(s.limit)}: ")
    return text.append("fits" if s.fits else f"over by {fmt_gb(s.over)}", "green" if s.fits else "bold red")


def _device_line(st: AppState, selected: str) -> Text | None:
    """Without limits: the sides where the selected placement overflows its device preset (estimates), and
    how to plan within it; None where it fits or nothing is known."""
    res = st.results.get(selected)
    rows = st.chains.phases.memory if st.chains is not None else None
    if res is None or res.policy is None or rows is None:
        return None
    over = [d for d in device_fits(st.profile, rows, res.policy) if not d.fits]
    if not over:
        return None
    text = Text().append(f"memory ({selected}, est.): ", "dim")   # short: the point fits 80 columns
    for k, d in enumerate(over):   # the need with the reserve the device's limit would keep (m: the parts)
        text.append(" · " if k else "").append(f"{d.side} ", "bold").append(
            f"needs {fmt_gb(d.total)} > {d.device}'s {fmt_gb(d.usable)}", "bold red")
    return text.append(" · no limit (m)", "dim")


def memory_line(st: AppState, selected: str) -> Text | None:
    """The selected placement's memory per side against the limits (estimates); without limits, the sides it
    overflows on their device presets (`_device_line`); None otherwise."""
    sc = st.scenario
    if not sc.has_memory_limits:
        return _device_line(st, selected)
    sides = st.memory.get(selected)
    head = Text().append(f"memory ({selected}, estimate): ", "dim")
    if sides is None:
        why = ("this profile lacks weight_bytes / kv_bytes: the limits are not checked"
               if st.results.get(selected) is not None and st.results[selected].policy is not None
               else "no placement")
        return head.append(why, "yellow")
    line = head.append_text(Text(" · ").join(_side_text(s) for s in sides))
    rows = st.chains.phases.memory if st.chains is not None else None
    res = st.results.get(selected)
    if rows is not None and res is not None and res.policy is not None:   # a side left without a limit
        for d in device_fits(st.profile, rows, res.policy):
            if not d.fits:
                line.append(f" · {d.side} over {d.device}'s {fmt_gb(d.usable)} (+ reserve {fmt_gb(d.reserve)})",
                            "bold red")
    return line.append("  (m: details)", "dim")


def device_gb(profile: Profile, side: str) -> float | None:
    """The usable memory of the side's device preset, GB (LLM configs on a preset; None otherwise): what
    `--client-mem-gb device` means."""
    usable = device_usable_bytes(profile, side)
    return None if usable is None else usable / GB


def parse_limit(text: str, profile: Profile, side: str) -> float | None:
    """A typed memory limit: GB (> 0), `device` (the preset's usable memory) or `off`/empty (None).
    ValueError with the reason otherwise."""
    word = text.strip().lower().removesuffix("gb").strip()
    if word in ("", "off", "none"):
        return None
    if word == "device":
        gb = device_gb(profile, side)
        if gb is None:
            raise ValueError(f"{side} memory: 'device' is known only for LLM configs on a device preset; give GB")
        return gb
    try:
        value = float(word)
    except ValueError:
        raise ValueError(f"{side} memory: {text.strip()!r} is not a number of GB, 'device' or 'off'") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{side} memory must be a finite number of GB > 0, got {text.strip()!r}")
    return value


def limit_text(gb: float | None) -> str:
    return "off" if gb is None else f"{gb:g}"

"""Number formats shared by the command line and the app: plain numbers, percentages and the
improvement over greedy; and the one reading of a typed share (``0.3``, ``30 %``, ``30``)."""

from __future__ import annotations

import math

__all__ = ["num", "pct", "gain", "parse_share"]


def num(v: float) -> str:
    """A tick or knob value: thousands separators from 100 up, shortest form below."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"


def pct(v: float | None, *, signed: bool = False, unit: str = " %", fine: bool = False) -> str:
    """100 v with one decimal ("—" for None or NaN); `fine` keeps 3 decimals within 0.1 % of 0 or 100 %."""
    if v is None or not math.isfinite(v):
        return "—"
    if fine and (0 < abs(v) < 1e-3 or 0 < 1 - abs(v) < 1e-3):
        return f"{100 * v:+.3f}{unit}" if signed else f"{100 * v:.3f}{unit}"
    return f"{100 * v:+.1f}{unit}" if signed else f"{100 * v:.1f}{unit}"


def gain(v: float | None, *, compact: bool = False) -> str:
    """The improvement over greedy (SPEC §5); it explodes when greedy keeps almost nothing on the client.

    Full: "+12.5 %", or "×N" (N times greedy's client share) from +1000 %. Compact (table cells):
    "+13" (percent), or from +1000 % "×11", "×1024", "×12k" (times greedy's share, as in full).
    """
    if v is None or not math.isfinite(v):
        return "—"
    if compact:
        g = 100 * v
        if abs(g) < 1000:
            return f"{g:+.0f}"
        n = 1 + v
        return f"×{n:.0f}" if abs(n) < 10_000 else f"×{n / 1000:.0f}k"
    return f"{100 * v:+.1f} %" if abs(v) < 10 else f"×{1 + v:,.0f}"


def parse_share(text: str) -> float:
    """A share as typed on the command line or in the app: "30 %", "30" (a number above 1 is a
    percentage) or "0.3"; ValueError (saying what to type) if not a share in 0..100 %."""
    raw = text.strip().removeprefix("≤").removeprefix("<=").strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip().replace(",", ""))
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a share: type e.g. 50 %, 50 or 0.5") from None
    if not math.isfinite(value):
        raise ValueError("the share must be a finite number")
    share = value / 100 if percent or value > 1 else value
    if not 0 <= share <= 1:
        raise ValueError(f"the share must be between 0 and 100 %, got {text.strip()}")
    return share

"""Typed knob values: parse what a user types into a knob ("2201.724", "2.2 s", "50M", "1 Gbit/s",
"exact") and refuse, with the reason, what the knob cannot take. Pure functions, no textual.

A knob's kind says which units it reads: ``time`` (ms by default; s, ms, us), ``bandwidth`` (Mbit/s
by default; k/M/G with optional "bit/s" or "bps"), ``count`` (a whole number) and ``choice`` (one of
named options, a unique prefix is enough). Numbers must lie within the knob's range. On a limit knob
(TTFT, TPOT) 0 means no limit, and "off" types it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["KnobSpec", "parse_knob", "KNOB_KINDS"]

KNOB_KINDS = {"deadline": "time", "unit": "time", "delay": "time", "up": "bandwidth", "down": "bandwidth",
              "seq": "count", "gen": "count", "ttft": "time", "tpot": "time"}
_ZERO_OK = {"delay", "gen", "ttft", "tpot"}   # 0 ms of delay, prefill only, no limit
_LIMITS = {"ttft", "tpot"}
_TIME = {"": 1.0, "ms": 1.0, "s": 1000.0, "sec": 1000.0, "us": 1e-3, "µs": 1e-3}
_BANDWIDTH = {"": 1.0, "k": 1e-3, "m": 1.0, "g": 1000.0}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d[\d,_]*\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*([a-zµ/]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class KnobSpec:
    """What one knob accepts: its kind, its label, and its range (or its options, for a choice)."""

    label: str
    kind: str                       # time | bandwidth | count | choice
    lo: float = 0.0
    hi: float = math.inf
    options: tuple[str, ...] = ()
    allow_zero: bool = False
    off: bool = False               # a limit: 0 means none, and "off" types it


def parse_knob(spec: KnobSpec, text: str):
    """The value `text` names for the knob `spec`; ValueError with the reason when it is refused."""
    if spec.kind == "choice":
        return _choice(spec, text)
    if spec.off and text.strip().lower() in ("off", "none"):
        return 0.0
    value = _number(spec, text)
    if spec.kind == "count":
        if value != int(value):
            raise ValueError(f"{spec.label} must be a whole number, got {text.strip()!r}")
        value = int(value)
    if value < 0 or (value == 0 and not spec.allow_zero):
        raise ValueError(f"{spec.label} must be {'≥' if spec.allow_zero else '>'} 0, got {text.strip()!r}")
    if not spec.lo <= value <= spec.hi:
        raise ValueError(f"{spec.label} must be between {_show(spec, spec.lo)} and {_show(spec, spec.hi)}, "
                         f"got {_show(spec, value)}")
    return value


def _number(spec: KnobSpec, text: str) -> float:
    m = _NUMBER.match(text.replace(" ", "") if spec.kind != "choice" else text)
    if not m:
        raise ValueError(f"{spec.label}: {text.strip()!r} is not a number{_units_hint(spec)}")
    number = float(m.group(1).replace(",", "").replace("_", ""))
    unit = m.group(2).lower()
    if not math.isfinite(number):
        raise ValueError(f"{spec.label} must be a finite number")
    return number * _scale(spec, unit, text)


def _scale(spec: KnobSpec, unit: str, text: str) -> float:
    if spec.kind == "time" and unit in _TIME:
        return _TIME[unit]
    if spec.kind == "bandwidth":
        head = unit.removesuffix("bit/s").removesuffix("bps").removesuffix("b/s")
        if head in _BANDWIDTH:
            return _BANDWIDTH[head]
    if spec.kind == "count" and unit == "":
        return 1.0
    raise ValueError(f"{spec.label}: unknown unit {unit!r} in {text.strip()!r}{_units_hint(spec)}")


def _units_hint(spec: KnobSpec) -> str:
    return {"time": " (e.g. 2201.7, 2.2 s, 500 ms)", "bandwidth": " (e.g. 50, 50M, 1.5 Gbit/s)",
            "count": " (a whole number)"}.get(spec.kind, "")


def _choice(spec: KnobSpec, text: str) -> str:
    key = text.strip().lower()
    exact = [o for o in spec.options if o.lower() == key]
    hits = exact or [o for o in spec.options if o.lower().startswith(key)] if key else []
    if len(hits) == 1:
        return hits[0]
    choices = ", ".join(spec.options)
    why = "matches several" if len(hits) > 1 else "is not one of"
    raise ValueError(f"{spec.label}: {text.strip()!r} {why}: {choices}")


def _show(spec: KnobSpec, v: float) -> str:
    if spec.kind == "time":
        return f"{v:g} ms"
    if spec.kind == "bandwidth":
        return f"{v:g} Mbit/s"
    return f"{v:g}"


def spec_for(name: str, label: str, values: Sequence) -> KnobSpec:
    """The spec of the knob `name` whose slider holds `values` (its range is theirs); a hop's knob
    ("hop1-up", over tiers) reads as the two-sided one of its part."""
    if name.startswith("hop") and "-" in name:
        name = name.split("-", 1)[1]
    kind = KNOB_KINDS.get(name, "choice")
    if kind == "choice":
        return KnobSpec(label=label, kind=kind, options=tuple(str(v) for v in values))
    return KnobSpec(label=label, kind=kind, lo=float(min(values)), hi=float(max(values)),
                    allow_zero=name in _ZERO_OK, off=name in _LIMITS)


__all__ += ["spec_for"]

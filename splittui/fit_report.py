"""The fit report (issue 25) and the memory checks it is built from: `FitFix` and `FitReport`, the memory rows
and the policy checked, and each side's memory in words (over its limit, to spare, side by side).

Shared by `splittui.fit`'s fixed-placement and solver reports. Pure numpy; no UI import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SplittuiError
from .memory import DeviceFit, MemRows, SideMemory, fmt_gb, memory_rows, side_memory
from .model import Profile, Scenario

__all__ = ["FitFix", "FitReport"]


@dataclass(frozen=True, slots=True)
class FitFix:
    """One change that makes the placement fit (or the scenario solvable), re-checked: `ok` says it did."""

    kind: str        # dtype | device | context | layers | deadline
    change: str      # what to change, in words ("--dtype int4")
    result: str      # what re-checking it gave ("server 41.2 GB of 80.0 GB")
    ok: bool

    def to_dict(self) -> dict:
        return {"kind": self.kind, "change": self.change, "result": self.result, "fits": self.ok}


@dataclass(frozen=True, slots=True)
class FitReport:
    label: str                        # the solver, or "policy"
    policy: tuple[int, ...] | None
    sides: tuple[SideMemory, SideMemory] | None   # (client, server); None without a policy
    fits: bool                        # memory fits on both sides
    feasible: bool                    # for a solver: its policy meets the whole scenario
    binding: str                      # what binds, in words
    fixes: tuple[FitFix, ...] = ()
    violations: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"label": self.label, "policy": None if self.policy is None else list(self.policy),
                "fits": self.fits, "feasible": self.feasible, "binding": self.binding,
                "memory": None if self.sides is None else {s.side: s.to_dict() for s in self.sides},
                "fixes": [f.to_dict() for f in self.fixes], "violations": list(self.violations)}


def _rows(profile: Profile, sc: Scenario) -> MemRows:
    rows = memory_rows(profile, sc)
    if rows is None:
        raise SplittuiError(f"{profile.origin or profile.model}: fit needs weight_bytes and kv_bytes for every "
                            "layer (SPEC §10), and this profile lacks them")
    return rows


def _policy(profile: Profile, policy: Sequence[int] | np.ndarray) -> np.ndarray:
    x = np.asarray(policy, dtype=np.int8)
    if x.shape != (profile.n_layers,) or not ((x == 0) | (x == 1)).all():
        raise SplittuiError(f"policy must be {profile.n_layers} values of 0 or 1 (one per layer)")
    return x


def _over_text(s: SideMemory) -> str:
    assert s.limit is not None
    return (f"{s.side} memory: needs {fmt_gb(s.total)} (weights {fmt_gb(s.weights)}, KV {fmt_gb(s.kv)}, "
            f"activations {fmt_gb(s.act)}, reserve {fmt_gb(s.reserve)}) > limit {fmt_gb(s.limit)}, "
            f"over by {fmt_gb(s.over)}")


def _slack_text(sides: tuple[SideMemory, SideMemory], devices: tuple[DeviceFit, ...] = ()) -> str:
    """What binds when nothing does; a side without a limit that its device preset could not hold says so."""
    parts = [f"{s.side} {fmt_gb(s.limit - s.total)} to spare" for s in sides if s.limit is not None]
    text = "nothing: it fits" + (f" ({', '.join(parts)})" if parts else " (no memory limit set)")
    for d in devices:
        if not d.fits:
            text += (f"; but with no {d.side} limit set, the {d.side} needs {fmt_gb(d.need)} + reserve "
                     f"{fmt_gb(d.reserve)} > {d.device}'s {fmt_gb(d.usable)} (estimate): set its limit to 'device'")
    return text


def _fits(rows: MemRows, x: np.ndarray) -> tuple[bool, tuple[SideMemory, SideMemory]]:
    sides = side_memory(rows, x)
    return all(s.fits for s in sides), sides


def _sides_text(sides: tuple[SideMemory, SideMemory]) -> str:
    return ", ".join(f"{s.side} {fmt_gb(s.total)}" + ("" if s.limit is None else f" of {fmt_gb(s.limit)}")
                     for s in sides)

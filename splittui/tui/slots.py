"""Saved scenario slots for the comparison view: a frozen `Slot` and pure helpers over tuples of them.

Every helper returns a new tuple (slots are never changed in place), so the app can keep them in a
reactive. No textual import here: the helpers are unit-tested as plain functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from ..errors import SplittuiError
from ..model import Profile, Result, Scenario
from ..policy import policy_document

__all__ = [
    "Slot", "next_number", "add_slot", "rename", "delete", "find", "slot_documents", "differences",
    "SCENARIO_FIELDS", "RESULT_FIELDS", "result_key", "EXPORT_SOLVER",
]

SCENARIO_FIELDS = tuple(f.name for f in fields(Scenario))
RESULT_FIELDS = ("feasible", "server_share", "latency_ms", "switches", "policy")
EXPORT_SOLVER = "dp"  # the policy a slot stands for, and the one slot_documents exports


@dataclass(frozen=True, slots=True)
class Slot:
    """One saved scenario: what was solved (profile, scenario) and every solver's answer."""

    number: int
    name: str
    profile: Profile
    scenario: Scenario
    results: dict[str, Result]


def next_number(slots: tuple[Slot, ...]) -> int:
    """One more than the highest number in use (numbers are never reused while slots remain)."""
    return max((s.number for s in slots), default=0) + 1


def add_slot(slots: tuple[Slot, ...], profile: Profile, scenario: Scenario,
             results: dict[str, Result], name: str | None = None) -> tuple[Slot, ...]:
    number = next_number(slots)
    label = _clean_name(name) if name is not None else f"slot {number}"
    return (*slots, Slot(number, label, profile, scenario, dict(results)))


def find(slots: tuple[Slot, ...], number: int) -> Slot:
    for s in slots:
        if s.number == number:
            return s
    raise SplittuiError(f"no saved slot number {number}")


def rename(slots: tuple[Slot, ...], number: int, name: str) -> tuple[Slot, ...]:
    find(slots, number)
    label = _clean_name(name)
    return tuple(replace(s, name=label) if s.number == number else s for s in slots)


def delete(slots: tuple[Slot, ...], number: int) -> tuple[Slot, ...]:
    find(slots, number)
    return tuple(s for s in slots if s.number != number)


def _clean_name(name: str) -> str:
    label = " ".join(str(name).split())
    if not label:
        raise SplittuiError("a slot name cannot be empty")
    return label


def slot_documents(slots: tuple[Slot, ...], *, every_solver: bool = False) -> list[dict]:
    """`splittui.policy` documents per slot: its DP result (or its first result if it has no DP), or
    with `every_solver` one document per solver that has a placement.

    Each document also carries ``"slot": {"number", "name"}`` so an exported list stays readable.
    """
    docs = []
    for s in slots:
        if every_solver:
            picked = [r for r in s.results.values() if r.policy is not None] or list(s.results.values())[:1]
        else:
            picked = [s.results.get(EXPORT_SOLVER) or next(iter(s.results.values()))]
        for res in picked:
            doc = policy_document(s.profile, s.scenario, res)
            doc["slot"] = {"number": s.number, "name": s.name}
            docs.append(doc)
    return docs


def result_key(solver: str, field: str) -> str:
    """The name `differences` uses for one result field, e.g. ``dp.server_share``."""
    return f"{solver}.{field}"


def differences(slots: tuple[Slot, ...]) -> set[str]:
    """Which things differ between the slots, for highlighting.

    Names: ``"model"`` (a different profile), any Scenario field (``"deadline_ms"``…), and
    ``result_key(solver, field)`` for field in RESULT_FIELDS and every solver any slot holds.
    Fewer than two slots differ in nothing.
    """
    if len(slots) < 2:
        return set()
    out = set()
    if len({(s.profile.model, s.profile.sha256, s.profile.origin) for s in slots}) > 1:
        out.add("model")
    out |= {f for f in SCENARIO_FIELDS if not _all_same([getattr(s.scenario, f) for s in slots])}
    solvers = dict.fromkeys(name for s in slots for name in s.results)
    for solver in solvers:
        for field in RESULT_FIELDS:
            values = [_result_value(s, solver, field) for s in slots]
            if not _all_same(values):
                out.add(result_key(solver, field))
    return out


def _result_value(slot: Slot, solver: str, field: str):
    res = slot.results.get(solver)
    return None if res is None else getattr(res, field)


def _all_same(values: list) -> bool:
    first = values[0]
    return all(_same(first, v) for v in values[1:])


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b

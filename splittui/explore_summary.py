"""The summary of an exploration (issue 30): from a grid's rows, the Pareto front of two figures, the best row
per question, and per value of an axis its cells, feasible fraction, least figures and points on the front.
Pure: rows arrive as dicts (as `splittui.explore` makes them).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["QUESTIONS", "pareto_front", "best_rows", "axis_rows", "axis_figures"]

# the questions `--summary` answers: (figure to minimise, what it means)
QUESTIONS = (("server_share", "least server work"), ("latency_ms", "least request latency"),
             ("ttft_ms", "least time to first token"), ("tpot_ms", "least time per output token"),
             ("server_mem_bytes", "least server memory"), ("client_energy_j", "least client energy"))


def _ok(rows: Sequence[dict[str, Any]], *figs: str) -> Iterator[dict[str, Any]]:
    return (r for r in rows if r.get("feasible") and all(r.get(f) is not None for f in figs))


def pareto_front(rows: Sequence[dict[str, Any]], x: str, y: str) -> list[dict[str, Any]]:
    """Feasible rows no other feasible row beats on both `x` and `y` (both minimised), by ascending x;
    of equal points the first row (lowest cell) stands for them. O(n log n)."""
    pts = sorted(_ok(rows, x, y), key=lambda r: (r[x], r[y], r["cell"]))
    front: list[dict[str, Any]] = []
    for r in pts:
        if not front or r[y] < front[-1][y]:
            front.append(r)
    return front


def best_rows(rows: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Per question the feasible row with the least figure (ties: the least latency, then the lowest
    cell); questions whose figure the grid did not keep, or no feasible row has, are left out."""
    out = []
    for fig, question in QUESTIONS:
        ok = list(_ok(rows, fig))
        if ok:
            out.append((question, min(ok, key=lambda r: (r[fig], _or_inf(r.get("latency_ms")), r["cell"]))))
    return out


def axis_rows(rows: Sequence[dict[str, Any]], axis: str, x: str, y: str, *,
              front: Sequence[dict[str, Any]] | None = None, extra: Sequence[str] = (),
              figures: tuple[np.ndarray, dict[str, np.ndarray]] | None = None) -> list[dict[str, Any]]:
    """Per value of `axis` (in order of first appearance): cells, the feasible fraction, the least `y`, `x`
    and each `extra` figure over its feasible cells (an absent figure counts as none), and how many points
    of the (x, y) Pareto front of all rows (`front`, if computed already) have that value. `figures`:
    `axis_figures(rows, y, x, *extra)`, computed once for every axis."""
    front = pareto_front(rows, x, y) if front is None else front
    ok, figs = axis_figures(rows, y, x, *extra) if figures is None else figures
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(r[axis], len(index)) for r in rows), dtype=np.intp, count=len(rows))
    k = len(index)
    cells = np.bincount(codes, minlength=k)
    feasible = np.bincount(codes, weights=ok, minlength=k)
    least = {}
    for fig in (y, x, *extra):
        least[fig] = np.full(k, math.inf)
        np.minimum.at(least[fig], codes[ok], figs[fig][ok])
    on = Counter(r[axis] for r in front)
    return [{"value": v, "cells": int(cells[i]), "feasible": int(feasible[i]) / int(cells[i]),
             **{f"least {fig}": _or_none(float(least[fig][i])) for fig in least}, "on front": on[v]}
            for v, i in index.items()]


def axis_figures(rows: Sequence[dict[str, Any]], *figs: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per row: feasible (bool) and each figure (inf where absent): what `axis_rows` reduces per axis value."""
    n = len(rows)
    ok = np.fromiter((bool(r.get("feasible")) for r in rows), dtype=bool, count=n)
    return ok, {f: np.fromiter((_or_inf(r.get(f)) for r in rows), dtype=float, count=n) for f in figs}


def _or_inf(v: float | None) -> float:
    return math.inf if v is None else v


def _or_none(v: float) -> float | None:
    return None if v == math.inf else v

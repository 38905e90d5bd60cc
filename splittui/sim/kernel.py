"""The batched decode step of `server.ServerModel`, compiled to straight-line Python per server model.

The event loop of `capacity` times a batched step twice an event, 10^5 requests make ~2·10^5 calls, and
a model has a few dozen merged layer rows (up to ~25 with three client classes at different cuts): the
interpreted loop of `ServerModel.step_views` spends its time on tuple unpacking, list indexing and the
inner loops over each row's classes, and numpy's per-call overhead on arrays this small is larger
still. So each server model's rows are written out once as a Python function: the row's constants
become literals, terms with a zero coefficient are left out, and what rows of the same class set share
(the batch ``b_l``, the context sum ``S_l``, ``min(1, b)`` and the per-class batches) is computed once.

Every floating-point operation that remains is the interpreted method's, on the same values, in the
same order, so the results are bit-for-bit the same (tests/core/test_capacity_speed.py checks this on
random batches and on whole simulations). Leaving a term out is exact because the inputs are finite and
``≥ 0`` (batches, contexts) and so are the constants: ``0.0·v = +0.0``, ``z + 0.0 = z`` and
``1.0·z = z`` for every such ``z``; a model with a negative or non-finite constant is compiled without
leaving anything out. Pure Python; no numpy in the generated code, no UI import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["Row", "TermsFn", "ViewsFn", "compile_terms", "compile_views"]

Row = tuple[float, float, float, float, float, float, float, tuple[int, ...]]   # f0 f1 W kv a o count classes
TermsFn = Callable[[Sequence[float], Sequence[float]], tuple[float, float, float]]
ViewsFn = Callable[[Sequence[float], Sequence[float], Sequence[float], Sequence[float]],
                   tuple[list[float], list[float]]]


class _Writer:
    """Expressions of one row's roofline with its constants as literals (zero terms left out when `drop`)."""

    def __init__(self, alpha: float, beta: float, row: Row, drop: bool) -> None:
        self.alpha, self.beta, self.row, self.drop = alpha, beta, row, drop

    def _sum(self, terms: list[tuple[float, str]]) -> str:
        """``c1*v1 + c2*v2 + …`` left to right, as the interpreted code adds them."""
        kept = [(c, v) for c, v in terms if not (self.drop and c == 0.0)]
        if not kept:            # every coefficient zero: keep the first product (+0.0), nothing else
            kept = terms[:1]
        return " + ".join(f"{c!r} * {v}" for c, v in kept)

    def comp(self, x: str, y: str) -> str:
        f0, f1 = self.row[0], self.row[1]
        return f"{self.alpha!r} * ({self._sum([(f0, x), (f1, y)])})"

    def mem(self, x: str, y: str, run: str) -> str:
        _, _, w, kv, act = self.row[:5]
        return f"{self.beta!r} * ({self._sum([(w, run), (kv, y), (act, x)])})"

    def timed(self, part: str, run: str) -> str:
        """``cnt * (part + over * run)``."""
        over = self.row[5]
        inner = part if self.drop and over == 0.0 else f"{part} + {over!r} * {run}"
        return self.scaled(f"({inner})")

    def scaled(self, v: str) -> str:
        cnt = self.row[6]
        return v if self.drop and cnt == 1.0 else f"{cnt!r} * {v}"


def _exact_drops(alpha: float, beta: float, table: Sequence[Row]) -> bool:
    consts = [alpha, beta, *(v for r in table for v in r[:7])]
    return all(math.isfinite(v) and v >= 0.0 for v in consts)


def _literal_safe(alpha: float, beta: float, table: Sequence[Row]) -> bool:
    return all(math.isfinite(v) for v in (alpha, beta, *(v for r in table for v in r[:7])))


def _groups(table: Sequence[Row]) -> dict[tuple[int, ...], int]:
    out: dict[tuple[int, ...], int] = {}
    for r in table:
        out.setdefault(r[7], len(out))
    return out


def _preamble(k: int, groups: dict[tuple[int, ...], int], views: bool) -> list[str]:
    """Unpack the inputs; per class set g: ``bl_g``, ``sl_g``, ``rg_g`` (and per class k in g the
    batch with k's own share: ``x_g_k``, ``y_g_k``, ``r_g_k``), as the interpreted loop sums them."""
    names = "".join(f"b{j}, " for j in range(k))
    lines = [f"    ({names}) = b", f"    ({''.join(f's{j}, ' for j in range(k))}) = s"]
    if views:
        lines += [f"    ({''.join(f'ob{j}, ' for j in range(k))}) = own_b",
                  f"    ({''.join(f'os{j}, ' for j in range(k))}) = own_s"]
    for ks, g in groups.items():
        lines.append(f"    bl{g} = 0.0" + "".join(f" + b{j}" for j in ks))
        lines.append(f"    sl{g} = 0.0" + "".join(f" + s{j}" for j in ks))
        lines.append(f"    rg{g} = bl{g} if bl{g} < 1.0 else 1.0")
        if views:
            for j in ks:
                lines.append(f"    x{g}_{j} = bl{g} + ob{j}")
                lines.append(f"    y{g}_{j} = sl{g} + os{j}")
                lines.append(f"    r{g}_{j} = x{g}_{j} if x{g}_{j} < 1.0 else 1.0")
    return lines


def _source_views(alpha: float, beta: float, table: Sequence[Row], k: int) -> str:
    """`ServerModel.step_views`, row by row in the table's order, written out."""
    drop = _exact_drops(alpha, beta, table)
    groups = _groups(table)
    body = _preamble(k, groups, views=True)
    body.append("    base_t = base_c = 0.0")
    body += [f"    dt{j} = dc{j} = 0.0" for j in range(k)]
    for row in table:
        wr, g = _Writer(alpha, beta, row, drop), groups[row[7]]
        bl, sl, rg = f"bl{g}", f"sl{g}", f"rg{g}"
        body += [f"    if {bl} > 0.0:",
                 f"        c = {wr.comp(bl, sl)}",
                 f"        m = {wr.mem(bl, sl, rg)}",
                 "        if c >= m:",
                 f"            t0 = {wr.timed('c', rg)}",
                 f"            c0 = {wr.scaled('c')}",
                 "        else:",
                 f"            t0 = {wr.timed('m', rg)}",
                 "            c0 = 0.0",
                 "        base_t += t0",
                 "        base_c += c0",
                 "    else:",
                 "        t0 = c0 = 0.0"]
        for j in row[7]:
            x, y, r = f"x{g}_{j}", f"y{g}_{j}", f"r{g}_{j}"
            body += [f"    if not {x} <= 0.0:",
                     f"        c = {wr.comp(x, y)}",
                     f"        m = {wr.mem(x, y, r)}",
                     "        if c >= m:",
                     f"            dt{j} += {wr.timed('c', r)} - t0",
                     f"            dc{j} += {wr.scaled('c')} - c0",
                     "        else:",
                     f"            dt{j} += {wr.timed('m', r)} - t0",
                     f"            dc{j} -= c0"]
    body.append(f"    return [{', '.join(f'base_t + dt{j}' for j in range(k))}], "
                f"[{', '.join(f'base_c + dc{j}' for j in range(k))}]")
    return "def views(b, s, own_b, own_s):\n" + "\n".join(body) + "\n"


def _source_terms(alpha: float, beta: float, table: Sequence[Row], k: int) -> str:
    """`ServerModel.step_terms`, row by row in the table's order, written out."""
    drop = _exact_drops(alpha, beta, table)
    groups = _groups(table)
    body = _preamble(k, groups, views=False)
    body.append("    total = comp_part = mem_part = 0.0")
    for row in table:
        wr, g = _Writer(alpha, beta, row, drop), groups[row[7]]
        bl, sl, rg = f"bl{g}", f"sl{g}", f"rg{g}"
        body += [f"    if not {bl} <= 0.0:",
                 f"        comp = {wr.comp(bl, sl)}",
                 f"        mem = {wr.mem(bl, sl, rg)}",
                 "        if comp >= mem:",
                 f"            comp_part += {wr.scaled('comp')}",
                 f"            total += {wr.timed('comp', rg)}",
                 "        else:",
                 f"            mem_part += {wr.scaled('mem')}",
                 f"            total += {wr.timed('mem', rg)}"]
    body.append("    return total, comp_part, mem_part")
    return "def terms(b, s):\n" + "\n".join(body) + "\n"


def _compile(src: str, name: str) -> Callable[..., object]:
    space: dict[str, object] = {}
    exec(compile(src, f"<splittui.sim.kernel {name}>", "exec"), space)   # noqa: S102 - our own generated source
    fn = space[name]
    assert callable(fn)
    return fn


def compile_views(alpha: float, beta: float, table: Sequence[Row], k: int) -> ViewsFn | None:
    """`step_views` for these rows and `k` classes as one function, or None where a constant has no
    exact literal (inf, nan): the caller keeps the interpreted method."""
    if not _literal_safe(alpha, beta, table) or k < 1:
        return None
    return _compile(_source_views(alpha, beta, table, k), "views")  # type: ignore[return-value]


def compile_terms(alpha: float, beta: float, table: Sequence[Row], k: int) -> TermsFn | None:
    """`step_terms` for these rows and `k` classes as one function, or None (see `compile_views`)."""
    if not _literal_safe(alpha, beta, table) or k < 1:
        return None
    return _compile(_source_terms(alpha, beta, table, k), "terms")  # type: ignore[return-value]

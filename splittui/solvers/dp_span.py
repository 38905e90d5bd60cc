"""One DP pass that serves every deadline up to its span (SPEC §4: cell (l, w) depends only on
cells of budget ≤ w, so the table filled for W units holds the table for any W' ≤ W).

The pass is the dense table, or the sparse labels (`dp_labels`) where `dp_policy` would take them
(W ≥ SPARSE_MIN_UNITS and no layer outgrows the label cap): a label pass for W pruned only labels
that cannot finish within W, and a backtrack for W' ≤ W never reads one (module docstring there), so
it serves every smaller budget as the table does.

A what-if tool moves the deadline a step at a time: with a table filled a little beyond the current
deadline, the DP policy at a new deadline is a backtrack (O(L)) and the frontier up to it a slice,
instead of a new pass. The policy is the one `dp_policy` gives for that deadline (same cells, same
backtrack) and the end values are `dp_end_values`' (tests/core/test_dp_span.py checks both).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..costs import Costs
from .dp import DPTables, backtrack, budget_units, run_dp
from .dp_labels import SPARSE_MIN_UNITS, LabelTables, label_backtrack, run_labels

__all__ = ["DPSpan", "dp_span", "label_span"]


@dataclass(frozen=True, slots=True)
class DPSpan:
    """The decision bits and last rows of one DP pass (or its labels) over budgets 0..W for `costs` at
    `unit_ms`."""

    tables: DPTables | LabelTables
    costs: Costs        # the chain it was filled for; its deadline is the span
    unit_ms: float
    rounding: str

    def serves(self, c: Costs, unit_ms: float, rounding: str) -> bool:
        """Whether this pass is the DP of chain `c` (any deadline within the span) at this unit and rounding."""
        a = self.costs
        if c.constrained:   # pins and memory limits: the constrained DP, never this pass
            return False
        return (unit_ms == self.unit_ms and rounding == self.rounding and self.covers(c.deadline_ms)
                and (a.start_client, a.end_client, a.up_out_ms, a.down_out_ms)
                == (c.start_client, c.end_client, c.up_out_ms, c.down_out_ms)
                and all(np.array_equal(x, y) for x, y in ((a.client_ms, c.client_ms), (a.server_ms, c.server_ms),
                                                          (a.up_ms, c.up_ms), (a.down_ms, c.down_ms),
                                                          (a.reward, c.reward))))

    def covers(self, deadline_ms: float) -> bool:
        """Whether the pass reaches this deadline's budget."""
        return budget_units(deadline_ms, self.unit_ms) <= self.tables.ints.W

    def _at(self, deadline_ms: float) -> DPTables | LabelTables:
        if not self.covers(deadline_ms):
            raise ValueError(f"deadline {deadline_ms:g} ms is beyond this DP pass ({self.costs.deadline_ms:g} ms)")
        W = int(budget_units(deadline_ms, self.unit_ms))
        return replace(self.tables, ints=replace(self.tables.ints, W=W))

    def policy(self, deadline_ms: float) -> tuple[int, ...] | None:
        """The DP policy for this deadline (None where the DP finds none)."""
        at = self._at(deadline_ms)
        return label_backtrack(at) if isinstance(at, LabelTables) else backtrack(at)

    def end_values(self, deadline_ms: float) -> np.ndarray:
        """best[w] for w = 0..W(deadline): the frontier's values up to this deadline."""
        return self._at(deadline_ms).end_values()


def dp_span(costs: Costs, unit_ms: float, span_ms: float, *, rounding: str = "ceil") -> DPSpan:
    """Fill the DP table of chain `costs` (its own deadline is ignored) for budgets up to `span_ms`: the
    labels where W is large and they stay few, else the dense table."""
    if budget_units(span_ms, unit_ms) + 1 >= SPARSE_MIN_UNITS:
        labels = label_span(costs, unit_ms, span_ms, rounding=rounding)
        if labels is not None:
            return labels
    c = replace(costs, deadline_ms=span_ms)
    return DPSpan(run_dp(c, unit_ms, rounding=rounding), c, unit_ms, rounding)


def label_span(costs: Costs, unit_ms: float, span_ms: float, *, rounding: str = "ceil") -> DPSpan | None:
    """The label pass of chain `costs` for budgets up to `span_ms`, or None where a layer outgrows the
    label cap (a span that large would be a dense table: the caller decides whether it is worth it)."""
    c = replace(costs, deadline_ms=span_ms)
    labels = run_labels(c, unit_ms, rounding=rounding)
    return None if labels is None else DPSpan(labels, c, unit_ms, rounding)

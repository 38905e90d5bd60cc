"""Attention-core stages for the variants of ``splittui.attention``: low-rank (Linformer) and block-local.

Both take the same state as :class:`~splittui.profiler.layers.AttnCore`, ``(*c, q, k, v)`` with
heads split (b, h, n, d_h), and return ``(*c, a)`` with heads merged, so they drop into a chain in
its place. Unit of ``flop_parts``: FLOP, 2 per multiply-add (see layers.py).

- LowRankCore: k' = E[:m]^T k, v' = F[:m]^T v (E, F of shape (max_len, K), shared by the heads;
  the first m rows serve a sequence of m tokens), then softmax(q k'^T / sqrt(d_h)) v'. No causal
  mask (Linformer's projection mixes positions).
- BlockCore: blocks of B tokens along the sequence; each query attends to the keys of its own block
  (causal: the earlier ones in its block). The last block is shorter when B does not divide n.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..attention import Attention
from .layers import AttnCore, StageModule

__all__ = ["LowRankCore", "BlockCore", "make_core", "softmax_attend"]


def softmax_attend(q, k, v, causal: bool) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_h) [+ causal mask]) v over any leading dims; heads not merged."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        n, m = scores.shape[-2:]
        mask = torch.ones(n, m, dtype=torch.bool, device=q.device).triu(1 + m - n)
        scores = scores.masked_fill(mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def _merge(out: torch.Tensor) -> torch.Tensor:
    b, h, n, dh = out.shape
    return out.transpose(1, 2).reshape(b, n, h * dh)


class LowRankCore(StageModule):
    """Linformer attention core: keys and values projected along the sequence to `rows` rows."""

    kind = "attention"

    def __init__(self, rows: int, max_len: int, *, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.rows = rows
        self.E = nn.Parameter(torch.randn(max_len, rows, generator=g) / math.sqrt(rows))
        self.F = nn.Parameter(torch.randn(max_len, rows, generator=g) / math.sqrt(rows))

    def forward(self, *state):
        *carry, q, k, v = state
        m = k.shape[-2]
        k_low = self.E[:m].transpose(0, 1) @ k     # (b, h, K, d_h)
        v_low = self.F[:m].transpose(0, 1) @ v
        return (*carry, _merge(softmax_attend(q, k_low, v_low, causal=False)))

    def flop_parts(self, *state):
        q, k = state[-3], state[-2]
        b, h, n, dh = q.shape
        m = k.shape[-2]
        project = 2 * (2.0 * b * h * self.rows * m * dh)   # k and v, one matmul each
        n_scores = b * h * n * self.rows
        return project + 2.0 * 2 * n_scores * dh, 4.0 * n_scores

    def scratch_bytes(self, *state):
        q = state[-3]
        return q.shape[0] * q.shape[1] * q.shape[2] * self.rows * q.element_size()

    def weight_bytes(self, *state) -> int:
        """Only the first m rows of E and F serve a sequence of m tokens."""
        k = state[-2]
        return 2 * k.shape[-2] * self.rows * self.E.element_size()


class BlockCore(StageModule):
    """Block-local attention core: blocks of `block` tokens, no global tokens."""

    kind = "attention"

    def __init__(self, block: int, *, causal: bool) -> None:
        super().__init__()
        self.block, self.causal = block, causal

    def _blocks(self, n: int) -> list[int]:
        full, rest = divmod(n, self.block)
        return [self.block] * full + ([rest] if rest else [])

    def forward(self, *state):
        *carry, q, k, v = state
        b, h, n, dh = q.shape
        if k.shape[-2] != n:
            raise ValueError(f"block-local attention needs as many keys as queries, got {k.shape[-2]} and {n}")
        full = n // self.block * self.block
        parts = []
        if full:
            shape = (b, h, full // self.block, self.block, dh)
            qb, kb, vb = (t[:, :, :full].reshape(shape) for t in (q, k, v))
            parts.append(softmax_attend(qb, kb, vb, self.causal).reshape(b, h, full, dh))
        if full < n:
            parts.append(softmax_attend(q[:, :, full:], k[:, :, full:], v[:, :, full:], self.causal))
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
        return (*carry, _merge(out))

    def _scores(self, q) -> int:
        return q.shape[0] * q.shape[1] * sum(t * t for t in self._blocks(q.shape[2]))

    def flop_parts(self, *state):
        q = state[-3]
        n_scores = self._scores(q)
        return 2.0 * 2 * n_scores * q.shape[-1], (4.0 + self.causal) * n_scores

    def scratch_bytes(self, *state):
        return self._scores(state[-3]) * state[-3].element_size()


def make_core(attention: Attention | None, *, causal: bool, max_len: int, seed: int) -> StageModule:
    """The attention-core stage module of a variant (full: the zoo's AttnCore)."""
    if attention is None or attention.is_full:
        return AttnCore(causal=causal)
    if attention.kind == "lowrank":
        return LowRankCore(attention.size, max_len, seed=seed)
    return BlockCore(attention.size, causal=causal)

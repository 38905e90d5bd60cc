"""Stage modules shared by the zoo's transformers: each ``forward(*state) -> tuple``.

Every stage keeps the tensors it does not touch (the "carry", e.g. the residual stream or the
encoder memory) at the front of the state and works on the last few. Each stage also states its
analytic cost: ``flop_parts(*state) -> (mac_flops, other_flops)`` where ``mac_flops`` is 2 x the
multiply-adds of its matmuls/convolutions (what fvcore counts, doubled) and ``other_flops`` the
elementwise, norm and softmax terms. Unit: FLOP, 2 per multiply-add.

Elementwise costs per element: add/scale/bias 1, LayerNorm 8, BatchNorm (eval) 2, GELU 8,
softmax 3 (+1 for the 1/sqrt(d) scale, +1 for a causal mask), mean-pool 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "StageModule", "Embed", "Sinusoid", "Norm", "QKV", "CrossQKV", "AttnCore", "ResidualLinear",
    "BranchLinear", "Act", "LastTokenHead", "Pooler", "attention_math", "linear_parts", "split_heads",
]

LN_FLOPS, BN_FLOPS, GELU_FLOPS = 8.0, 2.0, 8.0


class StageModule(nn.Module):
    """Base of every zoo stage: a module over a state tuple that states its own FLOPs."""

    kind = "other"

    def flop_parts(self, *state) -> tuple[float, float]:
        raise NotImplementedError

    def scratch_bytes(self, *state) -> int:
        """Bytes of large intermediates (attention scores) beyond the state in and out."""
        return 0


def linear_parts(lin: nn.Linear, tokens: int) -> tuple[float, float]:
    """(2 x MACs, bias adds) of a Linear applied to `tokens` rows."""
    mac = 2.0 * tokens * lin.in_features * lin.out_features
    return mac, (float(tokens * lin.out_features) if lin.bias is not None else 0.0)


def _rows(x: torch.Tensor) -> int:
    return x.numel() // x.shape[-1]


def split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = t.shape
    return t.view(b, n, heads, d // heads).transpose(1, 2)


def attention_math(q, k, v, causal: bool) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_h) [+ causal mask]) v on (b, h, n, d_h); heads merged to (b, n, d)."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        n, m = scores.shape[-2:]
        mask = torch.ones(n, m, dtype=torch.bool, device=q.device).triu(1 + m - n)
        scores = scores.masked_fill(mask, float("-inf"))
    out = scores.softmax(dim=-1) @ v
    b, h, n, dh = out.shape
    return out.transpose(1, 2).reshape(b, n, h * dh)


class Sinusoid(nn.Module):
    """Fixed sinusoidal position table (the original transformer's)."""

    table: torch.Tensor  # a registered buffer (nn.Module's stubs type attributes as Tensor | Module)

    def __init__(self, max_len: int, d: int) -> None:
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
        table = torch.zeros(max_len, d)
        table[:, 0::2], table[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("table", table, persistent=False)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        return self.table[pos]


class Embed(StageModule):
    """Token ids -> vectors: wte(ids) * scale + pos(positions) [+ type row]. The ids tensor at
    `ids_index` leaves the state and the embedding is appended at its end."""

    kind = "embedding"

    def __init__(self, wte: nn.Embedding, pos: nn.Module, *, scale: float = 1.0,
                 type_row: nn.Embedding | None = None, ids_index: int = -1) -> None:
        super().__init__()
        self.wte, self.pos, self.scale, self.type_row, self.ids_index = wte, pos, scale, type_row, ids_index

    def forward(self, *state):
        rest = list(state)
        ids = rest.pop(self.ids_index if self.ids_index >= 0 else len(rest) + self.ids_index)
        x = self.wte(ids)
        if self.scale != 1.0:
            x = x * self.scale
        x = x + self.pos(torch.arange(ids.shape[-1], device=ids.device))
        if self.type_row is not None:
            x = x + self.type_row.weight[0]
        return (*rest, x)

    def flop_parts(self, *state):
        ids = state[self.ids_index]
        n = ids.numel() * self.wte.embedding_dim
        adds = 1 + (self.scale != 1.0) + (self.type_row is not None)
        return 0.0, float(adds * n)


class Norm(StageModule):
    """LayerNorm of the last tensor: pre-norm keeps the residual, (*c, x) -> (*c, x, ln(x));
    post-norm replaces it, (*c, x) -> (*c, ln(x))."""

    kind = "norm"

    def __init__(self, norm: nn.Module, *, keep_input: bool) -> None:
        super().__init__()
        self.norm, self.keep_input = norm, keep_input

    def forward(self, *state):
        *carry, x = state
        y = self.norm(x)
        return (*carry, x, y) if self.keep_input else (*carry, y)

    def flop_parts(self, *state):
        return 0.0, LN_FLOPS * state[-1].numel()


class BranchLinear(StageModule):
    """A Linear that opens a branch beside the residual: pre-norm (*c, x, h) -> (*c, x, W h);
    post-norm (*c, x) -> (*c, x, W x)."""

    kind = "linear"

    def __init__(self, lin: nn.Linear, *, prenorm: bool) -> None:
        super().__init__()
        self.lin, self.prenorm = lin, prenorm

    def _split(self, state):
        if self.prenorm:
            *carry, x, h = state
            return carry, x, h
        *carry, x = state
        return carry, x, x

    def forward(self, *state):
        carry, x, h = self._split(state)
        return (*carry, x, self.lin(h))

    def flop_parts(self, *state):
        return linear_parts(self.lin, _rows(state[-1]))


class QKV(BranchLinear):
    """The fused q/k/v projection, split into heads: ... -> (*c, x, q, k, v)."""

    def __init__(self, lin: nn.Linear, heads: int, *, prenorm: bool) -> None:
        super().__init__(lin, prenorm=prenorm)
        self.heads = heads

    def forward(self, *state):
        carry, x, h = self._split(state)
        q, k, v = self.lin(h).chunk(3, dim=-1)
        return (*carry, x, *(split_heads(t, self.heads) for t in (q, k, v)))


class CrossQKV(StageModule):
    """Decoder cross-attention projections: (*c, mem, y) -> (*c, mem, y, q(y), k(mem), v(mem))."""

    kind = "linear"

    def __init__(self, q: nn.Linear, kv: nn.Linear, heads: int) -> None:
        super().__init__()
        self.q, self.kv, self.heads = q, kv, heads

    def forward(self, *state):
        *carry, mem, y = state
        k, v = self.kv(mem).chunk(2, dim=-1)
        qkv = (self.q(y), k, v)
        return (*carry, mem, y, *(split_heads(t, self.heads) for t in qkv))

    def flop_parts(self, *state):
        mem, y = state[-2], state[-1]
        a, b = linear_parts(self.q, _rows(y)), linear_parts(self.kv, _rows(mem))
        return a[0] + b[0], a[1] + b[1]


class AttnCore(StageModule):
    """Scores, mask, softmax and weighted sum: (*c, q, k, v) -> (*c, a) with heads merged."""

    kind = "attention"

    def __init__(self, *, causal: bool) -> None:
        super().__init__()
        self.causal = causal

    def forward(self, *state):
        *carry, q, k, v = state
        return (*carry, attention_math(q, k, v, self.causal))

    def _scores(self, q, k) -> int:
        return q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2]

    def flop_parts(self, *state):
        q, k = state[-3], state[-2]
        n_scores = self._scores(q, k)
        return 2.0 * 2 * n_scores * q.shape[-1], (4.0 + self.causal) * n_scores

    def scratch_bytes(self, *state):
        return self._scores(state[-3], state[-2]) * state[-3].element_size()


class ResidualLinear(StageModule):
    """Output projection closing a branch: (*c, x, a) -> (*c, x + W a). A 4-D x (b, C, H, W)
    takes the tokens back to its layout."""

    kind = "linear"

    def __init__(self, lin: nn.Linear) -> None:
        super().__init__()
        self.lin = lin

    def forward(self, *state):
        *carry, x, a = state
        y = self.lin(a)
        if x.dim() == 4:
            y = y.transpose(1, 2).reshape(x.shape)
        return (*carry, x + y)

    def flop_parts(self, *state):
        mac, bias = linear_parts(self.lin, _rows(state[-1]))
        return mac, bias + state[-2].numel()


class Act(StageModule):
    """The MLP activation on the branch: (*c, x, u) -> (*c, x, act(u)); gelu, gelu_tanh or relu."""

    kind = "activation"
    _COST = {"gelu": GELU_FLOPS, "gelu_tanh": GELU_FLOPS, "relu": 1.0}

    def __init__(self, fn: str = "gelu") -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *state):
        *carry, u = state
        if self.fn == "relu":
            return (*carry, F.relu(u))
        return (*carry, F.gelu(u, approximate="tanh" if self.fn == "gelu_tanh" else "none"))

    def flop_parts(self, *state):
        return 0.0, self._COST[self.fn] * state[-1].numel()


class LastTokenHead(StageModule):
    """Prefill language-model head: next-token logits of the last position only, (.., x) -> (logits,).
    `weight` is the (tied) embedding matrix (vocab, d); no bias."""

    kind = "linear"

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, *state):
        return (F.linear(state[-1][:, -1], self.weight),)

    def flop_parts(self, *state):
        x = state[-1]
        return 2.0 * x.shape[0] * self.weight.shape[0] * self.weight.shape[1], 0.0


class Pooler(StageModule):
    """BERT's pooler: tanh(W x[CLS] + b), (x,) -> (pooled,)."""

    kind = "linear"

    def __init__(self, lin: nn.Linear) -> None:
        super().__init__()
        self.lin = lin

    def forward(self, *state):
        return (torch.tanh(self.lin(state[-1][:, 0])),)

    def flop_parts(self, *state):
        mac, bias = linear_parts(self.lin, state[-1].shape[0])
        return mac, bias + 4.0 * state[-1].shape[0] * self.lin.out_features

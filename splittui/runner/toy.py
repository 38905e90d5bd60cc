"""A tiny pre-norm transformer chain ("runner-toy") for the runner's tests and smoke runs.

It follows the chain contract of splittui/profiler/chain.py: token ids in, one stage per
embedding, norm, attention projection, attention core, output projection and MLP, so that the
state crossing a cut is sometimes one tensor and sometimes several (q, k, v and the residual).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..profiler.chain import Chain, Stage

__all__ = ["build_toy", "TOY_NAME"]

TOY_NAME = "runner-toy"


class _Embed(nn.Module):
    def __init__(self, vocab: int, d: int, max_len: int) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(max_len, d)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        return (self.tok(ids) + self.pos(pos)[None],)


class _Norm(nn.Module):
    """LayerNorm of the stream; keeps the residual alongside it."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)

    def forward(self, x):
        return self.ln(x), x


class _QKV(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.proj, self.heads = nn.Linear(d, 3 * d), heads

    def forward(self, h, resid):
        b, s, d = h.shape
        q, k, v = self.proj(h).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return q.contiguous(), k.contiguous(), v.contiguous(), resid


class _Core(nn.Module):
    def forward(self, q, k, v, resid):
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(resid.shape)
        return ctx, resid


class _Out(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, d)

    def forward(self, ctx, resid):
        return (resid + self.proj(ctx),)


class _MLP(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln, self.up, self.down = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        return (x + self.down(torch.nn.functional.gelu(self.up(self.ln(x)))),)


def build_toy(*, d: int = 32, heads: int = 4, blocks: int = 2, vocab: int = 101, max_len: int = 1024) -> Chain:
    """Random weights: seed torch before calling for identical chains in two processes."""
    stages = [Stage("embed", "embedding", _Embed(vocab, d, max_len))]
    for i in range(blocks):
        stages += [Stage(f"h{i}.ln1", "norm", _Norm(d)), Stage(f"h{i}.attn.qkv", "linear", _QKV(d, heads)),
                   Stage(f"h{i}.attn.core", "attention", _Core()), Stage(f"h{i}.attn.out", "linear", _Out(d)),
                   Stage(f"h{i}.mlp", "linear", _MLP(d))]
    for stage in stages:
        stage.module.eval()

    def make_input(seq_len: int) -> tuple:
        gen = torch.Generator().manual_seed(seq_len)
        return (torch.randint(0, vocab, (1, seq_len), generator=gen),)

    return Chain(model=TOY_NAME, description=f"{blocks} pre-norm blocks, d={d}, {heads} heads (runner test model)",
                 stages=stages, make_input=make_input)

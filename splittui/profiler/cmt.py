"""The CMT-S vision transformer (Guo et al., CVPR 2022) as an explicit chain.

Conv stem, then 4 stages of [2x2 patch conv + LN] and CMT blocks: local perception unit
(x + DWConv3x3(x)), lightweight MHSA (LN; k/v from a depth-wise stride-R conv of the normed map
+ LN; q from the full map), inverted residual FFN (1x1 conv up + GELU + BN, x + DWConv3x3 + GELU
+ BN, 1x1 conv down + BN), head (1x1 conv to 1280, pool, FC). CMT-S: stem 32, C=[64,128,256,512],
blocks [3,3,16,3], heads [1,2,4,8], R=[8,4,2,1], FFN ratio 4. Simplification: the learned
relative position bias (one add on the scores) is left out, so any image side divisible by 32
works. The "sequence length" of this model is the image side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .chain import Chain, stage_of
from .layers import BN_FLOPS, GELU_FLOPS, LN_FLOPS, AttnCore, ResidualLinear, StageModule, attention_math, split_heads

__all__ = ["CMTConfig", "CMT_S", "TINY_CMT", "cmt_s", "ChannelLN", "ConvStage", "body_flops"]


@dataclass(frozen=True)
class CMTConfig:
    stem: int
    channels: tuple[int, ...]
    blocks: tuple[int, ...]
    heads: tuple[int, ...]
    reduce: tuple[int, ...]
    ffn_ratio: int
    head: int
    classes: int


CMT_S = CMTConfig(32, (64, 128, 256, 512), (3, 3, 16, 3), (1, 2, 4, 8), (8, 4, 2, 1), 4, 1280, 1000)
TINY_CMT = CMTConfig(8, (16, 16, 32, 32), (1, 1, 1, 1), (1, 1, 2, 2), (8, 4, 2, 1), 2, 64, 10)


class ChannelLN(nn.Module):
    """LayerNorm over the channels of a (b, C, H, W) map."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(c)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _conv_shape(conv: nn.Conv2d, shape):
    b, _, h, w = shape
    # padding is str | tuple in torch's stubs; the chain's convs all take integer padding
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, cast(tuple[int, int], conv.padding)
    return (b, conv.out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def _numel(shape) -> int:
    n = 1
    for v in shape:
        n *= v
    return n


def body_flops(body: nn.Module, shape) -> tuple[float, float, tuple]:
    """(2 x MACs, other FLOPs, output shape) of a conv/norm/act body applied to `shape`."""
    mods = list(body) if isinstance(body, nn.Sequential) else [body]
    mac = other = 0.0
    for m in mods:
        if isinstance(m, nn.Conv2d):
            shape = _conv_shape(m, shape)
            kh, kw = m.kernel_size
            mac += 2.0 * _numel(shape) * (m.in_channels // m.groups) * kh * kw
            other += _numel(shape) if m.bias is not None else 0.0
        elif isinstance(m, nn.Linear):
            shape = (*shape[:-1], m.out_features)
            mac += 2.0 * _numel(shape) * m.in_features
            other += _numel(shape) if m.bias is not None else 0.0
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            other += _numel(shape)
            shape = (shape[0], shape[1])
        else:
            per_element = {ChannelLN: LN_FLOPS, nn.BatchNorm2d: BN_FLOPS, nn.GELU: GELU_FLOPS}.get(type(m), 0.0)
            other += per_element * _numel(shape)
    return mac, other, shape


class ConvStage(StageModule):
    """A conv/norm/act body f placed in the state by `mode`:
    replace (*c, x) -> (*c, f(x)) · residual (*c, x) -> (*c, x + f(x)) ·
    branch (*c, x) -> (*c, x, f(x)) · branch_last (*c, x, h) -> (*c, x, h, f(h)) ·
    close (*c, x, e) -> (*c, x + f(e))."""

    MODES = ("replace", "residual", "branch", "branch_last", "close")

    def __init__(self, body: nn.Module, mode: str, kind: str = "conv") -> None:
        super().__init__()
        assert mode in self.MODES
        self.body, self.mode, self.kind = body, mode, kind

    def forward(self, *state):
        *carry, x = state
        y = self.body(x)
        if self.mode == "replace":
            return (*carry, y)
        if self.mode == "residual":
            return (*carry, x + y)
        if self.mode in ("branch", "branch_last"):
            return (*carry, x, y)
        *carry, r = carry
        return (*carry, r + y)

    def flop_parts(self, *state):
        mac, other, shape = body_flops(self.body, tuple(state[-1].shape))
        adds = _numel(shape) if self.mode in ("residual", "close") else 0
        return mac, other + adds


def _tokens(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(2).transpose(1, 2)


class ReducedQKV(StageModule):
    """LMHSA projections: q from the normed map h, k/v from the reduced map r (or h when R=1):
    (x, h[, r]) -> (x, q, k, v)."""

    kind = "linear"

    def __init__(self, q: nn.Linear, kv: nn.Linear, heads: int, reduced: bool) -> None:
        super().__init__()
        self.q, self.kv, self.heads, self.reduced = q, kv, heads, reduced

    def forward(self, *state):
        if self.reduced:
            *carry, x, h, r = state
        else:
            *carry, x, h = state
            r = h
        k, v = self.kv(_tokens(r)).chunk(2, dim=-1)
        return (*carry, x, *(split_heads(t, self.heads) for t in (self.q(_tokens(h)), k, v)))

    def flop_parts(self, *state):
        h, r = (state[-2], state[-1]) if self.reduced else (state[-1], state[-1])
        n_h, n_r = h.numel() // h.shape[1], r.numel() // r.shape[1]
        mac = 2.0 * (n_h * self.q.in_features * self.q.out_features + n_r * self.kv.in_features * self.kv.out_features)
        return mac, float(n_h * self.q.out_features + n_r * self.kv.out_features)


def _cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups), nn.GELU(), nn.BatchNorm2d(cout))


class _CMTBlock(nn.ModuleDict):
    """One CMT block's modules by name; the annotations only tell the type checker what each name holds."""

    lpu: nn.Module
    ln1: nn.Module
    q: nn.Linear
    kv: nn.Linear
    proj: nn.Linear
    ln2: nn.Module
    expand: nn.Module
    dw: nn.Module
    project: nn.Module
    reduce: nn.Module   # only when the block reduces its keys and values (r > 1)


def _cmt_block(c: int, heads: int, r: int, ratio: int) -> _CMTBlock:
    m = dict(lpu=nn.Conv2d(c, c, 3, 1, 1, groups=c), ln1=ChannelLN(c), q=nn.Linear(c, c),
             kv=nn.Linear(c, 2 * c), proj=nn.Linear(c, c), ln2=ChannelLN(c),
             expand=_cbr(c, c * ratio, 1), dw=_cbr(c * ratio, c * ratio, 3, groups=c * ratio),
             project=nn.Sequential(nn.Conv2d(c * ratio, c, 1), nn.BatchNorm2d(c)))
    if r > 1:
        m["reduce"] = nn.Sequential(nn.Conv2d(c, c, r, r, groups=c), ChannelLN(c))
    return _CMTBlock(m)


def _block_stages(p: str, b: _CMTBlock, heads: int) -> list:
    reduced = "reduce" in b
    st = [stage_of(p + "lpu", ConvStage(b.lpu, "residual")),
          stage_of(p + "ln1", ConvStage(b.ln1, "branch", kind="norm"))]
    if reduced:
        st.append(stage_of(p + "attn.reduce", ConvStage(b.reduce, "branch_last")))
    return st + [
        stage_of(p + "attn.qkv", ReducedQKV(b.q, b.kv, heads, reduced)),
        stage_of(p + "attn.core", AttnCore(causal=False)),
        stage_of(p + "attn.proj", ResidualLinear(b.proj)),
        stage_of(p + "ln2", ConvStage(b.ln2, "branch", kind="norm")),
        stage_of(p + "ffn.expand", ConvStage(b.expand, "replace")),
        stage_of(p + "ffn.dw", ConvStage(b.dw, "residual")),
        stage_of(p + "ffn.project", ConvStage(b.project, "close")),
    ]


class CMTRef(nn.Module):
    """The unsplit CMT forward over the same modules."""

    def __init__(self, stem, patches, stages, heads, head) -> None:
        super().__init__()
        self.stem, self.patches, self.stages = stem, patches, stages
        self.heads, self.head, self.sdpa = heads, head, False

    def _attn(self, b, x, heads):
        h = b.ln1(x)
        r = b.reduce(h) if "reduce" in b else h
        k, v = b.kv(_tokens(r)).chunk(2, dim=-1)
        q, k, v = (split_heads(t, heads) for t in (b.q(_tokens(h)), k, v))
        if self.sdpa:
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        else:
            a = attention_math(q, k, v, False)
        return b.proj(a).transpose(1, 2).reshape(x.shape)

    def forward(self, img):
        x = self.stem(img)
        for patch, blocks, heads in zip(self.patches, self.stages, self.heads, strict=False):
            x = patch(x)
            for b in blocks:
                x = x + b.lpu(x)
                x = x + self._attn(b, x, heads)
                e = b.expand(b.ln2(x))
                x = x + b.project(e + b.dw(e))
        return self.head(x)


def cmt_s(cfg: CMTConfig = CMT_S) -> Chain:
    torch.manual_seed(0)
    stem = nn.Sequential(_cbr(3, cfg.stem, 3, 2), _cbr(cfg.stem, cfg.stem, 3), _cbr(cfg.stem, cfg.stem, 3))
    cins = (cfg.stem, *cfg.channels[:-1])
    patches = nn.ModuleList(nn.Sequential(nn.Conv2d(ci, co, 2, 2), ChannelLN(co))
                            for ci, co in zip(cins, cfg.channels, strict=True))
    stage_blocks = [[_cmt_block(c, h, r, cfg.ffn_ratio) for _ in range(n)]
                    for c, n, h, r in zip(cfg.channels, cfg.blocks, cfg.heads, cfg.reduce, strict=False)]
    stages_m = nn.ModuleList(nn.ModuleList(blocks) for blocks in stage_blocks)
    head = nn.Sequential(nn.Sequential(nn.Conv2d(cfg.channels[-1], cfg.head, 1), nn.BatchNorm2d(cfg.head), nn.GELU()),
                         nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Linear(cfg.head, cfg.classes))
    chain_stages = [stage_of(f"stem.conv{i + 1}", ConvStage(m, "replace")) for i, m in enumerate(stem)]
    for si, (patch, blocks, heads) in enumerate(zip(patches, stage_blocks, cfg.heads, strict=False)):
        chain_stages.append(stage_of(f"s{si + 1}.patch", ConvStage(patch, "replace")))
        for bi, b in enumerate(blocks):
            chain_stages += _block_stages(f"s{si + 1}.b{bi}.", b, heads)
    chain_stages += [stage_of("head.conv", ConvStage(head[0], "replace")),
                     stage_of("head.pool", ConvStage(head[1], "replace", kind="pool")),
                     stage_of("head.fc", ConvStage(head[2], "replace", kind="linear"))]
    ref = CMTRef(stem, patches, stages_m, cfg.heads, head)
    for s in chain_stages:
        s.module.eval()

    def make_input(side: int) -> tuple:
        if side % 32:
            raise ValueError(f"cmt-s needs an image side divisible by 32, got {side}")
        return (torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(side)),)

    desc = (f"CMT-S vision transformer: stem {cfg.stem}, channels {list(cfg.channels)}, blocks "
            f"{list(cfg.blocks)}, heads {list(cfg.heads)}, k/v reduction {list(cfg.reduce)}, {cfg.classes} "
            "classes; seq_len = image side; no relative position bias")
    return Chain(model="cmt-s", description=desc, stages=chain_stages, make_input=make_input,
                 reference=ref.eval(), meta={"config": {k: list(v) if isinstance(v, tuple) else v
                                                       for k, v in cfg.__dict__.items()}})

"""The zoo's three text transformers as explicit chains: gpt2-like, bert-base, transformer.

Each builder returns a :class:`Chain` whose stages share their parameters with an unsplit
reference module (``chain.reference``), written the usual way, so tests can check that running
the stages in order equals the model's forward. Random weights (seeded), eval mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Attention
from .chain import Chain, stage_of
from .layers import (
    QKV,
    Act,
    BranchLinear,
    CrossQKV,
    Embed,
    LastTokenHead,
    Norm,
    Pooler,
    ResidualLinear,
    Sinusoid,
    attention_math,
    split_heads,
)
from .variants import make_core

__all__ = ["TextConfig", "gpt2_like", "bert_base", "transformer", "GPT2_LIKE", "BERT_BASE",
           "TRANSFORMER", "TINY_TEXT"]


@dataclass(frozen=True)
class TextConfig:
    d: int
    heads: int
    mlp: int
    blocks: int
    vocab: int
    max_len: int = 4096


GPT2_LIKE = TextConfig(d=1024, heads=16, mlp=4096, blocks=24, vocab=50257)
BERT_BASE = TextConfig(d=768, heads=12, mlp=3072, blocks=12, vocab=30522)
TRANSFORMER = TextConfig(d=512, heads=8, mlp=2048, blocks=6, vocab=37000)
TINY_TEXT = TextConfig(d=32, heads=2, mlp=128, blocks=2, vocab=101, max_len=256)


def _attend(q, k, v, heads: int, causal: bool, sdpa: bool, core: nn.Module | None = None) -> torch.Tensor:
    q, k, v = (split_heads(t, heads) for t in (q, k, v))
    if core is not None:  # an attention variant: the chain's own core module
        return core(q, k, v)[0]
    if not sdpa:
        return attention_math(q, k, v, causal)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)


def _ids_maker(vocab: int, n: int = 1):
    def make_input(seq_len: int) -> tuple:
        g = torch.Generator().manual_seed(seq_len)
        return tuple(torch.randint(vocab, (1, seq_len), generator=g) for _ in range(n))
    return make_input


class _Block(nn.ModuleDict):
    """One block's modules by name; the annotations only tell the type checker what each name holds."""

    qkv: nn.Linear
    proj: nn.Linear
    ln1: nn.LayerNorm
    up: nn.Linear
    down: nn.Linear
    ln2: nn.LayerNorm
    cq: nn.Linear       # cq, ckv, cproj, ln3: decoder blocks (cross=True) only
    ckv: nn.Linear
    cproj: nn.Linear
    ln3: nn.LayerNorm


def _block(cfg: TextConfig, cross: bool = False) -> _Block:
    d = cfg.d
    mods = dict(qkv=nn.Linear(d, 3 * d), proj=nn.Linear(d, d), ln1=nn.LayerNorm(d),
                up=nn.Linear(d, cfg.mlp), down=nn.Linear(cfg.mlp, d), ln2=nn.LayerNorm(d))
    if cross:
        mods.update(cq=nn.Linear(d, d), ckv=nn.Linear(d, 2 * d), cproj=nn.Linear(d, d), ln3=nn.LayerNorm(d))
    return _Block(mods)


def _finish(model: str, description: str, stages: list, make_input, ref: nn.Module, cfg,
            attention: Attention | None = None) -> Chain:
    for s in stages:
        s.module.eval()
    meta = {"config": cfg.__dict__.copy()}
    if attention is not None and not attention.is_full:
        # a plain attribute, not a registered submodule: the cores are shared with the stages
        setattr(ref, "cores", tuple(s.module for s in stages if s.kind == "attention"))  # noqa: B010
        description += f"; {attention.describe()}"
        meta["attention"] = attention.label
    return Chain(model=model, description=description, stages=stages, make_input=make_input,
                 reference=ref.eval(), meta=meta)


class _Cores:
    """The reference's attention-core modules when a variant replaces full attention (in chain order)."""

    cores: tuple = ()

    def core(self, i: int):
        return self.cores[i] if self.cores else None


def _core(attention: Attention | None, cfg: TextConfig, causal: bool, index: int) -> nn.Module:
    return make_core(attention, causal=causal, max_len=cfg.max_len, seed=1000 + index)


# --- gpt2-like: pre-norm causal decoder -------------------------------------------------------

class GPT2Ref(_Cores, nn.Module):
    def __init__(self, cfg, wte, wpe, blocks, ln_f) -> None:
        super().__init__()
        self.cfg, self.wte, self.wpe, self.blocks, self.ln_f, self.sdpa = cfg, wte, wpe, blocks, ln_f, False

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        for i, b in enumerate(self.blocks):
            q, k, v = b.qkv(b.ln1(x)).chunk(3, dim=-1)
            x = x + b.proj(_attend(q, k, v, self.cfg.heads, True, self.sdpa, self.core(i)))
            x = x + b.down(F.gelu(b.up(b.ln2(x)), approximate="tanh"))
        return F.linear(self.ln_f(x)[:, -1], self.wte.weight)


def gpt2_like(cfg: TextConfig = GPT2_LIKE, attention: Attention | None = None) -> Chain:
    torch.manual_seed(0)
    wte, wpe = nn.Embedding(cfg.vocab, cfg.d), nn.Embedding(cfg.max_len, cfg.d)
    block_list = [_block(cfg) for _ in range(cfg.blocks)]
    blocks, ln_f = nn.ModuleList(block_list), nn.LayerNorm(cfg.d)
    stages = [stage_of("embed", Embed(wte, wpe))]
    for i, b in enumerate(block_list):
        p = f"h{i}."
        stages += [
            stage_of(p + "ln1", Norm(b.ln1, keep_input=True)),
            stage_of(p + "attn.qkv", QKV(b.qkv, cfg.heads, prenorm=True)),
            stage_of(p + "attn.core", _core(attention, cfg, True, i)),
            stage_of(p + "attn.proj", ResidualLinear(b.proj)),
            stage_of(p + "ln2", Norm(b.ln2, keep_input=True)),
            stage_of(p + "mlp.up", BranchLinear(b.up, prenorm=True)),
            stage_of(p + "mlp.act", Act("gelu_tanh")),
            stage_of(p + "mlp.down", ResidualLinear(b.down)),
        ]
    stages += [stage_of("ln_f", Norm(ln_f, keep_input=False)), stage_of("lm_head", LastTokenHead(wte.weight))]
    desc = (f"{cfg.blocks} pre-norm causal blocks, d={cfg.d}, {cfg.heads} heads, MLP {cfg.mlp}, "
            f"vocab {cfg.vocab}; prefill, last-position logits")
    return _finish("gpt2-like", desc, stages, _ids_maker(cfg.vocab), GPT2Ref(cfg, wte, wpe, blocks, ln_f), cfg,
                   attention)


# --- bert-base: post-norm bidirectional encoder -------------------------------------------------

class BertRef(_Cores, nn.Module):
    def __init__(self, cfg, wte, wpe, tte, ln_e, blocks, pool) -> None:
        super().__init__()
        self.cfg, self.wte, self.wpe, self.tte = cfg, wte, wpe, tte
        self.ln_e, self.blocks, self.pool = ln_e, blocks, pool
        self.sdpa = False

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device)) + self.tte.weight[0]
        x = self.ln_e(x)
        for i, b in enumerate(self.blocks):
            q, k, v = b.qkv(x).chunk(3, dim=-1)
            x = b.ln1(x + b.proj(_attend(q, k, v, self.cfg.heads, False, self.sdpa, self.core(i))))
            x = b.ln2(x + b.down(F.gelu(b.up(x))))
        return torch.tanh(self.pool(x[:, 0]))


def bert_base(cfg: TextConfig = BERT_BASE, attention: Attention | None = None) -> Chain:
    torch.manual_seed(0)
    wte, wpe, tte = nn.Embedding(cfg.vocab, cfg.d), nn.Embedding(cfg.max_len, cfg.d), nn.Embedding(2, cfg.d)
    ln_e, pool = nn.LayerNorm(cfg.d), nn.Linear(cfg.d, cfg.d)
    block_list = [_block(cfg) for _ in range(cfg.blocks)]
    blocks = nn.ModuleList(block_list)
    stages = [stage_of("embed", Embed(wte, wpe, type_row=tte)), stage_of("embed.ln", Norm(ln_e, keep_input=False))]
    for i, b in enumerate(block_list):
        p = f"h{i}."
        stages += [
            stage_of(p + "attn.qkv", QKV(b.qkv, cfg.heads, prenorm=False)),
            stage_of(p + "attn.core", _core(attention, cfg, False, i)),
            stage_of(p + "attn.proj", ResidualLinear(b.proj)),
            stage_of(p + "ln1", Norm(b.ln1, keep_input=False)),
            stage_of(p + "mlp.up", BranchLinear(b.up, prenorm=False)),
            stage_of(p + "mlp.act", Act("gelu")),
            stage_of(p + "mlp.down", ResidualLinear(b.down)),
            stage_of(p + "ln2", Norm(b.ln2, keep_input=False)),
        ]
    stages.append(stage_of("pooler", Pooler(pool)))
    desc = (f"{cfg.blocks} post-norm encoder blocks, d={cfg.d}, {cfg.heads} heads, MLP {cfg.mlp}, "
            f"vocab {cfg.vocab}, positions up to {cfg.max_len}; output: pooled [CLS]")
    ref = BertRef(cfg, wte, wpe, tte, ln_e, blocks, pool)
    return _finish("bert-base", desc, stages, _ids_maker(cfg.vocab), ref, cfg, attention)


# --- transformer: the original post-norm encoder-decoder ---------------------------------------

class TransformerRef(_Cores, nn.Module):
    def __init__(self, cfg, emb, pe, enc, dec) -> None:
        super().__init__()
        self.cfg, self.emb, self.pe, self.enc, self.dec, self.sdpa = cfg, emb, pe, enc, dec, False

    def _embed(self, ids):
        return self.emb(ids) * math.sqrt(self.cfg.d) + self.pe(torch.arange(ids.shape[1], device=ids.device))

    def forward(self, tgt, src):
        h, x, n = self.cfg.heads, self._embed(src), len(self.enc)
        for i, b in enumerate(self.enc):
            q, k, v = b.qkv(x).chunk(3, dim=-1)
            x = b.ln1(x + b.proj(_attend(q, k, v, h, False, self.sdpa, self.core(i))))
            x = b.ln2(x + b.down(F.relu(b.up(x))))
        y = self._embed(tgt)
        for i, b in enumerate(self.dec):
            q, k, v = b.qkv(y).chunk(3, dim=-1)
            y = b.ln1(y + b.proj(_attend(q, k, v, h, True, self.sdpa, self.core(n + 2 * i))))
            k, v = b.ckv(x).chunk(2, dim=-1)
            y = b.ln2(y + b.cproj(_attend(b.cq(y), k, v, h, False, self.sdpa, self.core(n + 2 * i + 1))))
            y = b.ln3(y + b.down(F.relu(b.up(y))))
        return F.linear(y[:, -1], self.emb.weight)


def _encoder_stages(p: str, b, heads: int, core: nn.Module) -> list:
    return [
        stage_of(p + "attn.qkv", QKV(b.qkv, heads, prenorm=False)),
        stage_of(p + "attn.core", core),
        stage_of(p + "attn.proj", ResidualLinear(b.proj)),
        stage_of(p + "ln1", Norm(b.ln1, keep_input=False)),
        stage_of(p + "mlp.up", BranchLinear(b.up, prenorm=False)),
        stage_of(p + "mlp.act", Act("relu")),
        stage_of(p + "mlp.down", ResidualLinear(b.down)),
        stage_of(p + "ln2", Norm(b.ln2, keep_input=False)),
    ]


def _decoder_stages(p: str, b, heads: int, cores: tuple) -> list:
    return [
        stage_of(p + "self_attn.qkv", QKV(b.qkv, heads, prenorm=False)),
        stage_of(p + "self_attn.core", cores[0]),
        stage_of(p + "self_attn.proj", ResidualLinear(b.proj)),
        stage_of(p + "ln1", Norm(b.ln1, keep_input=False)),
        stage_of(p + "cross_attn.qkv", CrossQKV(b.cq, b.ckv, heads)),
        stage_of(p + "cross_attn.core", cores[1]),
        stage_of(p + "cross_attn.proj", ResidualLinear(b.cproj)),
        stage_of(p + "ln2", Norm(b.ln2, keep_input=False)),
        stage_of(p + "mlp.up", BranchLinear(b.up, prenorm=False)),
        stage_of(p + "mlp.act", Act("relu")),
        stage_of(p + "mlp.down", ResidualLinear(b.down)),
        stage_of(p + "ln3", Norm(b.ln3, keep_input=False)),
    ]


def transformer(cfg: TextConfig = TRANSFORMER, attention: Attention | None = None) -> Chain:
    """State: (tgt_ids, src_ids) -> encoder (tgt_ids, x) -> decoder (memory, y) -> logits."""
    torch.manual_seed(0)
    emb, pe = nn.Embedding(cfg.vocab, cfg.d), Sinusoid(cfg.max_len, cfg.d)
    enc = nn.ModuleList(_block(cfg) for _ in range(cfg.blocks))
    dec = nn.ModuleList(_block(cfg, cross=True) for _ in range(cfg.blocks))
    scale = math.sqrt(cfg.d)
    stages = [stage_of("enc.embed", Embed(emb, pe, scale=scale, ids_index=1))]
    n = cfg.blocks
    for i, b in enumerate(enc):
        stages += _encoder_stages(f"enc{i}.", b, cfg.heads, _core(attention, cfg, False, i))
    stages.append(stage_of("dec.embed", Embed(emb, pe, scale=scale, ids_index=0)))
    for i, b in enumerate(dec):
        cores = (_core(attention, cfg, True, n + 2 * i), _core(attention, cfg, False, n + 2 * i + 1))
        stages += _decoder_stages(f"dec{i}.", b, cfg.heads, cores)
    stages.append(stage_of("generator", LastTokenHead(emb.weight)))
    desc = (f"encoder-decoder, {cfg.blocks}+{cfg.blocks} post-norm blocks, d={cfg.d}, {cfg.heads} heads, "
            f"FFN {cfg.mlp} (ReLU), shared vocab {cfg.vocab}; source = target length; last-position logits")
    return _finish("transformer", desc, stages, _ids_maker(cfg.vocab, 2), TransformerRef(cfg, emb, pe, enc, dec), cfg,
                   attention)

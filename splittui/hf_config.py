"""Hugging Face `config.json` → architecture numbers → per-stage FLOPs and bytes (SPEC §9). Pure Python.

Families: llama, mistral, qwen2, phi3, gemma, gemma2, gpt2. :func:`read_config` validates a file (or a
folder holding ``config.json``); :func:`arch_from_dict` a decoded one. Every problem raises a
:class:`~splittui.errors.SplittuiError` naming the field.

Conventions (stated once, used everywhere):

* FLOP = 2 per multiply-add. ``mm_flops`` counts matrix products only (what torch's FlopCounterMode
  counts); ``elem_flops`` the element-wise work (norms, softmax, activation, residual adds), a few
  FLOP per element, negligible next to the products but kept so norm stages are not free.
* Attention core at prefill length ``s``: ``2·2·s²·d_q`` — the **full** ``s×s`` score matrix and its
  product with ``V``, as eager/SDPA-math kernels compute it. A causal flash kernel that skips masked
  blocks does about half; this model does not assume one. Decode at context ``c``: ``2·2·c·d_q``.
* The LM head runs for the last position only (next-token logits of the prefill).
* Activations and the KV cache are kept in 16-bit (32-bit for fp32); int8/int4 are weight-only
  quantisation (W8A16 / W4A16) in llama.cpp's Q8_0 / Q4_0 block formats: 32 weights per block with one
  fp16 scale, i.e. 8.5 and 4.5 bits per weight (:func:`weight_bits`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .errors import SplittuiError

__all__ = ["Arch", "StageCost", "DTYPES", "FAMILIES", "read_config", "arch_from_dict", "param_count",
           "weight_bytes_per_param", "weight_bits", "act_bytes", "chain_parts", "prefill_stages", "decode_stages",
           "stage_names"]

FAMILIES = ("llama", "mistral", "qwen2", "phi3", "gemma", "gemma2", "gpt2")
_GROUP = 32  # weights per fp16 scale in int8/int4 (llama.cpp Q8_0 / Q4_0 blocks: 8.5 and 4.5 bits per weight)
DTYPES: dict[str, tuple[float, int]] = {  # dtype -> (bytes per matmul weight, bytes per activation)
    "fp32": (4.0, 4), "fp16": (2.0, 2), "bf16": (2.0, 2),
    "int8": (1.0 + 2.0 / _GROUP, 2), "int4": (0.5 + 2.0 / _GROUP, 2),
    # llama.cpp's Q4_K_M mix (most tensors Q4_K at 4.5 bits, some Q6_K at 6.5625): 4.85 bits per weight on average
    "q4_k_m": (4.85 / 8.0, 2),
}


@dataclass(frozen=True, slots=True)
class Arch:
    """The architecture numbers of one decoder-only model (names as in SPEC §9)."""

    name: str
    family: str
    d: int            # hidden_size
    n_layers: int     # num_hidden_layers
    h: int            # num_attention_heads
    h_kv: int         # num_key_value_heads
    e: int            # head_dim
    d_ff: int         # intermediate_size
    vocab: int
    max_pos: int
    gated: bool       # SwiGLU/GeGLU: gate, up, down
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    layer_norm: bool  # LayerNorm (weight + bias) instead of RMSNorm (weight)
    post_norms: bool  # Gemma-2's extra norms after attention and after the MLP
    tied: bool        # LM head shares the embedding matrix
    pos_embed: int    # learned absolute positions (GPT-2), else 0
    fused_qkv: bool   # one projection module for q, k, v (phi3, gpt2)

    @property
    def d_q(self) -> int:
        return self.h * self.e

    @property
    def d_kv(self) -> int:
        return self.h_kv * self.e


class StageCost(NamedTuple):
    """One stage at one length. Bytes are per request; weight_bytes is what the stage holds."""

    name: str
    kind: str
    mm_flops: float
    elem_flops: float
    in_bytes: float
    weight_bytes: float
    weights_read: float   # bytes of weights touched (an embedding reads only the rows it looks up)
    kv_bytes: float       # KV-cache bytes per token held by this stage
    kv_read: float        # KV-cache bytes read (decode attention)
    kernels: int


# ---------------------------------------------------------------- reading and validating a config

def read_config(path: str | Path, *, name: str | None = None) -> Arch:
    """Read `path` (a config.json, or a folder holding one) and validate it."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SplittuiError(f"--hf-config {path}: cannot read {p} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise SplittuiError(f"--hf-config {path}: not valid JSON ({exc})") from None
    return arch_from_dict(doc, name=name or p.parent.name or p.stem, source=str(p))


def _field(doc: dict[str, Any], key: str, source: str, *, default: Any = None, required: bool = True) -> int:
    value = doc.get(key)
    if value is None:       # absent or an explicit null (as transformers reads it): the default
        value = default
    if value is None:
        if required:
            raise SplittuiError(f"{source}: field '{key}': missing")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise SplittuiError(f"{source}: field '{key}': must be a positive integer, got {value!r}")
    if value <= 0:
        raise SplittuiError(f"{source}: field '{key}': must be a positive integer, got {value}")
    return value


def _flag(doc: dict[str, Any], key: str, default: bool, source: str) -> bool:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SplittuiError(f"{source}: field '{key}': must be true or false, got {value!r}")
    return value


def _family(doc: dict[str, Any], source: str) -> str:
    family = doc.get("model_type")
    if family is None:
        raise SplittuiError(f"{source}: field 'model_type': missing")
    if family not in FAMILIES:
        raise SplittuiError(f"{source}: field 'model_type': {family!r} is not supported "
                            f"(supported: {', '.join(FAMILIES)})")
    return str(family)


def arch_from_dict(doc: object, *, name: str = "model", source: str = "<config>") -> Arch:
    """Validate a decoded config.json and return its :class:`Arch`."""
    if not isinstance(doc, dict):
        raise SplittuiError(f"{source}: top level must be a JSON object")
    family = _family(doc, source)
    return _gpt2(doc, name, source) if family == "gpt2" else _llama_like(doc, family, name, source)


def _heads(doc: dict[str, Any], d: int, h: int, h_kv: int, e_key: str, source: str) -> int:
    if h_kv > h or h % h_kv:
        raise SplittuiError(f"{source}: field 'num_key_value_heads': {h_kv} does not divide "
                            f"num_attention_heads {h}")
    if doc.get(e_key) is not None:
        return _field(doc, e_key, source)
    if d % h:
        raise SplittuiError(f"{source}: field 'num_attention_heads': {h} does not divide hidden_size {d} "
                            f"(and no '{e_key}' is given)")
    return d // h


def _llama_like(doc: dict[str, Any], family: str, name: str, source: str) -> Arch:
    d = _field(doc, "hidden_size", source)
    h = _field(doc, "num_attention_heads", source)
    h_kv = _field(doc, "num_key_value_heads", source, default=h)
    e = _heads(doc, d, h, h_kv, "head_dim", source)
    gemma = family.startswith("gemma")
    attn_bias = _flag(doc, "attention_bias", family == "qwen2", source)
    return Arch(
        name=name, family=family, d=d, n_layers=_field(doc, "num_hidden_layers", source), h=h, h_kv=h_kv,
        e=e, d_ff=_field(doc, "intermediate_size", source), vocab=_field(doc, "vocab_size", source),
        max_pos=_field(doc, "max_position_embeddings", source, default=131072),
        gated=True, qkv_bias=attn_bias, o_bias=attn_bias and family != "qwen2",
        mlp_bias=_flag(doc, "mlp_bias", False, source), layer_norm=False, post_norms=family == "gemma2",
        tied=_flag(doc, "tie_word_embeddings", gemma, source), pos_embed=0, fused_qkv=family == "phi3",
    )


def _gpt2(doc: dict[str, Any], name: str, source: str) -> Arch:
    d = _field(doc, "n_embd", source)
    h = _field(doc, "n_head", source)
    e = _heads(doc, d, h, h, "head_dim", source)
    n_pos = _field(doc, "n_positions", source, default=1024)
    d_ff = _field(doc, "n_inner", source, required=False) or 4 * d
    return Arch(
        name=name, family="gpt2", d=d, n_layers=_field(doc, "n_layer", source), h=h, h_kv=h, e=e,
        d_ff=d_ff, vocab=_field(doc, "vocab_size", source), max_pos=n_pos, gated=False, qkv_bias=True,
        o_bias=True, mlp_bias=True, layer_norm=True, post_norms=False,
        tied=_flag(doc, "tie_word_embeddings", True, source), pos_embed=n_pos, fused_qkv=True,
    )


# ---------------------------------------------------------------- parameters and bytes

def _norm_params(a: Arch) -> int:
    return 2 * a.d if a.layer_norm else a.d


def _block_params(a: Arch) -> dict[str, int]:
    qkv = a.d * (a.d_q + 2 * a.d_kv) + (a.d_q + 2 * a.d_kv if a.qkv_bias else 0)
    o = a.d_q * a.d + (a.d if a.o_bias else 0)
    up_n = 2 if a.gated else 1
    up = up_n * a.d * a.d_ff + (up_n * a.d_ff if a.mlp_bias else 0)
    down = a.d_ff * a.d + (a.d if a.mlp_bias else 0)
    norms = (4 if a.post_norms else 2) * _norm_params(a)
    return {"qkv": qkv, "o": o, "up": up, "down": down, "norms": norms}


def param_count(a: Arch) -> int:
    """Total parameters (tied embeddings counted once)."""
    embed = a.vocab * a.d + a.pos_embed * a.d
    head = 0 if a.tied else a.vocab * a.d
    return embed + a.n_layers * sum(_block_params(a).values()) + _norm_params(a) + head


def weight_bytes_per_param(dtype: str) -> float:
    return _dtype(dtype)[0]


def weight_bits(dtype: str) -> float:
    """Real bits per matmul weight of a dtype, block scales included: fp32 32, fp16/bf16 16, int8 8.5
    (Q8_0: 32 int8 weights + one fp16 scale per block), int4 4.5 (Q4_0: 32 4-bit weights + one fp16 scale),
    q4_k_m 4.85 (llama.cpp's Q4_K_M file, a 4-bit format like int4 with some tensors at 6 bits)."""
    return 8.0 * _dtype(dtype)[0]


def act_bytes(dtype: str) -> int:
    return _dtype(dtype)[1]


def _dtype(dtype: str) -> tuple[float, int]:
    if dtype not in DTYPES:
        raise SplittuiError(f"--dtype: unknown dtype {dtype!r} (choose from {', '.join(DTYPES)})")
    return DTYPES[dtype]


# ---------------------------------------------------------------- stages

def stage_names(a: Arch) -> list[tuple[str, str]]:
    """(name, kind) of every stage, in chain order."""
    return [(name, kind) for name, kind, *_ in _chain(a, 1, 1, dtype="fp32", decode=False)]


def prefill_stages(a: Arch, s: int, *, dtype: str) -> list[StageCost]:
    """Every stage over a prompt of `s` tokens."""
    return _chain(a, s, s, dtype=dtype, decode=False)


def decode_stages(a: Arch, c: int, *, dtype: str) -> list[StageCost]:
    """Every stage of one decode step (one new token) with `c` tokens already in the KV cache."""
    return _chain(a, 1, c, dtype=dtype, decode=True)


def chain_parts(a: Arch, s: int, ctx: int, *, dtype: str, decode: bool, head_bits: float | None = None
                ) -> tuple[StageCost, list[StageCost], list[StageCost]]:
    """(embedding, one block's stages, head stages): every block costs the same, so callers that need
    speed build one block and repeat it; names in the block are relative (``ln1``, ``attn.core``).
    `head_bits`: the LM head's bits per weight where a runtime keeps it at another precision than the
    blocks (`calibration.head_bits`: llama.cpp's Q6_K output tensor, AWQ's 16-bit head); None: the dtype's."""
    wb, ab = _dtype(dtype)
    hb = wb if head_bits is None else head_bits / 8.0
    return _embedding(a, s, wb, ab), _block_template(a, s, ctx, wb, ab, decode), _head(a, s, hb, ab)


def _chain(a: Arch, s: int, ctx: int, *, dtype: str, decode: bool) -> list[StageCost]:
    embed, block, head = chain_parts(a, s, ctx, dtype=dtype, decode=decode)
    stages = [embed]
    for i in range(a.n_layers):
        stages += [st._replace(name=f"h{i}.{st.name}") for st in block]
    return stages + head


def _embedding(a: Arch, s: int, wb: float, ab: int) -> StageCost:
    rows = min(s, a.vocab)
    elem = s * a.d if (a.pos_embed or a.family.startswith("gemma")) else 0  # position add / sqrt(d) scale
    held = (a.vocab + a.pos_embed) * a.d * wb
    read = rows * a.d * wb * (2 if a.pos_embed else 1)
    return StageCost("embed", "embedding", 0.0, float(elem), 4.0 * s, held, read, 0.0, 0.0, 1)


def _norm(name: str, a: Arch, s: int, ab: int, in_b: float) -> StageCost:
    per = 9 if a.layer_norm else 5  # the norm, plus the residual add just before it
    return StageCost(name, "norm", 0.0, float(per * s * a.d), in_b, _norm_params(a) * ab,
                     _norm_params(a) * ab, 0.0, 0.0, 1)


def _linear(name: str, s: int, n_in: int, n_out: int, bias: bool, wb: float, ab: int, in_b: float,
            kernels: int = 1) -> StageCost:
    w = n_in * n_out * wb + (n_out * ab if bias else 0)
    return StageCost(name, "linear", 2.0 * s * n_in * n_out, float(s * n_out if bias else 0), in_b, w, w,
                     0.0, 0.0, kernels)


def _block_template(a: Arch, s: int, ctx: int, wb: float, ab: int, decode: bool) -> list[StageCost]:
    """One block's stages. in_bytes = the state alive at the cut before the stage (residual + what the
    stage needs), for `s` tokens. Attention attends to `ctx` keys (ctx = s at prefill)."""
    d, sd = a.d, s * a.d * ab
    qkv_out = a.d_q + 2 * a.d_kv
    kv_tok = 2.0 * a.d_kv * ab
    core_mm = 2.0 * 2.0 * s * ctx * a.d_q
    core_elem = 5.0 * a.h * s * ctx + (2.0 * s * a.d_q if not a.pos_embed else 0.0)  # softmax + scale (+ RoPE)
    core = StageCost("attn.core", "attention", core_mm, core_elem, s * (d + qkv_out) * ab, 0.0, 0.0, kv_tok,
                     kv_tok * ctx if decode else 0.0, 3)
    st = [
        _norm("ln1", a, s, ab, sd),
        _linear("attn.qkv", s, d, qkv_out, a.qkv_bias, wb, ab, 2 * sd, 1 if a.fused_qkv else 3),
        core,
        _linear("attn.o", s, a.d_q, d, a.o_bias, wb, ab, s * (d + a.d_q) * ab),
    ]
    if a.post_norms:
        st.append(_norm("attn.post_norm", a, s, ab, 2 * sd))
    up_n = 2 if a.gated else 1
    up = _linear("mlp.gate_up" if a.gated else "mlp.up", s, d, up_n * a.d_ff, a.mlp_bias, wb, ab, 2 * sd,
                 1 if a.family == "phi3" or not a.gated else 2)
    act_elem = (5.0 if a.gated else 4.0) * s * a.d_ff
    st += [
        _norm("ln2", a, s, ab, sd),
        up,
        StageCost("mlp.act", "activation", 0.0, act_elem, s * (d + up_n * a.d_ff) * ab, 0.0, 0.0, 0.0, 0.0, 1),
        _linear("mlp.down", s, a.d_ff, d, a.mlp_bias, wb, ab, s * (d + a.d_ff) * ab),
    ]
    if a.post_norms:
        st.append(_norm("mlp.post_norm", a, s, ab, 2 * sd))
    return st


def _head(a: Arch, s: int, wb: float, ab: int) -> list[StageCost]:
    """Final norm over every position, then the LM head on the last position only."""
    head_w = a.vocab * a.d * wb
    return [_norm("ln_f", a, s, ab, s * a.d * ab),
            StageCost("lm_head", "linear", 2.0 * a.d * a.vocab, 0.0, float(a.d * ab), head_w, head_w, 0.0, 0.0, 1)]

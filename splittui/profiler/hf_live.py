"""Live profiling of a Hugging Face architecture (optional `hf` extra: transformers).

The model is built from its config with random weights on this CPU (never downloaded), eager
attention (so the score matrix is an explicit matmul FlopCounterMode can see), fp32. Stages are the
analytic chain's (:mod:`splittui.hf_config`); each maps to modules of the transformers model, and a
stage's cost is its modules' cost (``attn.core`` = the attention module minus its projections).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable

from ..errors import SplittuiError
from ..hf_config import Arch

__all__ = ["build_model", "hf_config_dict", "stage_modules", "count_stage_flops", "measure_stage_ms"]

_NAMES = {  # family -> our stage -> module path(s) inside one block ("-" = subtract from the parent)
    "llama": {"ln1": ["input_layernorm"], "attn.qkv": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
              "attn.o": ["self_attn.o_proj"], "ln2": ["post_attention_layernorm"],
              "mlp.gate_up": ["mlp.gate_proj", "mlp.up_proj"], "mlp.act": ["mlp.act_fn"],
              "mlp.down": ["mlp.down_proj"]},
    "phi3": {"ln1": ["input_layernorm"], "attn.qkv": ["self_attn.qkv_proj"], "attn.o": ["self_attn.o_proj"],
             "ln2": ["post_attention_layernorm"], "mlp.gate_up": ["mlp.gate_up_proj"],
             "mlp.act": ["mlp.activation_fn"], "mlp.down": ["mlp.down_proj"]},
    "gpt2": {"ln1": ["ln_1"], "attn.qkv": ["attn.c_attn"], "attn.o": ["attn.c_proj"], "ln2": ["ln_2"],
             "mlp.up": ["mlp.c_fc"], "mlp.act": ["mlp.act"], "mlp.down": ["mlp.c_proj"]},
}
_NAMES["mistral"] = _NAMES["qwen2"] = _NAMES["gemma"] = _NAMES["llama"]
_NAMES["gemma2"] = {**_NAMES["llama"], "attn.post_norm": ["post_attention_layernorm"],
                    "ln2": ["pre_feedforward_layernorm"], "mlp.post_norm": ["post_feedforward_layernorm"]}
_ATTN = {"gpt2": "attn"}


def _import():
    try:
        import torch
        import transformers
    except ModuleNotFoundError as exc:
        raise SplittuiError(f"live profiling of a config needs the 'hf' extra ({exc.name} is missing): "
                            "pip install 'splittui[hf]'") from None
    return torch, transformers


def hf_config_dict(arch: Arch) -> dict:
    """A transformers config dict with exactly `arch`'s numbers (what the analytic model saw)."""
    if arch.family == "gpt2":
        return {"model_type": "gpt2", "n_embd": arch.d, "n_layer": arch.n_layers, "n_head": arch.h,
                "n_inner": arch.d_ff, "vocab_size": arch.vocab, "n_positions": arch.max_pos,
                "tie_word_embeddings": arch.tied}
    doc = {"model_type": arch.family, "hidden_size": arch.d, "num_hidden_layers": arch.n_layers,
           "num_attention_heads": arch.h, "num_key_value_heads": arch.h_kv, "head_dim": arch.e,
           "intermediate_size": arch.d_ff, "vocab_size": arch.vocab, "max_position_embeddings": arch.max_pos,
           "tie_word_embeddings": arch.tied}
    if arch.family == "llama":
        doc.update(attention_bias=arch.qkv_bias, mlp_bias=arch.mlp_bias)
    if arch.family == "phi3":
        doc.update(original_max_position_embeddings=arch.max_pos, rope_scaling=None)
    return doc


def build_model(arch: Arch):
    """The transformers model with random weights, fp32, eager attention, eval mode, on the CPU."""
    torch, transformers = _import()
    doc = hf_config_dict(arch)
    tokens = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}  # ids may exceed a tiny vocab
    cfg = transformers.AutoConfig.for_model(doc.pop("model_type"), **doc, **tokens)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    return model.float().eval()


def _blocks(model, family: str):
    return model.transformer.h if family == "gpt2" else model.model.layers


def stage_modules(model, arch: Arch) -> dict[str, tuple[list, list]]:
    """stage name -> (modules whose cost adds, modules whose cost subtracts)."""
    base = model.transformer if arch.family == "gpt2" else model.model
    out: dict[str, tuple[list, list]] = {}
    embed = [base.wte, base.wpe] if arch.family == "gpt2" else [base.embed_tokens]
    out["embed"] = (embed, [])
    names = _NAMES[arch.family]
    for i, block in enumerate(_blocks(model, arch.family)):
        for stage, paths in names.items():
            out[f"h{i}.{stage}"] = ([block.get_submodule(p) for p in paths], [])
        attn = block.get_submodule(_ATTN.get(arch.family, "self_attn"))
        proj = [block.get_submodule(p) for p in names["attn.qkv"] + names["attn.o"]]
        out[f"h{i}.attn.core"] = ([attn], proj)
    out["ln_f"] = ([base.ln_f if arch.family == "gpt2" else base.norm], [])
    out["lm_head"] = ([model.lm_head], [])
    return out


def _inputs(arch: Arch, s: int):
    torch, _ = _import()
    return torch.randint(0, arch.vocab, (1, s), generator=torch.Generator().manual_seed(s))


def count_stage_flops(model, arch: Arch, s: int) -> dict[str, float]:
    """FLOPs per stage by torch's FlopCounterMode (matmuls only; 2 FLOP per multiply-add)."""
    torch, _ = _import()
    from torch.utils.flop_counter import FlopCounterMode

    fqn = {mod: name for name, mod in model.named_modules()}
    root = type(model).__name__
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(input_ids=_inputs(arch, s), logits_to_keep=1, use_cache=False)
    counts = {k: float(sum(v.values())) for k, v in fc.get_flop_counts().items()}

    def of(mod) -> float:
        name = fqn[mod]
        return counts.get(f"{root}.{name}" if name else root, 0.0)

    return {stage: sum(of(m) for m in plus) - sum(of(m) for m in minus)
            for stage, (plus, minus) in stage_modules(model, arch).items()}


def measure_stage_ms(model, arch: Arch, seqs: list[int], *, repeats: int = 5, threads: int = 1,
                     progress: Callable[[int, int, str], None] | None = None) -> dict[str, list[float]]:
    """Median per-stage wall time (ms) of whole forward passes, split by module hooks, per length."""
    torch, _ = _import()
    torch.set_num_threads(threads)
    stages = stage_modules(model, arch)
    spent: dict[int, float] = defaultdict(float)
    starts: dict[int, float] = {}
    mods = {id(m): m for plus, minus in stages.values() for m in plus + minus}
    handles = []
    for key, mod in mods.items():
        handles.append(mod.register_forward_pre_hook(lambda _m, _a, k=key: starts.__setitem__(k, time.perf_counter())))
        handles.append(mod.register_forward_hook(
            lambda _m, _a, _o, k=key: spent.__setitem__(k, spent[k] + time.perf_counter() - starts[k])))
    result: dict[str, list[float]] = {name: [] for name in stages}
    try:
        for n, s in enumerate(seqs):
            runs = []
            ids = _inputs(arch, s)
            for r in range(repeats + 1):
                spent.clear()
                with torch.no_grad():
                    model(input_ids=ids, logits_to_keep=1, use_cache=False)
                if r:  # the first run warms up
                    runs.append({name: 1e3 * (sum(spent[id(m)] for m in plus) - sum(spent[id(m)] for m in minus))
                                 for name, (plus, minus) in stages.items()})
                if progress:
                    progress(n * (repeats + 1) + r + 1, len(seqs) * (repeats + 1), f"seq {s} · run {r}")
            for name in stages:
                vals = sorted(run[name] for run in runs)
                result[name].append(max(vals[len(vals) // 2], 0.0))
    finally:
        for h in handles:
            h.remove()
    return result

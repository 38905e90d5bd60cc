"""splittui's LLM model (hf_config, llm, devices) against the independent §9 oracle
(tests/core/oracle_device.py, no splittui code): parameter counts, every stage's FLOPs and bytes, KV
bytes per token, the roofline, and every per-layer field of the analytic profile document, on random
valid configs of every family (GQA, explicit head_dim as Gemma's, tied or not, gated or plain MLPs,
biases, post-norms, learned positions) and random devices in both roofline regimes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import oracle_device as D
import pytest
from core_strategies import CORE
from hypothesis import given, settings
from hypothesis import strategies as st

from splittui.devices import PRESETS, Device
from splittui.hf_config import arch_from_dict, decode_stages, param_count, prefill_stages
from splittui.llm import load_arch, profile_doc_for, retime
from splittui.profiles import profile_from_doc

_N = settings.default.max_examples   # the hypothesis profile's (conftest.py): core 60, bench 600, mutation 20
DEV = settings(CORE, max_examples=_N // 2 if _N >= 60 else _N)
CONFIGS = Path(__file__).resolve().parents[2] / "profiles" / "configs"
DTYPES = ("fp32", "fp16", "bf16", "int8", "int4", "q4_k_m")
LLAMA_LIKE = ("llama", "mistral", "qwen2", "phi3", "gemma", "gemma2")

# Published totals (safetensors parameter count on each model's Hugging Face page), pinned exactly.
PUBLISHED = {
    "llama-3.2-1b": 1_235_814_400, "llama-3.2-3b": 3_212_749_824, "llama-3.1-8b": 8_030_261_248,
    "qwen2.5-0.5b": 494_032_768, "qwen2.5-7b": 7_615_616_512, "mistral-7b-v0.3": 7_248_023_552,
    "phi-3-mini": 3_821_079_552, "gemma-2-2b": 2_614_341_888, "gpt2": 124_439_808, "gpt2-xl": 1_557_611_200,
}


def _maybe(draw, key: str, strategy, null: bool = True) -> dict:
    """{key: value}, or {} (the family default applies), or {key: None} (a flag spelled null: the same)."""
    how = draw(st.integers(0 if null else 1, 3))
    return {key: None} if how == 0 else {} if how == 1 else {key: draw(strategy)}


@st.composite
def configs(draw) -> dict:
    fam = draw(st.sampled_from((*LLAMA_LIKE, "gpt2")))
    if fam == "gpt2":
        h = draw(st.integers(1, 6))
        cfg = {"model_type": fam, "n_embd": h * draw(st.integers(1, 12)), "n_head": h,
               "n_layer": draw(st.integers(1, 3)), "vocab_size": draw(st.integers(1, 400))}
        cfg |= _maybe(draw, "n_inner", st.integers(1, 200)) | _maybe(draw, "n_positions", st.integers(1, 200), False)
        return cfg | _maybe(draw, "tie_word_embeddings", st.booleans())
    h_kv = draw(st.sampled_from((1, 2, 3, 4)))
    h = h_kv * draw(st.integers(1, 4))                           # GQA: h_kv divides h (= h: plain MHA)
    cfg = {"model_type": fam, "num_attention_heads": h, "num_hidden_layers": draw(st.integers(1, 3)),
           "intermediate_size": draw(st.integers(1, 200)), "vocab_size": draw(st.integers(1, 400))}
    if draw(st.booleans()):                                      # an explicit head_dim (Gemma: not d/h)
        cfg |= {"head_dim": draw(st.integers(1, 24)), "hidden_size": draw(st.integers(1, 96))}
    else:
        cfg["hidden_size"] = h * draw(st.integers(1, 16))
    cfg["num_key_value_heads"] = h_kv if h_kv != h or draw(st.booleans()) else None
    cfg = {k: v for k, v in cfg.items() if v is not None}
    for key in ("attention_bias", "mlp_bias", "tie_word_embeddings"):
        cfg |= _maybe(draw, key, st.booleans())
    return cfg


@st.composite
def devices(draw, name: str) -> Device:
    """A random device; compute- or memory-bound depending on the draw (peaks 1e-4..1e3 TFLOP/s)."""
    num = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    return Device(name=name, role="client", label=name, fp32_tflops=draw(num(1e-4, 1e3)),
                  fp16_tflops=draw(num(1e-4, 1e3)), mem_gbps=draw(num(1e-2, 1e4)), source="hypothesis",
                  eff_compute=draw(num(0.05, 1.0)), eff_mem=draw(num(0.05, 1.0)), overhead_us=draw(num(0.0, 50.0)))


def _dev_dict(dev: Device) -> dict:
    return {k: getattr(dev, k) for k in ("fp32_tflops", "fp16_tflops", "mem_gbps", "eff_compute", "eff_mem",
                                         "overhead_us")}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# ----- parameter counts -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts_are_pinned_exactly(name):
    cfg = json.loads((CONFIGS / f"{name}.json").read_text(encoding="utf-8"))
    assert D.params(D.arch(cfg)) == PUBLISHED[name]      # the oracle, from the config file's numbers
    assert param_count(load_arch(name)) == PUBLISHED[name]


@DEV
@given(configs())
def test_parameter_count_and_architecture(cfg):
    a, want = arch_from_dict(cfg), D.arch(cfg)
    got = {"d": a.d, "L": a.n_layers, "h": a.h, "h_kv": a.h_kv, "e": a.e, "d_ff": a.d_ff, "V": a.vocab,
           "gated": a.gated, "tied": a.tied, "pos": a.pos_embed}
    assert got == {k: want[k] for k in got}, (got, want)
    assert param_count(a) == D.params(want)


# ----- stages: FLOPs, bytes, KV -------------------------------------------------------------------------

_STAGE = {"mm_flops": "mm", "elem_flops": "elem", "in_bytes": "in_bytes", "weight_bytes": "held",
          "weights_read": "read", "kv_bytes": "kv_tok", "kv_read": "kv_read", "kernels": "kernels"}


def _check_stages(got, want, what) -> None:
    assert [(x.name, x.kind) for x in got] == [(w["name"], w["kind"]) for w in want], what
    for x, w in zip(got, want, strict=True):
        for field, key in _STAGE.items():
            assert _close(float(getattr(x, field)), float(w[key])), (what, x.name, field, getattr(x, field), w[key])


@DEV
@given(configs(), st.sampled_from(DTYPES), st.integers(1, 300))
def test_prefill_and_decode_stages(cfg, dtype, s):
    a, oa = arch_from_dict(cfg), D.arch(cfg)
    _check_stages(prefill_stages(a, s, dtype=dtype), D.stages(oa, s, s, dtype, False), ("prefill", s))
    _check_stages(decode_stages(a, s, dtype=dtype), D.stages(oa, 1, s, dtype, True), ("decode", s))
    # KV per token and layer is 2·d_kv·bytes (GQA: d_kv = h_kv·e, not d)
    ab = D.dtype_bytes(dtype)[1]
    kv = [x.kv_bytes for x in prefill_stages(a, s, dtype=dtype) if x.kind == "attention"]
    assert kv == [2.0 * oa["h_kv"] * oa["e"] * ab] * oa["L"]


# ----- the roofline --------------------------------------------------------------------------------------

@CORE
@given(devices("x"), st.floats(0, 1e15), st.floats(0, 1e12), st.integers(0, 5), st.booleans())
def test_roofline_time_is_the_larger_of_compute_and_memory(dev, flops, nbytes, kernels, fp32):
    got = dev.time_ms(flops, nbytes, kernels, fp32=fp32)
    assert _close(got, D.roofline_ms(flops, nbytes, kernels, _dev_dict(dev), fp32))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_roofline_on_every_preset_in_both_regimes(name):
    dev = PRESETS[name]
    for fp32 in (False, True):
        for flops, nbytes in ((1e15, 1.0), (1.0, 1e12), (3e12, 5e9)):   # compute-bound, memory-bound, mixed
            assert _close(dev.time_ms(flops, nbytes, 2, fp32=fp32),
                          D.roofline_ms(flops, nbytes, 2, _dev_dict(dev), fp32)), (name, fp32, flops, nbytes)


# ----- the analytic profile document, field by field -------------------------------------------------

@DEV
@given(configs(), st.sampled_from(DTYPES), devices("c"), devices("s"),
       st.lists(st.integers(1, 200), min_size=1, max_size=3, unique=True).map(sorted))
def test_profile_document_fields(cfg, dtype, client, server, lens):
    doc = profile_doc_for(cfg, dtype=dtype, client_device=client, server_device=server, seq_lens=lens)
    want = D.layer_fields(cfg, dtype, _dev_dict(client), _dev_dict(server), lens)
    assert doc["seq_lens"] == lens and doc["arch"]["params"] == want["params"]
    assert doc["output_bytes"] == want["output_bytes"] and doc["dec_output_bytes"] == want["dec_output_bytes"]
    assert len(doc["layers"]) == len(want["layers"])
    for got, w in zip(doc["layers"], want["layers"], strict=True):
        assert (got["name"], got["kind"]) == (w["name"], w["kind"])
        for key, values in w.items():
            if key in ("name", "kind"):
                continue
            assert len(got[key]) == len(values), (w["name"], key)
            for g, v in zip(got[key], values, strict=True):
                assert _close(g, v), (w["name"], key, g, v)
    profile_from_doc(doc)   # and it is a valid profile


@DEV
@given(configs(), devices("c"))
def test_retime_is_the_fp32_roofline_of_the_profile_numbers(cfg, dev):
    doc = profile_doc_for(cfg, dtype="bf16", seq_lens=[8, 32])
    for layer in doc["layers"]:
        layer.pop("mem_bytes") if layer["kind"] == "norm" else None   # without mem_bytes: 2 x in_bytes
    re = retime(profile_from_doc(doc), client_device=dev)
    for layer, entry in zip(re.layers, doc["layers"], strict=True):
        for i, ms in enumerate(layer.client_ms):
            moved = entry["mem_bytes"][i] if "mem_bytes" in entry else 2 * entry["in_bytes"][i]
            assert _close(ms, D.roofline_ms(entry["flops"][i], moved, 1, _dev_dict(dev), True)), layer.name
        assert layer.server_ms == tuple(entry["server_ms"])


def test_oracle_on_hand_computed_numbers():
    """The oracle itself on numbers worked out by hand (so it cannot drift along with splittui)."""
    cfg = {"model_type": "llama", "hidden_size": 8, "num_attention_heads": 4, "num_key_value_heads": 2,
           "intermediate_size": 16, "vocab_size": 10, "num_hidden_layers": 1}
    a = D.arch(cfg)
    assert (a["e"], a["h_kv"], a["tied"], a["q_bias"]) == (2, 2, False, False)
    # embed 80, q 64, k 32, v 32, o 64, gate+up+down 3x128, 2 norms 16, final norm 8, head 80
    assert D.params(a) == 80 + 64 + 32 + 32 + 64 + 384 + 16 + 8 + 80
    st3 = {x["name"]: x for x in D.stages(a, 3, 3, "bf16", False)}
    assert st3["h0.attn.qkv"]["mm"] == 2 * 3 * 8 * (8 + 2 * 4)           # q 2·s·d·d_q, k and v 2·s·d·d_kv
    assert st3["h0.attn.core"]["mm"] == 2 * 2 * 3 * 3 * 8                # 2·2·s²·d_q
    assert st3["h0.mlp.gate_up"]["mm"] + st3["h0.mlp.down"]["mm"] == 2 * 3 * 3 * 8 * 16
    assert st3["lm_head"]["mm"] == 2 * 8 * 10 and st3["h0.attn.core"]["kv_tok"] == 2 * 4 * 2
    dec = {x["name"]: x for x in D.stages(a, 1, 5, "bf16", True)}
    assert dec["h0.attn.core"]["mm"] == 2 * 2 * 5 * 8 and dec["h0.attn.core"]["kv_read"] == 16 * 5
    dev = {"fp32_tflops": 1.0, "fp16_tflops": 2.0, "mem_gbps": 100.0, "eff_compute": 0.5, "eff_mem": 0.5,
           "overhead_us": 10.0}
    # 1e12 FLOP at 1 TFLOP/s effective = 1000 ms; 1e9 B at 50 GB/s = 20 ms; + 2 kernels x 10 us
    assert math.isclose(D.roofline_ms(1e12, 1e9, 2, dev, fp32=False), 1000.02)
    assert math.isclose(D.roofline_ms(1e9, 1e10, 0, dev, fp32=True), 200.0)   # memory-bound: 1e10 / 5e10
    assert math.isclose(D.roofline_ms(1e12, 0.0, 0, dev, fp32=True), 2000.0)  # the fp32 peak

"""LLM configs (SPEC §9): parameter counts, stage formulas against an independent total, profiles,
device presets and files, bad input. Pure Python: no torch, no transformers."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from splittui.devices import PRESETS, load_device_file, resolve_device, this_cpu
from splittui.errors import SplittuiError
from splittui.hf_config import (
    arch_from_dict,
    decode_stages,
    param_count,
    prefill_stages,
)
from splittui.llm import load_arch, profile_doc_for, profile_for, shipped_config_names
from splittui.profiles import profile_from_doc

# Published totals: the safetensors parameter count on each model's Hugging Face page (model cards).
PUBLISHED = {
    "llama-3.2-1b": 1_235_814_400, "llama-3.2-3b": 3_212_749_824, "llama-3.1-8b": 8_030_261_248,
    "qwen2.5-0.5b": 494_032_768, "qwen2.5-7b": 7_615_616_512, "mistral-7b-v0.3": 7_248_023_552,
    "phi-3-mini": 3_821_079_552, "gemma-2-2b": 2_614_341_888, "gpt2": 124_439_808, "gpt2-xl": 1_557_611_200,
}


def test_every_issue_model_is_shipped():
    assert set(PUBLISHED) <= set(shipped_config_names())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_param_count_within_one_percent_of_published(name):
    got = param_count(load_arch(name))
    assert abs(got - PUBLISHED[name]) / PUBLISHED[name] < 0.01, f"{name}: {got:,} vs {PUBLISHED[name]:,}"


_configs = st.fixed_dictionaries({
    "model_type": st.sampled_from(["llama", "mistral", "qwen2", "phi3", "gemma", "gemma2"]),
    "num_key_value_heads": st.sampled_from([1, 2, 4]),
    "kv_mult": st.integers(1, 4), "head_dim": st.sampled_from([8, 16, 24]),
    "intermediate_size": st.integers(1, 300), "num_hidden_layers": st.integers(1, 5),
    "vocab_size": st.integers(1, 1000), "tie_word_embeddings": st.booleans(),
})


def _cfg(draw: dict) -> dict:
    h = draw["num_key_value_heads"] * draw["kv_mult"]
    return {k: v for k, v in draw.items() if k != "kv_mult"} | {"num_attention_heads": h, "hidden_size": 40}


@settings(max_examples=60, deadline=None)
@given(_configs, st.integers(1, 300))
def test_stage_matmul_flops_sum_to_the_parameter_formula(draw, s):
    """Σ matmul FLOPs = 2·s·(block matmul weights)·L + attention 4·s²·d_q·L + LM head 2·d·V."""
    a = arch_from_dict(_cfg(draw))
    block_w = a.d * (a.d_q + 2 * a.d_kv) + a.d_q * a.d + 3 * a.d * a.d_ff
    want = 2 * s * block_w * a.n_layers + 4 * s * s * a.d_q * a.n_layers + 2 * a.d * a.vocab
    assert sum(x.mm_flops for x in prefill_stages(a, s, dtype="bf16")) == pytest.approx(want)
    dec_want = 2 * block_w * a.n_layers + 4 * s * a.d_q * a.n_layers + 2 * a.d * a.vocab
    assert sum(x.mm_flops for x in decode_stages(a, s, dtype="bf16")) == pytest.approx(dec_want)


@settings(max_examples=30, deadline=None)
@given(_configs, st.sampled_from(["fp32", "bf16", "int8", "int4", "q4_k_m"]))
def test_weight_bytes_are_params_times_dtype(draw, dtype):
    from splittui.hf_config import DTYPES

    a = arch_from_dict(_cfg(draw))
    stages = prefill_stages(a, 4, dtype=dtype)
    held = sum(x.weight_bytes for x in stages)
    tied_copy = a.vocab * a.d if a.tied else 0  # both ends hold the shared matrix
    wb, ab = DTYPES[dtype]
    norms = sum(x.weight_bytes for x in stages if x.kind == "norm")
    up_n = 2 if a.gated else 1   # biases stay in the activation dtype (weight-only quantisation)
    biases = a.n_layers * ((a.d_q + 2 * a.d_kv) * a.qkv_bias + a.d * a.o_bias
                           + (up_n * a.d_ff + a.d) * a.mlp_bias)
    matmul_params = param_count(a) + tied_copy - norms / ab - biases
    assert held == pytest.approx(matmul_params * wb + biases * ab + norms)


def test_profile_fields_and_doc_agree():
    p = profile_for("llama-3.2-1b", dtype="int4", client_device="jetson-orin", server_device="l4",
                    seq_lens=(128, 1024))
    doc = profile_doc_for("llama-3.2-1b", dtype="int4", client_device="jetson-orin", server_device="l4",
                          seq_lens=(128, 1024))
    assert profile_from_doc(json.loads(json.dumps(doc))).layers == p.layers
    assert len(p.layers) == 1 + 16 * 8 + 2
    for layer in doc["layers"]:
        for key in ("dec_flops", "dec_client_ms", "dec_server_ms", "dec_in_bytes", "weight_bytes", "kv_bytes"):
            assert len(layer[key]) == 2, key
        assert (layer["kv_bytes"][0] > 0) == (layer["kind"] == "attention")
    core = next(x for x in doc["layers"] if x["name"] == "h0.attn.core")
    assert core["kv_bytes"] == [2 * 8 * 64 * 2] * 2   # 2·d_kv·2 bytes
    assert core["dec_flops"][1] > core["dec_flops"][0]  # decode attention grows with the context
    assert doc["dec_output_bytes"] == doc["output_bytes"] == [128256 * 4] * 2
    assert p.source["estimate"] is True and "estimate" in p.source["client"]


def test_dtype_and_device_move_times_the_right_way():
    slow = profile_for("qwen2.5-0.5b", dtype="bf16", client_device="raspberry-pi-5", seq_lens=(256,))
    fast = profile_for("qwen2.5-0.5b", dtype="bf16", client_device="jetson-orin", seq_lens=(256,))
    small = profile_for("qwen2.5-0.5b", dtype="int4", client_device="raspberry-pi-5", seq_lens=(256,))
    total = lambda p, key: sum(getattr(x, key)[0] for x in p.layers)  # noqa: E731
    assert total(fast, "client_ms") < total(slow, "client_ms")
    assert total(small, "client_ms") <= total(slow, "client_ms")
    assert [x.flops for x in small.layers] == [x.flops for x in slow.layers]


@pytest.mark.parametrize("change, field", [
    ({"num_attention_heads": 0}, "num_attention_heads"),
    ({"num_attention_heads": 7, "num_key_value_heads": 7}, "num_attention_heads"),
    ({"hidden_size": -64}, "hidden_size"),
    ({"model_type": "mamba"}, "model_type"),
    ({"vocab_size": None}, "vocab_size"),
    ({"num_key_value_heads": 3}, "num_key_value_heads"),
    ({"intermediate_size": 1.5}, "intermediate_size"),
])
def test_bad_config_names_the_field(change, field):
    cfg = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 100}
    cfg = {k: v for k, v in {**cfg, **change}.items() if v is not None}
    with pytest.raises(SplittuiError, match=field):
        arch_from_dict(cfg)


def test_an_explicit_null_reads_as_the_default():
    """transformers reads `"num_key_value_heads": null` as the default (no GQA): so does splittui; a null in a
    required field is still missing."""
    cfg = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 100}
    assert arch_from_dict({**cfg, "num_key_value_heads": None}) == arch_from_dict(cfg)
    assert arch_from_dict({**cfg, "max_position_embeddings": None}).max_pos == 131072
    with pytest.raises(SplittuiError, match="vocab_size': missing"):
        arch_from_dict({**cfg, "vocab_size": None})


def test_bad_config_file_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                                "num_attention_heads": 0, "intermediate_size": 128, "vocab_size": 100}))
    rc, out, err = run_cli(["solve", "--hf-config", tmp_path], capsys)
    assert rc == 2 and "num_attention_heads" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, needle", [
    (["--model", "llama-3.1-8b", "--dtype", "fp8"], "--dtype"),
    (["--model", "llama-3.1-8b", "--server-device", "tpu9"], "--server-device"),
    (["--model", "gpt2", "--seq", "4096"], "--seq"),
])
def test_bad_flags_one_line(argv, needle, capsys):
    rc, out, err = run_cli(["solve", *argv], capsys)
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_done_when_command_prints_a_placement(capsys):
    rc, out, err = run_cli(["solve", "--model", "llama-3.1-8b", "--client-device", "jetson-orin",
                            "--server-device", "a100-80gb", "--dtype", "int4", "--seq", "2048",
                            "--up-mbps", "50", "--deadline-ms", "3000", "--json", "--solver", "dp"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["feasible"] and len(doc["policy"]) == 259


def test_devices_command_lists_every_preset_with_its_source(capsys):
    rc, out, err = run_cli(["devices"], capsys)
    assert rc == 0
    for name in PRESETS:
        assert name in out


def test_device_file_toml_and_json(tmp_path):
    toml = tmp_path / "d.toml"
    toml.write_text('[devices.npu]\nrole = "client"\nfp32_tflops = 1.0\nfp16_tflops = 4.0\nmem_gbps = 50\n')
    js = tmp_path / "d.json"
    js.write_text(json.dumps({"devices": {"npu2": {"role": "server", "fp32_tflops": 2, "fp16_tflops": 8,
                                                    "mem_gbps": 100, "source": "spec sheet"}}}))
    user = {**load_device_file(toml), **load_device_file(js)}
    assert resolve_device("npu", user=user).fp16_tflops == 4.0
    assert resolve_device("npu2", user=user).source == "spec sheet"
    p = profile_for("gpt2", client_device="npu", server_device="npu2", devices=user, seq_lens=(128,))
    assert "npu" in p.source["client"]


@pytest.mark.parametrize("body, field", [
    ('[devices.x]\nrole = "client"\nfp32_tflops = 1\nfp16_tflops = 1\n', "mem_gbps"),
    ('[devices.x]\nrole = "client"\nfp32_tflops = -1\nfp16_tflops = 1\nmem_gbps = 1\n', "fp32_tflops"),
    ('[devices.x]\nrole = "phone"\nfp32_tflops = 1\nfp16_tflops = 1\nmem_gbps = 1\n', "role"),
    ('[devices.x]\nrole = "client"\nfp32_tflops = 1\nfp16_tflops = 1\nmem_gbps = 1\nspeed = 3\n', "speed"),
    ('[devices.x\n', "TOML"),
])
def test_bad_device_file_names_the_field(tmp_path, body, field, capsys):
    path = tmp_path / "d.toml"
    path.write_text(body)
    rc, out, err = run_cli(["solve", "--model", "gpt2", "--devices", path, "--client-device", "x"], capsys)
    assert rc == 2 and field in err and len(err.strip().splitlines()) == 1


def test_this_cpu_is_measured_once_then_cached(tmp_path, monkeypatch):
    import splittui.devices as devices

    monkeypatch.setenv("SPLITTUI_CACHE_DIR", str(tmp_path))
    first = this_cpu(seconds=0.2)
    assert first.measured and first.fp32_tflops > 0 and first.mem_gbps > 0
    monkeypatch.setattr(devices, "measure_this_cpu", lambda **_: pytest.fail("measured again"))
    assert this_cpu(seconds=0.2) == first


def test_zoo_profile_keeps_measured_times_unless_a_device_is_given(capsys):
    from splittui.llm import load_any
    from splittui.profiles import load_profile

    base = load_profile("bert-base")
    assert load_any("bert-base", client_device="measured").layers == base.layers
    re = load_any("bert-base", client_device="raspberry-pi-5")
    assert [x.server_ms for x in re.layers] == [x.server_ms for x in base.layers]
    assert [x.client_ms for x in re.layers] != [x.client_ms for x in base.layers]

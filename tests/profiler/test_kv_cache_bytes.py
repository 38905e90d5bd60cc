"""Issue 25 item 5: the memory model's KV bytes per layer (SPEC §10, s + N − 1 tokens) against the cache
tensors a tiny Hugging Face model really holds after generating N tokens (random weights, no download)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="needs torch (the 'profile' extra)")
transformers = pytest.importorskip("transformers", reason="needs transformers (the 'hf' extra: pip install '.[hf]')")

from splittui.llm import load_any  # noqa: E402
from splittui.memory import memory_rows  # noqa: E402
from splittui.model import Scenario  # noqa: E402

_BASE = {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 96,
         "vocab_size": 101, "max_position_embeddings": 256}
CONFIGS = {
    "llama, GQA": {"model_type": "llama", **_BASE, "num_key_value_heads": 2},
    "qwen2, biases": {"model_type": "qwen2", **_BASE, "num_key_value_heads": 1},
    "gemma, explicit head_dim": {"model_type": "gemma", **_BASE, "num_key_value_heads": 2, "head_dim": 24},
    "mistral, no GQA": {"model_type": "mistral", **_BASE, "num_key_value_heads": 4},
    "gpt2": {"model_type": "gpt2", "n_embd": 64, "n_layer": 3, "n_head": 4, "vocab_size": 101, "n_positions": 256},
}


def _cache_bytes(cache) -> list[int]:
    """Bytes of each decoder layer's key and value tensors."""
    return [int(layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size())
            for layer in cache.layers]


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_kv_bytes_equal_the_cache_tensors_after_generating(name, dtype, tmp_path):
    cfg = CONFIGS[name]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    s, n = 12, 6
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.from_pretrained(tmp_path)).eval()
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    ids = torch.randint(1, 100, (1, s))
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                             return_dict_in_generate=True, pad_token_id=0)
    assert out.sequences.shape[1] == s + n
    cache = getattr(out, "cache", None) or out.past_key_values
    measured = _cache_bytes(cache)
    assert all(layer.keys.shape[-2] == s + n - 1 for layer in cache.layers)   # the last token is never fed back

    profile = load_any(tmp_path, dtype=dtype, hf_config=True, include_seq=[s, s + n])
    rows = memory_rows(profile, Scenario(seq_len=s, gen_tokens=n, deadline_ms=1e9))
    predicted = [float(kv) for kv in rows.kv if kv]
    assert len(predicted) == cfg.get("num_hidden_layers", cfg.get("n_layer"))
    assert predicted == pytest.approx(measured, rel=0, abs=0.5)

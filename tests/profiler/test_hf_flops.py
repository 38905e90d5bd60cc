"""The analytic FLOPs of every stage (splittui.hf_config, pure Python) agree with torch's FlopCounterMode
on a transformers model built from a tiny config of each family (random weights, no download).

FlopCounterMode counts matrix products only, so the comparison is on ``mm_flops``; the element-wise
part (norms, softmax, activations) is checked to be what the counter skips (it reports 0 there).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="needs torch (the 'profile' extra)")
pytest.importorskip("transformers", reason="needs transformers (the 'hf' extra: pip install '.[hf]')")

from splittui.hf_config import arch_from_dict, prefill_stages  # noqa: E402
from splittui.profiler.hf_live import build_model, count_stage_flops  # noqa: E402

_LLAMA = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "vocab_size": 97, "max_position_embeddings": 128}
TINY = {
    "llama": {"model_type": "llama", **_LLAMA},
    "mistral": {"model_type": "mistral", **_LLAMA},
    "qwen2": {"model_type": "qwen2", **_LLAMA},
    "phi3": {"model_type": "phi3", **_LLAMA, "num_key_value_heads": 4},
    "gemma": {"model_type": "gemma", **_LLAMA, "head_dim": 24},
    "gemma2": {"model_type": "gemma2", **_LLAMA, "head_dim": 24},
    "gpt2": {"model_type": "gpt2", "n_embd": 48, "n_layer": 2, "n_head": 4, "vocab_size": 97, "n_positions": 128},
}


@pytest.mark.parametrize("family", sorted(TINY))
@pytest.mark.parametrize("s", [7, 32])
def test_every_stage_matches_flop_counter(family, s):
    arch = arch_from_dict(TINY[family], name=f"tiny-{family}")
    counted = count_stage_flops(build_model(arch), arch, s)
    stages = prefill_stages(arch, s, dtype="fp32")
    assert {st.name for st in stages} == set(counted), "stage sets differ"
    for st in stages:
        got = counted[st.name]
        if st.mm_flops == 0:
            assert got == 0, f"{family} {st.name}: counter saw {got} FLOP where the model has no matmul"
        else:
            assert got == pytest.approx(st.mm_flops, rel=0.02), f"{family} {st.name} at s={s}"


def test_param_count_matches_transformers():
    from splittui.hf_config import param_count

    for family, cfg in TINY.items():
        arch = arch_from_dict(cfg, name=family)
        model = build_model(arch)
        assert param_count(arch) == sum(p.numel() for p in model.parameters()), family

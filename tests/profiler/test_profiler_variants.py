"""Attention variants in the zoo: lowrank:K (Linformer) and sparse:B (block-local).

Oracles independent of the variant code: full attention with an explicit block-diagonal mask
(sparse), full attention over keys/values projected by hand (lowrank); analytic FLOPs against
torch's FlopCounterMode (2 FLOP per multiply-add, matmuls only) within 2 %.
"""

import math

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from splittui.attention import parse_attention  # noqa: E402
from splittui.errors import SplittuiError  # noqa: E402
from splittui.profiler import text_models as tm  # noqa: E402
from splittui.profiler import zoo  # noqa: E402
from splittui.profiler.chain import run_chain  # noqa: E402
from splittui.profiler.variants import BlockCore, LowRankCore  # noqa: E402

MID = tm.TextConfig(d=128, heads=2, mlp=512, blocks=1, vocab=1000, max_len=256)
VARIANTS = ("lowrank:8", "sparse:8", "sparse:12")


def _qkv(n=20, m=None, b=1, h=2, dh=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = n if m is None else m
    return (torch.randn(b, h, n, dh, generator=g), torch.randn(b, h, m, dh, generator=g),
            torch.randn(b, h, m, dh, generator=g))


def _masked_attention(q, k, v, allowed):
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = scores.softmax(-1) @ v
    b, h, n, dh = out.shape
    return out.transpose(1, 2).reshape(b, n, h * dh)


@pytest.mark.parametrize("block", [1, 4, 7, 20, 25])
@pytest.mark.parametrize("causal", [False, True])
def test_block_core_equals_full_attention_with_block_mask(block, causal):
    q, k, v = _qkv(20)
    pos = torch.arange(20)
    allowed = (pos[:, None] // block) == (pos[None, :] // block)
    if causal:
        allowed &= pos[None, :] <= pos[:, None]
    (out,) = BlockCore(block, causal=causal)(q, k, v)
    torch.testing.assert_close(out, _masked_attention(q, k, v, allowed))


@pytest.mark.parametrize("n,m", [(20, 20), (12, 20)])
def test_lowrank_core_equals_attention_over_projected_keys(n, m):
    q, k, v = _qkv(n, m)
    core = LowRankCore(5, max_len=32, seed=3)
    k2 = torch.einsum("sr,bhsd->bhrd", core.E[:m], k)
    v2 = torch.einsum("sr,bhsd->bhrd", core.F[:m], v)
    (out,) = core(q, k, v)
    torch.testing.assert_close(out, _masked_attention(q, k2, v2, torch.ones(n, 5, dtype=torch.bool)))


def test_lowrank_with_identity_projection_is_full_attention():
    q, k, v = _qkv(6)
    core = LowRankCore(6, max_len=6, seed=0)
    with torch.no_grad():
        core.E.copy_(torch.eye(6))
        core.F.copy_(torch.eye(6))
    (out,) = core(q, k, v)
    torch.testing.assert_close(out, _masked_attention(q, k, v, torch.ones(6, 6, dtype=torch.bool)))


def _walk(chain, seq):
    state = chain.make_input(seq)
    for stage in chain.stages:
        yield stage, state
        with torch.no_grad():
            state = stage.module(*state)


def _counted(module, state) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*state)
    return float(counter.get_total_flops())


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("build", [tm.gpt2_like, tm.bert_base, tm.transformer])
def test_stage_flops_match_flop_counter_mode(build, variant):
    chain = build(MID, parse_attention(variant))
    cores = 0
    for stage, state in _walk(chain, 20):
        counted = _counted(stage.module, state)
        assert stage.mac_flops(state) == pytest.approx(counted, rel=0.02, abs=0), stage.name
        cores += stage.kind == "attention"
        if stage.kind == "attention":
            assert counted > 0
    assert cores >= 1


@pytest.mark.parametrize("variant", ["lowrank:8", "sparse:8"])
def test_variant_core_cost_is_linear_in_the_sequence(variant):
    chain = zoo.build("bert-base", tiny=True, attention=parse_attention(variant))
    flops = {}
    for seq in (32, 64):
        flops[seq] = next(s.flops(st) for s, st in _walk(chain, seq) if s.kind == "attention")
    assert flops[64] == pytest.approx(2 * flops[32], rel=1e-12)


@pytest.mark.parametrize("name", zoo.VARIANT_MODELS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_chain_equals_its_unsplit_model_and_splits_anywhere(name, variant):
    chain = zoo.build(name, tiny=True, attention=parse_attention(variant))
    assert chain.meta["attention"] == variant
    inputs = chain.make_input(20)
    (out,) = run_chain(chain, inputs)
    with torch.no_grad():
        ref = chain.reference(*inputs)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    cut = len(chain.stages) // 3
    torch.testing.assert_close(run_chain(chain, run_chain(chain, inputs, stop=cut), start=cut), (out,))


def test_variant_changes_the_output_of_full_attention():
    """The variant really replaces the cores (a test that can fail if it silently did not)."""
    full = zoo.build("bert-base", tiny=True)
    sparse = zoo.build("bert-base", tiny=True, attention=parse_attention("sparse:4"))
    inputs = full.make_input(16)
    assert not torch.allclose(run_chain(full, inputs)[0], run_chain(sparse, inputs)[0])


def test_variant_on_a_model_without_replaceable_attention_is_refused():
    with pytest.raises(SplittuiError, match="cmt-s"):
        zoo.build("cmt-s", tiny=True, attention=parse_attention("lowrank:8"))


def test_profile_of_a_variant_is_named_and_marked():
    from splittui.profiler.run import profile_model

    chain = zoo.build("bert-base", tiny=True, attention=parse_attention("sparse:8"))
    doc = profile_model(chain, [16, 24], repeats=1, fvcore=False)
    assert doc["model"] == "bert-base@sparse-8" and doc["attention"] == "sparse:8"
    assert len(doc["source"]["load_avg_1min"]) == 2
    with pytest.raises(SplittuiError, match="larger than"):
        profile_model("bert-base", [16, 32], attention=parse_attention("sparse:32"))


@pytest.mark.parametrize("model", ["bert-base", "gpt2-like"])
@pytest.mark.parametrize("variant", ["lowrank:8", "sparse:8"])
def test_estimated_variant_profile_matches_a_profile_of_the_variant_chain(model, variant, monkeypatch):
    """The estimate's analytic fields equal what the profiler measures on the variant chain itself;
    every stage but the cores is the full profile's; client_ms of the cores is full x a ratio > 0 (timed in
    the one round asked for: the extra rounds a real estimate takes for a steadier median prove nothing here)."""
    from splittui.profiler import variant_estimate
    from splittui.profiler.run import profile_model
    from splittui.profiler.variant_estimate import estimate_variant

    monkeypatch.setattr(variant_estimate, "BUDGET_S", 0.0)

    att, cfg, seqs = parse_attention(variant), tm.TINY_TEXT, [16, 24]
    full = profile_model(zoo.build(model, tiny=True), seqs, repeats=1, fvcore=False)
    direct = profile_model(zoo.build(model, tiny=True, attention=att), seqs, repeats=1, fvcore=False)
    est = estimate_variant(full, model, att, heads=cfg.heads, d=cfg.d, max_len=cfg.max_len, rounds=1)
    assert est["model"] == direct["model"] and est["attention"] == variant and est["source"]["kind"] == "estimate"
    for e, d, f in zip(est["layers"], direct["layers"], full["layers"], strict=True):
        assert e["name"] == d["name"] and e["in_bytes"] == d["in_bytes"]
        for key in ("flops", "mem_bytes", "server_ms"):
            assert e[key] == pytest.approx(d[key], rel=1e-9), (e["name"], key)
        if e["kind"] != "attention":
            assert e["client_ms"] == f["client_ms"]
        else:
            assert all(c > 0 for c in e["client_ms"])

"""Analytic FLOP formulas against fvcore (which counts multiply-adds and skips elementwise ops)."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from splittui.profiler import text_models as tm  # noqa: E402
from splittui.profiler import zoo  # noqa: E402
from splittui.profiler.counting import fvcore_count  # noqa: E402

MID = tm.TextConfig(d=128, heads=2, mlp=512, blocks=1, vocab=1000, max_len=128)


def _walk(chain, seq):
    state = chain.make_input(seq)
    for stage in chain.stages:
        yield stage, state
        with torch.no_grad():
            state = stage.module(*state)


@pytest.mark.parametrize("name", zoo.ZOO_NAMES)
def test_matmul_part_equals_twice_fvcore(name):
    chain = zoo.build(name, tiny=True)
    for stage, state in _walk(chain, 64 if name == "cmt-s" else 16):
        fv = fvcore_count(stage.module, state)
        assert fv is not None, stage.name
        assert stage.mac_flops(state) == pytest.approx(2 * fv.matmul, rel=1e-9, abs=0), stage.name
        assert stage.flops(state) >= stage.mac_flops(state)


@pytest.mark.parametrize("build", [tm.gpt2_like, tm.bert_base, tm.transformer])
def test_matmul_dominated_stages_within_one_percent(build):
    chain = build(MID)
    checked = 0
    for stage, state in _walk(chain, 32):
        if stage.mac_flops(state) >= 0.99 * stage.flops(state) > 0:
            fv = fvcore_count(stage.module, state)
            assert stage.flops(state) == pytest.approx(2 * fv.total, rel=0.01), stage.name
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize("name", ["gpt2-like", "bert-base", "transformer"])
def test_attention_core_flops_quadruple_when_sequence_doubles(name):
    chain = zoo.build(name, tiny=True)
    flops, fv = {}, {}
    for seq in (16, 32):
        for stage, state in _walk(chain, seq):
            if stage.kind == "attention":
                flops[seq] = stage.flops(state)
                fv[seq] = fvcore_count(stage.module, state).matmul
                break
    assert flops[32] == pytest.approx(4 * flops[16], rel=1e-12)
    assert fv[32] == pytest.approx(4 * fv[16], rel=1e-12)


def test_fvcore_lists_what_it_skips():
    chain = zoo.build("gpt2-like", tiny=True)
    skipped = {stage.name: fvcore_count(stage.module, state).unsupported for stage, state in _walk(chain, 16)}
    assert any("softmax" in op for op in skipped["h0.attn.core"])
    assert any("gelu" in op for op in skipped["h0.mlp.act"])

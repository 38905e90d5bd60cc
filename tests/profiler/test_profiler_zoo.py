"""The zoo's chains equal their unsplit models, and their analytic FLOPs agree with fvcore."""

import pytest

torch = pytest.importorskip("torch")

from splittui.profiler import zoo  # noqa: E402
from splittui.profiler.chain import run_chain, state_bytes  # noqa: E402
from splittui.profiler.prepare import KINDS  # noqa: E402

SEQ = {"gpt2-like": (16, 32), "bert-base": (16, 32), "transformer": (16, 32), "cmt-s": (64, 128)}


@pytest.fixture(scope="module", params=zoo.ZOO_NAMES)
def tiny(request):
    return zoo.build(request.param, tiny=True)


def test_chain_forward_equals_unsplit_model(tiny):
    for seq in SEQ[tiny.model]:
        inputs = tiny.make_input(seq)
        (out,) = run_chain(tiny, inputs)
        with torch.no_grad():
            ref = tiny.reference(*inputs)
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
        assert torch.isfinite(out).all()


def test_chain_forward_equals_fused_attention_model(tiny):
    """An independent check of the attention maths: the reference with torch's fused SDPA."""
    inputs = tiny.make_input(SEQ[tiny.model][0])
    (out,) = run_chain(tiny, inputs)
    tiny.reference.sdpa = True
    try:
        with torch.no_grad():
            ref = tiny.reference(*inputs)
    finally:
        tiny.reference.sdpa = False
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_split_anywhere_equals_whole(tiny):
    inputs = tiny.make_input(SEQ[tiny.model][0])
    whole = run_chain(tiny, inputs)
    cut = len(tiny.stages) // 2
    mid = run_chain(tiny, inputs, stop=cut)
    torch.testing.assert_close(run_chain(tiny, mid, start=cut), whole)


def test_stage_names_unique_and_kinds_known(tiny):
    names = [s.name for s in tiny.stages]
    assert len(set(names)) == len(names)
    assert {s.kind for s in tiny.stages} <= set(KINDS)
    assert all(s.flops is not None for s in tiny.stages)


def test_attention_cores_are_stages_of_their_own():
    counts = {"gpt2-like": 2, "bert-base": 2, "transformer": 6}  # tiny: 2 blocks (+2 cross in the decoder)
    for name, n in counts.items():
        chain = zoo.build(name, tiny=True)
        assert sum(s.kind == "attention" for s in chain.stages) == n


def test_cut_state_carries_the_residual_stream():
    chain = zoo.build("gpt2-like", tiny=True)
    state = chain.make_input(16)
    sizes = {}
    for stage in chain.stages:
        sizes[stage.name] = state_bytes(state)
        state = stage.module(*state)
    sd = 16 * 32 * 4
    assert sizes["h0.ln1"] == sd and sizes["h0.attn.qkv"] == 2 * sd and sizes["h0.attn.core"] == 4 * sd
    assert sizes["h0.mlp.act"] == 5 * sd and sizes["h1.ln1"] == sd and state_bytes(state) == 101 * 4


def test_unknown_zoo_name():
    from splittui.errors import SplittuiError

    with pytest.raises(SplittuiError, match="unknown zoo model"):
        zoo.build("resnet")

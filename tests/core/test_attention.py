"""--attention full|lowrank:K|sparse:B: parsing, variant profile names, selection, and bad input."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli
from hypothesis import given
from hypothesis import strategies as st

from splittui.attention import FULL, Attention, parse_attention, split_variant_name, variant_name
from splittui.errors import SplittuiError
from splittui.profiles import load_profile, load_variant, profile_to_doc, shipped_models, shipped_variants


@given(kind=st.sampled_from(["lowrank", "sparse"]), size=st.integers(1, 16_384),
       model=st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True))
def test_label_and_profile_name_round_trip(kind, size, model):
    a = parse_attention(f"{kind}:{size}")
    assert a == Attention(kind, size) and parse_attention(a.label) == a
    assert split_variant_name(variant_name(model, a)) == (model, a)
    assert variant_name(model, FULL) == model and split_variant_name(model) == (model, FULL)


@pytest.mark.parametrize("text", ["lowrank:0", "sparse:0", "lowrank:-3", "sparse:", "lowrank", "dense:8",
                                  "lowrank:2.5", "sparse:99999", "full:3", "sparse:x"])
def test_bad_variants_are_refused(text):
    with pytest.raises(SplittuiError, match="--attention"):
        parse_attention(text)


@pytest.mark.parametrize("text", [None, "", "full", " full "])
def test_full_is_the_default(text):
    assert parse_attention(text) == FULL


def test_block_must_fit_the_sequence():
    parse_attention("sparse:64").check_seq([64, 128])
    parse_attention("lowrank:512").check_seq([128])  # K > s is allowed (it only costs more)
    with pytest.raises(SplittuiError, match="larger than --seq 32"):
        parse_attention("sparse:64").check_seq([32, 128])


def test_all_models_are_full_attention_profiles():
    assert shipped_models()
    assert all("@" not in m for m in shipped_models())
    for m in shipped_models():
        assert shipped_variants(m)[0] == FULL


def _write(tmp_path, name, profile, **extra):
    doc = profile_to_doc(profile)
    doc.update(extra)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_a_file_must_have_been_profiled_at_the_variant(tmp_path):
    bert = load_profile("bert-base")
    marked = _write(tmp_path, "b.json", bert, attention="lowrank:256")
    assert load_variant(marked, parse_attention("lowrank:256")).n_layers == bert.n_layers
    with pytest.raises(SplittuiError, match="profiled with full"):
        load_variant(_write(tmp_path, "f.json", bert), parse_attention("lowrank:256"))
    with pytest.raises(SplittuiError, match="profiled with lowrank:256"):
        load_variant(marked, parse_attention("sparse:64"))


def test_not_shipped_variant_lists_the_shipped_ones():
    with pytest.raises(SplittuiError) as err:
        load_variant("bert-base", parse_attention("lowrank:7"))
    msg = str(err.value)
    assert "shipped: full" in msg and "splittui profile --model bert-base --attention lowrank:7" in msg


def _one_line(rc, out, err, needle):
    assert rc == 2, err
    assert out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert needle in err, err


@pytest.mark.parametrize("argv, needle", [
    (["--model", "bert-base", "--attention", "lowrank:0"], "lowrank:0"),
    (["--model", "bert-base", "--attention", "sparse:4096", "--seq", "2048"], "larger than --seq 2048"),
    (["--model", "bert-base", "--attention", "banded:8"], "unknown attention variant"),
    (["--model", "bert-base", "--attention", "lowrank:7"], "no shipped profile of bert-base"),
    (["--model", "cmt-s", "--attention", "lowrank:256"], "no shipped profile of cmt-s"),
])
def test_solve_bad_attention_is_one_line(argv, needle, capsys):
    _one_line(*run_cli(["solve", *argv], capsys), needle)


def test_variant_on_a_profile_without_attention_is_one_line(tmp_path, capsys):
    bert = load_profile("bert-base")
    doc = profile_to_doc(bert)
    doc["layers"] = [dict(layer, kind="linear") for layer in doc["layers"]]
    doc["attention"] = "sparse:64"
    path = tmp_path / "noattn.json"
    path.write_text(json.dumps(doc))
    _one_line(*run_cli(["solve", "--profile", path, "--attention", "sparse:64"], capsys), "has no attention layers")


def test_profile_command_refuses_variants_it_cannot_build(tmp_path, capsys):
    out = tmp_path / "x.json"
    _one_line(*run_cli(["profile", "--model", "cmt-s", "--attention", "lowrank:8", "--seq", "224", "--out", out],
                       capsys), "cmt-s")
    _one_line(*run_cli(["profile", "--model", "bert-base", "--attention", "sparse:64", "--seq", "32,128",
                        "--out", out], capsys), "larger than --seq 32")
    assert not out.exists()


SHIPPED = [("bert-base", "lowrank:256"), ("bert-base", "sparse:64"), ("gpt2-like", "lowrank:256"),
           ("gpt2-like", "sparse:64")]


@pytest.mark.parametrize("model, variant", SHIPPED)
def test_shipped_variant_profiles_are_measured_like_their_full_profile(model, variant):
    """The variant and the full profile must be comparable: the same chain but the attention cores,
    measured the same way (whole-chain in-order passes), so the stages they share take about the same
    client time from 512 tokens up; a variant measured another way (stage by stage, or under load) shows up
    as a gap. (Below 512 tokens they differ by up to ~1.4x in fact: a Linformer core streams its projection
    matrices through the caches the next stages then miss, and in-order timing keeps that.)"""
    att = parse_attention(variant)
    if att not in shipped_variants(model):
        pytest.skip(f"{model} at {variant} not shipped yet")
    prof, full = load_variant(model, att), load_profile(model)
    assert prof.model == variant_name(model, att) and prof.extra["attention"] == variant
    assert prof.source["kind"] == full.source["kind"] == "measured"
    assert prof.extra["profiling"]["timing"]["prefill"] == full.extra["profiling"]["timing"]["prefill"]
    assert prof.seq_lens == full.seq_lens and len(prof.layers) == len(full.layers)
    for v, f in zip(prof.layers, full.layers, strict=True):
        assert (v.name, v.kind, v.in_bytes) == (f.name, f.kind, f.in_bytes)
        if f.kind != "attention":
            assert v.flops == f.flops
        else:  # linear in s: far fewer FLOPs than full attention at the longest length
            assert v.flops[-1] < 0.5 * f.flops[-1]
    for k in [k for k, s in enumerate(full.seq_lens) if s >= 512]:  # shorter: the cores' caches matter
        shared = [(v.client_ms[k], f.client_ms[k]) for v, f in zip(prof.layers, full.layers, strict=True)
                  if f.kind != "attention"]
        ratio = sum(v for v, _ in shared) / sum(f for _, f in shared)
        assert 0.75 <= ratio <= 1.33, f"seq {full.seq_lens[k]}: shared stages {ratio:.2f}x the full profile's"


def test_done_when_solve_with_a_variant_runs(capsys):
    if parse_attention("lowrank:256") not in shipped_variants("bert-base"):
        pytest.skip("bert-base@lowrank-256 not shipped yet")
    rc, out, err = run_cli(["solve", "--model", "bert-base", "--attention", "lowrank:256", "--seq", "2048",
                            "--up-mbps", "100"], capsys)
    assert rc == 0, err
    assert "bert-base@lowrank-256" in out + err and "client: measured" in out + err

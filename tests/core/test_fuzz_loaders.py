"""Fuzzed files (issue 17, item 1): corrupted profiles and policy files load as something valid (that
the solvers and `evaluate` then handle cleanly) or are refused with one line naming the file and field."""

from __future__ import annotations

import json
import math

import pytest
from fuzz_strategies import FUZZ, clean_outcome, cli_outcome, corrupted_json, write_bytes
from hypothesis import given
from hypothesis import strategies as st

from splittui.analytic import gpt2_like_doc
from splittui.model import Scenario
from splittui.policy import POLICY_SCHEMA, load_policy, policy_document
from splittui.profiles import load_profile, profile_from_doc, profile_to_doc
from splittui.solvers import solve_all

__all__ = ["TINY_DOC", "check_profile", "check_policy", "policy_seeds"]


def _tiny_layer(i: int) -> dict:
    return {"name": f"blk{i}", "kind": "linear", "flops": [1e6 * (i + 1), 4e6 * (i + 1)],
            "client_ms": [5.0 + i, 20.0 + i], "server_ms": [0.5, 2.0], "in_bytes": [4096.0, 8192.0],
            "mem_bytes": [1e6, 2e6]}


TINY_DOC = {"schema": "splittui.profile/1", "model": "tiny", "description": "three layers",
            "source": {"kind": "synthetic"}, "seq_lens": [128, 256], "output_bytes": [1024.0, 2048.0],
            "layers": [_tiny_layer(i) for i in range(3)]}
_SMALL_SOLVERS = ("dp", "exact", "greedy", "single-split", "no-split", "all-client")


def check_profile(profile) -> None:
    """What an accepted profile promises: finite, non-negative costs of the right lengths, a lossless
    document round trip, and solvers that answer (or refuse cleanly) at a sampled and a midway length."""
    n = len(profile.seq_lens)
    assert n and all(isinstance(s, int) and s > 0 for s in profile.seq_lens)
    for layer in profile.layers:
        for values in (layer.flops, layer.client_ms, layer.server_ms, layer.in_bytes, layer.mem_bytes or [0] * n):
            assert len(values) == n and all(math.isfinite(v) and v >= 0 for v in values), layer.name
    again = profile_from_doc(json.loads(json.dumps(profile_to_doc(profile), allow_nan=False)))
    assert again.layers == profile.layers and again.seq_lens == profile.seq_lens
    solvers = _SMALL_SOLVERS if profile.n_layers <= 8 else ("dp", "greedy")
    seqs = {profile.seq_lens[0], (profile.seq_lens[0] + profile.seq_lens[-1]) // 2}
    for s in sorted(seqs):
        for res in solve_all(profile, Scenario(seq_len=s, deadline_ms=200.0), solvers).values():
            assert res.policy is None or len(res.policy) == profile.n_layers


def check_policy(doc) -> None:
    assert isinstance(doc, dict) and doc["schema"] == POLICY_SCHEMA
    assert isinstance(doc["model"], str) and doc["model"]
    assert all(v in (0, 1) and not isinstance(v, bool) for v in doc["policy"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def tiny_path(folder):
    path = folder / "tiny.json"
    path.write_text(json.dumps(TINY_DOC))
    return path


def policy_seeds(tiny_path) -> list:
    """A one-document policy file and a slot export (a list of documents), from real solves; the
    timings and time stamp fixed, so that every example starts from the same bytes."""
    profile = load_profile(tiny_path)
    sc = Scenario(seq_len=128, deadline_ms=60.0)
    docs = [{**policy_document(profile, sc, r), "solve_ms": 0.5, "created": "2026-01-01T00:00:00+00:00"}
            for r in solve_all(profile, sc, ("dp", "greedy", "no-split")).values()]
    return [docs[0], docs]


@pytest.fixture(scope="module")
def policy_docs(tiny_path):
    return policy_seeds(tiny_path)


_PROFILE_SEEDS = st.sampled_from(["tiny", "tiny", "gpt2"])


@FUZZ
@given(seed=_PROFILE_SEEDS, data=st.data())
def test_fuzzed_profile_is_valid_or_refused_by_name(folder, seed, data):
    doc = TINY_DOC if seed == "tiny" else _gpt2_doc()
    bad = data.draw(corrupted_json(doc), label="corrupted")
    path = write_bytes(folder, bad)
    clean_outcome(lambda: load_profile(path), source=str(path), check=check_profile)


@FUZZ
@given(data=st.data())
def test_fuzzed_policy_file_is_valid_or_refused_by_name(folder, tiny_path, policy_docs, data):
    seed = data.draw(st.sampled_from(policy_docs), label="seed")
    bad = data.draw(corrupted_json(seed), label="corrupted")
    path = write_bytes(folder, bad, "policy.json")
    clean_outcome(lambda: load_policy(path), source=str(path), check=check_policy)
    cli_outcome(["evaluate", "--policy", path, "--profile", tiny_path, "--json"], ok=(0, 1))


_GPT2: list = []


def _gpt2_doc() -> dict:
    """The analytic gpt2-like document (195 layers): a realistic, large seed, built once."""
    if not _GPT2:
        _GPT2.append(gpt2_like_doc())
    return _GPT2[0]

"""Resident-memory readings for `splittui run` (issue 25 item 5) and the tied-weight record they rely on."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from splittui.memory import memory_rows
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.runner.memory_probe import param_bytes, peak_bytes, reset_peak, rss_bytes

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")


@linux
def test_rss_grows_by_what_is_touched_and_the_peak_resets():
    before = rss_bytes()
    block = np.ones(64 * 2 ** 20 // 8)             # 64 MiB, touched
    grown = rss_bytes() - before
    assert 0.9 * block.nbytes <= grown <= 1.2 * block.nbytes
    del block
    if reset_peak():                                # Linux >= 4.0
        assert peak_bytes() <= rss_bytes() + 8 * 2 ** 20


def test_param_bytes_counts_a_shared_tensor_once():
    torch = pytest.importorskip("torch")
    emb = torch.nn.Embedding(100, 8)
    head = torch.nn.Linear(8, 100, bias=False)
    head.weight = emb.weight
    assert param_bytes([emb, head]) == 100 * 8 * 4
    assert param_bytes([emb, torch.nn.Linear(8, 100, bias=False)]) == 2 * 100 * 8 * 4


def test_tied_stages_counts_the_shared_matrix_once_per_side():
    doc_profile = load_profile("gpt2-like")
    n = doc_profile.n_layers
    w = [layer.weight_bytes[0] for layer in doc_profile.layers]
    shared = float(min(w[0], w[-1]))
    from dataclasses import replace

    tied = replace(doc_profile, extra={**doc_profile.extra, "tied_stages": [0, n - 1, shared]})
    sc = Scenario(seq_len=256, deadline_ms=1e9)
    plain, with_tie = memory_rows(doc_profile, sc), memory_rows(tied, sc)
    assert plain.tied is None and with_tie.tied == (0, n - 1, shared)
    everything = np.ones(n, dtype=np.int8)
    assert with_tie.need(everything)[0] == pytest.approx(plain.need(everything)[0] - shared)
    split = everything.copy()
    split[-1] = 0                                   # the head on the server: each side holds the matrix
    assert with_tie.need(split) == pytest.approx(plain.need(split))
    bad = replace(doc_profile, extra={**doc_profile.extra, "tied_stages": [0, n, shared]})   # out of range
    assert memory_rows(bad, sc).tied is None

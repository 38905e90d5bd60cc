"""The sweep honours TTFT/TPOT limits and what the end returns (issue 24, item 2): a cell whose policy breaks
a limit is infeasible, and exact's cells are `solve(..., "exact")` under the same limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.solvers import evaluate, solve
from splittui.sweep import SweepConfig, run_sweep


@pytest.fixture(scope="module")
def gpt2():
    return load_profile("gpt2-like")


def _cell_scenario(sw, i, cfg) -> Scenario:
    d = float(sw.deadline_ms[i])
    return Scenario(deadline_ms=d, up_mbps=float(sw.bandwidth[i]), delay_ms=cfg.delay_ms, seq_len=int(sw.seq[i]),
                    unit_ms=float(sw.unit_ms[i]), gen_tokens=cfg.gen_tokens, returns=cfg.returns,
                    ttft_ms=cfg.ttft_ms if cfg.ttft_ms is not None and cfg.ttft_ms < d else None,
                    tpot_ms=cfg.tpot_ms)


@pytest.mark.parametrize("ttft, tpot", [(1200.0, 60.0), (None, 55.0), (800.0, None)])
def test_sweep_cells_meet_the_limits_and_exact_matches_solve(gpt2, ttft, tpot):
    cfg = SweepConfig(bandwidths=(20.0, 100.0), seq_lens=(512,), gen_tokens=32, ttft_ms=ttft, tpot_ms=tpot,
                      max_steps=6)
    sw = run_sweep(gpt2, cfg)
    for i in range(sw.n_cells):
        sc = _cell_scenario(sw, i, cfg)
        for name in ("dp", "greedy", "single-split", "no-split"):
            x = sw.policy(name)[i]
            if x[0] >= 0:
                assert evaluate(gpt2, sc, tuple(int(v) for v in x)).feasible, (name, i)
        want = solve(gpt2, sc, "exact")
        got = sw.share("exact")[i]
        if not want.feasible:
            assert math.isnan(got), i
        else:
            assert got == pytest.approx(want.client_share, abs=1e-9), i


def test_limits_make_cells_infeasible_that_were_not(gpt2):
    base = SweepConfig(bandwidths=(20.0,), seq_lens=(512,), gen_tokens=32, max_steps=6)
    free = run_sweep(gpt2, base)
    tight = run_sweep(gpt2, SweepConfig(bandwidths=(20.0,), seq_lens=(512,), gen_tokens=32, max_steps=6,
                                        ttft_ms=600.0, tpot_ms=45.0))
    assert np.isnan(tight.share("greedy")).sum() > np.isnan(free.share("greedy")).sum()
    assert "TTFT ≤ 600 ms" in tight.config.describe()


def test_returns_reaches_the_sweep(gpt2):
    logits = run_sweep(gpt2, SweepConfig(bandwidths=(20.0,), seq_lens=(512,), gen_tokens=16, max_steps=6,
                                         returns="logits"))
    token = run_sweep(gpt2, SweepConfig(bandwidths=(20.0,), seq_lens=(512,), gen_tokens=16, max_steps=6))
    a, b = logits.latency_ms, token.latency_ms
    assert a.shape != b.shape or not np.allclose(a, b, equal_nan=True)

"""issue 29's trade-off points: each is the exact least server share under its cap on the client's joules
(brute force over every policy of a one-block LLM), the least-energy point is brute force's least energy,
and the points marked Pareto-optimal are beaten by none on server share, latency and joules together."""

from __future__ import annotations

import json

import pytest

from splittui.energy_front import energy_points
from splittui.generation import phase_costs
from splittui.llm import load_any
from splittui.model import Scenario
from splittui.solvers import solve_request


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("cfg")
    (d / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 1,
                                               "num_attention_heads": 8, "num_key_value_heads": 2,
                                               "intermediate_size": 8192, "vocab_size": 32000}))
    return load_any(d, hf_config=True, client_device="phone-soc", server_device="a100-80gb", include_seq=[512, 519])


@pytest.mark.parametrize("radio", ["wifi", "lte"])
def test_points_are_exact_under_their_caps(tiny, radio):
    sc = Scenario(deadline_ms=60_000, seq_len=512, gen_tokens=8, radio=radio, up_mbps=20, down_mbps=50)
    ph = phase_costs(tiny, sc)
    pts = energy_points(ph, sc, caps=6)
    assert pts == sorted(pts, key=lambda p: p.client_j)
    assert len(pts) >= (2 if radio == "wifi" else 1)   # on LTE all-client is fastest, cheapest and least work
    least = solve_request(ph, sc.replace(objective="client_energy"), "brute-force")
    assert pts[0].client_j == pytest.approx(least.client_energy_j)
    capped = [p for p in pts if p.cap_j is not None]
    for p in capped:
        want = solve_request(ph, sc.replace(objective="flops", client_energy_j=p.cap_j), "brute-force")
        assert p.server_share == pytest.approx(want.server_share, abs=1e-12) and p.client_j <= p.cap_j * (1 + 1e-9)
    from splittui.solvers import evaluate_costs

    for p in pts:   # each point's figures are its policy's
        r = evaluate_costs(ph.composite(), p.policy)
        assert r.server_share == pytest.approx(p.server_share) and r.latency_ms == pytest.approx(p.latency_ms)
    marked = [p for p in pts if p.pareto]
    assert marked
    for p in marked:
        assert not any(q.server_share <= p.server_share and q.latency_ms <= p.latency_ms and q.client_j <= p.client_j
                       and (q.server_share, q.latency_ms, q.client_j) != (p.server_share, p.latency_ms, p.client_j)
                       for q in pts)

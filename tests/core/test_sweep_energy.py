"""issue 29: `sweep` carries each cell's client joules (estimates) for every solver, exact included (the placement
it rebuilds from its labels is an optimal one), the same number `evaluate` gives that placement in that cell's
scenario; the radio is recorded in the config and in every row (CSV)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import run_cli

from splittui.llm import profile_for
from splittui.model import Scenario
from splittui.solvers import evaluate
from splittui.sweep import SweepConfig, run_sweep
from splittui.sweep_summary import sweep_rows


@pytest.mark.parametrize("radio", ["wifi", "lte"])
def test_cells_carry_the_client_joules_of_their_placements(radio):
    profile = profile_for("llama-3.2-1b", client_device="phone-soc", server_device="a100-80gb", seq_lens=(256, 271))
    cfg = SweepConfig(bandwidths=(20.0, 100.0), seq_lens=(256,), max_steps=3, gen_tokens=16, radio=radio)
    sw = run_sweep(profile, cfg)
    rows = sweep_rows(sw)
    checked = 0
    for i, row in enumerate(rows):
        for name in sw.solvers:
            assert row["radio"] == radio
            if not row[f"{name}_feasible"]:
                assert row[f"{name}_client_j"] is None
                continue
            policy = sw.policy(name)[i]
            sc = Scenario(deadline_ms=float(sw.deadline_ms[i]), up_mbps=float(sw.bandwidth[i]), seq_len=256,
                          gen_tokens=16, radio=radio)
            got = evaluate(profile, sc, policy)
            assert row[f"{name}_client_j"] == pytest.approx(got.client_energy_j, rel=1e-12)
            assert row[f"{name}_client_share"] == pytest.approx(got.client_share, abs=1e-12)   # its own placement
            checked += 1
    assert checked >= 8 and np.isfinite(sw.client_j).all(axis=0).any()
    assert any(r["exact_client_j"] is not None for r in rows)


def test_the_command_records_the_radio(capsys):
    rc, out, err = run_cli(["sweep", "--model", "llama-3.2-1b", "--client-device", "phone-soc", "--bandwidths", "20",
                            "--max-halvings", "2", "--gen-tokens", "8", "--radio", "lte", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["config"]["radio"] == "lte"
    assert "dp_client_j" in json.dumps(doc)


def test_exact_cells_under_a_ttft_limit_carry_joules_too(tmp_path):
    """With TTFT/TPOT limits exact comes from the request frontier: its cells carry its placement's joules, and
    the CSV has a radio column."""
    from splittui.report.writers import write_csv_atomic

    profile = profile_for("llama-3.2-1b", client_device="phone-soc", server_device="a100-80gb", seq_lens=(256, 271))
    cfg = SweepConfig(bandwidths=(50.0,), seq_lens=(256,), max_steps=2, gen_tokens=16, radio="5g", ttft_ms=3_000.0)
    sw = run_sweep(profile, cfg)
    rows = sweep_rows(sw)
    feasible = [i for i, r in enumerate(rows) if r["exact_feasible"]]
    assert feasible
    for i in feasible:
        sc = Scenario(deadline_ms=float(sw.deadline_ms[i]), up_mbps=50.0, seq_len=256, gen_tokens=16, radio="5g")
        assert rows[i]["exact_client_j"] == pytest.approx(evaluate(profile, sc, sw.policy("exact")[i]).client_energy_j,
                                                          rel=1e-12)
    path = write_csv_atomic(str(tmp_path / "s.csv"), rows)
    head = open(path).readline().strip().split(",")
    assert "radio" in head and "exact_client_j" in head

"""issue 29: `sweep` carries each cell's client joules (estimates) for every solver whose placement it keeps,
the same number `evaluate` gives that placement in that cell's scenario; the radio is recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import run_cli

from splittui.llm import profile_for
from splittui.model import Scenario
from splittui.solvers import evaluate
from splittui.sweep import SweepConfig, run_sweep, sweep_rows


@pytest.mark.parametrize("radio", ["wifi", "lte"])
def test_cells_carry_the_client_joules_of_their_placements(radio):
    profile = profile_for("llama-3.2-1b", client_device="phone-soc", server_device="a100-80gb", seq_lens=(256, 271))
    cfg = SweepConfig(bandwidths=(20.0, 100.0), seq_lens=(256,), max_steps=3, gen_tokens=16, radio=radio)
    sw = run_sweep(profile, cfg)
    rows = sweep_rows(sw)
    checked = 0
    for i, row in enumerate(rows):
        for name in sw.solvers:
            if name == "exact":
                assert row["exact_client_j"] is None     # its placements are not kept
                continue
            if not row[f"{name}_feasible"]:
                assert row[f"{name}_client_j"] is None
                continue
            policy = sw.policy(name)[i]
            sc = Scenario(deadline_ms=float(sw.deadline_ms[i]), up_mbps=float(sw.bandwidth[i]), seq_len=256,
                          gen_tokens=16, radio=radio)
            want = evaluate(profile, sc, policy).client_energy_j
            assert row[f"{name}_client_j"] == pytest.approx(want, rel=1e-12)
            checked += 1
    assert checked >= 6 and np.isfinite(sw.client_j).any()


def test_the_command_records_the_radio(capsys):
    rc, out, err = run_cli(["sweep", "--model", "llama-3.2-1b", "--client-device", "phone-soc", "--bandwidths", "20",
                            "--max-halvings", "2", "--gen-tokens", "8", "--radio", "lte", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["config"]["radio"] == "lte"
    assert "dp_client_j" in json.dumps(doc)

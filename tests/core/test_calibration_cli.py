"""The held-out check goes through the CLI: `splittui solve --solver all-client` with the same device on both
sides gives, at `--seq S`, the fit's prefill time (ttft_ms) and, with `--gen-tokens 2` at `--seq C`, its decode
step at context C (tpot_ms). Checked on held-out rows whose format has the dtype's own bits: Q4_K_M files run as
`--dtype q4_k_m` (4.85 bits); Q4_1 files, heavier than the CLI's int4, are left out."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli

from splittui.calibration import FORMATS
from splittui.calibration_io import load_fit, predict_ms, shipped_dir
from splittui.commands.calibrate import load_inputs
from splittui.hf_config import weight_bits


def _rows():
    points, _, _ = load_inputs([])
    exact = [p for p in points if p.holdout and FORMATS[p.format][1] == weight_bits(p.dtype)]
    picked: dict[tuple[str, str, int, bool], object] = {}
    for p in exact:   # one per runtime, phase, held-out set and Q4_K_M or not
        picked.setdefault((p.runtime, p.phase, p.holdout, p.format == "q4_k_m"), p)
    return list(picked.values())


def test_q4_k_m_rows_are_checked_with_their_own_dtype() -> None:
    assert sum(m.format == "q4_k_m" for m in _rows()) >= 5


@pytest.mark.parametrize("m", _rows(), ids=lambda m: f"{m.device}-{m.runtime}-{m.phase}-set{m.holdout}")
def test_solve_all_client_gives_the_fit_prediction(m, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SPLITTUI_CALIBRATION", str(tmp_path / "none.json"))
    _, archs, devs = load_inputs([])
    cfg = shipped_dir() / "configs" / f"{m.model}.json"
    argv = ["solve", "--hf-config", str(cfg) if cfg.is_file() else m.model, "--client-device", m.device,
            "--server-device", m.device, "--devices", str(shipped_dir() / "devices.toml"), "--runtime", m.runtime,
            "--dtype", m.dtype, "--solver", "all-client", "--deadline-ms", "1e9", "--json"]
    argv += ["--seq", m.tokens] if m.phase == "prefill" else ["--seq", m.context, "--gen-tokens", 2]
    rc, out, err = run_cli(argv, capsys)
    assert rc == 0, err
    doc = json.loads(out)
    got = doc["ttft_ms"] if m.phase == "prefill" else doc["tpot_ms"]
    assert got == pytest.approx(predict_ms(load_fit(), m, archs, devs), rel=1e-6)

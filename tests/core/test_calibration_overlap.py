"""The device model's session-22 terms (docs/device-model.md): a stage's compute and memory times combine as
(c^p + m^p)^(1/p); a float linear FLOP at prefill costs 1 + phi on a runtime tuned for quantised GEMMs, phi
fitted only where a device's training points hold both kinds of prefill; and the LM head keeps the precision the
runtime's files write it at."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from splittui import calibration_fit
from splittui.calibration import Calibration, Fit, Measurement, StageTimer, _key, head_bits, overlap_s
from splittui.calibration_fit import fit
from splittui.calibration_io import _fit_from_doc, load_fit, predict_ms, short_band
from splittui.commands.calibrate import load_inputs
from splittui.devices import PRESETS
from splittui.llm import load_arch, profile_for

ARCHS = {n: load_arch(n) for n in ("llama-3.2-1b", "llama-3.2-3b", "qwen2.5-0.5b")}
DEVS = dict(PRESETS)
P = calibration_fit.OVERLAP_P


def _points(truth: Calibration, formats: tuple[str, ...]) -> list[Measurement]:
    f = Fit({}, {_key(truth.device, truth.runtime): truth})
    out = []
    for model in ARCHS:
        for fmt in formats:
            for phase, tokens, ctx in (("prefill", 512, 0), ("prefill", 64, 0), ("decode", 1, 128)):
                m = Measurement(truth.device, truth.runtime, model, fmt, phase, tokens, ctx, 1.0, source="synthetic")
                out.append(replace(m, ms=predict_ms(f, m, ARCHS, DEVS)))
    return out


def test_a_stage_combines_compute_and_memory_by_the_p_norm() -> None:
    assert overlap_s(3.0, 4.0, 0.0) == 4.0                       # p = 0 stands for the max (old fits)
    assert overlap_s(3.0, 4.0, 1.0) == pytest.approx(7.0)         # no overlap at all
    assert overlap_s(3.0, 4.0, 2.0) == pytest.approx(5.0)
    assert overlap_s(3.0, 4.0, 1.5) == pytest.approx((3.0 ** 1.5 + 4.0 ** 1.5) ** (1 / 1.5))
    assert overlap_s(0.0, 0.0, 1.5) == 0.0
    dev = PRESETS["a100-80gb"]
    cal = Calibration(dev.name, "tensorrt-llm", 1.0, 1.0, 1e-12, 1e-12, 0.0, 1.0, True, overlap_p=1.5)
    flops, moved = 312e12 * 1e-3, 2039e9 * 1e-3                   # 1 ms of compute, 1 ms of memory
    got = StageTimer(dev, cal, "fp16").prefill_ms("linear", flops, moved, 1, fp32=False)
    assert got == pytest.approx(2 ** (1 / 1.5), rel=1e-6)        # at the ridge: 1.59 ms, not the max's 1 ms
    assert StageTimer(dev, replace(cal, overlap_p=0.0), "fp16").prefill_ms(
        "linear", flops, moved, 1, fp32=False) == pytest.approx(1.0, rel=1e-6)


def test_fits_written_before_the_overlap_keep_the_max_and_float_gemms_at_par() -> None:
    doc = load_fit().to_doc()
    for g in doc["groups"].values():
        g.pop("overlap_p"), g.pop("float_linear")
    for r in doc["runtimes"].values():
        r.pop("overlap_p"), r.pop("float_linear")
    old = _fit_from_doc(doc, "old.json")
    assert all(c.overlap_p == 0.0 and c.float_linear == 1.0 for c in old.groups.values())
    assert load_fit().groups["phone-soc|llama.cpp-opencl"].overlap_p == P


def test_fit_recovers_the_float_gemm_cost_where_a_device_has_both_kinds_of_prefill() -> None:
    truth = Calibration("phone-soc", "llama.cpp-opencl", 0.4, 0.5, 10.0, 2.0, 0.2, 1.0, False, score_bpf=1 / 32,
                        float_linear=8.0, overlap_p=P)
    points = _points(truth, ("f16", "q4_0"))
    got = fit(points, ARCHS, DEVS, errors=False).groups[_key(truth.device, truth.runtime)]
    assert got.float_linear == pytest.approx(8.0, rel=0.15)
    assert got.eff_compute == pytest.approx(0.4, rel=0.1)
    f = fit(points, ARCHS, DEVS, errors=False)
    for m in points:
        assert predict_ms(f, m, ARCHS, DEVS) == pytest.approx(m.ms, rel=0.05)


def test_without_both_kinds_of_prefill_float_gemms_stay_at_par() -> None:
    truth = Calibration("phone-soc", "llama.cpp-opencl", 0.4, 0.5, 10.0, 2.0, 0.2, 1.0, False, score_bpf=1 / 32,
                        float_linear=8.0, overlap_p=P)
    quant_only = fit(_points(truth, ("q4_0",)), ARCHS, DEVS, errors=False)
    assert quant_only.groups[_key(truth.device, truth.runtime)].float_linear == pytest.approx(1.0, abs=1e-9)
    assert quant_only.runtimes["llama.cpp-opencl"]["float_linear"] == pytest.approx(1.0, abs=1e-9)


def test_leave_one_out_refits_drop_the_float_cost_with_the_contrast() -> None:
    """Leaving out the only quantised prefill of a device leaves no contrast: phi is not fitted in that refit."""
    truth = Calibration("phone-soc", "llama.cpp-opencl", 0.4, 0.5, 10.0, 2.0, 0.2, 1.0, False, float_linear=8.0,
                        overlap_p=P)
    points = [m for m in _points(truth, ("f16", "q4_0")) if m.model == "llama-3.2-1b"]
    rts, groups = [truth.runtime], [_key(truth.device, truth.runtime)]
    d = calibration_fit._design(points, ARCHS, DEVS, rts, groups, [truth.device])
    train = np.ones(len(points), bool)
    assert calibration_fit._contrasted(d, train, 0)
    for i, m in enumerate(points):
        if m.phase == "prefill" and m.format == "q4_0":
            train[i] = False
    assert not calibration_fit._contrasted(d, train, 0)


def test_the_profile_path_gives_the_fit_paths_prediction_on_a_float_opencl_prefill() -> None:
    points, archs, devs = load_inputs([])
    f = fit(points, archs, devs, errors=False)
    rts = sorted({m.runtime for m in points})
    groups = sorted({_key(m.device, m.runtime) for m in points})
    d = calibration_fit._design(points, archs, devs, rts, groups, sorted({m.device for m in points}))
    train = np.array([not m.holdout for m in points])
    theta = calibration_fit._lsq(d, train, len(rts), len(groups))
    fit_ms = np.exp(calibration_fit._predict_log(theta, d, len(rts)))
    i = next(i for i, m in enumerate(points) if m.device == "phone-soc" and m.format == "f16" and m.phase == "prefill")
    assert predict_ms(f, points[i], archs, devs) == pytest.approx(float(fit_ms[i]), rel=1e-6)
    assert abs(math.log2(fit_ms[i] / points[i].ms)) < math.log2(1.25)   # the F16 prefill the old model missed 3.9x


@pytest.mark.parametrize(("runtime", "dtype", "bits"), [
    ("llama.cpp-cuda", "int4", 6.5625), ("llama.cpp-opencl", "int4", 6.5625), ("llama.cpp-metal", "int8", None),
    ("tensorrt-llm", "int4", 16.0), ("vllm", "int8", 16.0), ("mlc", "int4", None), ("torch", "int4", None),
    ("llama.cpp-cuda", "fp16", None), ("tensorrt-llm", "bf16", None), (None, "int4", None)])
def test_the_head_keeps_the_precision_the_runtime_writes_it_at(runtime, dtype, bits) -> None:
    """llama.cpp's quantiser writes the output tensor as Q6_K for its 4-bit formats; AWQ and weight-only
    checkpoints keep lm_head in 16 bits; MLC and torch quantise it with the rest."""
    assert head_bits(runtime, dtype) == bits


def test_a_runtime_profile_holds_and_reads_the_head_at_its_own_bits() -> None:
    """Only the LM head changes: its weights (memory and bytes read) at Q6_K on llama.cpp, every block as before."""
    arch = load_arch("llama-3.2-1b")
    plain = profile_for(arch, dtype="int4", client_device="phone-soc", server_device="a100-80gb")
    cpp = profile_for(arch, dtype="int4", client_device="phone-soc", server_device="a100-80gb",
                      runtime="llama.cpp-opencl")
    head_p = next(x for x in plain.layers if x.name == "lm_head")
    head_c = next(x for x in cpp.layers if x.name == "lm_head")
    assert head_p.weight_bytes[0] == pytest.approx(arch.vocab * arch.d * 4.5 / 8)
    assert head_c.weight_bytes[0] == pytest.approx(arch.vocab * arch.d * 6.5625 / 8)
    assert [x.weight_bytes for x in plain.layers if x.name != "lm_head"] == \
        [x.weight_bytes for x in cpp.layers if x.name != "lm_head"]
    assert plain.sha256 != cpp.sha256


def test_a_fit_without_its_errors_says_so_instead_of_a_zero_band() -> None:
    """`calibrate --no-errors` skips the leave-one-out refits: the bands say the error was not measured (they used
    to read ±0 %), in full and on the status line."""
    truth = Calibration("phone-soc", "llama.cpp-opencl", 0.4, 0.5, 10.0, 2.0, 0.2, 1.0, False, overlap_p=P)
    f = fit(_points(truth, ("q4_0",)), ARCHS, DEVS, errors=False)
    cal = f.groups[_key(truth.device, truth.runtime)]
    assert cal.loo_pct < 0 and f.runtimes[truth.runtime]["loo_pct"] < 0
    assert cal.band().startswith("error not measured (9 published points") and "±" not in cal.band()
    assert short_band(cal.band()) == "error not measured"
    measured = fit(_points(truth, ("q4_0",)), ARCHS, DEVS).groups[_key(truth.device, truth.runtime)]
    assert measured.loo_pct >= 0 and measured.band().startswith("±")

"""The runtime-aware device model, fitted to measurements (docs/device-model.md; extends SPEC §9). Pure numpy.

A device preset gives peaks and bandwidth; a *runtime* (llama.cpp on CUDA, MLC, TensorRT-LLM, …) decides
how much of them a model reaches. For one device × runtime a stage's time is

    t = max(F' / (P · e_c), B' / (W · e_m) + B' / (P32 · β)) + k · (κ + τ / K)

with ``F'`` the stage's FLOPs (attention halved where the runtime skips masked blocks; quantised
linear stages at prefill times ``1 + δ`` for dequantisation), ``B'`` its bytes at the format's real bits
per weight (decode: ``e_m · q`` for quantised weights; plus ``σ`` bytes per attention FLOP at prefill where
the runtime materialises the scores), ``B' / (P32 · β)`` the per-thread streaming limit of ggml's CPU kernels
(``llama.cpp-cpu`` only), ``k`` its kernels, ``K`` the kernels of a whole
forward step, ``κ`` a per-kernel and ``τ`` a per-step (per-token) overhead. Parameters are fitted by
least squares on log time: per runtime ``e_c, e_m, τ, κ, δ, q, β, σ``, per device × runtime offsets of
``e_c, e_m, τ`` and per device offsets of ``e_c, e_m`` (across its runtimes), all held towards zero (shared
where data is thin). ``P`` is the 16-bit peak, the fp32 peak for fp32 weights and on ``llama.cpp-cpu``, the
FP16-accumulate tensor peak for ``llama.cpp-cuda`` where the device lists one (GeForce cards: :func:`peak_tflops`).
:func:`fit` also measures its own error by leave-one-out and leave-one-model-out refits; :func:`band_text`
says it beside an estimate.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .devices import Device
from .errors import SplittuiError
from .hf_config import Arch, StageCost, chain_parts, weight_bits

__all__ = ["RUNTIMES", "FORMATS", "HOLDOUT_SETS", "Measurement", "Calibration", "StageTimer", "Fit", "timer_for", "fit",
           "predict_ms", "peak_tflops", "stage_table", "read_measurements", "read_llama_bench", "load_fit", "save_fit",
           "calibration_for", "band_text", "profile_bands", "short_band", "shipped_dir", "summary"]

# runtime -> attention counted causal (flash / masked-block skipping) by default
RUNTIMES: dict[str, bool] = {
    "llama.cpp-cuda": False, "llama.cpp-metal": False, "llama.cpp-cpu": False, "llama.cpp-opencl": False,
    "llama.cpp-vulkan": False, "mlc": True, "tensorrt-llm": True, "vllm": True, "torch": True,
}
# measurement format -> (splittui dtype, real bits per weight)
FORMATS: dict[str, tuple[str, float]] = {
    "f32": ("fp32", 32.0), "f16": ("fp16", 16.0), "fp16": ("fp16", 16.0), "bf16": ("bf16", 16.0),
    "q8_0": ("int8", 8.5), "int8": ("int8", 8.5), "w8a16": ("int8", 8.5),
    "q4_0": ("int4", 4.5), "int4": ("int4", 4.5), "q4f16_1": ("int4", 4.5), "q4f16_ft": ("int4", 4.5),
    "w4a16": ("int4", 4.5), "q4_k_m": ("int4", 4.85), "q4_1": ("int4", 5.0),
}
_QUANT = ("int8", "int4")
# The held-out sets of measurements.csv's `holdout` column (docs/device-model.md). Set 1 was chosen in session 13
# and its errors have since been looked at; set 2 was collected in session 14 before the model was changed; set 3
# (edge and datacenter GPUs) in session 15, before that session's changes.
HOLDOUT_SETS: dict[int, str] = {1: "held-out set 1 (session 13; its errors were seen)",
                                2: "held-out set 2 (fresh, collected before the session-14 changes)",
                                3: "held-out set 3 (edge and datacenter GPUs, collected before the session-15 changes)"}
# Runtimes whose quantised and 16-bit matmuls run on the CPU's fp32/int8 SIMD lanes (ggml's CPU kernels):
# their compute reference is the preset's fp32 peak, not a 16-bit FMA rate those kernels do not use.
_FP32_PEAK_RUNTIMES = frozenset({"llama.cpp-cpu"})


# Runtimes whose cores stream weights themselves (ggml's CPU kernels): a thread loads and unpacks its share of
# the weights at a rate bounded by its own clock and load ports, so the bytes a step can stream scale with the
# threads in use (their fp32 peak stands for them) until the memory bus saturates: 1/W' = 1/(W·e_m) + 1/(P32·β).
_STREAM_RUNTIMES = frozenset({"llama.cpp-cpu"})
# per runtime: log e_c, log e_m, log tau_ms, log kappa_us, log delta, log q, log beta (bytes a thread streams per
# fp32 FLOP/s of its peak; used on _STREAM_RUNTIMES only), log sigma (bytes of attention scores written and read
# per attention FLOP at prefill, on runtimes that materialise them: ~16 B per score / 4·head_dim FLOPs ≈ 1/32)
# (prior centre, prior weight)
_RT_PRIOR = ((math.log(0.5), 0.3), (math.log(0.7), 0.3), (math.log(1.0), 0.1), (math.log(2.0), 0.1),
             (math.log(0.2), 0.5), (0.0, 1.0), (math.log(0.2), 0.3), (math.log(1 / 32), 0.3))
# Offsets of a device × runtime from its runtime, and of a device across all its runtimes (its preset's peaks
# or bandwidth off by a factor whatever runs on it), each held towards 0 (ln units). Weight 1 each keeps the
# prior on the sum (a device with one runtime) at the former single offset's width: sqrt(2) ≈ 1/0.7.
_GROUP_W = 1.0
_DEV_W = 1.0
_NRT, _NG, _ND = 8, 3, 2


# Runtimes whose 16-bit GEMMs accumulate in FP16 (llama.cpp's CUDA kernels: cuBLAS with CUBLAS_COMPUTE_16F, MMA
# with f16 accumulators): on a device whose FP16-accumulate tensor rate is above its listed 16-bit peak (GeForce
# cards, `Device.fp16_acc16_tflops`) their compute reference is that rate. Vulkan was tried and not kept
# (docs/device-model.md, session 21: it made held-out set 2's Vulkan prefills worse).
_ACC16_RUNTIMES = frozenset({"llama.cpp-cuda"})


def _fp32_peak(runtime: str, fp32: bool) -> bool:
    return fp32 or runtime in _FP32_PEAK_RUNTIMES


def peak_tflops(device: Device, runtime: str, fp32: bool) -> float:
    """The dense peak `runtime`'s efficiency on `device` is relative to: fp32 for fp32 weights and on llama.cpp-cpu,
    the FP16-accumulate tensor rate for llama.cpp's CUDA kernels where the preset gives one, else 16-bit."""
    if _fp32_peak(runtime, fp32):
        return device.fp32_tflops
    if runtime in _ACC16_RUNTIMES and device.fp16_acc16_tflops > 0:
        return device.fp16_acc16_tflops
    return device.fp16_tflops


@dataclass(frozen=True, slots=True)
class Measurement:
    """One published batch-1 figure: a prefill of `tokens` tokens, or one decode step at `context`."""

    device: str
    runtime: str
    model: str
    format: str
    phase: str          # prefill | decode
    tokens: int
    context: int
    ms: float           # time of the prefill, or of one decode step
    holdout: int = 0    # 0: fitted; 1, 2, …: never fitted, the held-out set it belongs to (HOLDOUT_SETS)
    source: str = ""
    date: str = ""
    build: str = ""

    @property
    def dtype(self) -> str:
        return FORMATS[self.format][0]


@dataclass(frozen=True, slots=True)
class Calibration:
    """The fitted parameters of one device × runtime and the error measured for them."""

    device: str
    runtime: str
    eff_compute: float
    eff_mem: float
    step_ms: float
    kernel_us: float
    dequant: float
    quant_mem: float
    causal: bool
    points: int = 0          # published points of this device × runtime in the fit
    loo_pct: float = 0.0     # 80th percentile |error| of leave-one-out predictions, %
    loo_points: int = 0      # how many leave-one-out predictions that figure rests on
    lomo_pct: float = 0.0    # the same, leaving each model out in turn
    pooled: bool = False     # True: too few points of its own, the band is its runtime's
    stream_bpf: float = 0.0  # bytes a core streams per fp32 FLOP/s of its peak (0: not limited per thread)
    score_bpf: float = 0.0   # attention-score bytes per attention FLOP at prefill (non-causal runtimes)

    def band(self) -> str:
        if self.points == 0:
            return f"uncalibrated on {self.device} ({self.runtime}-wide fit, ±{self.loo_pct:.0f} % on its devices)"
        where = f", {self.runtime}" + (" (band pooled over the runtime)" if self.pooled else "")
        return f"±{self.loo_pct:.0f} %, {self.points} published point{'s' * (self.points != 1)}{where}"


# ---------------------------------------------------------------- the timing a profile uses

@dataclass(frozen=True, slots=True)
class StageTimer:
    """Times stages on one device: the plain roofline (``cal`` None) or a calibrated runtime."""

    device: Device
    cal: Calibration | None = None
    dtype: str = "bf16"
    step_kernels: int = 1

    def prefill_ms(self, kind: str, flops: float, moved: float, kernels: int, *, fp32: bool) -> float:
        return self._ms(kind, flops, moved, kernels, fp32=fp32, prefill=True)

    def decode_ms(self, kind: str, flops: float, moved: float, kernels: int, *, fp32: bool) -> float:
        return self._ms(kind, flops, moved, kernels, fp32=fp32, prefill=False)

    def _ms(self, kind: str, flops: float, moved: float, kernels: int, *, fp32: bool, prefill: bool) -> float:
        c = self.cal
        if c is None:
            return self.device.time_ms(flops, moved, kernels, fp32=fp32)
        quant = self.dtype in _QUANT
        f = flops * (0.5 if prefill and c.causal and kind == "attention" else 1.0)
        f *= 1.0 + c.dequant if prefill and quant and kind == "linear" else 1.0
        dev = self.device
        peak = peak_tflops(dev, c.runtime, fp32) * 1e12 * c.eff_compute
        bw = dev.mem_gbps * 1e9 * c.eff_mem * (c.quant_mem if quant and not prefill else 1.0)
        moved += c.score_bpf * flops if prefill and not c.causal and kind == "attention" else 0.0
        stream = moved / (dev.fp32_tflops * 1e12 * c.stream_bpf) if c.stream_bpf > 0 else 0.0
        fixed = kernels * (c.kernel_us * 1e-3 + c.step_ms / max(self.step_kernels, 1))
        return max(f / peak, moved / bw + stream) * 1e3 + fixed


def timer_for(device: Device, runtime: str | None, dtype: str, step_kernels: int,
              fit_doc: Fit | None = None) -> StageTimer:
    """The timer a profile uses on `device`: the roofline when no runtime is given."""
    if runtime is None:
        return StageTimer(device)
    return StageTimer(device, calibration_for(device.name, runtime, fit_doc), dtype, step_kernels)


# ---------------------------------------------------------------- features of a measurement

def stage_table(arch: Arch, dtype: str, tokens: int, context: int, *, decode: bool) -> dict[str, np.ndarray]:
    """Per stage of one forward step, as llm.py times it: count (a block's stages repeat), FLOPs, bytes
    moved (in + out + weights + KV read), weight bytes read, kernels, attention and linear flags."""
    s = 1 if decode else tokens
    embed, block, head = chain_parts(arch, s, context if decode else s, dtype=dtype, decode=decode)
    resid = block[0].in_bytes
    rows: list[tuple[int, StageCost, float]] = [(1, embed, resid)]
    rows += [(arch.n_layers, st, block[j + 1].in_bytes if j + 1 < len(block) else resid)
             for j, st in enumerate(block)]
    rows += [(1, st, head[j + 1].in_bytes if j + 1 < len(head) else float(arch.vocab * 4))
             for j, st in enumerate(head)]
    return {
        "n": np.array([n for n, _, _ in rows], float),
        "flops": np.array([r.mm_flops + r.elem_flops for _, r, _ in rows]),
        "moved": np.array([r.in_bytes + o + r.weights_read + r.kv_read for _, r, o in rows]),
        "wread": np.array([r.weights_read for _, r, _ in rows]),
        "kernels": np.array([r.kernels for _, r, _ in rows], float),
        "attn": np.array([r.kind == "attention" for _, r, _ in rows]),
        "linear": np.array([r.kind == "linear" for _, r, _ in rows]),
    }


@dataclass(frozen=True)
class _Design:
    """Every measurement's stages as padded arrays (N × S), plus its runtime and group indices."""

    n: np.ndarray
    flops_c: np.ndarray     # compute FLOPs with causal attention and the dequant factor still to apply
    lin_q: np.ndarray       # FLOPs of quantised linear stages at prefill (times delta)
    moved: np.ndarray
    kern: np.ndarray        # kernels per step, N
    peak: np.ndarray        # FLOP/s, N
    bw: np.ndarray          # byte/s, N
    qdec: np.ndarray        # 1 where a quantised decode (quant_mem applies)
    attn_nc: np.ndarray     # FLOPs of attention stages at prefill on runtimes that materialise the scores
    p32: np.ndarray         # fp32 FLOP/s where the runtime streams per thread (_STREAM_RUNTIMES), else 0
    rt: np.ndarray
    grp: np.ndarray
    dev: np.ndarray
    n_g: int
    log_ms: np.ndarray


def _design(points: Sequence[Measurement], archs: Mapping[str, Arch], devices: Mapping[str, Device],
            rts: list[str], groups: list[str], devs: list[str]) -> _Design:
    tables = [_features(m, archs, devices) for m in points]
    width = max(len(t["n"]) for t in tables)

    def pad(key: str, t: dict[str, np.ndarray]) -> np.ndarray:
        out = np.zeros(width)
        out[:len(t[key])] = t[key]
        return out

    n = np.array([pad("n", t) for t in tables])
    return _Design(
        n=n, flops_c=np.array([pad("flops_c", t) for t in tables]), lin_q=np.array([pad("lin_q", t) for t in tables]),
        moved=np.array([pad("moved", t) for t in tables]), attn_nc=np.array([pad("attn_nc", t) for t in tables]),
        kern=np.array([float((t["n"] * t["kernels"]).sum()) for t in tables]),
        peak=np.array([peak_tflops(devices[m.device], m.runtime, m.dtype == "fp32") * 1e12 for m in points]),
        bw=np.array([devices[m.device].mem_gbps * 1e9 for m in points]),
        qdec=np.array([float(m.phase == "decode" and m.dtype in _QUANT) for m in points]),
        p32=np.array([devices[m.device].fp32_tflops * 1e12 * (m.runtime in _STREAM_RUNTIMES) for m in points]),
        rt=np.array([rts.index(m.runtime) for m in points]),
        grp=np.array([groups.index(_key(m.device, m.runtime)) for m in points]),
        dev=np.array([devs.index(m.device) for m in points]), n_g=len(groups),
        log_ms=np.log([m.ms for m in points]))


def _features(m: Measurement, archs: Mapping[str, Arch], devices: Mapping[str, Device]) -> dict[str, np.ndarray]:
    t = stage_table(archs[m.model], m.dtype, m.tokens, m.context, decode=m.phase == "decode")
    scale = FORMATS[m.format][1] / weight_bits(m.dtype)   # a Q4_K_M file is heavier than int4's 4.5 bits
    prefill = m.phase == "prefill"
    causal = prefill and RUNTIMES[m.runtime]
    flops = t["flops"] * np.where(t["attn"] & causal, 0.5, 1.0)
    quant_lin = t["linear"] & (prefill and m.dtype in _QUANT)
    scores = t["attn"] & (prefill and not RUNTIMES[m.runtime])
    return {"n": t["n"], "kernels": t["kernels"], "flops_c": flops, "lin_q": np.where(quant_lin, flops, 0.0),
            "moved": t["moved"] + t["wread"] * (scale - 1.0), "attn_nc": np.where(scores, flops, 0.0)}


def _predict_log(theta: np.ndarray, d: _Design, n_rt: int) -> np.ndarray:
    return _model(theta, d, n_rt)[0]


def _model(theta: np.ndarray, d: _Design, n_rt: int) -> tuple[np.ndarray, np.ndarray]:
    """ln(ms) of every point and its derivatives by the 8 runtime, 3 group and 2 device parameters (N × 13)."""
    rtp = theta[:n_rt * _NRT].reshape(n_rt, _NRT)[d.rt]
    g0 = n_rt * _NRT + d.n_g * _NG
    gp = theta[n_rt * _NRT:g0].reshape(-1, _NG)[d.grp]
    dp = theta[g0:].reshape(-1, _ND)[d.dev]
    ec, em = np.exp(rtp[:, 0] + gp[:, 0] + dp[:, 0]), np.exp(rtp[:, 1] + gp[:, 1] + dp[:, 1])
    step_ms, kern_us = np.exp(rtp[:, 2] + gp[:, 2]), np.exp(rtp[:, 3])
    delta, qm, beta, sigma = np.exp(rtp[:, 4]), np.exp(rtp[:, 5]), np.exp(rtp[:, 6]), np.exp(rtp[:, 7])
    deq = d.lin_q * delta[:, None] / (d.peak * ec)[:, None]
    comp = d.flops_c / (d.peak * ec)[:, None] + deq
    inv_w = 1.0 / (d.bw * em * np.where(d.qdec > 0, qm, 1.0))
    inv_s = np.divide(1.0, d.p32 * beta, out=np.zeros_like(d.p32), where=d.p32 > 0)
    scores = d.attn_nc * sigma[:, None]
    moved = d.moved + scores
    mem = moved * (inv_w + inv_s)[:, None]
    bound = comp >= mem
    mem_n = d.n * np.where(bound, 0.0, 1.0) * 1e3
    t_c = (d.n * np.where(bound, comp, 0.0)).sum(axis=1) * 1e3
    t_m = (mem_n * moved).sum(axis=1) * inv_w
    t_s = (mem_n * moved).sum(axis=1) * inv_s
    t_sc = (mem_n * scores).sum(axis=1) * (inv_w + inv_s)
    t_k = d.kern * kern_us * 1e-3
    ms = t_c + t_m + t_s + t_k + step_ms
    t_d = (d.n * np.where(bound, deq, 0.0)).sum(axis=1) * 1e3
    jac = np.stack([-t_c, -t_m, step_ms, t_k, t_d, -t_m * (d.qdec > 0), -t_s, t_sc], axis=1) / ms[:, None]
    return np.asarray(np.log(ms)), np.concatenate([jac, jac[:, :_NG], jac[:, :_ND]], axis=1)


# ---------------------------------------------------------------- least squares

def _prior(n_rt: int, n_g: int, n_d: int) -> tuple[np.ndarray, np.ndarray]:
    centre = np.concatenate([np.tile([c for c, _ in _RT_PRIOR], n_rt), np.zeros(n_g * _NG + n_d * _ND)])
    weight = np.concatenate([np.tile([w for _, w in _RT_PRIOR], n_rt), np.full(n_g * _NG, _GROUP_W),
                             np.full(n_d * _ND, _DEV_W)])
    return centre, weight


def _lsq(d: _Design, mask: np.ndarray, n_rt: int, n_g: int, theta0: np.ndarray | None = None,
         iters: int = 60) -> np.ndarray:
    """Levenberg–Marquardt on ln-time residuals of the points in `mask` plus the ridge priors.
    O(iters · (N · S + P³)) with P parameters, N points, S stages (analytic Jacobian)."""
    n_d = int(d.dev.max()) + 1
    centre, weight = _prior(n_rt, n_g, n_d)
    theta = centre.copy() if theta0 is None else theta0.copy()

    rows = np.flatnonzero(mask)
    cols_rt = d.rt[rows][:, None] * _NRT + np.arange(_NRT)
    cols_g = n_rt * _NRT + d.grp[rows][:, None] * _NG + np.arange(_NG)
    cols_d = n_rt * _NRT + n_g * _NG + d.dev[rows][:, None] * _ND + np.arange(_ND)
    cols = np.concatenate([cols_rt, cols_g, cols_d], axis=1)

    def resid(th: np.ndarray) -> np.ndarray:
        return np.concatenate([(_predict_log(th, d, n_rt) - d.log_ms)[mask], weight * (th - centre)])

    def jacobian(th: np.ndarray) -> np.ndarray:
        jac = np.zeros((rows.size + th.size, th.size))
        part = _model(th, d, n_rt)[1][rows]
        np.add.at(jac, (np.repeat(np.arange(rows.size), cols.shape[1]), cols.ravel()), part.ravel())
        jac[rows.size:, :] = np.diag(weight)
        return jac

    r = resid(theta)
    cost, lam = float(r @ r), 1e-3
    for _ in range(iters):
        jac = jacobian(theta)
        a, g = jac.T @ jac, jac.T @ r
        while lam < 1e10:
            step = np.linalg.solve(a + lam * (np.diag(np.diag(a)) + 1e-9 * np.eye(theta.size)), -g)
            r_new = resid(theta + step)
            c_new = float(r_new @ r_new)
            if c_new < cost:
                break
            lam *= 5.0
        else:
            return np.asarray(theta, float)
        theta, r, gain, cost = theta + step, r_new, cost - c_new, c_new
        lam = max(lam / 5.0, 1e-9)
        if gain < 1e-10 * (1.0 + cost):
            break
    return np.asarray(theta, float)


# ---------------------------------------------------------------- the fit and its error

@dataclass(frozen=True, slots=True)
class Fit:
    """Fitted parameters per runtime and per device × runtime, their leave-one-out error, held-out check."""

    runtimes: dict[str, dict[str, float]]
    groups: dict[str, Calibration]
    loo: tuple[tuple[str, str, str, float], ...] = ()       # (device, runtime, phase, log2 pred/measured)
    lomo: tuple[tuple[str, str, str, float], ...] = ()
    heldout: tuple[tuple[str, str, str, float], ...] = ()
    points: int = 0
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    heldout_set: tuple[int, ...] = ()                        # the held-out set of each `heldout` row

    def heldout_of(self, which: int) -> tuple[tuple[str, str, str, float], ...]:
        """The held-out rows of one set (all of them where the fit predates the sets)."""
        if len(self.heldout_set) != len(self.heldout):
            return self.heldout if which == 1 else ()
        return tuple(r for r, s in zip(self.heldout, self.heldout_set) if s == which)

    def to_doc(self) -> dict[str, Any]:
        return {"schema": "splittui.calibration/1", "created": self.created, "points": self.points,
                "model": "docs/device-model.md", "runtimes": self.runtimes,
                "groups": {k: asdict(c) for k, c in self.groups.items()},
                "loo": [list(x) for x in self.loo], "lomo": [list(x) for x in self.lomo],
                "heldout": [list(x) for x in self.heldout], "heldout_set": list(self.heldout_set), **self.extra}


def _key(device: str, runtime: str) -> str:
    return f"{device}|{runtime}"


def fit(points: Sequence[Measurement], archs: Mapping[str, Arch], devices: Mapping[str, Device], *,
        errors: bool = True, created: str = "") -> Fit:
    """Fit the model to the points not marked ``holdout``; with `errors`, refit once per left-out point
    (leave-one-out) and once per left-out model (leave-one-model-out), and predict the held-out points."""
    _check(points, archs, devices)
    rts = sorted({m.runtime for m in points})
    groups = sorted({_key(m.device, m.runtime) for m in points})
    d = _design(points, archs, devices, rts, groups, sorted({m.device for m in points}))
    train = np.array([not m.holdout for m in points])
    if not train.any():
        raise SplittuiError("calibrate: every measurement is marked holdout; nothing to fit")
    theta = _lsq(d, train, len(rts), len(groups))
    loo, lomo = (_loo(points, d, train, theta, len(rts), len(groups)) if errors else ((), ()))
    pred = _predict_log(theta, d, len(rts))
    held = tuple((m.device, m.runtime, m.phase, float((pred[i] - d.log_ms[i]) / math.log(2)))
                 for i, m in enumerate(points) if m.holdout)
    out = _assemble(points, train, rts, groups, theta, loo, lomo, held, created)
    return replace(out, heldout_set=tuple(int(m.holdout) for m in points if m.holdout))


def _loo(points: Sequence[Measurement], d: _Design, train: np.ndarray, theta: np.ndarray, n_rt: int,
         n_g: int) -> tuple[tuple[tuple[str, str, str, float], ...], tuple[tuple[str, str, str, float], ...]]:
    """Leave-one-out and leave-one-model-out: each prediction comes from a fit that never saw the point."""
    def row(i: int, th: np.ndarray) -> tuple[str, str, str, float]:
        m = points[i]
        return m.device, m.runtime, m.phase, float((_predict_log(th, d, n_rt)[i] - d.log_ms[i]) / math.log(2))

    loo = []
    for i in np.flatnonzero(train):
        mask = train.copy()
        mask[i] = False
        loo.append(row(int(i), _lsq(d, mask, n_rt, n_g, theta, iters=15)))
    lomo = []
    for model in sorted({points[int(i)].model for i in np.flatnonzero(train)}):
        out = np.array([m.model == model for m in points]) & train
        th = _lsq(d, train & ~out, n_rt, n_g, theta, iters=15)
        lomo += [row(int(i), th) for i in np.flatnonzero(out)]
    return tuple(loo), tuple(lomo)


def _pct(log2s: Sequence[float]) -> float:
    """80th percentile of |relative error| in %, from log2(pred/measured) values."""
    if not log2s:
        return 0.0
    return float(np.percentile([abs(2.0 ** x - 1.0) * 100 for x in log2s], 80))


def _assemble(points: Sequence[Measurement], train: np.ndarray, rts: list[str], groups: list[str],
              theta: np.ndarray, loo: tuple[tuple[str, str, str, float], ...],
              lomo: tuple[tuple[str, str, str, float], ...], held: tuple[tuple[str, str, str, float], ...],
              created: str) -> Fit:
    n_rt = len(rts)
    rtp = theta[:n_rt * _NRT].reshape(n_rt, _NRT)
    g0 = n_rt * _NRT + len(groups) * _NG
    gp = theta[n_rt * _NRT:g0].reshape(-1, _NG)
    dp = dict(zip(sorted({m.device for m in points}), theta[g0:].reshape(-1, _ND)))
    runtimes = {}
    for r, name in enumerate(rts):
        e = np.exp(rtp[r])
        runtimes[name] = {"eff_compute": float(e[0]), "eff_mem": float(e[1]), "step_ms": float(e[2]),
                          "kernel_us": float(e[3]), "dequant": float(e[4]), "quant_mem": float(e[5]),
                          "stream_bpf": float(e[6]) if name in _STREAM_RUNTIMES else 0.0,
                          "score_bpf": 0.0 if RUNTIMES[name] else float(e[7]), "causal": RUNTIMES[name],
                          "loo_pct": _pct([x[3] for x in loo if x[1] == name]),
                          "points": int(sum(1 for i, m in enumerate(points) if train[i] and m.runtime == name))}
    out: dict[str, Calibration] = {}
    for g, key in enumerate(groups):
        dev, rt = key.split("|")
        rtv = runtimes[rt]
        mine = [x[3] for x in loo if x[0] == dev and x[1] == rt]
        pooled = len(mine) < 3
        off_c, off_m = gp[g, 0] + dp[dev][0], gp[g, 1] + dp[dev][1]
        out[key] = Calibration(
            dev, rt, rtv["eff_compute"] * math.exp(off_c), rtv["eff_mem"] * math.exp(off_m),
            rtv["step_ms"] * math.exp(gp[g, 2]), rtv["kernel_us"], rtv["dequant"], rtv["quant_mem"],
            RUNTIMES[rt], points=sum(1 for i, m in enumerate(points) if train[i] and _key(m.device, m.runtime) == key),
            loo_pct=rtv["loo_pct"] if pooled else _pct(mine), loo_points=len(mine),
            lomo_pct=_pct([x[3] for x in lomo if x[0] == dev and x[1] == rt]), pooled=pooled,
            stream_bpf=rtv["stream_bpf"], score_bpf=rtv["score_bpf"])
    return Fit(runtimes, out, loo, lomo, held, int(train.sum()), created)


def _check(points: Sequence[Measurement], archs: Mapping[str, Arch], devices: Mapping[str, Device]) -> None:
    if not points:
        raise SplittuiError("calibrate: no measurements to fit")
    for m in points:
        where = f"calibrate: measurement {m.device}/{m.runtime}/{m.model}/{m.phase}"
        if m.runtime not in RUNTIMES:
            raise SplittuiError(f"{where}: unknown runtime {m.runtime!r} (known: {', '.join(RUNTIMES)})")
        if m.format not in FORMATS:
            raise SplittuiError(f"{where}: unknown format {m.format!r} (known: {', '.join(FORMATS)})")
        if m.model not in archs:
            raise SplittuiError(f"{where}: unknown model {m.model!r}")
        if m.device not in devices:
            raise SplittuiError(f"{where}: unknown device {m.device!r}")


def predict_ms(f: Fit, m: Measurement, archs: Mapping[str, Arch], devices: Mapping[str, Device]) -> float:
    """What the fitted model says for one measurement's shape (the profile path gives the same number)."""
    dev = devices[m.device]
    t = stage_table(archs[m.model], m.dtype, m.tokens, m.context, decode=m.phase == "decode")
    timer = StageTimer(dev, calibration_for(dev.name, m.runtime, f), m.dtype, int((t["n"] * t["kernels"]).sum()))
    scale = FORMATS[m.format][1] / weight_bits(m.dtype)
    moved = t["moved"] + t["wread"] * (scale - 1.0)
    timing = timer.decode_ms if m.phase == "decode" else timer.prefill_ms
    kinds = np.where(t["attn"], "attention", np.where(t["linear"], "linear", "other"))
    return float(sum(n * timing(str(k), fl, mv, int(kn), fp32=m.dtype == "fp32")
                     for n, k, fl, mv, kn in zip(t["n"], kinds, t["flops"], moved, t["kernels"])))


# ---------------------------------------------------------------- files

def shipped_dir() -> Path:
    here = Path(__file__).resolve().parent
    checkout = here.parent / "profiles" / "calibration"
    return checkout if checkout.is_dir() else here / "shipped" / "calibration"


def _user_fit_path() -> Path:
    env = os.environ.get("SPLITTUI_CALIBRATION")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("splittui")) / "calibration.json"


def save_fit(f: Fit, path: str | os.PathLike[str] | None = None) -> Path:
    p = Path(path) if path is not None else _user_fit_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(f.to_doc(), indent=1) + "\n", encoding="utf-8")
    return p


def _fit_from_doc(doc: dict[str, Any], src: str) -> Fit:
    if not isinstance(doc, dict) or doc.get("schema") != "splittui.calibration/1":
        raise SplittuiError(f"{src}: not a splittui.calibration/1 document")
    try:
        groups = {k: Calibration(**v) for k, v in doc["groups"].items()}
        rows = {k: tuple(tuple(x) for x in doc.get(k, [])) for k in ("loo", "lomo", "heldout")}
        return Fit(dict(doc["runtimes"]), groups, rows["loo"], rows["lomo"], rows["heldout"],
                   int(doc.get("points", 0)), str(doc.get("created", "")),
                   heldout_set=tuple(int(x) for x in doc.get("heldout_set", [])))
    except (KeyError, TypeError, ValueError) as exc:
        raise SplittuiError(f"{src}: broken calibration file ({exc})") from None


@functools.lru_cache(maxsize=8)
def _read_fit(path: str, mtime: float) -> Fit:
    try:
        return _fit_from_doc(json.loads(Path(path).read_text(encoding="utf-8")), path)
    except (OSError, ValueError) as exc:
        raise SplittuiError(f"{path}: cannot read calibration ({exc})") from None


def load_fit() -> Fit:
    """The shipped fit (profiles/calibration/fit.json), with a user's fit (`splittui calibrate`) over it."""
    shipped = shipped_dir() / "fit.json"
    base = _read_fit(str(shipped), shipped.stat().st_mtime) if shipped.is_file() else Fit({}, {})
    user = _user_fit_path()
    if not user.is_file():
        return base
    mine = _read_fit(str(user), user.stat().st_mtime)
    return replace(base, runtimes={**base.runtimes, **mine.runtimes}, groups={**base.groups, **mine.groups})


def calibration_for(device: str, runtime: str, f: Fit | None = None) -> Calibration:
    """The calibration of `device` on `runtime`: its own fit, else its runtime's (marked uncalibrated)."""
    if runtime not in RUNTIMES:
        raise SplittuiError(f"--runtime: unknown runtime {runtime!r} (choose from {', '.join(RUNTIMES)})")
    f = f if f is not None else load_fit()
    own = f.groups.get(_key(device, runtime))
    if own is not None:
        return own
    rt = f.runtimes.get(runtime)
    if rt is None:
        return Calibration(device, runtime, 0.5, 0.7, 1.0, 2.0, 0.2, 1.0, RUNTIMES[runtime])
    return Calibration(device, runtime, rt["eff_compute"], rt["eff_mem"], rt["step_ms"], rt["kernel_us"],
                       rt["dequant"], rt["quant_mem"], bool(rt["causal"]), loo_pct=float(rt.get("loo_pct", 0.0)),
                       stream_bpf=float(rt.get("stream_bpf", 0.0)), score_bpf=float(rt.get("score_bpf", 0.0)))


def band_text(cal: Calibration | None) -> str:
    """"±18 %, 9 published points, llama.cpp-metal", or "uncalibrated" (roofline, no runtime)."""
    return "uncalibrated (roofline preset, no --runtime)" if cal is None else cal.band()


def profile_bands(source: Mapping[str, Any]) -> dict[str, str]:
    """The error band of each side of a profile, from its ``source`` (for the app and the tables):
    {"client": "...", "server": "..."}; "uncalibrated" where the profile has no runtime."""
    bands = source.get("calibration")
    if isinstance(bands, dict):
        return {side: str(bands.get(side, "uncalibrated")) for side in ("client", "server")}
    return {"client": "uncalibrated", "server": "uncalibrated"}


def short_band(band: str) -> str:
    """The band of `Calibration.band` in a few characters, for a status line: "±18 % (9 pts)", "uncalibrated
    (±37 % runtime-wide)" or "uncalibrated"."""
    fitted = re.match(r"±(\d+) %, (\d+) published point", band)
    if fitted:
        n = int(fitted.group(2))
        return f"±{fitted.group(1)} % ({n} pt{'s' * (n != 1)})"
    wide = re.search(r"±(\d+) % on its devices", band)
    return f"uncalibrated (±{wide.group(1)} % runtime-wide)" if wide else "uncalibrated"


def summary(rows: Sequence[tuple[str, str, str, float]], key: Callable[[tuple[str, str, str, float]], str]
            ) -> dict[str, dict[str, float]]:
    """Per class (``key(row)``): n, share within 1.25×, worst ratio, median |log2 ratio|."""
    out: dict[str, dict[str, float]] = {}
    for k in sorted({key(r) for r in rows}):
        x = np.abs([r[3] for r in rows if key(r) == k])
        out[k] = {"n": float(x.size), "within_1.25": float((x <= math.log2(1.25)).mean()),
                  "worst": float(2.0 ** x.max()), "median_abs_log2": float(np.median(x))}
    return out


# ---------------------------------------------------------------- measurement files

_COLUMNS = ("device", "runtime", "model", "format", "phase", "tokens", "context", "value", "unit", "holdout",
            "source", "date", "build")


def read_measurements(path: str | os.PathLike[str]) -> list[Measurement]:
    """A measurements CSV (profiles/calibration/measurements.csv's columns); '#' lines are comments."""
    p = Path(path)
    try:
        lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    except OSError as exc:
        raise SplittuiError(f"{p}: cannot read measurements ({exc.strerror or exc})") from None
    rows = list(csv.DictReader(lines))
    missing = [c for c in _COLUMNS if rows and c not in rows[0]]
    if missing:
        raise SplittuiError(f"{p}: missing column(s) {', '.join(missing)} (need {', '.join(_COLUMNS)})")
    return [_row(p, i + 2, r) for i, r in enumerate(rows)]


def _row(p: Path, line: int, r: dict[str, str]) -> Measurement:
    where = f"{p}: row {line}"
    try:
        tokens, context, value = int(r["tokens"]), int(r["context"] or 0), float(r["value"])
    except (TypeError, ValueError):
        raise SplittuiError(f"{where}: tokens, context and value must be numbers") from None
    phase, unit = r["phase"].strip(), r["unit"].strip()
    if phase not in ("prefill", "decode") or unit not in ("tok/s", "ms") or value <= 0 or tokens <= 0:
        raise SplittuiError(f"{where}: phase prefill|decode, unit tok/s|ms, value and tokens > 0")
    ms = value if unit == "ms" else (tokens if phase == "prefill" else 1) / value * 1e3
    return Measurement(r["device"].strip(), r["runtime"].strip(), r["model"].strip(), r["format"].strip().lower(),
                       phase, tokens, context, ms, _holdout(where, r["holdout"]),
                       r["source"].strip(), r["date"].strip(), r["build"].strip())


def _holdout(where: str, text: str) -> int:
    t = (text or "").strip().lower()
    if t in ("", "0", "false", "no"):
        return 0
    if t in ("true", "yes", "holdout"):
        return 1
    if t.isdigit() and int(t) in HOLDOUT_SETS:
        return int(t)
    raise SplittuiError(f"{where}: holdout must be 0 or a held-out set ({', '.join(map(str, HOLDOUT_SETS))})")


def read_llama_bench(path: str | os.PathLike[str], *, device: str, runtime: str, model: str) -> list[Measurement]:
    """llama-bench's JSON output (``-o json``): pp tests become prefills, tg tests decode steps."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SplittuiError(f"{p}: not a llama-bench JSON file ({exc})") from None
    out = []
    for i, r in enumerate(doc if isinstance(doc, list) else []):
        try:
            n_p, n_g, ts = int(r.get("n_prompt", 0)), int(r.get("n_gen", 0)), float(r["avg_ts"])
            fmt = str(r.get("model_type", "")).split()[-1].lower().replace("q4_k - medium", "q4_k_m")
        except (KeyError, TypeError, ValueError, IndexError):
            raise SplittuiError(f"{p}: entry {i}: needs n_prompt, n_gen, avg_ts and model_type") from None
        fmt = "q4_k_m" if "q4_k" in str(r.get("model_type", "")).lower() else fmt
        src = f"{p.name} (llama-bench {r.get('build_commit', '')})"
        if n_p and not n_g:
            out.append(Measurement(device, runtime, model, fmt, "prefill", n_p, 0, n_p / ts * 1e3, False, src,
                                   str(r.get("test_time", "")), str(r.get("build_commit", ""))))
        elif n_g and not n_p:
            out.append(Measurement(device, runtime, model, fmt, "decode", 1, n_g, 1e3 / ts, False, src,
                                   str(r.get("test_time", "")), str(r.get("build_commit", ""))))
    if not out:
        raise SplittuiError(f"{p}: no pp or tg tests found (run llama-bench with -o json)")
    return out

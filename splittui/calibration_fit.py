"""Fitting the device model (`splittui.calibration`, docs/device-model.md) to published measurements.

`fit` minimises the squared error of ln t over the training measurements plus ridge priors (Levenberg–Marquardt,
analytic Jacobian): per runtime ``e_c, e_m, τ, κ, δ, q, β, σ, φ``, per device × runtime offsets of ``e_c, e_m, τ``
and per device offsets of ``e_c, e_m``, all held towards zero (shared where data is thin). Then it measures its
own error: leave-one-out, leave-one-model-out, leave-one-device-out and leave-one-source-out refits, and the held-out
sets' predictions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .calibration import (
    _QUANT,
    _STREAM_RUNTIMES,
    FORMATS,
    RUNTIMES,
    Calibration,
    Fit,
    Measurement,
    _key,
    measurement_table,
    peak_tflops,
)
from .devices import Device
from .errors import SplittuiError
from .hf_config import Arch

__all__ = ["fit", "source_key"]

# per runtime: log e_c, log e_m, log tau_ms, log kappa_us, log delta, log q, log beta (bytes a thread streams per
# fp32 FLOP/s of its peak; used on _STREAM_RUNTIMES only), log sigma (bytes of attention scores written and read
# per attention FLOP at prefill, on runtimes that materialise them: ~16 B per score / 4·head_dim FLOPs ≈ 1/32),
# log phi (extra cost of a float linear FLOP at prefill, 1 + phi, where the runtime's tuned path is its quantised
# GEMMs; fitted only where the runtime's training points on one device hold both float and quantised prefills,
# `_contrasted`, from _PHI_START with its prior at 1e-3 (small unless the data show a gap), else held at e^-30 ≈ 0
# by _FIXED_W)
# (prior centre, prior weight)
_RT_PRIOR = ((math.log(0.5), 0.3), (math.log(0.7), 0.3), (math.log(1.0), 0.1), (math.log(2.0), 0.1),
             (math.log(0.2), 0.5), (0.0, 1.0), (math.log(0.2), 0.3), (math.log(1 / 32), 0.3), (math.log(1e-3), 0.1))
_PHI = 8
# A stage's compute and memory times combine as (c^p + m^p)^(1/p): p = inf would be the roofline's max, p = 1 no
# overlap at all. 1.5 is the p of the grid 1, 1.2, 1.5, 2, 3, 4, 6, inf with the lowest leave-one-out rms error
# whose runtime-level efficiencies all stay <= 1 (benchmarks/calibration_overlap.py; docs/device-model.md, session 22).
OVERLAP_P = 1.5
_FIXED_W, _NO_PHI, _PHI_START = 1e4, -30.0, math.log(0.5)
# Offsets of a device × runtime from its runtime, and of a device across all its runtimes (its preset's peaks
# or bandwidth off by a factor whatever runs on it), each held towards 0 (ln units). Weight 1 each keeps the
# prior on the sum (a device with one runtime) at the former single offset's width: sqrt(2) ≈ 1/0.7.
_GROUP_W = 1.0
_DEV_W = 1.0
_NRT, _NG, _ND = 9, 3, 2


@dataclass(frozen=True)
class _Design:
    """Every measurement's stages as padded arrays (N × S), plus its runtime and group indices."""

    n: np.ndarray
    flops_c: np.ndarray     # compute FLOPs with causal attention and the dequant factor still to apply
    lin_q: np.ndarray       # FLOPs of quantised linear stages at prefill (times delta)
    lin_f: np.ndarray       # FLOPs of float (16/32-bit) linear stages at prefill (times phi)
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
        lin_f=np.array([pad("lin_f", t) for t in tables]),
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
    t = measurement_table(archs[m.model], m)
    prefill = m.phase == "prefill"
    causal = prefill and RUNTIMES[m.runtime]
    flops = t["flops"] * np.where(t["attn"] & causal, 0.5, 1.0)
    quant_lin = t["linear"] & (prefill and m.dtype in _QUANT)
    float_lin = t["linear"] & (prefill and m.dtype not in _QUANT)
    scores = t["attn"] & (prefill and not RUNTIMES[m.runtime])
    return {"n": t["n"], "kernels": t["kernels"], "flops_c": flops, "lin_q": np.where(quant_lin, flops, 0.0),
            "lin_f": np.where(float_lin, flops, 0.0),
            "moved": t["moved"], "attn_nc": np.where(scores, flops, 0.0)}


def _predict_log(theta: np.ndarray, d: _Design, n_rt: int) -> np.ndarray:
    return _model(theta, d, n_rt)[0]


def _overlap(comp: np.ndarray, mem: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stage's time, (comp^p + mem^p)^(1/p), and its derivatives by comp and mem (p = 0: the max)."""
    if p <= 0:
        bound = comp >= mem
        return np.maximum(comp, mem), bound.astype(float), (~bound).astype(float)
    hi = np.maximum(comp, mem)
    safe = np.where(hi > 0, hi, 1.0)
    rc, rm = comp / safe, mem / safe
    norm = np.where(hi > 0, (rc ** p + rm ** p) ** (1.0 / p), 1.0)
    return hi * norm, (rc / norm) ** (p - 1.0), (rm / norm) ** (p - 1.0)


def _model(theta: np.ndarray, d: _Design, n_rt: int) -> tuple[np.ndarray, np.ndarray]:
    """ln(ms) of every point and its derivatives by the 9 runtime, 3 group and 2 device parameters (N × 14)."""
    rtp = theta[:n_rt * _NRT].reshape(n_rt, _NRT)[d.rt]
    g0 = n_rt * _NRT + d.n_g * _NG
    gp = theta[n_rt * _NRT:g0].reshape(-1, _NG)[d.grp]
    dp = theta[g0:].reshape(-1, _ND)[d.dev]
    ec, em = np.exp(rtp[:, 0] + gp[:, 0] + dp[:, 0]), np.exp(rtp[:, 1] + gp[:, 1] + dp[:, 1])
    step_ms, kern_us = np.exp(rtp[:, 2] + gp[:, 2]), np.exp(rtp[:, 3])
    delta, qm, beta, sigma = np.exp(rtp[:, 4]), np.exp(rtp[:, 5]), np.exp(rtp[:, 6]), np.exp(rtp[:, 7])
    phi = np.exp(rtp[:, _PHI])
    deq = d.lin_q * delta[:, None] / (d.peak * ec)[:, None]
    flt = d.lin_f * phi[:, None] / (d.peak * ec)[:, None]
    comp = d.flops_c / (d.peak * ec)[:, None] + deq + flt
    inv_w = 1.0 / (d.bw * em * np.where(d.qdec > 0, qm, 1.0))
    inv_s = np.divide(1.0, d.p32 * beta, out=np.zeros_like(d.p32), where=d.p32 > 0)
    scores = d.attn_nc * sigma[:, None]
    moved = d.moved + scores
    mem = moved * (inv_w + inv_s)[:, None]
    stage, w_c, w_m = _overlap(comp, mem, OVERLAP_P)
    mem_n = d.n * w_m * 1e3
    t_c = (d.n * w_c * comp).sum(axis=1) * 1e3
    t_m = (mem_n * moved).sum(axis=1) * inv_w
    t_s = (mem_n * moved).sum(axis=1) * inv_s
    t_sc = (mem_n * scores).sum(axis=1) * (inv_w + inv_s)
    t_k = d.kern * kern_us * 1e-3
    ms = (d.n * stage).sum(axis=1) * 1e3 + t_k + step_ms
    t_d = (d.n * w_c * deq).sum(axis=1) * 1e3
    t_f = (d.n * w_c * flt).sum(axis=1) * 1e3
    jac = np.stack([-t_c, -t_m, step_ms, t_k, t_d, -t_m * (d.qdec > 0), -t_s, t_sc, t_f], axis=1) / ms[:, None]
    return np.asarray(np.log(ms)), np.concatenate([jac, jac[:, :_NG], jac[:, :_ND]], axis=1)


def _prior(n_rt: int, n_g: int, n_d: int) -> tuple[np.ndarray, np.ndarray]:
    centre = np.concatenate([np.tile([c for c, _ in _RT_PRIOR], n_rt), np.zeros(n_g * _NG + n_d * _ND)])
    weight = np.concatenate([np.tile([w for _, w in _RT_PRIOR], n_rt), np.full(n_g * _NG, _GROUP_W),
                             np.full(n_d * _ND, _DEV_W)])
    return centre, weight


def _contrasted(d: _Design, mask: np.ndarray, r: int) -> bool:
    """Whether runtime `r`'s points in `mask` hold a float and a quantised prefill on one device: only then is
    phi (float against quantised GEMM speed) told apart from e_c."""
    mine = mask & (d.rt == r)
    has_f, has_q = d.lin_f.sum(axis=1) > 0, d.lin_q.sum(axis=1) > 0
    return bool(set(d.dev[mine & has_f].tolist()) & set(d.dev[mine & has_q].tolist()))


def _lsq(d: _Design, mask: np.ndarray, n_rt: int, n_g: int, theta0: np.ndarray | None = None,
         iters: int = 60) -> np.ndarray:
    """Levenberg–Marquardt on ln-time residuals of the points in `mask` plus the ridge priors.
    O(iters · (N · S + P³)) with P parameters, N points, S stages (analytic Jacobian)."""
    n_d = int(d.dev.max()) + 1
    centre, weight = _prior(n_rt, n_g, n_d)
    theta = centre.copy() if theta0 is None else theta0.copy()
    fixed = [r * _NRT + _PHI for r in range(n_rt) if not _contrasted(d, mask, r)]
    centre[fixed], weight[fixed], theta[fixed] = _NO_PHI, _FIXED_W, _NO_PHI
    if theta0 is None:   # phi's own derivative vanishes at its prior centre: start it where the data can move it
        free = [r * _NRT + _PHI for r in range(n_rt) if r * _NRT + _PHI not in fixed]
        theta[free] = _PHI_START

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


def source_key(m: Measurement) -> str:
    """A measurement's source for leave-one-source-out: the first word of its source field (the address the
    held-out sets are split by), "" where there is none."""
    return (m.source.split() or [""])[0]


def fit(points: Sequence[Measurement], archs: Mapping[str, Arch], devices: Mapping[str, Device], *,
        errors: bool = True, created: str = "", yours: frozenset[str] = frozenset()) -> Fit:
    """Fit the model to the points not marked ``holdout``; with `errors`, refit once per left-out point
    (leave-one-out), model (leave-one-model-out), device (leave-one-device-out) and source (leave-one-source-out),
    and predict the held-out points. `yours`: the source keys of the user's own measurements (``--data``,
    ``--measure``); a device × runtime timed by them alone is not widened to the new-source band."""
    _check(points, archs, devices)
    rts = sorted({m.runtime for m in points})
    groups = sorted({_key(m.device, m.runtime) for m in points})
    d = _design(points, archs, devices, rts, groups, sorted({m.device for m in points}))
    train = np.array([not m.holdout for m in points])
    if not train.any():
        raise SplittuiError("calibrate: every measurement is marked holdout; nothing to fit")
    theta = _lsq(d, train, len(rts), len(groups))
    keys: tuple[Callable[[int], Any], ...] = (lambda i: i, lambda i: points[i].model, lambda i: points[i].device,
                                              lambda i: source_key(points[i]))
    loo, lomo, lodo, loso = ((_leave_out(points, d, train, theta, len(rts), len(groups), key) for key in keys)
                             if errors else ((), (), (), ()))
    pred = _predict_log(theta, d, len(rts))
    held = tuple((m.device, m.runtime, m.phase, float((pred[i] - d.log_ms[i]) / math.log(2)))
                 for i, m in enumerate(points) if m.holdout)
    out = _assemble(points, train, rts, groups, theta, (loo, lomo, lodo, loso), held, created, yours)
    return replace(out, heldout_set=tuple(int(m.holdout) for m in points if m.holdout))


def _leave_out(points: Sequence[Measurement], d: _Design, train: np.ndarray, theta: np.ndarray, n_rt: int, n_g: int,
               key: Callable[[int], Any]) -> tuple[tuple[str, str, str, float], ...]:
    """One refit per value of `key` over the training points, without the points of that value, predicting them:
    leave-one-out (key: the point), leave-one-model-out (its model), leave-one-device-out (its device; a device new to
    the fit gets its runtime's values alone, so this, not leave-one-out, is the error to expect on one),
    leave-one-source-out (its source: what another measurer's build and settings can expect on a covered device)."""
    left: dict[Any, list[int]] = {}
    for i in np.flatnonzero(train):
        left.setdefault(key(int(i)), []).append(int(i))
    out = []
    for value in sorted(left):
        gone = np.zeros_like(train)
        gone[left[value]] = True
        pred = _predict_log(_lsq(d, train & ~gone, n_rt, n_g, theta, iters=15), d, n_rt)
        out += [(points[i].device, points[i].runtime, points[i].phase, float((pred[i] - d.log_ms[i]) / math.log(2)))
                for i in left[value]]
    return tuple(out)


def _pct(log2s: Sequence[float]) -> float:
    """80th percentile of |relative error| in %, from log2(pred/measured) values (0 where there are none)."""
    if not log2s:
        return 0.0
    return float(np.percentile([abs(2.0 ** x - 1.0) * 100 for x in log2s], 80))


_Rows = tuple[tuple[str, str, str, float], ...]


def _assemble(points: Sequence[Measurement], train: np.ndarray, rts: list[str], groups: list[str],
              theta: np.ndarray, errors: tuple[_Rows, _Rows, _Rows, _Rows], held: _Rows, created: str,
              yours: frozenset[str]) -> Fit:
    loo, lomo, lodo, loso = errors
    n_rt = len(rts)
    measured = bool(loo)   # errors=False: no leave-one-out, every band says so (loo_pct -1)
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
                          "score_bpf": 0.0 if RUNTIMES[name] else float(e[7]), "float_linear": 1.0 + float(e[_PHI]),
                          "overlap_p": OVERLAP_P, "causal": RUNTIMES[name],
                          "loo_pct": _pct([x[3] for x in loo if x[1] == name]) if measured else -1.0,
                          "lodo_pct": _pct([x[3] for x in lodo if x[1] == name]) if measured else -1.0,
                          "lodo_points": sum(1 for x in lodo if x[1] == name),
                          "loso_pct": _pct([x[3] for x in loso if x[1] == name]) if measured else -1.0,
                          "sources": len({source_key(m) for i, m in enumerate(points)
                                          if train[i] and m.runtime == name}),
                          "points": int(sum(1 for i, m in enumerate(points) if train[i] and m.runtime == name))}
    out: dict[str, Calibration] = {}
    for g, key in enumerate(groups):
        dev, rt = key.split("|")
        rtv = runtimes[rt]
        mine = [x[3] for x in loo if x[0] == dev and x[1] == rt]
        pooled = len(mine) < 3
        sources = [source_key(m) for i, m in enumerate(points) if train[i] and _key(m.device, m.runtime) == key]
        own = len(sources)
        # published points (not the user's own alone): an estimate is for another build and measurer, a new source
        published = not sources or bool(set(sources) - yours)
        # a pair with held-out points only: its device is new to the runtime's fit, so its band is leave-one-device-out
        new = measured and own == 0 and rtv["lodo_points"] > 0
        off_c, off_m = gp[g, 0] + dp[dev][0], gp[g, 1] + dp[dev][1]
        out[key] = Calibration(
            dev, rt, rtv["eff_compute"] * math.exp(off_c), rtv["eff_mem"] * math.exp(off_m),
            rtv["step_ms"] * math.exp(gp[g, 2]), rtv["kernel_us"], rtv["dequant"], rtv["quant_mem"],
            RUNTIMES[rt], points=own, lodo=new,
            loo_pct=rtv["lodo_pct"] if new else rtv["loo_pct"] if pooled or not measured else _pct(mine),
            loo_points=len(mine),
            lomo_pct=_pct([x[3] for x in lomo if x[0] == dev and x[1] == rt]), pooled=pooled,
            stream_bpf=rtv["stream_bpf"], score_bpf=rtv["score_bpf"], float_linear=rtv["float_linear"],
            overlap_p=OVERLAP_P, loso_pct=rtv["loso_pct"] if published else -1.0)
    return Fit(runtimes, out, loo, lomo, held, int(train.sum()), created, lodo=lodo, loso=loso)


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

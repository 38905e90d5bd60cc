"""The device model's files and what the rest of splittui reads of it (`splittui.calibration`).

The shipped fit (profiles/calibration/fit.json) with a user's fit over it (`load_fit`), a device × runtime's
calibration (`calibration_for`) and the stage timer a profile uses (`timer_for`), the error bands shown beside
estimates, the fit tables' summary rows, and the measurement files (`read_measurements`, llama-bench's JSON).
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import (
    HOLDOUT_SETS,
    RUNTIMES,
    Calibration,
    Fit,
    Measurement,
    StageTimer,
    _key,
    measurement_table,
)
from .devices import Device
from .errors import SplittuiError
from .hf_config import Arch

__all__ = ["predict_ms", "timer_for", "read_measurements", "read_llama_bench", "load_fit", "save_fit",
           "calibration_for", "band_text", "profile_bands", "short_band", "shipped_dir", "summary"]


def predict_ms(f: Fit, m: Measurement, archs: Mapping[str, Arch], devices: Mapping[str, Device]) -> float:
    """What the fitted model says for one measurement's shape (the profile path gives the same number)."""
    dev = devices[m.device]
    t = measurement_table(archs[m.model], m)
    timer = StageTimer(dev, calibration_for(dev.name, m.runtime, f), m.dtype, int((t["n"] * t["kernels"]).sum()))
    timing = timer.decode_ms if m.phase == "decode" else timer.prefill_ms
    kinds = np.where(t["attn"], "attention", np.where(t["linear"], "linear", "other"))
    return float(sum(n * timing(str(k), fl, mv, int(kn), fp32=m.dtype == "fp32")
                     for n, k, fl, mv, kn in zip(t["n"], kinds, t["flops"], t["moved"], t["kernels"])))


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
        rows = {k: tuple(tuple(x) for x in doc.get(k, [])) for k in ("loo", "lomo", "heldout", "lodo", "loso")}
        return Fit(dict(doc["runtimes"]), groups, rows["loo"], rows["lomo"], rows["heldout"],
                   int(doc.get("points", 0)), str(doc.get("created", "")),
                   heldout_set=tuple(int(x) for x in doc.get("heldout_set", [])), lodo=rows["lodo"],
                   loso=rows["loso"])
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
    lodo = float(rt.get("lodo_pct", -1.0)) >= 0   # fits before session 24 measured no leave-one-device-out
    new_device = rt["lodo_pct"] if lodo else rt.get("loo_pct", 0.0)
    return Calibration(device, runtime, rt["eff_compute"], rt["eff_mem"], rt["step_ms"], rt["kernel_us"],
                       rt["dequant"], rt["quant_mem"], bool(rt["causal"]), loo_pct=float(new_device),
                       lodo=lodo, loso_pct=float(rt.get("loso_pct", -1.0)),
                       stream_bpf=float(rt.get("stream_bpf", 0.0)), score_bpf=float(rt.get("score_bpf", 0.0)),
                       float_linear=float(rt.get("float_linear", 1.0)), overlap_p=float(rt.get("overlap_p", 0.0)))


def timer_for(device: Device, runtime: str | None, dtype: str, step_kernels: int,
              fit_doc: Fit | None = None) -> StageTimer:
    """The timer a profile uses on `device`: the roofline when no runtime is given."""
    if runtime is None:
        return StageTimer(device)
    return StageTimer(device, calibration_for(device.name, runtime, fit_doc), dtype, step_kernels)


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
    (±37 % runtime-wide)", "error not measured" or "uncalibrated"."""
    if band.startswith("error not measured"):
        return "error not measured"
    fitted = re.match(r"±(\d+) %, (\d+) published point", band)
    if fitted:
        n = int(fitted.group(2))
        return f"±{fitted.group(1)} % ({n} pt{'s' * (n != 1)})"
    wide = re.search(r"±(\d+) % on (its devices|a device new to it|a new device or source)", band)
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

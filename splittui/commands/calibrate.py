"""`splittui calibrate`: fit the runtime-aware device model (docs/device-model.md) to measurements.

By default the shipped published measurements (profiles/calibration/measurements.csv) are fitted and the
fit is written to the user data directory (``--out FILE`` elsewhere); the presets read the shipped fit
(profiles/calibration/fit.json) with the user's over it. ``--data FILE`` adds a user's own CSV (same
columns) or llama-bench JSON (with ``--device``, ``--runtime``, ``--model``); ``--measure`` times a few
torch layers on this CPU and fits ``this-cpu`` on ``torch``. Prints the fitted parameters, the
leave-one-out error per device × runtime and per device class and phase, and the held-out check.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_parser", "device_class", "load_inputs"]


def add_parser(sub) -> None:
    from .output import add_output_flags

    p = sub.add_parser("calibrate", help="fit the device model to published (or your) measurements",
                       description="Fit efficiencies and overheads per device x runtime to measurements by least "
                                   "squares on log time, with leave-one-out errors (docs/device-model.md). Without "
                                   "--out the fit is written to the user data dir, where the presets read it over "
                                   "the shipped one.")
    p.add_argument("--data", metavar="FILE", action="append", default=[],
                   help="your measurements: a CSV with the shipped columns, or llama-bench -o json output")
    p.add_argument("--device", metavar="NAME", help="the device of a llama-bench JSON (--data)")
    p.add_argument("--runtime", metavar="NAME", help="the runtime of a llama-bench JSON (default llama.cpp-cuda)")
    p.add_argument("--model", metavar="CONFIG", help="the config of a llama-bench JSON's model (shipped name or path)")
    p.add_argument("--devices", metavar="FILE",
                   help="devices of your measurements (TOML/JSON, see docs/formats/devices.md)")
    p.add_argument("--measure", action="store_true", help="also time torch layers on this CPU and fit this-cpu")
    p.add_argument("--no-errors", action="store_true",
                   help="skip the leave-one-out refits (faster; the fit's bands then say 'error not measured')")
    add_output_flags(p, "the fit (splittui.calibration/1)")
    p.set_defaults(func=run_calibrate)


def _arch_for(name: str):
    from ..calibration_io import shipped_dir
    from ..llm import load_arch

    extra = shipped_dir() / "configs" / f"{name}.json"
    return load_arch(str(extra) if extra.is_file() else name)


def load_inputs(data: list[str], *, device: str | None = None, runtime: str | None = None,
                model: str | None = None, devices_file: str | None = None):
    """(measurements, archs, devices): the shipped points plus the user's files."""
    shipped, yours, archs, devs = _inputs(data, device=device, runtime=runtime, model=model,
                                          devices_file=devices_file)
    return shipped + yours, archs, devs


def _inputs(data: list[str], *, device: str | None, runtime: str | None, model: str | None,
            devices_file: str | None):
    """(shipped points, the user's points, archs, devices)."""
    from ..calibration_io import read_llama_bench, read_measurements, shipped_dir
    from ..devices import PRESETS, load_device_file
    from ..errors import SplittuiError

    shipped = read_measurements(shipped_dir() / "measurements.csv")
    yours = []
    for path in data:
        if path.lower().endswith(".json"):
            if not (device and model):
                raise SplittuiError(f"--data {path}: a llama-bench JSON needs --device and --model")
            yours += read_llama_bench(path, device=device, runtime=runtime or "llama.cpp-cuda", model=model)
        else:
            yours += read_measurements(path)
    devs = {**PRESETS, **load_device_file(shipped_dir() / "devices.toml")}
    if devices_file:
        devs.update(load_device_file(devices_file))
    return shipped, yours, {m: _arch_for(m) for m in sorted({p.model for p in shipped + yours})}, devs


def device_class(device: str, runtime: str) -> str:
    if runtime.endswith("-cpu") or device in ("this-cpu", "laptop-cpu", "raspberry-pi-5"):
        return "cpu"
    if device.startswith("apple"):
        return "apple-gpu"
    if device.startswith(("jetson", "snapdragon", "phone")):
        return "edge-gpu"
    if device.startswith(("h100", "h200", "a100", "l4")):
        return "datacenter-gpu"
    return "workstation-gpu"


def run_calibrate(args: argparse.Namespace) -> int:
    from ..calibration_fit import fit, source_key
    from ..calibration_io import save_fit
    from .output import check_out, emit

    check_out(args)
    t0 = time.perf_counter()
    shipped, mine, archs, devs = _inputs(args.data, device=args.device, runtime=args.runtime, model=args.model,
                                         devices_file=args.devices)
    if args.measure:
        from ..devices import this_cpu
        from ..profiler.cpu_calibration import measure_points

        devs["this-cpu"] = this_cpu()
        measured, arch = measure_points()
        mine, archs = mine + measured, {**archs, arch.name: arch}
    yours = frozenset(source_key(m) for m in mine) - {source_key(m) for m in shipped}
    result = fit(shipped + mine, archs, devs, errors=not args.no_errors, created=time.strftime("%Y-%m-%d"),
                 yours=yours)
    doc = result.to_doc()
    if not getattr(args, "out", None):
        doc["written_to"] = str(save_fit(result))
    secs = time.perf_counter() - t0
    emit(args, doc, lambda: print_fit(result, seconds=secs, written=doc.get("written_to")), what="calibration")
    return 0


def print_fit(result, *, seconds: float | None = None, written: str | None = None) -> None:
    """The fit table (per device x runtime), then LOO per class and phase, then the held-out check."""
    from rich.console import Console
    from rich.table import Table

    from ..calibration import HOLDOUT_SETS
    from ..calibration_io import summary
    from ..report.tables import print_table

    console = Console()
    t = Table(title="device x runtime fit (efficiencies vs the preset's dense 16-bit peak, fp32 for llama.cpp-cpu, "
                    "FP16-accumulate for llama.cpp-cuda on GeForce, and bandwidth)",
              title_justify="left")
    for col in ("device", "runtime", "points", "e_compute", "e_memory", "ms/step", "LOO error", "band"):
        t.add_column(col, justify="left" if col in ("device", "runtime", "band") else "right",
                     no_wrap=col != "band")
    for c in result.groups.values():
        t.add_row(c.device, c.runtime, str(c.points), f"{c.eff_compute:.3f}", f"{c.eff_mem:.3f}",
                  f"{c.step_ms:.3g}", f"±{c.loo_pct:.0f} % ({c.loo_points})" if c.loo_pct >= 0 else "not measured",
                  c.band())
    print_table(console, t)
    sets = [(f"{HOLDOUT_SETS[k]}, never fitted", result.heldout_of(k)) for k in HOLDOUT_SETS]
    for title, rows in [("leave-one-out", result.loo), ("leave-one-model-out", result.lomo),
                        ("leave-one-device-out (a device new to the fit)", result.lodo),
                        ("leave-one-source-out (another build or measurer)", result.loso), *sets]:
        if not rows:
            continue
        s = Table(title=f"{title}: predicted / measured", title_justify="left")
        for col in ("class", "phase", "n", "within 1.25x", "worst x", "median |log2|"):
            s.add_column(col, justify="left" if col in ("class", "phase") else "right", no_wrap=True)
        per = summary(rows, lambda r: f"{device_class(r[0], r[1])}|{r[2]}")
        per.update({"all|all": summary(rows, lambda r: "all")["all"]})
        for k, v in per.items():
            cls, phase = k.split("|")
            s.add_row(cls, phase, f"{v['n']:.0f}", f"{v['within_1.25']:.0%}", f"{v['worst']:.2f}",
                      f"{v['median_abs_log2']:.3f}")
        print_table(console, s)
    if seconds is not None:
        where = f"; written to {written}" if written else ""
        console.print(f"{result.points} points fitted in {seconds:.1f} s{where}")


def fit_path_hint() -> str:
    return str(Path("profiles") / "calibration" / "fit.json")

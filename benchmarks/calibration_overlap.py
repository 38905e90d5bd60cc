"""How the device model's overlap exponent p was chosen (docs/device-model.md, session 22): a stage's compute and
memory times combine as (c^p + m^p)^(1/p), the roofline's max as p -> inf. For each p of a grid this refits the
shipped measurements (with every leave-one-out and leave-one-model-out refit) and prints, per p, the rule's two
inputs: the leave-one-out rms of log2(predicted/measured) over the training points, and the largest runtime-level
efficiency (e_c or e_m; above 1 the model would claim more than the preset's peak on every device of a runtime).
The rule: the lowest leave-one-out rms among the p whose runtime-level efficiencies all stay <= 1.

The held-out sets' columns are printed for the record: they are not part of the rule (set 3's were seen while the
grid was first run, session 22). Fit path only; `benchmarks/heldout_cli.py` gives the CLI's figures.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/calibration_overlap.py          # about 30 s
"""

from __future__ import annotations

import math
import statistics

from splittui import calibration_fit
from splittui.commands.calibrate import load_inputs

GRID = (1.0, 1.2, 1.5, 2.0, 3.0, 4.0, 6.0, 0.0)   # 0: the max (p = inf)


def _stats(log2s: list[float]) -> str:
    within = sum(abs(x) <= math.log2(1.25) for x in log2s) / len(log2s)
    return f"{within:.0%}, {2 ** max(map(abs, log2s)):.2f}x, {statistics.median(map(abs, log2s)):.3f}"


def main() -> None:
    points, archs, devs = load_inputs([])
    print("| p | LOO rms log2 | max runtime e_c, e_m | LOO (<=1.25x, worst, median) | LOMO | set 1 | set 2 | set 3 |")
    print("|---|---:|---:|---|---|---|---|---|")
    for p in GRID:
        calibration_fit.OVERLAP_P = p
        f = calibration_fit.fit(points, archs, devs)
        loo = [x[3] for x in f.loo]
        rms = math.sqrt(sum(x * x for x in loo) / len(loo))
        top = max(max(v["eff_compute"], v["eff_mem"]) for v in f.runtimes.values())
        sets = [_stats([x[3] for x in f.heldout_of(s)]) for s in (1, 2, 3)]
        label = "inf (max)" if p == 0 else f"{p:g}"
        print(f"| {label} | {rms:.3f} | {top:.2f} | {_stats(loo)} | {_stats([x[3] for x in f.lomo])} | "
              + " | ".join(sets) + " |")


if __name__ == "__main__":
    main()

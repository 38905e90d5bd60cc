"""Held-out check through the CLI (issue 26's target): every held-out row of profiles/calibration/measurements.csv
is timed by `splittui solve --solver all-client` with the row's device on both sides (`ttft_ms` at `--seq S` for a
prefill, `tpot_ms` at `--seq C --gen-tokens 2` for a decode step), as a user would; the table gives, per held-out
set, the share within 1.25x, the worst ratio and the median |log2 ratio| (target: >= 80 %, <= 2x, <= 0.15).

A Q4_K_M file runs as `--dtype q4_k_m` (4.85 bits), as the fit path counts it; a Q4_1 file as `--dtype int4` (4.5
bits, not its 5), so its CLI figure is a few per cent below the fit path's.
Rows the CLI refuses (a prompt above the model's context) are counted and left out. Uses the shipped fit only
(SPLITTUI_CALIBRATION points nowhere), in one process.

    .venv/bin/python benchmarks/heldout_cli.py            # the table
    .venv/bin/python benchmarks/heldout_cli.py --rows     # and every row
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import statistics
import sys
import tempfile

from splittui.calibration import HOLDOUT_SETS
from splittui.calibration_io import shipped_dir
from splittui.cli import main as cli_main
from splittui.commands.calibrate import load_inputs


def cli_ms(m) -> float | None:
    cfg = shipped_dir() / "configs" / f"{m.model}.json"
    argv = ["solve", "--hf-config", str(cfg) if cfg.is_file() else m.model, "--client-device", m.device,
            "--server-device", m.device, "--devices", str(shipped_dir() / "devices.toml"), "--runtime", m.runtime,
            "--dtype", m.dtype, "--solver", "all-client", "--deadline-ms", "1e9", "--json"]
    argv += ["--seq", str(m.tokens)] if m.phase == "prefill" else ["--seq", str(m.context), "--gen-tokens", "2"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main(argv)
    if rc != 0:
        return None
    doc = json.loads(out.getvalue())
    return float(doc["ttft_ms"] if m.phase == "prefill" else doc["tpot_ms"])


def main() -> None:
    show = "--rows" in sys.argv
    os.environ["SPLITTUI_CALIBRATION"] = os.path.join(tempfile.mkdtemp(), "none.json")
    points, _, _ = load_inputs([])
    print("| held-out set | points | refused | within 1.25x | worst x | median abs log2 |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for which in sorted(HOLDOUT_SETS):
        logs, refused = [], 0
        for m in (p for p in points if p.holdout == which):
            got = cli_ms(m)
            if got is None:
                refused += 1
                continue
            r = math.log2(got / m.ms)
            logs.append(r)
            rows.append(f"set {which} {r:+.2f} {m.device} {m.runtime} {m.model} {m.format} {m.phase} "
                        f"{m.tokens}/{m.context}: measured {m.ms:.2f} ms, CLI {got:.2f} ms")
        within = sum(abs(x) <= math.log2(1.25) for x in logs)
        print(f"| {which} | {len(logs)} | {refused} | {within / len(logs):.0%} ({within}) | "
              f"{2 ** max(map(abs, logs)):.2f} | {statistics.median(map(abs, logs)):.3f} |")
    if show:
        print("\n" + "\n".join(rows))


if __name__ == "__main__":
    main()

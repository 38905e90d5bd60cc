"""Write the shipped attention-variant profiles (profiles/<model>@<kind>-<size>.json) as estimates
from the full profiles and a measured core-time ratio (splittui/profiler/variant_estimate.py).

    python benchmarks/variant_profiles.py                       # bert-base, gpt2-like x lowrank:256, sparse:64
    python benchmarks/variant_profiles.py --models bert-base --variants sparse:64 --rounds 5

A whole-chain `splittui profile --attention ...` run measures everything instead; on a quiet
machine prefer it (benchmarks/profile_variants.sh). Prints one line per (length, core kind).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from splittui.attention import parse_attention, variant_name  # noqa: E402
from splittui.profiler import text_models as tm  # noqa: E402
from splittui.profiler.variant_estimate import estimate_variant  # noqa: E402
from splittui.profiles import write_json_atomic  # noqa: E402

CONFIGS = {"gpt2-like": tm.GPT2_LIKE, "bert-base": tm.BERT_BASE, "transformer": tm.TRANSFORMER}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="bert-base,gpt2-like")
    ap.add_argument("--variants", default="lowrank:256,sparse:64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out-dir", default=str(ROOT / "profiles"))
    ap.add_argument("--reuse", action="store_true", help="take the core ratios from the existing output files "
                                                         "(rebuild the documents without timing)")
    args = ap.parse_args()
    for model in args.models.split(","):
        cfg = CONFIGS[model]
        full = json.loads((ROOT / "profiles" / f"{model}.json").read_text())
        for text in args.variants.split(","):
            att = parse_attention(text)
            t0 = time.perf_counter()
            out = Path(args.out_dir) / f"{variant_name(model, att)}.json"
            old = json.loads(out.read_text()) if args.reuse else {}
            doc = estimate_variant(full, model, att, heads=cfg.heads, d=cfg.d, max_len=cfg.max_len,
                                   rounds=args.rounds, progress=lambda m: print(m, flush=True),
                                   ratios=old.get("core_ratios"))
            if args.reuse:  # keep when and under what load the ratios were measured
                doc["source"].update({k: old["source"][k] for k in ("created", "load_avg_1min", "wall_s")})
            path = write_json_atomic(out, doc, force=True)
            print(f"wrote {path} in {time.perf_counter() - t0:.0f} s (load {doc['source']['load_avg_1min']})",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`splittui profile --hf-config`: write the analytic profile of a config, optionally with client times
measured live on this CPU (transformers, random weights, fp32, never downloading)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import SplittuiError

__all__ = ["run_hf_profile"]


def _out_path(args: argparse.Namespace, name: str) -> Path:
    out = Path(args.out or f"{name}.json")
    if out.exists() and not args.force:
        raise SplittuiError(f"{out}: already exists (use --force to overwrite)")
    if not out.resolve().parent.is_dir():
        raise SplittuiError(f"--out {out}: directory {out.parent} does not exist")
    return out


def run_hf_profile(args: argparse.Namespace) -> int:
    from ..llm import load_arch, profile_doc_for, seq_lens_for
    from ..profiles import save_profile
    from .llm_args import _check_dtype, _user_devices

    _check_dtype(args)
    arch = load_arch(args.hf_config)
    out = _out_path(args, arch.name)
    lens = seq_lens_for(arch, include=args.seq, base=() if args.seq else (128, 256, 512, 1024, 2048, 4096))
    if args.live and args.dtype not in (None, "fp32"):
        raise SplittuiError(f"--live measures fp32 weights on this CPU; --dtype {args.dtype} cannot be measured here")
    doc = profile_doc_for(arch, dtype="fp32" if args.live else (args.dtype or "bf16"),
                          client_device=args.client_device or "laptop-cpu",
                          server_device=args.server_device or "a100-80gb", seq_lens=lens, devices=_user_devices(args))
    if args.live:
        _measure_into(doc, arch, lens, args)
    save_profile(doc, out, force=args.force)
    kind = "client measured live" if args.live else "times are roofline estimates"
    print(f"wrote {out}: {doc['model']}, {len(doc['layers'])} layers, {doc['dtype']}, lengths "
          f"{','.join(map(str, lens))} ({kind})", file=sys.stderr)
    return 0


def _fits(arch) -> None:
    from ..hf_config import param_count

    need = param_count(arch) * 4 * 1.5
    try:
        have = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if need > have:
        raise SplittuiError(f"--live: {arch.name} needs ~{need / 2**30:.1f} GiB in fp32 and {have / 2**30:.1f} GiB "
                            "are free; drop --live for the analytic profile")


def _measure_into(doc: dict, arch, lens, args: argparse.Namespace) -> None:
    from ..profiler.hf_live import build_model, measure_stage_ms

    _fits(arch)
    print(f"building {arch.name} with random weights (transformers, fp32, eager attention) ...", file=sys.stderr)
    model = build_model(arch)
    times = measure_stage_ms(model, arch, list(lens), repeats=args.repeats, threads=args.threads)
    for layer in doc["layers"]:
        layer["client_ms"] = [round(t, 6) for t in times[layer["name"]]]
        layer.pop("dec_client_ms", None)  # decode steps are not measured live; keep no estimate beside them
    doc["source"] = {**doc["source"], "kind": "measured", "estimate": True,
                     "client": f"measured live on this CPU ({args.threads} thread(s), median of {args.repeats}, "
                               "transformers eager fp32, random weights)"}

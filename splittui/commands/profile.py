"""`splittui profile`: measure a zoo model (or a user's chain) and write a splittui.profile/1 file.

Shows a progress bar with ETA; Ctrl-C stops it with exit status 130 and writes nothing (the file is
written atomically, only once every stage is measured).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SplittuiError
from .common import add_attention_arg, attention_from_args, positive_int
from .llm_args import add_llm_args

__all__ = ["add_parser", "seq_list"]

_EPILOG = """examples:
  splittui profile --model gpt2-like --seq 128,256
  splittui profile --model bert-base --seq 128,256,512 --server a100 --out bert.json   # a100 = a100-80gb
  splittui profile --module my_model.py:make_chain --seq 64,128 --out mine.json
  splittui profile --model cmt-s --seq 224,448 --server cpu:2    # server_ms measured on 2 threads
  splittui profile --model bert-base --attention sparse:64 --seq 128,256   # writes bert-base@sparse-64.json"""


MAX_SEQ = 16_384   # beyond this one stage's activations run to many GiB on a CPU


def seq_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"sequence lengths must be positive integers, got {text!r}")
    if max(values) > MAX_SEQ:
        raise argparse.ArgumentTypeError(f"sequence length {max(values)} is above {MAX_SEQ:,} (too large to "
                                         "profile on a CPU)")
    return sorted(set(values))


def _zoo_name(text: str) -> str:
    """--model: a zoo model; the error names every choice, the LLM configs (for --hf-config) too."""
    from ..llm import shipped_config_names
    from ..profiler.zoo import ZOO_NAMES

    if text in ZOO_NAMES:
        return text
    raise argparse.ArgumentTypeError(f"unknown zoo model {text!r} (choose from {', '.join(ZOO_NAMES)}; shipped LLM "
                                     f"configs, profiled with --hf-config NAME: {', '.join(shipped_config_names())})")


def add_parser(sub) -> None:
    from ..profiler.zoo import ZOO_NAMES

    p = sub.add_parser("profile", help="measure per-layer costs of a model and write a profile",
                       description="Run a model stage by stage on this machine and write a measured\n"
                                   "splittui.profile/1: client_ms timed on this CPU, server_ms from a\n"
                                   "roofline preset or measured, flops from formulas (checked by fvcore).",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=_zoo_name, metavar="NAME",
                     help=f"zoo model, one of {', '.join(ZOO_NAMES)} (random weights, no downloads)")
    src.add_argument("--hf-config", metavar="PATH",
                     help="a Hugging Face config.json, a folder holding one, or a shipped config name "
                          "(llama-3.1-8b, ...): writes the analytic profile (roofline estimates; --live measures "
                          "client_ms on this CPU with transformers)")
    src.add_argument("--module", metavar="PATH.py:FACTORY",
                     help="your own model: FACTORY() in PATH.py (or in an importable package.module) returns "
                          "a splittui.profiler.chain.Chain (see docs/commands/profile.md)")
    p.add_argument("--seq", type=seq_list, default=None, metavar="N,N,...",
                   help=f"sequence lengths in tokens (image sides in pixels for cmt-s), at most {MAX_SEQ:,} "
                        "(default 128,256; for --hf-config 128..4096 within the model's context)")
    p.add_argument("--live", action="store_true", help="with --hf-config: measure client_ms per stage on this CPU "
                                                       "(needs the 'hf' extra; fp32 weights, random, no download)")
    add_llm_args(p, hf_config=False)
    p.add_argument("--repeats", type=positive_int, default=5, metavar="N",
                   help="timed runs per stage after a warm-up; the median is kept (default 5)")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="torch threads of the client (default 1: the paper's 1-core client)")
    p.add_argument("--server", default="rtx3090", metavar="NAME",
                   help="how server_ms is found: a device preset by name, alias or unique prefix, as for "
                        "--server-device (rtx3090, a100 = a100-80gb, h100 = h100-sxm, l4, ...: fp32 roofline; see "
                        "`splittui devices`) | cuda (measured on this machine's GPU) | cpu[:THREADS] (measured on "
                        "this CPU) (default rtx3090)")
    p.add_argument("--no-fvcore", action="store_true", help="skip fvcore's cross-check FLOP count (faster; "
                                                            "default: count)")
    add_attention_arg(p)
    p.add_argument("--tiny", action="store_true", help="the zoo model's tiny test configuration (d=32, 2 blocks)")
    p.add_argument("--out", metavar="FILE", help="output file; its directory must exist (default ./<model>.json)")
    p.add_argument("--force", action="store_true", help="replace an existing output file (default: refuse)")
    p.add_argument("--no-transfer-overhead", action="store_true",
                   help="skip measuring the per-transfer overhead of a split run on this machine (transfer."
                        "overhead_ms: loopback echo of small frames to a separate process through the runner's "
                        "wire code; measured by default with a measured --server cpu/cuda)")
    p.add_argument("--add-decode", metavar="PROFILE",
                   help="only measure the decode-step fields (SPEC §8) of --model and add them to the profile "
                        "file PROFILE, written to --out (default: PROFILE itself, with --force); causal models "
                        "get them anyway when profiled in full with a roofline or cpu[:N] --server")
    p.set_defaults(func=run_profile)


def _decode(chain, doc: dict, args, how: str = "with the profile") -> dict:
    """Decode fields for a causal chain profiled with a roofline or a CPU server (SPEC §8); else the doc as is."""
    from ..profiler.decode import add_decode_fields, is_causal_lm
    from ..profiler.servers import Roofline, parse_server

    srv = parse_server(args.server)
    if not is_causal_lm(chain) or not (isinstance(srv, Roofline) or srv.device == "cpu"):
        return doc
    return add_decode_fields(doc, chain, server=srv, repeats=args.repeats, threads=args.threads, how=how)


def _transfer(doc: dict, args, via=None) -> dict:
    """The measured per-transfer overhead (``transfer``) for a profile whose server is this machine; `via`:
    the profile's own server process, hosting the echo server while it lives (else one is spawned)."""
    from ..profiler.servers import parse_server

    if args.no_transfer_overhead or not parse_server(args.server).measured:
        return doc
    from ..runner.overhead import measure_transfer_overhead

    return dict(doc, transfer=measure_transfer_overhead(via=via))


def _run_add_decode(args: argparse.Namespace) -> int:
    import json

    from ..profiles import save_profile

    if not args.model:
        raise SplittuiError("--add-decode needs --model (the zoo model the profile was measured on)")
    src = Path(args.add_decode)
    out = Path(args.out or src)
    if out.exists() and not args.force:
        raise SplittuiError(f"{out}: already exists (use --force to overwrite)")
    try:
        doc = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SplittuiError(f"--add-decode {src}: cannot read the profile ({exc})") from None
    from ..profiler.decode import is_causal_lm
    from ..profiler.zoo import build

    chain = build(args.model, tiny=args.tiny)
    if not is_causal_lm(chain):
        raise SplittuiError(f"--add-decode: {args.model} is not a causal language model (no decode steps)")
    if [s.name for s in chain.stages] != [layer.get("name") for layer in doc.get("layers", [])]:
        raise SplittuiError(f"--add-decode {src}: its layers are not {args.model}'s stages")
    save_profile(_decode(chain, doc, args, how="later, alone, by 'splittui profile --add-decode'"), out, force=True)
    print(f"wrote {out} (decode fields added)", file=sys.stderr)
    return 0


def run_profile(args: argparse.Namespace) -> int:
    if args.add_decode:
        return _run_add_decode(args)
    if args.hf_config:
        from .profile_hf import run_hf_profile

        return run_hf_profile(args)
    args.seq = args.seq or [128, 256]
    from ..attention import variant_name
    from ..profiler.zoo import check_variant

    attention = attention_from_args(args)
    attention.check_seq(args.seq)
    if args.module and not attention.is_full:
        raise SplittuiError(f"--attention {attention.label}: applies to the zoo's text models (--model), "
                            "not to --module chains (build the variant into your own chain)")
    if args.model:
        check_variant(args.model, attention)
    stem = variant_name(args.model, attention) if args.model else Path(args.module.rpartition(':')[0]).stem
    out = Path(args.out or f"{stem}.json")
    if out.exists() and not args.force:
        raise SplittuiError(f"{out}: already exists (use --force to overwrite)")
    if not out.resolve().parent.is_dir():
        raise SplittuiError(f"--out {out}: directory {out.parent} does not exist")
    if args.module:
        _check_module_path(args.module)
    if str(args.server).startswith("cpu:"):   # its server process comes from the fork server: start it now
        from ..profiler.procs import warm

        warm()
    try:
        from ..profiler.prepare import load_factory
        from ..profiler.run import profile_model
        from ..profiler.servers import parse_server
        from ..profiler.zoo import build
    except ModuleNotFoundError as exc:
        raise SplittuiError(f"profiling needs torch and fvcore ({exc.name} is missing): "
                            "pip install torch==2.13.0 fvcore") from None
    parse_server(args.server)  # a bad --server fails before any work
    try:
        def work(cb):
            if args.module:
                chain = _user_code(args.module, "importing it or calling its factory", load_factory)
            else:
                chain = build(args.model, tiny=args.tiny, attention=attention)

            def measure(_spec):
                held: dict = {}   # the transfer overhead, measured against the profile's server process
                doc = profile_model(chain, args.seq, repeats=args.repeats, threads=args.threads,
                                    server=args.server, progress=cb, fvcore=not args.no_fvcore,
                                    with_server=lambda proc: held.update(_transfer({}, args, proc)))
                doc = _decode(chain, doc, args)
                return {**doc, **held} if held else _transfer(doc, args)

            return _user_code(args.module, "profiling", measure) if args.module else measure(None)

        doc = _with_progress(work, args.model or args.module)
    except KeyboardInterrupt:
        print(f"splittui: profiling interrupted; nothing written to {out}", file=sys.stderr)
        return 130
    from ..profiles import save_profile

    save_profile(doc, out, force=args.force)
    _summary(doc, out)
    return 0


def _check_module_path(spec: str) -> None:
    """--module PATH.py:FACTORY (a readable .py file) or package.module:FACTORY, before torch is imported."""
    path_text, sep, attr = spec.rpartition(":")
    if not sep or not path_text or not attr.isidentifier():
        raise SplittuiError(f"--module {spec!r}: expected PATH.py:FACTORY (FACTORY a Python name)")
    path = Path(path_text)
    if path.suffix != ".py" and all(part.isidentifier() for part in path_text.split(".")):
        return  # an importable module name (package.module:FACTORY)
    if path.suffix != ".py":
        raise SplittuiError(f"--module {spec!r}: {path} is not a .py file")
    if not path.is_file():
        raise SplittuiError(f"--module {spec!r}: no file {path}")


def _user_code(spec: str, doing: str, call):
    """Run `call(spec)`; an exception from the user's module (import, factory, forward) becomes one line."""
    try:
        return call(spec)
    except (SplittuiError, KeyboardInterrupt):
        raise
    except Exception as exc:   # the user's code: any failure is theirs to fix, say where
        where = ""
        tb = exc.__traceback__
        while tb is not None:
            if Path(tb.tb_frame.f_code.co_filename).name == Path(spec.rpartition(":")[0]).name:
                where = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        if isinstance(exc, SyntaxError) and exc.lineno:
            where = f" (line {exc.lineno})"
        raise SplittuiError(f"--module {spec!r}: {doing} failed{where}: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def _with_progress(work, label: str) -> dict:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("[bold]{task.fields[model]}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.description}"))
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("building the model", total=None, model=label)

        plain = not bar.console.is_terminal  # a log file: one line per sequence length instead
        seen = set()

        def cb(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)
            head = what.rsplit(" · ", 1)[0]
            if plain and head not in seen:
                seen.add(head)
                elapsed = bar.tasks[0].elapsed or 0
                print(f"{label}: {head} ({done}/{total}, {elapsed:.0f} s)", file=sys.stderr, flush=True)

        return work(cb)


def _summary(doc: dict, out: Path) -> None:
    totals = [sum(layer["client_ms"][k] for layer in doc["layers"]) for k in range(len(doc["seq_lens"]))]
    per = ", ".join(f"{s}: {t:.1f} ms" for s, t in zip(doc["seq_lens"], totals, strict=False))
    print(f"wrote {out}: {doc['model']}, {len(doc['layers'])} layers, client total per length {per} "
          f"({doc['source']['wall_s']:.0f} s)", file=sys.stderr)

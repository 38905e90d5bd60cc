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

__all__ = ["add_parser", "seq_list"]

_EPILOG = """examples:
  splittui profile --model gpt2-like --seq 128,256
  splittui profile --model bert-base --seq 128,256,512 --server a100 --out bert.json
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


def add_parser(sub) -> None:
    from ..profiler.zoo import ZOO_NAMES

    p = sub.add_parser("profile", help="measure per-layer costs of a model and write a profile",
                       description="Run a model stage by stage on this machine and write a measured\n"
                                   "splittui.profile/1: client_ms timed on this CPU, server_ms from a\n"
                                   "roofline preset or measured, flops from formulas (checked by fvcore).",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", choices=ZOO_NAMES, metavar="NAME",
                     help=f"zoo model, one of {', '.join(ZOO_NAMES)} (random weights, no downloads)")
    src.add_argument("--module", metavar="PATH.py:FACTORY",
                     help="your own model: FACTORY() in PATH.py returns a splittui.profiler.chain.Chain "
                          "(see the README)")
    p.add_argument("--seq", type=seq_list, default=[128, 256], metavar="N,N,...",
                   help=f"sequence lengths in tokens (image sides in pixels for cmt-s), at most {MAX_SEQ:,} "
                        "(default 128,256)")
    p.add_argument("--repeats", type=positive_int, default=5, metavar="N",
                   help="timed runs per stage after a warm-up; the median is kept (default 5)")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="torch threads of the client (default 1: the paper's 1-core client)")
    p.add_argument("--server", default="rtx3090", metavar="NAME",
                   help="how server_ms is found: rtx3090 | a100 | h100 (roofline presets) | cuda (measured "
                        "on this machine's GPU) | cpu[:THREADS] (measured on this CPU) (default rtx3090)")
    p.add_argument("--no-fvcore", action="store_true", help="skip fvcore's cross-check FLOP count (faster; "
                                                            "default: count)")
    add_attention_arg(p)
    p.add_argument("--tiny", action="store_true", help="the zoo model's tiny test configuration (d=32, 2 blocks)")
    p.add_argument("--out", metavar="FILE", help="output file; its directory must exist (default ./<model>.json)")
    p.add_argument("--force", action="store_true", help="replace an existing output file (default: refuse)")
    p.set_defaults(func=run_profile)


def run_profile(args: argparse.Namespace) -> int:
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
    try:
        from ..profiler.run import load_factory, profile_model
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
                return profile_model(chain, args.seq, repeats=args.repeats, threads=args.threads,
                                     server=args.server, progress=cb, fvcore=not args.no_fvcore)

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
    """--module PATH.py:FACTORY: a readable .py file, before torch is even imported."""
    path_text, sep, attr = spec.rpartition(":")
    if not sep or not path_text or not attr.isidentifier():
        raise SplittuiError(f"--module {spec!r}: expected PATH.py:FACTORY (FACTORY a Python name)")
    path = Path(path_text)
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
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

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
                print(f"{label}: {head} ({done}/{total}, {bar.tasks[0].elapsed or 0:.0f} s)", file=sys.stderr, flush=True)

        return work(cb)


def _summary(doc: dict, out: Path) -> None:
    totals = [sum(layer["client_ms"][k] for layer in doc["layers"]) for k in range(len(doc["seq_lens"]))]
    per = ", ".join(f"{s}: {t:.1f} ms" for s, t in zip(doc["seq_lens"], totals))
    print(f"wrote {out}: {doc['model']}, {len(doc['layers'])} layers, client total per length {per} "
          f"({doc['source']['wall_s']:.0f} s)", file=sys.stderr)

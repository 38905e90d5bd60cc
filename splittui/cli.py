"""Command line: a thin, lazy front over the core. Each subcommand lives in splittui/commands/<name>.py
and exposes ``add_parser(subparsers)``; modules import heavy packages only inside their handler.

Bad input anywhere ends as one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# numpy's BLAS (OpenBLAS) runs one thread per process unless told otherwise: the core's matrices are small
# (a calibration fit solves 250 x 250), and a BLAS thread pool only contends with the app, the solver
# threads and other processes (`splittui calibrate` took 42-134 s instead of 6 s on a busy 2-core machine).
# Set before numpy is first imported (every command imports it lazily); a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from . import __version__  # noqa: E402
from .commands.app_args import add_app_scenario_args  # noqa: E402
from .commands.llm_args import add_app_llm_args  # noqa: E402
from .errors import SplittuiError, one_line  # noqa: E402

__all__ = ["main", "build_parser"]

COMMANDS = ("solve", "evaluate", "frontier", "profile", "sweep", "simulate", "run", "serve", "devices",
            "calibrate", "explore", "capacity", "fit")

_DESCRIPTION = """\
Plan split inference of transformer models: which layers run on a weak client and which on a
server, so the server does the least work while every request meets its deadline.

With no command, opens the interactive terminal app on a model (default gpt2-like)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit 2) instead of usage + error, with the one
    prefix every error has (``splittui: error:``), and refuses abbreviated flags (``--dead`` is not
    ``--deadline-ms``). Subcommands' parsers are of this class too (argparse makes them so)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"splittui: error: {message} (see {self.prog} --help)\n")

    def _get_values(self, action, arg_strings):
        # argparse drops a lone '--' before converting, so '--seq=--' would reach the command as a list
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {action.option_strings[0]}: expected a value, got '--'")
        return super()._get_values(action, arg_strings)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="splittui", description=_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"splittui {__version__}")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--model", help="shipped profile to open in the app (default gpt2-like)")
    src.add_argument("--profile", metavar="PATH", help="profile file (splittui.profile/1) to open")
    add_app_llm_args(parser, src)
    add_app_scenario_args(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:   # a command whose module does not import is an error, never a missing command
        importlib.import_module(f"splittui.commands.{name}").add_parser(sub)
    return parser


def _run_app(args: argparse.Namespace) -> int:
    from .commands.app_args import app_start

    profile, scenario, policy = app_start(args)  # fail fast, before the UI starts
    # Textual draws at most 60 frames a second by default, and a key press takes two (the knob, then
    # the answer), each waiting for the frame timer's next tick: at 120 the answer reached the screen ~10 ms
    # sooner, at 240 another 2-4 ms (benchmarks/bench_app_latency.py; frames are drawn only when something
    # changed, so an idle app draws none). Read when Textual is imported, so here.
    os.environ.setdefault("TEXTUAL_FPS", "240")
    from .tui.app import make_app

    make_app(profile=profile, scenario=scenario, policy=policy).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _run_app(args)
        return int(args.func(args) or 0)
    except SplittuiError as exc:
        print(f"splittui: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("splittui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0

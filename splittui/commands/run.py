"""`splittui run`: real split execution over TCP on this machine, measured beside predicted.

Only parses flags here; the work (and torch) lives in splittui/runner/, imported by the handler.
"""

from __future__ import annotations

import argparse

from .common import add_scenario_args, positive_float, positive_int

__all__ = ["add_parser"]

_EPILOG = """examples:
  splittui run --model bert-base --seq 512 --solver dp --up-mbps 100
  splittui run --model gpt2-like --seq 256 --solver greedy --deadline-ms 4000 --repeats 3
  splittui run --model bert-base --seq 256 --solver attention-server --up-mbps 1000
  splittui run --model bert-base --policy exported.json
  splittui run --figure                       # the paper's Fig. 2/5 experiment on bert-base
  splittui run --fidelity                     # dp, greedy, no-split on every zoo model

The server listens on 127.0.0.1 (a random free port) unless --host is given; the link is emulated
by the sender (one-way delay, then bytes paced to the bandwidth). Client: 1 thread; server: the
remaining cores (--server-threads). The prediction uses a profile measured on this machine for
exactly these thread counts, cached under ~/.cache/splittui/run (or $SPLITTUI_CACHE_DIR)."""

SOLVER_CHOICES = ("dp", "exact", "greedy", "single-split", "no-split", "all-client",
                  "attention-server", "attention-client")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a split policy for real (client + server over TCP) and check the prediction",
                       description="Start a server and a 1-thread client process, run the model's stages "
                                   "where the policy says, ship the state over TCP through an emulated link, "
                                   "and print measured latency beside the cost model's prediction.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="bert-base",
                   help="zoo model (gpt2-like, bert-base, transformer, cmt-s) or runner-toy (default %(default)s)")
    p.add_argument("--tiny", action="store_true", help="the zoo's tiny configuration (for smoke tests)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--solver", choices=SOLVER_CHOICES, default="dp",
                     help="policy to run: a solver, or a named placement (attention-server: the paper's "
                          "'efficient' split; attention-client: its 'inefficient' one) (default %(default)s)")
    src.add_argument("--policy", metavar="FILE", help="run the policy in a splittui.policy/1 file instead")
    add_scenario_args(p, deadline_default=None)
    _help(p, "deadline_ms", "latency deadline in ms (default: halfway between the least latency dp and greedy "
                            "can reach and all-client, on this machine)")
    _help(p, "seq", "sequence length (default 512; for cmt-s the image side, a multiple of 32)")
    _help(p, "start", "where the input is: only client is supported by run")
    _help(p, "end", "where the answer must arrive: only client is supported by run")
    g = p.add_argument_group("execution")
    g.add_argument("--repeats", type=positive_int, default=5, metavar="N",
                   help="timed requests after one warm-up; the median is reported (default %(default)s)")
    g.add_argument("--server-threads", type=positive_int, default=None, metavar="N",
                   help="server's torch threads (default: the cores left after the client's one)")
    g.add_argument("--host", default="127.0.0.1", help="address the server binds to (default %(default)s)")
    g.add_argument("--port", type=int, default=0, help="server port (default: any free port)")
    g.add_argument("--seed", type=int, default=0, help="seed set before building the model on both sides")
    g.add_argument("--max-frame-mb", type=positive_float, default=1024.0, metavar="MB",
                   help="largest frame the server accepts (default %(default)s)")
    g.add_argument("--reprofile", action="store_true", help="measure the prediction profile again (ignore the cache)")
    g.add_argument("--profile-repeats", type=positive_int, default=5, metavar="N",
                   help="timings per stage when profiling (default %(default)s)")
    g.add_argument("--json", action="store_true", help="print the result rows as JSON")
    g.add_argument("--markdown", action="store_true", help="--figure/--fidelity: print the table as markdown")
    f = p.add_argument_group("experiments")
    f.add_argument("--figure", action="store_true",
                   help="the paper's Fig. 2/5: --model (default bert-base) over --seqs and --bandwidths with "
                        "all-client, attention-server, attention-client and dp")
    f.add_argument("--fidelity", action="store_true",
                   help="prediction error of dp, greedy, no-split (and attention-server) on every zoo model "
                        "at --seqs")
    f.add_argument("--models", metavar="A,B", help="zoo models for --fidelity (default: all four)")
    f.add_argument("--seqs", metavar="N,N", help="sequence lengths for --figure/--fidelity")
    f.add_argument("--bandwidths", metavar="U,U", help="Mbit/s values for --figure (default 100,1000)")
    p.set_defaults(func=_handler)


def _help(p: argparse.ArgumentParser, dest: str, text: str) -> None:
    for action in p._actions:
        if action.dest == dest:
            action.help = text


def _handler(args: argparse.Namespace) -> int:
    from ..runner.command import run_command

    return run_command(args)

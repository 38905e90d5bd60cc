"""`splittui run`: real split execution over TCP on this machine, measured beside predicted.

Only parses flags here; the work (and torch) lives in splittui/runner/, imported by the handler.
"""

from __future__ import annotations

import argparse

from ..errors import SplittuiError
from .common import add_generation_args, add_scenario_args, positive_float, positive_int
from .tiers_args import add_tier_args, tiers_requested

__all__ = ["add_parser"]

_EPILOG = """examples:
  splittui profile --model bert-base --seq 256,512 --server cpu:2 --out plan.json
  splittui run --model bert-base --profile plan.json --seq 512 --solver dp --deadline 0.7x --up-mbps 100 --json
  splittui run --model gpt2-like --seq 256 --solver greedy --deadline-ms 4000 --repeats 3
  splittui run --model bert-base --seq 256 --solver attention-server --up-mbps 1000 --link paced
  splittui run --model bert-base --policy exported.json
  splittui run --model gpt2-like --seq 128 --gen-tokens 16 --solver dp --deadline 0.8x   # TTFT and TPOT
  splittui run --figure                       # the paper's Fig. 2/5 experiment on bert-base
  splittui run --figure attention             # Figs. 6-7: full / low-rank / sparse attention, splitCPU
  splittui run --fidelity                     # dp, exact, greedy, single-split, no-split: prediction error
  splittui run --model gpt2-like --seq 256 --tier phone=phone-soc --tier edge=jetson-orin --tier cloud=a100-80gb \
      --hop 50/100/5 --hop 200/500/20         # one process per tier, a kernel-shaped link per hop

The prediction comes from the planning profile only: --profile FILE, or else a profile of this machine
that `splittui profile --server cpu:N --threads 1` measures in a separate process before the run,
cached under ~/.cache/splittui/run (or $SPLITTUI_CACHE_DIR). Client: 1 thread; server: every core
(--server-threads). Link: as root (or with CAP_NET_ADMIN), two network namespaces joined by a veth
pair shaped by tc tbf in each direction (the one-way delay stays in the application: no netem
here); elsewhere the sender paces the bytes on loopback. The output names the link used.
With --tier/--hop or --topology: one process per tier (the first is the client), a namespace each, a veth
pair per hop; every tier's times come from this machine's planning profile (the device presets only name
the tiers), the hops' bandwidths and delays from the topology; --solver dp|exact|no-split|all-client, or
--policy FILE with a 'tiers' section. Prefill only."""

SOLVER_CHOICES = ("dp", "exact", "greedy", "single-split", "no-split", "all-client",
                  "attention-server", "attention-client")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a split policy for real (client + server over TCP) and check the prediction",
                       description="Start a server and a 1-thread client process, run the model's stages "
                                   "where the policy says, ship the state over TCP through an emulated link, "
                                   "and print measured latency beside the cost model's prediction.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="zoo model (gpt2-like, bert-base, transformer, cmt-s) or runner-toy (default gpt2-like, as "
                        "in every command; --figure: bert-base, the paper's)")
    p.add_argument("--tiny", action="store_true", help="the zoo's tiny configuration (for smoke tests)")
    p.add_argument("--attention", default="full", metavar="full|lowrank:K|sparse:B",
                   help="attention variant of a zoo text model (built on both sides; the planning profile is "
                        "measured at it) (default full)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--solver", choices=SOLVER_CHOICES, default="dp",
                     help="policy to run: a solver, or a named placement (attention-server: the paper's "
                          "'efficient' split; attention-client: its 'inefficient' one) (default %(default)s)")
    src.add_argument("--policy", metavar="FILE", help="run the policy in a splittui.policy file instead")
    add_scenario_args(p, deadline_default=None)
    add_generation_args(p, limits=False)
    _help(p, "gen_tokens", "generate N output tokens: the prefill's, then N − 1 decode steps (greedy, KV cache on "
                           "each layer's side; causal "
                           "models: gpt2-like): measured TTFT and TPOT beside the planning profile's, every token "
                           "checked against the unsplit model (default 0: one forward pass)")
    _deadline(p)
    _help(p, "seq", "sequence length (default 512; for cmt-s the image side, a multiple of 32)")
    _help(p, "start", "where the input is: only client is supported by run")
    _help(p, "end", "where the answer must arrive: only client is supported by run")
    p.add_argument("--profile", metavar="FILE",
                   help="planning profile (splittui.profile/1) to choose the policy and predict with (default: "
                        "measure this machine with `splittui profile` in a separate process, cached)")
    g = p.add_argument_group("execution")
    g.add_argument("--link", choices=("auto", "kernel", "paced"), default="auto",
                   help="kernel: namespaces + veth + tc tbf; paced: the sender paces loopback; auto: kernel where "
                        "permitted (default %(default)s)")
    g.add_argument("--repeats", type=positive_int, default=5, metavar="N",
                   help="timed requests after one warm-up; the median is reported (default %(default)s)")
    g.add_argument("--server-threads", type=positive_int, default=None, metavar="N",
                   help="server's torch threads (default: every core; the client has 1)")
    g.add_argument("--host", default="127.0.0.1", help="address the server binds to (default %(default)s)")
    g.add_argument("--port", type=int, default=0, help="server port (default: any free port)")
    g.add_argument("--seed", type=int, default=0, help="seed set before building the model on both sides")
    g.add_argument("--max-frame-mb", type=positive_float, default=1024.0, metavar="MB",
                   help="largest frame the server accepts (default %(default)s)")
    g.add_argument("--reprofile", action="store_true", help="measure the planning profile again (ignore the cache)")
    g.add_argument("--profile-repeats", type=positive_int, default=5, metavar="N",
                   help="--repeats of the `splittui profile` run that makes the planning profile (default %(default)s)")
    g.add_argument("--json", action="store_true", help="print one JSON document (splittui.run/1): the set-up, "
                                                        "the planning profile and its sha256, the rows")
    g.add_argument("--markdown", action="store_true", help="--figure/--fidelity: print the table as markdown")
    add_tier_args(p)
    f = p.add_argument_group("experiments")
    f.add_argument("--figure", nargs="?", const="paper", choices=("paper", "attention"), default=None,
                   help="paper (the default when no value is given): the paper's Fig. 2/5, --model (default "
                        "bert-base) over --seqs and --bandwidths with all-client, attention-server, "
                        "attention-client and dp; attention: Figs. 6-7, --model over --seqs (default "
                        "128,256,512) and --variants with all-client, attention-server and dp at two --deadlines "
                        "(default 1/3,2/3 of the way from the least latency to all-client), the server a CPU "
                        "process (splitCPU), within --budget-s")
    f.add_argument("--variants", metavar="V,V",
                   help="attention variants for --figure attention (default full,lowrank:64,sparse:32)")
    f.add_argument("--budget-s", type=positive_float, default=600.0, metavar="S",
                   help="--figure attention: a variant whose run (estimated from its planning profile) would "
                        "end after S seconds is not started (default %(default)s)")
    f.add_argument("--fidelity", action="store_true",
                   help="prediction error of dp, exact, greedy, single-split and no-split on bert-base and "
                        "gpt2-like at two --seqs and two --deadlines each")
    f.add_argument("--models", metavar="A,B", help="models for --fidelity (default bert-base,gpt2-like)")
    f.add_argument("--deadlines", metavar="D,D",
                   help="deadlines for --fidelity and --figure attention (default 1/3,2/3: "
                        "a/b is that fraction of the way from the least latency the planning profile allows to "
                        "all-client; Fx of all-client and ms work too)")
    f.add_argument("--seqs", metavar="N,N", help="sequence lengths for --figure/--fidelity")
    f.add_argument("--bandwidths", metavar="U,U", help="Mbit/s values for --figure (default 100,1000)")
    p.set_defaults(func=_handler)


def _help(p: argparse.ArgumentParser, dest: str, text: str) -> None:
    for action in p._actions:
        if action.dest == dest:
            action.help = text


def _deadline(p: argparse.ArgumentParser) -> None:
    for action in p._actions:
        if action.dest == "deadline_ms":
            action.option_strings = [*action.option_strings, "--deadline"]  # short spelling; --deadlines differs
            p._option_string_actions["--deadline"] = action
            action.type = _deadline_arg
            action.metavar = "MS|Fx"
            action.help = ("latency deadline: ms (1500) or a fraction of the planned all-client latency (0.7x); "
                           "--deadline works too (default: halfway between the least latency dp and greedy can "
                           "reach and all-client)")


def _deadline_arg(text: str) -> str:
    body = text[:-1] if text.endswith("x") else text
    try:
        value = float(body)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ms (1500) or a fraction of all-client (0.7x), got {text!r}") \
            from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return text


def _handler(args: argparse.Namespace) -> int:
    if args.model is None:
        args.model = "bert-base" if args.figure else "gpt2-like"
    if tiers_requested(args):
        from ..runner.tier_handler import tier_run_command
        from .tiers_args import tier_policy, topology_from_args, with_pins

        return tier_run_command(args, topology_from_args(args), with_pins=with_pins, tier_policy=tier_policy)
    if args.gen_tokens and (args.figure or args.fidelity):
        raise SplittuiError("--gen-tokens runs one generation request: drop --figure/--fidelity")
    if args.gen_tokens:
        from ..runner.gen_handler import generation_command

        return generation_command(args)
    if args.figure or args.fidelity:
        from ..runner.experiments import experiment_command

        return experiment_command(args)
    from ..runner.handler import run_command

    return run_command(args)

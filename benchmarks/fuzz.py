"""Fuzz benchmark (issue 17, not in CI): the suite's fuzz properties with many more examples, counted.

    python benchmarks/fuzz.py                 # 100x the suite's examples per boundary
    python benchmarks/fuzz.py --scale 10      # quicker
    python benchmarks/fuzz.py --only profile

Prints, per boundary, the inputs tried and how many were accepted, refused cleanly (one line naming the
file and field / exit 2 / one logged line and the server still serving) or anything else ("other",
which must be 0; the first few are printed). Strategies and properties are the tests' own
(tests/core/fuzz_strategies.py, tests/core/test_fuzz_*.py, tests/runner/test_fuzz_wire.py).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "core"), str(ROOT / "tests" / "runner")]

import fuzz_strategies as fz  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SUITE_EXAMPLES = {"profile": fz.FUZZ.max_examples, "policy": fz.FUZZ.max_examples, "cli flags": fz.FUZZ.max_examples,
                  "wire (recv_frame)": 150, "wire (server)": 40}


def _run(name: str, n: int, one, strategy) -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    others: list[str] = []

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def loop(value):
        counts["tried"] += 1
        try:
            counts[one(value)] += 1
        except Exception as exc:  # Unclean or a broken property: counted, not raised
            counts["other"] += 1
            if len(others) < 5:
                others.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")

    loop()
    return counts, others


def _boundaries(folder: Path):
    from test_fuzz_cli import flag_argv
    from test_fuzz_loaders import TINY_DOC, _gpt2_doc, check_policy, check_profile, policy_seeds

    from splittui.policy import load_policy
    from splittui.profiles import load_profile

    tiny = folder / "tiny.json"
    tiny.write_text(json.dumps(TINY_DOC))
    seeds = policy_seeds(tiny)
    policy = folder / "policy.json"
    policy.write_text(json.dumps(seeds[0]))

    def profile_one(bad):
        path = fz.write_bytes(folder, bad)
        return fz.clean_outcome(lambda: load_profile(path), source=str(path), check=check_profile)

    def policy_one(bad):
        path = fz.write_bytes(folder, bad, "fuzzed-policy.json")
        out = fz.clean_outcome(lambda: load_policy(path), source=str(path), check=check_policy)
        fz.cli_outcome(["evaluate", "--policy", path, "--profile", tiny, "--json"], ok=(0, 1))
        return out

    def cli_one(draw_argv):
        argv, ok = draw_argv
        return fz.cli_outcome(argv, ok=ok)

    profiles = st.sampled_from(["tiny", "tiny", "gpt2"]).flatmap(
        lambda s: fz.corrupted_json(TINY_DOC if s == "tiny" else _gpt2_doc()))
    argvs = st.composite(lambda draw: flag_argv(draw, tiny, policy))()
    yield "profile", profile_one, profiles
    yield "policy", policy_one, st.sampled_from(seeds).flatmap(fz.corrupted_json)
    yield "cli flags", cli_one, argvs
    yield from _wire_boundaries()


def _wire_boundaries():
    from test_fuzz_wire import CAP, _send, _served, _wait_for, bad_frames

    from splittui.runner.chains import ChainSpec, build_chain, fingerprint
    from splittui.runner.server import Server, bind
    from splittui.runner.wire import ProtocolError, recv_frame

    def recv_one(frame):
        a, b = socket.socketpair()
        with a, b:
            a.sendall(frame[0])
            a.shutdown(socket.SHUT_WR)
            try:
                recv_frame(b, max_bytes=CAP)
            except ProtocolError:
                return "refused"
        return "accepted"

    yield "wire (recv_frame)", recv_one, bad_frames("runner-toy")

    toy = build_chain(ChainSpec("runner-toy"))
    messages: list[str] = []
    server = Server(toy, fingerprint(toy), max_bytes=CAP, log=messages.append)
    listener, stop = bind("127.0.0.1", 0), threading.Event()
    threading.Thread(target=server.serve, args=(listener, stop.is_set), daemon=True).start()
    port = listener.getsockname()[1]

    def server_one(args):
        (payload, what), drop = args
        drop = drop and what in ("truncate", "random")
        before = len(messages)
        replies = _send(port, payload, drop=drop)
        logged = _wait_for(lambda: len(messages) > before, 5.0)
        time.sleep(0.01)
        new = messages[before:]
        _served(port, toy)
        if logged and len(new) == 1 and "\n" not in new[0]:
            return "refused"
        if not logged and replies and all(r["op"] != "error" for r in replies):
            return "accepted"
        raise fz.Unclean(f"{what}: replies {replies}, log {new}")

    yield "wire (server)", server_one, st.tuples(bad_frames(toy.model), st.booleans())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=100, help="examples = scale x the suite's (default 100)")
    ap.add_argument("--only", help="run the boundaries whose name contains this")
    args = ap.parse_args()
    rows, others = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, one, strategy in _boundaries(Path(tmp)):
            if args.only and args.only not in name:
                continue
            t0 = time.perf_counter()
            counts, bad = _run(name, SUITE_EXAMPLES[name] * args.scale, one, strategy)
            rows.append((name, counts, time.perf_counter() - t0))
            others += bad
            print(f"  {name}: {counts['tried']} tried in {rows[-1][2]:.0f} s", file=sys.stderr, flush=True)
    print(f"| boundary | tried | accepted | refused cleanly | other | seconds |  (scale {args.scale}x)")
    print("|---|---:|---:|---:|---:|---:|")
    for name, c, secs in rows:
        print(f"| {name} | {c['tried']} | {c['accepted']} | {c['refused']} | {c['other']} | {secs:.0f} |")
    for line in others:
        print("other:", line)
    return 1 if any(c["other"] for _, c, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

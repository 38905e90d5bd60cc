"""The planning side of `splittui run`: the profile a user plans with, the deadline, the policy.

The planning profile is either the file given with ``--profile`` or a profile of this machine made by
``splittui profile --server cpu:N --threads 1`` in a *separate process* before the run and cached as
``<cache>/<model>-s<seqs>-client1-cpuN.json`` (``$SPLITTUI_CACHE_DIR``, else
``$XDG_CACHE_HOME/splittui/run``, else ``~/.cache/splittui/run``). Its file is named in the output with
its sha256. Nothing measured in the run itself ever enters it. A cached profile is measured again
when it was timed another way than `splittui profile` times now (``stale_timing``); how much faster
or slower this CPU runs than when the profile was measured is reported beside every row
(profiler/speed.py), not acted on: on a virtual machine it moves by 10-20 % within a minute.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import SplittuiError
from ..model import Profile, Scenario

__all__ = ["Planning", "cache_dir", "profile_path", "planning_profile", "profile_command",
           "scenario_for", "policy_for", "auto_deadline", "all_client_ms", "least_latency_ms", "dp_deadline_ms",
           "stale_timing", "MIN_GAP", "deadline_token", "short_ms"]

MIN_GAP = 0.02      # least latency this close to all-client (a fraction of it): no deadline between is worth a row


@dataclass(frozen=True, slots=True)
class Planning:
    profile: Profile
    path: Path
    sha256: str            # of the file's bytes
    made_now: bool         # measured by a `splittui profile` process started by this run (else: a file)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "source": self.profile.source}


def cache_dir() -> Path:
    env = os.environ.get("SPLITTUI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "splittui" / "run"


def profile_path(model: str, seqs: list[int], server_threads: int, *, tiny: bool = False,
                 attention: str = "full") -> Path:
    name = model if attention == "full" else f"{model}@{attention.replace(':', '-')}"
    safe = name.replace("/", "_").replace(":", "_")
    lens = "-".join(str(s) for s in sorted(seqs))
    return cache_dir() / f"{safe}{'-tiny' if tiny else ''}-s{lens}-client1-cpu{server_threads}.json"


def profile_command(spec, seqs: list[int], server_threads: int, out: Path, repeats: int) -> list[str]:
    """The `splittui profile` command line that makes the default planning profile."""
    from .toy import TOY_NAME

    if spec.model == TOY_NAME:
        src = ["--module", "splittui.runner.toy:build_toy"]
    elif ":" in spec.model:
        src = ["--module", spec.model]
    else:
        src = ["--model", spec.model] + (["--tiny"] if spec.tiny else [])
        src += [] if spec.attention == "full" else ["--attention", spec.attention]
    return ["splittui", "profile", *src, "--seq", ",".join(str(s) for s in sorted(seqs)), "--server",
            f"cpu:{server_threads}", "--threads", "1", "--repeats", str(repeats), "--out", str(out), "--force"]


def planning_profile(spec, seqs: list[int], server_threads: int, *, given: str | None = None, repeats: int = 5,
                     refresh: bool = False, say=print, forks: bool = True) -> Planning:
    """The profile the run's policy is chosen from and its latency predicted with. `forks`: the run's
    processes come from the fork server (`profiler.procs`), which then starts while the profile is measured
    in its separate process (its torch import beside that process's, not after it); tier runs spawn theirs."""
    from ..profiles import load_profile

    if given:
        path = Path(given)
        profile = load_profile(str(path))
        _check_fits(profile, spec, seqs, given)
        if profile.source.get("kind") == "measured" and (old := stale_timing(profile)):
            say(f"planning profile: {path} was timed another way ({old}); `splittui profile` times stages "
                "as a run executes them")
        return Planning(profile, path, _sha256(path), made_now=False)
    path = profile_path(spec.model, seqs, server_threads, tiny=spec.tiny, attention=spec.attention)
    made = refresh or not path.exists()
    if not made and (old := stale_timing(load_profile(str(path)))):
        say(f"planning profile: the cached {path} was timed another way ({old}); measuring it again")
        made = True
    if made:
        path.parent.mkdir(parents=True, exist_ok=True)
        cmd = profile_command(spec, seqs, server_threads, path, repeats)
        say(f"planning profile: measuring it in a separate process: {' '.join(cmd)}")
        if forks:
            from ..profiler.procs import warm

            warm()
        _run_profiler(cmd)
    profile = load_profile(str(path))
    _check_fits(profile, spec, seqs, str(path))
    return Planning(profile, path, _sha256(path), made_now=made)


def stale_timing(profile: Profile) -> str | None:
    """How ``profile`` was timed when that is not the way `splittui profile` times stages now (in-order
    passes; in-order decode steps where it has decode fields; a CPU server in its own process), else None."""
    from ..profiler import TIMING

    profiling = profile.extra.get("profiling")
    timing = profiling.get("timing") if isinstance(profiling, dict) else None
    timing = timing if isinstance(timing, dict) else {}
    want = {k: v for k, v in TIMING.items() if k == "prefill" or profile.has_decode}
    old = {k: timing.get(k, "not recorded") for k in want if timing.get(k) != want[k]}
    on_this_cpu = str(profile.source.get("server", "")).startswith("measured on this CPU")
    if on_this_cpu and isinstance(profiling, dict) and profiling.get("server_process") != "own":
        old["server"] = "timed in the profiling process, not in its own as the run's server"
    if profile.has_decode and profile.has_server_mem and "tied_stages" not in profile.extra:
        old["memory"] = "a tied embedding/LM head not looked for (measured before tied_stages was recorded)"
    return "; ".join(f"{k}: {v}" for k, v in old.items()) or None


def _run_profiler(cmd: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "splittui", *cmd[1:]], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode == 130:
        raise KeyboardInterrupt
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise SplittuiError(f"profiling for the planning profile failed: {last}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_fits(profile: Profile, spec, seqs: list[int], where: str) -> None:
    lo, hi = profile.seq_range
    bad = [s for s in seqs if not lo <= s <= hi]
    if bad:
        raise SplittuiError(f"--profile {where}: --seq {bad[0]} is outside the profile's range {lo}..{hi}")


def all_client_ms(profile: Profile, sc: Scenario) -> float:
    """The planned all-client latency of the request (prefill, plus the decode steps when gen_tokens > 0)."""
    from ..generation import request_costs
    from ..solvers.baselines import prefix_latencies

    return float(prefix_latencies(request_costs(profile, sc))[-1])


def auto_deadline(profile: Profile, sc: Scenario) -> float:
    """Halfway between the least latency every solver can reach and all-client, so the solvers have
    a real choice; 1.1 × that least latency when all-client is (nearly) as fast.

    "Every solver": the greedy only ever reaches no-split or a prefix starting with layer 1 on the
    client, so the low end is the later of the fastest placement and the faster of those two.
    """
    from ..costs import min_latency
    from ..generation import request_costs
    from ..solvers.baselines import prefix_latencies

    c = request_costs(profile, sc)
    prefix = prefix_latencies(c)
    lo, all_client = max(min_latency(c), min(prefix[0], prefix[1])), prefix[-1]
    if all_client > 1.05 * lo:
        return float(lo + 0.5 * (all_client - lo))
    return float(1.1 * lo)


def scenario_for(args, profile: Profile, seq: int, *, up: float | None = None, deadline: str | None = None,
                 gen_tokens: int = 0) -> Scenario:
    """The scenario to solve on the planning profile; the deadline from ``deadline`` (or
    ``--deadline-ms``): absolute ms, ``<f>x`` of the predicted all-client latency, or automatic.
    With ``gen_tokens`` the scenario is the whole request (prefill + decode, SPEC §8)."""
    from ..costs import min_latency
    from ..generation import request_costs

    up = up if up is not None else args.up_mbps
    down = args.down_mbps if args.down_mbps is not None else up
    sc = Scenario(deadline_ms=1e9, up_mbps=up, down_mbps=down, delay_ms=args.delay_ms, seq_len=seq,
                  unit_ms=args.unit_ms, objective=args.objective, rounding=args.rounding, gen_tokens=gen_tokens,
                  returns="logits")   # what the run ships: the head's output (the client picks the token)
    text = deadline or args.deadline_ms
    if text is None:
        ms = auto_deadline(profile, sc)
    elif str(text).endswith("x"):
        ms = float(str(text)[:-1]) * all_client_ms(profile, sc)
    else:
        ms = float(text)
    # the DP (ceil rounding) may lose up to (2L+2)·T of the deadline: keep that loss inside the slack
    slack = ms - min_latency(request_costs(profile, sc))
    unit = sc.unit_ms if slack <= 0 else min(sc.unit_ms, slack / (2 * profile.n_layers + 2))
    return sc.replace(deadline_ms=ms, unit_ms=unit)


def policy_for(args, profile: Profile, sc: Scenario, solver: str | None = None) -> tuple[str, tuple[int, ...]]:
    """(label, policy): from ``--policy FILE``, a named placement, or the solver on the planning profile."""
    from .predict import choose_policy

    if getattr(args, "policy", None):
        return _policy_file(args.policy, profile)
    solver = solver or args.solver
    if solver in ("no-split", "all-client"):
        return solver, tuple([int(solver == "all-client")] * profile.n_layers)
    policy, _ = choose_policy(profile, sc, solver)
    return solver, tuple(policy)


def _policy_file(path: str, profile: Profile) -> tuple[str, tuple[int, ...]]:
    from ..policy import load_policy

    doc = load_policy(path)
    if len(doc["policy"]) != profile.n_layers:
        raise SplittuiError(f"{path}: policy has {len(doc['policy'])} entries, {profile.model} has "
                            f"{profile.n_layers} stages")
    names = [p.get("name") for p in doc.get("placement") or [] if isinstance(p, dict)]
    if names and names != [layer.name for layer in profile.layers]:
        raise SplittuiError(f"{path}: its layer names do not match {profile.model}'s stages "
                            f"(made for another model or profiler version?)")
    return f"{doc.get('solver', 'file')} (from file)", tuple(int(v) for v in doc["policy"])


_DEADLINE_USAGE = ("expected a/b (that fraction of the way from the least latency to all-client, e.g. 1/3), "
                   "a fraction of all-client (0.7x) or ms (1500)")


def deadline_token(text: str) -> tuple[str, float]:
    """``a/b`` -> ("way", a/b); ``Fx`` -> ("x", F); ``MS`` -> ("ms", MS). A bad one is a SplittuiError."""
    t = text.strip()
    try:
        if "/" in t:
            value, kind = float(Fraction(t)), "way"
        elif t.endswith("x"):
            value, kind = float(t[:-1]), "x"
        else:
            value, kind = float(t), "ms"
    except (ValueError, ZeroDivisionError):
        raise SplittuiError(f"--deadlines {text!r}: {_DEADLINE_USAGE}") from None
    if kind == "way" and not 0 < value < 1:
        raise SplittuiError(f"--deadlines {text!r}: a fraction of the way must be between 0 and 1 (1/3, 2/3)")
    if not 0 < value < float("inf"):
        raise SplittuiError(f"--deadlines {text!r}: must be > 0")
    return kind, value


def short_ms(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}"


def least_latency_ms(profile, sc) -> float:
    """The least latency any placement reaches on the planning profile (same link and ends as ``sc``)."""
    from ..costs import min_latency
    from ..generation import request_costs

    return min_latency(request_costs(profile, sc))


def dp_deadline_ms(token: str, least: float, all_client: float, *,
                   min_gap: float = MIN_GAP) -> tuple[float | None, str]:
    """(deadline ms, "") or (None, why there is none) for one ``--deadlines`` token."""
    kind, value = deadline_token(token)
    if kind == "way":
        if least >= all_client:
            return None, f"infeasible: least latency {short_ms(least)} ms ≥ all-client {short_ms(all_client)} ms"
        if all_client - least < min_gap * all_client:
            return None, (f"infeasible: least latency {short_ms(least)} ms is within {min_gap:.0%} of all-client "
                          f"{short_ms(all_client)} ms")
        return least + value * (all_client - least), ""
    ms = value * all_client if kind == "x" else value
    if ms < least:
        return None, f"infeasible: deadline {short_ms(ms)} ms < least latency {short_ms(least)} ms"
    return ms, ""

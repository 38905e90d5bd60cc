"""What the cost model predicts for a real run: a profile measured here, cached, and the policy to run.

The profile's client times are measured with 1 thread and its server times with the server's
thread count, on this machine (``splittui.profiler.profile_model(..., threads=1, server="cpu:N")``
when the profiler is installed, else a plain per-stage timing of the same chain). It is cached as a
``splittui.profile/1`` file under ``cache_dir()``: ``$SPLITTUI_CACHE_DIR``, else
``$XDG_CACHE_HOME/splittui/run``, else ``~/.cache/splittui/run``.

The prediction is ``splittui.evaluate`` on that profile, plus the per-transfer overhead the client
calibrated on the live link (one small echo round trip, minus the model's delay + bytes/bandwidth),
times the number of transfers: the one effect of the real run the cost model leaves out.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import SplittuiError
from ..model import Profile, Result, Scenario

__all__ = ["cache_dir", "profile_path", "measured_profile", "in_chain_profile", "Prediction", "predict",
           "named_policy", "NAMED_POLICIES", "choose_policy"]

NAMED_POLICIES = ("attention-server", "attention-client")


def cache_dir() -> Path:
    env = os.environ.get("SPLITTUI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "splittui" / "run"


def profile_path(model: str, seq: int, server_threads: int, *, tiny: bool = False) -> Path:
    safe = model.replace("/", "_").replace(":", "_")
    return cache_dir() / f"{safe}{'-tiny' if tiny else ''}-s{seq}-client1-cpu{server_threads}.json"


def measured_profile(spec, seq: int, server_threads: int, *, repeats: int = 5, refresh: bool = False,
                     progress=None) -> tuple[Profile, Path, bool]:
    """(profile, its cache path, whether it came from the cache)."""
    from ..profiles import load_profile, save_profile

    path = profile_path(spec.model, seq, server_threads, tiny=spec.tiny)
    if path.exists() and not refresh:
        return load_profile(path), path, True
    from .chains import build_chain

    chain = build_chain(spec)
    try:
        chain.make_input(seq)
    except ValueError as exc:  # e.g. cmt-s wants an image side divisible by 32
        raise SplittuiError(f"--seq {seq}: {exc}") from None
    doc = _measure_doc(chain, seq, server_threads, repeats, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_profile(doc, path, force=True)
    return load_profile(path), path, False


def _measure_doc(chain, seq: int, server_threads: int, repeats: int, progress) -> dict:
    import torch

    before = torch.get_num_threads()
    try:
        from ..profiler import profile_model
    except ImportError:
        profile_model = None
    try:
        if profile_model is not None:
            return profile_model(chain, [seq], repeats=repeats, threads=1, server=f"cpu:{server_threads}",
                                 progress=progress)
        return _plain_doc(chain, seq, server_threads, repeats)
    finally:
        torch.set_num_threads(before)
        torch.set_flush_denormal(False)  # the profiler turns it on; later float work here must not inherit it


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: the first call is several times slower
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _plain_doc(chain, seq: int, server_threads: int, repeats: int) -> dict:
    """Per-stage medians at 1 and at ``server_threads`` threads (used when the profiler is absent)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..profiler.chain import run_chain, state_bytes

    states = [chain.make_input(seq)]
    for i in range(len(chain.stages)):
        states.append(run_chain(chain, states[-1], i, i + 1))
    layers = []
    with torch.no_grad():
        for i, stage in enumerate(chain.stages):
            inp, times = states[i], {}
            for key, threads in (("client_ms", 1), ("server_ms", server_threads)):
                torch.set_num_threads(threads)
                times[key] = _median_ms(lambda: stage.module(*inp), repeats)
            with FlopCounterMode(display=False) as counter:
                stage.module(*inp)
            flops = stage.flops(inp) if stage.flops else counter.get_total_flops()
            layers.append({"name": stage.name, "kind": stage.kind, "flops": [float(flops)],
                           "in_bytes": [state_bytes(inp)], **{k: [v] for k, v in times.items()}})
    return {"schema": "splittui.profile/1", "model": chain.model, "description": chain.description,
            "source": {"kind": "measured", "client": "this machine, 1 thread",
                       "server": f"this machine, cpu:{server_threads}", "by": "splittui.runner",
                       "created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            "seq_lens": [seq], "output_bytes": [state_bytes(states[-1])], "layers": layers}


def in_chain_profile(profile: Profile, client_ms: list[float], server_ms: list[float]) -> Profile:
    """``profile`` with its times replaced by per-stage times measured while the whole chain runs
    in order in the run's own client and server processes (``Session.stage_times``).

    Why: the profiler times each stage over and over, so its weights and inputs sit warm in the
    caches; in a request every stage runs once, after the others have evicted them. On chains of
    many small stages (cmt-s: 257) the sum of isolated medians undershoots a real pass by 20-50 %.
    """
    from ..profiles import profile_from_doc, profile_to_doc

    if profile.seq_lens != (profile.seq_lens[0],) or len(client_ms) != profile.n_layers:
        raise SplittuiError("in-chain times need a one-length profile with one time per stage")
    doc = profile_to_doc(profile)
    for layer, c, s in zip(doc["layers"], client_ms, server_ms):
        layer["client_ms"], layer["server_ms"] = [float(c)], [float(s)]
    doc["source"] = {**doc.get("source", {}), "times": "per-stage medians of in-order passes in the run's "
                     "client (1 thread) and server processes"}
    return profile_from_doc(doc, source=f"in-chain profile of {profile.model}", origin=profile.origin)


@dataclass(frozen=True, slots=True)
class Prediction:
    result: Result          # splittui.evaluate on the measured profile
    overhead_ms: float      # calibrated cost of one transfer beyond the model
    transfers: int

    @property
    def model_ms(self) -> float:
        return self.result.latency_ms

    @property
    def latency_ms(self) -> float:
        return self.result.latency_ms + self.overhead_ms * self.transfers


def predict(profile: Profile, sc: Scenario, policy, overhead_ms: float = 0.0) -> Prediction:
    from ..solvers import evaluate

    res = evaluate(profile, sc, list(policy))
    return Prediction(result=res, overhead_ms=overhead_ms, transfers=int(res.switches))


def named_policy(profile: Profile, name: str) -> tuple[int, ...]:
    """The paper's Fig. 2 placements: attention cores on the server (its "efficient" split), or
    everything except the attention cores on the server (its "inefficient" split)."""
    if name not in NAMED_POLICIES:
        raise SplittuiError(f"unknown placement {name!r}: choose from {', '.join(NAMED_POLICIES)}")
    attn = [layer.kind == "attention" for layer in profile.layers]
    if not any(attn):
        raise SplittuiError(f"{profile.model} has no layers of kind 'attention' to place")
    server_attn = name == "attention-server"
    return tuple(int(a != server_attn) for a in attn)


def choose_policy(profile: Profile, sc: Scenario, solver: str) -> tuple[tuple[int, ...], Result | None]:
    """Policy by solver or named placement; (policy, solver result or None)."""
    from ..solvers import solve

    if solver in NAMED_POLICIES:
        return named_policy(profile, solver), None
    res = solve(profile, sc, solver)
    if not res.feasible:
        raise SplittuiError(f"{solver}: no policy meets the deadline {sc.deadline_ms:g} ms on this machine "
                            f"(least achievable {res.min_latency_ms:.1f} ms); raise --deadline-ms")
    return res.policy, res

"""What the cost model predicts for a real run, and the composition check beside it.

``predict`` is ``splittui.evaluate`` on a profile plus a per-transfer overhead times the number of
transfers. For the headline the profile is the *planning* profile (planning.py) and the overhead is
the one ``splittui profile`` measured and wrote into it (``transfer.overhead_ms``, 0 when absent):
nothing from the run being predicted. The *composition check* (``in_chain_profile``) re-predicts
with the stage times re-measured inside the run's own processes and the overhead calibrated on the
live link: it shows that the parts add up to the whole, not that the plan predicts anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SplittuiError
from ..model import Breakdown, Profile, Result, Scenario

__all__ = ["in_chain_profile", "at_seq", "Prediction", "predict", "planned_overhead_ms", "named_policy",
           "NAMED_POLICIES", "choose_policy", "infeasible_message"]

NAMED_POLICIES = ("attention-server", "attention-client")


def at_seq(profile: Profile, seq: int) -> Profile | None:
    """A one-length copy of ``profile`` at ``seq`` (None when ``seq`` is not one of its lengths)."""
    from ..profiles import profile_from_doc, profile_to_doc

    if seq not in profile.seq_lens:
        return None
    k = profile.seq_lens.index(seq)
    doc = profile_to_doc(profile)
    doc["seq_lens"], doc["output_bytes"] = [seq], [doc["output_bytes"][k]]
    if isinstance(doc.get("dec_output_bytes"), list):   # every per-length array follows seq_lens
        doc["dec_output_bytes"] = [doc["dec_output_bytes"][k]]
    for layer in doc["layers"]:
        for key, value in layer.items():
            if isinstance(value, list):
                layer[key] = [value[k]]
    return profile_from_doc(doc, source=f"{profile.model} at seq {seq}", origin=profile.origin)


def planned_overhead_ms(profile: Profile) -> float:
    """The per-transfer overhead `splittui profile` measured for this machine (0 if the file has none)."""
    transfer = profile.extra.get("transfer")
    value = transfer.get("overhead_ms") if isinstance(transfer, dict) else None
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0


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
    for layer, c, s in zip(doc["layers"], client_ms, server_ms, strict=True):
        layer["client_ms"], layer["server_ms"] = [float(c)], [float(s)]
    doc["source"] = {**doc.get("source", {}), "times": "per-stage medians of in-order passes in the run's "
                     "client (1 thread) and server processes"}
    return profile_from_doc(doc, source=f"in-chain profile of {profile.model}", origin=profile.origin)


@dataclass(frozen=True, slots=True)
class Prediction:
    """``evaluate`` of one given policy (so latency and breakdown are always there) plus overhead."""

    result: Result          # splittui.evaluate on the profile
    overhead_ms: float      # cost of one transfer beyond the model (profiled, or calibrated live)
    transfers: int

    @property
    def model_ms(self) -> float:
        return float(self.result.latency_ms or 0.0)

    @property
    def breakdown(self) -> Breakdown:
        if self.result.breakdown is None:
            raise SplittuiError("a prediction of no policy has no breakdown")
        return self.result.breakdown

    @property
    def latency_ms(self) -> float:
        return self.model_ms + self.overhead_ms * self.transfers


def predict(profile: Profile, sc: Scenario, policy, overhead_ms: float = 0.0) -> Prediction:
    from ..solvers import evaluate

    res = evaluate(profile, sc, list(policy))
    return Prediction(result=res, overhead_ms=overhead_ms, transfers=int(res.switches or 0))


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
    if not res.feasible or res.policy is None:
        raise SplittuiError(infeasible_message(profile, sc, solver, res.min_latency_ms))
    return res.policy, res


def _no_split_helps(profile: Profile, least_ms: float, all_client: float) -> str:
    """Why no split beats all-client, when none does: the profile's server is no faster, and maybe why."""
    from ..profiler.busy import BUSY_CORES

    if least_ms < 0.999 * all_client:
        return ""
    others = profile.source.get("other_cpu_cores")
    busy = (f" (measured while other processes kept {others:.2f} cores busy: profile again on a quiet machine)"
            if isinstance(others, (int, float)) and others > BUSY_CORES else "")
    return f"; no split beats all-client: the profile's server is no faster than its client{busy}"


def infeasible_message(profile: Profile, sc: Scenario, solver: str, least_ms: float) -> str:
    """Why ``solver`` found nothing: the deadline and the least latency any policy reaches, both in ms
    and as a fraction of the planned all-client latency, so a user can pick a deadline that works."""
    from ..generation import request_costs
    from ..solvers.baselines import prefix_latencies

    all_client = float(prefix_latencies(request_costs(profile, sc))[-1])
    frac = (lambda ms: f" = {ms / all_client:.2f}x") if all_client > 0 else (lambda ms: "")
    # the smallest fraction (2 decimals, rounded up) that --deadline Fx accepts
    least_x = math.ceil(least_ms / all_client * 100 - 1e-9) / 100 if all_client > 0 else float("nan")
    if sc.deadline_ms < least_ms:
        hint = f"use --deadline-ms {math.ceil(least_ms)} or more" + (f" (--deadline {least_x:.2f}x)" if
                                                                         all_client > 0 else "")
        return (f"{solver}: no policy meets the deadline {sc.deadline_ms:.1f} ms{frac(sc.deadline_ms)} of the "
                f"planned all-client {all_client:.1f} ms; the least latency any policy reaches on the planning "
                f"profile is {least_ms:.1f} ms{frac(least_ms)}: {hint}{_no_split_helps(profile, least_ms, all_client)}")
    return (f"{solver}: its policy misses the deadline {sc.deadline_ms:.1f} ms{frac(sc.deadline_ms)} of the planned "
            f"all-client {all_client:.1f} ms, though some policy reaches {least_ms:.1f} ms{frac(least_ms)}; "
            "raise --deadline-ms")

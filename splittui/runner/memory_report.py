"""Each side's resident memory in `splittui run` beside the memory model's prediction (SPEC §10, issue 25).

Both processes build every stage (each checks its output against the unsplit model), so the build is
compared with the weights of the whole chain: the RSS growth of the build and the tensors' own bytes
beside the profile's ``weight_bytes``. The requests' peak above the built model (the peak is reset after
the unsplit reference runs) is compared with what the model says the side adds under the policy: its
layers' KV cache at s + N − 1 tokens and the largest activation live on it. Readings are Linux /proc's
(VmRSS, VmHWM); elsewhere they are None and the report says memory was not measured.
"""

from __future__ import annotations

import numpy as np

from ..memory import memory_rows, side_memory
from ..model import Profile, Scenario

__all__ = ["memory_doc", "print_memory"]

MB = 1e6


def _whole_weights(rows) -> float:
    shared = rows.tied[2] if rows.tied is not None else 0.0
    return float(rows.weights.sum()) - shared


def memory_doc(profile: Profile, sc: Scenario, policy, built: dict, peaks: dict) -> dict | None:
    """Per side: build (measured RSS growth, tensor bytes, predicted weights of the whole chain) and the
    requests' peak above the build (measured, predicted KV + activations of the side's layers); None when
    the profile has no per-layer memory (weight_bytes, kv_bytes) or nothing was read."""
    if not profile.has_server_mem or not built:
        return None
    rows = memory_rows(profile, sc.replace(client_mem_gb=None, server_mem_gb=None))
    if rows is None:
        return None
    sides = dict(zip(("client", "server"), side_memory(rows, np.asarray(policy, dtype=np.int8))))
    whole = _whole_weights(rows)
    out = {}
    for side in ("client", "server"):
        b = built.get(side) or {}
        before, after, peak = b.get("rss_before"), b.get("rss_built"), peaks.get(f"{side}_peak")
        sm = sides[side]
        out[side] = {"build_rss_bytes": None if before is None or after is None else after - before,
                     "param_bytes": b.get("param_bytes"), "predicted_weights_bytes": whole,
                     "peak_above_build_bytes": None if peak is None or after is None else peak - after,
                     "predicted_kv_act_bytes": sm.kv + sm.act, "predicted_side_bytes": sm.weights + sm.kv + sm.act}
        # the whole peak as the process holds it (every stage built, this side's KV and activations live):
        # the figure a memory limit is about, measured against the model's
        above = out[side]["peak_above_build_bytes"]
        build = out[side]["build_rss_bytes"]
        out[side]["peak_rss_bytes"] = None if above is None or build is None else build + above
        out[side]["predicted_peak_bytes"] = whole + sm.kv + sm.act
    return out


def _mb(v: float | None) -> str:
    return "—" if v is None else f"{v / MB:,.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}"


def print_memory(console, doc: dict | None) -> None:
    from rich.table import Table

    if doc is None:
        console.print("memory: not measured (the planning profile has no weight_bytes/kv_bytes, or this system "
                      "has no /proc)")
        return
    t = Table(show_header=True, header_style="bold", title="memory, MB (1e6 bytes): measured RSS beside predicted")
    for col in ("side", "build RSS", "tensors", "predicted weights", "build/pred", "peak above build",
                "predicted KV + act.", "peak RSS", "predicted peak", "peak/pred", "this side's share"):
        t.add_column(col, justify="left" if col == "side" else "right")
    for side, d in doc.items():
        t.add_row(side, _mb(d["build_rss_bytes"]), _mb(d["param_bytes"]), _mb(d["predicted_weights_bytes"]),
                  _ratio(d["build_rss_bytes"], d["predicted_weights_bytes"]), _mb(d["peak_above_build_bytes"]),
                  _mb(d["predicted_kv_act_bytes"]), _mb(d.get("peak_rss_bytes")), _mb(d.get("predicted_peak_bytes")),
                  _ratio(d.get("peak_rss_bytes"), d.get("predicted_peak_bytes")), _mb(d["predicted_side_bytes"]))
    console.print(t)
    console.print("both processes build every stage (to check outputs against the unsplit model), so the build is "
                  "the whole chain's weights; 'this side's share' is what the side would hold running only its "
                  "layers (weights + KV + activations, SPEC §10). The peak is the requests' (reset after the "
                  "reference run); 'peak RSS' is the build plus that peak, against the whole chain's weights plus this "
                  "side's KV and activations. RSS also counts the allocator's cached blocks and torch's buffers "
                  "(tens of MB the model does not count).")

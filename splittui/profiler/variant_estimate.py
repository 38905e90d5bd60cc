"""A variant profile estimated from a full-attention profile and a measured core-time ratio.

On a loaded machine a whole-chain profile is spoiled (other processes slow every stage by a factor
that changes by the minute), but the *ratio* of two attention cores timed back to back, round after
round, is not: both suffer the same load. So a variant profile is built as

- every stage but the attention cores: copied from the full profile (the same modules on the same
  shapes: a variant changes nothing else);
- each attention core: ``flops``, ``mem_bytes`` and the roofline ``server_ms`` from the variant core
  itself (analytic, as the profiler does), ``in_bytes`` unchanged (q, k, v), and ``client_ms`` = the
  full profile's measured core time x r(s), where r(s) is the median over interleaved rounds of
  (variant core time / full core time) at that length, on random q, k, v of the model's shape.

The result's ``source.kind`` is ``"estimate"`` and says all this, with the load average it ran under.
"""

from __future__ import annotations

import datetime as _dt
import os
import statistics
import time
from typing import Callable

import torch

from ..attention import Attention, variant_name
from ..profiles import profile_from_doc
from .counting import count_kernels
from .layers import AttnCore, split_heads
from .servers import Roofline, parse_server
from .variants import make_core

__all__ = ["estimate_variant", "core_ratio", "is_causal_core"]


def is_causal_core(model: str, layer_name: str) -> bool:
    """gpt2-like's cores and the transformer decoder's self-attention are causal; the rest are not."""
    return model == "gpt2-like" or (layer_name.startswith("dec") and ".self_attn." in layer_name)


def _qkv(heads: int, d: int, s: int) -> tuple:
    """Random q, k, v laid out as the zoo's QKV stage leaves them (a fused projection, chunked and
    split into heads: strided views), so the cores run the same kernels as in the chain."""
    g = torch.Generator().manual_seed(s)
    fused = torch.randn(1, s, 3 * d, generator=g)
    return tuple(split_heads(t, heads) for t in fused.chunk(3, dim=-1))


MIN_SAMPLE_S = 0.05  # a sample repeats the call until it lasts about this long (short lengths)
BUDGET_S = 20.0      # after the first `rounds`, more rounds while the pair has taken less than this
MAX_ROUNDS = 41


def _time(module, state, reps: int = 1) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        module(*state)
    return (time.perf_counter() - t0) / reps


@torch.no_grad()
def core_ratio(full: torch.nn.Module, variant: torch.nn.Module, state: tuple, *, rounds: int) -> tuple[float, list]:
    """Median of variant time / full time over interleaved rounds (at least `rounds`, more while
    within BUDGET_S, at most MAX_ROUNDS), timed back to back after a warm-up; each sample repeats
    the call until it lasts ~MIN_SAMPLE_S, so millisecond cores are not timer noise."""
    warm = max(_time(full, state), _time(variant, state), 1e-6)
    reps = max(1, min(1000, int(MIN_SAMPLE_S / warm)))
    ratios: list[float] = []
    start = time.perf_counter()
    for k in range(MAX_ROUNDS):
        if k >= rounds and time.perf_counter() - start > BUDGET_S:
            break
        pair = (full, variant) if k % 2 == 0 else (variant, full)  # alternate which goes first
        t = {id(m): _time(m, state, reps) for m in pair}
        ratios.append(t[id(variant)] / t[id(full)])
    return statistics.median(ratios), [round(r, 4) for r in ratios]


def estimate_variant(full_doc: dict, model: str, attention: Attention, *, heads: int, d: int, max_len: int,
                     rounds: int = 3, server: str = "rtx3090", progress: Callable[[str], None] | None = None,
                     ratios: dict | None = None) -> dict:
    """The variant's profile document from the full profile `full_doc` (see the module docstring).
    `ratios`: a previous document's ``core_ratios`` to reuse instead of measuring again."""
    srv = parse_server(server)
    if not isinstance(srv, Roofline):
        raise ValueError("estimate_variant needs a roofline server preset")
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        per_len = [_one_length(model, attention, s, heads, d, max_len, rounds, progress,
                               (ratios or {}).get(str(s)))
                   for s in full_doc["seq_lens"]]
    finally:
        torch.set_num_threads(old)
    doc = _document(full_doc, model, attention, per_len, srv, rounds)
    doc["source"].update(load_avg_1min=[round(load0, 2), round(os.getloadavg()[0], 2)],
                         wall_s=round(time.perf_counter() - t0, 1), cpus=os.cpu_count())
    profile_from_doc(doc, source=f"estimate of {doc['model']}")
    return doc


def _one_length(model, attention, s, heads, d, max_len, rounds, progress, known) -> dict:
    """Per causal flag: the measured (or `known`) ratio and the variant core's analytic numbers at length s."""
    state = _qkv(heads, d, s)
    out = {}
    for causal in (False, True):
        variant = make_core(attention, causal=causal, max_len=max_len, seed=1000).eval()
        key = "causal" if causal else "bidirectional"
        if known is not None and key in known:
            ratio, samples = known[key]["ratio"], known[key]["samples"]
        elif causal != (model == "gpt2-like") and model != "transformer":
            continue  # this model has no core of this kind
        else:
            ratio, samples = core_ratio(AttnCore(causal=causal).eval(), variant, state, rounds=rounds)
        own_weights = getattr(variant, "weight_bytes", None)
        out[causal] = {"ratio": ratio, "samples": samples, "flops": float(sum(variant.flop_parts(*state))),
                       "weights": own_weights(*state) if callable(own_weights) else 0,
                       "scratch": variant.scratch_bytes(*state), "kernels": count_kernels(variant, state)}
        if progress is not None:
            progress(f"{model} {attention.label} s={s} causal={causal}: ratio {ratio:.3f} ({samples})")
    return out


def _state_io(full_doc: dict, i: int) -> list[float]:
    """Bytes of the state entering and leaving layer i (the carry, e.g. the residual, included)."""
    layers = full_doc["layers"]
    after = layers[i + 1]["in_bytes"] if i + 1 < len(layers) else full_doc["output_bytes"]
    return [a + b for a, b in zip(layers[i]["in_bytes"], after, strict=True)]


def _document(full_doc, model, attention, per_len, srv, rounds) -> dict:
    layers = []
    for i, layer in enumerate(full_doc["layers"]):
        entry = {key: layer[key] for key in ("name", "kind", "flops", "client_ms", "server_ms", "in_bytes")}
        if "mem_bytes" in layer:
            entry["mem_bytes"] = layer["mem_bytes"]
        if layer["kind"] == "attention":
            causal = is_causal_core(model, layer["name"])
            rows = [p[causal] for p in per_len]
            io = _state_io(full_doc, i)
            entry.update(flops=[r["flops"] for r in rows],
                         server_ms=[round(srv.time_ms(r["flops"], io[k] + r["weights"] + 2 * r["scratch"],
                                                      r["kernels"]), 6) for k, r in enumerate(rows)],
                         mem_bytes=[float(io[k] + r["weights"] + r["scratch"]) for k, r in enumerate(rows)],
                         client_ms=[round(c * r["ratio"], 6) for c, r in zip(layer["client_ms"], rows, strict=True)])
        layers.append(entry)
    ratios = {str(s): {("causal" if c else "bidirectional"): {"ratio": v["ratio"], "samples": v["samples"]}
                       for c, v in p.items()} for s, p in zip(full_doc["seq_lens"], per_len, strict=True)}
    client = ("ESTIMATE: attention cores = the full profile's measured core time x the median ratio (variant "
              f"core / full core) over at least {rounds} interleaved rounds (more within {BUDGET_S:g} s; see "
              "core_ratios) on this CPU, 1 thread, random q, k, v of the model's shape; every other stage "
              "copied from the full profile (same modules, same shapes). "
              f"Full profile: {full_doc['source'].get('client', '')}")
    return {
        "schema": "splittui.profile/1", "model": variant_name(model, attention),
        "description": f"{full_doc.get('description', '')}; {attention.describe()} (estimate, see source)",
        "attention": attention.label,
        "source": {"kind": "estimate", "client": client, "server": srv.describe(),
                   "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   "tool": "benchmarks/variant_profiles.py", "from": f"profiles/{model}.json "
                   f"(created {full_doc['source'].get('created', '?')})"},
        "seq_lens": list(full_doc["seq_lens"]), "output_bytes": list(full_doc["output_bytes"]),
        "layers": layers, "core_ratios": ratios,
    }

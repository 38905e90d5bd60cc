"""An independent oracle for SPEC §8 (generation: a prefill, then decode steps), from a profile *document*.

Nothing here imports splittui (only the §3 oracle next to it, which imports nothing of splittui either).
It reads the JSON dict of a `splittui.profile/1` document with decode fields and a scenario dict, and
recomputes with plain Python loops

* the prefill chain at the prompt length `s` (§3, with `oracle.interp`'s quadratic rule), whose final
  transfer carries what the scenario's ``returns`` says,
* every decode step on its own, at each context ``c = s, s+1, …, s+N−2`` (N = ``gen_tokens`` output
  tokens: the prefill yields the first, then N − 1 decode steps, SPEC §8's counting): per layer
  ``dec_client_ms``, ``dec_server_ms``, ``dec_in_bytes``, ``dec_flops`` at c, linear between the two
  samples that bracket c (constant with one sample; an error outside the sampled range); each step
  pays the delay δ again at every switch, and its end-of-step return is the sampled token (4 bytes),
  the top-K (8·K bytes) or the logits (``dec_output_bytes`` at c),
* the composite chain: the per-layer costs summed over the phases, *step by step* (no arithmetic
  series),
* TTFT (the prefill's latency, the first token's return included), the decode latency (the sum of the
  N − 1 step latencies, each a §3 chain latency), TPOT = decode / (N − 1) (None without a step), the
  request latency = TTFT + decode, and the limit checks (deadline, TTFT ≤ Λ_ttft, TPOT ≤ Λ_tpot),
* the server memory of a policy: weights plus KV cache at s+N−1 tokens of the server-side layers (the
  per-token ``kv_bytes`` and ``weight_bytes`` read at the last context, s+N−2, or s without a step).

``returns`` = "logits" | "token" | "topk:K" | "auto" ("token" when the document has an "arch" key, i.e.
it was built from an LLM config, or when the request generates, N > 0; else "logits"). The reward of
a decode step is its ``dec_flops``
(objective flops) or ``dec_server_ms`` (server_ms); memory objectives (mem_bytes, server_mem) are held,
not summed over steps, so decode adds no reward to them.

Scenario dict keys: those of oracle.py (deadline_ms, up_mbps, down_mbps, delay_ms, seq_len, start, end,
objective) plus gen_tokens, ttft_ms, tpot_ms, returns (all optional), and ``legacy``: True for the
counting of the files made before SPEC §8 settled it (N decode steps at s..s+N−1, TPOT = decode / N, KV
at s+N, "auto" = token only for LLM documents), to check a tree of that time (benchmarks/mutation.sh).
"""

from __future__ import annotations

import itertools

import oracle as O

__all__ = ["TOKEN_BYTES", "lin", "n_steps", "returns_kind", "answer_bytes", "contexts", "last_context", "in_range",
           "prefill", "step", "steps", "composite", "latency", "ttft", "decode_latency", "times", "server_mem",
           "meets_limits", "limit_breaks", "best_reward_all_limits", "policies"]

TOKEN_BYTES = 4.0        # one int32 token id
TOPK_BYTES_EACH = 8.0    # an int32 id and an fp32 probability per kept token
_MBIT = 1e6


def lin(seq_lens: list[int], values: list[float], c: int) -> float:
    """Linear interpolation of samples at context c (exact at a sample; an error outside the range)."""
    if not seq_lens[0] <= c <= seq_lens[-1]:
        raise ValueError(f"context {c} outside {seq_lens[0]}..{seq_lens[-1]}")
    for i, k in enumerate(seq_lens):
        if k == c:
            return float(values[i])
    i = 0
    while seq_lens[i + 1] < c:
        i += 1
    k0, k1 = seq_lens[i], seq_lens[i + 1]
    v0, v1 = float(values[i]), float(values[i + 1])
    w = (c - k0) / (k1 - k0)
    return v0 * (1.0 - w) + v1 * w


def n_steps(sc: dict) -> int:
    """Decode steps of the request: N − 1 for N output tokens (none for N ≤ 1); legacy: N."""
    n = sc.get("gen_tokens", 0) or 0
    return n if sc.get("legacy") else max(n - 1, 0)


def returns_kind(doc: dict, sc: dict) -> tuple[str, int]:
    """("logits" | "token" | "topk", K) for the scenario's `returns` on this document."""
    r = sc.get("returns", "auto") or "auto"
    if r == "auto":
        generates = (sc.get("gen_tokens", 0) or 0) > 0 and not sc.get("legacy")
        r = "token" if "arch" in doc or generates else "logits"
    if r.startswith("topk:"):
        return "topk", int(r.split(":", 1)[1])
    assert r in ("logits", "token"), r
    return r, 0


def answer_bytes(doc: dict, sc: dict, logits_bytes: float) -> float:
    """Bytes of an answer's final transfer (the prefill's or a decode step's)."""
    kind, k = returns_kind(doc, sc)
    if kind == "token":
        return TOKEN_BYTES
    if kind == "topk":
        return TOPK_BYTES_EACH * k
    return logits_bytes


def contexts(sc: dict) -> list[int]:
    """The decode steps' contexts: s, s+1, …, s+N−2 (none for N ≤ 1)."""
    return [sc["seq_len"] + t for t in range(n_steps(sc))]


def last_context(sc: dict) -> int:
    """The largest context the request reaches: its last step's, or s without a step."""
    return sc["seq_len"] + max(n_steps(sc), 1) - 1


def in_range(doc: dict, sc: dict) -> bool:
    """The prompt and every context (and the memory's last context) lie in the sampled range."""
    lens = doc["seq_lens"]
    return lens[0] <= sc["seq_len"] and last_context(sc) <= lens[-1]


def _links(sc: dict):
    delay = float(sc["delay_ms"])
    up_mbps = float(sc["up_mbps"])
    down_mbps = float(sc["down_mbps"] if sc.get("down_mbps") is not None else sc["up_mbps"])

    def up(nbytes: float) -> float:          # ms = δ + bits / (bits per ms)
        return delay + nbytes * 8.0 / (up_mbps * _MBIT / 1000.0)

    def down(nbytes: float) -> float:
        return delay + nbytes * 8.0 / (down_mbps * _MBIT / 1000.0)

    return up, down


def server_mem(doc: dict, sc: dict) -> list[float]:
    """Per layer: weight_bytes + kv_bytes · (s+N−1) tokens (the last token is never fed back), both read
    at the last context."""
    lens, last = doc["seq_lens"], last_context(sc)
    tokens = sc["seq_len"] + n_steps(sc)
    return [lin(lens, layer["weight_bytes"], last) + lin(lens, layer["kv_bytes"], last) * tokens
            for layer in doc["layers"]]


def prefill(doc: dict, sc: dict) -> dict:
    """The prefill chain at s, as oracle.layer_costs lays it out (reward by the objective)."""
    lens, s = doc["seq_lens"], sc["seq_len"]
    up, down = _links(sc)
    k: dict = {f: [] for f in ("client_ms", "server_ms", "up_ms", "down_ms", "reward")}
    obj = sc["objective"]
    mem = server_mem(doc, sc) if obj == "server_mem" else None
    for i, layer in enumerate(doc["layers"]):
        k["client_ms"].append(O.interp(lens, layer["client_ms"], s))
        k["server_ms"].append(O.interp(lens, layer["server_ms"], s))
        nbytes = O.interp(lens, layer["in_bytes"], s)
        k["up_ms"].append(up(nbytes))
        k["down_ms"].append(down(nbytes))
        k["reward"].append(mem[i] if mem is not None else O.interp(lens, layer[obj], s))
    out = answer_bytes(doc, sc, O.interp(lens, doc["output_bytes"], s))
    k["up_out_ms"], k["down_out_ms"] = up(out), down(out)
    k["start_client"], k["end_client"] = sc["start"] == "client", sc["end"] == "client"
    return k


def step(doc: dict, sc: dict, c: int) -> dict:
    """One decode step at context c (the same layout): its own transfers, δ included, and its return."""
    lens = doc["seq_lens"]
    up, down = _links(sc)
    obj = sc["objective"]
    k: dict = {f: [] for f in ("client_ms", "server_ms", "up_ms", "down_ms", "reward")}
    for layer in doc["layers"]:
        srv = lin(lens, layer["dec_server_ms"], c)
        k["client_ms"].append(lin(lens, layer["dec_client_ms"], c))
        k["server_ms"].append(srv)
        nbytes = lin(lens, layer["dec_in_bytes"], c)
        k["up_ms"].append(up(nbytes))
        k["down_ms"].append(down(nbytes))
        k["reward"].append(lin(lens, layer["dec_flops"], c) if obj == "flops" else srv if obj == "server_ms" else 0.0)
    out = answer_bytes(doc, sc, lin(lens, doc["dec_output_bytes"], c))
    k["up_out_ms"], k["down_out_ms"] = up(out), down(out)
    k["start_client"], k["end_client"] = sc["start"] == "client", sc["end"] == "client"
    return k


def steps(doc: dict, sc: dict) -> list[dict]:
    return [step(doc, sc, c) for c in contexts(sc)]


def _add(a: dict, b: dict) -> dict:
    out = dict(a)
    for f in ("client_ms", "server_ms", "up_ms", "down_ms", "reward"):
        out[f] = [x + y for x, y in zip(a[f], b[f], strict=True)]
    out["up_out_ms"] = a["up_out_ms"] + b["up_out_ms"]
    out["down_out_ms"] = a["down_out_ms"] + b["down_out_ms"]
    return out


def decode_total(doc: dict, sc: dict, step_list: list[dict] | None = None) -> dict | None:
    """The decode steps summed one by one, per layer (None without a step)."""
    total = None
    for k in steps(doc, sc) if step_list is None else step_list:
        total = k if total is None else _add(total, k)
    return total


def composite(doc: dict, sc: dict, step_list: list[dict] | None = None) -> dict:
    """The request as one chain: prefill plus every step, summed per layer (SPEC §8)."""
    total = prefill(doc, sc)
    for k in steps(doc, sc) if step_list is None else step_list:
        total = _add(total, k)
    return total


def latency(k: dict, x) -> float:
    return O.latency(k, x)


def ttft(doc: dict, sc: dict, x) -> float:
    return O.latency(prefill(doc, sc), x)


def decode_latency(step_list: list[dict], x) -> float:
    """Σ over the steps of each step's own §3 latency (not the latency of a summed chain)."""
    total = 0.0
    for k in step_list:
        total += O.latency(k, x)
    return total


def times(doc: dict, sc: dict, x, step_list: list[dict] | None = None) -> dict:
    """ttft, decode, tpot (None without a step), latency (= ttft + decode) and server_mem of policy x."""
    n = n_steps(sc)
    st = steps(doc, sc) if step_list is None else step_list
    first = ttft(doc, sc, x)
    dec = decode_latency(st, x)
    mem = None
    if all("weight_bytes" in layer and "kv_bytes" in layer for layer in doc["layers"]):
        mem = sum(m for m, v in zip(server_mem(doc, sc), x, strict=True) if int(v) == 0)
    return {"ttft": first, "decode": dec, "tpot": dec / n if n else None, "latency": first + dec,
            "server_mem": mem}


def limit_breaks(t: dict, sc: dict) -> set[str]:
    """Which limits the times `t` break: a subset of {"deadline", "ttft", "tpot"}."""
    out = set()
    if not O.meets(t["latency"], sc["deadline_ms"]):
        out.add("deadline")
    if sc.get("ttft_ms") is not None and not O.meets(t["ttft"], sc["ttft_ms"]):
        out.add("ttft")
    if sc.get("tpot_ms") is not None and t["tpot"] is not None and not O.meets(t["tpot"], sc["tpot_ms"]):
        out.add("tpot")
    return out


def meets_limits(t: dict, sc: dict) -> bool:
    return not limit_breaks(t, sc)


def policies(L: int):
    return itertools.product((0, 1), repeat=L)


def best_reward_all_limits(k: dict, sc: dict, table: dict) -> float | None:
    """The largest client reward on the composite chain `k` of a policy meeting every limit; `table` maps
    each policy to its times (see `times`). None if no policy does."""
    best = None
    for x, t in table.items():
        if meets_limits(t, sc):
            r = sum(rw for rw, v in zip(k["reward"], x, strict=True) if v == 1)
            best = r if best is None else max(best, r)
    return best

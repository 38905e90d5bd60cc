"""An independent oracle for SPEC §9 (decoder-only LLMs from a Hugging Face config, and the roofline).

Nothing here imports splittui. From a decoded ``config.json`` (a plain dict) it recomputes with plain
arithmetic, matrix by matrix as the Hugging Face modules hold them:

* the architecture numbers (d, L, h, h_kv, head_dim e, d_ff, V, biases, norms, tied embeddings) with
  each family's defaults (llama, mistral, qwen2, phi3, gemma, gemma2, gpt2),
* the parameter count (tied matrix once), which must equal the published totals,
* every stage of the chain at a prefill length s or a decode step at context c: matrix-product FLOPs
  (SPEC §9: q, o ``2·s·d·d_q``; k, v ``2·s·d·d_kv``; attention core ``2·2·s·ctx·d_q``, the full score
  matrix; MLP ``2·k·s·d·d_ff``, k = 3 gated or 2; LM head ``2·d·V``, last position only),
  element-wise FLOPs, the bytes of the state entering it, weights held and read, KV bytes per token
  (``2·d_kv·bytes``) and KV read by a decode step,
* the roofline time ``max(flops/(peak·eff_c), bytes/(bw·eff_m)) + kernels·overhead`` of a stage on a
  device given as a dict of its numbers (fp32 peak for fp32 weights, the 16-bit peak otherwise),
* hence every per-layer field of the analytic profile document (``flops``, ``client_ms``, ``in_bytes``,
  ``mem_bytes``, ``dec_*``, ``weight_bytes``, ``kv_bytes``; ``output_bytes`` = V fp32 logits).

Conventions beyond the SPEC text, restated from splittui.hf_config's docstring (the project's stated
model, not read from its code): activations and KV cache are 16-bit (32-bit for fp32); int8 / int4 are
weight-only with one fp16 scale per 32 weights (Q8_0 / Q4_0: 8.5 and 4.5 bits), biases and norm weights
stay in the activation dtype;
element-wise work is 5 FLOP per element for an RMSNorm with its residual add (9 for a LayerNorm), 5
per attention score (softmax and scale), 2 per query element for RoPE (none with learned positions),
5 (gated) or 4 per MLP activation element, 1 per bias element, 1 per embedding element for a position
add or Gemma's √d scale; the embedding reads only the rows of the tokens it looks up (twice that with
learned positions); the bytes a stage moves are its input state, its output state (the next stage's
input), the weights read and the KV read; kernels: 3 for separate q/k/v (1 fused), 3 for the attention
core, 2 for separate gate/up (1 fused or plain), 1 otherwise.
"""

from __future__ import annotations

__all__ = ["arch", "params", "dtype_bytes", "stages", "roofline_ms", "layer_fields", "LOGIT_BYTES"]

LOGIT_BYTES = 4
_GROUP = 32   # llama.cpp Q8_0 / Q4_0 blocks: 32 weights and one fp16 scale = 8.5 and 4.5 bits per weight


def arch(cfg: dict) -> dict:
    """The numbers of a config, with the family's defaults."""
    fam = cfg["model_type"]
    if fam == "gpt2":
        d, h = cfg["n_embd"], cfg["n_head"]
        n_pos = cfg.get("n_positions") or 1024
        return {"family": fam, "d": d, "L": cfg["n_layer"], "h": h, "h_kv": h, "e": cfg.get("head_dim") or d // h,
                "d_ff": cfg.get("n_inner") or 4 * d, "V": cfg["vocab_size"], "gated": False, "q_bias": True,
                "o_bias": True, "mlp_bias": True, "layer_norm": True, "norms": 2, "pos": n_pos,
                "tied": cfg.get("tie_word_embeddings", True) is not False, "fused_qkv": True, "fused_up": True}
    d, h = cfg["hidden_size"], cfg["num_attention_heads"]
    h_kv = cfg.get("num_key_value_heads") or h
    e = cfg.get("head_dim") or d // h
    attn_bias = cfg.get("attention_bias")
    attn_bias = (fam == "qwen2") if attn_bias is None else attn_bias
    tied = cfg.get("tie_word_embeddings")
    tied = fam in ("gemma", "gemma2") if tied is None else tied
    return {"family": fam, "d": d, "L": cfg["num_hidden_layers"], "h": h, "h_kv": h_kv, "e": e,
            "d_ff": cfg["intermediate_size"], "V": cfg["vocab_size"], "gated": True, "q_bias": attn_bias,
            "o_bias": attn_bias and fam != "qwen2",   # Qwen2's o_proj has no bias
            "mlp_bias": bool(cfg.get("mlp_bias") or False), "layer_norm": False,
            "norms": 4 if fam == "gemma2" else 2, "pos": 0, "tied": tied, "fused_qkv": fam == "phi3",
            "fused_up": fam == "phi3"}


def _norm_w(a: dict) -> int:
    return 2 * a["d"] if a["layer_norm"] else a["d"]   # LayerNorm: weight and bias; RMSNorm: weight


def params(a: dict) -> int:
    """Total parameters, the tied matrix once."""
    d, dq, dkv, ff, V = a["d"], a["h"] * a["e"], a["h_kv"] * a["e"], a["d_ff"], a["V"]
    block = 0
    for n_in, n_out, bias in ((d, dq, a["q_bias"]), (d, dkv, a["q_bias"]), (d, dkv, a["q_bias"]),
                              (dq, d, a["o_bias"])):
        block += n_in * n_out + (n_out if bias else 0)
    for _ in range(2 if a["gated"] else 1):                         # gate and up, or the one up
        block += d * ff + (ff if a["mlp_bias"] else 0)
    block += ff * d + (d if a["mlp_bias"] else 0)                  # down
    block += a["norms"] * _norm_w(a)
    total = V * d + a["pos"] * d + a["L"] * block + _norm_w(a)     # embeddings, blocks, final norm
    return total + (0 if a["tied"] else V * d)


def dtype_bytes(dtype: str) -> tuple[float, int]:
    """(bytes per matmul weight, bytes per activation / bias / norm weight / KV element)."""
    return {"fp32": (4.0, 4), "fp16": (2.0, 2), "bf16": (2.0, 2), "int8": (1.0 + 2.0 / _GROUP, 2),
            "int4": (0.5 + 2.0 / _GROUP, 2), "q4_k_m": (4.85 / 8, 2)}[dtype]   # Q4_K_M: 4.85 bits per weight


def _st(name, kind, mm, elem, in_b, held, read, kv_tok, kv_read, kernels) -> dict:
    return {"name": name, "kind": kind, "mm": float(mm), "elem": float(elem), "in_bytes": float(in_b),
            "held": float(held), "read": float(read), "kv_tok": float(kv_tok), "kv_read": float(kv_read),
            "kernels": kernels}


def stages(a: dict, s: int, ctx: int, dtype: str, decode: bool) -> list[dict]:
    """Every stage, in chain order, over `s` new tokens attending to `ctx` keys (prefill: ctx = s;
    a decode step: s = 1, ctx = c)."""
    wb, ab = dtype_bytes(dtype)
    d, dq, dkv, ff, V, h = a["d"], a["h"] * a["e"], a["h_kv"] * a["e"], a["d_ff"], a["V"], a["h"]
    resid = s * d * ab
    norm_elem = (9 if a["layer_norm"] else 5) * s * d
    norm_w = _norm_w(a) * ab

    def linear(name, n_in, n_out, bias, in_b, kernels=1):
        w = n_in * n_out * wb + (n_out * ab if bias else 0)
        return _st(name, "linear", 2 * s * n_in * n_out, s * n_out if bias else 0, in_b, w, w, 0, 0, kernels)

    def norm(name, in_b):
        return _st(name, "norm", 0, norm_elem, in_b, norm_w, norm_w, 0, 0, 1)

    scaled = a["pos"] or a["family"] in ("gemma", "gemma2")
    embed = _st("embed", "embedding", 0, s * d if scaled else 0, 4 * s, (V + a["pos"]) * d * wb,
                min(s, V) * d * wb * (2 if a["pos"] else 1), 0, 0, 1)
    kv_tok = 2 * dkv * ab
    rope = 0 if a["pos"] else 2 * s * dq
    up_n = 2 if a["gated"] else 1
    block = [norm("ln1", resid),
             linear("attn.qkv", d, dq + 2 * dkv, a["q_bias"], 2 * resid, 1 if a["fused_qkv"] else 3),
             _st("attn.core", "attention", 4 * s * ctx * dq, 5 * h * s * ctx + rope, s * (d + dq + 2 * dkv) * ab,
                 0, 0, kv_tok, kv_tok * ctx if decode else 0, 3),
             linear("attn.o", dq, d, a["o_bias"], s * (d + dq) * ab)]
    if a["norms"] == 4:
        block.append(norm("attn.post_norm", 2 * resid))
    block += [norm("ln2", resid),
              linear("mlp.gate_up" if a["gated"] else "mlp.up", d, up_n * ff, a["mlp_bias"], 2 * resid,
                     1 if a["fused_up"] or not a["gated"] else 2),
              _st("mlp.act", "activation", 0, (5 if a["gated"] else 4) * s * ff, s * (d + up_n * ff) * ab,
                  0, 0, 0, 0, 1),
              linear("mlp.down", ff, d, a["mlp_bias"], s * (d + ff) * ab)]
    if a["norms"] == 4:
        block.append(norm("mlp.post_norm", 2 * resid))
    out = [embed]
    for i in range(a["L"]):
        out += [{**x, "name": f"h{i}.{x['name']}"} for x in block]
    head_w = V * d * wb
    out += [norm("ln_f", resid), _st("lm_head", "linear", 2 * d * V, 0, d * ab, head_w, head_w, 0, 0, 1)]
    return out


def roofline_ms(flops: float, nbytes: float, kernels: int, dev: dict, fp32: bool) -> float:
    """SPEC §9: the larger of the compute and the memory time, plus the kernels' launch overhead."""
    peak = (dev["fp32_tflops"] if fp32 else dev["fp16_tflops"]) * 1e12 * dev["eff_compute"]
    t_compute = flops / peak
    t_memory = nbytes / (dev["mem_gbps"] * 1e9 * dev["eff_mem"])
    return max(t_compute, t_memory) * 1e3 + kernels * dev["overhead_us"] * 1e-3


def _outs(chain: list[dict], a: dict, s: int, ab: int) -> list[float]:
    """The state leaving each stage = the next stage's input; the LM head's: V fp32 logits."""
    outs = [chain[i + 1]["in_bytes"] for i in range(len(chain) - 1)]
    return outs + [float(a["V"] * LOGIT_BYTES)]


def layer_fields(cfg: dict, dtype: str, client: dict, server: dict, lens: list[int]) -> dict:
    """The analytic profile's per-layer fields and output bytes: {"layers": [{field: [per length]}], ...}."""
    a = arch(cfg)
    ab = dtype_bytes(dtype)[1]
    fp32 = dtype == "fp32"
    pre = [stages(a, k, k, dtype, False) for k in lens]
    dec = [stages(a, 1, k, dtype, True) for k in lens]
    layers = []
    for j in range(len(pre[0])):
        f: dict = {"name": pre[0][j]["name"], "kind": pre[0][j]["kind"]}
        for key in ("flops", "client_ms", "server_ms", "in_bytes", "mem_bytes", "dec_flops", "dec_client_ms",
                    "dec_server_ms", "dec_in_bytes", "weight_bytes", "kv_bytes"):
            f[key] = []
        for i, k in enumerate(lens):
            p, q = pre[i][j], dec[i][j]
            p_out, q_out = _outs(pre[i], a, k, ab)[j], _outs(dec[i], a, 1, ab)[j]
            flops, moved = p["mm"] + p["elem"], p["in_bytes"] + p_out + p["read"] + p["kv_read"]
            dflops, dmoved = q["mm"] + q["elem"], q["in_bytes"] + q_out + q["read"] + q["kv_read"]
            f["flops"].append(flops)
            f["client_ms"].append(roofline_ms(flops, moved, p["kernels"], client, fp32))
            f["server_ms"].append(roofline_ms(flops, moved, p["kernels"], server, fp32))
            f["in_bytes"].append(p["in_bytes"])
            f["mem_bytes"].append(p["held"] + p["in_bytes"] + p_out + p["kv_tok"] * k)
            f["dec_flops"].append(dflops)
            f["dec_client_ms"].append(roofline_ms(dflops, dmoved, q["kernels"], client, fp32))
            f["dec_server_ms"].append(roofline_ms(dflops, dmoved, q["kernels"], server, fp32))
            f["dec_in_bytes"].append(q["in_bytes"])
            f["weight_bytes"].append(p["held"])
            f["kv_bytes"].append(p["kv_tok"])
        layers.append(f)
    logits = [float(a["V"] * LOGIT_BYTES)] * len(lens)
    return {"layers": layers, "output_bytes": logits, "dec_output_bytes": logits, "params": params(a)}

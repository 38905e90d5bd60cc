"""`splittui calibrate --measure`: a few torch timings of a small llama-like model on this CPU.

A random-weight model (d 512, 2 blocks, GQA, SwiGLU, vocab 32,000; built here, nothing downloaded) runs
prefills of 32, 128 and 512 tokens and decode steps at contexts 128 and 512 in fp32; each median time
becomes a :class:`~splittui.calibration.Measurement` of ``this-cpu`` on ``torch``, so the measured
``this-cpu`` roofline grows into a calibrated device (``--runtime torch``).
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from ..calibration import Measurement
from ..hf_config import Arch, arch_from_dict

__all__ = ["measure_points", "ARCH"]

_CONFIG = {"model_type": "llama", "hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 2,
           "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 32000,
           "max_position_embeddings": 2048, "tie_word_embeddings": False}
ARCH: Arch = arch_from_dict(_CONFIG, name="calib-llama-tiny")


def measure_points(repeats: int = 7) -> tuple[list[Measurement], Arch]:
    import torch

    torch.manual_seed(0)
    run = _model(torch)
    out = []
    date = time.strftime("%Y-%m-%d")
    src = f"measured on this machine by `splittui calibrate --measure` (torch {torch.__version__}, fp32)"
    with torch.inference_mode():
        for s in (32, 128, 512):
            ms = _median(functools.partial(run, s, 0), repeats)
            out.append(Measurement("this-cpu", "torch", ARCH.name, "f32", "prefill", s, 0, ms, False, src, date))
        for c in (128, 512):
            ms = _median(functools.partial(run, 1, c), repeats)
            out.append(Measurement("this-cpu", "torch", ARCH.name, "f32", "decode", 1, c, ms, False, src, date))
    return out, ARCH


def _median(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _model(torch: Any) -> Callable[[int, int], Any]:
    """A forward step: embed, blocks (norm, qkv, attention over s new + c cached keys, o, norm, SwiGLU), head."""
    f = torch.nn.functional
    a = ARCH
    w = {"emb": torch.randn(a.vocab, a.d) * 0.02, "head": torch.randn(a.vocab, a.d) * 0.02}
    blocks = [{"qkv": torch.randn(a.d_q + 2 * a.d_kv, a.d) * 0.02, "o": torch.randn(a.d, a.d_q) * 0.02,
               "gu": torch.randn(2 * a.d_ff, a.d) * 0.02, "down": torch.randn(a.d, a.d_ff) * 0.02}
              for _ in range(a.n_layers)]

    def run(s: int, ctx: int) -> Any:
        x = w["emb"][torch.randint(0, a.vocab, (s,))]
        for b in blocks:
            h = f.rms_norm(x, (a.d,))
            q, k, v = f.linear(h, b["qkv"]).split([a.d_q, a.d_kv, a.d_kv], dim=-1)
            q = q.view(s, a.h, a.e).transpose(0, 1)
            k = torch.cat([torch.zeros(ctx, a.d_kv), k]).view(ctx + s, a.h_kv, a.e).transpose(0, 1)
            v = torch.cat([torch.zeros(ctx, a.d_kv), v]).view(ctx + s, a.h_kv, a.e).transpose(0, 1)
            k, v = k.repeat_interleave(a.h // a.h_kv, 0), v.repeat_interleave(a.h // a.h_kv, 0)
            att = f.scaled_dot_product_attention(q, k, v, is_causal=ctx == 0 and s > 1)
            x = x + f.linear(att.transpose(0, 1).reshape(s, a.d_q), b["o"])
            g, u = f.linear(f.rms_norm(x, (a.d,)), b["gu"]).chunk(2, dim=-1)
            x = x + f.linear(f.silu(g) * u, b["down"])
        return f.linear(f.rms_norm(x[-1:], (a.d,)), w["head"])

    return run

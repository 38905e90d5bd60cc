"""The batched decode step of `splittui.sim.server` against torch on this CPU (issue 27, item 5).

A small llama (random weights, Hugging Face `LlamaForCausalLM`, fp32) decodes one token for each of
B sequences at once, each with a KV cache of `--context` tokens: the measured step time (median of
`--repeats`) per batch B beside the model's `ServerModel.step_ms` on the same config, whose device is
this CPU *measured with the same torch and threads* (a matmul for FLOP/s, a copy for GB/s, a tiny op
for the per-kernel overhead), so the comparison tests the batching shape, not a preset.

    .venv/bin/python benchmarks/bench_batched_step.py [--batches 1 2 4 8 16] [--context 256] [--threads 1]

Columns: B; measured ms (the fastest of the repeats, the batches taking turns; then the median);
model ms; model / measured; the model with this CPU's
compute and memory rates scaled by the two factors that fit the measurements best (worst relative
error over B), and its ratio; the speed-up of one token per
sequence against B = 1 (tokens/s at B over tokens/s at 1), measured and modelled.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from splittui.devices import Device
from splittui.llm import profile_for
from splittui.model import Scenario
from splittui.sim.server import ServerModel, client_class, server_model

CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 512,
          "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 1536,
          "vocab_size": 8192, "tie_word_embeddings": False, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
          "hidden_act": "silu", "torch_dtype": "float32"}


def _best_ms(fn, repeats: int) -> float:
    """The fastest of `repeats` calls, ms (after one warm-up): the least disturbed on a shared machine."""
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


def this_cpu_torch(repeats: int) -> Device:
    """This CPU as torch sees it at the current thread count: dense fp32 rate, copy rate, op overhead."""
    n = 1024
    a = torch.randn(n, n)
    mm = _best_ms(lambda: a @ a, repeats)
    src = torch.ones(32 * 2 ** 20 // 4)
    dst = torch.empty_like(src)
    cp = _best_ms(lambda: dst.copy_(src), repeats)
    tiny = torch.ones(8)
    ov = _best_ms(lambda: [tiny.add_(0.0) for _ in range(1000)], repeats)   # 1000 ops: us per op
    tflops = 2 * n ** 3 / (mm * 1e-3) / 1e12
    gbps = 2 * src.numel() * 4 / (cp * 1e-3) / 1e9
    return Device("bench-cpu", "server", "this CPU (torch)", tflops, tflops, gbps,
                  f"measured by bench_batched_step: {tflops * 1e3:.1f} GFLOP/s, {gbps:.1f} GB/s, "
                  f"{ov:.1f} us/op", eff_compute=1.0, eff_mem=1.0, overhead_us=ov, measured=True)


def _hf_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(**{k: v for k, v in CONFIG.items() if k not in ("model_type", "architectures", "torch_dtype")})
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).eval()


def measured_steps(model, batches: list[int], context: int, repeats: int) -> dict[int, tuple[float, float]]:
    """Per batch B: (fastest, median) ms of one decode step of B sequences, each over a KV cache of
    `context` tokens. The batches take turns, repeat by repeat, so a burst of load from another process
    falls on all of them alike; the fastest of the repeats is the least disturbed."""
    from transformers import DynamicCache

    steps = {}
    with torch.inference_mode():
        for b in batches:
            cache = DynamicCache()
            model(input_ids=torch.randint(0, CONFIG["vocab_size"], (b, context)), past_key_values=cache, use_cache=True)
            token = torch.randint(0, CONFIG["vocab_size"], (b, 1))

            def step(cache=cache, token=token) -> None:
                model(input_ids=token, past_key_values=cache, use_cache=True)
                cache.crop(-1)          # drop the token just added: the same context at every repeat

            step()
            steps[b] = step
        times: dict[int, list[float]] = {b: [] for b in batches}
        for _ in range(repeats):
            for b in batches:
                t0 = time.perf_counter()
                steps[b]()
                times[b].append((time.perf_counter() - t0) * 1e3)
    return {b: (min(v), statistics.median(v)) for b, v in times.items()}


def server_for(dev: Device, context: int) -> ServerModel:
    prof = profile_for(CONFIG, dtype="fp32", client_device=dev, server_device=dev,
                       seq_lens=(context, context + 1, context + 2))
    sc = Scenario(deadline_ms=1e9, seq_len=context, gen_tokens=2)
    cls = client_class(prof, sc, (0,) * prof.n_layers, name="server")
    return server_model(prof, sc, dev, [cls])


def fitted(srv: ServerModel, rows: list[tuple[int, float, float, float]], context: int) -> tuple[float, float]:
    """Slow-down factors (compute, memory) of this CPU's roofline that best fit the measured steps (least
    worst relative error over B): how far skinny GEMMs and cache copies fall below the micro-benchmarks."""
    best = (math.inf, 1.0, 1.0)
    for fc in np.geomspace(0.5, 16, 41):
        for fm in np.geomspace(0.5, 16, 41):
            s = replace(srv, ms_per_flop=srv.ms_per_flop * fc, ms_per_byte=srv.ms_per_byte * fm)
            err = max(abs(s.step_ms([float(b)], [float(b * context)]) / ms - 1) for b, ms, _, _ in rows)
            best = min(best, (err, float(fc), float(fm)))
    return best[1], best[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = this_cpu_torch(args.repeats)
    print(f"device: {dev.source}; torch {torch.__version__}, {args.threads} thread(s)")
    print(f"model: llama d={CONFIG['hidden_size']} L={CONFIG['num_hidden_layers']} h={CONFIG['num_attention_heads']} "
          f"h_kv={CONFIG['num_key_value_heads']} d_ff={CONFIG['intermediate_size']} V={CONFIG['vocab_size']} fp32, "
          f"context {args.context} per sequence")
    model = _hf_model()
    srv = server_for(dev, args.context)
    got = measured_steps(model, args.batches, args.context, args.repeats)
    rows = [(b, got[b][0], got[b][1], srv.step_ms([float(b)], [float(b * args.context)])) for b in args.batches]
    fc, fm = fitted(srv, rows, args.context)
    fit = replace(srv, ms_per_flop=srv.ms_per_flop * fc, ms_per_byte=srv.ms_per_byte * fm)
    m1, p1 = rows[0][1], rows[0][3]
    print(f"fitted: compute x{fc:.2f} slower, memory x{fm:.2f} slower than the micro-benchmarks")
    print(f"{'B':>3} {'measured ms':>12} {'median':>7} {'model ms':>9} {'model/meas':>10} {'fitted ms':>10} "
          f"{'fit/meas':>8} {'speed-up meas':>13} {'speed-up model':>14}")
    for b, ms, med, pred in rows:
        f = fit.step_ms([float(b)], [float(b * args.context)])
        print(f"{b:>3} {ms:>12.3f} {med:>7.3f} {pred:>9.3f} {pred / ms:>10.2f} {f:>10.3f} {f / ms:>8.2f} "
              f"{b * m1 / ms:>13.2f} {b * p1 / pred:>14.2f}")


if __name__ == "__main__":
    main()

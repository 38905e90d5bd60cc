"""The capacity model's batched decode step (`splittui.sim.server`, issue 27) against a real GPU.

Llama-3.1-8B (the shipped config, random bf16 weights built on the device: nothing is downloaded) decodes one
token for each of B sequences at once, each over a KV cache of `--context` tokens, with Hugging Face's eager
`LlamaForCausalLM`. Per B: the step's wall time (median of `--repeats`, CUDA synchronised), its GPU-busy time
(the sum of the kernels' durations in one profiled step, torch.profiler, run last because the profiler slows
later calls), and `ServerModel.step_ms` for the same config on a device defined from the H200's datasheet
(no fit to these measurements: the prediction never sees them). The claim under test is the batching shape:
weights read once per step, FLOPs and KV reads growing with B, so tokens/s grows almost linearly with B
until compute or KV traffic dominate.

    python benchmarks/gpu_batched_step.py --out DIR [--batches 1 2 4 8 16 32 64] [--context 1024]
    python benchmarks/gpu_batched_step.py --tiny --device cpu      # a smoke run of the script itself (CPU)

Writes DIR/gpu_batched_step.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from splittui.devices import PRESETS, Device
from splittui.llm import profile_for
from splittui.model import Scenario
from splittui.sim.server import ServerModel, client_class, server_model

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 4096,
        "tie_word_embeddings": False, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096, "hidden_act": "silu"}
# NVIDIA H200 datasheet: FP16/BF16 Tensor 1,979 TFLOPS with sparsity (989 dense), FP32 67 TFLOPS, HBM3e 4.8 TB/s,
# 141 GB. Efficiencies and overhead as the h100-sxm preset's.
H200 = Device("h200", "server", "NVIDIA H200 SXM 141GB", 67.0, 989.0, 4800.0,
              "NVIDIA H200 Tensor Core GPU datasheet: BF16 989 TFLOPS dense, HBM3e 4.8 TB/s, 141 GB",
              mem_gb=141, eff_compute=PRESETS["h100-sxm"].eff_compute, eff_mem=PRESETS["h100-sxm"].eff_mem,
              overhead_us=PRESETS["h100-sxm"].overhead_us)


def _config(tiny: bool) -> dict:
    if tiny:
        return dict(TINY)
    return json.loads((ROOT / "profiles" / "configs" / "llama-3.1-8b.json").read_text(encoding="utf-8"))


def _model(cfg: dict, device: str, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    keep = {k: v for k, v in cfg.items() if not k.startswith("_") and k not in ("model_type", "architectures")}
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**keep)).to(dtype)
    return model.eval()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def steps_for(model, cfg: dict, batches: list[int], context: int, device: str):
    """Per B: a function running one decode step of B sequences over `context` cached tokens (the token
    just added is cropped after each call, so every repeat sees the same context)."""
    from transformers import DynamicCache

    out = {}
    with torch.inference_mode():
        for b in batches:
            cache = DynamicCache()
            ids = torch.randint(0, cfg["vocab_size"], (b, context), device=device)
            model(input_ids=ids, past_key_values=cache, use_cache=True)
            token = torch.randint(0, cfg["vocab_size"], (b, 1), device=device)

            def step(cache=cache, token=token) -> None:
                with torch.inference_mode():
                    model(input_ids=token, past_key_values=cache, use_cache=True)
                    cache.crop(-1)

            step()
            out[b] = step
    return out


def wall_ms(steps, batches: list[int], repeats: int, device: str) -> dict[int, float]:
    times: dict[int, list[float]] = {b: [] for b in batches}
    for _ in range(repeats):           # the batches take turns, so a disturbance falls on all alike
        for b in batches:
            _sync(device)
            t0 = time.perf_counter()
            steps[b]()
            _sync(device)
            times[b].append((time.perf_counter() - t0) * 1e3)
    return {b: statistics.median(v) for b, v in times.items()}


def busy_ms(steps, batches: list[int], device: str) -> dict[int, tuple[float, int]]:
    """GPU-busy ms (sum of kernel durations) and kernel count of one step per B."""
    if not device.startswith("cuda"):
        return {}
    from torch.profiler import ProfilerActivity, profile

    out = {}
    for b in batches:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            steps[b]()
            _sync(device)
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        out[b] = (sum(e.device_time for e in kernels) / 1e3, len(kernels))
    return out


def predicted(cfg: dict, dev: Device, context: int, dtype: str) -> ServerModel:
    prof = profile_for(cfg, dtype=dtype, client_device=dev, server_device=dev,
                       seq_lens=(context, context + 1, context + 2))
    sc = Scenario(deadline_ms=1e9, seq_len=context, gen_tokens=2)
    cls = client_class(prof, sc, (0,) * prof.n_layers, name="server")
    return server_model(prof, sc, dev, [cls])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model (a smoke run of the script)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run with --device cpu --tiny for a smoke run", file=sys.stderr)
        return 2
    cfg = _config(args.tiny)
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    dname = "bf16" if dtype == torch.bfloat16 else "fp32"
    t0 = time.perf_counter()
    model = _model(cfg, args.device, dtype)
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"device: {gpu}; torch {torch.__version__}; model built in {time.perf_counter() - t0:.1f} s; "
          f"{'tiny' if args.tiny else 'llama-3.1-8b'} {dname}, context {args.context} per sequence", flush=True)
    steps = steps_for(model, cfg, args.batches, args.context, args.device)
    wall = wall_ms(steps, args.batches, args.repeats, args.device)
    busy = busy_ms(steps, args.batches, args.device)
    rows = []
    for name, dev in (("h200 (datasheet)", H200), ("h100-sxm preset", PRESETS["h100-sxm"])):
        srv = predicted(cfg, dev, args.context, dname)
        for b in args.batches:
            p = srv.step_ms([float(b)], [float(b * args.context)])
            rows.append({"device_model": name, "batch": b, "wall_ms": wall[b], "busy_ms": busy.get(b, (None, 0))[0],
                         "kernels": busy.get(b, (None, 0))[1], "model_ms": p})
    print(f"{'model device':<17} {'B':>3} {'wall ms':>8} {'busy ms':>8} {'kernels':>7} {'model ms':>9} "
          f"{'wall/model':>10} {'busy/model':>10} {'tok/s wall':>10} {'tok/s model':>11}")
    for r in rows:
        bm = "—" if r["busy_ms"] is None else f"{r['busy_ms']:.3f}"
        br = "—" if r["busy_ms"] is None else f"{r['busy_ms'] / r['model_ms']:.2f}"
        print(f"{r['device_model']:<17} {r['batch']:>3} {r['wall_ms']:>8.3f} {bm:>8} {r['kernels']:>7} "
              f"{r['model_ms']:>9.3f} {r['wall_ms'] / r['model_ms']:>10.2f} {br:>10} "
              f"{r['batch'] / r['wall_ms'] * 1e3:>10.0f} {r['batch'] / r['model_ms'] * 1e3:>11.0f}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_batched_step.json").write_text(json.dumps(
            {"device": gpu, "torch": torch.__version__, "context": args.context, "dtype": dname,
             "repeats": args.repeats, "rows": rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

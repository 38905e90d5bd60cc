"""Hold splittui's roofline server estimates against a real GPU: prefill, decode, memory, a split run.

For each shipped LLM config named (random weights built from the config with transformers
``from_config``, bf16, nothing downloaded) this measures on one CUDA device:

  (a) whole-model prefill time at a few prompt lengths and one decode step at a few contexts
      (median of ``--repeats`` after ``--warmup``, ``torch.cuda.synchronize`` around each call),
      beside splittui's roofline estimate (``splittui.llm.profile_for``, the sum of the layers'
      ``server_ms`` / ``dec_server_ms``) on three server models: the shipped ``h100-sxm`` preset;
      an ad-hoc H200 built here from the datasheet (989 TFLOP/s bf16 dense, 4.8 TB/s, the preset's
      efficiencies; devices.py has no h200 preset and is not edited); and a roofline with this
      card's *measured* ceilings (bf16 8192^3 matmul, device-to-device copy) at efficiency 1;
  (b) GPU memory: the weights (``memory_allocated`` after the build, and ``max_memory_allocated``)
      and weights + KV cache after a prefill of ``c`` tokens, beside splittui's ``weight_bytes`` and
      ``kv_bytes x c``;
  (c) a split run over loopback TCP with the runner's own client, server and wire code: the zoo's
      ``gpt2-like`` chain, the client's stages on the CPU, the server's on the GPU (a subclass of
      ``splittui.runner.server.Server`` defined here moves the state to the GPU and back; ``splittui
      run`` itself has no CUDA server), output checked against the unsplit CPU forward.

Run on the GPU machine (repo on PYTHONPATH; needs torch + transformers):

    PYTHONPATH=. python3 benchmarks/gpu_check.py --out "$OUT"

Smoke test on a CPU (tiny configs, few repeats):

    python benchmarks/gpu_check.py --device cpu --tiny --repeats 2 --warmup 1 --out /tmp/gc

Prints tables; writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, without an install

import torch  # noqa: E402

from splittui.devices import PRESETS, Device  # noqa: E402
from splittui.hf_config import param_count  # noqa: E402
from splittui.llm import load_arch, profile_for  # noqa: E402

H100 = PRESETS["h100-sxm"]
H200_DATASHEET = replace(H100, name="h200-datasheet", label="NVIDIA H200 SXM 141GB (ad hoc, not a preset)",
                         mem_gbps=4800.0, mem_gb=141.0,
                         source="NVIDIA H200 datasheet: BF16 1,979 TFLOPS with sparsity (989 dense), "
                                "HBM3e 4.8 TB/s; efficiencies as the h100-sxm preset")
GiB = 2 ** 30


# ---------------------------------------------------------------- timing helpers

def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev: torch.device, warmup: int, repeats: int, after=None) -> dict:
    """Median/min/max wall ms of fn() with a device sync before and after each call; `after` runs
    untimed after every call (e.g. cropping a KV cache back)."""
    samples = []
    for i in range(warmup + repeats):
        sync(dev)
        t0 = time.perf_counter()
        fn()
        sync(dev)
        dt = (time.perf_counter() - t0) * 1e3
        if after is not None:
            after()
        if i >= warmup:
            samples.append(dt)
    if not samples:
        return {"n": 0}
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples),
            "n": len(samples)}


def kernel_time(fn, dev: torch.device) -> dict:
    """One call of fn() under torch.profiler: the GPU's busy time (sum of kernel/memcpy durations),
    its span (first start to last end) and the number of device events; wall ms beside them. What
    the wall time has beyond the busy time is the host (Python, launches) keeping the GPU waiting."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    sync(dev)
    with profile(activities=acts) as prof:
        t0 = time.perf_counter()
        fn()
        sync(dev)
        wall = (time.perf_counter() - t0) * 1e3
    kern = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
    if not kern:
        return {"wall_ms": wall, "device_events": 0}
    busy = sum(e.time_range.elapsed_us() for e in kern) / 1e3
    span = (max(e.time_range.end for e in kern) - min(e.time_range.start for e in kern)) / 1e3
    return {"wall_ms": wall, "device_events": len(kern), "busy_ms": busy, "span_ms": span}


def ceilings(dev: torch.device, tiny: bool) -> dict:
    """This card's bf16 matmul rate and device-to-device copy bandwidth (read + write bytes)."""
    n = 1024 if tiny else 8192
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    mm = timed(lambda: a @ b, dev, 3, 10)
    nbytes = (64 if tiny else 2048) * 2 ** 20
    src = torch.randn(nbytes // 4, device=dev)
    dst = torch.empty_like(src)
    cp = timed(lambda: dst.copy_(src), dev, 3, 10)
    out = {"matmul_n": n, "matmul_ms": mm["median_ms"], "bf16_tflops": 2 * n ** 3 / (mm["median_ms"] * 1e-3) / 1e12,
           "copy_bytes": nbytes, "copy_ms": cp["median_ms"],
           "copy_gbps": 2 * nbytes / (cp["median_ms"] * 1e-3) / 1e9}
    return out


# ---------------------------------------------------------------- the model

def tiny_config(name: str) -> dict:
    """A shrunk config of the same family (CPU smoke test only)."""
    a = load_arch(name)
    return {"_name": f"{name}-tiny", "model_type": a.family, "hidden_size": 128, "intermediate_size": 256,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
            "max_position_embeddings": 4096, "tie_word_embeddings": a.tied}


def build(arch, dev: torch.device, attn: str):
    import transformers

    from splittui.profiler.hf_live import hf_config_dict

    doc = hf_config_dict(arch)
    tokens = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
    cfg = transformers.AutoConfig.for_model(doc.pop("model_type"), **doc, **tokens)
    torch.manual_seed(0)
    with torch.device(dev):
        try:
            model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16,
                                                                  attn_implementation=attn)
        except TypeError:  # transformers 4.x names it torch_dtype
            model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16,
                                                                  attn_implementation=attn)
    return model.to(dev, torch.bfloat16).eval()


def predictions(arch, lens: list[int], servers: list[Device]) -> dict:
    """splittui's estimates per server device: prefill and decode ms per length, weight and KV bytes."""
    out = {}
    for dev in servers:
        p = profile_for(arch, dtype="bf16", server_device=dev, seq_lens=lens)
        out[dev.name] = {
            "prefill_ms": {s: sum(layer.server_ms[k] for layer in p.layers) for k, s in enumerate(lens)},
            "decode_ms": {s: sum(layer.dec_server_ms[k] for layer in p.layers) for k, s in enumerate(lens)},
        }
        weight = sum(layer.weight_bytes[0] for layer in p.layers)
        kv_per_token = sum(layer.kv_bytes[0] for layer in p.layers)
        embed = p.layers[0].weight_bytes[0] if p.layers[0].kind == "embedding" else 0.0
    return {"servers": out, "weight_bytes": weight, "kv_bytes_per_token": kv_per_token,
            # a tied model holds its embedding once; splittui counts it in 'embed' and again in 'lm_head'
            "weight_bytes_dedup": weight - embed if arch.tied else weight}


@torch.inference_mode()
def measure_model(name: str, args, dev: torch.device, servers: list[Device]) -> dict:
    arch = load_arch(tiny_config(name) if args.tiny else name)
    lens = sorted(set(args.prefill) | set(args.decode_ctx))
    pred = predictions(arch, lens, servers)
    res: dict = {"model": arch.name, "params": param_count(arch), "layers": arch.n_layers, "pred": pred,
                 "prefill": {}, "decode": {}, "kv": {}}
    print(f"\n== {arch.name}: {param_count(arch) / 1e9:.2f}B params, bf16, attn={args.attn}", flush=True)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    base = torch.cuda.memory_allocated(dev) if dev.type == "cuda" else 0
    t0 = time.perf_counter()
    model = build(arch, dev, args.attn)
    sync(dev)
    res["build_s"] = time.perf_counter() - t0
    res["param_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    res["buffer_bytes"] = sum(b.numel() * b.element_size() for b in model.buffers())
    if dev.type == "cuda":
        res["weights_alloc"] = torch.cuda.memory_allocated(dev) - base
        res["weights_peak"] = torch.cuda.max_memory_allocated(dev) - base
    res["weight_stats"] = _weight_stats(model)
    print(f"   built in {res['build_s']:.1f} s; parameters {res['param_bytes'] / GiB:.3f} GiB; "
          f"weights {res['weight_stats']}", flush=True)
    gen = torch.Generator(device="cpu").manual_seed(1)
    vocab = arch.vocab

    for s in args.prefill:
        ids = torch.randint(0, vocab, (1, s), generator=gen).to(dev)
        fn = lambda m=model, x=ids: m(input_ids=x, use_cache=False, logits_to_keep=1)  # noqa: E731
        if args.kernels_only:
            timed(fn, dev, args.warmup, 0)
            res["prefill"][s] = {"profiled": _try(kernel_time, fn, dev)}
            del fn, ids
            continue
        res["prefill"][s] = timed(fn, dev, args.warmup, args.repeats)
        print(f"   prefill s={s}: {res['prefill'][s]['median_ms']:.3f} ms", flush=True)
        del fn, ids

    for c in args.decode_ctx:
        ids = torch.randint(0, vocab, (1, c), generator=gen).to(dev)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        sync(dev)
        kv_tensor_bytes = _cache_bytes(cache)
        entry = {"kv_tensor_bytes": kv_tensor_bytes}
        if dev.type == "cuda":
            entry["alloc_with_kv"] = torch.cuda.memory_allocated(dev) - base
            entry["peak_prefill"] = torch.cuda.max_memory_allocated(dev) - base
        res["kv"][c] = entry
        tok = out.logits[:, -1:].argmax(-1)
        del out
        step = lambda m=model, t=tok, kv=cache: m(input_ids=t, past_key_values=kv, use_cache=True)  # noqa: E731
        if args.kernels_only:
            timed(step, dev, args.warmup, 0, after=lambda kv=cache, n=c: _crop(kv, n))
            res["decode"][c] = {"profiled": _try(kernel_time, step, dev)}
            _crop(cache, c)
            del step, cache, ids, tok
            continue
        res["decode"][c] = timed(step, dev, args.warmup, args.decode_repeats, after=lambda kv=cache, n=c: _crop(kv, n))
        print(f"   decode ctx={c}: {res['decode'][c]['median_ms']:.3f} ms; KV {kv_tensor_bytes / GiB:.3f} GiB",
              flush=True)
        del step, cache, ids, tok  # the lambda holds the cache too: drop both before the next context
    del model
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return res


def _try(f, *a):
    try:
        return f(*a)
    except Exception as exc:  # a profiler that does not run here costs its column, not the run
        return {"error": f"{type(exc).__name__}: {exc}"}


def _weight_stats(model) -> dict:
    """Mean/std and finite share of a few weights: random weights, not zeros or uninitialised memory."""
    named = dict(model.named_parameters())
    keys = [k for k in named if k.endswith(("embed_tokens.weight", "layers.0.self_attn.q_proj.weight",
                                            "mlp.down_proj.weight"))][:3]
    out = {}
    for k in keys:
        w = named[k].detach().float()
        out[k.split(".", 1)[-1]] = {"mean": round(float(w.mean()), 5), "std": round(float(w.std()), 5),
                                    "finite": float(torch.isfinite(w).float().mean())}
    return out


def _crop(cache, c: int) -> None:
    """Drop what decode steps appended, back to `c` tokens (a negative crop removes tokens in every
    transformers version; 5.x refuses a positive one)."""
    extra = cache.get_seq_length() - c
    if extra > 0:
        cache.crop(-extra)


def _cache_bytes(cache) -> int:
    """Bytes of the KV tensors a transformers cache holds (its layer objects or its key/value lists)."""
    total = 0
    layers = getattr(cache, "layers", None)
    if layers is not None:
        for layer in layers:
            for attr in ("keys", "values"):
                t = getattr(layer, attr, None)
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size()
        return total
    for t in [*getattr(cache, "key_cache", []), *getattr(cache, "value_cache", [])]:
        total += t.numel() * t.element_size()
    return total


# ---------------------------------------------------------------- (c) split run, CPU client, GPU server

def split_run(args, dev: torch.device) -> dict:
    import socket

    import splittui
    from splittui.llm import retime
    from splittui.profiler.chain import run_chain
    from splittui.runner import server as srv
    from splittui.runner.chains import ChainSpec, build_chain, fingerprint, outputs_match
    from splittui.runner.client import Connection, run_policy
    from splittui.runner.link import Link, send_paced
    from splittui.runner.predict import named_policy
    from splittui.runner.wire import encode_frame

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 on both sides, so the outputs can be compared
    torch.backends.cudnn.allow_tf32 = False

    class DeviceServer(srv.Server):
        """The runner's server with its chain on `dev`: the state goes to the device on arrival and
        back to the CPU before it is sent; compute_ms covers both copies and a device sync."""

        def _run(self, conn, meta, state, cache):
            start, stop = srv._stage_range(meta, len(self.chain.stages))
            link = srv._down_link(meta)
            t0 = time.perf_counter()
            with torch.no_grad():
                x = tuple(t.to(dev) for t in state)
                x = run_chain(self.chain, x, start, stop)
                out = tuple(t.cpu() for t in x)
            sync(dev)
            reply = {"op": "result", "compute_ms": (time.perf_counter() - t0) * 1e3}
            send_paced(conn, encode_frame(reply, out), link)

    spec = ChainSpec(args.split_model, tiny=args.tiny, seed=0)
    client_chain = build_chain(spec)
    server_chain = build_chain(spec)
    for stage in server_chain.stages:
        stage.module.to(dev)
    fp = fingerprint(client_chain)
    seq = args.split_seq
    inputs = client_chain.make_input(seq)
    torch.set_num_threads(args.client_threads)
    server = DeviceServer(server_chain, fp, threads=args.client_threads, log=lambda m: print(m, file=sys.stderr))
    listener = srv.bind("127.0.0.1", 0)
    port = listener.getsockname()[1]
    stop = threading.Event()
    th = threading.Thread(target=server.serve, args=(listener, stop.is_set), daemon=True)
    th.start()
    conn = Connection("127.0.0.1", port)
    ready = conn.hello(client_chain.model)
    fast = Link(None, 0.0)
    n = len(client_chain.stages)
    with torch.no_grad():
        want = run_chain(client_chain, inputs)
        t_all_client = timed(lambda: run_chain(client_chain, inputs), torch.device("cpu"), 1, args.split_repeats)

    prof = splittui.load_profile(args.split_model) if not args.tiny else None
    pred = None
    if prof is not None and seq in prof.seq_lens and prof.n_layers == n:
        k = prof.seq_lens.index(seq)
        pred = {"h100": retime(prof, server_device="h100-sxm"), "h200": retime(prof, server_device=H200_DATASHEET)}
    policies = {"server-all-but-embedding": tuple([1] + [0] * (n - 1))}
    if prof is not None and prof.n_layers == n:
        policies["attention-server"] = named_policy(prof, "attention-server")
    rows = {}
    for label, policy in policies.items():
        run_policy(client_chain, conn, policy, inputs, fast, fast)  # warm-up (CUDA kernels, allocator)
        timings, ok, worst = [], True, 0.0
        for _ in range(args.split_repeats):
            got, t = run_policy(client_chain, conn, policy, inputs, fast, fast)
            m, w = outputs_match(got, want, rtol=1e-3, atol=1e-4)
            ok, worst = ok and m, max(worst, w)
            timings.append(t)
        med = {key: statistics.median(getattr(t, key) for t in timings)
               for key in ("total_ms", "client_ms", "server_ms", "upload_ms", "download_ms")}
        row = {"policy_server_stages": policy.count(0), "transfers": timings[0].transfers,
               "bytes_up": timings[0].bytes_up, "bytes_down": timings[0].bytes_down, **med,
               "match_unsplit": ok, "max_abs_diff": worst}
        if pred is not None:
            for tag, p in pred.items():
                row[f"pred_server_ms_{tag}"] = sum(layer.server_ms[k] for layer, x in zip(p.layers, policy) if x == 0)
        rows[label] = row
    conn.close()
    stop.set()
    th.join(timeout=2)
    listener.close()
    return {"model": client_chain.model, "seq": seq, "stages": n, "server_threads_reported": ready.get("threads"),
            "client_threads": args.client_threads, "link": "loopback TCP, unpaced, no delay",
            "all_client_cpu_ms": t_all_client["median_ms"], "rows": rows, "errors": server.errors,
            "socket_family": str(socket.AF_INET)}


# ---------------------------------------------------------------- report

def fmt_gib(b: float | None) -> str:
    return "—" if b is None else f"{b / GiB:.3f}"


def report(doc: dict) -> str:
    L = []
    env = doc["env"]
    L.append(f"machine: {env['gpu']} · torch {env['torch']} · transformers {env['transformers']} · "
             f"python {env['python']} · {env['date']}")
    c = doc.get("ceilings")
    if c:
        L.append(f"measured ceilings: bf16 {c['matmul_n']}^3 matmul {c['bf16_tflops']:.0f} TFLOP/s; "
                 f"D2D copy {c['copy_gbps']:.0f} GB/s (read+write)")
    names = doc["server_names"]
    for m in doc["models"]:
        if "error" in m:
            L.append(f"\n### {m['model']}: FAILED: {m['error']}")
            continue
        L.append(f"\n### {m['model']} ({m['params'] / 1e9:.2f}B params, {m['layers']} blocks, bf16, "
                 f"attn {doc['args']['attn']}), built in {m['build_s']:.1f} s")
        L.append("")
        L.append("| phase | tokens | measured ms (median; min–max) | " +
                 " | ".join(f"pred {n} ms | ratio {n}" for n in names) +
                 " | GPU busy ms (device events) | busy ÷ pred " + " | busy ÷ pred ".join(names[:2]) + " |")
        L.append("|---|---:|---:|" + "---:|---:|" * len(names) + "---:|" + "---:|" * len(names[:2]))
        for phase, key in (("prefill", "prefill_ms"), ("decode step", "decode_ms")):
            data = m["prefill" if phase == "prefill" else "decode"]
            for s, t in data.items():
                cells = []
                for n in names:
                    p = m["pred"]["servers"][n][key][int(s)]
                    cells.append(f"{p:.3f} | {t['median_ms'] / p:.2f}")
                what = f"s={s}" if phase == "prefill" else f"ctx={s}"
                prof = t.get("profiled") or {}
                if "busy_ms" in prof:
                    busy = [f"{prof['busy_ms']:.3f} ({prof['device_events']})"]
                    busy += [f"{prof['busy_ms'] / m['pred']['servers'][n][key][int(s)]:.2f}" for n in names[:2]]
                else:
                    busy = ["—"] * (1 + len(names[:2]))
                L.append(f"| {phase} | {what} | {t['median_ms']:.3f} ({t['min_ms']:.3f}–{t['max_ms']:.3f}) | "
                         + " | ".join(cells + busy) + " |")
        pr = m["pred"]
        L.append("")
        L.append("| memory | measured GiB | splittui GiB | measured / splittui |")
        L.append("|---|---:|---:|---:|")
        L.append(f"| parameters (sum of tensor bytes) | {fmt_gib(m['param_bytes'])} | "
                 f"{fmt_gib(pr['weight_bytes'])} (weight_bytes) | {m['param_bytes'] / pr['weight_bytes']:.3f} |")
        if pr["weight_bytes_dedup"] != pr["weight_bytes"]:
            L.append(f"| parameters vs tied-once | {fmt_gib(m['param_bytes'])} | {fmt_gib(pr['weight_bytes_dedup'])}"
                     f" (embedding once) | {m['param_bytes'] / pr['weight_bytes_dedup']:.3f} |")
        if "weights_alloc" in m:
            L.append(f"| weights: memory_allocated after build | {fmt_gib(m['weights_alloc'])} | "
                     f"{fmt_gib(pr['weight_bytes'])} | {m['weights_alloc'] / pr['weight_bytes']:.3f} |")
            L.append(f"| weights: max_memory_allocated during build | {fmt_gib(m['weights_peak'])} | "
                     f"{fmt_gib(pr['weight_bytes'])} | {m['weights_peak'] / pr['weight_bytes']:.3f} |")
        for ctx, e in m["kv"].items():
            kv_pred = pr["kv_bytes_per_token"] * int(ctx)
            L.append(f"| KV cache tensors at ctx={ctx} | {fmt_gib(e['kv_tensor_bytes'])} | {fmt_gib(kv_pred)} "
                     f"(kv_bytes x ctx) | {e['kv_tensor_bytes'] / kv_pred:.3f} |")
            if "alloc_with_kv" in e:
                tot = pr["weight_bytes"] + kv_pred
                L.append(f"| weights + KV: memory_allocated after prefill ctx={ctx} | {fmt_gib(e['alloc_with_kv'])} | "
                         f"{fmt_gib(tot)} | {e['alloc_with_kv'] / tot:.3f} |")
                L.append(f"| weights + KV: max_memory_allocated in that prefill | {fmt_gib(e['peak_prefill'])} | "
                         f"{fmt_gib(tot)} | {e['peak_prefill'] / tot:.3f} |")
    sp = doc.get("split")
    if sp:
        L.append("")
        if "error" in sp:
            L.append(f"### split run: FAILED: {sp['error']}")
        else:
            L.append(f"### split run: {sp['model']} seq {sp['seq']} ({sp['stages']} stages), fp32, client CPU "
                     f"({sp['client_threads']} threads) · server {doc['env']['gpu']} · {sp['link']}")
            L.append(f"all-client on the CPU: {sp['all_client_cpu_ms']:.1f} ms (median)")
            L.append("")
            L.append("| policy | server stages | transfers | total ms | client ms | server ms (incl. H2D/D2H) | "
                     "upload ms | download ms | pred server ms h100 / h200 | output = unsplit |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for label, r in sp["rows"].items():
                pp = (f"{r['pred_server_ms_h100']:.2f} / {r['pred_server_ms_h200']:.2f}"
                      if "pred_server_ms_h100" in r else "—")
                L.append(f"| {label} | {r['policy_server_stages']} | {r['transfers']} | {r['total_ms']:.1f} | "
                         f"{r['client_ms']:.1f} | {r['server_ms']:.1f} | {r['upload_ms']:.2f} | "
                         f"{r['download_ms']:.2f} | {pp} | {'yes' if r['match_unsplit'] else 'NO'} "
                         f"(max diff {r['max_abs_diff']:.2g}) |")
    L.append(f"\ntotal wall time of the script: {doc['wall_s']:.1f} s")
    return "\n".join(L)


def kernels_pass(args) -> dict:
    """GPU busy time per shape, from torch.profiler, in a child process: once the profiler (CUPTI) has
    run in a process, every later kernel launch there costs more, so the wall times above come from a
    process that never profiles (seen on the H200: eager decode steps 2.7x slower after it)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kernels.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--kernels-only", "--kernels-json", str(path),
               "--models", args.models, "--prefill", ",".join(map(str, args.prefill)),
               "--decode-ctx", ",".join(map(str, args.decode_ctx)), "--warmup", str(args.warmup),
               "--attn", args.attn, "--device", args.device, "--no-split", "--out", tmp,
               *(["--tiny"] if args.tiny else [])]
        print("\n== kernels pass (child process, torch.profiler)", flush=True)
        done = subprocess.run(cmd, check=False)
        if done.returncode != 0 or not path.is_file():
            return {"error": f"kernels pass exited {done.returncode}"}
        return {m["model"]: m for m in json.loads(path.read_text(encoding="utf-8"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ints = lambda t: [int(x) for x in t.split(",") if x]  # noqa: E731
    ap.add_argument("--models", default="llama-3.2-1b,llama-3.1-8b")
    ap.add_argument("--prefill", type=ints, default=[128, 1024, 4096])
    ap.add_argument("--decode-ctx", type=ints, default=[1024, 4096])
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--decode-repeats", type=int, default=30)
    ap.add_argument("--attn", default="sdpa", help="transformers attn_implementation (sdpa | eager)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="shrunk configs (CPU smoke test)")
    ap.add_argument("--no-split", action="store_true", help="skip (c), the split run")
    ap.add_argument("--split-model", default="gpt2-like")
    ap.add_argument("--split-seq", type=int, default=512)
    ap.add_argument("--split-repeats", type=int, default=5)
    ap.add_argument("--client-threads", type=int, default=4)
    ap.add_argument("--no-kernels", action="store_true", help="skip the GPU busy-time pass (torch.profiler)")
    ap.add_argument("--kernels-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kernels-json", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.environ.get("OUT") or "/tmp/gpu_check")
    args = ap.parse_args()
    t_start = time.perf_counter()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here; use --device cpu --tiny for a smoke test", file=sys.stderr)
        return 2
    import transformers

    cpu = f"CPU ({platform.processor() or platform.machine()})"
    env = {"gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu,
           "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpus": os.cpu_count(),
           "cuda": torch.version.cuda, "argv": sys.argv}
    if dev.type == "cuda":
        free, total = torch.cuda.mem_get_info(dev)
        env.update(gpu_mem_total=total, gpu_mem_free_at_start=free)
    print(f"{env['gpu']} · torch {env['torch']} (CUDA {env['cuda']}) · transformers {env['transformers']}", flush=True)
    ceil = ceilings(dev, args.tiny or dev.type == "cpu" or args.kernels_only)
    print(f"ceilings: bf16 matmul {ceil['bf16_tflops']:.1f} TFLOP/s, copy {ceil['copy_gbps']:.1f} GB/s", flush=True)
    measured_dev = Device("measured-ceilings", "server", f"{env['gpu']}: measured ceilings, efficiency 1",
                          fp32_tflops=ceil["bf16_tflops"], fp16_tflops=ceil["bf16_tflops"], mem_gbps=ceil["copy_gbps"],
                          source="gpu_check.py: bf16 matmul and D2D copy on this card", eff_compute=1.0, eff_mem=1.0,
                          overhead_us=H100.overhead_us)
    servers = [H100, H200_DATASHEET, measured_dev]
    doc: dict = {"env": env, "args": vars(args), "ceilings": ceil, "server_names": [d.name for d in servers],
                 "server_devices": {d.name: d.describe() for d in servers}, "models": []}
    for name in [m for m in args.models.split(",") if m]:
        try:
            doc["models"].append(measure_model(name, args, dev, servers))
        except Exception as exc:  # one model's failure must not lose the others' figures
            traceback.print_exc()
            doc["models"].append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
    if args.kernels_only:
        Path(args.kernels_json).write_text(json.dumps(doc["models"], default=str), encoding="utf-8")
        return 0
    if (dev.type == "cuda" or args.tiny) and not args.no_kernels:  # tiny: the CPU smoke test runs it too
        doc["kernels_pass"] = kernels_pass(args)
        for m in doc["models"]:
            prof = doc["kernels_pass"].get(m["model"], {})
            for phase in ("prefill", "decode"):
                for n, entry in m.get(phase, {}).items():
                    got = prof.get(phase, {}).get(str(n), {})
                    entry["profiled"] = got.get("profiled", {"error": "no kernels pass"})
    if not args.no_split:
        print("\n== split run", flush=True)
        try:
            doc["split"] = split_run(args, dev)
        except Exception as exc:
            traceback.print_exc()
            doc["split"] = {"error": f"{type(exc).__name__}: {exc}"}
    doc["wall_s"] = time.perf_counter() - t_start
    text = report(doc)
    print("\n" + text, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    (out / "gpu_check.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

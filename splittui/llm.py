"""Analytic `splittui.profile/1` documents for decoder-only LLMs: config × dtype × devices × lengths.

:func:`profile_for` is the building block of the CLI and the app: a Hugging Face config (an
:class:`~splittui.hf_config.Arch`, a decoded dict, a shipped name such as ``llama-3.1-8b``, or a path)
becomes a profile whose times are roofline **estimates** on the chosen client and server devices.
Fast enough for every slider move (every block costs the same, so one block is computed per length
and repeated). Decode fields (SPEC §8) come with it: ``dec_*`` per layer at context = each length,
``weight_bytes`` and ``kv_bytes`` per layer, ``dec_output_bytes`` per model.
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from .calibration import StageTimer, head_bits
from .calibration_io import band_text, timer_for
from .devices import DEFAULT_CLIENT, DEFAULT_SERVER, PRESETS, Device, resolve_device
from .errors import SplittuiError
from .hf_config import Arch, StageCost, act_bytes, arch_from_dict, chain_parts, param_count, read_config
from .model import Layer, Profile
from .profiles import canonical_sha256, profile_from_doc, profile_to_doc

__all__ = ["DEFAULT_SEQ_LENS", "DTYPE_DEFAULT", "profile_for", "profile_doc_for", "load_arch",
           "shipped_config_names", "is_shipped_config", "seq_lens_for", "retime", "load_any"]

DEFAULT_SEQ_LENS = (128, 256, 512, 1024, 2048, 4096)
DTYPE_DEFAULT = "bf16"
LOGIT_BYTES = 4  # the next-token logits travel as fp32
FORMULAS_VERSION = 2  # bump when a formula changes: analytic profiles' sha256 hash it
_LAYER_FIELDS = frozenset(Layer.__dataclass_fields__)
_PROFILE_FIELDS = frozenset(Profile.__dataclass_fields__)
ATTENTION_NOTE = ("attention core counts the full s x s score matrix (no causal block skipping); "
                  "LM head on the last position only; int8/int4 are weight-only (W8A16/W4A16)")


@functools.lru_cache(maxsize=1)
def _configs_dir() -> Path:
    """Where the shipped configs are (package data: fixed while the process runs, so looked up once)."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "profiles" / "configs"
    if checkout.is_dir() and (here.parent / "pyproject.toml").is_file():
        return checkout
    return here / "shipped" / "configs"


def shipped_config_names() -> list[str]:
    return sorted(p.stem for p in _configs_dir().glob("*.json"))


def is_shipped_config(name: str) -> bool:
    return name in _shipped_names()


@functools.lru_cache(maxsize=1)
def _shipped_names() -> frozenset[str]:
    """The shipped config names, read once: the app asks per solve (a file test was ~1 ms of each)."""
    return frozenset(shipped_config_names())


@functools.lru_cache(maxsize=64)
def _read_cached(path: str, mtime: float, name: str | None) -> Arch:
    return read_config(path, name=name)


def load_arch(config_or_name: Arch | dict[str, Any] | str | os.PathLike[str]) -> Arch:
    """An Arch from an Arch, a decoded config dict, a shipped config name, or a file/folder path."""
    if isinstance(config_or_name, Arch):
        return config_or_name
    if isinstance(config_or_name, dict):
        return arch_from_dict(config_or_name, name=str(config_or_name.get("_name", "model")))
    text = str(config_or_name)
    name = None
    path = Path(text)
    if is_shipped_config(text):
        path, name = _configs_dir() / f"{text}.json", text
    elif not path.exists():
        raise SplittuiError(f"--hf-config {text}: no such file or folder (shipped configs: "
                            f"{', '.join(shipped_config_names())})")
    cfg = path / "config.json" if path.is_dir() else path
    try:
        mtime = cfg.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _read_cached(str(path), mtime, name)


def seq_lens_for(arch: Arch, *, include: int | Sequence[int] | None = None,
                 base: Sequence[int] = DEFAULT_SEQ_LENS) -> tuple[int, ...]:
    """The default lengths the model accepts (≤ its context), plus `include` (e.g. the scenario's --seq)."""
    extra = [] if include is None else [include] if isinstance(include, int) else list(include)
    for s in extra:
        if s > arch.max_pos:
            raise SplittuiError(f"--seq {s}: above {arch.name}'s context of {arch.max_pos} tokens")
    lens = {s for s in base if s <= arch.max_pos} | set(extra)
    return tuple(sorted(lens or {arch.max_pos}))


def profile_for(config_or_name: Arch | dict[str, Any] | str | os.PathLike[str], *, dtype: str = DTYPE_DEFAULT,
                client_device: str | Device = DEFAULT_CLIENT, server_device: str | Device = DEFAULT_SERVER,
                seq_lens: Sequence[int] | None = None, devices: dict[str, Device] | None = None,
                runtime: str | None = None) -> Profile:
    """The analytic profile (times are roofline estimates), built directly: valid by construction, so
    the loader's checks are skipped, and its sha256 hashes the inputs (config, dtype, devices, lengths)
    rather than the ~20k numbers. ≈10 ms for a 32-layer model at 6 lengths. Built from a file, its
    origin is the file's absolute path (as for profile files), so an export or the app can find it again."""
    meta, groups = _build(config_or_name, dtype, client_device, server_device, seq_lens, devices, runtime)
    arch: Arch = meta.pop("_arch")
    embed, block, head = ([_layer(e) for e in g] for g in groups)
    layers = list(embed)
    for i in range(arch.n_layers):
        layers += [replace(x, name=f"h{i}.{x.name}") for x in block]
    layers += head
    extra = {k: meta[k] for k in ("dtype", "arch")}
    kwargs: dict[str, Any] = {}
    if "dec_output_bytes" in _PROFILE_FIELDS:
        kwargs["dec_output_bytes"] = tuple(meta["dec_output_bytes"])
    else:
        extra["dec_output_bytes"] = meta["dec_output_bytes"]
    return Profile(model=meta["model"], description=meta["description"], source=meta["source"],
                   seq_lens=tuple(meta["seq_lens"]), output_bytes=tuple(meta["output_bytes"]),
                   layers=tuple(layers), sha256=meta["_key"], origin=_origin(config_or_name, meta["model"]),
                   extra=extra, **kwargs)


def _origin(config_or_name: _Config, model: str) -> str:
    if isinstance(config_or_name, (str, os.PathLike)) and not is_shipped_config(str(config_or_name)):
        return str(Path(config_or_name).resolve())
    return model


def _layer(entry: dict[str, Any]) -> Layer:
    fields: dict[str, Any] = {k: (v if k in ("name", "kind") else tuple(v))
                              for k, v in entry.items() if k in _LAYER_FIELDS}
    return Layer(**fields)


def profile_doc_for(config_or_name: Arch | dict[str, Any] | str | os.PathLike[str], *, dtype: str = DTYPE_DEFAULT,
                    client_device: str | Device = DEFAULT_CLIENT, server_device: str | Device = DEFAULT_SERVER,
                    seq_lens: Sequence[int] | None = None, devices: dict[str, Device] | None = None,
                    runtime: str | None = None) -> dict[str, Any]:
    """A `splittui.profile/1` document with prefill and decode costs at every length in `seq_lens`."""
    meta, groups = _build(config_or_name, dtype, client_device, server_device, seq_lens, devices, runtime)
    arch: Arch = meta.pop("_arch")
    meta.pop("_key")
    embed, block, head = groups
    layers = list(embed)
    for i in range(arch.n_layers):
        layers += [{**e, "name": f"h{i}.{e['name']}"} for e in block]
    return {"schema": "splittui.profile/1", **meta, "layers": layers + head}


_Config = Arch | dict[str, Any] | str | os.PathLike[str]
_Part = StageCost | list[StageCost]  # the embedding is one stage, a block and the head are lists


def _build(config_or_name: _Config, dtype: str, client_device: str | Device, server_device: str | Device,
           seq_lens: Sequence[int] | None, devices: dict[str, Device] | None, runtime: str | None = None
           ) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    arch = load_arch(config_or_name)
    client = resolve_device(client_device, user=devices, flag="--client-device")
    server = resolve_device(server_device, user=devices, flag="--server-device")
    act_bytes(dtype)  # an unknown dtype fails here, naming the flag
    lens = tuple(seq_lens) if seq_lens else seq_lens_for(arch)
    _check_lens(lens)
    fp32 = dtype == "fp32"
    hb = head_bits(runtime, dtype)   # the LM head at the runtime's own precision (llama.cpp Q6_K, AWQ 16-bit)
    pre = [chain_parts(arch, s, s, dtype=dtype, decode=False, head_bits=hb) for s in lens]
    dec = [chain_parts(arch, 1, s, dtype=dtype, decode=True, head_bits=hb) for s in lens]
    out_logits = [float(arch.vocab * LOGIT_BYTES)] * len(lens)
    resid_p = [p[1][0].in_bytes for p in pre]  # the residual stream s·d, as ln1 receives it
    resid_d = [q[1][0].in_bytes for q in dec]
    afters = ((resid_p, resid_d), (resid_p, resid_d), (out_logits, out_logits))
    step_k = _step_kernels(arch, pre[0])  # a runtime's per-step overhead is spread over the step's kernels
    timers = (timer_for(client, runtime, dtype, step_k), timer_for(server, runtime, dtype, step_k))
    groups = [_group_entries([p[i] for p in pre], [q[i] for q in dec], *afters[i], lens, *timers, fp32)
              for i in range(3)]
    arch_doc = {"family": arch.family, "params": param_count(arch), "d": arch.d, "n_layers": arch.n_layers,
                "heads": arch.h, "kv_heads": arch.h_kv, "head_dim": arch.e, "d_ff": arch.d_ff,
                "vocab": arch.vocab, "context": arch.max_pos, **({"tied": True} if arch.tied else {})}
    key = canonical_sha256({"analytic": asdict(arch), "dtype": dtype, "client": client.doc(),
                            "server": server.doc(), "seq_lens": list(lens), "formulas": FORMULAS_VERSION,
                            **({"runtime": [asdict(t.cal) for t in timers if t.cal], "head_bits": hb}
                               if runtime else {})})
    meta = {"model": arch.name, "description": _description(arch, dtype),
            "source": _source(arch, dtype, client, server, timers), "seq_lens": list(lens), "output_bytes": out_logits,
            "dec_output_bytes": list(out_logits), "dtype": dtype, "arch": arch_doc, "_arch": arch, "_key": key}
    return meta, groups


def _step_kernels(arch: Arch, parts: tuple[StageCost, list[StageCost], list[StageCost]]) -> int:
    embed, block, head = parts
    return embed.kernels + arch.n_layers * sum(st.kernels for st in block) + sum(st.kernels for st in head)


def _check_lens(lens: tuple[int, ...]) -> None:
    if not lens or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in lens):
        raise SplittuiError(f"seq_lens must be positive integers, got {list(lens)!r}")
    if any(b <= a for a, b in zip(lens, lens[1:])):
        raise SplittuiError(f"seq_lens must be strictly increasing, got {list(lens)!r}")


def _as_list(part: _Part) -> list[StageCost]:
    return part if isinstance(part, list) else [part]


def _group_entries(pre_parts: list[_Part], dec_parts: list[_Part], after_pre: list[float], after_dec: list[float],
                   lens: tuple[int, ...], client: StageTimer, server: StageTimer, fp32: bool) -> list[dict[str, Any]]:
    """Layer entries (names relative) for one part: embedding, one block, or the head.

    pre_parts[k] / dec_parts[k]: the part's stages at length k. The state leaving a stage is the state
    entering the next; the state leaving the part's last stage is after_pre[k] / after_dec[k].
    """
    per_len_pre = [_as_list(p) for p in pre_parts]
    per_len_dec = [_as_list(p) for p in dec_parts]
    entries: list[dict[str, Any]] = []
    for j in range(len(per_len_pre[0])):
        rows_p = [stages[j] for stages in per_len_pre]
        rows_d = [stages[j] for stages in per_len_dec]
        out_p = [_out(per_len_pre[k], j, after_pre[k]) for k in range(len(lens))]
        out_d = [_out(per_len_dec[k], j, after_dec[k]) for k in range(len(lens))]
        entries.append(_entry(rows_p, rows_d, out_p, out_d, lens, client, server, fp32))
    return entries


def _out(stages: list[StageCost], j: int, after: float) -> float:
    return stages[j + 1].in_bytes if j + 1 < len(stages) else after


def _entry(rows_p: list[StageCost], rows_d: list[StageCost], out_p: list[float], out_d: list[float],
           lens: tuple[int, ...], client: StageTimer, server: StageTimer, fp32: bool) -> dict[str, Any]:
    first = rows_p[0]
    flops = [r.mm_flops + r.elem_flops for r in rows_p]
    moved = [r.in_bytes + o + r.weights_read + r.kv_read for r, o in zip(rows_p, out_p)]
    dflops = [r.mm_flops + r.elem_flops for r in rows_d]
    dmoved = [r.in_bytes + o + r.weights_read + r.kv_read for r, o in zip(rows_d, out_d)]
    kernels = first.kernels
    return {
        "name": first.name, "kind": first.kind, "flops": flops,
        "client_ms": [client.prefill_ms(first.kind, f, m, kernels, fp32=fp32) for f, m in zip(flops, moved)],
        "server_ms": [server.prefill_ms(first.kind, f, m, kernels, fp32=fp32) for f, m in zip(flops, moved)],
        "in_bytes": [r.in_bytes for r in rows_p],
        "mem_bytes": [r.weight_bytes + r.in_bytes + o + r.kv_bytes * s for r, o, s in zip(rows_p, out_p, lens)],
        "dec_flops": dflops,
        "dec_client_ms": [client.decode_ms(first.kind, f, m, kernels, fp32=fp32) for f, m in zip(dflops, dmoved)],
        "dec_server_ms": [server.decode_ms(first.kind, f, m, kernels, fp32=fp32) for f, m in zip(dflops, dmoved)],
        "dec_in_bytes": [r.in_bytes for r in rows_d],
        "weight_bytes": [r.weight_bytes for r in rows_p],
        "kv_bytes": [r.kv_bytes for r in rows_p],
    }


def _layers(arch: Arch, groups: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    embed, block, head = groups
    layers = list(embed)
    for i in range(arch.n_layers):
        layers += [{**e, "name": f"h{i}.{e['name']}"} for e in block]
    return layers + head


def _description(arch: Arch, dtype: str) -> str:
    return (f"{arch.family}: {arch.n_layers} blocks, d={arch.d}, {arch.h} heads ({arch.h_kv} KV, head_dim "
            f"{arch.e}), MLP {arch.d_ff}{' gated' if arch.gated else ''}, vocab {arch.vocab}, "
            f"{param_count(arch) / 1e9:.2f}B params, {dtype} weights")


def _source(arch: Arch, dtype: str, client: Device, server: Device,
            timers: tuple[StageTimer, StageTimer] | None = None) -> dict[str, Any]:
    cals = [t.cal for t in timers] if timers else [None, None]
    runtime = {"runtime": cals[0].runtime, "calibration": {side: band_text(c) for side, c in zip(
        ("client", "server"), cals)}} if cals[0] is not None else {}
    return {**runtime, "kind": "analytic", "estimate": not (client.measured and server.measured),
            "client": f"estimate: {client.describe()}", "server": f"estimate: {server.describe()}",
            "client_device": client.name, "server_device": server.name, "dtype": dtype,
            "created": "splittui.llm (SPEC §9 formulas)", "assumptions": ATTENTION_NOTE,
            **_device_defs(client, server)}


def _device_defs(*devs: Device) -> dict[str, Any]:
    """The definitions of non-preset devices (user files, this-cpu), so a policy file can rebuild them."""
    defs = {d.name: d.doc() for d in devs if PRESETS.get(d.name) != d}
    return {"device_defs": defs} if defs else {}


def retime(profile: Profile, *, client_device: str | Device | None = None, server_device: str | Device | None = None,
           devices: dict[str, Device] | None = None) -> Profile:
    """Replace a profile's client and/or server times by roofline estimates (fp32) from its FLOPs and
    memory bytes (``mem_bytes``, else twice ``in_bytes``). For zoo profiles; ``None`` keeps the side's times."""
    if client_device is None and server_device is None:
        return profile
    doc = profile_to_doc(profile)
    sides = (("client_ms", client_device, "--client-device"), ("server_ms", server_device, "--server-device"))
    for key, name, flag in sides:
        if name is None:
            continue
        dev = resolve_device(name, user=devices, flag=flag)
        for layer, entry in zip(profile.layers, doc["layers"]):
            moved = layer.mem_bytes or tuple(2 * b for b in layer.in_bytes)
            entry[key] = [dev.time_ms(f, m, 1, fp32=True) for f, m in zip(layer.flops, moved)]
        old_defs = doc["source"].get("device_defs") or {}
        doc["source"] = {**doc["source"], "estimate": True, f"{key.split('_')[0]}_device": dev.name,
                         key.split("_")[0]: f"estimate: {dev.describe()} (re-timed from the profile's FLOPs and bytes)"}
        defs = {**old_defs, **_device_defs(dev).get("device_defs", {})}
        if defs:
            doc["source"]["device_defs"] = defs
    return profile_from_doc(doc, source=profile.origin, origin=profile.origin)



def load_any(name_or_path: str | os.PathLike[str], *, dtype: str | None = None,
             client_device: str | Device | None = None,
             server_device: str | Device | None = None, include_seq: Sequence[int] = (),
             devices: dict[str, Device] | None = None, hf_config: bool = False,
             runtime: str | None = None) -> Profile:
    """What the CLI and the app open: a shipped LLM config or a config file (``hf_config=True``, or a
    path to a config.json/folder) becomes an analytic profile (dtype default bf16, devices default
    laptop-cpu → a100-80gb, lengths covering `include_seq`); anything else is a profile (shipped name
    or file), re-timed on the devices given, if any. A "measured" device keeps the profile's own times."""
    text = str(name_or_path)
    client_device = None if client_device == "measured" else client_device
    server_device = None if server_device == "measured" else server_device
    if hf_config or is_shipped_config(text) or _is_config_path(text):
        arch = load_arch(text)
        lens = seq_lens_for(arch, include=include_seq)
        return profile_for(text, dtype=dtype or DTYPE_DEFAULT, client_device=client_device or DEFAULT_CLIENT,
                           server_device=server_device or DEFAULT_SERVER, seq_lens=lens, devices=devices,
                           runtime=runtime)
    from .profiles import load_profile

    if runtime is not None:
        raise SplittuiError(f"--runtime {runtime}: applies to LLM configs (--hf-config or a shipped config such as "
                            f"llama-3.1-8b), not to a measured profile ({text})")
    if dtype not in (None, "fp32"):
        act_bytes(dtype)  # an unknown dtype is named first
        raise SplittuiError(f"--dtype {dtype}: a measured profile ({text}) is fp32; --dtype applies to LLM "
                            "configs (--hf-config or a shipped config such as llama-3.1-8b)")
    return retime(load_profile(text), client_device=client_device, server_device=server_device, devices=devices)


def _is_config_path(text: str) -> bool:
    p = Path(text)
    return (p.is_dir() and (p / "config.json").is_file()) or p.name == "config.json"

"""Flags for LLM configs, devices and weight precision, shared by solve, evaluate, sweep and simulate
(and, without --devices FILE, by the app and `serve`).

``--hf-config PATH`` (or ``--model llama-3.1-8b``, a shipped config) builds an analytic profile whose
times are roofline estimates on ``--client-device`` and ``--server-device`` at ``--dtype``.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from ..errors import SplittuiError
from ..model import Profile

__all__ = ["add_llm_args", "add_app_llm_args", "profile_from_llm_args", "load_named", "estimate_note",
           "DTYPE_CHOICES", "APP_LLM_FLAGS"]

DTYPE_CHOICES = ("fp32", "fp16", "bf16", "int8", "int4", "q4_k_m")
# what the app takes (its pickers list the presets, so no --devices FILE): `serve` forwards these to each
# tab's app, with whether the value is a path
APP_LLM_FLAGS = (("hf_config", True), ("client_device", False), ("server_device", False), ("dtype", False),
                 ("runtime", False))


def add_llm_args(p: argparse.ArgumentParser, *, hf_config: bool = True) -> None:
    g = p.add_argument_group("LLM config, devices, precision (times are roofline estimates)")
    if hf_config:
        _add_hf_config(g)
    _add_device_args(g)


def add_app_llm_args(p: argparse.ArgumentParser, source) -> None:
    """The app's flags (the bare `splittui` and `serve`): --hf-config in the `source` group beside
    --model/--profile, the two devices and the dtype."""
    _add_hf_config(source)
    _add_device_args(p.add_argument_group("LLM config, devices, precision (times are roofline estimates)"),
                     devices_file=False)


def _add_hf_config(g) -> None:
    g.add_argument("--hf-config", metavar="PATH",
                   help="a Hugging Face config.json (or a folder holding one) of a llama, mistral, qwen2, phi3, "
                        "gemma/gemma2 or gpt2 model: builds an analytic profile (instead of --model/--profile)")


def _add_device_args(g, *, devices_file: bool = True) -> None:
    g.add_argument("--client-device", metavar="NAME",
                   help="client device preset (see `splittui devices`; default laptop-cpu for configs, the "
                        "profile's measured times otherwise; 'measured' keeps them)")
    g.add_argument("--server-device", metavar="NAME",
                   help="server device preset (default a100-80gb for configs, measured times otherwise)")
    g.add_argument("--dtype", metavar="DTYPE",
                   help=f"weight precision, one of {'|'.join(DTYPE_CHOICES)} (default bf16 for configs; "
                        "the paper's zoo profiles are fp32); int8 and int4 count as llama.cpp's Q8_0 and Q4_0 "
                        "(8.5 and 4.5 bits per weight), q4_k_m as its Q4_K_M (4.85 bits)")
    g.add_argument("--runtime", metavar="NAME",
                   help="the inference runtime that times the devices (llama.cpp-cuda, llama.cpp-metal, llama.cpp-cpu, "
                        "llama.cpp-opencl, llama.cpp-vulkan, mlc, tensorrt-llm, vllm, torch): a device model fitted to "
                        "published measurements, with its error band (`splittui devices --check`); default: the "
                        "uncalibrated roofline")
    if devices_file:
        g.add_argument("--devices", metavar="FILE",
                       help="your own devices in a TOML or JSON file (see docs/formats/devices.md)")


def _user_devices(args: argparse.Namespace):
    path = getattr(args, "devices", None)
    if not path:
        return None
    from ..devices import load_device_file

    return load_device_file(path)


def _check_dtype(args: argparse.Namespace) -> None:
    dtype = getattr(args, "dtype", None)
    if dtype is not None and dtype not in DTYPE_CHOICES:
        raise SplittuiError(f"--dtype: unknown dtype {dtype!r} (choose from {', '.join(DTYPE_CHOICES)})")


def load_named(args: argparse.Namespace, name: str, *, include_seq: Sequence[int] = (),
               hf_config: bool = False) -> Profile:
    """A shipped profile, profile file, shipped config or config file, with this command's LLM flags."""
    from ..llm import load_any

    _check_dtype(args)
    return load_any(name, dtype=getattr(args, "dtype", None), client_device=getattr(args, "client_device", None),
                    server_device=getattr(args, "server_device", None), include_seq=include_seq,
                    devices=_user_devices(args), hf_config=hf_config, runtime=getattr(args, "runtime", None))


def profile_from_llm_args(args: argparse.Namespace, default: str = "gpt2-like",
                          include_seq: Sequence[int] = ()) -> Profile:
    """--hf-config, else --profile, else --model (zoo or shipped config), else `default`."""
    hf = getattr(args, "hf_config", None)
    if hf and (getattr(args, "profile", None) or getattr(args, "model", None)):
        raise SplittuiError("--hf-config: give either --hf-config or --model/--profile, not both")
    seq = getattr(args, "seq", None)
    seqs = [*include_seq, *([seq] if isinstance(seq, int) else [])]
    if hf:
        return load_named(args, hf, include_seq=seqs, hf_config=True)
    name = getattr(args, "profile", None) or getattr(args, "model", None) or default
    return load_named(args, name, include_seq=seqs)


def estimate_note(profile: Profile) -> str | None:
    """One line saying the times are estimates (roofline presets, or a variant estimated from a measured
    profile: ``source.kind``), or None for measured profiles."""
    src = profile.source
    kind = str(src.get("kind", ""))
    if "estimate" in kind:
        return (f"note: {profile.model}: the costs are an estimate (source.kind = {kind!r}; "
                f"see its 'source' field and profiles/README.md)")
    if not src.get("estimate") and "estimate" not in str(src.get("client", "")) + str(src.get("server", "")):
        return None
    client = src.get("client_device") or "the profile's own"
    server = src.get("server_device") or "the profile's own"
    dtype = src.get("dtype") or profile.extra.get("dtype") or "fp32"
    how = (f"ESTIMATES of the device model fitted on {src['runtime']}" if src.get("runtime")
           else "roofline ESTIMATES")
    return (f"{profile.model}: times are {how} (client {client}, server {server}, {dtype} weights; "
            "`splittui devices` lists the sources)")

"""Where `server_ms` comes from: a named roofline preset, or a measurement (CUDA or this CPU).

A preset's time for a stage is

    max(flops / (peak * eff), bytes_moved / (bandwidth * eff_mem)) + kernels * launch_ms

with bytes_moved = state in + state out + weights + 2 x large intermediates (attention scores),
all fp32, and `kernels` the number of non-view ATen ops the stage runs (counted on this CPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import SplittuiError

__all__ = ["Roofline", "Measured", "PRESETS", "parse_server", "SERVER_CHOICES"]


@dataclass(frozen=True)
class Roofline:
    name: str
    label: str
    peak_gflops: float
    mem_gbps: float
    eff: float = 0.6
    eff_mem: float = 0.7
    launch_ms: float = 0.005

    measured = False

    def time_ms(self, flops: float, bytes_moved: float, kernels: int) -> float:
        compute = flops / (self.peak_gflops * 1e9 * self.eff)
        memory = bytes_moved / (self.mem_gbps * 1e9 * self.eff_mem)
        return max(compute, memory) * 1e3 + kernels * self.launch_ms

    def describe(self) -> str:
        return (f"{self.label} roofline preset '{self.name}': max(FLOP/({self.peak_gflops:g} GFLOP/s x "
                f"{self.eff:g}), bytes/({self.mem_gbps:g} GB/s x {self.eff_mem:g})) + "
                f"{self.launch_ms * 1e3:g} us x kernels; bytes = state in + out + weights + 2 x scores (fp32)")


@dataclass(frozen=True)
class Measured:
    name: str
    device: str          # "cuda" or "cpu"
    threads: int = 1

    measured = True


PRESETS = {
    "rtx3090": Roofline("rtx3090", "NVIDIA RTX 3090 (fp32, the paper's server)", 35_600.0, 936.0),
    "a100": Roofline("a100", "NVIDIA A100 SXM4 80GB (fp32, no TF32)", 19_500.0, 2_039.0),
    "h100": Roofline("h100", "NVIDIA H100 SXM (fp32, no TF32)", 67_000.0, 3_350.0),
}
SERVER_CHOICES = (*PRESETS, "cuda", "cpu", "cpu:N")


# the device presets (splittui.devices) these rooflines stand for; any other preset gets a roofline
# from its datasheet numbers (fp32 peak, memory bandwidth)
_BY_DEVICE = {"rtx3090": "rtx3090", "a100-80gb": "a100", "h100-sxm": "h100"}


def parse_server(text: str) -> Roofline | Measured:
    """cuda | cpu | cpu:N (N torch threads; default cpu_count - 1 or 1) | a device preset by name, alias
    or unique prefix (rtx3090, a100 = a100-80gb, h100 = h100-sxm, l4, ...: see `splittui devices`)."""
    if text == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SplittuiError("--server cuda: no CUDA device is available here; use "
                                "rtx3090, a100, h100 or cpu[:THREADS]")
        return Measured("cuda", "cuda")
    if text == "cpu" or text.startswith("cpu:"):
        return Measured(text, "cpu", _cpu_threads(text))
    from ..devices import PRESETS as DEVICES
    from ..devices import device_name

    name = text if text in PRESETS else device_name(text, flag="--server", extra=("cuda", "cpu[:THREADS]"))
    if name in PRESETS:
        return PRESETS[name]
    if name in _BY_DEVICE:
        return PRESETS[_BY_DEVICE[name]]
    if name not in DEVICES:
        raise SplittuiError(f"--server {text}: {name} is measured, not a roofline preset; use cpu[:THREADS]")
    d = DEVICES[name]
    return Roofline(d.name, f"{d.label} (fp32)", d.fp32_tflops * 1e3, d.mem_gbps)


def _cpu_threads(text: str) -> int:
    if text == "cpu":
        return max(1, (os.cpu_count() or 2) - 1)
    try:
        n = int(text.split(":", 1)[1])
    except ValueError:
        n = 0
    if n <= 0:
        raise SplittuiError(f"server {text!r}: the thread count after 'cpu:' must be a positive integer")
    return n

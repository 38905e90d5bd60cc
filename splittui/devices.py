"""Device presets and the roofline that turns FLOPs and bytes into an *estimated* time (SPEC §9).

A layer's time on a device is ``max(flops/(peak·eff_c), bytes/(bw·eff_m)) + kernels·overhead``. Peak is
the dense (no sparsity) rate for the compute dtype: fp32 for fp32 weights, 16-bit otherwise (int8/int4
are weight-only: the products run in fp16). Every preset cites its datasheet; every time made from
one is an estimate until a measurement on that device confirms it.

Users add devices in a TOML or JSON file (``--devices FILE``)::

    [devices.my-npu]            # JSON: {"devices": {"my-npu": {...}}}
    role = "client"             # client | server
    fp32_tflops = 1.2
    fp16_tflops = 4.8
    mem_gbps = 51.2
    source = "vendor datasheet, 2024"   # optional; eff_compute, eff_mem, overhead_us, mem_gb, label too

``this-cpu`` is measured: a ~10-second numpy matmul and memory-copy micro-benchmark, cached in the
user cache directory (platformdirs) per machine.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .errors import SplittuiError

__all__ = ["Device", "PRESETS", "ALIASES", "DEFAULT_CLIENT", "DEFAULT_SERVER", "resolve_device", "device_name",
           "load_device_file", "device_names", "measure_this_cpu", "this_cpu", "memory_source",
           "MEMORY_SOURCES"]

DEFAULT_CLIENT = "laptop-cpu"
DEFAULT_SERVER = "a100-80gb"


@dataclass(frozen=True, slots=True)
class Device:
    """A roofline device model: dense peaks, memory bandwidth, efficiencies and per-kernel overhead."""

    name: str
    role: str            # client | server (a hint for pickers; any device may play either side)
    label: str
    fp32_tflops: float
    fp16_tflops: float
    mem_gbps: float
    source: str
    mem_gb: float = 0.0
    eff_compute: float = 0.6
    eff_mem: float = 0.8
    overhead_us: float = 5.0
    measured: bool = False
    app_mem_gb: float = 0.0   # GiB an app may use (phones: what the OS leaves); 0: all of mem_gb
    # Dense FP16 tensor rate with FP16 accumulate where it exceeds fp16_tflops (0: the same). GeForce cards run
    # FP16-accumulate MMA at twice their FP32-accumulate rate, the figure fp16_tflops lists; datacenter and
    # professional cards run both at one rate. llama.cpp's GPU kernels accumulate in FP16 (calibration.py).
    fp16_acc16_tflops: float = 0.0

    def usable_bytes(self) -> float | None:
        """Memory a model may use on this device, bytes (GiB as memory is sold); None when unknown."""
        gib = self.app_mem_gb or self.mem_gb
        return gib * 2 ** 30 if gib > 0 else None

    def time_ms(self, flops: float, bytes_moved: float, kernels: int = 1, *, fp32: bool = False) -> float:
        peak = (self.fp32_tflops if fp32 else self.fp16_tflops) * 1e12 * self.eff_compute
        compute = flops / peak
        memory = bytes_moved / (self.mem_gbps * 1e9 * self.eff_mem)
        return (compute if compute > memory else memory) * 1e3 + kernels * self.overhead_us * 1e-3

    def doc(self) -> dict[str, Any]:
        """The fields as a dict, without ``fp16_acc16_tflops`` where it is 0 (unset), so a device without it keeps
        the profile key and the policy-file definition it had before the field existed."""
        out = asdict(self)
        if not self.fp16_acc16_tflops:
            del out["fp16_acc16_tflops"]
        return out

    def describe(self) -> str:
        kind = "measured roofline" if self.measured else "roofline estimate"
        return (f"{self.name} ({self.label}): {kind}, {self.fp16_tflops:g} TFLOP/s 16-bit / {self.fp32_tflops:g} fp32 "
                f"x {self.eff_compute:g}, {self.mem_gbps:g} GB/s x {self.eff_mem:g}, {self.overhead_us:g} us/kernel "
                f"[source: {self.source}]")


def _p(name: str, role: str, label: str, fp32: float, fp16: float, gbps: float, gb: float, source: str,
       eff_c: float, eff_m: float, ovh: float) -> Device:
    return Device(name, role, label, fp32, fp16, gbps, source, gb, eff_c, eff_m, ovh)


# Peaks are dense (sparsity figures halved). Efficiencies: what large GEMMs / streaming reach in practice.
PRESETS: dict[str, Device] = {d.name: d for d in (
    _p("h100-sxm", "server", "NVIDIA H100 SXM5 80GB", 67.0, 989.0, 3350.0, 80,
       "NVIDIA H100 Tensor Core GPU datasheet: FP32 67 TFLOPS, BF16/FP16 1,979 TFLOPS with sparsity "
       "(989 dense), HBM3 3.35 TB/s", 0.6, 0.8, 5.0),
    _p("a100-80gb", "server", "NVIDIA A100 SXM4 80GB", 19.5, 312.0, 2039.0, 80,
       "NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5 TFLOPS, BF16/FP16 Tensor 312 TFLOPS dense, "
       "HBM2e 2,039 GB/s (80GB SXM)", 0.6, 0.8, 5.0),
    _p("l4", "server", "NVIDIA L4 24GB", 30.3, 121.0, 300.0, 24,
       "NVIDIA L4 Tensor Core GPU datasheet: FP32 30.3 TFLOPS, FP16/BF16 242 TFLOPS with sparsity "
       "(121 dense), GDDR6 300 GB/s", 0.6, 0.8, 5.0),
    _p("rtx4090", "server", "NVIDIA GeForce RTX 4090", 82.6, 165.2, 1008.0, 24,
       "NVIDIA Ada Lovelace GPU architecture whitepaper, appendix table: RTX 4090 FP32 82.6 TFLOPS, FP16 "
       "Tensor (FP32 accumulate) 165.2 dense (FP16 accumulate 330.3 dense), GDDR6X 1,008 GB/s", 0.6, 0.8, 5.0),
    _p("rtx3090", "server", "NVIDIA GeForce RTX 3090", 35.6, 71.0, 936.0, 24,
       "NVIDIA Ampere GA102 GPU architecture whitepaper: RTX 3090 FP32 35.6 TFLOPS, FP16 Tensor "
       "(FP32 accumulate) 71 dense (FP16 accumulate 142 dense), GDDR6X 936 GB/s", 0.6, 0.8, 5.0),
    _p("laptop-cpu", "client", "Intel Core i7-1360P laptop CPU (4P+8E cores)", 0.7, 0.7, 83.2, 16,
       "Intel ARK i7-1360P: LPDDR5-5200 128-bit, 83.2 GB/s; peak derived: 4 P-cores x 32 FP32 FLOP/cycle "
       "x 3.0 GHz + 8 E-cores x 16 x 2.5 GHz ~ 0.7 TFLOPS (AVX2 FMA; no fast 16-bit path)", 0.5, 0.6, 10.0),
    _p("apple-m2", "client", "Apple M2 laptop (10-core GPU, Metal)", 3.6, 3.6, 100.0, 24,
       "Apple newsroom, 'Apple unveils M2' (June 2022): GPU up to 3.6 TFLOPS, 100 GB/s unified memory "
       "bandwidth, up to 24 GB", 0.5, 0.7, 10.0),
    _p("jetson-orin", "client", "NVIDIA Jetson AGX Orin 64GB", 5.3, 42.5, 204.8, 64,
       "NVIDIA Jetson AGX Orin series data sheet: Ampere GPU 2048 CUDA cores / 64 Tensor Cores, 5.3 FP32 "
       "TFLOPS, 170 sparse INT8 TOPS (GPU) = 42.5 dense FP16, LPDDR5 256-bit 204.8 GB/s", 0.5, 0.7, 10.0),
    _p("phone-soc", "client", "flagship phone SoC (Snapdragon 8 Gen 3 class, GPU)", 4.6, 4.6, 76.8, 12,
       "Qualcomm Snapdragon 8 Gen 3 product brief: LPDDR5X 4800 MHz 64-bit = 76.8 GB/s; Adreno 750 "
       "~4.6 FP32 TFLOPS is a third-party estimate (Qualcomm publishes none)", 0.3, 0.6, 20.0),
    _p("raspberry-pi-5", "client", "Raspberry Pi 5 (4x Cortex-A76 2.4 GHz)", 0.154, 0.307, 17.1, 8,
       "Raspberry Pi 5 product brief: BCM2712 4x Cortex-A76 2.4 GHz, 32-bit LPDDR4X-4267 (17.1 GB/s); "
       "peak derived: 4 cores x 16 FP32 FLOP/cycle (2x128-bit NEON FMA) x 2.4 GHz, FP16 twice", 0.5, 0.6, 5.0),
)}

_NUMBER_KEYS = ("fp32_tflops", "fp16_tflops", "mem_gbps", "mem_gb", "eff_compute", "eff_mem", "overhead_us",
                "app_mem_gb", "fp16_acc16_tflops")
# Memory (SPEC §10): mem_gb above is the datasheet's capacity (GiB). Jetson Orin variants differ in memory and
# speed; on phones the OS and other apps keep part of it: app_mem_gb is what one app can count on.
PRESETS.update({d.name: d for d in (
    _p("jetson-orin-nano-8gb", "client", "NVIDIA Jetson Orin Nano 8GB", 1.28, 10.2, 68.0, 8,
       "NVIDIA Jetson Orin Nano series data sheet: 1024 CUDA cores / 32 Tensor Cores at 625 MHz (FP32 = "
       "1024 x 2 x 0.625 GHz), 40 sparse INT8 TOPS = 10 dense FP16, 128-bit LPDDR5 68 GB/s, 8 GB", 0.5, 0.7, 10.0),
    _p("jetson-orin-nx-16gb", "client", "NVIDIA Jetson Orin NX 16GB", 1.88, 15.0, 102.4, 16,
       "NVIDIA Jetson Orin NX series data sheet: 1024 CUDA cores / 32 Tensor Cores at 918 MHz, 128-bit LPDDR5 "
       "102.4 GB/s, 16 GB; dense FP16 scaled from the AGX Orin 64GB by Tensor Cores x clock", 0.5, 0.7, 10.0),
    _p("jetson-agx-orin-32gb", "client", "NVIDIA Jetson AGX Orin 32GB", 3.33, 26.6, 204.8, 32,
       "NVIDIA Jetson AGX Orin series data sheet: 1792 CUDA cores / 56 Tensor Cores at 930 MHz, 108 sparse "
       "INT8 TOPS (GPU) = 27 dense FP16, 256-bit LPDDR5 204.8 GB/s, 32 GB", 0.5, 0.7, 10.0),
)})
PRESETS["phone-soc"] = replace(PRESETS["phone-soc"], app_mem_gb=8.0)
# GeForce FP16-accumulate tensor peaks (dense), from the same whitepaper tables as fp16_tflops above: Ada RTX 4090
# "Peak FP16 Tensor TFLOPS with FP16 Accumulate" 330.3 (660.6 sparse), GA102 RTX 3090 142 (284 sparse).
PRESETS["rtx4090"] = replace(PRESETS["rtx4090"], fp16_acc16_tflops=330.3)
PRESETS["rtx3090"] = replace(PRESETS["rtx3090"], fp16_acc16_tflops=142.0)
MEMORY_SOURCES: dict[str, str] = {
    "phone-soc": "12 GB LPDDR5X (Samsung Galaxy S24 Ultra, Snapdragon 8 Gen 3); an app can count on about 8 GB: "
                 "Android's low-memory killer reclaims apps beyond what the OS, system services and the "
                 "foreground UI keep resident (~3-4 GB on 12 GB flagships): an estimate, measure with "
                 "`adb shell dumpsys meminfo`",
    "jetson-orin": "64 GB LPDDR5 shared by CPU and GPU (Jetson AGX Orin 64GB data sheet)",
    "a100-80gb": "80 GB HBM2e (A100 80GB datasheet; nvidia-smi reports 81920 MiB)",
}


def memory_source(name: str) -> str:
    """Where a preset's memory figure comes from."""
    d = PRESETS.get(name)
    return MEMORY_SOURCES.get(name, f"{d.mem_gb:g} GB from its datasheet: {d.source}" if d else "user device")


_REQUIRED = ("role", "fp32_tflops", "fp16_tflops", "mem_gbps")
_ALLOWED = set(_NUMBER_KEYS) | {"role", "label", "source"}


# Other names for the presets, one table for every command and the app (`profile --server a100` and
# `--server-device a100` name the same device). A unique prefix of a name works too ("jetson").
ALIASES: dict[str, str] = {
    "a100": "a100-80gb",
    "h100": "h100-sxm",
    "orin": "jetson-orin",
    "jetson": "jetson-orin",   # the AGX Orin 64 GB, the first Jetson preset (the smaller Orins are named in full)
    "m2": "apple-m2",
    "rpi5": "raspberry-pi-5",
    "pi5": "raspberry-pi-5",
    "4090": "rtx4090",
    "3090": "rtx3090",
}


def device_names(user: dict[str, Device] | None = None) -> list[str]:
    return [*PRESETS, "this-cpu", *(user or {})]


def device_name(name: str, *, user: dict[str, Device] | None = None, flag: str = "--device",
                extra: tuple[str, ...] = ()) -> str:
    """The device a name means: an exact name (a user device first), an alias (``a100``), or a unique
    prefix of a name (``jetson``). `extra` are further names the caller accepts as they are (e.g.
    ``measured``, ``cpu``). An ambiguous prefix lists its matches; an unknown name lists every choice."""
    names = [*(user or {}), *(n for n in device_names() if n not in (user or {})), *extra]
    if name in names:
        return name
    if name in ALIASES:
        return ALIASES[name]
    matches = [n for n in names if n.startswith(name)] if name else []
    matches += [ALIASES[a] for a in ALIASES if name and a.startswith(name) and ALIASES[a] not in matches]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SplittuiError(f"{flag}: {name!r} is ambiguous: it could be {', '.join(matches)}")
    aliases = ", ".join(f"{a}={n}" for a, n in ALIASES.items())
    raise SplittuiError(f"{flag}: unknown device {name!r} (known: {', '.join(names)}; aliases: {aliases}; "
                        "a unique prefix works too; add your own with --devices FILE)")


def resolve_device(name: str | Device, *, user: dict[str, Device] | None = None, flag: str = "--device") -> Device:
    """A preset, a user device, or `this-cpu` (measured once, then cached); by name, alias or unique prefix."""
    if isinstance(name, Device):
        return name
    name = device_name(name, user=user, flag=flag)
    if user and name in user:
        return user[name]
    if name in PRESETS:
        return PRESETS[name]
    return this_cpu()


# ---------------------------------------------------------------- user device files

def load_device_file(path: str | os.PathLike[str]) -> dict[str, Device]:
    """Read a TOML (.toml) or JSON device file; every problem is one line naming the file and field."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SplittuiError(f"--devices {p}: cannot read file ({exc.strerror or exc})") from None
    doc = _parse(p, raw)
    table = doc.get("devices", doc) if isinstance(doc, dict) else None
    if not isinstance(table, dict) or not table:
        raise SplittuiError(f"--devices {p}: expected a table 'devices' of named devices")
    return {str(name): _device_from(p, str(name), spec) for name, spec in table.items()}


def _parse(p: Path, raw: bytes) -> object:
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise SplittuiError(f"--devices {p}: TOML needs Python 3.11+; write the file as JSON") from None
        try:
            return tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SplittuiError(f"--devices {p}: not valid TOML ({exc})") from None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SplittuiError(f"--devices {p}: not valid JSON ({exc}); use .toml for TOML") from None


def _device_from(p: Path, name: str, spec: object) -> Device:
    where = f"--devices {p}: device '{name}'"
    if not isinstance(spec, dict):
        raise SplittuiError(f"{where}: must be a table of fields")
    for key in spec:
        if key not in _ALLOWED:
            raise SplittuiError(f"{where}: field '{key}': unknown (allowed: {', '.join(sorted(_ALLOWED))})")
    for key in _REQUIRED:
        if key not in spec:
            raise SplittuiError(f"{where}: field '{key}': missing")
    if spec["role"] not in ("client", "server"):
        raise SplittuiError(f"{where}: field 'role': must be client or server, got {spec['role']!r}")
    nums: dict[str, Any] = {k: _number(where, k, spec[k]) for k in _NUMBER_KEYS if k in spec}
    for k in ("eff_compute", "eff_mem"):
        if k in nums and nums[k] > 1:
            raise SplittuiError(f"{where}: field '{k}': must be in (0, 1], got {nums[k]}")
    return Device(name=name, role=spec["role"], label=str(spec.get("label", name)),
                  source=str(spec.get("source", f"user device file {p}")), **nums)


def _number(where: str, key: str, value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:  # type: ignore[operator]
        raise SplittuiError(f"{where}: field '{key}': must be a finite number > 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------- this-cpu: measured, cached

def _cache_path() -> Path:
    from platformdirs import user_cache_dir

    root = Path(os.environ.get("SPLITTUI_CACHE_DIR") or user_cache_dir("splittui"))
    return root / "this-cpu.json"


def _machine_key() -> str:
    import numpy as np

    return f"{platform.node()}|{platform.machine()}|{platform.processor()}|{os.cpu_count()}|numpy {np.__version__}"


def this_cpu(*, seconds: float = 10.0, refresh: bool = False) -> Device:
    """This machine's CPU as a device: measured once (~`seconds`), then read from the cache."""
    path = _cache_path()
    key = _machine_key()
    if not refresh and path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("key") == key:
                return Device(**doc["device"])
        except (ValueError, TypeError, KeyError, OSError):
            pass  # a broken cache is measured again
    dev = measure_this_cpu(seconds=seconds)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": key, "device": asdict(dev)}, indent=1), encoding="utf-8")
    except OSError:
        pass  # an unwritable cache only costs a re-measurement next time
    return dev


def measure_this_cpu(*, seconds: float = 10.0) -> Device:
    """Half the time on an fp32 matmul (GFLOP/s), half on a large array copy (GB/s, read + write)."""
    import numpy as np

    n = 512
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    flops = _rate(lambda: a @ a, 2.0 * n ** 3, seconds / 2)
    src = np.ones(64 * 2 ** 20 // 8)  # 64 MiB, beyond any cache
    dst = np.empty_like(src)
    gbps = _rate(lambda: np.copyto(dst, src), 2.0 * src.nbytes, seconds / 2)
    source = (f"measured on this machine {time.strftime('%Y-%m-%d')}: numpy fp32 {n}x{n} matmul "
              f"{flops / 1e9:.1f} GFLOP/s, 64 MiB copy {gbps / 1e9:.1f} GB/s ({os.cpu_count()} CPUs)")
    return Device("this-cpu", "client", f"this machine's CPU ({platform.machine()})", flops / 1e12, flops / 1e12,
                  gbps / 1e9, source, 0.0, 1.0, 1.0, 2.0, measured=True)


def _rate(fn: Callable[[], object], work: float, seconds: float) -> float:
    """Best rate over repeated timed calls within `seconds` (the best run is the least disturbed)."""
    fn()  # warm up
    best = 0.0
    end = time.perf_counter() + max(seconds, 0.01)
    while True:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = max(best, work / max(dt, 1e-9))
        if t0 + dt >= end:
            return best

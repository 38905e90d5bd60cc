"""Measured energy where this machine exposes it: Intel RAPL package counters under /sys/class/powercap.

`splittui run` reads them around the timed requests, beside the predicted client joules (docs/energy.md).
RAPL counts the whole CPU package: the client *and* the server process of a local run, and anything else
running, so the measurement bounds the client's share from above. Where the counters are missing or not
readable (no Intel RAPL, a container, permissions: since 2020 kernels often make energy_uj root-only), the
reading says why and every energy figure stays the model's estimate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RaplReading", "rapl_zones", "read_uj", "rapl_status", "measure"]

POWERCAP = Path("/sys/class/powercap")


def rapl_zones(root: Path = POWERCAP) -> list[Path]:
    """The package-level RAPL zones (intel-rapl:0, intel-rapl:1, …; subzones such as :0:0 are left out)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1 and (p / "energy_uj").exists())


def read_uj(zones: list[Path]) -> list[int]:
    return [int((z / "energy_uj").read_text().strip()) for z in zones]


def rapl_status(root: Path = POWERCAP) -> tuple[bool, str]:
    """(readable, why): whether package energy can be measured here, and a sentence saying so."""
    if not root.is_dir():
        return False, f"{root} does not exist (no RAPL driver here: not Intel, a VM or a container)"
    zones = rapl_zones(root)
    if not zones:
        return False, f"{root} has no intel-rapl package zone"
    try:
        read_uj(zones)
    except (OSError, ValueError) as exc:
        return False, f"{zones[0]}/energy_uj is not readable ({exc.__class__.__name__}; often root-only)"
    return True, f"RAPL package zones {', '.join(z.name for z in zones)}"


@dataclass(frozen=True, slots=True)
class RaplReading:
    joules: float      # package energy over the interval, all zones, wrap-around handled
    seconds: float


def measure(zones: list[Path], before: list[int], t0: float) -> RaplReading:
    """Joules since `before` (taken at perf_counter `t0`), each counter's wrap-around undone."""
    after = read_uj(zones)
    total = 0
    for z, a, b in zip(zones, before, after, strict=True):
        if b < a:
            try:
                top = int((z / "max_energy_range_uj").read_text().strip())
            except (OSError, ValueError):
                top = 0
            b += top
        total += b - a
    return RaplReading(joules=total * 1e-6, seconds=time.perf_counter() - t0)

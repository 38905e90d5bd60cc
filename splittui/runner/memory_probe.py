"""Resident memory of a process, read from Linux's /proc (issue 25 item 5): now, the peak, and a reset of
the peak (``/proc/PID/clear_refs``, Linux ≥ 4.0), so one request's peak can be read apart from the build's.

Elsewhere (no /proc) every reading is None and `splittui run` says memory was not measured.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["rss_bytes", "peak_bytes", "reset_peak", "param_bytes"]


def _status(pid: int | None, key: str) -> int | None:
    path = Path(f"/proc/{'self' if pid is None else pid}/status")
    try:
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024     # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes(pid: int | None = None) -> int | None:
    """Resident set size now (VmRSS), bytes."""
    return _status(pid, "VmRSS")


def peak_bytes(pid: int | None = None) -> int | None:
    """Peak resident set size since the process began or since `reset_peak` (VmHWM), bytes."""
    return _status(pid, "VmHWM")


def reset_peak(pid: int | None = None) -> bool:
    """Reset the peak to the current RSS (writes 5 to clear_refs); False where that is not possible."""
    try:
        Path(f"/proc/{'self' if pid is None else pid}/clear_refs").write_text("5", encoding="ascii")
        return True
    except OSError:
        return False


def param_bytes(modules) -> int:
    """Bytes of the parameters and buffers of torch modules (a tensor shared by several counted once)."""
    seen: set[int] = set()
    total = 0
    for module in modules:
        for t in (*module.parameters(), *module.buffers()):
            key = t.data_ptr()
            if key in seen:
                continue
            seen.add(key)
            total += t.numel() * t.element_size()
    return total

"""Where a profile's times come from, in one line: what `solve`, `sweep`, `run` and the app show.

    client: measured, 1 thread, AMD EPYC · server: roofline estimate rtx3090

Built from the profile's ``source`` (written by `splittui profile`); a source it cannot read is
shown as the profile says it, shortened. Pure: no torch, textual or rich.
"""

from __future__ import annotations

import re
from typing import Any

from .model import Profile

__all__ = ["provenance", "client_text", "server_text"]


def _short(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _preset(source: dict[str, Any], side: str) -> str | None:
    """"roofline estimate jetson-orin" where the side was timed on a device preset (analytic or re-timed), or
    "llama.cpp-cuda estimate jetson-orin" where a runtime's fitted device model timed it (docs/device-model.md)."""
    text = str(source.get(side, ""))
    name = source.get(f"{side}_device")
    how = f"{source['runtime']} estimate" if source.get("runtime") else "roofline estimate"
    return f"{how} {name}" if name and text.startswith("estimate") else None


def client_text(source: dict[str, Any]) -> str:
    """"measured, 1 thread, AMD EPYC" from a profiler's client line."""
    preset = _preset(source, "client")
    if preset:
        return preset
    text = str(source.get("client", ""))
    kind = str(source.get("kind", "unknown"))
    threads = re.search(r"(\d+) thread", text)
    cpu = re.split(r" \(|, torch", text, maxsplit=1)[0].strip()
    if not text:
        return kind
    if "roofline" in text and "measured" not in text:
        return f"roofline estimate, {_short(text, 32)}"
    if threads and cpu:
        n = int(threads.group(1))
        return f"{kind}, {n} thread{'s' * (n != 1)}, {cpu}"
    return f"{kind}, {_short(text)}"


def server_text(source: dict[str, Any]) -> str:
    """"roofline estimate rtx3090", "measured, CUDA <name>" or "measured, 2 threads, <cpu>"."""
    named = _preset(source, "server")
    if named:
        return named
    text = str(source.get("server", ""))
    preset = re.search(r"roofline preset '([\w.-]+)'", text)
    if preset:
        return f"roofline estimate {preset.group(1)}"
    cuda = re.match(r"measured on CUDA: ([^,]+)", text)
    if cuda:
        return f"measured, CUDA {cuda.group(1).strip()}"
    cpu = re.match(r"measured on this CPU \((.*?)\) with (\d+) torch thread", text)
    if cpu:
        n = int(cpu.group(2))
        return f"measured, {n} thread{'s' * (n != 1)}, {cpu.group(1)}"
    if "roofline" in text and "measured" not in text:
        return f"roofline estimate, {_short(text, 32)}"
    return _short(text) if text else "unknown"


def provenance(profile: Profile) -> str:
    """One line: where the client's and the server's times of ``profile`` come from."""
    return f"client: {client_text(profile.source)} · server: {server_text(profile.source)}"

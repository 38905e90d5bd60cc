"""The one-line provenance of a profile's times, from the `source` that `splittui profile` writes."""

from __future__ import annotations

import subprocess
import sys

from splittui.profiles import load_profile
from splittui.provenance import client_text, provenance, server_text

CLIENT = ("AMD EPYC (vm), torch 2.13.0+cpu, 1 thread(s); a warm-up pass over the chain, then per stage the median")


def test_shipped_profile_says_measured_client_and_roofline_server():
    line = provenance(load_profile("bert-base"))
    assert line.startswith("client: measured, 1 thread, ") and line.endswith("server: roofline estimate rtx3090")


def test_measured_cpu_and_cuda_servers():
    assert server_text({"server": "measured on this CPU (AMD EPYC) with 2 torch thread(s), warm-up"}) == \
        "measured, 2 threads, AMD EPYC"
    assert server_text({"server": "measured on CUDA: NVIDIA H200, torch 2.13"}) == "measured, CUDA NVIDIA H200"
    assert client_text({"kind": "measured", "client": CLIENT}) == "measured, 1 thread, AMD EPYC"


def test_unknown_source_is_shown_shortened_not_dropped():
    assert client_text({"kind": "analytic"}) == "analytic"
    assert server_text({"server": "x" * 200}).endswith("…") and server_text({}) == "unknown"


def test_provenance_is_pure():
    code = "import sys, splittui.provenance; print(any(m in sys.modules for m in ('torch', 'rich', 'textual')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

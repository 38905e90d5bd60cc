"""Counting a stage's kernels (a dispatch mode) neither needs nor imports torch._dynamo (~3 s a process:
every `splittui profile`, and each planning profile `splittui run` measures), and counts the same."""

from __future__ import annotations

import subprocess
import sys

import torch

import splittui.profiler.counting as counting

SCRIPT = """
import sys, torch
from splittui.profiler.counting import count_kernels
stage = torch.nn.Sequential(torch.nn.Embedding(50, 16), torch.nn.Linear(16, 16))
print(count_kernels(stage, (torch.randint(0, 50, (1, 8)),)), "torch._dynamo" in sys.modules)
"""


def test_kernels_are_counted_without_importing_dynamo():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2", "False"]


def test_the_count_is_the_one_torchs_own_wrapper_gives(monkeypatch):
    stage = torch.nn.Sequential(torch.nn.Embedding(50, 16), torch.nn.Linear(16, 16), torch.nn.GELU(),
                                torch.nn.LayerNorm(16))
    state = (torch.randint(0, 50, (1, 8)),)
    ours = counting.count_kernels(stage, state)
    monkeypatch.setattr(counting, "_skip_dynamo_import", lambda mode: None)
    assert counting.count_kernels(stage, state) == ours >= 4

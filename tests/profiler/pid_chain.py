"""A user chain (``--module tests/profiler/pid_chain.py:build``) whose one stage is slow only in a
process other than the one named by $PID_CHAIN_HOME: it shows where a stage was timed."""

from __future__ import annotations

import os
import time

import torch
from torch import nn

from splittui.profiler.chain import Chain, Stage

AWAY_S = 0.04


class _SlowAway(nn.Module):
    def forward(self, x):
        if str(os.getpid()) != os.environ.get("PID_CHAIN_HOME"):
            time.sleep(AWAY_S)
        return (x + 1.0,)


def build() -> Chain:
    return Chain(model="pid-chain", description="slow away from home",
                 stages=[Stage("away", "other", _SlowAway(), flops=lambda st: 1.0)],
                 make_input=lambda n: (torch.zeros(1, n, 4),))

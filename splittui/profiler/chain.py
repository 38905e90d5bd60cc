"""The chain contract every zoo model (and a user's own model) follows; imports torch.

A model is an explicit chain of stages. The state crossing a cut is a tuple of tensors: stage k's
``forward(*state)`` takes the tuple the previous stage returned and returns a tuple. Stage
boundaries are the cut points the solvers place; ``in_bytes`` of a stage is the measured size of
the tuple entering it. Running every stage in order equals the unsplit model's forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["Stage", "Chain", "state_bytes", "run_chain", "stage_of"]


@dataclass
class Stage:
    name: str                 # e.g. "h0.attn.core"
    kind: str                 # embedding | norm | linear | attention | activation | conv | pool | other
    module: torch.nn.Module   # forward(*state) -> tuple[torch.Tensor, ...]
    flops: Callable[[tuple], float] | None = None  # analytic FLOPs (2 per MAC) given the input state
    mac_flops: Callable[[tuple], float] | None = None  # the matmul/conv part of `flops` (2 x MACs)


@dataclass
class Chain:
    model: str
    description: str
    stages: list[Stage]
    make_input: Callable[[int], tuple]           # seq_len -> input state tuple (batch 1)
    reference: torch.nn.Module | None = None     # the unsplit model, for equivalence checks
    meta: dict = field(default_factory=dict)


def state_bytes(state: tuple) -> int:
    return int(sum(t.numel() * t.element_size() for t in state))


@torch.no_grad()
def run_chain(chain: Chain, state: tuple, start: int = 0, stop: int | None = None) -> tuple:
    """Run stages[start:stop] on a state tuple and return the state after them."""
    for stage in chain.stages[start:stop]:
        state = stage.module(*state)
        if not isinstance(state, tuple):
            state = (state,)
    return state


def stage_of(name: str, module: torch.nn.Module, kind: str | None = None) -> Stage:
    """A Stage from a module that states its costs with ``flop_parts(*state) -> (mac, other)``."""
    parts = getattr(module, "flop_parts", None)
    if parts is None:
        return Stage(name, kind or "other", module)
    return Stage(name, str(kind or getattr(module, "kind", "other")), module,
                 flops=lambda st: float(sum(parts(*st))), mac_flops=lambda st: float(parts(*st)[0]))

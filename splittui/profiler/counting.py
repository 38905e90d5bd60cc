"""Counting what a stage does without timing it: fvcore's multiply-adds and the ATen kernels run.

fvcore's FlopCountAnalysis counts multiply-adds (one MAC = one "flop"); it skips softmax, GELU,
adds, embedding lookups and others, listed as unsupported ops. Its tracing run also serves as a
warm-up run of the stage.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import torch

__all__ = ["FvcoreCount", "fvcore_count", "count_kernels", "MATMUL_OPS"]

MATMUL_OPS = frozenset({"linear", "matmul", "bmm", "mm", "addmm", "baddbmm", "einsum", "conv", "_convolution"})


@dataclass(frozen=True)
class FvcoreCount:
    total: float                              # multiply-adds, every supported op
    matmul: float                             # multiply-adds of matmul/linear/conv ops only
    by_operator: dict = field(default_factory=dict)
    unsupported: dict = field(default_factory=dict)


def fvcore_count(module: torch.nn.Module, state: tuple) -> FvcoreCount | None:
    """fvcore's count for one stage at one state; None if fvcore is missing or cannot trace it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return None
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            fca = FlopCountAnalysis(module, state)
            fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            by_op = {k: float(v) for k, v in fca.by_operator().items()}
            unsupported = dict(fca.unsupported_ops())
        except Exception:  # a user's module that jit.trace cannot follow: no cross-check, not fatal
            return None
    matmul = sum(v for k, v in by_op.items() if k in MATMUL_OPS)
    return FvcoreCount(float(sum(by_op.values())), matmul, by_op, unsupported)


def count_kernels(module: torch.nn.Module, state: tuple) -> int:
    """Non-view ATen ops one forward runs (a proxy for GPU kernel launches); 1 if uncountable."""
    try:
        from torch.utils._python_dispatch import TorchDispatchMode
    except ImportError:
        return 1

    class _Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not getattr(func, "is_view", False):
                _Count.n += 1
            return func(*args, **(kwargs or {}))

    _skip_dynamo_import(_Count)
    try:
        with torch.no_grad(), _Count():
            module(*state)
    except Exception:
        return 1
    return max(1, _Count.n)


def _skip_dynamo_import(mode: type) -> None:
    """torch wraps a dispatch mode's handler so that dynamo never traces it, and that wrapper imports
    torch._dynamo (~3 s, once per process) on its first call. Nothing here compiles, so the handler is
    marked as already wrapped (the attribute the wrapper caches it under); where torch names it otherwise
    this does nothing and the count is the same, only slower to start."""
    raw = getattr(mode.__dict__.get("__torch_dispatch__"), "__wrapped__", None)
    if raw is not None and not hasattr(raw, "__dynamo_disable"):
        setattr(raw, "__dynamo_disable", raw)

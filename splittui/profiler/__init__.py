"""splittui.profiler: the model zoo and live profiling; the only package (with runner/) that imports
torch and fvcore. Importing this package itself is cheap: the heavy names load on first use.

    from splittui.profiler import profile_model, ProfilingCancelled
    doc = profile_model("bert-base", [128, 256], repeats=3, server="rtx3090")
"""

from __future__ import annotations

__all__ = ["ProfilingCancelled", "profile_model", "load_factory", "ZOO_NAMES", "build", "PREFILL_TIMING",
           "DECODE_TIMING", "TIMING"]

# How `splittui profile` times stages, written into every profile it makes (``profiling.timing``):
# inside whole in-order forward passes, and inside in-order one-token decode steps over a KV cache,
# as a request runs them (run.py, decode.py). A planning profile without these was timed otherwise.
PREFILL_TIMING = "in-order passes"
DECODE_TIMING = "in-order decode steps"
TIMING = {"prefill": PREFILL_TIMING, "decode": DECODE_TIMING}


class ProfilingCancelled(Exception):
    """Raised by profile_model when its should_stop() callback returns True."""


def __getattr__(name: str):
    if name in ("profile_model", "load_factory"):
        from . import run

        return getattr(run, name)
    if name in ("ZOO_NAMES", "build"):
        from . import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'splittui.profiler' has no attribute {name!r}")

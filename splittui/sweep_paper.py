"""The paper's §IV-C side of the sweep (`splittui.sweep`): the numbers it reports (`PAPER`, one row per model
family, found by `paper_key`) and `rescale_server`, which scales a profile's server times to a given whole-model
client/server speedup (``--server-speedup``; the paper measured `PAPER_SPEEDUP`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .errors import SplittuiError
from .model import Profile

PAPER_SPEEDUP = 79.0      # the paper's server over its 1-core client, whole model

# The paper's §IV-C numbers: average share moved to the client (DP) and improvement over greedy, %.
PAPER: dict[str, dict[str, float | None]] = {
    "transformer": {"offload": 28.9, "improvement": 14.6},
    "bert": {"offload": 27.8, "improvement": 5.5},
    "gpt2-like": {"offload": 29.2, "improvement": 12.5},
    "cmt": {"offload": 44.3, "improvement": 55.4},
    "overall": {"offload": None, "improvement": 19.0},
}


def paper_key(model: str) -> str | None:
    """Which paper row a model name corresponds to (bert-base -> bert, cmt-s -> cmt)."""
    name = model.lower()
    if "@" in name:  # an attention variant: the paper's §IV-C numbers are for full attention
        return None
    for key in ("gpt2", "bert", "cmt", "transformer"):
        if key in name:
            return "gpt2-like" if key == "gpt2" else key
    return None


def rescale_server(profile: Profile, speedup: float) -> Profile:
    """The profile with every length's server_ms scaled so that sum(client_ms) / sum(server_ms) = speedup."""
    client = np.array([layer.client_ms for layer in profile.layers]).sum(axis=0)
    server = np.array([layer.server_ms for layer in profile.layers]).sum(axis=0)
    if not (server > 0).all():
        raise SplittuiError(f"--server-speedup: {profile.model} has a length whose server times are all 0")
    factor = client / (speedup * server)
    layers = tuple(replace(layer, server_ms=tuple(float(v) for v in np.array(layer.server_ms) * factor))
                   for layer in profile.layers)
    source = dict(profile.source, server=f"{profile.source.get('server', '')}; rescaled by --server-speedup "
                                         f"{speedup:g} (whole-model client/server = {speedup:g} at every length)")
    return replace(profile, layers=layers, source=source)

"""Build the same chain, with the same random weights, in the client and the server process.

A ``ChainSpec`` names the model (a zoo name, the runner's own ``runner-toy``, or ``module:function``
returning a Chain), whether to build the zoo's tiny variant, its attention variant, and the seed
every RNG is set to right before building. ``fingerprint`` hashes a sample of every weight so the
two sides can prove they hold the same model before any run.
"""

from __future__ import annotations

import hashlib
import importlib
import random
from dataclasses import dataclass

import torch

from ..errors import SplittuiError
from ..profiler.chain import Chain

__all__ = ["ChainSpec", "build_chain", "fingerprint", "outputs_match"]


@dataclass(frozen=True, slots=True)
class ChainSpec:
    model: str
    tiny: bool = False
    seed: int = 0
    attention: str = "full"   # a zoo text model's attention variant: full | lowrank:K | sparse:B

    def __post_init__(self) -> None:
        if self.attention != "full":  # a bad variant, or one on a model without attention cores, fails here,
            from ..profiler.zoo import check_variant  # before any process starts

            check_variant(self.model, _variant(self.attention))

    def check_seqs(self, seqs, flag: str = "--seq") -> None:
        """sparse:B needs every length >= B; said before any profile is measured or process started."""
        if self.attention != "full":
            _variant(self.attention).check_seq(list(seqs), flag=flag)

    def to_dict(self) -> dict:
        return {"model": self.model, "tiny": self.tiny, "seed": self.seed, "attention": self.attention}


def _variant(label: str):
    """The zoo's Attention for ``label`` (full | lowrank:K | sparse:B); a bad one is a SplittuiError."""
    from ..attention import parse_attention

    return parse_attention(label)


def _factory(spec: ChainSpec):
    from .toy import TOY_NAME, build_toy

    if spec.model == TOY_NAME:
        return build_toy
    if ":" in spec.model:
        mod, _, fn = spec.model.partition(":")
        return getattr(importlib.import_module(mod), fn)
    try:
        from ..profiler import zoo
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("splittui.profiler"):
            raise SplittuiError("the model zoo (splittui.profiler.zoo) is not built yet; "
                                "only --model runner-toy works") from None
        raise
    if spec.attention != "full":
        attention = _variant(spec.attention)
        return lambda: zoo.build(spec.model, tiny=spec.tiny, attention=attention)
    return lambda: zoo.build(spec.model, tiny=spec.tiny)


@torch.no_grad()
def build_chain(spec: ChainSpec) -> Chain:
    """Seed every RNG, then build; the same spec gives bit-identical weights in any process."""
    factory = _factory(spec)
    random.seed(spec.seed)
    torch.manual_seed(spec.seed)
    chain = factory()
    for stage in chain.stages:
        stage.module.eval()
    return chain


@torch.no_grad()
def fingerprint(chain: Chain) -> str:
    """sha256 over every stage's parameter and buffer names, shapes and a strided sample of values."""
    h = hashlib.sha256()
    for i, stage in enumerate(chain.stages):
        for name, t in list(stage.module.named_parameters()) + list(stage.module.named_buffers()):
            flat = t.detach().reshape(-1)
            step = max(1, flat.numel() // 4096)
            sample = flat[::step].to(torch.float64) if flat.is_floating_point() else flat[::step].to(torch.int64)
            h.update(f"{i}.{name}{tuple(t.shape)}".encode())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]


def outputs_match(got: tuple, want: tuple, *, rtol: float = 1e-4, atol: float = 1e-5) -> tuple[bool, float]:
    """allclose on every tensor of two states; also the largest absolute difference seen."""
    if len(got) != len(want):
        return False, float("inf")
    worst, ok = 0.0, True
    for g, w in zip(got, want):
        if g.shape != w.shape or g.dtype != w.dtype:
            return False, float("inf")
        if g.is_floating_point():
            worst = max(worst, float((g - w).abs().max()) if g.numel() else 0.0)
            scale = float(w.abs().max()) if w.numel() else 0.0
            ok = ok and torch.allclose(g, w, rtol=rtol, atol=atol * max(1.0, scale))
        else:
            ok = ok and torch.equal(g, w)
    return ok, worst

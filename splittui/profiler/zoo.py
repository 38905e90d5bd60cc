"""The model zoo: the paper's four models as explicit chains, by name (random weights, no downloads).

``build(name, tiny=True)`` gives a small configuration (d=32, 2 blocks; a small CMT) for tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..attention import FULL, Attention
from ..errors import SplittuiError

if TYPE_CHECKING:  # importing this module stays torch-free: the CLI reads ZOO_NAMES
    from .chain import Chain

__all__ = ["ZOO_NAMES", "VARIANT_MODELS", "build", "check_variant"]

ZOO_NAMES = ("gpt2-like", "bert-base", "transformer", "cmt-s")
VARIANT_MODELS = ("gpt2-like", "bert-base", "transformer")  # whose attention cores a variant replaces


def check_variant(name: str, attention: Attention) -> None:
    """A variant other than full needs a zoo text model (cmt-s's attention is a different kind)."""
    if not attention.is_full and name not in VARIANT_MODELS:
        raise SplittuiError(f"--attention {attention.label}: model {name!r} has no attention core that the "
                            f"variants replace (they apply to {', '.join(VARIANT_MODELS)})")


def build(name: str, *, tiny: bool = False, attention: Attention = FULL) -> Chain:
    """The chain of zoo model `name` (eval mode, seeded random weights) with the given attention."""
    from . import cmt
    from . import text_models as tm

    builders = {
        "gpt2-like": lambda: tm.gpt2_like(tm.TINY_TEXT if tiny else tm.GPT2_LIKE, attention),
        "bert-base": lambda: tm.bert_base(tm.TINY_TEXT if tiny else tm.BERT_BASE, attention),
        "transformer": lambda: tm.transformer(tm.TINY_TEXT if tiny else tm.TRANSFORMER, attention),
        "cmt-s": lambda: cmt.cmt_s(cmt.TINY_CMT if tiny else cmt.CMT_S),
    }
    if name not in builders:
        raise SplittuiError(f"unknown zoo model {name!r}: choose one of {', '.join(ZOO_NAMES)}")
    check_variant(name, attention)
    from .server_proc import zoo_recipe

    chain = builders[name]()
    chain.meta["rebuild"] = zoo_recipe(name, tiny, attention)  # another process can build it again
    return chain

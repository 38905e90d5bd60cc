"""The model zoo: the paper's four models as explicit chains, by name (random weights, no downloads).

``build(name, tiny=True)`` gives a small configuration (d=32, 2 blocks; a small CMT) for tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SplittuiError

if TYPE_CHECKING:  # importing this module stays torch-free: the CLI reads ZOO_NAMES
    from .chain import Chain

__all__ = ["ZOO_NAMES", "build"]

ZOO_NAMES = ("gpt2-like", "bert-base", "transformer", "cmt-s")


def build(name: str, *, tiny: bool = False) -> Chain:
    """The chain of zoo model `name` (eval mode, seeded random weights)."""
    from . import cmt
    from . import text_models as tm

    builders = {
        "gpt2-like": lambda: tm.gpt2_like(tm.TINY_TEXT if tiny else tm.GPT2_LIKE),
        "bert-base": lambda: tm.bert_base(tm.TINY_TEXT if tiny else tm.BERT_BASE),
        "transformer": lambda: tm.transformer(tm.TINY_TEXT if tiny else tm.TRANSFORMER),
        "cmt-s": lambda: cmt.cmt_s(cmt.TINY_CMT if tiny else cmt.CMT_S),
    }
    if name not in builders:
        raise SplittuiError(f"unknown zoo model {name!r}: choose one of {', '.join(ZOO_NAMES)}")
    return builders[name]()

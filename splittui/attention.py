"""Attention variants: what ``--attention full|lowrank:K|sparse:B`` means, parsed and checked once.

- ``full``: softmax(q k^T / sqrt(d_h)) v over all positions (the zoo's default).
- ``lowrank:K``: Linformer. Keys and values are projected from ``s`` to ``K`` rows along the
  sequence (one projection each for k and v per attention core, shared by its heads), then ordinary
  attention over the ``K`` rows: cost linear in ``s``. The projection mixes positions, so in a
  causal model (gpt2-like, the transformer's decoder) it is a cost model, not a causal LM.
- ``sparse:B``: block-local attention. The sequence is cut into blocks of ``B`` tokens (the last
  one shorter when ``B`` does not divide ``s``) and each token attends to the tokens of its own
  block only (causal models: the earlier ones of its block). No global tokens.

A variant's costs live in its own profile: the shipped ``bert-base`` at ``lowrank:256`` is
``profiles/bert-base@lowrank-256.json`` (:func:`variant_name`). Pure Python; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SplittuiError

__all__ = ["Attention", "FULL", "KINDS", "parse_attention", "variant_name", "split_variant_name",
           "MAX_SIZE"]

KINDS = ("full", "lowrank", "sparse")
MAX_SIZE = 16_384  # the profiler's longest sequence
_SEP = "@"


@dataclass(frozen=True, slots=True)
class Attention:
    """One attention variant. `size` is K (lowrank) or B (sparse); 0 for full."""

    kind: str = "full"
    size: int = 0

    @property
    def label(self) -> str:
        """The flag's spelling: ``full``, ``lowrank:256``, ``sparse:64``."""
        return self.kind if self.kind == "full" else f"{self.kind}:{self.size}"

    @property
    def is_full(self) -> bool:
        return self.kind == "full"

    def describe(self) -> str:
        if self.kind == "lowrank":
            return f"low-rank (Linformer) attention: keys and values projected to {self.size} rows"
        if self.kind == "sparse":
            return f"block-local attention, blocks of {self.size} tokens, no global tokens"
        return "full attention"

    def check_seq(self, seq_lens: list[int] | tuple[int, ...], *, flag: str = "--seq") -> None:
        """A block must fit in the sequence: sparse:B needs every length >= B."""
        if self.kind == "sparse" and seq_lens and min(seq_lens) < self.size:
            raise SplittuiError(f"--attention {self.label}: block of {self.size} tokens is larger than "
                                f"{flag} {min(seq_lens)} (use a block <= the sequence length)")


FULL = Attention()


def parse_attention(text: str | None, *, flag: str = "--attention") -> Attention:
    """``full`` | ``lowrank:K`` | ``sparse:B`` -> Attention; anything else raises SplittuiError."""
    if text is None or text.strip() == "" or text.strip() == "full":
        return FULL
    kind, sep, size_text = text.strip().partition(":")
    usage = "use full, lowrank:K (K rows, e.g. lowrank:256) or sparse:B (block of B tokens, e.g. sparse:64)"
    if kind not in KINDS or kind == "full" or not sep:
        raise SplittuiError(f"{flag} {text!r}: unknown attention variant; {usage}")
    try:
        size = int(size_text)
    except ValueError:
        raise SplittuiError(f"{flag} {text!r}: {'K' if kind == 'lowrank' else 'B'} must be an integer; "
                            f"{usage}") from None
    if not 1 <= size <= MAX_SIZE:
        what = "rows K" if kind == "lowrank" else "block size B"
        raise SplittuiError(f"{flag} {text!r}: {what} must be between 1 and {MAX_SIZE:,}, got {size}")
    return Attention(kind, size)


def variant_name(model: str, attention: Attention) -> str:
    """Shipped-profile name of a model at a variant: ``bert-base@lowrank-256`` (full: ``bert-base``)."""
    if attention.is_full:
        return model
    return f"{model}{_SEP}{attention.kind}-{attention.size}"


def split_variant_name(name: str) -> tuple[str, Attention]:
    """Inverse of :func:`variant_name`; a name without ``@`` is the full model."""
    model, sep, tail = name.partition(_SEP)
    if not sep:
        return name, FULL
    kind, _, size = tail.partition("-")
    return model, parse_attention(f"{kind}:{size}", flag=f"profile name {name!r}:")

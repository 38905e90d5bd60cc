"""Pins by name (SPEC §10): ``--pin-client embed,head`` → layer indices of a profile.

A pin list is comma-separated items, each one of:

* ``7`` — a layer index; ``3-9`` — an index range, both ends included;
* ``embed`` — the layers before the first block; ``head`` — the layers after the last block (for an LLM
  config: ``ln_f`` and ``lm_head``). A block is a run of layers whose names share a first name part
  ending in a number (``h0``, ``enc3``); a chain without blocks has its first / last layer as these;
* ``first:K`` / ``last:K`` — every layer of the first / last K blocks;
* a layer name or any dotted prefix of names: ``h3`` (block 3), ``h3.attn`` or ``h3.attn.core``.
"""

from __future__ import annotations

import re

from .errors import SplittuiError
from .model import Profile

__all__ = ["parse_pins", "blocks_of", "pin_groups"]

_BLOCK = re.compile(r"^[A-Za-z_]*\d+$")


def blocks_of(names: list[str]) -> list[tuple[str, list[int]]]:
    """(block name, its layer indices) in chain order."""
    out: list[tuple[str, list[int]]] = []
    for i, name in enumerate(names):
        head = name.split(".", 1)[0]
        if "." in name and _BLOCK.match(head):
            if out and out[-1][0] == head:
                out[-1][1].append(i)
            else:
                out.append((head, [i]))
    return out


def pin_groups(names: list[str]) -> dict[str, list[int]]:
    """The named groups: embed (before the first block) and head (after the last)."""
    blocks = blocks_of(names)
    if not blocks:
        return {"embed": [0], "head": [len(names) - 1]}
    first, last = blocks[0][1][0], blocks[-1][1][-1]
    return {"embed": list(range(first)) or [0], "head": list(range(last + 1, len(names))) or [len(names) - 1]}


def _item(item: str, names: list[str], flag: str) -> list[int]:
    n = len(names)
    groups = pin_groups(names)
    if item in groups:
        return groups[item]
    kind, sep, k = item.partition(":")
    if sep and kind in ("first", "last"):
        if not k.isdigit() or int(k) <= 0:
            raise SplittuiError(f"{flag}: {item!r}: K must be a positive integer")
        blocks = blocks_of(names)
        if int(k) > len(blocks):
            raise SplittuiError(f"{flag}: {item!r}: the profile has {len(blocks)} blocks")
        chosen = blocks[: int(k)] if kind == "first" else blocks[-int(k):]
        return [i for _, idx in chosen for i in idx]
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo > hi or hi >= n:
            raise SplittuiError(f"{flag}: {item!r}: layers are 0..{n - 1}")
        return list(range(lo, hi + 1))
    hits = [i for i, name in enumerate(names) if name == item or name.startswith(item + ".")]
    if not hits:
        raise SplittuiError(f"{flag}: {item!r} names no layer (give indices 0..{n - 1}, ranges A-B, embed, head, "
                            f"first:K, last:K, or a block/layer name such as {names[min(1, n - 1)]})")
    return hits


def parse_pins(profile: Profile, text: str | None, *, flag: str = "--pin-client") -> tuple[int, ...]:
    """The layer indices a pin list names (sorted, distinct); empty for None or ''."""
    if not text:
        return ()
    names = [layer.name for layer in profile.layers]
    out: set[int] = set()
    for item in (t.strip() for t in text.split(",")):
        if item:
            out.update(_item(item, names, flag))
    return tuple(sorted(out))

"""StatusLine: one line under the knobs saying what is being planned and where its times come from
(`splittui.provenance`): measured, or a roofline **estimate** on a named preset, per side."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...model import Profile
from ...provenance import provenance

__all__ = ["StatusLine", "status_text"]


def status_text(profile: Profile, width: int = 1000) -> Text:
    """"qwen2.5-7b · 28 blocks · 7.62B · bf16 · client: roofline estimate laptop-cpu · server: …"; on a
    narrow line the model's size, then its name go first, so the provenance (and "estimate") stays."""
    arch = profile.extra.get("arch") if isinstance(profile.extra, dict) else None
    size = (f"{arch['n_layers']} blocks · {arch['params'] / 1e9:.2f}B" if isinstance(arch, dict)
            else f"{profile.n_layers} layers")
    dtype = profile.extra.get("dtype", "fp32") if isinstance(profile.extra, dict) else "fp32"
    line = provenance(profile)
    style = "yellow" if "estimate" in line else ""
    for head in (f"{profile.model} · {size} · {dtype} · ", f"{profile.model} · {dtype} · ", ""):
        if len(head) + len(line) <= width or not head:
            break
    text = Text(no_wrap=True, overflow="ellipsis")
    return text.append(head, "dim").append(line, style)


class StatusLine(Widget):
    """Shows `profile`; redraws only when the profile changes (not on every key press)."""

    DEFAULT_CSS = "StatusLine { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }"

    profile: reactive[Profile | None] = reactive(None)

    def render(self) -> Text:
        return Text("") if self.profile is None else status_text(self.profile, self.size.width)

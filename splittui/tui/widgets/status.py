"""StatusLine: one line under the knobs saying what is being planned and where its times come from
(`splittui.provenance`): measured, or a roofline **estimate** on a named preset, per side, with the
estimate's error band from the calibration (`--runtime`; "uncalibrated" without one). While only DP misses
the limits (`banner.dp_warning`), the line says that instead, on a warning's background: the same one line,
so a warning that comes and goes as a slider walks repaints this line and never lays out the screen."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...calibration_io import profile_bands, short_band
from ...model import Profile
from ...provenance import client_text, server_text
from ...tiers import Topology
from ..state import AppState
from .banner import dp_warning

__all__ = ["StatusLine", "status_text"]


def status_text(profile: Profile, width: int = 1000) -> Text:
    """"qwen2.5-7b · 28 blocks · 7.62B · bf16 · client: roofline estimate laptop-cpu · server: …"; on a
    narrow line the model's size, then its name go first, so the provenance (and "estimate") stays."""
    arch = profile.extra.get("arch") if isinstance(profile.extra, dict) else None
    size = (f"{arch['n_layers']} blocks · {arch['params'] / 1e9:.2f}B" if isinstance(arch, dict)
            else f"{profile.n_layers} layers")
    dtype = profile.extra.get("dtype", "fp32") if isinstance(profile.extra, dict) else "fp32"
    line = sided_provenance(profile)
    style = "yellow" if "estimate" in line else ""
    for head in (f"{profile.model} · {size} · {dtype} · ", f"{profile.model} · {dtype} · ", ""):
        if len(head) + len(line) <= width or not head:
            break
    text = Text(no_wrap=True, overflow="ellipsis")
    return text.append(head, "dim").append(line, style)


def sided_provenance(profile: Profile) -> str:
    """`provenance`'s line with the estimates' error bands (docs/device-model.md): each estimated side's
    band where the profile was timed by a calibrated runtime ("client: roofline estimate jetson-orin ±37 %
    (1 pt) · server: …"), else one "uncalibrated" at the end where any side is an estimate."""
    sides = (("client", client_text(profile.source)), ("server", server_text(profile.source)))
    if not profile.source.get("calibration"):
        line = " · ".join(f"{side}: {text}" for side, text in sides)
        return line + (" · uncalibrated" if any("estimate" in text for _, text in sides) else "")
    bands = profile_bands(profile.source)
    return " · ".join(f"{side}: {text}" + (f" {short_band(bands[side])}" if "estimate" in text else "")
                      for side, text in sides)


class StatusLine(Widget):
    """Shows `profile`, or DP's warning for `state`; redraws only when either changes (not on every key)."""

    DEFAULT_CSS = "StatusLine { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }"

    profile: reactive[Profile | None] = reactive(None)
    state: reactive[AppState | None] = reactive(None, always_update=True, repaint=False)

    def __init__(self, *, id: str | None = None, topology: Topology | None = None) -> None:
        super().__init__(id=id)
        self.topology = topology
        self.warning: Text | None = None

    def watch_state(self, st: AppState | None) -> None:
        warning = dp_warning(st)
        if (warning and warning.plain) != (self.warning and self.warning.plain):
            self.warning = warning
            self.set_class(warning is not None, "-warning")
            self.refresh()

    def render(self) -> Text:
        if self.warning is not None:
            return self.warning
        if self.profile is None:
            return Text("")
        if self.topology is not None:
            return tiers_text(self.profile, self.topology)
        return status_text(self.profile, self.size.width)


def tiers_text(profile: Profile, topo: Topology) -> Text:
    """"llama-3.1-8b · P phone (phone-soc) → E edge (jetson-orin) → C cloud (a100-80gb) · …": the chain."""
    chain = " → ".join(f"{ch} {t.name} ({t.device or 'own times'}{', ' + t.runtime if t.runtime else ''})"
                       for ch, t in zip(topo.letters, topo.tiers, strict=True))
    estimate = "estimate" in sided_provenance(profile)
    text = Text(no_wrap=True, overflow="ellipsis").append(f"{profile.model} · ", "dim").append(chain, "bold")
    return text.append(" · roofline estimates" if estimate else "", "yellow")

"""Controls: the knobs of a scenario (sliders and selectors) and their mapping to a `Scenario`, and
the pickers of the profile (model, client and server device, weight dtype, runtime) as a `ProfileChoice`.

The app sets knobs with `show()` (attributes down, no messages); a user's change posts
`ScenarioChanged` with the whole new scenario or `ModelChosen` with the whole new choice (messages up).
Knobs a profile cannot use (output tokens without decode costs, dtype and runtime of a measured profile)
are hidden.
"""

from __future__ import annotations

import math

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical

from ...model import OBJECTIVES, RADIO_KINDS, SIDES, Profile, Scenario
from ...tiers import Hop, Topology
from ..messages import ModelChosen, ScenarioChanged
from ..profile_choice import (
    ROOFLINE,
    ProfileChoice,
    device_choices,
    dtype_choices,
    model_label,
    runtime_choices,
    runtime_of,
    switch_model,
)
from .model_picker import ModelPicker
from .slider import Choice, Slider, linear_values, log_values

__all__ = ["Controls", "fmt_ms", "fmt_mbps", "seq_values", "GEN_TOKENS", "LIMITS"]

DEADLINES = log_values(1, 100_000)
BANDWIDTHS = log_values(1, 10_000)
DELAYS = linear_values(0, 20, 0.5) + linear_values(21, 200, 1)
UNITS = log_values(0.01, 100, (1, 2, 5))
GEN_TOKENS = [0, *sorted({int(m * 2 ** k) for k in range(12) for m in (1, 1.5)} | {4096})]  # 0, 1, 2, 3, 4, 6 … 4096
LIMITS = [0.0, *log_values(1, 100_000)]   # 0 = off
PROFILE_KNOBS = ("model", "client", "server", "dtype", "runtime")
GEN_KNOBS = ("gen", "ttft", "tpot")
TWO_SIDED_KNOBS = ("up", "down", "delay", "start", "end", "client", "server")   # over tiers: per hop, per tier
HOP_PARTS = ("up", "down", "delay")


def fmt_limit(v: float) -> str:
    return "off" if not v else fmt_ms(v)


def fmt_ms(v: float) -> str:
    if v >= 10_000:
        return f"{v / 1000:g} s"
    return f"{v:.3g} ms" if v < 1 else f"{v:.7g} ms"   # a typed 2201.724 ms shows in full


def fmt_mbps(v: float) -> str:
    return f"{v / 1000:g} Gbit/s" if v >= 1000 else f"{v:g} Mbit/s"


def typed_text(kind: str, value) -> str:
    """A knob's value as the text its typed-value dialog starts with (plain ms / Mbit/s)."""
    return f"{value:.10g}" if kind in ("time", "bandwidth") else str(value)


def spec_hint(spec) -> str:
    if spec.kind == "choice":
        return f"one of {', '.join(spec.options)} · Enter OK · Esc cancel"
    unit = {"time": "ms (or 2.5 s)", "bandwidth": "Mbit/s (or 1G)", "count": ""}[spec.kind]
    off = " · off (or 0): no limit" if spec.off else ""
    return f"{spec.lo:g}–{spec.hi:g} {unit}{off} · Enter OK · Esc cancel"


def seq_values(profile: Profile) -> list[int]:
    """The profile's sampled lengths plus a log grid (8 per doubling) between its ends."""
    lo, hi = profile.seq_range
    n = int(8 * math.log2(hi / lo)) + 1 if hi > lo else 1
    grid = {round(lo * (hi / lo) ** (i / max(1, n - 1))) for i in range(n)}
    return sorted(grid | set(profile.seq_lens))


class Controls(Grid):
    """Ten knobs in a grid; `scenario` is always the one they show. Enter or = on a knob types a value."""

    BINDINGS = [Binding("enter,equals_sign", "type_value", "Type a value", show=False)]

    def __init__(self, profile: Profile, scenario: Scenario, models: list[str], choice: ProfileChoice, *,
                 topology: Topology | None = None, id: str | None = None):
        super().__init__(id=id)
        self.topology = topology   # over tiers: a third column of hop knobs replaces the two-sided link
        self.linked = scenario.down_mbps == scenario.up_mbps and topology is None
        self.scenario = scenario
        self.choice = choice
        self._initial = (profile, models)

    def compose(self) -> ComposeResult:
        # two columns, each its own container, so focus (Tab, ↓) runs down one column, then the next
        profile, models = self._initial
        sc, ch = self.scenario, self.choice
        with Vertical(classes="knob-column"):
            yield Slider(DEADLINES, sc.deadline_ms, label="deadline", fmt=fmt_ms, id="deadline")
            yield Slider(BANDWIDTHS, sc.up_mbps, label="upload", fmt=fmt_mbps, id="up")
            yield Slider(BANDWIDTHS, sc.down_mbps, label=self._down_label(), fmt=fmt_mbps, id="down")
            yield Slider(DELAYS, sc.delay_ms, label="delay", fmt=fmt_ms, id="delay", big_step=10)
            yield Slider(seq_values(profile), sc.seq_len, label="seq len", fmt=str, id="seq")
            yield Slider(GEN_TOKENS, sc.gen_tokens, label="output", fmt=lambda v: f"{v} tokens", id="gen")
            yield Slider(LIMITS, sc.ttft_ms or 0.0, label="TTFT ≤", fmt=fmt_limit, id="ttft")
            yield Slider(LIMITS, sc.tpot_ms or 0.0, label="TPOT ≤", fmt=fmt_limit, id="tpot")
            yield Choice(RADIO_KINDS, sc.radio, label="radio", id="radio")
        with Vertical(classes="knob-column"):
            yield Slider(UNITS, sc.unit_ms, label="time T", fmt=fmt_ms, id="unit", big_step=3)
            yield ModelPicker(models, profile.origin or profile.model, label="model", fmt=model_label, id="model")
            yield Choice(SIDES, sc.start, label="start", id="start")
            yield Choice(SIDES, sc.end, label="end", id="end")
            yield Choice(self._objectives(profile), sc.objective, label="objective", id="objective")
            yield Choice(device_choices("client", measured=not ch.is_config), ch.client, label="client",
                         id="client")
            yield Choice(device_choices("server", measured=not ch.is_config), ch.server, label="server",
                         id="server")
            yield Choice(dtype_choices(ch), ch.dtype, label="dtype", id="dtype")
            yield Choice(runtime_choices(ch), ch.runtime or ROOFLINE, label="runtime", id="runtime")
        if self.topology is not None:   # a third column on wide screens; under the two, hops side by side
            with Vertical(classes="knob-column", id="hop-knobs"):
                for h in range(len(self.topology.hops)):
                    with Vertical(classes="hop-column"):
                        yield from self._hop_knobs(self.topology, h)

    @staticmethod
    def _hop_knobs(topo: Topology, h: int) -> ComposeResult:
        """Up, down and delay of hop h, labelled by the letters of the tiers it joins ("P→E up")."""
        hop = topo.hops[h]
        link = f"{topo.letters[h]}→{topo.letters[h + 1]}"
        yield Slider(BANDWIDTHS, hop.up_mbps, label=f"{link} up", fmt=fmt_mbps, id=f"hop{h}-up")
        yield Slider(BANDWIDTHS, hop.down_mbps, label=f"{link} down", fmt=fmt_mbps, id=f"hop{h}-down")
        yield Slider(DELAYS, hop.delay_ms, label=f"{link} delay", fmt=fmt_ms, id=f"hop{h}-delay", big_step=10)

    def on_mount(self) -> None:
        self._show_applicable(self._initial[0])

    def _show_applicable(self, profile: Profile) -> None:
        """Hide the generation knobs for a profile without decode costs, dtype and runtime for a measured one."""
        for name in GEN_KNOBS:
            self._knob(name).display = profile.has_decode
        self._knob("dtype").display = self.choice.is_config
        self._knob("runtime").display = self.choice.is_config
        if self.topology is not None:
            for name in TWO_SIDED_KNOBS:
                self._knob(name).display = False

    def _down_label(self) -> str:
        return "down=up" if self.linked else "download"

    @staticmethod
    def _objectives(profile: Profile) -> list[str]:
        return [o for o in OBJECTIVES if o != "mem_bytes" or profile.has_mem]

    def _knob(self, name: str) -> Slider:
        return self.query_one(f"#{name}", Slider)

    def show(self, profile: Profile, sc: Scenario, models: list[str] | None = None,
             choice: ProfileChoice | None = None) -> None:
        """Set every knob to `sc` and `choice` (and `profile`'s ranges) without posting messages."""
        self.scenario = sc
        self.choice = choice or self.choice
        ch = self.choice
        with self.prevent(Slider.Changed):
            if models is not None:
                self._knob("model").set_values(models, ch.model)
            measured = not ch.is_config
            self._knob("client").set_values(device_choices("client", measured=measured), ch.client)
            self._knob("server").set_values(device_choices("server", measured=measured), ch.server)
            self._knob("dtype").set_values(dtype_choices(ch), ch.dtype)
            self._knob("runtime").set_values(runtime_choices(ch), ch.runtime or ROOFLINE)
            self._knob("gen").set_value(sc.gen_tokens)
            self._knob("ttft").set_value(sc.ttft_ms or 0.0)
            self._knob("tpot").set_value(sc.tpot_ms or 0.0)
            self._knob("seq").set_values(seq_values(profile), sc.seq_len)
            self._knob("objective").set_values(self._objectives(profile), sc.objective)
            for name, value in (("deadline", sc.deadline_ms), ("unit", sc.unit_ms), ("up", sc.up_mbps),
                                ("down", sc.down_mbps), ("delay", sc.delay_ms), ("start", sc.start),
                                ("end", sc.end), ("radio", sc.radio)):
                self._knob(name).set_value(value)
        self._show_applicable(profile)

    def toggle_link(self) -> bool:
        """Link or unlink the bandwidths; linking copies upload onto download."""
        self.linked = not self.linked
        down = self._knob("down")
        down.label = self._down_label()
        down.refresh()
        if self.linked and down.value != self.scenario.up_mbps:
            down.set_value(self.scenario.up_mbps)   # posts Changed -> new scenario
        return self.linked

    @on(Slider.Changed)
    def _knob_moved(self, event: Slider.Changed) -> None:
        event.stop()
        name = event.slider.id
        if self.topology is not None and name is not None and name.startswith("hop"):
            self.topology = self._read_hops(self.topology)
            self.post_message(ScenarioChanged(self.scenario, self.topology))
            return
        if name in PROFILE_KNOBS:
            self.choice = self._read_choice(name)
            self.post_message(ModelChosen(self.choice))
            return
        if self.linked and name in ("up", "down"):
            other = self._knob("down" if name == "up" else "up")
            with self.prevent(Slider.Changed):
                other.set_value(event.value)
        self.scenario = self._read(self.scenario)
        self.post_message(ScenarioChanged(self.scenario, self.topology))

    def _read_hops(self, topo: Topology) -> Topology:
        from dataclasses import replace

        k = self._knob
        return replace(topo, hops=tuple(Hop(*(float(k(f"hop{h}-{part}").value) for part in HOP_PARTS))
                                        for h in range(len(topo.hops))))

    def _read_choice(self, moved: str) -> ProfileChoice:
        """The pickers' choice; a new model starts on its own default devices and dtype."""
        k = self._knob
        if moved == "model":
            return switch_model(self.choice, k("model").value)
        return ProfileChoice(self.choice.model, k("client").value, k("server").value, k("dtype").value,
                             runtime_of(k("runtime").value))

    def action_type_value(self) -> None:
        """Ask for a typed value for the focused knob; refused input stays in the dialog with its reason."""
        from ..dialogs import PromptScreen
        from ..knob_values import parse_knob, spec_for

        knob = self.app.focused
        if not isinstance(knob, Slider) or knob.id is None:
            return
        spec = spec_for(knob.id, knob.label, knob.values)
        self.app.push_screen(PromptScreen(f"Type a value for {knob.label}", typed_text(spec.kind, knob.value),
                                          check=lambda text: parse_knob(spec, text), hint=spec_hint(spec)),
                             lambda value: None if value is None else knob.set_value(value))

    def _read(self, sc: Scenario) -> Scenario:
        k = self._knob
        deadline = k("deadline").value
        ttft = k("ttft").value or None
        return sc.replace(deadline_ms=deadline, unit_ms=k("unit").value, up_mbps=k("up").value,
                          down_mbps=k("down").value, delay_ms=k("delay").value, seq_len=int(k("seq").value),
                          start=k("start").value, end=k("end").value, objective=k("objective").value,
                          gen_tokens=int(k("gen").value), tpot_ms=k("tpot").value or None, radio=k("radio").value,
                          # a TTFT limit at or above the deadline adds nothing: the first token is part of it
                          ttft_ms=ttft if ttft is not None and ttft < deadline else None)

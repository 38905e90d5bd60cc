"""The app's pin and memory actions, kept out of app.py (SPEC §10): P (or ctrl+click on the strip) cycles
the strip layer's pin none → client → server → none; m opens the memory screen, whose typed limits
become the scenario's. Both change the scenario the knobs hold, so every later knob move keeps them, and
re-solve in the solve worker.

`PinActions` is a mixin for `SplitApp`; it uses the app's `scenario`, `profile`, `state`, `selected`
and `resolve()`.
"""

from __future__ import annotations

from ..model import Scenario
from .mixin_base import AppMixin
from .privacy import cycle_pin, pin_of

__all__ = ["PinActions"]


class PinActions(AppMixin):
    """Bound to P and m in `SplitApp.BINDINGS`; ctrl+click arrives as `PlacementStrip.PinToggled`."""

    def set_scenario(self, sc: Scenario) -> None:
        """A scenario changed outside the knobs: the knobs hold it (so a knob move keeps it), then solve."""
        from .widgets.controls import Controls

        self.query_one(Controls).scenario = sc
        self.scenario = sc
        self.resolve()

    def action_toggle_pin(self) -> None:
        from .widgets.strip import PlacementStrip

        self.toggle_pin(self.query_one(PlacementStrip).cursor)

    def on_placement_strip_pin_toggled(self, event) -> None:   # by name: see Solving.on_solved
        self.toggle_pin(event.layer)

    def toggle_pin(self, layer: int) -> None:
        from .widgets.controls import Controls

        if not 0 <= layer < self.profile.n_layers:
            return
        sc = cycle_pin(self.query_one(Controls).scenario, layer)   # the knobs may be ahead of self.scenario
        side = pin_of(sc, layer)
        name = self.profile.layers[layer].name
        self.notify(f"layer {layer} ({name}) " + ("unpinned" if side == "none" else f"pinned to the {side}"),
                    timeout=1.5)
        self.set_scenario(sc)

    def action_memory(self) -> None:
        from .screens.memory import MemoryScreen
        from .widgets.controls import Controls

        st = self.state
        sc = st.scenario if st is not None and not st.error else self.query_one(Controls).scenario
        res = None if st is None else st.results.get(self.selected)

        def done(limits) -> None:
            if limits is not None:
                now = self.query_one(Controls).scenario
                self.set_scenario(now.replace(client_mem_gb=limits[0], server_mem_gb=limits[1]))

        self.push_screen(MemoryScreen(self.profile, sc, self.selected, res), done)

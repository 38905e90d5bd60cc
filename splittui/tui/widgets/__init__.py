"""Widgets of the main view: Slider/Choice (knobs), Controls, PlacementStrip, NumbersPanel,
InfeasibleBanner and Chart (plotext). Each module is self-contained; the app wires them together."""

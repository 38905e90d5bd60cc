"""Widgets of the main view: Slider/Choice (knobs), Controls, PlacementStrip, NumbersPanel,
InfeasibleBanner and Chart (plotext: chart_kinds draws, plotext_canvas reads the plot back). Each
module is self-contained; the app wires them together."""

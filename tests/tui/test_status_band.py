"""The app shows the device model's error band beside estimated times (issue 26): the status line
names each estimated side's band from the calibration, "uncalibrated" without a runtime, nothing for
measured times; a picker that rebuilds the profile keeps the runtime it was opened with."""

from __future__ import annotations

import pytest
from tui_helpers import settle, shown

import splittui
from splittui.calibration import Calibration
from splittui.calibration_io import short_band
from splittui.llm import profile_for
from splittui.tui.app import make_app
from splittui.tui.widgets.slider import Slider
from splittui.tui.widgets.status import StatusLine, sided_provenance


def _cal(points: int, pooled: bool = False) -> Calibration:
    return Calibration("jetson-orin", "llama.cpp-cuda", 0.5, 0.6, 0.1, 5.0, 1.0, 1.0, True, points=points,
                       loo_pct=18.4, pooled=pooled)


@pytest.mark.parametrize(("points", "want"), [(9, "±18 % (9 pts)"), (1, "±18 % (1 pt)"),
                                              (0, "uncalibrated (±18 % runtime-wide)")])
def test_short_band_reads_every_form_of_the_long_band(points, want):
    assert short_band(_cal(points).band()) == want
    assert short_band(_cal(points, pooled=True).band()) == want


def test_short_band_without_a_calibration():
    assert short_band("uncalibrated (roofline preset, no --runtime)") == "uncalibrated"


def test_each_estimated_side_carries_its_band():
    with_runtime = profile_for("llama-3.2-1b", client_device="jetson-orin", server_device="a100-80gb",
                               runtime="llama.cpp-cuda")
    line = sided_provenance(with_runtime)
    client, server = line.split(" · ")
    # the runtime that timed the side is named, not the plain roofline (which is what "roofline estimate" says)
    assert client.startswith("client: llama.cpp-cuda estimate jetson-orin ±") and "%" in client
    assert server.startswith("server: llama.cpp-cuda estimate a100-80gb ")
    assert "uncalibrated" in server or "±" in server
    plain = sided_provenance(profile_for("llama-3.2-1b", client_device="jetson-orin", server_device="a100-80gb"))
    assert plain == "client: roofline estimate jetson-orin · server: roofline estimate a100-80gb · uncalibrated"
    measured = sided_provenance(splittui.load_profile("gpt2-like"))      # server: an rtx3090 estimate
    assert measured.startswith("client: measured") and measured.endswith(" · uncalibrated")
    both = splittui.load_profile("gpt2-like")
    both = type(both)(**{**{f: getattr(both, f) for f in both.__dataclass_fields__},
                         "source": {**both.source, "server": "measured on this CPU (x) with 2 torch threads"}})
    assert "uncalibrated" not in sided_provenance(both) and "±" not in sided_provenance(both)


async def test_the_status_line_shows_the_band_and_a_dtype_pick_keeps_the_runtime():
    opened = profile_for("llama-3.2-1b", client_device="jetson-orin", server_device="a100-80gb",
                         runtime="llama.cpp-cuda")
    app = make_app(opened, show_timings=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        status = shown(app.query_one(StatusLine), 300)
        assert "llama.cpp-cuda estimate jetson-orin ±" in status
        assert app.state.choice.runtime == "llama.cpp-cuda"
        dtype = app.query_one("#dtype", Slider)
        dtype.focus()
        await pilot.press("right" if dtype.index + 1 < len(dtype.values) else "left")
        await settle(pilot)
        assert app.state.profile.extra.get("dtype") != opened.extra.get("dtype")
        assert app.state.profile.source.get("runtime") == "llama.cpp-cuda"
        assert "llama.cpp-cuda estimate jetson-orin ±" in shown(app.query_one(StatusLine), 300)


async def test_the_runtime_picker_changes_the_device_model():
    """Issue 26's picker: the runtime knob rebuilds the profile on another runtime (or the plain roofline),
    the band follows; a measured profile hides the knob."""
    opened = profile_for("llama-3.2-1b", client_device="jetson-orin", server_device="a100-80gb",
                         runtime="llama.cpp-cuda")
    app = make_app(opened, show_timings=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        knob = app.query_one("#runtime", Slider)
        assert knob.display and knob.value == "llama.cpp-cuda" and knob.values[0] == "roofline"
        knob.focus()
        for _ in range(knob.index):
            await pilot.press("left")
        await settle(pilot)
        assert app.state.choice.runtime is None and not app.state.profile.source.get("runtime")
        assert shown(app.query_one(StatusLine), 300).rstrip().endswith(" · uncalibrated")
        await pilot.press(*["right"] * knob.values.index("mlc"))
        await settle(pilot)
        assert app.state.choice.runtime == "mlc" and app.state.profile.source.get("runtime") == "mlc"
        assert "mlc estimate jetson-orin ±" in shown(app.query_one(StatusLine), 300)
    measured = make_app(splittui.load_profile("gpt2-like"), show_timings=False)
    async with measured.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert not measured.query_one("#runtime", Slider).display

"""The profile pickers (model, devices, dtype), the output-tokens and TTFT/TPOT knobs, and the status
line, driven by real key presses. Expected values come from `splittui.llm` and `splittui.solve`."""

from __future__ import annotations

import json
import math

import pytest
from tui_helpers import settle, shown

import splittui
from splittui.llm import load_any, profile_for
from splittui.profiles import profile_to_doc
from splittui.tui.app import make_app
from splittui.tui.profile_choice import ProfileChoice, fit_scenario, gen_cap, load_choice
from splittui.tui.state import compute_choice
from splittui.tui.widgets.numbers import NumbersPanel, _ms
from splittui.tui.widgets.slider import Choice, Slider
from splittui.tui.widgets.status import StatusLine


def make(profile, **knobs):
    return make_app(profile, scenario=splittui.Scenario(**knobs), show_timings=False)


@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


async def pick(pilot, knob: str, value) -> None:
    """Move a knob to `value` by arrow presses from where it is: a slider's big steps (shift+arrow) first,
    then single steps (each press solves again, and a limit's solves are the slow ones)."""
    slider = pilot.app.query_one(f"#{knob}", Slider)
    slider.focus()
    steps = slider.values.index(value) - slider.index
    big = 0 if isinstance(slider, Choice) else abs(steps) // slider.big
    for _ in range(big):
        await pilot.press("shift+right" if steps > 0 else "shift+left")
    for _ in range(abs(steps) - big * slider.big):
        await pilot.press("right" if steps > 0 else "left")


async def test_qwen_devices_dtype_and_output_tokens(profile):
    """Switch to a shipped config, pick both devices and int4, generate 256 tokens: every number shown
    is the core's on the analytic profile of exactly those choices."""
    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#model").focus()
        await pilot.press("end", "enter")             # the last model: qwen2.5-7b (Enter switches)
        await settle(pilot)
        assert app.state.profile.model == "qwen2.5-7b"
        assert app.query_one("#dtype").display and app.query_one("#gen").display
        await pick(pilot, "client", "jetson-orin")
        await pick(pilot, "server", "h100-sxm")
        await pick(pilot, "dtype", "int4")
        await pick(pilot, "gen", 256)
        await settle(pilot)
        st = app.state
        assert st.choice == ProfileChoice("qwen2.5-7b", "jetson-orin", "h100-sxm", "int4")
        expected = profile_for("qwen2.5-7b", dtype="int4", client_device="jetson-orin", server_device="h100-sxm")
        assert st.profile.sha256 == expected.sha256
        sc = st.scenario
        assert sc.gen_tokens == 256
        numbers = shown(app.query_one(NumbersPanel))
        assert "TTFT" in numbers and "TPOT" in numbers and "request / deadline" in numbers
        for name in ("dp", "exact"):
            want = splittui.solve(expected, sc, name)
            assert st.results[name].policy == want.policy
            if want.feasible:
                assert f"{_ms(want.ttft_ms)} ms" in numbers and f"{_ms(want.tpot_ms)} ms" in numbers
        status = shown(app.query_one(StatusLine), 200)
        assert "roofline estimate jetson-orin" in status and "roofline estimate h100-sxm" in status
        assert "int4" in status


async def test_a_config_file_opens_as_the_cli_built_it_and_its_pickers_rebuild_it(tmp_path):
    """`splittui --hf-config DIR --client-device jetson-orin --dtype int8` (what `serve` forwards): the
    app shows the CLI's profile (not re-timed in fp32), its pickers hold those choices, and moving the
    dtype rebuilds it from the file."""
    from splittui.cli import build_parser
    from splittui.commands.llm_args import profile_from_llm_args

    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8,
        "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000, "max_position_embeddings": 2048}))
    args = build_parser().parse_args(["--hf-config", str(folder), "--client-device", "jetson-orin", "--dtype", "int8"])
    opened = profile_from_llm_args(args)
    key = str(folder.resolve())
    assert opened.origin == key
    app = make_app(opened, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        st = app.state
        assert st.choice == ProfileChoice(key, "jetson-orin", "a100-80gb", "int8")
        assert st.profile.sha256 == opened.sha256
        assert [x.client_ms for x in st.profile.layers] == [x.client_ms for x in opened.layers]
        assert app.query_one("#dtype").display and "my-llama" in shown(app.query_one("#model"))
        await pick(pilot, "dtype", "int4")
        await settle(pilot)
        want = profile_for(folder, dtype="int4", client_device="jetson-orin", server_device="a100-80gb")
        assert app.state.profile.sha256 == want.sha256 and app.state.profile.origin == key

    written = tmp_path / "my-llama.json"     # a profile file written from the config keeps its own numbers
    written.write_text(json.dumps(profile_to_doc(opened)))
    from_file = load_any(str(written))
    app = make_app(from_file, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.state.error is None and not app.state.choice.is_config
        assert [x.client_ms for x in app.state.profile.layers] == [x.client_ms for x in opened.layers]


async def test_output_tokens_clamp_to_the_profile_and_say_so(profile):
    app = make(profile, seq_len=2048)
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#gen").focus()
        await pilot.press("end")                       # 4096 tokens: contexts past the profile's end
        await settle(pilot)
        st = app.state
        cap = gen_cap(profile, 2048)
        assert st.error is None and st.scenario.gen_tokens == cap and st.asked.gen_tokens == 4096
        assert f"output tokens 4096 → {cap}" in shown(app.query_one(NumbersPanel), 300)
        assert st.results["dp"].policy == splittui.solve(profile, st.scenario, "dp").policy


async def test_measured_device_and_a_model_without_decode(profile):
    """"measured" keeps the profile's times; a preset re-times them (and says estimate); a model
    without decode costs hides the generation knobs and solves prefill only."""
    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.state.profile is profile
        assert "measured" in shown(app.query_one(StatusLine), 200)
        await pick(pilot, "server", "l4")
        await settle(pilot)
        assert app.state.profile is not profile
        assert app.state.profile.layers[0].client_ms == profile.layers[0].client_ms
        assert "roofline estimate l4" in shown(app.query_one(StatusLine), 200)
        await pick(pilot, "server", "measured")
        await settle(pilot)
        assert app.state.profile is profile
        await pick(pilot, "model", "bert-base")
        await pilot.press("enter")                    # the model picker previews until Enter
        await settle(pilot)
        assert app.state.profile.model.startswith("bert")
        assert not app.query_one("#gen").display and not app.query_one("#dtype").display


async def test_tpot_limit_is_met_by_exact_and_shown_broken_by_others(profile):
    app = make(profile, gen_tokens=64, deadline_ms=20_000)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        free = app.state.results["exact"]
        limit = max(v for v in app.query_one("#tpot", Slider).values if v and v < free.tpot_ms)
        await pick(pilot, "tpot", limit)
        await settle(pilot)
        st = app.state
        assert st.scenario.tpot_ms == limit
        for name, res in st.results.items():
            assert res.policy == splittui.solve(profile, st.scenario, name).policy
            if res.feasible:
                assert res.tpot_ms <= limit + 1e-9
        broken = [n for n, r in st.results.items() if not r.feasible and r.violations]
        text = shown(app.query_one(NumbersPanel), 200)
        for _name in broken:
            assert "breaks TPOT" in text


def test_fit_scenario_and_compute_choice(profile):
    bert = splittui.load_profile("bert-base")
    sc, note = fit_scenario(bert, splittui.Scenario(gen_tokens=8, objective="server_mem"))
    assert sc.gen_tokens == 0 and sc.objective == "flops" and "no decode costs" in note
    st = compute_choice(ProfileChoice("gpt2-like"), {"gpt2-like": profile}, splittui.Scenario(gen_tokens=16))
    assert st.profile is profile and st.error is None
    dp = st.results["dp"]
    assert math.isclose(st.prefill_end_ms["dp"], dp.ttft_ms, rel_tol=1e-9)
    assert math.isclose(st.timelines["dp"][-1][2], dp.ttft_ms + dp.tpot_ms, rel_tol=1e-9)
    bad = compute_choice(ProfileChoice("gpt2-like", dtype="int4"), {"gpt2-like": profile}, splittui.Scenario())
    assert bad.error and "fp32" in bad.error
    assert load_choice(ProfileChoice("gpt2-like"), {"gpt2-like": profile}) is profile

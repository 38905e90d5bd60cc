"""The app opens on a complete scenario (issue 24, item 1 and its done-when): `splittui --policy FILE` restores
the file's model, devices, dtype and knobs and scores its policy; the scenario flags of `solve` open it
on any scenario; pressing every tab key and `g` there raises nothing."""

from __future__ import annotations

import json

import pytest
from tui_helpers import settle

from splittui.cli import build_parser, main
from splittui.commands.app_args import app_start
from splittui.tui.app import make_app

LLAMA = ["--model", "llama-3.1-8b", "--client-device", "jetson-orin", "--server-device", "a100-80gb",
         "--up-mbps", "20", "--down-mbps", "100", "--seq", "1024", "--gen-tokens", "256", "--ttft-ms", "1000",
         "--tpot-ms", "50", "--deadline-ms", "60000"]


@pytest.fixture(scope="module")
def llama_policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("p") / "p.json"
    assert main(["solve", *LLAMA, "--solver", "exact", "--out", str(path)]) == 0
    return path, json.loads(path.read_text())


def _start(argv):
    return app_start(build_parser().parse_args(argv))


def test_policy_file_restores_setup_and_knobs(llama_policy):
    path, doc = llama_policy
    profile, sc, policy = _start(["--policy", str(path)])
    assert profile.source["client_device"] == "jetson-orin" and profile.source["server_device"] == "a100-80gb"
    assert profile.extra["dtype"] == "bf16" and profile.sha256 == doc["profile_sha256"]
    assert (sc.up_mbps, sc.down_mbps, sc.seq_len, sc.gen_tokens, sc.ttft_ms, sc.tpot_ms, sc.deadline_ms) == \
        (20, 100, 1024, 256, 1000, 50, 60000)
    assert policy["policy"] == doc["policy"]


def test_flags_beside_the_policy_win(llama_policy):
    path, _ = llama_policy
    profile, sc, _ = _start(["--policy", str(path), "--up-mbps", "10", "--client-device", "apple-m2"])
    assert sc.up_mbps == 10 and sc.down_mbps == 100     # the stored downlink stays
    assert profile.source["client_device"] == "apple-m2" and profile.source["server_device"] == "a100-80gb"


def test_scenario_flags_open_the_app_there():
    profile, sc, policy = _start(["--model", "gpt2-like", "--up-mbps", "50", "--gen-tokens", "16", "--tpot-ms",
                                  "80", "--deadline-ms", "20000", "--returns", "token"])
    assert (sc.up_mbps, sc.down_mbps, sc.gen_tokens, sc.tpot_ms, sc.returns) == (50, 50, 16, 80, "token")
    assert policy is None
    assert _start([])[1] is None    # no flag: the app's own defaults


def test_bad_flag_is_one_line(capsys):
    assert main(["--ttft-ms", "3000"]) == 2   # above the default deadline
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ttft_ms 3000" in err and "Traceback" not in err


async def test_every_tab_and_goal_on_the_restored_scenario(llama_policy):
    path, doc = llama_policy
    profile, sc, policy = _start(["--policy", str(path)])
    app = make_app(profile, scenario=sc, policy=policy, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        st = app.state
        assert st.error is None and st.scenario.ttft_ms == 1000
        for key in ("2", "3", "4", "5", "1"):
            await pilot.press(key)
            await settle(pilot)
        await pilot.press("g")
        await pilot.pause()
        await pilot.press("escape")
        await settle(pilot)
        assert app.state.error is None
        assert app.loaded is not None and app.loaded.policy == tuple(doc["policy"])

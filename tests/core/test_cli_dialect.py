"""One CLI dialect (issue 24, items 4 and 5; STYLE habit 18): `--json` prints to stdout, `--out FILE`
writes a file (never over one without --force), one set of device names, one reading of shares and
deadlines, no abbreviations, one error prefix, and tables that never cut a number when piped."""

from __future__ import annotations

import io
import json
import re

import pytest
from cli_runner import run_cli as cli
from rich.console import Console

from splittui.cli import build_parser
from splittui.devices import ALIASES, PRESETS, device_name, resolve_device
from splittui.errors import SplittuiError

SWEEP = ["--model", "gpt2-like", "--bandwidths", "100", "--seqs", "128", "--resolution", "20", "--no-charts"]
SIM = [*SWEEP, "--requests", "200"]
SOLVE = ["--model", "gpt2-like", "--seq", "128"]


def _policy_file(tmp_path, capsys) -> str:
    path = tmp_path / "p.json"
    rc, _, err = cli(["solve", *SOLVE, "--solver", "exact", "--out", path], capsys)
    assert rc == 0, err
    return str(path)


def _commands(tmp_path, capsys) -> dict[str, list[str]]:
    return {"solve": ["solve", *SOLVE], "evaluate": ["evaluate", "--policy", _policy_file(tmp_path, capsys)],
            "frontier": ["frontier", *SOLVE], "sweep": ["sweep", *SWEEP, "--no-exact"], "simulate": ["simulate", *SIM],
            "devices": ["devices"]}


def test_every_command_prints_json_on_stdout_and_nothing_else(tmp_path, capsys):
    for name, argv in _commands(tmp_path, capsys).items():
        rc, out, err = cli([*argv, "--json"], capsys)
        assert rc == 0, (name, err)
        doc = json.loads(out)   # the whole of stdout is one document: no table, no note
        assert doc, name


def test_every_command_writes_out_and_refuses_to_overwrite_without_force(tmp_path, capsys):
    for name, argv in _commands(tmp_path, capsys).items():
        path = tmp_path / f"{name}.json"
        rc, out, err = cli([*argv, "--out", path], capsys)
        assert rc == 0 and path.exists(), (name, err)
        first = json.loads(path.read_text())
        assert out.strip(), name   # without --json the tables still go to stdout
        path.write_text("keep me")
        rc, _, err = cli([*argv, "--out", path], capsys)
        assert rc == 2 and err.startswith("splittui: error:") and "--force" in err, (name, err)
        assert path.read_text() == "keep me", name
        rc, _, err = cli([*argv, "--out", path, "--force"], capsys)
        assert rc == 0, (name, err)
        again = json.loads(path.read_text())   # replaced by the same kind of document
        assert type(again) is type(first) and len(again) == len(first), name


def test_json_and_out_together_write_the_same_document(tmp_path, capsys):
    path = tmp_path / "f.json"
    rc, out, err = cli(["frontier", *SOLVE, "--json", "--out", path], capsys)
    assert rc == 0, err
    assert json.loads(out) == json.loads(path.read_text())


def test_old_sweep_json_file_form_still_writes_the_file_with_a_note(tmp_path, capsys):
    path = tmp_path / "old.json"
    rc, out, err = cli(["sweep", *SWEEP, "--no-exact", "--json", path], capsys)
    assert rc == 0, err
    assert json.loads(path.read_text())["schema"] == "splittui.sweep/1"
    assert "--out" in err and not out.lstrip().startswith("{")


@pytest.mark.parametrize("argv", [["solve", "--dead", "2000"], ["solve", "--up", "20"], ["--mod", "bert-base"],
                                  ["sweep", "--bandw", "10"], ["frontier", "--gen", "4"], ["devices", "--meas"]])
def test_abbreviations_are_refused(argv, capsys):
    rc, _, err = cli(argv, capsys)
    assert rc == 2 and err.startswith("splittui: error:") and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv", [["solve", "--seq", "x"], ["sweep", "--bandwidths", "a"], ["profile"],
                                  ["simulate", "--requests", "0"], ["frontier", "--deadline-ms", "zz"],
                                  ["solve", "--model", "nope"], ["evaluate"], ["nope"]])
def test_one_error_prefix(argv, capsys):
    rc, _, err = cli(argv, capsys)
    assert rc == 2 and err.startswith("splittui: error:") and len(err.strip().splitlines()) == 1, err


def test_every_parser_refuses_abbreviations():
    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    assert not parser.allow_abbrev and all(not p.allow_abbrev for p in subs.values())


def _goal(argv, capsys) -> list:
    rc, out, err = cli(["solve", *SOLVE, "--solver", "exact", *argv, "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    return [doc["goal"]["max_share"], doc["least_deadline_ms"]]


def test_share_forms_mean_the_same(capsys):
    answers = [_goal(["--max-share", form], capsys) for form in ("0.3", "30%", "30")]
    assert answers[0] == answers[1] == answers[2] and answers[0][0] == pytest.approx(0.3)


def test_shares_read_as_the_app_reads_them():
    from splittui.report.formats import parse_share

    assert parse_share("30") == parse_share("30 %") == parse_share("0.3") == pytest.approx(0.3)
    assert parse_share("1") == 1.0 and parse_share("1%") == pytest.approx(0.01)
    for bad in ("150", "-1", "x"):
        with pytest.raises(ValueError):
            parse_share(bad)


def test_relative_deadline_is_a_fraction_of_all_client_in_every_command(tmp_path, capsys):
    from splittui.generation import request_costs
    from splittui.model import Scenario
    from splittui.profiles import load_profile
    from splittui.solvers.baselines import prefix_latencies

    profile = load_profile("gpt2-like")
    for gen in (0, 8):
        all_client = float(prefix_latencies(request_costs(profile, Scenario(seq_len=128, gen_tokens=gen)))[-1])
        rc, out, err = cli(["solve", *SOLVE, "--gen-tokens", gen, "--deadline-ms", "0.7x", "--json"], capsys)
        assert rc == 0, err
        assert json.loads(out)[0]["scenario"]["deadline_ms"] == pytest.approx(0.7 * all_client)
        rc, out, err = cli(["frontier", *SOLVE, "--gen-tokens", gen, "--deadline-ms", "0.7x", "--json"], capsys)
        assert rc == 0, err
        assert json.loads(out)["scenario"]["deadline_ms"] == pytest.approx(0.7 * all_client)
    path = _policy_file(tmp_path, capsys)
    rc, out, err = cli(["evaluate", "--policy", path, "--deadline-ms", "0.7x", "--json"], capsys)
    all_client = float(prefix_latencies(request_costs(profile, Scenario(seq_len=128)))[-1])
    assert json.loads(out)["scenario"]["deadline_ms"] == pytest.approx(0.7 * all_client)
    rc, _, err = cli(["solve", *SOLVE, "--deadline-ms", "0x"], capsys)
    assert rc == 2 and "--deadline-ms" in err


# --- device names --------------------------------------------------------------------------------

def test_aliases_and_unique_prefixes_name_the_preset():
    for alias, name in ALIASES.items():
        assert name in PRESETS and device_name(alias) == name and resolve_device(alias) is PRESETS[name]
    assert device_name("jetson") == "jetson-orin" and device_name("raspberry") == "raspberry-pi-5"
    with pytest.raises(SplittuiError, match="ambiguous.*rtx4090.*rtx3090"):
        device_name("rtx")
    with pytest.raises(SplittuiError) as exc:
        device_name("tpu-v9")
    assert all(n in str(exc.value) for n in (*PRESETS, *ALIASES))


def test_cli_device_aliases_build_the_same_profile_as_full_names(capsys):
    def setup(*argv) -> tuple:
        rc, out, err = cli(["solve", "--model", "llama-3.2-1b", "--seq", "256", "--solver", "exact", *argv, "--json"],
                           capsys)
        assert rc == 0, err
        doc = json.loads(out)
        return doc["profile_sha256"], doc["setup"]["client_device"], doc["setup"]["server_device"]

    full = setup("--client-device", "jetson-orin", "--server-device", "a100-80gb")
    assert setup("--client-device", "jetson", "--server-device", "a100") == full
    assert setup("--client-device", "orin", "--server-device", "a100-8") == full
    assert full[1:] == ("jetson-orin", "a100-80gb")


def test_the_app_opens_the_same_profile_for_an_alias():
    """The app's profile comes from the same flags through the same loader (cli._run_app)."""
    from splittui.commands.llm_args import profile_from_llm_args

    parser = build_parser()
    short = profile_from_llm_args(parser.parse_args(["--model", "llama-3.2-1b", "--client-device", "jetson",
                                                     "--server-device", "h100"]))
    full = profile_from_llm_args(parser.parse_args(["--model", "llama-3.2-1b", "--client-device", "jetson-orin",
                                                    "--server-device", "h100-sxm"]))
    assert short.sha256 == full.sha256 and short.source["client_device"] == "jetson-orin"


def test_profile_server_takes_the_device_names():
    from splittui.profiler.servers import PRESETS as ROOFLINES
    from splittui.profiler.servers import parse_server

    assert parse_server("a100") == parse_server("a100-80gb") == ROOFLINES["a100"]
    assert parse_server("h100") == parse_server("h100-sxm") and parse_server("rtx3090") == ROOFLINES["rtx3090"]
    assert parse_server("l4").mem_gbps == PRESETS["l4"].mem_gbps
    assert ROOFLINES["a100"].mem_gbps == PRESETS["a100-80gb"].mem_gbps   # one a100, not two


def test_unknown_model_lists_profiles_and_configs(capsys):
    for argv in (["solve", "--model", "llama3"], ["profile", "--model", "llama3"]):
        rc, _, err = cli(argv, capsys)
        assert rc == 2 and "gpt2-like" in err and "llama-3.1-8b" in err, err


def test_model_defaults_to_gpt2_like_everywhere(capsys):
    for argv in (["solve", "--seq", "128", "--solver", "exact"], ["frontier", "--seq", "128"],
                 ["sweep", *SWEEP[2:], "--no-exact"], ["simulate", *SIM[2:]]):
        rc, out, err = cli([*argv, "--json"], capsys)
        assert rc == 0, err
        doc = json.loads(out)
        models = doc.get("models") or [doc.get("model")]
        assert [m if isinstance(m, str) else m["model"] for m in models] == ["gpt2-like"], argv
    # run: filled in by its handler, gpt2-like (bert-base for --figure, the paper's experiment)
    assert build_parser().parse_args(["run"]).model is None


# --- infeasible scenarios say why ----------------------------------------------------------------

def _flat(text: str) -> str:
    return " ".join(text.split())


def test_request_over_the_deadline_names_the_least_latency_and_the_flag(capsys):
    rc, out, err = cli(["solve", "--model", "gpt2-like", "--gen-tokens", "64", "--deadline-ms", "1500"], capsys)
    assert rc == 0, err
    rc, js, _ = cli(["solve", "--model", "gpt2-like", "--gen-tokens", "64", "--deadline-ms", "1500",
                     "--solver", "exact", "--json"], capsys)
    least = json.loads(js)["min_latency_ms"] if "min_latency_ms" in json.loads(js) else None
    text = _flat(out)
    assert "deadline binds" in text and "--deadline-ms" in text
    if least is not None:
        assert f"{least:,.1f}" in text


def test_no_deadline_with_output_tokens_lets_the_limits_decide(capsys):
    """Issue 24: `solve` with output tokens and no --deadline-ms used to print 'none' everywhere (1500 ms
    cannot hold a request); now the request has no deadline and only the TTFT/TPOT limits bind."""
    rc, js, err = cli(["solve", "--model", "gpt2-like", "--gen-tokens", "64", "--tpot-ms", "60", "--solver", "exact",
                       "--json"], capsys)
    doc = json.loads(js)
    assert rc == 0 and doc["feasible"] and doc["tpot_ms"] <= 60 and doc["latency_ms"] > 1500
    rc, out, _ = cli(["solve", "--model", "gpt2-like", "--gen-tokens", "64"], capsys)
    assert "no request deadline" in _flat(out)


def test_ttft_and_tpot_limits_name_themselves_when_they_bind(capsys):
    base = ["solve", *SOLVE, "--gen-tokens", "8", "--deadline-ms", "100000"]
    rc, out, _ = cli([*base, "--ttft-ms", "1"], capsys)
    assert rc == 0 and "TTFT limit binds" in _flat(out) and "--ttft-ms" in _flat(out)
    rc, out, _ = cli([*base, "--tpot-ms", "0.01"], capsys)
    assert rc == 0 and "TPOT limit binds" in _flat(out) and "--tpot-ms" in _flat(out)


# --- frontier: output tokens and limits ------------------------------------------------------------

def test_frontier_is_over_the_request_and_under_the_limits(capsys):
    def front(*argv):
        rc, out, err = cli(["frontier", *SOLVE, *argv, "--json"], capsys)
        assert rc == 0, err
        return json.loads(out)

    prefill, request = front(), front("--gen-tokens", "8")
    assert request["points"][0]["deadline_ms"] > prefill["points"][0]["deadline_ms"]
    tpot = sorted(p["tpot_ms"] for p in request["points"])[len(request["points"]) // 2]
    limited = front("--gen-tokens", "8", "--tpot-ms", str(tpot))
    flags = [p["meets_limits"] for p in limited["points"]]
    assert flags and all(flags)   # the front of the policies that meet the limits (exact under them)
    assert all(p["tpot_ms"] <= tpot * (1 + 1e-9) for p in limited["points"])
    assert len(limited["points"]) < len(request["points"])
    rc, out, _ = cli(["frontier", *SOLVE, "--gen-tokens", "8", "--tpot-ms", str(tpot)], capsys)
    assert "✗ TPOT" not in out and " ok " in out


# --- output that survives pipes --------------------------------------------------------------------

def _numbers(doc_values, fmt) -> list[str]:
    return [format(v, fmt) for v in doc_values if v is not None]


@pytest.mark.parametrize("columns", ["80", "60"])
def test_piped_tables_keep_every_number_whole(columns, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", columns)
    argv = ["--model", "llama-3.1-8b", "--client-device", "raspberry-pi-5", "--server-device", "l4", "--seq", "1024",
            "--up-mbps", "5", "--deadline-ms", "900000"]
    for extra in ([], ["--gen-tokens", "16", "--ttft-ms", "800000"]):
        rc, out, err = cli(["solve", *argv, *extra], capsys)
        assert rc == 0, err
        assert "…" not in out
        rc, js, _ = cli(["solve", *argv, *extra, "--json"], capsys)
        docs = json.loads(js)
        want = _numbers([d["latency_ms"] for d in docs], ",.1f")
        if extra:
            want += _numbers([d.get("ttft_ms") for d in docs], ",.1f")
        assert want and all(re.search(rf"(?<![\d,.]){re.escape(n)}(?![\d])", out) for n in want), (want, out)
    rc, out, _ = cli(["frontier", *argv], capsys)
    rc, js, _ = cli(["frontier", *argv, "--json"], capsys)
    assert "…" not in out
    assert all(n in out for n in _numbers([p["deadline_ms"] for p in json.loads(js)["points"]], ",.3f"))


def test_devices_piped_is_compact_and_whole(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    rc, out, _ = cli(["devices"], capsys)
    assert rc == 0 and "…" not in out
    lines = out.splitlines()
    assert len(lines) < 80 and max(len(line) for line in lines) <= 80
    for d in PRESETS.values():
        assert d.name in out and f"{d.mem_gbps:g}" in out and f"{d.fp16_tflops:g}" in out
        assert d.source.split()[-1] in out   # the source is there, whole words


def _render(renderable, *, colour: bool) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=colour, color_system="truecolor" if colour else None,
                      no_color=not colour)
    console.print(renderable)
    return buf.getvalue()


def test_strips_are_letters_when_colour_is_off():
    from splittui.model import Scenario
    from splittui.profiles import load_profile
    from splittui.report.tables import strips
    from splittui.solvers import solve_all

    profile = load_profile("gpt2-like")
    results = solve_all(profile, Scenario(seq_len=128, up_mbps=10), ["greedy", "no-split", "all-client"])
    plain = _render(strips(profile, results), colour=False)
    assert "█" not in plain and "C client" in plain and "S server" in plain
    rows = {line.split()[0]: "".join(line.split()[1:]) for line in plain.splitlines()[1:] if line.strip()}
    assert set(rows["no-split"]) == {"S"} and set(rows["all-client"]) == {"C"} and {"C", "S"} <= set(rows["greedy"])
    coloured = _render(strips(profile, results), colour=True)
    assert "█" in coloured and "\x1b[" in coloured


def test_no_color_turns_the_strips_into_letters(monkeypatch, capsys):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")   # a terminal, but NO_COLOR wins
    rc, out, _ = cli(["solve", *SOLVE, "--up-mbps", "10"], capsys)
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert rc == 0 and "█" not in out and "CCCC" in out and "SSSS" in out

"""profile_model and `splittui profile`: valid documents, round trips, cancellation, atomic output."""

import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import splittui  # noqa: E402
from splittui.cli import main  # noqa: E402
from splittui.errors import SplittuiError  # noqa: E402
from splittui.profiler import ProfilingCancelled, build, profile_model  # noqa: E402
from splittui.profiler.servers import PRESETS, parse_server  # noqa: E402
from splittui.profiles import load_profile, profile_from_doc, save_profile  # noqa: E402

# the docs' worked example of "Profiling your own model" must run exactly as printed
EXAMPLE_PAGE = Path(__file__).resolve().parents[2] / "docs" / "commands" / "profile.md"


@pytest.fixture(scope="module")
def tiny_doc():
    calls = []
    doc = profile_model(build("gpt2-like", tiny=True), [16, 32], repeats=2,
                        progress=lambda d, t, label: calls.append((d, t, label)))
    return doc, calls


def test_document_is_a_valid_profile(tiny_doc):
    doc, _ = tiny_doc
    prof = profile_from_doc(doc)
    chain = build("gpt2-like", tiny=True)
    assert [layer.name for layer in prof.layers] == [s.name for s in chain.stages]
    assert prof.seq_lens == (16, 32) and doc["source"]["kind"] == "measured"
    assert all(v > 0 for layer in prof.layers for v in layer.client_ms)
    assert prof.layers[0].in_bytes == (16 * 8.0, 32 * 8.0)   # int64 token ids
    assert prof.output_bytes == (101 * 4.0, 101 * 4.0)      # last-position logits
    assert set(doc["fvcore"]["macs"]) == {s.name for s in chain.stages}


def test_round_trip_through_the_loader(tiny_doc, tmp_path):
    doc, _ = tiny_doc
    path = save_profile(doc, tmp_path / "p.json")
    prof = load_profile(path)
    assert prof.extra["fvcore"] == doc["fvcore"]
    assert splittui.profiles.profile_to_doc(prof) == json.loads(path.read_text())
    res = splittui.solve(prof, splittui.Scenario(deadline_ms=1e4, seq_len=24), solver="dp")
    assert res.feasible


def test_progress_reaches_total(tiny_doc):
    _, calls = tiny_doc
    done = [c[0] for c in calls]
    assert all(b > a for a, b in zip(done, done[1:], strict=False))
    assert done[-1] == calls[-1][1] == 2 * 2 * 19  # 2 lengths x up to 2 passes x 19 stages


def test_should_stop_cancels(tmp_path):
    seen = []
    with pytest.raises(ProfilingCancelled):
        profile_model(build("bert-base", tiny=True), [16], repeats=1,
                      progress=lambda d, t, label: seen.append(d), should_stop=lambda: len(seen) >= 3)
    assert len(seen) == 3


def test_servers():
    assert parse_server("cpu:2").threads == 2 and parse_server("cpu").threads >= 1
    with pytest.raises(SplittuiError):
        parse_server("tpu")
    with pytest.raises(SplittuiError):
        parse_server("cpu:0")
    if not torch.cuda.is_available():
        with pytest.raises(SplittuiError, match="no CUDA"):
            parse_server("cuda")
    big = (2e9, 1e6, 1)  # compute-bound stage: the faster card is faster
    assert PRESETS["h100"].time_ms(*big) < PRESETS["rtx3090"].time_ms(*big)


def test_slow_lengths_get_fewer_passes(monkeypatch):
    import splittui.profiler.run as run

    monkeypatch.setattr(run, "PASS_BUDGET_S", 0.0)  # no time for more: one timed pass after the warm-up
    calls = []
    doc = profile_model(build("bert-base", tiny=True), [16], repeats=4, fvcore=False,
                        progress=lambda d, t, label: calls.append((d, t)))
    assert doc["profiling"]["passes"] == [1] and len(doc["profiling"]["pass_ms"][0]) == 1
    assert calls[-1][0] == calls[-1][1] == 4 * 19


def test_measured_cpu_server():
    doc = profile_model(build("cmt-s", tiny=True), [32], repeats=1, server="cpu:1", fvcore=False)
    assert "measured on this CPU" in doc["source"]["server"]
    assert all(layer["server_ms"][0] > 0 for layer in doc["layers"])


def _readme_example(tmp_path) -> Path:
    text = EXAMPLE_PAGE.read_text(encoding="utf-8")
    code = re.search(r"<!-- example: my_model.py -->\s*```python\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "my_model.py"
    path.write_text(code, encoding="utf-8")
    return path


def test_custom_module_from_the_readme(tmp_path, capsys):
    pytest.importorskip("fvcore")  # the stage without a formula takes 2 x fvcore's count
    path = _readme_example(tmp_path)
    out = tmp_path / "mine.json"
    assert main(["profile", "--module", f"{path}:make_chain", "--seq", "8,16", "--repeats", "1",
                 "--out", str(out)]) == 0
    prof = load_profile(out)
    assert [layer.name for layer in prof.layers] == ["up", "act", "down"]
    assert prof.layers[2].flops[0] > 0  # no formula given: 2 x fvcore's count
    assert main(["profile", "--module", f"{path}:make_chain", "--seq", "8", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_module_errors(tmp_path):
    assert main(["profile", "--module", str(tmp_path / "nope.py:f"), "--out", str(tmp_path / "x.json")]) == 2
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    return 3\n")
    assert main(["profile", "--module", f"{bad}:f", "--out", str(tmp_path / "x.json")]) == 2


def test_ctrl_c_writes_nothing(tmp_path, monkeypatch, capsys):
    import splittui.profiler.run as run

    def interrupted(*args, **kwargs):
        kwargs["progress"](1, 10, "first")
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "profile_model", interrupted)
    out = tmp_path / "p.json"
    assert main(["profile", "--model", "bert-base", "--tiny", "--seq", "16", "--out", str(out)]) == 130
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert "interrupted" in capsys.readouterr().err.strip().splitlines()[-1]


def exit_status(argv) -> int:
    """main's return value, or argparse's exit status for a flag it rejects."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_bad_module_and_output_are_one_line_and_status_2(tmp_path, capsys):
    (tmp_path / "raises.py").write_text("def f():\n    raise RuntimeError('broken factory')\n")
    (tmp_path / "syntax.py").write_text("def f(:\n")
    (tmp_path / "imports.py").write_text("import no_such_package_zz\n")
    (tmp_path / "fine.py").write_text("def f():\n    return 1\n")
    (tmp_path / "notes.txt").write_text("x")
    out = ["--seq", "8", "--out", str(tmp_path / "x.json")]
    cases = [["--module", f"{tmp_path / 'raises.py'}:f", *out], ["--module", f"{tmp_path / 'syntax.py'}:f", *out],
             ["--module", f"{tmp_path / 'imports.py'}:f", *out], ["--module", f"{tmp_path / 'notes.txt'}:f", *out],
             ["--module", f"{tmp_path / 'fine.py'}:notthere", *out], ["--module", f"{tmp_path / 'fine.py'}:f", *out],
             ["--module", f"{tmp_path / 'fine.py'}:1x", *out],
             ["--model", "gpt2-like", "--tiny", "--seq", "8", "--out", str(tmp_path / "missing" / "x.json")],
             ["--model", "gpt2-like", "--seq", "99999"], ["--model", "gpt2-like", "--seq", "abc"],
             ["--model", "nope"], ["--model", "gpt2-like", "--server", "tpu", *out]]
    if not torch.cuda.is_available():
        cases.append(["--model", "gpt2-like", "--tiny", "--server", "cuda", *out])
    for argv in cases:
        assert exit_status(["profile", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err and "Traceback" not in "\n".join(err) and "error" in err[-1], (argv, err)
    # no profile written (the bytecode Python caches beside an imported factory file is not ours)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == [
        "fine.py", "imports.py", "notes.txt", "raises.py", "syntax.py"]

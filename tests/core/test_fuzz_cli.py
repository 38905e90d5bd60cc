"""Fuzzed numeric flags (issue 17, item 1): any text in any numeric flag of solve / evaluate ends in
exit 0 (or evaluate's 1, infeasible) or exit 2 with at most 3 lines on stderr, never a traceback."""

from __future__ import annotations

import json

import pytest
from fuzz_strategies import FUZZ, cli_outcome, numeric_flag_text
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_loaders import TINY_DOC, policy_seeds

__all__ = ["NUMERIC_FLAGS", "flag_argv"]

NUMERIC_FLAGS = ("--seq", "--deadline-ms", "--up-mbps", "--down-mbps", "--delay-ms", "--unit-ms")
_SOLVERS = ("dp", "exact", "greedy", "single-split", "no-split", "all-client", "all")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_cli")
    profile = folder / "tiny.json"
    profile.write_text(json.dumps(TINY_DOC))
    policy = folder / "policy.json"
    policy.write_text(json.dumps(policy_seeds(profile)[0]))
    return profile, policy


def flag_argv(draw, profile, policy) -> tuple[list, tuple[int, ...]]:
    """A solve or evaluate command line with 1..3 numeric flags set to fuzzed text."""
    flags = draw(st.lists(st.sampled_from(NUMERIC_FLAGS), min_size=1, max_size=3, unique=True))
    values = [draw(numeric_flag_text()) for _ in flags]
    pairs = [f"{f}={v}" for f, v in zip(flags, values, strict=True)]  # '=': a value may start with '-'
    if draw(st.booleans()):
        return ["solve", "--profile", profile, "--solver", draw(st.sampled_from(_SOLVERS)), "--json", *pairs], (0,)
    return ["evaluate", "--policy", policy, "--profile", profile, "--json", *pairs], (0, 1)


@FUZZ
@given(data=st.data())
def test_fuzzed_numeric_flags_exit_cleanly(files, capsys, data):
    argv, ok = flag_argv(data.draw, *files)
    cli_outcome(argv, capsys, ok=ok)


@pytest.mark.parametrize("flag", NUMERIC_FLAGS)
def test_a_lone_double_dash_as_a_flag_value_is_one_line(files, capsys, flag):
    """Found by benchmarks/fuzz.py: argparse dropped the '--' of '--seq=--' and passed a list on."""
    assert cli_outcome(["solve", "--profile", files[0], "--json", f"{flag}=--"], capsys) == "refused"

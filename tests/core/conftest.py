"""Fixtures for the core tests: small profile documents and files (strategies: core_strategies.py)."""

from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from splittui.analytic import gpt2_like_doc

# Hypothesis profiles, chosen by the HYPOTHESIS_PROFILE environment variable (default "core").
# They must be loaded before core_strategies builds its settings (test modules import it after this file).
#   core      the everyday suite: tests/core in well under a minute
#   bench     a thorough run (benchmarks, before a release): ten times the examples
#   ci        .ci/run: the core profile's examples, derandomised and without the example database, so that
#             CI judges the commit, not the draw (the random draws of `core` find new cases between commits)
#   mutation  benchmarks/mutation.sh: few examples, derandomised and without the example database, so
#             that a mutant's verdict does not depend on the run, and no shrinking (a failure is enough)
_BASE = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("core", max_examples=60, **_BASE)
settings.register_profile("bench", max_examples=600, **_BASE)
settings.register_profile("ci", max_examples=60, derandomize=True, database=None, **_BASE)
settings.register_profile("mutation", max_examples=20, derandomize=True, database=None, report_multiple_bugs=False,
                          phases=[Phase.explicit, Phase.generate], **_BASE)  # no shrinking: a failure is a kill
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "core"))


@pytest.fixture(scope="session")
def gpt2_doc() -> dict:
    """The analytic gpt2-like document (splittui.analytic: 195 layers, 6 sequence lengths)."""
    return gpt2_like_doc()


@pytest.fixture
def tiny_doc() -> dict:
    """A valid three-layer profile document with two sequence lengths."""
    def layer(i):
        return {"name": f"blk{i}", "kind": "linear", "flops": [1e6 * (i + 1), 4e6 * (i + 1)],
                "client_ms": [5.0 + i, 20.0 + i], "server_ms": [0.5, 2.0], "in_bytes": [4096.0, 8192.0],
                "mem_bytes": [1e6, 2e6]}
    return {"schema": "splittui.profile/1", "model": "tiny", "description": "three layers",
            "source": {"kind": "synthetic"}, "seq_lens": [128, 256], "output_bytes": [1024.0, 2048.0],
            "layers": [layer(i) for i in range(3)]}


@pytest.fixture
def write_doc(tmp_path):
    """write_doc(doc_or_text, name) -> path of a file holding it."""
    def write(doc, name: str = "p.json"):
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(copy.deepcopy(doc)), encoding="utf-8")
        return path
    return write

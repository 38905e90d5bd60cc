"""The core never imports textual, rich, torch or fvcore, and `splittui solve --json` stays torch-free.

Each check runs in a fresh interpreter, so what another test imported cannot hide a leak.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("textual", "rich", "torch", "fvcore")
CORE_MODULES = ("splittui", "splittui.model", "splittui.errors", "splittui.profiles", "splittui.costs",
                "splittui.solvers", "splittui.solvers.dp", "splittui.solvers.dp_labels", "splittui.solvers.exact",
                "splittui.solvers.baselines", "splittui.policy", "splittui.analytic", "splittui.sim",
                "splittui.sweep", "splittui.hf_config", "splittui.devices", "splittui.llm", "splittui.attention",
                "splittui.energy", "splittui.solvers.energy")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_heavy_package(module):
    code = (f"import sys, json, importlib; importlib.import_module({module!r}); "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [], f"{module} pulls in heavy packages"


def test_public_api_use_stays_light():
    """Touching the lazy public API (solve, evaluate, frontier) keeps the heavy packages out too."""
    code = ("import sys, json, splittui\n"
            "p = splittui.load_profile('gpt2-like')\n"
            "sc = splittui.Scenario(deadline_ms=1500, up_mbps=100)\n"
            "r = splittui.solve(p, sc, 'dp'); splittui.evaluate(p, sc, r.policy); splittui.frontier(p, sc)\n"
            "splittui.policy_document(p, sc, r)\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_solve_json_cli_does_not_import_torch_or_textual():
    code = ("import sys, json\n"
            "from splittui.cli import main\n"
            "rc = main(['solve', '--model', 'gpt2-like', '--json'])\n"
            "print(json.dumps([rc, [m for m in ('torch', 'textual', 'fvcore') if m in sys.modules]]), file=sys.stderr)")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    rc, heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    assert rc == 0 and heavy == []
    docs = json.loads(proc.stdout)
    assert isinstance(docs, list) and {d["solver"] for d in docs} >= {"dp", "exact", "greedy"}


def test_help_does_not_import_torch_or_textual():
    code = ("import sys, json, contextlib, io\n"
            "from splittui.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "print(json.dumps([m for m in ('torch', 'textual', 'fvcore') if m in sys.modules]))")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []

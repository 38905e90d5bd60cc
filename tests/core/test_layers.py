"""The import-linter contracts in pyproject.toml hold (layers point one way, the core imports no
textual/rich/torch), and a wrong arrow really breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_import_contracts_are_kept():
    """Every contract in pyproject.toml is kept by the tree as it is."""
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    """The app importing from the command line's modules fails the lint (the contract can fail)."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "splittui", tmp_path / "splittui", ignore=shutil.ignore_patterns("__pycache__"))
    state = tmp_path / "splittui" / "tui" / "state.py"
    state.write_text(state.read_text() + "\nfrom ..commands.common import positive_int  # noqa\n")
    out = lint(tmp_path)
    assert out.returncode != 0
    assert "splittui.tui.state -> splittui.commands.common" in out.stdout

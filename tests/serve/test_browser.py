"""A real browser (issue 33): headless Chromium opens the tokenised URL `splittui serve` prints, the app
answers a key, and an export (e, Enter) downloads in the browser and lands in the server's files folder,
nowhere else. Drives scripts/browser_check.py; skipped only where no Chromium is installed
(Debian: apt-get install -y chromium)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from serve_helpers import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install -y chromium)")
def test_chromium_opens_the_tokenised_url_and_the_export_lands_in_the_files_folder(tmp_path):
    downloads = tmp_path / "downloads"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "browser_check.py"), "--out",
                          str(tmp_path / "browser.png"), "--downloads", str(downloads)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "token=" in run.stdout and "refused (401)" in run.stdout
    (download,) = downloads.iterdir()
    kept = list((tmp_path / "splittui-data" / "serve").glob(f"*/files/{download.name}"))
    assert len(kept) == 1 and kept[0].read_bytes() == download.read_bytes()
    everywhere = [p for p in tmp_path.rglob(download.name) if p.parent != downloads]
    assert everywhere == kept, everywhere                 # nowhere else the server or the browser runs
    assert (tmp_path / "browser.png").read_bytes().startswith(b"\x89PNG")

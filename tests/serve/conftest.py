"""The served apps (child processes inherit the environment) keep their slots in a temporary folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from serve_helpers import ROOT, WAIT_S, free_port, wait_for_url_line


@pytest.fixture(autouse=True)
def _slots_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path / "splittui-data"))


@pytest.fixture
def serve(tmp_path):
    """Starts `splittui serve ARGS` on a free 127.0.0.1 port, run in tmp_path; the apps it starts import
    this checkout too. `start` waits for the URL line and returns the token it carries and the visitors'
    files folder it names (where exports land). Stopped with Ctrl-C at the end, so a failed test leaves
    no app process behind either."""
    started: list[subprocess.Popen] = []

    def start(*args) -> SimpleNamespace:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-m", "splittui", "serve", *map(str, args), "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        files = proc.stderr.readline()        # printed before the server starts
        assert "visitors' files:" in files, (files, proc.poll())
        line = wait_for_url_line(proc)
        token = re.search(r"[?&]token=([^\s&]+)", line)
        return SimpleNamespace(proc=proc, port=port, url=f"http://127.0.0.1:{port}", folder=tmp_path, line=line,
                               files=Path(files.split("visitors' files:", 1)[1].strip()),
                               token=token and token.group(1), query=f"token={token.group(1)}" if token else "")

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def server(serve):
    """`splittui serve --model gpt2-like`."""
    return serve("--model", "gpt2-like")

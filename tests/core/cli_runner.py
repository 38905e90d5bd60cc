"""Run `splittui ARGV` in-process for tests: (exit status, stdout, stderr), whether main returns or
argparse exits."""

from __future__ import annotations

from splittui.cli import main


def run_cli(argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err

"""The output flags every data-producing command shares (issue 24, STYLE habit 18: output is a contract).

``--json`` prints the command's JSON document on stdout (and nothing else there); ``--out FILE`` also
writes it to FILE, atomically, refusing to replace a file unless ``--force``; without ``--json`` the
human tables go to stdout. Notes ("wrote ...") go to stderr, so a pipe carries only the data.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from ..errors import SplittuiError

__all__ = ["add_output_flags", "check_out", "emit", "print_json"]


def add_output_flags(p: argparse.ArgumentParser, what: str, *, legacy_json_file: bool = False,
                     force_help: str | None = None) -> argparse._ArgumentGroup:
    """--json, --out FILE, --force. `legacy_json_file`: `--json FILE` (the old form of sweep and
    simulate) still writes FILE, with a note on stderr to use --out."""
    g = p.add_argument_group("output")
    text = f"print {what} as JSON on stdout instead of the tables"
    if legacy_json_file:
        g.add_argument("--json", nargs="?", const=True, default=False, metavar="FILE",
                       help=text + " (the old form --json FILE still writes FILE, as --out FILE does)")
    else:
        g.add_argument("--json", action="store_true", help=text)
    g.add_argument("--out", metavar="FILE", help=f"also write {what} as JSON to FILE, atomically "
                                                 "(its directory must exist; an existing file needs --force)")
    g.add_argument("--force", action="store_true", help=force_help or "let --out replace an existing file")
    return g


def check_out(args: argparse.Namespace, *more: str | None) -> None:
    """Resolve the old `--json FILE`, then fail before the slow part when --out (or `more`) would be refused."""
    from ..report.writers import check_paths

    if isinstance(getattr(args, "json", None), str):
        if args.out and args.out != args.json:
            raise SplittuiError(f"--json {args.json} --out {args.out}: give the file once, as --out FILE "
                                "(--json alone prints to stdout)")
        print(f"splittui: note: --json FILE is the old form; use --out {args.json} (--json alone prints the "
              "JSON on stdout)", file=sys.stderr)
        args.out, args.json = args.json, False
    check_paths((getattr(args, "out", None), *more), force=args.force)


def print_json(payload: Any) -> None:
    from ..report.documents import clean

    json.dump(clean(payload), sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


def emit(args: argparse.Namespace, payload: Any, human: Callable[[], None], *, what: str = "") -> None:
    """--out writes `payload`; --json prints it; otherwise `human()` prints the tables."""
    if getattr(args, "out", None):
        from ..report.writers import write_json

        path = write_json(args.out, payload, force=args.force)
        print(f"wrote {what + ' to ' if what else ''}{path}", file=sys.stderr)
    if getattr(args, "json", False):
        print_json(payload)
    else:
        human()

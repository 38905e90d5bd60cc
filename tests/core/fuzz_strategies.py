"""Generic fuzzing of splittui's input boundaries (issue 17): corrupt a valid document, then demand a
clean answer.

To cover a new loader (say a Hugging Face ``config.json`` or a device preset file) in a few lines::

    from fuzz_strategies import FUZZ, clean_outcome, corrupted_json, write_bytes

    @FUZZ
    @given(bad=corrupted_json(VALID_DOC))
    def test_config_loader(bad, tmp_dir):
        path = write_bytes(tmp_dir, bad)
        clean_outcome(lambda: load_config(path), source=str(path), check=my_validity_check)

``corrupted_json(doc)`` draws :class:`Corrupted` variants of a JSON document: wrong types, missing and
extra keys, NaN/±Infinity, huge and tiny magnitudes (also integers too large for a float), wrong
array lengths, then sometimes truncated, spliced or non-UTF-8 text. ``clean_outcome`` runs a call and
returns ``"accepted"`` (the result passed ``check``) or ``"refused"`` (a one-line SplittuiError that
names the file and a field, or says the whole file is unusable); anything else raises
:class:`Unclean`. ``cli_outcome`` is the same for a command line (exit 0 or 2, at most 3 stderr lines,
no traceback). ``benchmarks/fuzz.py`` runs the same properties with 100x the examples.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from splittui.errors import ProfileError, SplittuiError

__all__ = ["FUZZ", "Corrupted", "corrupted_json", "Unclean", "clean_outcome", "cli_outcome", "write_bytes",
           "StringCapsys", "WHOLE_FILE_PROBLEMS", "SPECIAL_NUMBERS", "numeric_flag_text"]

# Bounded so the whole fuzz set stays well under a minute; the benchmark multiplies max_examples. The rest
# (derandomize, database) comes from the loaded profile (conftest.py): under .ci/run the draws are fixed.
FUZZ = settings(max_examples=120, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])

# A refusal that names no field must say the whole file is the problem, in one of these words.
WHOLE_FILE_PROBLEMS = ("not valid JSON", "not UTF-8", "top level", "cannot read", "unknown model")

SPECIAL_NUMBERS = (math.nan, math.inf, -math.inf, 1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324,
                   1e-308, 0.0, -0.0, -1, 0, 1, 2**53 + 1, 2**63, 2**64, 10**400, -(10**400), 1e300, 1e-300)
_OTHER_TYPES: tuple[Any, ...] = (None, True, False, "", "x", "12", 0, 1.5, [], {}, [1, 2], {"k": 1}, "NaN", "\n", "é")
_EXTRA_KEYS = ("extra", "", "__proto__", "é", "schema", "layers", "name", "0")


@dataclass(frozen=True)
class Corrupted:
    """A corrupted document: the bytes to write and the steps that made it (for failure reports)."""

    data: bytes
    steps: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class Unclean(AssertionError):
    """A boundary answered with something other than a valid result or a clean one-line refusal."""


def _nodes(node: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) in a JSON document, root included."""
    out = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _nodes(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _nodes(v, (*path, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same_type(a: Any, b: Any) -> bool:
    return type(a) is type(b) or (_is_number(a) and _is_number(b))


def _scaled(v: float, k: int) -> float:
    """`v` times 10**k: overflows to ±inf, underflows to 0 (both are wanted); an int beyond a float's range
    (an earlier mutation may have put 10**400 there) counts as ±inf rather than raising OverflowError."""
    try:
        base = float(v or 1.0)
    except OverflowError:
        base = math.inf if v > 0 else -math.inf
    return base * 10.0 ** k


@st.composite
def _mutate(draw, doc: Any) -> tuple[Any, str]:
    """One corruption of `doc` (modified in place where possible); returns (doc, description)."""
    nodes = _nodes(doc)
    kind = draw(st.sampled_from(("wrong type", "missing key", "extra key", "special number", "magnitude",
                                 "array length")))
    pick = {"missing key": lambda v: isinstance(v, dict) and v, "extra key": lambda v: isinstance(v, dict),
            "array length": lambda v: isinstance(v, list), "special number": _is_number,
            "magnitude": _is_number}.get(kind, lambda v: True)
    choices = [(p, v) for p, v in nodes if pick(v)] or nodes
    path, value = draw(st.sampled_from(choices))
    where = "/".join(map(str, path)) or "<root>"
    if kind == "missing key" and isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        del value[key]
        return doc, f"{where}: dropped key {key!r}"
    if kind == "extra key" and isinstance(value, dict):
        key = draw(st.sampled_from(_EXTRA_KEYS) | st.text(max_size=6))
        value[key] = draw(st.sampled_from(_OTHER_TYPES + SPECIAL_NUMBERS))
        return doc, f"{where}: set key {key!r}"
    if kind == "array length" and isinstance(value, list):
        return _set(doc, path, draw(_resized(value))), f"{where}: resized list"
    if kind in ("special number", "magnitude") and _is_number(value):
        new = (draw(st.sampled_from(SPECIAL_NUMBERS)) if kind == "special number"
               else _scaled(value, draw(st.integers(-400, 308))))
        return _set(doc, path, new), f"{where}: {value!r} -> {new!r}"
    new = draw(st.sampled_from([t for t in _OTHER_TYPES if not _same_type(t, value)]))
    return _set(doc, path, copy.deepcopy(new)), f"{where}: replaced by {new!r}"


def _resized(items: list) -> st.SearchStrategy[list]:
    fill = items[-1] if items else 0
    return st.sampled_from((items[:-1], items[1:], [], items + [copy.deepcopy(fill)], items + items,
                            items[: len(items) // 2], [copy.deepcopy(fill)] * 100))


@st.composite
def _text_damage(draw, data: bytes) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(("truncate", "splice", "not utf-8")))
    at = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "truncate":
        return data[:at], f"truncated at byte {at}"
    if kind == "splice":
        junk = draw(st.sampled_from([b"{", b"}", b"[", b"]", b",", b":", b'"', b"e", b"-", b"NaN", b"\x00"]))
        return data[:at] + junk + data[at + 1:], f"byte {at} -> {junk!r}"
    return data[:at] + b"\xff\xfe" + data[at:], f"invalid UTF-8 at byte {at}"


@st.composite
def corrupted_json(draw, doc: Any, *, max_steps: int = 3) -> Corrupted:
    """Corrupted variants of a valid JSON document (see the module docstring).

    1..max_steps structural corruptions, written with NaN/Infinity literals as Python's json does,
    then (one time in five) damage to the text itself.
    """
    doc = copy.deepcopy(doc)
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        doc, step = draw(_mutate(doc))
        steps.append(step)
    data = json.dumps(doc, allow_nan=True).encode()
    if draw(st.integers(0, 4)) == 0:
        data, step = draw(_text_damage(data))
        steps.append(step)
    return Corrupted(data, tuple(steps))


def write_bytes(folder: str | Path, bad: Corrupted, name: str = "fuzzed.json") -> Path:
    path = Path(folder) / name
    path.write_bytes(bad.data)
    return path


_FIELD = re.compile(r"field '[^']+'")


def _check_refusal(exc: SplittuiError, source: str, whole_file: tuple[str, ...]) -> None:
    msg = str(exc)
    if not msg or "\n" in msg or "\r" in msg:
        raise Unclean(f"refusal is not one line: {msg!r}") from exc
    if source and source not in msg:
        raise Unclean(f"refusal does not name the file {source!r}: {msg!r}") from exc
    named = (isinstance(exc, ProfileError) and exc.field) or _FIELD.search(msg)
    if not named and not any(w in msg for w in whole_file):
        raise Unclean(f"refusal names no field: {msg!r}") from exc


def clean_outcome(call: Callable[[], Any], *, source: str, check: Callable[[Any], Any] | None = None,
                  whole_file: tuple[str, ...] = WHOLE_FILE_PROBLEMS) -> str:
    """'accepted' (call returned and check(result) passed) or 'refused' (one-line SplittuiError naming
    `source` and a field); raises Unclean otherwise. `check` may itself raise SplittuiError, which
    counts as a clean refusal (e.g. a loaded profile whose costs the solvers refuse)."""
    try:
        result = call()
        if check is not None:
            check(result)
    except Unclean:
        raise
    except SplittuiError as exc:
        _check_refusal(exc, source, whole_file)
        return "refused"
    except Exception as exc:
        raise Unclean(f"{type(exc).__name__}: {exc}") from exc
    return "accepted"


class StringCapsys:
    """Stands in for pytest's capsys outside pytest (the benchmark): capture while inside `with`."""

    def __enter__(self) -> "StringCapsys":
        self._out, self._err = io.StringIO(), io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self._out))
        self._stack.enter_context(contextlib.redirect_stderr(self._err))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def readouterr(self) -> tuple[str, str]:
        out, err = self._out.getvalue(), self._err.getvalue()
        self._out.seek(0), self._out.truncate(), self._err.seek(0), self._err.truncate()
        return out, err


def cli_outcome(argv: list, capsys=None, *, ok: tuple[int, ...] = (0,)) -> str:
    """Run `splittui argv` in-process: 'accepted' (exit in `ok`) or 'refused' (exit 2, <= 3 stderr
    lines, no traceback); raises Unclean for anything else (a crash, another exit code, noise)."""
    from cli_runner import run_cli

    try:
        if capsys is None:
            with StringCapsys() as cap:
                rc, out, err = run_cli(argv, cap)
        else:
            rc, out, err = run_cli(argv, capsys)
    except Exception as exc:
        raise Unclean(f"splittui {' '.join(map(str, argv))}: {type(exc).__name__}: {exc}") from exc
    lines = err.strip().splitlines()
    if "Traceback" in err or len(lines) > 3:
        raise Unclean(f"splittui {' '.join(map(str, argv))}: stderr has {len(lines)} lines: {err[-2000:]!r}")
    if rc in ok:
        return "accepted"
    if rc == 2 and lines:
        return "refused"
    raise Unclean(f"splittui {' '.join(map(str, argv))}: exit {rc}, stderr {err!r}")


def numeric_flag_text() -> st.SearchStrategy[str]:
    """What a user (or a typo) may type for a numeric flag."""
    floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    ints = st.integers(-(2**70), 2**70).map(str)
    odd = st.sampled_from(["", " ", "nan", "-nan", "inf", "-inf", "Infinity", "1e308", "1e309", "-1e308",
                           "1e-320", "5e-324", "0", "-0", "0.0", "1_000", "0x10", "1e3", "1,5", "abc", "--",
                           "9" * 400, "9" * 5000, "1e99999", "٣", "\u00a0", "1.5.2", "+7", "1/2", "1" * 30])
    special = st.sampled_from(SPECIAL_NUMBERS).map(repr)
    magnitudes = st.builds(lambda m, e: f"{m}e{e}", st.integers(1, 9), st.integers(-330, 330))
    return st.one_of(floats, ints, odd, special, magnitudes)

"""Load, validate and save `splittui.profile/1` documents: the core's only file I/O.

A profile is named either by a shipped name (``gpt2-like``: ``profiles/gpt2-like.json``, installed
with the package) or by a path. Every problem raises :class:`ProfileError` naming the file and field.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from .attention import FULL, Attention, parse_attention, split_variant_name, variant_name
from .errors import ProfileError, SplittuiError
from .model import Layer, Profile

__all__ = [
    "SCHEMA", "load_profile", "profile_from_doc", "profile_to_doc", "save_profile",
    "shipped_names", "canonical_sha256", "write_json_atomic", "write_text_atomic",
    "shipped_models", "shipped_variants", "load_variant", "profile_attention",
]

SCHEMA = "splittui.profile/1"
_LAYER_ARRAYS = ("flops", "client_ms", "server_ms", "in_bytes")
_DECODE_ARRAYS = ("dec_flops", "dec_client_ms", "dec_server_ms", "dec_in_bytes", "weight_bytes", "kv_bytes")
_KNOWN_TOP = {"schema", "model", "description", "source", "seq_lens", "output_bytes", "layers", "dec_output_bytes"}
MAX_SEQ_LEN = 2**53  # interpolation computes with floats, which hold integers exactly up to here


def _shipped_dir() -> Path:
    """profiles/ in a source checkout, or its installed copy (package `splittui.shipped`)."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "profiles"
    if checkout.is_dir() and (here.parent / "pyproject.toml").is_file():
        return checkout
    return here / "shipped"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in _shipped_dir().glob("*.json"))


def shipped_models() -> list[str]:
    """Shipped models at full attention (``bert-base``), without their variants (``bert-base@…``)."""
    return [n for n in shipped_names() if split_variant_name(n)[1].is_full]


def shipped_variants(model: str) -> list[Attention]:
    """The attention variants shipped for `model`, full first (what an app's picker offers)."""
    found = [split_variant_name(n) for n in shipped_names()]
    return sorted((a for m, a in found if m == model), key=lambda a: (not a.is_full, a.kind, a.size))


def profile_attention(profile: Profile) -> Attention:
    """The variant a profile was measured at (its ``attention`` field; absent: full)."""
    return parse_attention(str(profile.extra.get("attention", "full")), flag=f"{profile.origin}: field 'attention':")


def load_variant(name_or_path: str | os.PathLike[str], attention: Attention = FULL) -> Profile:
    """A profile at an attention variant: a shipped name selects ``profiles/<name>@<kind>-<size>.json``
    (one-line error listing the shipped variants when there is none); a file must have been
    measured at that variant. A variant other than full needs a profile with attention layers."""
    text = str(name_or_path)
    is_name = not Path(text).suffix and not Path(text).exists()
    if attention.is_full or not is_name:
        profile = load_profile(text)
        _check_file_variant(profile, attention)
        return profile
    if text not in shipped_names():
        load_profile(text)  # the unknown-model error
    name = variant_name(text, attention)
    if name not in shipped_names():
        have = ", ".join(a.label for a in shipped_variants(text))
        raise SplittuiError(f"--attention {attention.label}: no shipped profile of {text} at this variant "
                            f"(shipped: {have}); make one with 'splittui profile --model {text} --attention "
                            f"{attention.label} --seq ... --out FILE' and pass --profile FILE")
    return load_profile(name)


def _check_file_variant(profile: Profile, attention: Attention) -> None:
    if attention.is_full:
        return
    if not any(layer.kind == "attention" for layer in profile.layers):
        raise SplittuiError(f"--attention {attention.label}: {profile.origin} has no attention layers")
    measured = profile_attention(profile)
    if measured != attention:
        raise SplittuiError(f"--attention {attention.label}: {profile.origin} was profiled with "
                            f"{measured.label} attention (field 'attention'); profile the variant first")


def canonical_sha256(doc: dict[str, Any]) -> str:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def load_profile(name_or_path: str | os.PathLike[str]) -> Profile:
    """Load a shipped profile by name, or a profile file by path, and validate it."""
    text = str(name_or_path)
    path = Path(text)
    if not path.suffix and not path.exists():
        shipped = _shipped_dir() / f"{text}.json"
        if not shipped.exists():
            configs = sorted(p.stem for p in (_shipped_dir() / "configs").glob("*.json"))
            raise SplittuiError(
                f"unknown model {text!r}: shipped profiles are {', '.join(shipped_names())}; shipped LLM configs "
                f"are {', '.join(configs)} (or a profile file, or --hf-config PATH)")
        return _load_file(shipped, origin=text)
    return _load_file(path, origin=text)


def _load_file(path: Path, origin: str) -> Profile:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "", f"cannot read file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(str(path), "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        doc = json.loads(raw)  # NaN/Infinity parse as floats, so validation names their field
    except (ValueError, RecursionError) as exc:
        raise ProfileError(str(path), "", f"not valid JSON ({exc})") from None
    return profile_from_doc(doc, source=str(path), origin=origin)


def profile_from_doc(doc: object, *, source: str = "<profile>", origin: str = "") -> Profile:
    """Validate a decoded document and build a :class:`Profile`."""
    if not isinstance(doc, dict):
        raise ProfileError(source, "", "top level must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise ProfileError(source, "schema", f"expected {SCHEMA!r}, got {doc.get('schema')!r}")
    for key in ("model", "seq_lens", "output_bytes", "layers"):
        if key not in doc:
            raise ProfileError(source, key, "missing")
    if not isinstance(doc["model"], str) or not doc["model"]:
        raise ProfileError(source, "model", "must be a non-empty string")
    seq_lens = _seq_lens(doc["seq_lens"], source)
    n = len(seq_lens)
    output_bytes = _array(doc["output_bytes"], n, source, "output_bytes")
    layers_doc = doc["layers"]
    if not isinstance(layers_doc, list) or not layers_doc:
        raise ProfileError(source, "layers", "must be a non-empty list (no layers)")
    layers = tuple(_layer(item, i, n, source) for i, item in enumerate(layers_doc))
    dec_out = doc.get("dec_output_bytes")
    src = doc.get("source", {})
    return Profile(
        model=doc["model"], description=str(doc.get("description", "")),
        source=src if isinstance(src, dict) else {"kind": str(src)},
        seq_lens=seq_lens, output_bytes=output_bytes, layers=layers,
        sha256=_sha256(doc, source), origin=origin or source,
        extra={k: v for k, v in doc.items() if k not in _KNOWN_TOP},
        dec_output_bytes=None if dec_out is None else _array(dec_out, n, source, "dec_output_bytes"),
    )


def _sha256(doc: dict[str, Any], source: str) -> str:
    try:
        return canonical_sha256(doc)
    except (TypeError, ValueError):
        raise ProfileError(source, _non_finite_at(doc), "holds a NaN or infinite number (only finite numbers "
                           "are allowed)") from None


def _non_finite_at(node: object, path: str = "") -> str:
    """Where the first NaN or infinity in a document is, as 'a.b[2]' ('' if none)."""
    if isinstance(node, float) and not math.isfinite(node):
        return path or "<top level>"
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found = _non_finite_at(value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip("."))
        if found:
            return found
    return ""


def _seq_lens(value: object, source: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ProfileError(source, "seq_lens", "must be a non-empty list of positive integers")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ProfileError(source, "seq_lens", f"must hold positive integers, got {_short(v)}")
        if v > MAX_SEQ_LEN:
            raise ProfileError(source, "seq_lens", f"must be at most 2**53, got {_short(v)}")
    if any(b <= a for a, b in zip(value, value[1:], strict=False)):
        raise ProfileError(source, "seq_lens", "must be strictly increasing")
    return tuple(value)


def _array(value: object, n: int, source: str, field: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise ProfileError(source, field, "must be a list with one number per seq_lens entry")
    if len(value) != n:
        raise ProfileError(source, field, f"has {len(value)} entries but seq_lens has {n}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ProfileError(source, field, f"must hold numbers, got {_short(v)}")
        try:
            f = float(v)
        except OverflowError:
            raise ProfileError(source, field, f"must be finite, got an integer of {int(v).bit_length()} bits") from None
        if not math.isfinite(f):
            raise ProfileError(source, field, f"must be finite, got {v!r}")
        if v < 0:
            raise ProfileError(source, field, f"must be >= 0, got {_short(v)}")
        out.append(f)
    return tuple(out)


def _short(v: object) -> str:
    """A value for an error message: its repr, cut to one short line."""
    try:
        text = repr(v)
    except ValueError:  # an integer past Python's digit limit for str()
        return f"an integer of {v.bit_length()} bits" if isinstance(v, int) else type(v).__name__
    return text if len(text) <= 60 else f"{text[:57]}..."


def _layer(item: object, i: int, n: int, source: str) -> Layer:
    where = f"layers[{i}]"
    if not isinstance(item, dict):
        raise ProfileError(source, where, "must be an object")
    name = item.get("name", f"layer{i}")
    if not isinstance(name, str):
        raise ProfileError(source, f"{where}.name", "must be a string")
    where = f"layers[{i}] ({name})"
    for key in _LAYER_ARRAYS:
        if key not in item:
            raise ProfileError(source, f"{where}.{key}", "missing")
    arrays = {key: _array(item[key], n, source, f"{where}.{key}") for key in _LAYER_ARRAYS}
    for key in ("mem_bytes", *_DECODE_ARRAYS):  # optional
        if item.get(key) is not None:
            arrays[key] = _array(item[key], n, source, f"{where}.{key}")
    return Layer(name=name, kind=str(item.get("kind", "other")), **arrays)


def profile_to_doc(profile: Profile) -> dict[str, Any]:
    """The JSON document of a profile (unknown top-level fields kept)."""
    layers = []
    for layer in profile.layers:
        entry: dict[str, Any] = {"name": layer.name, "kind": layer.kind}
        for key in _LAYER_ARRAYS:
            entry[key] = list(getattr(layer, key))
        for key in ("mem_bytes", *_DECODE_ARRAYS):
            if getattr(layer, key) is not None:
                entry[key] = list(getattr(layer, key))
        layers.append(entry)
    doc = {"schema": SCHEMA, "model": profile.model, "description": profile.description,
           "source": profile.source, "seq_lens": list(profile.seq_lens),
           "output_bytes": list(profile.output_bytes), "layers": layers}
    if profile.dec_output_bytes is not None:
        doc["dec_output_bytes"] = list(profile.dec_output_bytes)
    doc.update(profile.extra)
    return doc


def write_text_atomic(path: str | os.PathLike[str], text: str, *, force: bool = False) -> Path:
    """Write text to a temp file beside `path`, then rename: readers never see half a file, and an
    interrupted write leaves the old file (or none). Refuses to replace a file unless `force`.
    """
    path = Path(path)
    if path.exists() and not force:
        raise SplittuiError(f"{path}: already exists (use --force to overwrite)")
    if path.parent and not path.parent.exists():
        raise SplittuiError(f"{path}: directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike[str], obj: object, *, force: bool = False) -> Path:
    """JSON through write_text_atomic (serialised first, so a bad value never truncates a file)."""
    return write_text_atomic(path, json.dumps(obj, indent=1, allow_nan=False) + "\n", force=force)


def save_profile(profile_or_doc: Profile | dict[str, Any], path: str | os.PathLike[str], *,
                 force: bool = False) -> Path:
    """Validate, then write atomically. Accepts a Profile or a raw document."""
    doc = profile_or_doc if isinstance(profile_or_doc, dict) else profile_to_doc(profile_or_doc)
    profile_from_doc(doc, source=str(path))
    return write_json_atomic(path, doc, force=force)

"""Saved slots between sessions: a small JSON file (``splittui.slots/1``) in the user's data
directory (platformdirs), or in ``$SPLITTUI_DATA_DIR`` when set (tests point it at a temporary
folder, so they never touch the real home).

Each slot keeps its scenario and every solver's result; the profiles they were solved on are stored
once each (by sha256), so a live-profiled model comes back too. No textual import here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from ..errors import SplittuiError
from ..model import Breakdown, Profile, Result, Scenario
from .slots import Slot

__all__ = ["SLOTS_SCHEMA", "DATA_DIR_ENV", "slots_path", "save_slots", "load_slots"]

SLOTS_SCHEMA = "splittui.slots/1"
DATA_DIR_ENV = "SPLITTUI_DATA_DIR"


def slots_path() -> Path:
    """Where the slots live: $SPLITTUI_DATA_DIR/slots.json, else the platform's user data dir."""
    base = os.environ.get(DATA_DIR_ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_data_dir("splittui", appauthor=False)
    return Path(base).expanduser() / "slots.json"


def _result_doc(r: Result) -> dict:
    doc = asdict(r)
    doc["policy"] = None if r.policy is None else list(r.policy)
    doc["violations"] = list(r.violations)
    return doc


def _result(doc: dict) -> Result:
    bd = doc.get("breakdown")
    return Result(**{**doc, "policy": None if doc["policy"] is None else tuple(doc["policy"]),
                     "breakdown": None if bd is None else Breakdown(**bd),
                     "violations": tuple(doc.get("violations", ())), "notes": tuple(doc.get("notes", ())),
                     "client_energy_parts": _tuple(doc.get("client_energy_parts"))})


def _tuple(v: list | None) -> tuple | None:
    return None if v is None else tuple(v)


def save_slots(slots: tuple[Slot, ...], path: Path | None = None) -> Path:
    """Write every slot (replacing the previous file, atomically); raises OSError or SplittuiError."""
    from ..profiles import profile_to_doc, write_json_atomic

    profiles = {s.profile.sha256: profile_to_doc(s.profile) for s in slots}
    doc = {"schema": SLOTS_SCHEMA, "profiles": profiles,
           "slots": [{"number": s.number, "name": s.name, "profile_sha256": s.profile.sha256,
                      "profile_origin": s.profile.origin, "scenario": s.scenario.to_dict(),
                      "results": {k: _result_doc(r) for k, r in s.results.items()}} for s in slots]}
    target = path or slots_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(target, doc, force=True)


def load_slots(path: Path | None = None) -> tuple[Slot, ...]:
    """The slots saved last session (none when there is no file); SplittuiError names a bad file."""
    from ..profiles import profile_from_doc

    source = path or slots_path()
    if not source.exists():
        return ()
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
        if doc.get("schema") != SLOTS_SCHEMA:
            raise ValueError(f"not a {SLOTS_SCHEMA} file")
        built: dict[tuple[str, str], Profile] = {}
        slots = []
        for s in doc["slots"]:
            key = (s["profile_sha256"], s.get("profile_origin") or "")
            if key not in built:
                built[key] = profile_from_doc(doc["profiles"][key[0]], source=str(source), origin=key[1])
            prof = built[key]
            slots.append(Slot(int(s["number"]), str(s["name"]), prof, Scenario(**s["scenario"]),
                              {k: _result(r) for k, r in s["results"].items()}))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, SplittuiError) as exc:
        raise SplittuiError(f"{source}: cannot read the saved slots ({exc})") from None
    return tuple(slots)

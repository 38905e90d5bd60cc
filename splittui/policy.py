"""`splittui.policy/2` documents (and /1, read): what `solve --json`, `--out` and the app export, and
`evaluate` reads."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ProfileError, SplittuiError
from .model import Profile, Result, Scenario, resolve_returns

__all__ = ["POLICY_SCHEMA", "READ_SCHEMAS", "stored_setup", "stored_scenario", "scenario_fields", "TOKEN_COUNTING",
           "policy_document", "load_policy", "load_policies", "improvement_over_greedy", "energy_record"]

POLICY_SCHEMA = "splittui.policy/2"
# /1 lacked the setup (devices, dtype, attention, user device definitions) and what the end returns;
# it is still read, and its readers name what it cannot restore
READ_SCHEMAS = ("splittui.policy/1", POLICY_SCHEMA)
# SPEC §8's counting: N output tokens = the prefill's + N − 1 decode steps. policy/1 files counted decode steps
# (N of theirs is N + 1 output tokens); `stored_scenario` converts them.
TOKEN_COUNTING = "output tokens"


def policy_document(profile: Profile, sc: Scenario, res: Result, *,
                    tiers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full, self-describing record of one solver's answer for one scenario; `tiers` (SPEC §11): the
    topology and the tier of each layer, only for a chain of tiers (two-tier documents are unchanged)."""
    bd = res.breakdown
    placement = None
    if res.policy is not None:
        placement = [{"name": layer.name, "kind": layer.kind, "side": "client" if x else "server"}
                     for layer, x in zip(profile.layers, res.policy, strict=False)]
    from .setup import setup_of

    scenario = {**sc.to_dict(), "returns": resolve_returns(sc.returns, profile.is_llm, sc.gen_tokens)}
    return {
        "schema": POLICY_SCHEMA,
        "model": profile.model,
        "profile": _profile_ref(profile),
        "profile_sha256": profile.sha256,
        "setup": setup_of(profile).to_dict(),
        "scenario": scenario,
        "gen_tokens_counts": TOKEN_COUNTING,
        "solver": res.solver,
        "feasible": res.feasible,
        "policy": None if res.policy is None else list(res.policy),
        "placement": placement,
        "latency_ms": res.latency_ms,
        "ttft_ms": res.ttft_ms,
        "tpot_ms": res.tpot_ms,
        "violations": list(res.violations),
        "notes": list(res.notes),
        "breakdown_ms": None if bd is None else {
            "client_compute": bd.client_ms, "server_compute": bd.server_ms,
            "upload": bd.upload_ms, "download": bd.download_ms},
        "min_latency_ms": res.min_latency_ms,
        "server_load": res.server_load,
        "total_load": res.total_load,
        "server_share": res.server_share,
        "server_mem_bytes": res.server_mem_bytes,
        "client_share": res.client_share,
        "switches": res.switches,
        "energy": energy_record(profile, sc, res),
        "memory": memory_record(profile, sc, res),
        "solve_ms": res.solve_ms,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **({"tiers": tiers} if tiers is not None else {}),
    }


def memory_record(profile: Profile, sc: Scenario, res: Result) -> dict[str, Any] | None:
    """Each side's memory under the policy (SPEC §10: weights, KV, activation, reserve, total vs limit),
    where the profile carries the per-layer bytes; a side without a limit on a known device preset also
    says whether the policy fits that device (`memory.device_fits`)."""
    if res.policy is None or not profile.has_server_mem:
        return None
    from .memory import device_fits, memory_breakdown, memory_rows

    out: dict[str, Any] = {m.side: m.to_dict() for m in memory_breakdown(profile, sc, res.policy)}
    for d in device_fits(profile, memory_rows(profile, sc), res.policy):   # a side without a limit, on its device
        out[d.side].update(d.to_dict())
    return out


def energy_record(profile: Profile, sc: Scenario, res: Result) -> dict[str, Any] | None:
    """The policy's client and server joules (docs/energy.md), labelled as the estimates they are."""
    if res.client_energy_j is None:
        return None
    from .energy import ESTIMATE_NOTE, RADIOS, client_power, server_power

    parts = res.client_energy_parts or (None, None, None)
    return {"estimate": True, "note": ESTIMATE_NOTE, "client_j": res.client_energy_j,
            "client_compute_j": parts[0], "client_wait_j": parts[1], "client_radio_j": parts[2],
            "client_j_per_decode_token": res.client_j_per_token, "server_j": res.server_energy_j,
            "radio": sc.radio, "radio_source": RADIOS[sc.radio].source,
            "client_power": client_power(profile.source.get("client_device"))[1],
            "server_power": server_power(profile.source.get("server_device"))[1]}


def _profile_ref(profile: Profile) -> str:
    """A shipped name as is; a file as an absolute path, so the export resolves from anywhere."""
    from .profiles import shipped_names

    origin = profile.origin or profile.model
    if origin in shipped_names() or not Path(origin).exists():
        return origin
    return str(Path(origin).resolve())


def load_policy(path: str | Path) -> dict[str, Any]:
    """Read a policy file (one document, or a list of them as the app's slot export writes).

    Returns the first document that holds a policy; its 'policy' is a list of 0/1.
    """
    return load_policies(path)[0][1]


def load_policies(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Every document of a policy file that holds a policy, with its index in the file, validated."""
    path = Path(path)
    src = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(src, "", f"cannot read file ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ProfileError(src, "", f"not valid JSON ({exc})") from None
    docs = doc if isinstance(doc, list) else [doc]
    for i, d in enumerate(docs):
        if not isinstance(d, dict) or d.get("schema") not in READ_SCHEMAS:
            raise ProfileError(src, "schema" if len(docs) == 1 else f"[{i}].schema",
                               f"expected {' or '.join(map(repr, READ_SCHEMAS))}")
    usable = [(i, d) for i, d in enumerate(docs) if isinstance(d.get("policy"), list)]
    if not usable:
        raise ProfileError(src, "policy", "no document in the file holds a policy (all infeasible)")
    for i, d in usable:
        _check_document(d, src, "" if len(docs) == 1 else f"[{i}].")
    return usable


def _check_document(d: dict[str, Any], src: str, at: str) -> None:
    if not all(v in (0, 1) and not isinstance(v, bool) for v in d["policy"]):
        raise ProfileError(src, f"{at}policy", "must be a list of 0/1 values")
    if not isinstance(d.get("model"), str) or not d["model"]:
        raise ProfileError(src, f"{at}model", "missing (the model the policy was made for)")
    scenario = d.get("scenario")
    if scenario is not None and not isinstance(scenario, dict):
        raise ProfileError(src, f"{at}scenario", "must be an object")
    seq = (scenario or {}).get("seq_len")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq <= 0):
        raise ProfileError(src, f"{at}scenario.seq_len", f"must be a positive integer, got {seq!r}")
    _check_scenario(src, scenario or {}, at)
    if d.get("setup") is not None:
        from .setup import setup_from_dict

        setup_from_dict(d["setup"], src, f"{at}setup")


def _check_scenario(src: str, stored: dict[str, Any], at: str = "") -> None:
    """The stored scenario must make a valid Scenario (fields left out or null take the defaults)."""
    values = {k: v for k, v in stored.items() if k in Scenario.__dataclass_fields__ and v is not None}
    for key, v in values.items():
        if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 1000:
            raise ProfileError(src, f"{at}scenario.{key}", f"integer of {v.bit_length()} bits is out of range")
    try:
        Scenario(**values)
    except (SplittuiError, TypeError) as exc:
        text = str(exc).removeprefix("scenario: ")
        key = text.split(" ", 1)[0]
        field = f"{at}scenario.{key}" if key in Scenario.__dataclass_fields__ else f"{at}scenario"
        raise ProfileError(src, field, text) from None


def improvement_over_greedy(res: Result, greedy: Result) -> float | None:
    """The paper's metric: relative gain of client share over greedy's (SPEC §5)."""
    share, base = res.client_share, greedy.client_share
    if not (res.feasible and greedy.feasible) or share is None or base is None or base <= 0:
        return None
    return (share - base) / base


def check_policy_fits(profile: Profile, doc: dict[str, Any], source: str) -> None:
    if len(doc["policy"]) != profile.n_layers:
        raise ProfileError(source, "policy", f"has {len(doc['policy'])} layers but profile "
                           f"{profile.model} has {profile.n_layers}")




def stored_scenario(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's scenario fields in today's counting (a policy/1 file's N decode steps are N + 1
    output tokens, SPEC §8)."""
    stored = dict(doc.get("scenario") or {})
    n = stored.get("gen_tokens")
    old = doc.get("gen_tokens_counts", "decode steps" if doc.get("schema") == READ_SCHEMAS[0] else TOKEN_COUNTING)
    if old == "decode steps" and isinstance(n, int) and not isinstance(n, bool) and n > 0:
        stored["gen_tokens"] = n + 1
    return stored


def scenario_fields(doc: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """The document's Scenario fields for `profile`, in today's counting; a stored 'returns' that is what
    'auto' gives on this profile reads as 'auto' (so a scenario saved and read back is the same)."""
    values = {k: v for k, v in stored_scenario(doc).items() if k in Scenario.__dataclass_fields__ and v is not None}
    gen = values.get("gen_tokens", 0)
    if values.get("returns") == resolve_returns("auto", profile.is_llm, gen if isinstance(gen, int) else 0):
        values["returns"] = "auto"
    return values


def stored_setup(doc: dict[str, Any], src: str) -> tuple[Any, list[str]]:
    """The document's Setup and the names of the fields it cannot restore (a policy/1 file has no setup:
    its devices, dtype and attention variant are unknown and the profile's defaults are used)."""
    from .setup import Setup, setup_from_dict

    if doc.get("setup") is not None:
        return setup_from_dict(doc["setup"], src), []
    model = str(doc.get("profile") or doc.get("model"))
    return Setup(model=model), ["client_device", "server_device", "dtype", "attention", "returns"]

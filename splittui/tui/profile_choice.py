"""What the model, device and dtype pickers choose (`ProfileChoice`), and how the solve worker turns a
choice into a profile and fits the knobs' scenario to it. Pure: no textual here.

A shipped LLM config (``qwen2.5-7b``) or a config file the app was opened on (``--hf-config PATH``,
keyed by its absolute path) becomes an analytic profile on the chosen devices and dtype (times are
roofline estimates); a measured profile (the zoo, a file, a live profile) keeps its own times under
"measured" or is re-timed on a preset. Profiles are cached, so switching back is free.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from ..calibration import RUNTIMES
from ..devices import DEFAULT_CLIENT, DEFAULT_SERVER, PRESETS
from ..errors import SplittuiError
from ..llm import DTYPE_DEFAULT, is_shipped_config, load_arch, profile_for, retime, seq_lens_for, shipped_config_names
from ..model import Profile, Scenario
from ..profiles import load_profile, shipped_names

__all__ = ["ProfileChoice", "switch_model", "MEASURED", "DTYPES", "choice_for", "device_choices", "dtype_choices",
           "model_names", "model_label", "load_choice", "fit_scenario", "gen_cap", "ROOFLINE", "runtime_choices",
           "runtime_of"]

MEASURED = "measured"     # the profile's own times
THIS_CPU = "this-cpu"     # this machine's CPU, a device of devices.py (not a preset: it is measured)
DTYPES = ("fp32", "fp16", "bf16", "int8", "int4", "q4_k_m")
ROOFLINE = "roofline"     # the runtime picker's "no fitted device model" (ProfileChoice.runtime None)
_CONFIG_FILES: set[str] = set()   # config files opened in this process (absolute paths): rebuilt like shipped ones


@dataclass(frozen=True, slots=True)
class ProfileChoice:
    """The pickers' values: a model (shipped profile, shipped config or a loaded profile's key),
    the client and server devices (a preset or "measured"), the weight dtype and, for a config, the
    calibrated runtime that times the devices (None: the plain roofline; docs/device-model.md)."""

    model: str
    client: str = MEASURED
    server: str = MEASURED
    dtype: str = "fp32"
    runtime: str | None = None

    @property
    def is_config(self) -> bool:
        return self.model in _CONFIG_FILES or is_shipped_config(self.model)


def switch_model(choice: ProfileChoice, model: str) -> ProfileChoice:
    """The choice after the model picker moved: a config keeps the chosen devices and dtype (presets
    for "measured"); a measured profile starts on its own times in fp32."""
    new = ProfileChoice(model)
    if not new.is_config:
        return new
    was = choice.is_config
    return ProfileChoice(model, DEFAULT_CLIENT if choice.client == MEASURED else choice.client,
                         DEFAULT_SERVER if choice.server == MEASURED else choice.server,
                         choice.dtype if was else DTYPE_DEFAULT, choice.runtime)


def model_names(loaded: list[str]) -> list[str]:
    """The model picker: the zoo's measured profiles, then the shipped LLM configs, then loaded ones."""
    return list(dict.fromkeys([*shipped_names(), *shipped_config_names(), *loaded]))


def model_label(model: str) -> str:
    """What the model picker shows: a name as is; a file by its name (a config.json with its folder)."""
    if "/" not in model and "\\" not in model:
        return model
    path = Path(model)
    return f"{path.parent.name}/{path.name}" if path.name == "config.json" else path.name


def device_choices(side: str, *, measured: bool) -> list[str]:
    """Presets for one side (that side's role first); "measured" first where the profile has times."""
    own = [n for n, d in PRESETS.items() if d.role == side]
    other = [n for n in PRESETS if n not in own]
    mine = [THIS_CPU] if side == "client" else []   # measured once (~10 s), then cached (devices.this_cpu)
    return [*([MEASURED] if measured else []), *own, *mine, *other]


def runtime_choices(choice: ProfileChoice) -> list[str]:
    """The runtimes a config's devices may be timed by (a fitted device model), or the plain roofline."""
    return [ROOFLINE, *RUNTIMES] if choice.is_config else [ROOFLINE]


def runtime_of(value: str) -> str | None:
    """The picker's value as `ProfileChoice.runtime` (None: the uncalibrated roofline)."""
    return None if value == ROOFLINE else value


def dtype_choices(choice: ProfileChoice) -> list[str]:
    """A config's weights may be any dtype; a measured profile was measured in fp32."""
    return list(DTYPES) if choice.is_config else ["fp32"]


def choice_for(profile: Profile, key: str) -> ProfileChoice:
    """The pickers' values for a profile opened directly (by the CLI, a slot or a live profiling). An
    analytic profile keeps its devices and dtype; one built from a config file is rebuilt from that file."""
    src = profile.source if isinstance(profile.source, dict) else {}
    if src.get("kind") == "analytic" and _reads_as_config(key):
        _CONFIG_FILES.add(key)
    if src.get("kind") == "analytic" and ProfileChoice(key).is_config:
        return ProfileChoice(key, str(src.get("client_device", DEFAULT_CLIENT)),
                             str(src.get("server_device", DEFAULT_SERVER)), str(src.get("dtype", DTYPE_DEFAULT)),
                             str(src["runtime"]) if src.get("runtime") else None)
    return ProfileChoice(key, *_own_devices(profile))


def _reads_as_config(key: str) -> bool:
    """Whether `key` is the path of a config file (an analytic profile's origin), not a profile file
    written from one (`splittui profile --hf-config … --out`), which keeps its own numbers."""
    if is_shipped_config(key) or not Path(key).is_absolute():
        return False
    try:
        load_arch(key)
    except SplittuiError:
        return False
    return True


def load_choice(choice: ProfileChoice, loaded: dict[str, Profile]) -> Profile:
    """The profile a choice stands for (cached); raises SplittuiError for a choice the core refuses."""
    if not choice.is_config and choice.dtype != "fp32":
        raise SplittuiError(f"dtype {choice.dtype}: {choice.model} is a measured fp32 profile; "
                            "dtypes apply to LLM configs")
    if choice.model in loaded and not choice.is_config:
        base = loaded[choice.model]
        if (choice.client, choice.server) == _own_devices(base):
            return base   # as opened: its times are already those devices' (e.g. a profile written from a config)
        return _retimed(base, choice.client, choice.server)
    return _load(choice)


def _own_devices(profile: Profile) -> tuple[str, str]:
    src = profile.source if isinstance(profile.source, dict) else {}
    return str(src.get("client_device", MEASURED)), str(src.get("server_device", MEASURED))


@functools.lru_cache(maxsize=32)
def _load(choice: ProfileChoice) -> Profile:
    if choice.is_config:
        client = DEFAULT_CLIENT if choice.client == MEASURED else choice.client
        server = DEFAULT_SERVER if choice.server == MEASURED else choice.server
        arch = load_arch(choice.model)   # the model's name or path: a path stays the profile's origin
        return profile_for(choice.model, dtype=choice.dtype, client_device=client, server_device=server,
                           seq_lens=seq_lens_for(arch), runtime=choice.runtime)
    return _retimed(load_profile(choice.model), choice.client, choice.server)


_RETIMED: dict[tuple[int, str, str], tuple[Profile, Profile]] = {}


def _retimed(base: Profile, client: str, server: str) -> Profile:
    if client == MEASURED and server == MEASURED:
        return base
    key = (id(base), client, server)
    hit = _RETIMED.get(key)
    if hit is not None and hit[0] is base:
        return hit[1]
    out = retime(base, client_device=None if client == MEASURED else client,
                 server_device=None if server == MEASURED else server)
    if len(_RETIMED) > 32:
        _RETIMED.clear()
    _RETIMED[key] = (base, out)
    return out


def gen_cap(profile: Profile, seq_len: int) -> int:
    """The most output tokens whose decode contexts s..s+N−2 stay within the profile's longest length."""
    return max(0, profile.seq_range[1] - seq_len + 2)


def fit_scenario(profile: Profile, sc: Scenario) -> tuple[Scenario, str]:
    """The knobs' scenario made solvable on `profile`, and a note saying what was changed and why:
    a length outside the profile's range, an objective it lacks the fields for, output tokens on a
    profile without decode costs or past its longest length (no extrapolation, SPEC §8), pins past its last
    layer, memory limits on a profile without the memory fields (SPEC §10)."""
    notes = []
    lo, hi = profile.seq_range
    if not lo <= sc.seq_len <= hi:
        sc = sc.replace(seq_len=profile.default_seq)
    if (sc.objective == "mem_bytes" and not profile.has_mem) or (
            sc.objective == "server_mem" and not profile.has_server_mem):
        notes.append(f"objective {sc.objective}: {profile.model} lacks its fields, using flops")
        sc = sc.replace(objective="flops")
    if sc.gen_tokens > 1 and not profile.has_decode:
        notes.append(f"output tokens: {profile.model} has no decode costs (prefill only)")
        sc = sc.replace(gen_tokens=0)
    elif sc.gen_tokens > gen_cap(profile, sc.seq_len):
        cap = gen_cap(profile, sc.seq_len)
        notes.append(f"output tokens {sc.gen_tokens} → {cap}: seq {sc.seq_len} + N − 2 must stay ≤ {hi}, "
                     "the profile's longest length")
        sc = sc.replace(gen_tokens=cap)
    if any(i >= profile.n_layers for i in (*sc.pin_client, *sc.pin_server)):
        notes.append(f"pins dropped: {profile.model} has {profile.n_layers} layers")
        sc = sc.replace(pin_client=(), pin_server=())
    if sc.has_memory_limits and not profile.has_server_mem:
        notes.append(f"memory limits off: {profile.model} lacks weight_bytes and kv_bytes (SPEC §10)")
        sc = sc.replace(client_mem_gb=None, server_mem_gb=None)
    return sc, "; ".join(notes)

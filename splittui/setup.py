"""The complete scenario's other half: what builds the profile a `Scenario` is solved on.

A number splittui shows depends on the scenario's knobs (`model.Scenario`) *and* on the profile: which
model or config, the client and server devices that time it (with the definition of a user device),
the weight dtype and the attention variant. :class:`Setup` records that half; ``setup_of(profile)``
reads it back from a built profile and ``Setup.build()`` rebuilds the same profile, so a policy file,
a saved slot or the app opened on a file answers the question that was asked, not one on default
devices. Every field a reader cannot restore is named by the reader (see `restore_notes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .devices import PRESETS, Device
from .errors import ProfileError
from .model import Profile

__all__ = ["Setup", "setup_of", "setup_from_dict", "device_definitions"]

_DEVICE_FIELDS = {f.name for f in fields(Device)}


@dataclass(frozen=True, slots=True)
class Setup:
    """What builds the profile: model (shipped name or absolute path), devices, dtype, attention."""

    model: str
    config: bool = False                 # an LLM config (analytic profile), not a profile document
    client_device: str | None = None     # None: the profile's own (measured) times
    server_device: str | None = None
    dtype: str | None = None             # LLM configs only
    attention: str = "full"
    runtime: str | None = None           # the calibrated runtime that timed the devices (None: roofline)
    devices: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()  # non-preset device definitions

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "config": self.config, "client_device": self.client_device,
                               "server_device": self.server_device, "dtype": self.dtype,
                               "attention": self.attention, "runtime": self.runtime}
        if self.devices:
            out["devices"] = {name: dict(spec) for name, spec in self.devices}
        return out

    def user_devices(self) -> dict[str, Device]:
        return {name: Device(**dict(spec)) for name, spec in self.devices}

    def build(self, *, include_seq: Sequence[int] = (), overrides: dict[str, Any] | None = None,
              devices: dict[str, Device] | None = None) -> Profile:
        """The profile this setup names; `overrides` (model, client_device, server_device, dtype) win."""
        from .llm import load_any

        o = {k: v for k, v in (overrides or {}).items() if v is not None}
        user = {**self.user_devices(), **(devices or {})}
        model = o.get("model", self.model)
        config = bool(o.get("config", self.config))
        return load_any(model, dtype=o.get("dtype", self.dtype),
                        client_device=o.get("client_device", self.client_device),
                        server_device=o.get("server_device", self.server_device),
                        include_seq=include_seq, devices=user or None, hf_config=config,
                        runtime=o.get("runtime", self.runtime))


def _ref(profile: Profile) -> str:
    """A shipped name as is; a file as an absolute path, so the record resolves from anywhere."""
    from .llm import is_shipped_config
    from .profiles import shipped_names

    origin = profile.origin or profile.model
    if origin in shipped_names() or is_shipped_config(origin) or not Path(origin).exists():
        return origin
    return str(Path(origin).resolve())


def device_definitions(profile: Profile) -> dict[str, dict[str, Any]]:
    """The definitions of the non-preset devices a profile was timed on (user devices, this-cpu)."""
    defs = profile.source.get("device_defs")
    return {str(k): dict(v) for k, v in defs.items()} if isinstance(defs, dict) else {}


def setup_of(profile: Profile) -> Setup:
    """The setup that rebuilds `profile` (from its source and extra fields)."""
    src = profile.source
    defs = device_definitions(profile)
    client, server = src.get("client_device"), src.get("server_device")
    used = {str(n): tuple(sorted(defs[n].items())) for n in (client, server)
            if n is not None and n in defs and n not in PRESETS}
    return Setup(model=_ref(profile), config=profile.is_llm,
                 client_device=None if client is None else str(client),
                 server_device=None if server is None else str(server),
                 dtype=str(profile.extra.get("dtype")) if profile.is_llm and profile.extra.get("dtype") else None,
                 attention=str(profile.extra.get("attention", "full")),
                 runtime=str(src["runtime"]) if src.get("runtime") else None,
                 devices=tuple(sorted(used.items())))


def setup_from_dict(d: object, src: str, at: str = "setup") -> Setup:
    """A validated Setup from a document's 'setup' object; problems name the field."""
    if not isinstance(d, dict):
        raise ProfileError(src, at, "must be an object")
    model = d.get("model")
    if not isinstance(model, str) or not model:
        raise ProfileError(src, f"{at}.model", "missing (the model or config the policy was made for)")
    for key in ("client_device", "server_device", "dtype", "runtime"):
        if d.get(key) is not None and not isinstance(d[key], str):
            raise ProfileError(src, f"{at}.{key}", f"must be a string or null, got {d[key]!r}")
    attention = d.get("attention", "full")
    if not isinstance(attention, str):
        raise ProfileError(src, f"{at}.attention", f"must be a string, got {attention!r}")
    return Setup(model=model, config=bool(d.get("config", False)), client_device=d.get("client_device"),
                 server_device=d.get("server_device"), dtype=d.get("dtype"), attention=attention,
                 runtime=d.get("runtime"), devices=_devices(d.get("devices"), src, f"{at}.devices"))


def _devices(raw: object, src: str, at: str) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ProfileError(src, at, "must be an object of device definitions")
    out = []
    for name, spec in raw.items():
        if not isinstance(spec, dict) or not set(spec) <= _DEVICE_FIELDS:
            raise ProfileError(src, f"{at}.{name}", f"must be a device definition (fields: "
                               f"{', '.join(sorted(_DEVICE_FIELDS))})")
        try:
            Device(**spec)
        except TypeError as exc:
            raise ProfileError(src, f"{at}.{name}", str(exc)) from None
        out.append((str(name), tuple(sorted(spec.items()))))
    return tuple(out)

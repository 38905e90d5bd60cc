"""Memory per layer and side (SPEC §10): weights, KV cache, activation peak and runtime reserve.

A side's memory under a policy ``x`` is the sum over the layers it runs of their weights (``weight_bytes``:
the dtype's real bits per weight, block scales included, `hf_config.weight_bits`) and their KV cache for
``s + N − 1`` tokens (``kv_bytes`` per token, SPEC §8's counting, `model.kv_tokens`), plus the largest
activation live at once on that side, plus a runtime reserve. A tied embedding/LM-head matrix is held once
per side that holds either layer: once when both run on one side, on both sides when a split separates them.

Activation of a layer: the states entering and leaving it at the prompt length ``s`` (``in_bytes`` of the
layer and of the next one; the model's output after the last). Prefill is the peak: a decode step moves one
token. Attention scores are assumed not materialised as a whole ``s × s`` matrix (flash / memory-efficient
SDPA kernels, llama.cpp's flash attention); the MLP's widest state is the input of ``mlp.act``.

Reserve of a side with limit ``M``: ``min(M, RESERVE_FIXED_BYTES + RESERVE_FRACTION · M)`` — llama.cpp's
``--fit`` keeps a 1024 MiB margin per device (``--fit-target``), accelerate's ``get_balanced_memory`` keeps
10 % of a device free "for the buffer to avoid OOM" (it uses 90 % for the model). Without a limit the
reserve is not counted.

Limits are in GB = 10^9 bytes (as ``simulate --server-mem-gb``). Pure numpy; no UI import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .errors import SplittuiError
from .model import Profile, Scenario

__all__ = ["RESERVE_FIXED_BYTES", "RESERVE_FRACTION", "GB", "MemRows", "SideMemory", "reserve_bytes",
           "memory_rows", "memory_breakdown", "memory_violations", "pin_violations", "pin_array", "fmt_gb",
           "device_usable_bytes", "DeviceFit", "device_fits"]

GB = 1e9
RESERVE_FIXED_BYTES = float(2 ** 30)   # llama.cpp --fit-target default: 1024 MiB margin per device
RESERVE_FRACTION = 0.10                # accelerate get_balanced_memory: 90 % for the model, 10 % buffer


def reserve_bytes(limit_bytes: float | None) -> float:
    """The runtime reserve of a side with this limit (0 without a limit)."""
    if limit_bytes is None or not math.isfinite(limit_bytes):
        return 0.0
    return min(limit_bytes, RESERVE_FIXED_BYTES + RESERVE_FRACTION * limit_bytes)


def fmt_gb(b: float) -> str:
    return f"{b / GB:,.2f} GB"


@dataclass(frozen=True, slots=True, eq=False)
class MemRows:
    """Per-layer memory of one request and the two sides' limits: what every solver reads (SPEC §10)."""

    weights: np.ndarray    # bytes held per layer (a tied matrix counted in both the embedding and the head)
    kv: np.ndarray         # KV-cache bytes per layer at s+N−1 tokens
    act: np.ndarray        # activation bytes live while the layer runs
    tied: tuple[int, int, float] | None   # (embedding layer, head layer, bytes of the shared matrix)
    limit: tuple[float | None, float | None]   # (client, server) limits in bytes; None: none
    names: tuple[str, ...] = ()

    @property
    def held(self) -> np.ndarray:
        return self.weights + self.kv

    @property
    def reserve(self) -> tuple[float, float]:
        return reserve_bytes(self.limit[0]), reserve_bytes(self.limit[1])

    @property
    def budget(self) -> tuple[float, float]:
        """What the model may use on each side: limit − reserve (inf without a limit)."""
        r = self.reserve
        return tuple(math.inf if m is None else m - rv for m, rv in zip(self.limit, r))  # type: ignore[return-value]

    @property
    def active(self) -> bool:
        return self.limit != (None, None)

    def shared_on(self, x: np.ndarray, side: int) -> float:
        """Bytes counted twice on `side` (1 client, 0 server) by summing the layers: the tied matrix when
        both its layers run there."""
        if self.tied is None:
            return 0.0
        e, h, b = self.tied
        return b if x[e] == side and x[h] == side else 0.0

    def need(self, policy: ArrayLike) -> tuple[float, float]:
        """(client, server) bytes the policy needs: weights + KV + activation peak, reserve excluded."""
        x = np.asarray(policy, dtype=np.int8)
        out = []
        for side in (1, 0):
            on = x == side
            if not on.any():
                out.append(0.0)
                continue
            held = float(self.weights[on].sum() + self.kv[on].sum()) - self.shared_on(x, side)
            out.append(held + float(self.act[on].max()))
        return out[0], out[1]


def _tied(profile: Profile, weights: np.ndarray) -> tuple[int, int, float] | None:
    """The shared embedding/LM-head matrix: of a tied LLM config (its head layer's weights), or as a measured
    profile records it (``tied_stages``: first layer, later layer, bytes, written by the profiler)."""
    extra = profile.extra if isinstance(profile.extra, dict) else {}
    rec = extra.get("tied_stages")
    if isinstance(rec, (list, tuple)) and len(rec) == 3:
        e, h, b = rec
        if isinstance(e, int) and isinstance(h, int) and 0 <= e < h < len(weights) \
                and isinstance(b, (int, float)) and 0 <= b <= min(weights[e], weights[h]):
            return e, h, float(b)
    arch = extra.get("arch")
    if not (isinstance(arch, dict) and arch.get("tied")):
        return None
    names = [layer.name for layer in profile.layers]
    if "lm_head" not in names or profile.layers[0].kind != "embedding":
        return None
    h = names.index("lm_head")
    return 0, h, float(min(weights[0], weights[h]))


def memory_rows(profile: Profile, sc: Scenario) -> MemRows | None:
    """The scenario's per-layer memory, or None when the profile lacks ``weight_bytes``/``kv_bytes`` (then a
    memory limit is refused, naming them)."""
    if not profile.has_server_mem:
        if sc.has_memory_limits:
            raise SplittuiError(f"{profile.origin or profile.model}: memory limits need weight_bytes and kv_bytes "
                                "for every layer (SPEC §10), and this profile lacks them")
        return None
    from .costs import interpolate, layer_values
    from .generation import _at, _dec_table, check_contexts, last_context
    from .model import kv_tokens

    s, n = sc.seq_len, sc.gen_tokens
    check_contexts(profile, s, n)
    c = last_context(s, n)
    weights = _at(profile.seq_lens, _dec_table(profile, "weight_bytes"), c)
    kv = _at(profile.seq_lens, _dec_table(profile, "kv_bytes"), c) * kv_tokens(s, n)
    in_b = layer_values(profile, "in_bytes", s)
    out_b = float(interpolate(profile, np.array(profile.output_bytes, dtype=np.float64), s))
    act = in_b + np.append(in_b[1:], out_b)
    limit = tuple(None if v is None else float(v) * GB for v in (sc.client_mem_gb, sc.server_mem_gb))
    return MemRows(weights=weights, kv=kv, act=act, tied=_tied(profile, weights), limit=limit,  # type: ignore[arg-type]
                   names=tuple(layer.name for layer in profile.layers))


def pin_array(n: int, sc: Scenario, names: tuple[str, ...] = ()) -> np.ndarray | None:
    """Per layer: 1 pinned to the client, 0 to the server, −1 free; None without pins."""
    if not sc.has_pins:
        return None
    out = np.full(n, -1, dtype=np.int8)
    for side, pins in ((1, sc.pin_client), (0, sc.pin_server)):
        bad = [i for i in pins if i >= n]
        if bad:
            raise SplittuiError(f"scenario: pin_{'client' if side else 'server'} names layer {bad[0]}, but the "
                                f"chain has {n} layers (0..{n - 1})")
        out[list(pins)] = side
    return out


def memory_violations(rows: MemRows | None, policy: ArrayLike) -> tuple[str, ...]:
    """One phrase per side whose memory the policy breaks: need + reserve > limit, with the bytes over."""
    if rows is None or not rows.active:
        return ()
    need = rows.need(policy)
    out = []
    for k, side in enumerate(("client", "server")):
        lim = rows.limit[k]
        if lim is None:
            continue
        total = need[k] + rows.reserve[k]
        if total > lim * (1 + 1e-12):
            out.append(f"does not fit: {side} needs {fmt_gb(need[k])} + reserve {fmt_gb(rows.reserve[k])} = "
                       f"{fmt_gb(total)} > limit {fmt_gb(lim)} (over by {fmt_gb(total - lim)})")
    return tuple(out)


def pin_violations(pin: np.ndarray | None, policy: ArrayLike, names: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The pins a policy breaks (a pinned layer on the other side)."""
    if pin is None:
        return ()
    x = np.asarray(policy, dtype=np.int8)
    bad = np.flatnonzero((pin >= 0) & (pin != x))
    if not bad.size:
        return ()
    i = int(bad[0])
    name = f" ({names[i]})" if i < len(names) else ""
    more = f" and {bad.size - 1} more" if bad.size > 1 else ""
    return (f"layer {i}{name} is pinned to the {'client' if pin[i] == 1 else 'server'}{more}",)


@dataclass(frozen=True, slots=True)
class SideMemory:
    """One side's memory under a policy, bytes: the parts add up to `total`; `limit` None: no limit."""

    side: str
    weights: float      # the tied matrix counted once per side that holds it
    kv: float
    act: float
    reserve: float
    limit: float | None

    @property
    def total(self) -> float:
        return self.weights + self.kv + self.act + self.reserve

    @property
    def fits(self) -> bool:
        return self.limit is None or self.total <= self.limit * (1 + 1e-12)

    @property
    def over(self) -> float:
        return 0.0 if self.limit is None else self.total - self.limit

    def to_dict(self) -> dict[str, float | str | bool | None]:
        return {"side": self.side, "weights_bytes": self.weights, "kv_bytes": self.kv, "act_bytes": self.act,
                "reserve_bytes": self.reserve, "total_bytes": self.total, "limit_bytes": self.limit,
                "fits": self.fits}


def side_memory(rows: MemRows, policy: ArrayLike) -> tuple[SideMemory, SideMemory]:
    """(client, server) breakdown of a policy's memory (the pure function the app's fit panel needs)."""
    x = np.asarray(policy, dtype=np.int8)
    out = []
    for k, (side, v) in enumerate((("client", 1), ("server", 0))):
        on = x == v
        w = float(rows.weights[on].sum()) - rows.shared_on(x, v)
        act = float(rows.act[on].max()) if on.any() else 0.0
        out.append(SideMemory(side, w, float(rows.kv[on].sum()), act, rows.reserve[k], rows.limit[k]))
    return out[0], out[1]


def memory_breakdown(profile: Profile, sc: Scenario, policy: ArrayLike) -> tuple[SideMemory, SideMemory]:
    """Per-side memory of `policy` under `sc` (weights, KV, activation, reserve, total vs limit)."""
    rows = memory_rows(profile, sc)
    if rows is None:
        raise SplittuiError(f"{profile.origin or profile.model}: a memory breakdown needs weight_bytes and "
                            "kv_bytes for every layer (SPEC §10), and this profile lacks them")
    x = np.asarray(policy, dtype=np.int8)
    if x.shape != (profile.n_layers,):
        raise SplittuiError(f"policy must be {profile.n_layers} values of 0 or 1 (one per layer)")
    return side_memory(rows, x)


def device_usable_bytes(profile: Profile, side: str, name: str | None = None) -> float | None:
    """The usable memory of the side's device preset (`name`, else the profile's), bytes: what
    ``--{side}-mem-gb device`` means. LLM configs with per-layer memory on a known preset; None otherwise
    (measured profiles, unknown devices)."""
    if name is None and isinstance(profile.source, dict):
        name = profile.source.get(f"{side}_device")
    if not profile.is_llm or not profile.has_server_mem or not name:
        return None
    from .devices import resolve_device

    try:
        return resolve_device(name).usable_bytes()
    except SplittuiError:
        return None


@dataclass(frozen=True, slots=True)
class DeviceFit:
    """A side with no memory limit, checked against its device preset: the policy's need there and the
    reserve the device's limit would keep (``reserve_bytes``) against the device's usable memory (estimates,
    SPEC §10). What a plan made with the limits off meets on the real device."""

    side: str
    device: str
    need: float       # weights + KV + activation peak, bytes
    reserve: float
    usable: float

    @property
    def total(self) -> float:
        return self.need + self.reserve

    @property
    def fits(self) -> bool:
        return self.total <= self.usable * (1 + 1e-12)

    def to_dict(self) -> dict[str, float | str | bool]:
        return {"device": self.device, "device_usable_bytes": self.usable, "device_reserve_bytes": self.reserve,
                "fits_device": self.fits}


def device_fits(profile: Profile, rows: MemRows | None, policy: ArrayLike) -> tuple[DeviceFit, ...]:
    """Each side left without a limit whose device preset is known, checked against `policy`'s share there
    (empty when every side has a limit, the profile lacks memory fields, or the devices are unknown). A side
    that does not fit is fixed by its limit (``--client-mem-gb device``), which the solvers then keep."""
    if rows is None:
        return ()
    sides = side_memory(rows, np.asarray(policy, dtype=np.int8))
    out = []
    for k, side in enumerate(("client", "server")):
        usable = None if rows.limit[k] is not None else device_usable_bytes(profile, side)
        if usable is not None:
            s = sides[k]
            out.append(DeviceFit(side, str(profile.source.get(f"{side}_device")), s.weights + s.kv + s.act,
                                 reserve_bytes(usable), usable))
    return tuple(out)

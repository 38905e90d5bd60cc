"""Client energy of a request (docs/energy.md): device power presets, radio models, and the per-layer,
per-crossing joules a policy adds up.

Every figure here is an **estimate**: power presets come from datasheets, vendor power modes and published
measurements (each cites its source), the radio model from fitted smartphone measurements (Huang et al.,
MobiSys'12). A policy ``x`` of the request's composite chain (SPEC §8) costs the client

    E(x) = Σ_l x_l·(P_prefill·c_pre_l + P_decode·c_dec_l)          compute on the client
         + P_idle·(server time of server layers + every transfer)     waiting for the server and the link
         + [x crosses the network]·( P_conn·latency(x)               radio connected for the whole request
                                     + Σ_bursts (P_tx − P_conn)·t_tx  transmitting (per-bit fit)
                                     + E_promotion + E_tail )         once per request

(powers in W, times in s; the radio terms vanish for ``radio = none``). Everything but the bracket's
indicator is additive over layers and crossings; the indicator only spares the one crossing-free policy
(all-client when the input and the answer are both on the client), which the solvers score apart.

The core's only inputs are the phase costs (`Costs`) and the scenario; nothing is imported from the front-ends.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .costs import Costs
from .errors import SplittuiError
from .model import RADIO_KINDS

__all__ = ["DevicePower", "Radio", "CLIENT_POWER", "SERVER_POWER", "RADIOS", "RADIO_NAMES", "DEFAULT_RADIO",
           "EnergyChain", "RequestEnergy", "EnergyFigures", "client_power", "server_power", "request_energy",
           "ESTIMATE_NOTE"]

ESTIMATE_NOTE = ("energy is an estimate: device power presets and a fitted radio model (docs/energy.md), "
                 "not a measurement")

_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DevicePower:
    """Power of a device while it computes (prefill: compute-bound; decode: memory-bound) and while it
    waits, in W, at the power mode its roofline times assume (the top one); `modes` lists the vendor's
    power modes (name, budget W) where the device has them."""

    prefill_w: float
    decode_w: float
    idle_w: float
    source: str
    modes: tuple[tuple[str, float], ...] = ()
    mode: str = ""


@dataclass(frozen=True, slots=True)
class Radio:
    """A smartphone radio as Huang et al. (MobiSys'12) fit it: while transmitting at r Mbit/s it draws
    ``base_mw + up_mw_per_mbps·r`` (uploading) or ``base_mw + down_mw_per_mbps·r`` (downloading); while
    connected between bursts, and for `tail_ms` after the last one, `tail_mw`; connecting costs
    `promo_ms` at `promo_mw`."""

    name: str
    up_mw_per_mbps: float
    down_mw_per_mbps: float
    base_mw: float
    tail_mw: float
    tail_ms: float
    promo_mw: float
    promo_ms: float
    source: str

    @property
    def fixed_j(self) -> float:
        """Joules once per request that uses the network: promotion, then the whole tail after the last burst."""
        return (self.promo_mw * self.promo_ms + self.tail_mw * self.tail_ms) * 1e-6


_HUANG = ("Huang, Qian, Gerber, Mao, Sen, Spatscheck, 'A Close Examination of Performance and Power "
          "Characteristics of 4G LTE Networks', ACM MobiSys 2012: fitted power model (under 6 % error) "
          "P = alpha_u*t_u + alpha_d*t_d + beta (t in Mbit/s) and the RRC state powers and timers, Tables 3-4 "
          "(coefficients transcribed from the paper; the search corpus held only its abstract, so re-check "
          "against the PDF before quoting them)")
RADIOS: dict[str, Radio] = {r.name: r for r in (
    Radio("none", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
          "no radio energy counted (a wired link, or the radio left out of the estimate)"),
    Radio("wifi", 283.17, 137.01, 132.86, 119.3, 238.1, 124.4, 79.1, "WiFi (802.11g, HTC phone): " + _HUANG),
    Radio("lte", 438.39, 51.97, 1288.04, 1060.0, 11576.0, 1210.7, 260.1, "LTE (AT&T, HTC phone): " + _HUANG),
    Radio("5g", 250.0, 15.0, 2300.0, 1400.0, 10000.0, 1600.0, 300.0,
          "ESTIMATE, not a fit: shaped by Narayanan et al., 'A Variegated Look at 5G in the Wild' (SIGCOMM 2021) "
          "and Xu et al., 'Understanding Operational 5G' (SIGCOMM 2020): non-standalone 5G keeps LTE's RRC "
          "timers (a tail of ~10 s), draws more power than LTE at low throughput and less energy per bit at "
          "high throughput. Coefficients here are placeholders of that shape, not transcribed values"),
)}
RADIO_NAMES = RADIO_KINDS
DEFAULT_RADIO = RADIO_KINDS[1]   # "wifi" (model.Scenario's default; docs/energy.md says why)

_ESTIMATE = "estimate: "
CLIENT_POWER: dict[str, DevicePower] = {
    "laptop-cpu": DevicePower(
        40.0, 25.0, 4.0, _ESTIMATE + "Intel ARK i7-1360P: processor base power 28 W, maximum turbo power 64 W; "
        "all-core prefill taken between them (40 W), memory-bound decode nearer base (25 W); idle 4 W assumed "
        "(platform, screen excluded)"),
    "apple-m2": DevicePower(
        20.0, 15.0, 3.0, _ESTIMATE + "no published M2 LLM power figure found; nearest measurement: an M4 Mac mini "
        "draws ~31 W at the wall on llama3.2:3b (41 tok/s) and ~6 W idle (geerlingguy/ai-benchmarks issue 2, "
        "2024-11, wall power incl. 10GbE and a 4K display); the M2 laptop SoC is taken at 20 W / 15 W / 3 W"),
    "jetson-orin": DevicePower(
        50.0, 30.0, 8.0, _ESTIMATE + "Jetson AGX Orin 64GB module power up to 60 W (data sheet, quoted on NVIDIA "
        "forum 'Maximum power consumption bounds for Orin AGX', 2025); a GPU stress test there drew 40.4 W "
        "GPU + 15.2 W CPU in MAXN (32GB module); prefill 50 W, decode 30 W, idle 8 W assumed",
        modes=(("15W", 15.0), ("30W", 30.0), ("50W", 50.0), ("MAXN", 60.0)), mode="MAXN"),
    "jetson-agx-orin-32gb": DevicePower(
        35.0, 22.0, 7.0, _ESTIMATE + "Jetson AGX Orin 32GB module power up to 40 W (data sheet, quoted on NVIDIA "
        "forum 'Maximum power consumption bounds for Orin AGX'); idle 7 W assumed",
        modes=(("15W", 15.0), ("30W", 30.0), ("40W", 40.0)), mode="40W"),
    "jetson-orin-nx-16gb": DevicePower(
        22.0, 15.0, 5.0, _ESTIMATE + "Jetson Orin NX series data sheet: power configurable 10 W to 25 W; idle 5 W "
        "assumed", modes=(("10W", 10.0), ("15W", 15.0), ("25W", 25.0)), mode="25W"),
    "jetson-orin-nano-8gb": DevicePower(
        15.0, 12.0, 4.0, _ESTIMATE + "Jetson Orin Nano modes 7 W / 15 W (25 W on the 'Super' firmware); llama.cpp "
        "on the Orin Nano Super gets the most output tokens per joule at 25 W, 8-35 % above MAXN (smolhub.com, "
        "'Tiny LLM Benchmark: Jetson Orin Nano Super 8GB'); idle 4 W assumed",
        modes=(("7W", 7.0), ("15W", 15.0), ("25W", 25.0)), mode="15W"),
    "phone-soc": DevicePower(
        7.0, 5.0, 0.8, _ESTIMATE + "sustained, not peak: phone SoCs throttle within minutes of LLM load (an iPhone "
        "16 Pro loses about half its decode rate after two runs, a Galaxy S24 Ultra hits an OS GPU frequency "
        "floor: Tummalapalli et al., arXiv:2603.23640, 2026); 7 W prefill, 5 W decode, 0.8 W idle (screen "
        "excluded) assumed for a Snapdragon 8 Gen 3 class SoC", modes=(("peak", 10.0), ("sustained", 5.0)),
        mode="sustained"),
    "raspberry-pi-5": DevicePower(
        7.0, 6.0, 2.7, _ESTIMATE + "Raspberry Pi 5 draws ~2.7 W idle and ~7 W with all four cores loaded "
        "(widely reported board measurements, e.g. Jeff Geerling's Pi 5 review, 2023)"),
}
SERVER_POWER: dict[str, DevicePower] = {
    name: DevicePower(w, w, w, f"board power at TDP (an upper bound for one request): {src}")
    for name, w, src in (
        ("h100-sxm", 700.0, "NVIDIA H100 SXM5 datasheet, max TDP 700 W"),
        ("a100-80gb", 400.0, "NVIDIA A100 80GB SXM datasheet, max TDP 400 W"),
        ("l4", 72.0, "NVIDIA L4 datasheet, max power 72 W"),
        ("rtx4090", 450.0, "NVIDIA GeForce RTX 4090 specifications, total graphics power 450 W"),
        ("rtx3090", 350.0, "NVIDIA GeForce RTX 3090 specifications, total graphics power 350 W"),
    )}
DEFAULT_CLIENT_POWER = "laptop-cpu"
DEFAULT_SERVER_POWER = "a100-80gb"


def client_power(name: str | None) -> tuple[DevicePower, str]:
    """The client's power preset and how it was chosen (a profile that names no known device: assumed)."""
    if name in CLIENT_POWER:
        return CLIENT_POWER[name], str(name)
    if name in SERVER_POWER:   # a server-class device playing the client
        return SERVER_POWER[name], str(name)
    why = f"no power preset for client device {name!r}" if name else "the profile names no client device"
    return CLIENT_POWER[DEFAULT_CLIENT_POWER], f"{DEFAULT_CLIENT_POWER} (assumed: {why})"


def server_power(name: str | None) -> tuple[DevicePower, str]:
    if name in SERVER_POWER:
        return SERVER_POWER[name], str(name)
    if name in CLIENT_POWER:
        return CLIENT_POWER[name], str(name)
    why = f"no power preset for server device {name!r}" if name else "the profile names no server device"
    return SERVER_POWER[DEFAULT_SERVER_POWER], f"{DEFAULT_SERVER_POWER} (assumed: {why})"


@dataclass(frozen=True, slots=True)
class EnergyChain:
    """One phase's client joules per layer and crossing, split into compute, waiting and radio parts.

    ``compute[l]``: layer l on the client; ``wait_*``: the client idles while the server runs layer l or a
    transfer runs; ``radio_*``: the radio's share (connected power over every ms, plus transmitting)."""

    compute: _F
    wait_server: _F
    wait_up: _F
    wait_down: _F
    wait_up_out: float
    wait_down_out: float
    radio_client: _F
    radio_server: _F
    radio_up: _F
    radio_down: _F
    radio_up_out: float
    radio_down_out: float

    def plus(self, o: "EnergyChain") -> "EnergyChain":
        return EnergyChain(*(a + b for a, b in zip(_fields(self), _fields(o), strict=True)))

    @property
    def on_client(self) -> _F:
        return self.compute + self.radio_client

    @property
    def on_server(self) -> _F:
        return self.wait_server + self.radio_server

    @property
    def up(self) -> _F:
        return self.wait_up + self.radio_up

    @property
    def down(self) -> _F:
        return self.wait_down + self.radio_down

    @property
    def up_out(self) -> float:
        return self.wait_up_out + self.radio_up_out

    @property
    def down_out(self) -> float:
        return self.wait_down_out + self.radio_down_out


def _fields(e: EnergyChain) -> tuple:
    return tuple(getattr(e, f.name) for f in fields(EnergyChain))


def phase_energy(c: Costs, p_compute_w: float, p_idle_w: float, radio: Radio, up_mbps: float, down_mbps: float,
                 delay_ms: float, transfers: int) -> EnergyChain:
    """The joules of one phase chain `c` (prefill: one transfer per crossing; decode: one per step)."""
    conn = radio.tail_mw * 1e-6                    # J per ms while connected
    tx_up = (radio.base_mw + radio.up_mw_per_mbps * up_mbps) * 1e-6 - conn
    tx_down = (radio.base_mw + radio.down_mw_per_mbps * down_mbps) * 1e-6 - conn
    idle = p_idle_w * 1e-3                         # J per ms

    def sent(ms: _F | float) -> _F | float:        # time on the air: the transfer minus its per-transfer delay
        return np.maximum(np.asarray(ms) - transfers * delay_ms, 0.0) if isinstance(ms, np.ndarray) \
            else max(float(ms) - transfers * delay_ms, 0.0)

    def on_air(power: float, ms: _F | float) -> _F | float:   # no time on the air costs nothing, even at a
        if isinstance(ms, np.ndarray):                        # power an absurd bandwidth makes infinite
            with np.errstate(invalid="ignore"):
                return np.where(ms == 0, 0.0, power * ms)
        return 0.0 if ms == 0 else power * ms

    return EnergyChain(
        compute=c.client_ms * (p_compute_w * 1e-3), wait_server=c.server_ms * idle, wait_up=c.up_ms * idle,
        wait_down=c.down_ms * idle, wait_up_out=float(c.up_out_ms) * idle, wait_down_out=float(c.down_out_ms) * idle,
        radio_client=c.client_ms * conn, radio_server=c.server_ms * conn,
        radio_up=c.up_ms * conn + on_air(tx_up, sent(c.up_ms)),
        radio_down=c.down_ms * conn + on_air(tx_down, sent(c.down_ms)),
        radio_up_out=float(c.up_out_ms) * conn + float(on_air(tx_up, sent(c.up_out_ms))),
        radio_down_out=float(c.down_out_ms) * conn + float(on_air(tx_down, sent(c.down_out_ms))))


@dataclass(frozen=True, slots=True)
class EnergyFigures:
    """A policy's client joules per request (and their parts), J per decode step, and the server's joules."""

    client_j: float
    compute_j: float
    wait_j: float
    radio_j: float
    decode_j_per_token: float | None    # decode-phase client joules / decode steps (None without a step)
    server_j: float


@dataclass(frozen=True, slots=True)
class RequestEnergy:
    """The energy model of one request: both phases' chains, the once-per-request radio joules, the powers."""

    prefill: EnergyChain
    decode: EnergyChain | None
    steps: int
    fixed_j: float              # promotion + tail, once when the policy uses the network
    start_client: bool
    end_client: bool
    server_w: float
    server_ms: _F               # composite server time per layer (for the server's joules)
    radio: str
    client_label: str
    server_label: str

    def composite(self) -> EnergyChain:
        return self.prefill if self.decode is None else self.prefill.plus(self.decode)

    @property
    def free_policy(self) -> tuple[int, ...] | None:
        """The one policy that never crosses the network (None when start and end sides differ)."""
        if self.start_client != self.end_client:
            return None
        return (int(self.start_client),) * len(self.server_ms)

    def additive(self, policy: ArrayLike) -> float:
        """The additive model A(x) the solvers minimise: the true energy for every policy that crosses the
        network, at least the true energy for the crossing-free one."""
        return _parts(self.composite(), self, np.asarray(policy, dtype=np.int8), crossing=True)[3] + self.fixed_j

    def figures(self, policy: ArrayLike) -> EnergyFigures:
        """The exact client joules of a policy under the model (module docstring), with its parts."""
        x = np.asarray(policy, dtype=np.int8)
        if x.shape != self.server_ms.shape or not np.isin(x, (0, 1)).all():
            raise SplittuiError(f"policy must be {len(self.server_ms)} values of 0 or 1 (one per layer)")
        crosses = _crosses(x, self.start_client, self.end_client)
        comp, wait, radio, _ = _parts(self.composite(), self, x, crossing=crosses)
        radio += self.fixed_j if crosses else 0.0
        per_tok = None
        if self.decode is not None and self.steps > 0:
            per_tok = _parts(self.decode, self, x, crossing=crosses)[3] / self.steps
        server = float(self.server_ms[x == 0].sum()) * self.server_w * 1e-3
        return EnergyFigures(client_j=comp + wait + radio, compute_j=comp, wait_j=wait, radio_j=radio,
                             decode_j_per_token=per_tok, server_j=server)

    def client_j(self, policy: ArrayLike) -> float:
        return self.figures(policy).client_j


def _crosses(x: NDArray[np.int8], start_client: bool, end_client: bool) -> bool:
    xs = np.concatenate(([int(start_client)], x, [int(end_client)]))
    return bool((xs[1:] != xs[:-1]).any())


def _parts(e: EnergyChain, r: RequestEnergy, x: NDArray[np.int8], *, crossing: bool
           ) -> tuple[float, float, float, float]:
    """(compute, wait, radio, total) of chain `e` under x; the radio's share only when the policy crosses."""
    xs = np.concatenate(([int(r.start_client)], x, [int(r.end_client)]))
    prev, cur = xs[:-2], xs[1:-1]
    ups, downs = (prev == 1) & (cur == 0), (prev == 0) & (cur == 1)
    out_up = xs[-2] == 1 and not r.end_client
    out_down = xs[-2] == 0 and r.end_client
    comp = float(e.compute[x == 1].sum())
    wait = float(e.wait_server[x == 0].sum() + e.wait_up[ups].sum() + e.wait_down[downs].sum())
    wait += (e.wait_up_out if out_up else 0.0) + (e.wait_down_out if out_down else 0.0)
    radio = 0.0
    if crossing:
        radio = float(e.radio_client[x == 1].sum() + e.radio_server[x == 0].sum() + e.radio_up[ups].sum()
                      + e.radio_down[downs].sum())
        radio += (e.radio_up_out if out_up else 0.0) + (e.radio_down_out if out_down else 0.0)
    return comp, wait, radio, comp + wait + radio


def request_energy(pre: Costs, dec: Costs | None, steps: int, *, radio: str, up_mbps: float, down_mbps: float,
                   delay_ms: float, client_device: str | None, server_device: str | None) -> RequestEnergy:
    """The energy model of a request from its phase costs (generation.phase_costs) and the devices' presets."""
    if radio not in RADIOS:
        raise SplittuiError(f"scenario: radio must be one of {', '.join(RADIO_NAMES)}, got {radio!r}")
    rad = RADIOS[radio]
    cp, clabel = client_power(client_device)
    sp, slabel = server_power(server_device)
    e_pre = phase_energy(pre, cp.prefill_w, cp.idle_w, rad, up_mbps, down_mbps, delay_ms, 1)
    e_dec = None if dec is None else phase_energy(dec, cp.decode_w, cp.idle_w, rad, up_mbps, down_mbps, delay_ms,
                                                   steps)
    server_ms = pre.server_ms if dec is None else pre.server_ms + dec.server_ms
    return RequestEnergy(prefill=e_pre, decode=e_dec, steps=steps, fixed_j=rad.fixed_j,
                         start_client=pre.start_client, end_client=pre.end_client, server_w=sp.prefill_w,
                         server_ms=np.asarray(server_ms, dtype=np.float64), radio=radio, client_label=clabel,
                         server_label=slabel)

"""Client energy (docs/energy.md, issue 29): the model adds up, least energy and the joule limit are solved
exactly (against an independent brute force), every limit is respected, and every power figure has a source.

The oracle below re-derives the energy of a policy from docs/energy.md's formula in plain Python (a walk over
the sides, phase by phase), independent of splittui.energy's arrays; the brute force enumerates 2^L policies
with it and with SPEC §3's latency (core_strategies.spec_latency).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from cli_runner import run_cli
from core_strategies import CORE, chains, spec_latency
from hypothesis import example, given
from hypothesis import strategies as st

from splittui.costs import Costs
from splittui.devices import PRESETS
from splittui.energy import CLIENT_POWER, RADIOS, SERVER_POWER, client_power, request_energy
from splittui.errors import SplittuiError
from splittui.generation import Phases
from splittui.model import RADIO_KINDS, Scenario
from splittui.solvers import solve
from splittui.solvers.energy import energy_policy

CLIENTS = sorted(CLIENT_POWER)


def _oracle_phase(c: Costs, x, *, p_compute: float, p_idle: float, radio, up_mbps: float, down_mbps: float,
                  delay_ms: float, transfers: int) -> tuple[float, float, float]:
    """(compute, wait, radio) joules of one phase: docs/energy.md term by term."""
    sides = [1 if c.start_client else 0, *[int(v) for v in x], 1 if c.end_client else 0]
    conn_w = radio.tail_mw / 1e3
    tx_up_w = (radio.base_mw + radio.up_mw_per_mbps * up_mbps) / 1e3
    tx_down_w = (radio.base_mw + radio.down_mw_per_mbps * down_mbps) / 1e3
    comp = wait = rad = 0.0

    def transfer(ms: float, tx_w: float) -> None:
        nonlocal wait, rad
        air = max(ms - transfers * delay_ms, 0.0)
        wait += p_idle * ms / 1e3
        rad += (conn_w * (ms - air) + tx_w * air) / 1e3

    for i in range(c.n):
        if sides[i] == 1 and sides[i + 1] == 0:
            transfer(float(c.up_ms[i]), tx_up_w)
        elif sides[i] == 0 and sides[i + 1] == 1:
            transfer(float(c.down_ms[i]), tx_down_w)
        if sides[i + 1] == 1:
            comp += p_compute * float(c.client_ms[i]) / 1e3
            rad += conn_w * float(c.client_ms[i]) / 1e3
        else:
            wait += p_idle * float(c.server_ms[i]) / 1e3
            rad += conn_w * float(c.server_ms[i]) / 1e3
    if sides[c.n] == 1 and not c.end_client:
        transfer(float(c.up_out_ms), tx_up_w)
    if sides[c.n] == 0 and c.end_client:
        transfer(float(c.down_out_ms), tx_down_w)
    return comp, wait, rad


def oracle_energy(case: dict, x) -> float:
    """The client's joules of policy x for the request `case` (see _case)."""
    pw, radio = CLIENT_POWER[case["client"]], RADIOS[case["radio"]]
    link = dict(radio=radio, up_mbps=case["up"], down_mbps=case["down"], delay_ms=case["delay"])
    comp, wait, rad = _oracle_phase(case["pre"], x, p_compute=pw.prefill_w, p_idle=pw.idle_w, transfers=1, **link)
    if case["dec"] is not None:
        c2, w2, r2 = _oracle_phase(case["dec"], x, p_compute=pw.decode_w, p_idle=pw.idle_w,
                                   transfers=case["steps"], **link)
        comp, wait, rad = comp + c2, wait + w2, rad + r2
    sides = [case["pre"].start_client, *[bool(v) for v in x], case["pre"].end_client]
    crosses = any(a != b for a, b in zip(sides, sides[1:]))
    fixed = (radio.promo_mw * radio.promo_ms + radio.tail_mw * radio.tail_ms) / 1e6
    return comp + wait + ((rad + fixed) if crosses else 0.0)


@st.composite
def cases(draw, *, integer: bool = False, max_layers: int = 7) -> dict:
    """A random request: a prefill chain, maybe a decode chain (same sides), a client preset, a radio, a link."""
    ch = draw(chains(integer=integer, max_layers=max_layers))
    pre = ch.costs
    steps = draw(st.integers(0, 5))
    dec = None
    if steps:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        scale = (lambda a: np.round(a * rng.uniform(0.05, 0.6, a.shape) / ch.unit_ms) * ch.unit_ms) if integer \
            else (lambda a: a * rng.uniform(0.05, 0.6, a.shape))
        dec = replace(pre, client_ms=scale(pre.client_ms), server_ms=scale(pre.server_ms), up_ms=scale(pre.up_ms),
                      down_ms=scale(pre.down_ms), reward=pre.reward * rng.uniform(0, 1, pre.n),
                      up_out_ms=float(scale(np.array([pre.up_out_ms]))[0]),
                      down_out_ms=float(scale(np.array([pre.down_out_ms]))[0]))
    return dict(pre=pre, dec=dec, steps=steps, unit=ch.unit_ms, client=draw(st.sampled_from(CLIENTS)),
                radio=draw(st.sampled_from(RADIO_KINDS)), up=draw(st.sampled_from((1.0, 20.0, 100.0))),
                down=draw(st.sampled_from((5.0, 100.0))), delay=draw(st.sampled_from((0.0, 2.0, 10.0))))


def _phases(case: dict) -> Phases:
    re = request_energy(case["pre"], case["dec"], case["steps"], radio=case["radio"], up_mbps=case["up"],
                        down_mbps=case["down"], delay_ms=case["delay"], client_device=case["client"],
                        server_device="a100-80gb")
    return Phases(prefill=case["pre"], decode=case["dec"], gen_tokens=case["steps"] + 1 if case["dec"] else 0,
                  mem=None, energy=re)


def _latency(case: dict, x) -> float:
    return spec_latency(case["pre"], x) + (spec_latency(case["dec"], x) if case["dec"] is not None else 0.0)


def _brute(case: dict, *, objective: str, limit: float | None, deadline: float):
    """(best key, policy) over 2^L with the oracle: least joules, or most client reward within the joule limit."""
    best = None
    for x in itertools.product((0, 1), repeat=case["pre"].n):
        lat, e = _latency(case, x), oracle_energy(case, x)
        if lat > deadline + 1e-9 * max(1.0, deadline) or (limit is not None and e > limit * (1 + 1e-9) + 1e-9):
            continue
        reward = sum(float(case["pre"].reward[i] + (case["dec"].reward[i] if case["dec"] is not None else 0.0))
                     for i in range(len(x)) if x[i])
        key = e if objective == "client_energy" else -reward
        if best is None or key < best[0]:
            best = (key, x)
    return best


@CORE
@given(case=cases(), data=st.data())
def test_energy_adds_up_to_the_oracle(case, data):
    """Per layer, per crossing and per phase: the model's joules equal the formula's, and the parts add up."""
    ph = _phases(case)
    x = data.draw(st.tuples(*[st.integers(0, 1)] * case["pre"].n))
    f = ph.energy.figures(x)
    assert f.client_j == pytest.approx(oracle_energy(case, x), rel=1e-9, abs=1e-12)
    assert f.compute_j + f.wait_j + f.radio_j == pytest.approx(f.client_j, rel=1e-12, abs=1e-12)
    if case["radio"] == "none":
        assert f.radio_j == 0.0
    assert f.compute_j == pytest.approx(sum(
        CLIENT_POWER[case["client"]].prefill_w * float(case["pre"].client_ms[i]) / 1e3
        + (CLIENT_POWER[case["client"]].decode_w * float(case["dec"].client_ms[i]) / 1e3 if case["dec"] else 0.0)
        for i in range(len(x)) if x[i]), rel=1e-9, abs=1e-12)


def _scenario(case: dict, **over) -> Scenario:
    return Scenario(deadline_ms=max(case["pre"].deadline_ms, 1e-6), unit_ms=case["unit"], radio=case["radio"],
                    gen_tokens=case["steps"] + 1 if case["dec"] is not None else 0, **over)


def _deadline(case: dict) -> float:
    return float(case["pre"].deadline_ms)


@CORE
@given(case=cases())
def test_exact_least_energy_equals_brute_force(case):
    ph = _phases(case)
    sc = _scenario(case, objective="client_energy")
    want = _brute(case, objective="client_energy", limit=None, deadline=_deadline(case))
    got = energy_policy(ph, sc)
    assert (got is None) == (want is None)
    if got is not None:
        assert _latency(case, got) <= _deadline(case) * (1 + 1e-9) + 1e-9
        assert oracle_energy(case, got) == pytest.approx(want[0], rel=1e-9, abs=1e-12)


@CORE
@given(case=cases(), frac=st.floats(0.0, 1.2), objective=st.sampled_from(("flops", "client_energy")))
def test_exact_under_an_energy_limit_equals_brute_force(case, frac, objective):
    """The limit between the least and the most energy of any policy: exact matches brute force and keeps it."""
    energies = [oracle_energy(case, x) for x in itertools.product((0, 1), repeat=case["pre"].n)]
    limit = max(min(energies) + frac * (max(energies) - min(energies)), 1e-9)
    ph = _phases(case)
    sc = _scenario(case, objective=objective, client_energy_j=limit)
    want = _brute(case, objective=objective, limit=limit, deadline=_deadline(case))
    got = energy_policy(ph, sc)
    assert (got is None) == (want is None)
    if got is not None:
        assert oracle_energy(case, got) <= limit * (1 + 1e-9) + 1e-12
        if objective == "client_energy":
            assert oracle_energy(case, got) == pytest.approx(want[0], rel=1e-9, abs=1e-12)
        else:
            reward = sum(float(ph.composite().reward[i]) for i in range(len(got)) if got[i])
            assert -reward == pytest.approx(want[0], rel=1e-9, abs=1e-9)


@CORE
@given(case=cases(), fr=st.tuples(st.floats(0.3, 1.2), st.floats(0.3, 1.2)))
def test_exact_least_energy_under_ttft_and_tpot_limits(case, fr):
    """TTFT and TPOT limits with the objective client_energy: exact equals the brute force over (P, D) rows."""
    if case["dec"] is None:
        case = {**case, "dec": replace(case["pre"], client_ms=case["pre"].client_ms * 0.5), "steps": 2}
    pols = list(itertools.product((0, 1), repeat=case["pre"].n))
    ps, ds = [spec_latency(case["pre"], x) for x in pols], [spec_latency(case["dec"], x) for x in pols]
    ttft = max(min(ps) + fr[0] * (max(ps) - min(ps)), 1e-6)
    dec_lim = min(ds) + fr[1] * (max(ds) - min(ds))
    tpot = max(dec_lim / case["steps"], 1e-6)
    deadline = _deadline(case)
    ttft = min(ttft, deadline)
    ok = [x for x, p_, d in zip(pols, ps, ds) if p_ <= ttft * (1 + 1e-9) + 1e-9
          and d <= tpot * case["steps"] * (1 + 1e-9) + 1e-9 and p_ + d <= deadline * (1 + 1e-9) + 1e-9]
    sc = _scenario(case, objective="client_energy", ttft_ms=ttft, tpot_ms=tpot)
    got = energy_policy(_phases(case), sc)
    assert (got is None) == (not ok)
    if got is not None:
        assert got in ok or any(math.isclose(v, lim, rel_tol=1e-7) for v, lim in (
            (spec_latency(case["pre"], got), ttft), (spec_latency(case["dec"], got), tpot * case["steps"])))
        assert oracle_energy(case, got) == pytest.approx(min(oracle_energy(case, x) for x in ok), rel=1e-9,
                                                         abs=1e-12)


@CORE
@given(case=cases(integer=True))
def test_dp_is_exact_on_integer_times(case):
    """Times that are whole multiples of T: the DP's least energy is brute force's (SPEC §4's promise)."""
    ph = _phases(case)
    sc = _scenario(case, objective="client_energy")
    want = _brute(case, objective="client_energy", limit=None, deadline=_deadline(case))
    got = energy_policy(ph, sc, unit_ms=case["unit"])
    if want is None:
        assert got is None
        return
    # the budget W = floor(deadline / T) holds every policy meeting the deadline when times are multiples of T
    assert got is not None
    assert _latency(case, got) <= _deadline(case) * (1 + 1e-9) + 1e-9
    assert oracle_energy(case, got) == pytest.approx(want[0], rel=1e-9, abs=1e-12)


@CORE
@given(case=cases(), pin=st.data())
def test_pins_are_honoured(case, pin):
    n = case["pre"].n
    p = np.array(pin.draw(st.lists(st.sampled_from((-1, 0, 1)), min_size=n, max_size=n)), dtype=np.int8)
    case = {**case, "pre": replace(case["pre"], pin=p)}
    if case["dec"] is not None:
        case["dec"] = replace(case["dec"], pin=p)
    got = energy_policy(_phases(case), _scenario(case, objective="client_energy"))
    if got is not None:
        assert all(p[i] < 0 or p[i] == got[i] for i in range(n))


@CORE
@given(case=cases())
def test_single_split_energy_mode_is_the_least_energy_prefix(case):
    """Objective client_energy: single split picks, among the prefix policies that meet the deadline, the one of
    least client joules (Neurosurgeon's energy mode)."""
    from splittui.solvers.energy import energy_single_split

    n, lam = case["pre"].n, _deadline(case)
    prefixes = [tuple([1] * k + [0] * (n - k)) for k in range(n + 1)]
    ok = [x for x in prefixes if _latency(case, x) <= lam + 1e-9 * max(1.0, lam)]
    got = energy_single_split(_phases(case), _scenario(case, objective="client_energy"))
    assert (got is None) == (not ok)
    if got is not None:
        assert got in prefixes
        assert oracle_energy(case, got) == pytest.approx(min(oracle_energy(case, x) for x in ok), rel=1e-9,
                                                         abs=1e-12)


def test_crossing_free_policy_pays_no_radio():
    """All-client with the input and the answer on the client never wakes the radio (docs/energy.md)."""
    c = Costs(np.ones(3), np.ones(3), np.ones(3), np.ones(3), np.ones(3), 1.0, 1.0, True, True, 100.0)
    re = request_energy(c, None, 0, radio="lte", up_mbps=10, down_mbps=10, delay_ms=1, client_device="phone-soc",
                        server_device="a100-80gb")
    assert re.figures((1, 1, 1)).radio_j == 0.0
    assert re.figures((1, 0, 1)).radio_j > RADIOS["lte"].fixed_j   # the tail alone is 12 J on LTE
    assert re.additive((1, 1, 1)) > re.client_j((1, 1, 1))          # the solvers' model over-counts only it


def test_lte_costs_more_than_wifi_for_the_same_offload():
    c = Costs(np.ones(3), np.ones(3), np.full(3, 5.0), np.full(3, 5.0), np.ones(3), 1.0, 1.0, True, True, 100.0)
    e = {r: request_energy(c, None, 0, radio=r, up_mbps=10, down_mbps=10, delay_ms=1, client_device="phone-soc",
                           server_device=None).client_j((0, 0, 0)) for r in RADIO_KINDS}
    assert e["none"] < e["wifi"] < e["lte"]


def test_every_power_figure_has_a_source():
    for table in (CLIENT_POWER, SERVER_POWER):
        for name, p in table.items():
            assert p.source.strip(), name
            assert 0 < p.idle_w <= p.decode_w <= p.prefill_w, name
            assert not p.modes or p.mode in dict(p.modes), name
    for name, r in RADIOS.items():
        assert r.source.strip() and r.name == name
    assert set(RADIOS) == set(RADIO_KINDS)
    for name, dev in PRESETS.items():   # every shipped device has power figures for its role
        assert name in (CLIENT_POWER if dev.role == "client" else SERVER_POWER), name
    assert "assumed" in client_power(None)[1] and "assumed" in client_power("my-npu")[1]


def test_scenario_knobs_validate_and_stay_out_of_old_documents():
    assert "radio" not in Scenario().to_dict() and "client_energy_j" not in Scenario().to_dict()
    d = Scenario(radio="lte", client_energy_j=5.0).to_dict()
    assert d["radio"] == "lte" and d["client_energy_j"] == 5.0
    with pytest.raises(SplittuiError, match="radio"):
        Scenario(radio="3g")
    with pytest.raises(SplittuiError, match="client_energy_j"):
        Scenario(client_energy_j=0.0)


def test_memory_limits_with_energy_are_refused_by_name(llama_profile):
    sc = Scenario(deadline_ms=60000, objective="client_energy", client_mem_gb=8.0)
    with pytest.raises(SplittuiError, match="memory limits"):
        solve(llama_profile, sc, "exact")


@pytest.fixture(scope="module")
def llama_profile():
    from splittui.llm import profile_for

    return profile_for("llama-3.2-1b", client_device="phone-soc", server_device="a100-80gb")


def test_least_energy_solvers_beat_or_match_the_baselines(llama_profile):
    sc = Scenario(deadline_ms=20000, seq_len=512, gen_tokens=16, objective="client_energy", radio="lte")
    res = {s: solve(llama_profile, sc, s) for s in ("dp", "exact", "greedy", "no-split", "all-client")}
    feas = [r.client_energy_j for r in res.values() if r.feasible]
    assert res["exact"].client_energy_j == pytest.approx(min(feas), rel=1e-12)
    assert res["dp"].client_energy_j >= res["exact"].client_energy_j * (1 - 1e-12)


def test_solve_cli_prints_every_solvers_energy(capsys):
    """The issue's Done-when command: every solver's client J per request and J per decode step, in JSON too."""
    argv = ["solve", "--model", "llama-3.2-1b", "--client-device", "phone-soc", "--server-device", "a100-80gb",
            "--radio", "lte", "--seq", "512", "--gen-tokens", "128", "--deadline-ms", "20000",
            "--objective", "client_energy", "--solver", "all"]
    rc, out, err = run_cli([*argv, "--json"], capsys)
    assert rc == 0, err
    docs = json.loads(out)
    assert {d["solver"] for d in docs} >= {"dp", "exact", "greedy", "single-split", "no-split", "all-client"}
    for d in docs:
        e = d["energy"]
        assert e["estimate"] is True and e["radio"] == "lte" and e["client_power"] == "phone-soc"
        assert e["client_j"] > 0 and e["client_j_per_decode_token"] > 0 and e["server_j"] >= 0
        assert math.isclose(e["client_compute_j"] + e["client_wait_j"] + e["client_radio_j"], e["client_j"])
    best = min(d["energy"]["client_j"] for d in docs if d["feasible"])
    assert next(d for d in docs if d["solver"] == "exact")["energy"]["client_j"] == pytest.approx(best)
    rc, out, err = run_cli(argv, capsys)
    assert rc == 0 and "client" in out and "J/tok" in out and "radio lte" in out


def test_energy_limit_is_respected_by_every_solver(capsys):
    base = ["solve", "--model", "llama-3.2-1b", "--client-device", "jetson-orin", "--server-device", "a100-80gb",
            "--radio", "wifi", "--seq", "512", "--gen-tokens", "32", "--deadline-ms", "60000", "--json"]
    rc, out, _ = run_cli([*base, "--objective", "client_energy"], capsys)
    least = min(d["energy"]["client_j"] for d in json.loads(out) if d["feasible"])
    limit = least * 1.5
    rc, out, err = run_cli([*base, "--client-energy-j", f"{limit}"], capsys)
    assert rc in (0, 1), err
    docs = json.loads(out)
    for d in docs:
        if d["feasible"]:
            assert d["energy"]["client_j"] <= limit * (1 + 1e-9)
        elif d["policy"] is not None and d["energy"]["client_j"] > limit:
            assert any("client energy" in v for v in d["violations"])
    assert next(d for d in docs if d["solver"] == "exact")["feasible"]


def _zone(root, name: str, uj: int, top: int = 2**32) -> None:
    z = root / name
    z.mkdir(parents=True)
    (z / "energy_uj").write_text(f"{uj}\n")
    (z / "max_energy_range_uj").write_text(f"{top}\n")


def test_rapl_meter_reads_packages_and_undoes_wraparound(tmp_path):
    """`splittui run`'s meter: package zones only, joules across a counter wrap; a missing tree says why."""
    from splittui.runner.energy_meter import measure, rapl_status, rapl_zones, read_uj

    ok, why = rapl_status(tmp_path / "absent")
    assert not ok and "does not exist" in why
    _zone(tmp_path, "intel-rapl:0", 1_000_000)
    _zone(tmp_path, "intel-rapl:0:0", 5)          # a subzone (core): counted within the package already
    _zone(tmp_path, "intel-rapl:1", 2**32 - 500_000)
    zones = rapl_zones(tmp_path)
    assert [z.name for z in zones] == ["intel-rapl:0", "intel-rapl:1"]
    assert rapl_status(tmp_path)[0]
    before = read_uj(zones)
    (zones[0] / "energy_uj").write_text("3000000\n")   # +2 J
    (zones[1] / "energy_uj").write_text("500000\n")    # wrapped: +1 J
    assert measure(zones, before, 0.0).joules == pytest.approx(3.0)


def _all_policies(case: dict, ph: Phases) -> list[tuple[float, float, float, tuple[int, ...]]]:
    """(server share, request latency, client J, policy) of every policy meeting the deadline (the oracle's J)."""
    from splittui.solvers import evaluate_costs

    c, d = ph.composite(), _deadline(case)
    out = []
    for x in itertools.product((0, 1), repeat=case["pre"].n):
        r = evaluate_costs(c, x)
        lat = _latency(case, x)
        if lat <= d * (1 + 1e-9) + 1e-9 and r.server_share is not None:
            out.append((r.server_share, lat, oracle_energy(case, x), x))
    return out


def _beats(q: tuple, p: tuple) -> bool:
    """q is at most p in server share, latency and joules, and below it in one, beyond float noise: shares (in
    [0, 1], from the same evaluation) within 1e-14, latency and joules (the oracle's against the model's) within
    1e-12 relative; rewards span 10 decades, so shares 1e-12 apart are real."""
    tol = [1e-14, *(1e-12 * max(1.0, abs(v)) for v in p[1:])]
    return all(a <= b + t for a, b, t in zip(q, p, tol)) and any(a < b - t for a, b, t in zip(q, p, tol))


_TIE = dict(   # least server work ties across placements of unequal joules: only the polish picks the cheapest
    pre=Costs(client_ms=np.array([0.0, 0.0, 0.0, 1.0, 0.0]), server_ms=np.array([0.0, 0.0, 0.0, 1.0, 0.0]),
              up_ms=np.zeros(5), down_ms=np.zeros(5), reward=np.array([0.0, 0.0, 0.0, 0.0, 1.0]), up_out_ms=0.0,
              down_out_ms=0.0, start_client=False, end_client=False, deadline_ms=1.0),
    dec=None, steps=0, unit=0.3, client="apple-m2", radio="wifi", up=1.0, down=5.0, delay=0.0)


@CORE
@given(case=cases(max_layers=6), caps=st.integers(1, 5))
@example(case=_TIE, caps=1)
def test_energy_points_are_brute_force_answers_and_pareto_marks_hold(case, caps):
    """issue 29's trade-off points (energy_front.energy_points) on random chains, against the 2^L enumeration:
    the first is the least client energy any policy meeting the deadline reaches, the least server share among
    them is brute force's, every capped point is the least server share within its cap, each point's figures are
    its policy's, and no policy at all (not only no other point) beats a point marked Pareto-optimal."""
    from splittui.energy_front import energy_points

    ph = _phases(case)
    sc = _scenario(case)
    pts = energy_points(ph, sc, caps=caps)
    every = _all_policies(case, ph)
    if not every:
        assert pts == []
        return
    assert pts and [p.client_j for p in pts] == sorted(p.client_j for p in pts)
    assert len({p.policy for p in pts}) == len(pts)
    least_j = min(e for _s, _l, e, _x in every)
    assert pts[0].client_j == pytest.approx(least_j, rel=1e-9, abs=1e-12)
    assert min(p.server_share for p in pts) == pytest.approx(min(s for s, *_ in every), rel=1e-9, abs=1e-12)
    for p in pts:
        assert p.client_j == pytest.approx(oracle_energy(case, p.policy), rel=1e-9, abs=1e-12)
        assert p.latency_ms == pytest.approx(_latency(case, p.policy), rel=1e-9, abs=1e-9)
        if p.cap_j is not None:
            within = [s for s, _l, e, _x in every if e <= p.cap_j * (1 + 1e-9) + 1e-12]
            assert p.client_j <= p.cap_j * (1 + 1e-9) + 1e-12
            assert p.server_share == pytest.approx(min(within), rel=1e-9, abs=1e-12)
    for p in pts:
        key = (p.server_share, p.latency_ms, p.client_j)
        if p.pareto:
            assert not any(_beats(q[:3], key) for q in every), (key, [q for q in every if _beats(q[:3], key)])
        else:
            assert any(_beats((q.server_share, q.latency_ms, q.client_j), key) for q in pts)


def test_an_absurd_bandwidth_gives_no_nan_joules(capsys):
    """Found by the CLI fuzz test: at --up-mbps 1e308 the radio's linear power model overflows to inf while
    a transfer takes 0 ms on the air; inf x 0 made NaN joules and numpy's RuntimeWarning on stderr. No time on
    the air costs nothing: no warning, every figure a number."""
    import warnings

    argv = ["solve", "--model", "llama-3.2-1b", "--client-device", "phone-soc", "--server-device", "a100-80gb",
            "--radio", "5g", "--seq", "128", "--up-mbps", "1e308", "--down-mbps", "1e308", "--solver", "all", "--json"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, out, err = run_cli(argv, capsys)
    assert rc == 0, err
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    for d in json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the JSON")):
        if d["feasible"]:
            assert all(not (isinstance(v, float) and math.isnan(v)) for v in d["energy"].values()), d["solver"]

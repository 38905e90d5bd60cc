"""A split run over loopback equals the unsplit forward, whatever the placement."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from splittui.profiler.chain import run_chain
from splittui.runner.chains import ChainSpec, build_chain, fingerprint, outputs_match
from splittui.runner.client import Connection, run_policy, segments
from splittui.runner.link import Link
from splittui.runner.session import Session


def test_segments_cover_the_policy_in_runs():
    assert segments([1, 1, 0, 0, 1]) == [(1, 0, 2), (0, 2, 4), (1, 4, 5)]
    assert segments([0]) == [(0, 0, 1)]


def test_same_spec_same_weights_other_seed_other_weights():
    a, b = build_chain(ChainSpec("runner-toy", seed=3)), build_chain(ChainSpec("runner-toy", seed=3))
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(build_chain(ChainSpec("runner-toy", seed=4)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_placement_gives_the_unsplit_output(live_server, toy, data):
    _, port = live_server
    policy = data.draw(st.lists(st.integers(0, 1), min_size=len(toy.stages), max_size=len(toy.stages)))
    seq = data.draw(st.sampled_from([1, 7, 33]))
    x = toy.make_input(seq)
    conn = Connection("127.0.0.1", port, timeout=10)
    try:
        conn.hello(toy.model)
        out, timing = run_policy(toy, conn, policy, x, Link(None, 0.0), Link(None, 0.0))
    finally:
        conn.close()
    ok, _ = outputs_match(out, run_chain(toy, x))
    assert ok
    assert timing.transfers == 2 * sum(1 for side, _, _ in segments(policy) if side == 0)


def test_outputs_match_notices_a_difference():
    x = (torch.ones(4),)
    assert outputs_match(x, (torch.ones(4),))[0]
    assert not outputs_match(x, (torch.ones(4) * 1.01,))[0]
    assert not outputs_match(x, (torch.ones(5),))[0]


def _children_of(pid: int, through_forkserver: bool = True) -> list[int]:
    """Child processes, except multiprocessing's resource tracker and fork server (they live as long as we
    do); the fork server's own children count as ours (the session's processes are forked by it, and
    share its command line)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) != pid or b"resource_tracker" in cmd:
                continue
            if through_forkserver and b"forkserver" in cmd:
                kids += _children_of(int(entry.name), through_forkserver=False)
            else:
                kids.append(int(entry.name))
    return kids


def test_two_process_session_matches_and_leaves_no_orphans():
    before = set(_children_of(os.getpid()))
    with Session(ChainSpec("runner-toy"), server_threads=1) as session:
        n = session.stages
        policy = [1, 0] * (n // 2) + [1] * (n % 2)
        out = session.run({"seq": 16, "policy": policy, "up_mbps": 500.0, "down_mbps": 500.0,
                           "delay_ms": 1.0, "repeats": 2})
        pids = [p.pid for p in session._procs]
        assert set(pids) <= set(_children_of(os.getpid()))   # the check below sees the session's processes
    assert out["match"] and len(out["times"]) == 2
    t = out["times"][0]
    assert t["transfers"] == 2 * (n // 2) and t["upload_ms"] >= (n // 2) * 1.0
    time.sleep(0.2)
    assert not set(_children_of(os.getpid())) - before
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_stage_times_time_every_stage_on_both_sides(live_server, toy):
    from splittui.runner.client import stage_times

    _, port = live_server
    conn = Connection("127.0.0.1", port, timeout=10)
    try:
        conn.hello(toy.model)
        client, server = stage_times(toy, conn, toy.make_input(16), passes=2)
    finally:
        conn.close()
    assert len(client) == len(server) == len(toy.stages)
    assert all(t >= 0 for t in client + server) and sum(client) > 0 and sum(server) > 0


def test_in_chain_profile_changes_times_and_nothing_else():
    from splittui.analytic import gpt2_like_doc
    from splittui.profiles import profile_from_doc
    from splittui.runner.predict import at_seq, in_chain_profile

    full = profile_from_doc(gpt2_like_doc())
    prof = at_seq(full, full.seq_lens[1])
    assert prof.seq_lens == (full.seq_lens[1],) and at_seq(full, full.seq_lens[1] + 1) is None
    n = prof.n_layers
    new = in_chain_profile(prof, [float(i) for i in range(n)], [2.0 * i for i in range(n)])
    assert [l.client_ms[0] for l in new.layers] == list(range(n))
    assert [l.server_ms[0] for l in new.layers] == [2.0 * i for i in range(n)]
    for a, b, f in zip(prof.layers, new.layers, full.layers):
        assert (a.name, a.kind, a.flops, a.in_bytes) == (b.name, b.kind, b.flops, b.in_bytes)
        assert a.flops[0] == f.flops[1] and a.client_ms[0] == f.client_ms[1]
    assert new.output_bytes == prof.output_bytes


def test_at_seq_slices_every_per_length_array_including_decode_fields():
    """A planning profile with decode fields (gpt2-like ships them) must cut down to one length whole."""
    from splittui.profiles import load_profile
    from splittui.runner.predict import at_seq

    full = load_profile("gpt2-like")
    assert full.dec_output_bytes is not None
    k = 1
    one = at_seq(full, full.seq_lens[k])
    assert one is not None and one.seq_lens == (full.seq_lens[k],)
    for a, f in zip(one.layers, full.layers):
        if f.dec_flops is not None:
            assert a.dec_flops == (f.dec_flops[k],)

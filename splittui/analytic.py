"""Analytic profiles: FLOPs and bytes from formulas, times from a stated roofline device model.

Used for the shipped fallback ``gpt2-like`` profile until a measured one replaces it, and by tests.
FLOP = 2 per multiply-add. A layer's time on a device is

    max(flops / (peak_flops * eff), bytes_moved / (bandwidth * eff_mem)) + overhead

with bytes_moved = input state + output state + weights (fp32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Device", "CLIENT_1CORE", "SERVER_RTX3090", "gpt2_like_doc"]


@dataclass(frozen=True)
class Device:
    name: str
    peak_gflops: float
    eff: float
    mem_gbps: float
    eff_mem: float
    overhead_ms: float

    def time_ms(self, flops: float, bytes_moved: float) -> float:
        compute = flops / (self.peak_gflops * 1e9 * self.eff)
        memory = bytes_moved / (self.mem_gbps * 1e9 * self.eff_mem)
        return max(compute, memory) * 1e3 + self.overhead_ms

    def describe(self) -> str:
        return (f"{self.name}: roofline max(FLOP/({self.peak_gflops:g} GFLOP/s x {self.eff:g}), "
                f"bytes/({self.mem_gbps:g} GB/s x {self.eff_mem:g})) + {self.overhead_ms:g} ms")


CLIENT_1CORE = Device("1-core CPU client (AVX2 fp32)", 96.0, 0.5, 12.0, 0.6, 0.005)
SERVER_RTX3090 = Device("RTX 3090 server (fp32)", 35_600.0, 0.6, 936.0, 0.7, 0.01)

F32 = 4
SEQ_LENS = (128, 256, 512, 1024, 2048, 4096)


def _stage(name: str, kind: str, flops: float, in_b: float, out_b: float, weights: float) -> dict[str, Any]:
    return dict(name=name, kind=kind, flops=flops, in_b=in_b, out_b=out_b, w=weights)


def _gpt2_stages(s: int, d: int = 1024, h: int = 16, n_blocks: int = 24, vocab: int = 50257,
                 ctx: int = 4096) -> list[dict[str, Any]]:
    """Stages at sequence length s. The cut state inside a block carries the residual stream x."""
    sd = s * d * F32
    st = [_stage("embed", "embedding", 2.0 * s * d, s * 8, sd, (vocab + ctx) * d * F32)]
    for b in range(n_blocks):
        p = f"h{b}."
        st += [
            _stage(p + "ln1", "norm", 8.0 * s * d, sd, 2 * sd, 2 * d * F32),
            _stage(p + "attn.qkv", "linear", 6.0 * s * d * d, 2 * sd, 4 * sd, (3 * d * d + 3 * d) * F32),
            _stage(p + "attn.core", "attention", 4.0 * s * s * d + 5.0 * h * s * s, 4 * sd, 2 * sd, 0),
            _stage(p + "attn.proj", "linear", 2.0 * s * d * d + s * d, 2 * sd, sd, (d * d + d) * F32),
            _stage(p + "ln2", "norm", 8.0 * s * d, sd, 2 * sd, 2 * d * F32),
            _stage(p + "mlp.up", "linear", 8.0 * s * d * d, 2 * sd, 5 * sd, (4 * d * d + 4 * d) * F32),
            _stage(p + "mlp.act", "activation", 8.0 * 4 * s * d, 5 * sd, 5 * sd, 0),
            _stage(p + "mlp.down", "linear", 8.0 * s * d * d + s * d, 5 * sd, sd, (4 * d * d + d) * F32),
        ]
    st += [
        _stage("ln_f", "norm", 8.0 * s * d, sd, sd, 2 * d * F32),
        # prefill: only the last position's next-token logits are computed and returned
        _stage("lm_head", "linear", 2.0 * d * vocab, sd, vocab * F32, vocab * d * F32),
    ]
    return st


def gpt2_like_doc(seq_lens: Sequence[int] = SEQ_LENS, client: Device = CLIENT_1CORE,
                  server: Device = SERVER_RTX3090) -> dict[str, Any]:
    """The analytic `gpt2-like` profile document (24 pre-norm blocks, d=1024, 16 heads)."""
    per_len = [_gpt2_stages(s) for s in seq_lens]
    layers = []
    for i, first in enumerate(per_len[0]):
        rows = [stages[i] for stages in per_len]
        moved = [r["in_b"] + r["out_b"] + r["w"] for r in rows]
        layers.append({
            "name": first["name"], "kind": first["kind"],
            "flops": [float(r["flops"]) for r in rows],
            "client_ms": [round(client.time_ms(r["flops"], m), 6) for r, m in zip(rows, moved, strict=False)],
            "server_ms": [round(server.time_ms(r["flops"], m), 6) for r, m in zip(rows, moved, strict=False)],
            "in_bytes": [float(r["in_b"]) for r in rows],
            "mem_bytes": [float(r["w"] + r["in_b"] + r["out_b"]) for r in rows],
        })
    return {
        "schema": "splittui.profile/1",
        "model": "gpt2-like",
        "description": "24 pre-norm causal blocks, d=1024, 16 heads, MLP 4096, vocab 50257 (GPT-2 medium)",
        "source": {"kind": "analytic", "client": client.describe(), "server": server.describe(),
                   "created": "splittui.analytic"},
        "seq_lens": list(seq_lens),
        "output_bytes": [float(per_len[k][-1]["out_b"]) for k in range(len(seq_lens))],
        "layers": layers,
    }


if __name__ == "__main__":
    import sys

    from .profiles import save_profile

    save_profile(gpt2_like_doc(), sys.argv[1] if len(sys.argv) > 1 else "profiles/gpt2-like.json", force=True)

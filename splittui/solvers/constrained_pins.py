"""Pins without a binding memory limit (`constrained`, SPEC §10): the barred chain.

Where no memory limit can bind, a pinned layer's other side is barred by a cost larger than any deadline, so
the unconstrained solvers on that chain honour the pins and find the same optimum (`_pins_only`,
`pins_only_chain`, `barred_chain`); `keeps_pins` checks their answer. `apply_pins` moves a policy's pinned
layers to their sides (greedy and the fixed baselines).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from .constrained_case import _Chain, memory_binds

_F = NDArray[np.float64]


def apply_pins(c: Costs, policy: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """A policy with every pinned layer moved to its side (how greedy and the fixed baselines honour pins)."""
    if policy is None or c.pin is None:
        return policy
    x = np.asarray(policy, dtype=np.int8)
    return tuple(np.where(c.pin >= 0, c.pin, x).astype(int).tolist())


def _pins_only(ch: _Chain, reward: _F, pin: NDArray[np.int8] | None, deadline: float) -> tuple[int, ...] | None:
    """One chain, pins and no binding memory limit: the 2-D exact solver (`exact_policy`) on the chain whose
    barred moves cost more than any deadline (a policy using one can never meet it), so the same optimum."""
    from .exact import exact_policy

    return keeps_pins(exact_policy(_barred(ch, reward, pin, deadline)), pin)


def _barred(ch: _Chain, reward: _F, pin: NDArray[np.int8] | None, deadline: float) -> Costs:
    c = replace(ch.costs(), reward=reward, deadline_ms=deadline)
    if pin is not None:
        bar = 1e12 * (1.0 + abs(deadline) + float(np.abs(ch.client).sum() + np.abs(ch.server).sum()
                                                   + np.abs(ch.up).sum() + np.abs(ch.down).sum()))
        c = replace(c, client_ms=np.where(pin == 0, bar, c.client_ms), server_ms=np.where(pin == 1, bar, c.server_ms))
    return c


def keeps_pins(x: tuple[int, ...] | None, pin: NDArray[np.int8] | None) -> tuple[int, ...] | None:
    if x is None or (pin is not None and bool(((pin >= 0) & (pin != np.asarray(x))).any())):
        return None
    return x


def pins_only_chain(c: Costs, deadline: float) -> Costs | None:
    """The chain the exact solver of `c` (pins, no TTFT/TPOT limits) searches at `deadline` and at every
    smaller one: pinned layers' barred sides cost more than the deadline (`_pins_only`); None where a memory
    limit can bind (the solver then takes the case search). Its answers, read with `keeps_pins`, are
    `constrained_exact`'s."""
    if memory_binds(c):
        return None
    return barred_chain(c, deadline)


def barred_chain(c: Costs, deadline: float) -> Costs:
    """`c` without its pins and memory rows, each pinned layer's other side costing more than `deadline` (and
    than every smaller one): an unconstrained solver on it honours the pins and nothing else."""
    return _barred(_Chain.of(c), c.reward, c.pin, deadline)

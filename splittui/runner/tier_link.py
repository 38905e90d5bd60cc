"""A chain of kernel-shaped links: one network namespace per tier, a veth pair per hop, ``tbf`` per direction.

Tier ``k`` (0 = the client) lives in namespace ``splt-<pid>-t<k>``; hop ``h`` joins tiers ``h`` and
``h + 1`` with a veth pair whose ends carry 10.214.<h>.1 (tier h) and 10.214.<h>.2 (tier h + 1). The
egress of each end is a token-bucket filter at the hop's rate away from the client (tier h's end) or
towards it (tier h + 1's end), so TCP's own behaviour is in every measured transfer, as with the
two-sided ``KernelLink``. This kernel has no ``netem``: each hop's one-way delay stays in the
application (the sender waits before the first byte).

``TierLink`` is a context manager: the namespaces (and with them the veth pairs and qdiscs) are
removed on normal exit, on an exception, on Ctrl-C and on SIGTERM (which `splittui run` turns into
an unwinding exit); namespaces left by a run killed outright are removed by the next run
(``kernel_link._remove_stale``). ``PacedTiers`` is the fallback without namespaces: loopback, the
sender paces each hop's bytes in the application.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import SplittuiError
from ..tiers import MAX_TIERS, Hop
from .kernel_link import _NETNS_DIR, PREFIX, _ip, _remove_stale, _tbf, kernel_link_available
from .scoped import Scoped

__all__ = ["TierLink", "PacedTiers", "open_tier_link", "hop_address", "tier_namespace"]


def tier_namespace(pid: int, k: int) -> str:
    return f"{PREFIX}-{pid}-t{k}"


def hop_address(h: int, upper: bool) -> str:
    """The address of hop ``h``'s end in tier h (lower) or tier h + 1 (upper)."""
    return f"10.214.{h}.{2 if upper else 1}"


class TierLink(Scoped):
    """K namespaces in a line; ``shape(hops)`` sets every hop's rate in both directions."""

    kind = "kernel"

    def __init__(self, k: int) -> None:
        if not 2 <= k <= MAX_TIERS:
            raise SplittuiError(f"kernel tier link: {k} tiers; 2 to {MAX_TIERS} are supported")
        pid = os.getpid()
        self.k = k
        self.namespaces = [tier_namespace(pid, i) for i in range(k)]
        # interface names are at most 15 bytes: splt + pid (≤ 7 digits) + hop + side
        self.devices = [(f"{PREFIX}{pid}{h}a"[:15], f"{PREFIX}{pid}{h}b"[:15]) for h in range(k - 1)]
        self.hops: tuple[Hop, ...] = ()

    def __enter__(self) -> "TierLink":
        _remove_stale()   # namespaces of runs killed with SIGKILL, before this run makes its own
        return super().__enter__()

    def _open(self) -> None:
        for ns in self.namespaces:
            _ip("ip", "netns", "add", ns)
            _ip("ip", "-n", ns, "link", "set", "lo", "up")
        for h, (low, high) in enumerate(self.devices):
            a, b = self.namespaces[h], self.namespaces[h + 1]
            _ip("ip", "link", "add", low, "netns", a, "type", "veth", "peer", "name", high, "netns", b)
            for ns, dev, upper in ((a, low, False), (b, high, True)):
                _ip("ip", "-n", ns, "addr", "add", f"{hop_address(h, upper)}/30", "dev", dev)
                _ip("ip", "-n", ns, "link", "set", dev, "up")

    def namespace(self, k: int) -> str | None:
        return self.namespaces[k]

    def listen_host(self, k: int) -> str:
        """Where tier k (k ≥ 1) listens: its end of the hop below it."""
        return hop_address(k - 1, upper=True)

    def shape(self, hops: Sequence[Hop]) -> None:
        """Hop h: tier h's egress at ``up_mbps``, tier h + 1's egress at ``down_mbps``."""
        hops = tuple(hops)
        if len(hops) != self.k - 1:
            raise SplittuiError(f"kernel tier link: {self.k - 1} hops, {len(hops)} rates given")
        if hops == self.hops:
            return
        for h, ((low, high), hop) in enumerate(zip(self.devices, hops, strict=True)):
            for ns, dev, mbps in ((self.namespaces[h], low, hop.up_mbps), (self.namespaces[h + 1], high,
                                                                           hop.down_mbps)):
                _ip("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", *_tbf(mbps))
        self.hops = hops

    def pace(self, hop: Hop) -> tuple[float | None, float | None]:
        """The rates the application paces hop ``hop`` at: none here, the kernel shapes them."""
        return None, None

    def describe(self) -> str:
        return (f"kernel: {self.k} network namespaces in a line, a veth pair per hop shaped by tc tbf in each "
                "direction, MTU 1500 (TCP in the measurement); each hop's one-way delay is added by the sender "
                "(no netem in this kernel)")

    def close(self) -> None:
        for ns in self.namespaces:
            if (_NETNS_DIR / ns).exists():
                _ip("ip", "netns", "del", ns, check=False)


class PacedTiers:
    """Every tier on loopback; the sender adds each hop's delay and paces its bytes in the application."""

    kind = "paced"

    def __init__(self, k: int, why: str = "") -> None:
        self.k, self.why = k, why
        self.hops: tuple[Hop, ...] = ()

    def __enter__(self) -> "PacedTiers":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def namespace(self, k: int) -> str | None:
        return None

    def listen_host(self, k: int) -> str:
        return "127.0.0.1"

    def shape(self, hops: Sequence[Hop]) -> None:
        self.hops = tuple(hops)

    def pace(self, hop: Hop) -> tuple[float | None, float | None]:
        return hop.up_mbps, hop.down_mbps

    def describe(self) -> str:
        note = f" ({self.why})" if self.why else ""
        return ("paced: loopback TCP between the tiers' processes, the sender adds each hop's one-way delay and "
                f"paces its bytes in the application{note}")


def open_tier_link(k: int, requested: str = "auto"):
    """``--link auto|kernel|paced`` for a chain of ``k`` tiers (as ``kernel_link.open_link`` for two)."""
    if requested == "paced":
        return PacedTiers(k, "asked for with --link paced")
    ok, why = kernel_link_available()
    if ok:
        return TierLink(k)
    if requested == "kernel":
        raise SplittuiError(f"--link kernel: {why}")
    return PacedTiers(k, f"no kernel link: {why}")

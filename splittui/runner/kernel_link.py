"""A link shaped by the kernel: two network namespaces joined by a veth pair, ``tbf`` per direction.

The client process enters one namespace, the server process the other (``enter_netns`` at the very
start of each child); every byte between them crosses the veth pair, whose egress in each direction
is a token-bucket filter (``tc qdisc ... tbf``) at the scenario's bandwidth. TCP's own behaviour
(slow start, ACK clocking, queueing in the qdisc, header bytes) is therefore in the measurement.
This kernel has no ``netem``, so the one-way delay stays in the application (the sender sleeps
before the first byte, as the paced link does).

Needs root or CAP_NET_ADMIN plus ``ip`` and ``tc`` (iproute2). ``KernelLink`` is a context manager:
the namespaces (and with them the veth pair and the qdiscs) are removed on normal exit, on an
exception and on Ctrl-C; namespaces left by a run that was killed outright are removed by the next.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import SplittuiError
from .scoped import Scoped

__all__ = ["KernelLink", "kernel_link_available", "enter_netns", "our_namespaces", "open_link", "PREFIX"]

PREFIX = "splt"
CLIENT_IP, SERVER_IP = "10.213.0.1", "10.213.0.2"
_CLONE_NEWNET = 0x40000000
_NETNS_DIR = Path("/var/run/netns")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise SplittuiError(f"kernel link: `{' '.join(args)}` failed: {out.stderr.strip() or out.returncode}")
    return out


def _has_net_admin() -> bool:
    if os.geteuid() == 0:
        return True
    try:
        caps = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("CapEff"))
        return bool(int(caps.split()[1], 16) & (1 << 12))
    except (OSError, StopIteration, ValueError):
        return False


def kernel_link_available() -> tuple[bool, str]:
    """(True, "") where namespaces, veth and tbf can be made here; else (False, why not)."""
    if not _has_net_admin():
        return False, "needs root or CAP_NET_ADMIN to create network namespaces"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return False, f"{' and '.join(missing)} not found (install iproute2)"
    probe = f"{PREFIX}-probe-{os.getpid()}"
    out = _ip("ip", "netns", "add", probe, check=False)
    if out.returncode != 0:
        return False, f"`ip netns add` is not permitted here ({out.stderr.strip()})"
    _ip("ip", "netns", "del", probe, check=False)
    return True, ""


def our_namespaces() -> list[str]:
    """Every namespace this module names (any run's), as `ip netns list` shows them."""
    out = _ip("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"{PREFIX}-")]


def _remove_stale() -> None:
    """Namespaces of runs whose process no longer exists (killed with SIGKILL)."""
    for name in our_namespaces():
        m = re.fullmatch(rf"{PREFIX}-(\d+)-(?:[cs]|t\d)", name)  # two-sided (c, s) or a tier chain's (t0..)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            _ip("ip", "netns", "del", name, check=False)


def _tbf(mbps: float) -> list[str]:
    """tbf at ``mbps``: a bucket of one millisecond (at least 10 full frames), a queue of 200 ms."""
    rate = mbps * 1e6 / 8
    burst = int(max(15_140, rate / 1000))
    limit = int(max(4 * burst, rate * 0.2))
    return ["tbf", "rate", f"{mbps * 1e3:.0f}kbit", "burst", str(burst), "limit", str(limit)]


class KernelLink(Scoped):
    """Client and server namespaces joined by veth; ``shape(up, down)`` sets each direction's rate."""

    kind = "kernel"

    def __init__(self) -> None:
        pid = os.getpid()
        self.client_ns, self.server_ns = f"{PREFIX}-{pid}-c", f"{PREFIX}-{pid}-s"
        self.client_dev, self.server_dev = f"{PREFIX}{pid}c"[:15], f"{PREFIX}{pid}s"[:15]
        self.server_ip, self.rates = SERVER_IP, (0.0, 0.0)

    def __enter__(self) -> "KernelLink":
        _remove_stale()   # namespaces of runs killed with SIGKILL, before this run makes its own
        return super().__enter__()

    def _open(self) -> None:
        c, s = self.client_ns, self.server_ns
        _ip("ip", "netns", "add", c)
        _ip("ip", "netns", "add", s)
        _ip("ip", "link", "add", self.client_dev, "netns", c, "type", "veth", "peer", "name", self.server_dev,
            "netns", s)
        for ns, dev, addr in ((c, self.client_dev, CLIENT_IP), (s, self.server_dev, SERVER_IP)):
            _ip("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            _ip("ip", "-n", ns, "link", "set", dev, "up")
            _ip("ip", "-n", ns, "link", "set", "lo", "up")

    def shape(self, up_mbps: float, down_mbps: float) -> None:
        """Upload = the client's egress, download = the server's egress."""
        if (up_mbps, down_mbps) == self.rates:
            return
        for ns, dev, mbps in ((self.client_ns, self.client_dev, up_mbps), (self.server_ns, self.server_dev, down_mbps)):
            _ip("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", *_tbf(mbps))
        self.rates = (up_mbps, down_mbps)

    def describe(self) -> str:
        up, down = self.rates
        return (f"kernel: veth between network namespaces, tbf {up:g} Mbit/s up / {down:g} Mbit/s down, MTU 1500 "
                f"(TCP in the measurement); the one-way delay is added by the sender (no netem in this kernel)")

    def close(self) -> None:
        for ns in (self.client_ns, self.server_ns):
            if (_NETNS_DIR / ns).exists():
                _ip("ip", "netns", "del", ns, check=False)


def enter_netns(name: str) -> None:
    """Move the calling process (a fresh child, before it opens any socket) into namespace ``name``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(_NETNS_DIR / name, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise SplittuiError(f"cannot enter network namespace {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def open_link(requested: str = "auto"):
    """``--link auto|kernel|paced``: a KernelLink where namespaces may be made (auto, kernel), else
    the application-paced link; ``kernel`` where it cannot be made is an error."""
    from .link import PacedLink

    if requested == "paced":
        return PacedLink("asked for with --link paced")
    ok, why = kernel_link_available()
    if ok:
        return KernelLink()
    if requested == "kernel":
        raise SplittuiError(f"--link kernel: {why}")
    return PacedLink(f"no kernel link: {why}")

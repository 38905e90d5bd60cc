"""`splittui serve`: the terminal app in a browser (textual-serve, the optional ``serve`` extra).

Every browser tab gets its own app process, started as ``python -m splittui`` with the app's flags
given here (--model/--profile/--hf-config, the devices, the dtype). Everything that can be wrong is
checked before the server starts (the profile or config, a device, the dtype, the host, the port, the
extra), so bad input is one line and exit status 2, never a half-started server.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import re
import shlex
import socket
import sys
from pathlib import Path

from ..errors import SplittuiError
from .common import add_profile_args, profile_from_args
from .llm_args import APP_LLM_FLAGS, add_app_llm_args

__all__ = ["add_parser", "app_command", "check_host", "check_port", "public_url", "run_serve"]

_EPILOG = """examples:
  splittui serve --model gpt2-like                 # then open http://127.0.0.1:8000
  splittui serve --profile my.json --port 8080
  splittui serve --hf-config ./my-llama/ --client-device jetson-orin --dtype int4
  splittui serve --host 0.0.0.0 --public-url http://planner.lan:8000   # teammates on the LAN

Binds to 127.0.0.1 unless --host says otherwise: the app can write files where the server runs."""

# the app's flags, forwarded to every app process when given; a path is made absolute (the app may start elsewhere)
_FORWARDED = (("model", False), ("profile", True), *APP_LLM_FLAGS)
_HOSTNAME = re.compile(r"(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
_SERVE_EXTRA = ("textual_serve", "aiohttp", "aiohttp_jinja2", "jinja2")


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, got {text}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve the app to a web browser (one app process per tab)",
                       description="Serve the interactive app to web browsers with textual-serve "
                                   "(pip install 'splittui[serve]'). Ctrl-C stops the server and every app.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_app_llm_args(p, add_profile_args(p))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=port_number, default=8000, help="TCP port (default %(default)s)")
    p.add_argument("--public-url", metavar="URL",
                   help="the URL browsers use to reach the server (default: from --host and --port)")
    p.set_defaults(func=run_serve)


def app_command(args: argparse.Namespace) -> str:
    """The shell command that starts one app process: this Python, this splittui, the same profile.
    textual-serve runs it through /bin/sh; ``exec`` makes the app the shell's own process, so stopping
    the tab stops the app itself."""
    argv = [sys.executable, "-m", "splittui"]
    for dest, is_path in _FORWARDED:
        value = getattr(args, dest, None)
        if value:
            argv += [f"--{dest.replace('_', '-')}", str(Path(value).expanduser().resolve()) if is_path else value]
    return "exec " + shlex.join(argv)


def check_host(host: str) -> None:
    """An address this machine can listen on, or a one-line error naming --host. A malformed name is
    refused without asking DNS (no network needed to reject a typo)."""
    if not _is_ip(host) and not _HOSTNAME.fullmatch(host):
        raise SplittuiError(f"--host {host!r}: not a valid host name or IP address")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SplittuiError(f"--host {host!r}: cannot resolve it ({exc.args[-1]})") from None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_port(host: str, port: int) -> None:
    """Bind the port once and let go, so a busy port is a one-line error before the server starts."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _bind_error(host, port, exc) from None


def _bind_error(host: str, port: int, exc: OSError) -> SplittuiError:
    if exc.errno == errno.EADDRINUSE:
        return SplittuiError(f"--port {port}: already in use on {host} (stop the other server or pick another port)")
    if exc.errno == errno.EACCES:
        return SplittuiError(f"--port {port}: permission denied (ports below 1024 need privileges)")
    return SplittuiError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})")


def public_url(host: str, port: int) -> str:
    """What a browser types: a wildcard host becomes this machine's name, an IPv6 address gets brackets."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    if _is_ip(host) and ipaddress.ip_address(host).version == 6:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _server_class():
    try:
        from .serving import SplittuiServer
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in _SERVE_EXTRA:
            raise SplittuiError("serving needs the 'serve' extra: pip install 'splittui[serve]'") from None
        raise
    return SplittuiServer


def run_serve(args: argparse.Namespace) -> int:
    profile = profile_from_args(args)   # fail fast: a missing profile never starts a server
    check_host(args.host)
    check_port(args.host, args.port)
    server_class = _server_class()
    url = args.public_url or public_url(args.host, args.port)
    server = server_class(app_command(args), host=args.host, port=args.port, title=f"splittui · {profile.model}",
                          public_url=url.rstrip("/"))
    try:
        server.serve()
    except OSError as exc:  # lost a race for the port between the check and the bind
        raise _bind_error(args.host, args.port, exc) from None
    print("splittui: server stopped", file=sys.stderr)
    return 0

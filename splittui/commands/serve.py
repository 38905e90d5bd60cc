"""`splittui serve`: the terminal app in a browser (textual-serve, the optional ``serve`` extra).

Every browser tab gets its own app process, started as ``python -m splittui`` with the app's flags
given here (--model/--profile/--hf-config, the devices, the dtype), at most --max-apps at once. A visitor
needs the token the startup URL carries, and the apps read and write files only inside one folder
(--files; see `splittui.confine`). Everything that can be wrong is checked before the server starts (the
profile or config, a device, the dtype, the host, the token, the files folder, the port, the extra), so
bad input is one line and exit status 2, never a half-started server.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import re
import secrets
import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path

from .. import confine
from ..errors import SplittuiError
from .app_args import APP_SCENARIO_FLAGS, add_app_scenario_args
from .common import add_profile_args
from .llm_args import APP_LLM_FLAGS, add_app_llm_args

__all__ = ["add_parser", "app_command", "check_host", "check_port", "check_token", "is_loopback", "public_url",
           "run_serve"]

_EPILOG = """examples:
  splittui serve --model gpt2-like                 # then open the URL it prints (it holds the token)
  splittui serve --profile my.json --port 8080
  splittui serve --hf-config ./my-llama/ --client-device jetson-orin --dtype int4
  splittui serve --host 0.0.0.0 --public-url http://planner.lan:8000   # teammates on the LAN

What a visitor (anyone with the URL and its token) can do: use the app as in a terminal; read and write
files, but only inside the files folder (--files; default a fresh folder per server, printed at start),
and every file written also downloads to their browser; live-profile a zoo model (one run at a time on
the whole server). What a visitor cannot do: reach the server without the token; read or write any path
outside the files folder ('..', absolute paths and symlinks out of it are refused); run Python code of
their own (profiling a factory file needs --allow-code); start more than --max-apps apps at once. Each
app runs as the user who started the server, so --files should not be a folder holding anything else.
The traffic is plain HTTP: on a network you do not trust, put an HTTPS proxy in front (--public-url)."""

# the app's flags, forwarded to every app process when given; a path is made absolute (the app may start elsewhere)
_FORWARDED = (("model", False), ("profile", True), *APP_LLM_FLAGS, *APP_SCENARIO_FLAGS)
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
    add_app_scenario_args(p)   # every tab opens on this scenario (or the --policy file's)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=port_number, default=8000, help="TCP port (default %(default)s)")
    p.add_argument("--public-url", metavar="URL",
                   help="the URL browsers use to reach the server (default: from --host and --port)")
    token = p.add_mutually_exclusive_group()
    token.add_argument("--token", metavar="VALUE",
                       help="the token visitors need (default: a random one, printed in the URL; at least 16 of "
                            "A-Z a-z 0-9 - _ . ~; other users of this machine can see it in `ps`)")
    token.add_argument("--no-token", action="store_true",
                       help="no token: only with a loopback --host (127.0.0.1, ::1, localhost)")
    p.add_argument("--files", metavar="DIR", help="the one folder the apps read and write (default: a fresh "
                                                 "folder for this server in the user's data dir)")
    p.add_argument("--max-apps", type=positive_int, default=default_max_apps(), metavar="N",
                   help="at most N app processes (tabs) at once; one more gets a 'server full' page "
                        "(default %(default)s, from the CPU count)")
    p.add_argument("--idle-minutes", type=positive_minutes, default=30.0, metavar="M",
                   help="end a tab's app after M minutes without input from its browser (default %(default)g)")
    p.add_argument("--allow-code", action="store_true",
                   help="let the apps run a Python factory file for live profiling where they offer it (the "
                        "visitor's code, run as you); off by default")
    p.set_defaults(func=run_serve)


def default_max_apps() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def positive_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"minutes must be > 0, got {text}")
    return value


def app_command(args: argparse.Namespace, cwd: Path | None = None) -> str:
    """The shell command that starts one app process: this Python, this splittui, the same profile, in
    `cwd` when given. textual-serve runs it through /bin/sh; ``exec`` makes the app the shell's own
    process, so stopping the tab stops the app itself."""
    argv = [sys.executable, "-m", "splittui"]
    for dest, is_path in _FORWARDED:
        value = getattr(args, dest, None)
        if value is not None and value is not False:
            argv += [f"--{dest.replace('_', '-')}", str(Path(value).expanduser().resolve()) if is_path else str(value)]
    return (f"cd {shlex.quote(str(cwd))} && " if cwd else "") + "exec " + shlex.join(argv)


_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{16,512}")


def check_token(args: argparse.Namespace) -> str | None:
    """The token visitors need: --token, none with --no-token (loopback only), else a fresh random one
    (256 bits). A one-line error for a weak token or --no-token on a reachable host."""
    if args.no_token:
        if not is_loopback(args.host):
            raise SplittuiError(f"--no-token: only with a loopback --host (127.0.0.1, ::1, localhost); "
                                f"{args.host} can be reached from other machines")
        return None
    if args.token is None:
        return secrets.token_urlsafe(32)
    if not _TOKEN.fullmatch(args.token):
        raise SplittuiError("--token: use at least 16 characters of A-Z a-z 0-9 - _ . ~ (or leave it out for "
                            "a random one)")
    return str(args.token)


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is this machine's loopback."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def server_dirs(files: str | None) -> tuple[Path, Path]:
    """(this server's own folder, the visitors' files folder). The own folder is fresh, under the user's
    data dir: it holds the saved slots, the profiling lock and the apps' working directory, out of the
    visitors' reach; the files folder is --files (it must exist, and must not hold the own folder) or
    its files/ subfolder."""
    chosen = None
    if files is not None:
        chosen = Path(files).expanduser().resolve()
        if not chosen.is_dir():
            raise SplittuiError(f"--files {files}: no such folder (create it first)")
    base = confine.user_data_dir() / "serve"
    for kept, what in ((base.resolve(), "splittui's own data folder"), (_package_parent(), "splittui's code")):
        if chosen is not None and (chosen == kept or chosen in kept.parents):
            raise SplittuiError(f"--files {files}: holds {what}; choose a folder of its own")
    try:
        base.mkdir(parents=True, exist_ok=True)
        own = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=base)).resolve()
        root = chosen or own / "files"
        root.mkdir(exist_ok=True)
    except OSError as exc:
        raise SplittuiError(f"cannot create the server's folder under {base} ({exc.strerror or exc})") from None
    return own, root


def _package_parent() -> Path:
    """The folder this splittui is imported from (the apps import the same one)."""
    return Path(__file__).resolve().parents[2]


def app_environment(own: Path, root: Path, *, allow_code: bool) -> dict[str, str]:
    """What every app process learns from its environment: served, its files folder, whether code may
    run, the shared profiling lock, this server's slots, and this splittui first on the import path."""
    path = os.pathsep.join(p for p in (str(_package_parent()), os.environ.get("PYTHONPATH", "")) if p)
    return {confine.FILES_ENV: str(root), confine.CODE_ENV: "1" if allow_code else "0",
            confine.LOCK_ENV: str(own / "profiling.lock"), confine.DATA_DIR_ENV: str(own), "PYTHONPATH": path}


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
    from .app_args import app_start

    profile, _, _ = app_start(args)   # fail fast: a missing profile or a bad scenario never starts a server
    check_host(args.host)
    token = check_token(args)
    check_port(args.host, args.port)
    server_class = _server_class()
    own, root = server_dirs(args.files)
    url = args.public_url or public_url(args.host, args.port)
    server = server_class(app_command(args, cwd=own), host=args.host, port=args.port,
                          title=f"splittui · {profile.model}", public_url=url.rstrip("/"), token=token,
                          max_apps=args.max_apps, idle_s=args.idle_minutes * 60,
                          app_env=app_environment(own, root, allow_code=args.allow_code))
    print(f"splittui: visitors' files: {root}", file=sys.stderr, flush=True)
    try:
        server.serve()
    except OSError as exc:  # lost a race for the port between the check and the bind
        raise _bind_error(args.host, args.port, exc) from None
    print("splittui: server stopped", file=sys.stderr)
    return 0

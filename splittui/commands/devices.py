"""`splittui devices`: the device presets (and any from --devices FILE) as a table, with their sources."""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    from .output import add_output_flags

    p = sub.add_parser("devices", help="list the client and server device presets and their datasheet sources",
                       description="Device presets for --client-device / --server-device (and `profile --server`). "
                                   "A name, an alias (a100 = a100-80gb) or a unique prefix (jetson) works. Times "
                                   "computed from them are roofline estimates (SPEC §9); this-cpu is measured on "
                                   "this machine (~10 s, once, then cached).")
    p.add_argument("--devices", metavar="FILE", help="also list the devices of this TOML or JSON file")
    p.add_argument("--measure", action="store_true", help="also measure this-cpu now (~10 s unless cached)")
    p.add_argument("--check", action="store_true",
                   help="print the calibration fit per device x runtime: points, leave-one-out error, held-out check")
    add_output_flags(p, "the devices (splittui.devices/1)")
    p.set_defaults(func=run_devices)


def _document(devs: list) -> dict:
    from dataclasses import asdict

    from ..devices import ALIASES

    return {"schema": "splittui.devices/1", "aliases": dict(ALIASES),
            "devices": [asdict(d) | {"aliases": [a for a, n in ALIASES.items() if n == d.name], "power": _power(d)}
                        for d in devs]}


def _power(d) -> dict | None:
    """The device's power preset (docs/energy.md, an estimate with its source), or None without one."""
    from dataclasses import asdict

    from ..energy import CLIENT_POWER, SERVER_POWER

    p = (CLIENT_POWER if d.role == "client" else SERVER_POWER).get(d.name)
    return None if p is None else asdict(p) | {"modes": [list(m) for m in p.modes]}


def run_devices(args: argparse.Namespace) -> int:
    from ..devices import PRESETS, load_device_file, this_cpu
    from .output import check_out, emit

    check_out(args)
    devs = list(PRESETS.values())
    if args.measure:
        devs.append(this_cpu())
    if args.devices:
        devs += list(load_device_file(args.devices).values())
    if getattr(args, "check", False):
        from ..calibration_io import load_fit
        from .calibrate import print_fit

        fitted = load_fit()
        emit(args, {**_document(devs), "calibration": fitted.to_doc()}, lambda: print_fit(fitted),
             what=f"{len(devs)} devices and the calibration")
        return 0
    emit(args, _document(devs), lambda: _print(devs, measured=args.measure), what=f"{len(devs)} devices")
    return 0


def _print(devs: list, *, measured: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..devices import ALIASES
    from ..report.tables import print_table

    table = Table(title="device presets: times from these are roofline estimates "
                        "max(FLOP/(peak·eff), bytes/(bw·eff)) + kernels·overhead", title_justify="left")
    for col, just in (("name", "left"), ("role", "left"), ("fp16\nTFLOP/s", "right"), ("fp32\nTFLOP/s", "right"),
                      ("memory\nGB/s", "right"), ("eff\ncomp/mem", "right"), ("us per\nkernel", "right")):
        text = col == "name"   # a text column folds; numbers never wrap
        table.add_column(col, justify=just, no_wrap=not text, overflow="fold" if text else "ellipsis")  # type: ignore[arg-type]
    for d in devs:
        table.add_row(d.name, d.role, f"{d.fp16_tflops:g}", f"{d.fp32_tflops:g}", f"{d.mem_gbps:g}",
                      f"{d.eff_compute:g}/{d.eff_mem:g}", f"{d.overhead_us:g}")
    console = Console()
    print_table(console, table)
    console.print("[bold]aliases and sources (datasheets)[/]")
    for d in devs:   # below the table, not in a column: a pipe's 80 columns would leave it a sliver
        aliases = ", ".join(a for a, n in ALIASES.items() if n == d.name)
        also = f"; alias {aliases}" if aliases else ""
        p = _power(d)
        watts = "" if p is None else (f"; power {p['prefill_w']:g}/{p['decode_w']:g}/{p['idle_w']:g} W "
                                      "prefill/decode/idle (estimate)")
        console.print(f"[bold]{d.name}[/] ({d.label}{also}): {d.source}{watts}", overflow="fold")
    console.print("a unique prefix of a name works too (jetson = jetson-orin)")
    console.print("power: estimates (docs/energy.md); `--json` lists each preset's power modes and source")
    if not measured:
        console.print("this-cpu: measured on first use (~10 s, cached); `splittui devices --measure` shows it")

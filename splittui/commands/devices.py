"""`splittui devices`: the device presets (and any from --devices FILE) as a table, with their sources."""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    p = sub.add_parser("devices", help="list the client and server device presets and their datasheet sources",
                       description="Device presets for --client-device / --server-device. Times computed from "
                                   "them are roofline estimates (SPEC §9); this-cpu is measured on this "
                                   "machine (~10 s, once, then cached).")
    p.add_argument("--devices", metavar="FILE", help="also list the devices of this TOML or JSON file")
    p.add_argument("--measure", action="store_true", help="also measure this-cpu now (~10 s unless cached)")
    p.set_defaults(func=run_devices)


def run_devices(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..devices import PRESETS, load_device_file, this_cpu

    devs = list(PRESETS.values())
    if args.measure:
        devs.append(this_cpu())
    if args.devices:
        devs += list(load_device_file(args.devices).values())
    table = Table(title="device presets: times from these are roofline estimates "
                        "max(FLOP/(peak·eff), bytes/(bw·eff)) + kernels·overhead")
    for col, just in (("name", "left"), ("role", "left"), ("fp16 TF", "right"), ("fp32 TF", "right"),
                      ("GB/s", "right"), ("eff c/m", "right"), ("us/k", "right")):
        table.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("source (datasheet)", overflow="fold", ratio=1)
    for d in devs:
        table.add_row(d.name, d.role, f"{d.fp16_tflops:g}", f"{d.fp32_tflops:g}", f"{d.mem_gbps:g}",
                      f"{d.eff_compute:g}/{d.eff_mem:g}", f"{d.overhead_us:g}", d.source)
    console = Console()
    console.print(table)
    if not args.measure:
        console.print("this-cpu: measured on first use (~10 s, cached); `splittui devices --measure` shows it")
    return 0

"""Design-space exploration (issue 30): a grid of axes, its cells, the chunks that share one profile, and
one chunk's rows. Pure: the grid arrives as a dict (the command reads the TOML), rows leave as dicts (the
command writes Parquet or CSV and runs the chunks on a process pool or a Dask cluster).

A cell is one solve through the public API: ``load_any`` builds the profile (model, devices, dtype,
runtime), a ``Scenario`` takes the scenario axes, ``solve_all`` runs the grid's solvers on it (one
cell per solver). Cells are numbered in a fixed mixed-radix order, profile axes outermost and the
solver innermost, so a chunk is a range of scenarios under one profile and a cell's number names it
in every run of the same grid (what ``--resume`` skips by).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import SplittuiError
from .explore_summary import QUESTIONS, axis_figures, axis_rows, best_rows, pareto_front
from .model import OBJECTIVES, RADIO_KINDS, Profile, Result, Scenario

__all__ = ["AXES", "PROFILE_AXES", "SCENARIO_AXES", "FIGURES", "DEFAULT_KEEP", "QUESTIONS", "Grid", "Chunk",
           "parse_grid", "chunks", "run_chunk", "run_chunk_columns", "estimate_cell_s", "pareto_front", "best_rows",
           "axis_rows", "axis_figures"]

PROFILE_AXES = ("model", "client_device", "server_device", "dtype", "runtime")
SCENARIO_AXES = ("bandwidth_mbps", "delay_ms", "seq_len", "gen_tokens", "deadline_ms", "ttft_limit_ms",
                 "tpot_limit_ms", "objective", "unit_ms", "client_mem_gb", "server_mem_gb", "pin_client",
                 "pin_server", "radio")
AXES = (*PROFILE_AXES, *SCENARIO_AXES, "solver")
# an absent axis has one value, written as in a grid file: the default of `splittui solve`
_DEFAULTS: dict[str, Any] = {
    "model": "gpt2-like", "client_device": "measured", "server_device": "measured", "dtype": "default",
    "runtime": "roofline", "bandwidth_mbps": 100.0, "delay_ms": 10.0, "seq_len": 512, "gen_tokens": 0,
    "deadline_ms": 1500.0, "ttft_limit_ms": "none", "tpot_limit_ms": "none", "objective": "flops", "unit_ms": 1.0,
    "client_mem_gb": "none", "server_mem_gb": "none", "pin_client": [], "pin_server": [], "radio": "wifi",
    "solver": "dp"}
FIGURES = ("feasible", "server_share", "server_load", "latency_ms", "ttft_ms", "tpot_ms", "server_mem_bytes",
           "client_mem_need_bytes", "server_mem_need_bytes", "switches", "min_latency_ms", "solve_ms",
           "client_energy_j", "client_j_per_token", "server_energy_j")   # energies: estimates (docs/energy.md)
DEFAULT_KEEP = ("feasible", "server_share", "latency_ms", "ttft_ms", "tpot_ms", "server_mem_bytes")
_DTYPES = ("default", "fp32", "fp16", "bf16", "int8", "int4", "q4_k_m")


@dataclass(frozen=True, slots=True)
class Grid:
    """Validated axes in AXES order (each a non-empty tuple) and the figures each row keeps."""

    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    keep: tuple[str, ...]
    chunk_cells: int = 512

    def values(self, name: str) -> tuple[Any, ...]:
        return dict(self.axes)[name]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.axes)

    @property
    def n_cells(self) -> int:
        return math.prod(self.sizes)

    @property
    def n_profiles(self) -> int:
        return math.prod(len(self.values(a)) for a in PROFILE_AXES)

    @property
    def n_solvers(self) -> int:
        return len(self.values("solver"))

    @property
    def sha256(self) -> str:
        """Names the grid in its rows: a resumed output must come from the same grid."""
        doc = json.dumps([self.axes, self.keep], sort_keys=True, default=list)
        return hashlib.sha256(doc.encode()).hexdigest()

    def cell(self, index: int) -> dict[str, Any]:
        """The axis values of cell `index` (mixed radix, the last axis fastest)."""
        out: dict[str, Any] = {}
        for name, vals in reversed(self.axes):
            index, j = divmod(index, len(vals))
            out[name] = vals[j]
        return {name: out[name] for name, _ in self.axes}


@dataclass(frozen=True, slots=True)
class Chunk:
    """Cells [start, stop) of the grid: whole scenarios under one profile (one profile build)."""

    start: int
    stop: int

    @property
    def n_cells(self) -> int:
        return self.stop - self.start


# ---------------------------------------------------------------- the grid file

def parse_grid(doc: dict[str, Any], *, where: str = "grid") -> Grid:
    """A grid from a TOML document: top-level axis keys (a value or a list), ``keep = [figures]`` and
    optionally ``chunk_cells``. Every problem is one SplittuiError naming `where` and the axis."""
    doc = dict(doc)
    keep = _keep(doc.pop("keep", list(DEFAULT_KEEP)), where)
    chunk_cells = doc.pop("chunk_cells", 512)
    if isinstance(chunk_cells, bool) or not isinstance(chunk_cells, int) or chunk_cells < 1:
        raise SplittuiError(f"{where}: chunk_cells must be a whole number >= 1, got {chunk_cells!r}")
    unknown = [k for k in doc if k not in AXES]
    if unknown:
        raise SplittuiError(f"{where}: unknown axis {unknown[0]!r} (known: {', '.join(AXES)}, keep, chunk_cells)")
    axes = tuple((name, _axis(name, doc.get(name, [_DEFAULTS[name]]), where)) for name in AXES)
    return Grid(axes=axes, keep=keep, chunk_cells=chunk_cells)


def _keep(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    bad = [f for f in items if f not in FIGURES]
    if bad or not items:
        raise SplittuiError(f"{where}: keep: unknown figure {bad[0] if bad else '(none)'!r} "
                            f"(known: {', '.join(FIGURES)})")
    return tuple(dict.fromkeys(["feasible", *items]))


def _axis(name: str, value: Any, where: str) -> tuple[Any, ...]:
    items = value if isinstance(value, list) and not _is_pair_or_pins(name, value) else [value]
    if not items:
        raise SplittuiError(f"{where}: axis {name!r} is empty (give at least one value, or leave the axis out)")
    out = []
    for item in items:
        try:
            out.append(_value(name, item))
        except SplittuiError as exc:
            raise SplittuiError(f"{where}: {name}: bad value {item!r}: {exc}") from None
    if len(set(out)) != len(out):
        raise SplittuiError(f"{where}: {name}: a value is given twice ({items!r})")
    return tuple(out)


def _is_pair_or_pins(name: str, value: list[Any]) -> bool:
    """`bandwidth_mbps = [100, 20]` is two symmetric links; a pair is `[[100, 20]]`. Pins are lists of lists."""
    return name in ("pin_client", "pin_server") and bool(value) and all(isinstance(v, int) for v in value)


def _value(name: str, item: Any) -> Any:
    """One axis value, checked and made canonical (device aliases resolved, numbers as float)."""
    if name == "model":
        return _model(item)
    if name in ("client_device", "server_device"):
        from .devices import device_name

        return device_name(_text(item), flag=name, extra=("measured",))
    if name == "dtype":
        return _choice(item, _DTYPES)
    if name == "runtime":
        from .calibration import RUNTIMES

        return _choice(item, ("roofline", *RUNTIMES))
    if name == "objective":
        return _choice(item, OBJECTIVES)
    if name == "radio":
        return _choice(item, RADIO_KINDS)
    if name == "solver":
        from .solvers import SOLVERS

        return _choice(item, SOLVERS)
    return _scenario_value(name, item)


def _scenario_value(name: str, item: Any) -> Any:
    if name == "bandwidth_mbps":
        pair = item if isinstance(item, list) else [item, item]
        if len(pair) != 2:
            raise SplittuiError("give a number (both ways) or a pair [up, down] in Mbit/s")
        value: Any = (_number(pair[0]), _number(pair[1]))
        Scenario(up_mbps=value[0], down_mbps=value[1])
        return value
    if name in ("pin_client", "pin_server"):
        value = tuple(sorted(set(item if isinstance(item, list) else [item])))
        Scenario(**{name: value})
        return value
    if name in ("seq_len", "gen_tokens"):
        if isinstance(item, bool) or not isinstance(item, int):
            raise SplittuiError("must be a whole number")
        value = item
    else:
        value = None if _is_none(item) else _number(item)
    field = {"ttft_limit_ms": "ttft_ms", "tpot_limit_ms": "tpot_ms"}.get(name, name)
    probe = {"deadline_ms": 1e12} if field in ("ttft_ms", "tpot_ms") else {}
    Scenario(**{**probe, field: value})   # the model's own checks (positive, finite, ...)
    return value


def _model(item: Any) -> str:
    from .llm import is_shipped_config
    from .profiles import load_profile

    text = _text(item)
    path = Path(text)
    if not (is_shipped_config(text) or path.name == "config.json" or (path / "config.json").is_file()):
        load_profile(text)   # a shipped profile or a profile file; its own one-line error otherwise
    return text


def _text(item: Any) -> str:
    if not isinstance(item, str) or not item:
        raise SplittuiError("must be a name (a string)")
    return item


def _choice(item: Any, choices: Sequence[str]) -> str:
    if item not in choices:
        raise SplittuiError(f"choose from {', '.join(choices)}")
    return str(item)


def _number(item: Any) -> float:
    if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
        raise SplittuiError("must be a finite number")
    return float(item)


def _is_none(item: Any) -> bool:
    return isinstance(item, str) and item.lower() == "none"


# ---------------------------------------------------------------- chunks and cells

def chunks(grid: Grid, *, skip: frozenset[int] = frozenset()) -> list[Chunk]:
    """The grid's cells as chunks of whole scenarios under one profile, about `grid.chunk_cells` cells
    each; chunks whose every cell is in `skip` are left out."""
    per_profile = grid.n_cells // grid.n_profiles
    step = max(1, grid.chunk_cells // grid.n_solvers) * grid.n_solvers
    out = []
    for p in range(grid.n_profiles):
        base = p * per_profile
        for start in range(base, base + per_profile, step):
            c = Chunk(start, min(start + step, base + per_profile))
            if not skip or any(i not in skip for i in range(c.start, c.stop)):
                out.append(c)
    return out


def run_chunk(grid: Grid, chunk: Chunk, skip: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """The rows of one chunk's cells (those not in `skip`): one profile build, one `solve_all` per
    scenario. A cell the model refuses (a length past the context, a limit above the deadline) is a
    row with its one-line `error` and no figures. Runs in a worker process: a top-level function."""
    first = grid.cell(chunk.start)
    try:
        profile: Profile | str = _profile(grid, first)
    except SplittuiError as exc:
        profile = str(exc)
    rows = []
    n, grid_sha = grid.n_solvers, grid.sha256   # the grid's sha256 once a chunk (a JSON dump and a hash)
    for start in range(chunk.start, chunk.stop, n):
        if skip and all(i in skip for i in range(start, start + n)):
            continue
        rows += [r for r in _scenario_rows(grid, profile, start, grid_sha) if r["cell"] not in skip]
    return rows


def run_chunk_columns(grid: Grid, chunk: Chunk, skip: frozenset[int] = frozenset()) -> dict[str, list[Any]]:
    """`run_chunk`'s rows as columns (name -> values, in row order): what a worker sends back. One list per
    column pickles and writes (Arrow, Parquet) far cheaper than a dict per row."""
    rows = run_chunk(grid, chunk, skip)
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


def _profile(grid: Grid, cell: dict[str, Any]) -> Profile:
    """The cell's profile, covering every seq_len of the grid the model takes (a length past a config's
    context is left out here, so only its own cells are refused)."""
    seqs = sorted(set(grid.values("seq_len")))
    try:
        return _load(cell, seqs)
    except SplittuiError:
        if len(seqs) == 1:
            raise
    return _load(cell, [s for s in seqs if _builds(cell, s)])


def _builds(cell: dict[str, Any], seq: int) -> bool:
    try:
        _load(cell, [seq])
    except SplittuiError:
        return False
    return True


def _load(cell: dict[str, Any], seqs: Sequence[int]) -> Profile:
    from .llm import load_any

    dtype = None if cell["dtype"] == "default" else cell["dtype"]
    runtime = None if cell["runtime"] == "roofline" else cell["runtime"]
    return load_any(cell["model"], dtype=dtype, client_device=cell["client_device"],
                    server_device=cell["server_device"], include_seq=seqs, runtime=runtime)


def _scenario_rows(grid: Grid, profile: Profile | str, start: int, grid_sha: str) -> list[dict[str, Any]]:
    from .solvers import solve_all

    cells = [grid.cell(i) for i in range(start, start + grid.n_solvers)]
    results: dict[str, Result] | str
    try:
        if isinstance(profile, str):
            raise SplittuiError(profile)
        results = solve_all(profile, _scenario(cells[0]), [c["solver"] for c in cells])
    except SplittuiError as exc:
        results = str(exc)
    sha = "" if isinstance(profile, str) else profile.sha256
    return [_row(grid, start + k, c, results, sha, grid_sha) for k, c in enumerate(cells)]


def _scenario(cell: dict[str, Any]) -> Scenario:
    up, down = cell["bandwidth_mbps"]
    return Scenario(deadline_ms=cell["deadline_ms"], up_mbps=up, down_mbps=down, delay_ms=cell["delay_ms"],
                    seq_len=cell["seq_len"], unit_ms=cell["unit_ms"], objective=cell["objective"],
                    gen_tokens=cell["gen_tokens"], ttft_ms=cell["ttft_limit_ms"], tpot_ms=cell["tpot_limit_ms"],
                    client_mem_gb=cell["client_mem_gb"], server_mem_gb=cell["server_mem_gb"],
                    pin_client=cell["pin_client"], pin_server=cell["pin_server"], radio=cell["radio"])


def _row(grid: Grid, index: int, cell: dict[str, Any], results: dict[str, Result] | str,
         sha: str, grid_sha: str) -> dict[str, Any]:
    """One flat row: every axis (bandwidth as up/down, pins as "1,2"), the kept figures, provenance."""
    row: dict[str, Any] = {"cell": index}
    for name, value in cell.items():
        if name == "bandwidth_mbps":
            row["up_mbps"], row["down_mbps"] = value
        elif name in ("pin_client", "pin_server"):
            row[name] = ",".join(map(str, value))
        else:
            row[name] = value
    res = None if isinstance(results, str) else results[cell["solver"]]
    for fig in grid.keep:
        v = None if res is None else getattr(res, fig, None)
        row[fig] = bool(v) if fig == "feasible" else (None if v is None else float(v))
    row["error"] = results if isinstance(results, str) else ""
    row.update(splittui_version=__version__, profile_sha256=sha, grid_sha256=grid_sha)
    return row


def estimate_cell_s(grid: Grid, *, samples: int = 12,
                    clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per cell on one core, from `samples` scenarios spread evenly over the grid: their solves, plus
    their profile builds shared by a chunk's cells (as `run_chunk` shares them)."""
    n_scen = grid.n_cells // grid.n_solvers
    picks = sorted({round(k * (n_scen - 1) / max(1, samples - 1)) for k in range(min(samples, n_scen))})
    build = solve = 0.0
    for s in picks:
        start = s * grid.n_solvers
        t0 = clock()
        try:
            profile: Profile | str = _profile(grid, grid.cell(start))
        except SplittuiError as exc:
            profile = str(exc)
        t1 = clock()
        _scenario_rows(grid, profile, start, grid.sha256)
        build, solve = build + t1 - t0, solve + clock() - t1
    per_chunk = min(chunks(grid)[0].n_cells, grid.n_cells // grid.n_profiles)
    return (solve / grid.n_solvers + build / per_chunk) / len(picks)

"""`splittui explore` throughput (issue 30, item 4): cells/s serial vs local workers, and the overhead per
chunk. Prints a table; not a timed test.

The cells: every --stride-th chunk of the grid file (default examples/hardware.toml), so the sample
spans its models, devices and dtypes; the same chunks run

* serial: `run_chunk_columns` in this process, one after another (what `--executor serial` runs)
* processes: the standard process pool, --workers processes (start-up included)
* dask: a `dask.distributed` LocalCluster of --workers processes, one thread each; the wall time with
  the cluster's start counted and without it (the cluster started before the clock)

The overhead per chunk: (a) the profile build a chunk does once (serial, mean), (b) Dask's round trip
for a task that does nothing (a LocalCluster of 1 worker, --noop tasks, mean), (c) the same cells
serial in chunks of one scenario against the default chunks: the extra time / the extra chunks.

Timings on a shared machine move with other processes' load: the script prints the load average
before and after, and the serial run's CPU time per cell (which the load does not inflate); quote them
with the figures.

    .venv/bin/python benchmarks/bench_explore.py [--grid examples/hardware.toml] [--stride 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import tomllib

from splittui.commands.explore_exec import run_chunks
from splittui.explore import Chunk, chunks, parse_grid, run_chunk, run_chunk_columns


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = fn()
    return time.perf_counter() - t0, n


def _n_rows(rows) -> int:
    """Rows in a chunk's result: a list of row dicts (`run_chunk`) or columns (`run_chunk_columns`, what the
    executors return)."""
    if isinstance(rows, dict):
        return len(next(iter(rows.values()))) if rows else 0
    return len(rows)


def _count(it) -> int:
    return sum(_n_rows(rows) for rows in it)


def _dask_rows(grid, sample, workers: int) -> tuple[float, float, int]:
    import logging

    from distributed import Client, LocalCluster, as_completed

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        t1 = time.perf_counter()
        futures = [client.submit(run_chunk_columns, grid, c, pure=False) for c in sample]
        n = _count(f.result() for f in as_completed(futures))
        t2 = time.perf_counter()
    return t2 - t0, t2 - t1, n


def _cpu_chunk(grid, chunk: Chunk) -> tuple[int, float]:
    t0 = time.process_time()
    return _n_rows(run_chunk_columns(grid, chunk)), time.process_time() - t0


def _pool_cpu(grid, sample, workers: int, serial_cpu: float) -> str:
    """How much CPU the pool's workers got: the load of other processes shows as cores used below `workers`,
    a cost of running in parallel as CPU per cell above the serial run's (`serial_cpu`, s a cell). The
    speed-up free cores would give is projected from the two: workers x serial CPU / parallel CPU a cell."""
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as ex:
        res = list(ex.map(_cpu_chunk, [grid] * len(sample), sample))
    wall = time.perf_counter() - t0
    n, cpu = sum(r[0] for r in res), sum(r[1] for r in res)
    return (f"process pool of {workers} again, CPU inside the workers: {1e3 * cpu / n:.2f} ms a cell; "
            f"cores used {cpu / wall:.2f} of {workers}\n"
            f"projection for {workers} free cores (not measured; other jobs on the cores inflate both CPU times): "
            f"{workers} x {1e3 * serial_cpu:.2f} / {1e3 * cpu / n:.2f} = {workers * serial_cpu * n / cpu:.2f}x serial")


def _noop(i: int) -> int:
    return i


def _dask_task_s(tasks: int) -> float:
    import logging

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(1)
        t0 = time.perf_counter()
        client.gather(client.map(_noop, range(tasks), pure=False))
        return (time.perf_counter() - t0) / tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="examples/hardware.toml")
    ap.add_argument("--stride", type=int, default=8, help="take every N-th chunk of the grid")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--noop", type=int, default=500, help="empty Dask tasks timed for the per-task overhead")
    args = ap.parse_args()
    with open(args.grid, "rb") as fh:
        grid = parse_grid(tomllib.load(fh), where=args.grid)
    sample = chunks(grid)[:: args.stride]
    cells = sum(c.n_cells for c in sample)
    print(f"grid {args.grid}: {grid.n_cells:,} cells; sample: {len(sample)} chunks, {cells:,} cells; "
          f"{os.cpu_count()} CPUs; load average before: {_load()}")
    rows = []
    cpu0 = time.process_time()
    serial_s, n_serial = _timed(lambda: _count(run_chunk_columns(grid, c) for c in sample))
    cpu = time.process_time() - cpu0   # this process's CPU time: what a cell costs whatever the load
    serial = n_serial / serial_s
    rows.append(("serial", 1, n_serial, serial_s, serial))
    dt, n = _timed(lambda: _count(run_chunks(grid, sample, frozenset(), executor="processes",
                                             workers=args.workers)))
    rows.append(("process pool (start-up counted)", args.workers, n, dt, n / dt))
    try:
        total, warm, n = _dask_rows(grid, sample, args.workers)
        rows.append(("dask LocalCluster (start-up counted)", args.workers, n, total, n / total))
        rows.append(("dask LocalCluster (cluster already up)", args.workers, n, warm, n / warm))
    except ImportError:
        print("dask is not installed: no dask rows")
    print("\n| executor | workers | cells | wall s | cells/s | vs serial |\n|---|---:|---:|---:|---:|---:|")
    for name, w, n, dt, rate in rows:
        print(f"| {name} | {w} | {n:,} | {dt:,.2f} | {rate:,.0f} | {rate / serial:.2f}x |")
    print(f"\nserial CPU time: {1e3 * cpu / n_serial:.2f} ms a cell ({1e3 * serial_s / n_serial:.2f} ms wall): "
          "the per-cell cost a projection should use")
    print(_pool_cpu(grid, sample, args.workers, cpu / n_serial))
    _overheads(grid, sample, args.noop)
    print(f"\nload average after: {_load()}")


def _overheads(grid, sample: list[Chunk], noop: int) -> None:
    builds = []
    from splittui.explore import _profile

    for c in sample:
        t0 = time.perf_counter()
        _profile(grid, grid.cell(c.start))
        builds.append(time.perf_counter() - t0)
    print(f"\nper chunk: profile build {1e3 * sum(builds) / len(builds):.2f} ms (mean of {len(builds)})", end="")
    try:
        print(f"; Dask round trip of an empty task {1e3 * _dask_task_s(noop):.2f} ms (1 worker, {noop} tasks)", end="")
    except ImportError:
        pass
    small = replace(grid, chunk_cells=grid.n_solvers)   # one scenario a chunk
    few = sample[:4]
    many = [c for f in few for c in chunks(small) if f.start <= c.start < f.stop]
    t_few, n = _timed(lambda: _count(run_chunk(grid, c) for c in few))
    t_many, _ = _timed(lambda: _count(run_chunk(small, c) for c in many))
    print(f"; serial, {n:,} cells in {len(few)} chunks {t_few:.2f} s vs in {len(many)} chunks {t_many:.2f} s: "
          f"{1e3 * (t_many - t_few) / (len(many) - len(few)):.2f} ms per extra chunk")


if __name__ == "__main__":
    main()

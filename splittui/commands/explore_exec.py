"""Where `splittui explore` runs its chunks (this process, a process pool, a Dask cluster), its progress
line, and its table files (Parquet through pyarrow, or CSV). dask and pyarrow are imported inside the
functions that need them: both are the optional extra `explore`.

Every executor yields each finished chunk's rows (as columns) as it completes; a KeyboardInterrupt while waiting
cancels what has not run and leaves the rows already yielded to the caller, which writes them.
"""

from __future__ import annotations

import csv
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ..errors import SplittuiError
from ..explore import FIGURES, Chunk, Grid, run_chunk_columns

Columns = dict[str, list[Any]]   # a chunk's rows as columns (explore.run_chunk_columns)

__all__ = ["EXECUTORS", "default_executor", "run_chunks", "Progress", "TableWriter", "read_rows", "write_rows",
           "is_csv"]

EXECUTORS = ("dask", "processes", "serial")


def default_executor() -> str:
    """The standard process pool, one worker per core: on this project's 2-core machine it solved the
    138,240-cell example grid at 2.00x the serial rate where a Dask LocalCluster reached 1.54-1.74x (its
    scheduler, nannies and worker threads share the same two cores; docs/commands/explore.md). Dask is one
    flag away: `--executor dask` (a LocalCluster) or `--scheduler ADDRESS` (a cluster)."""
    return "processes"


def _skip_in(chunk: Chunk, skip: frozenset[int]) -> frozenset[int]:
    return frozenset(i for i in range(chunk.start, chunk.stop) if i in skip) if skip else frozenset()


def run_chunks(grid: Grid, chunks: list[Chunk], skip: frozenset[int], *, executor: str, workers: int,
               scheduler: str | None = None) -> Iterator[Columns]:
    """Each chunk's rows as columns, in the order they finish (serial: in grid order)."""
    if executor == "serial":
        for c in chunks:
            yield run_chunk_columns(grid, c, _skip_in(c, skip))
    elif executor == "processes":
        yield from _pool(grid, chunks, skip, workers)
    else:
        yield from _dask(grid, chunks, skip, workers, scheduler)


def _quiet_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the run, workers must not print tracebacks
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool(grid: Grid, chunks: list[Chunk], skip: frozenset[int], workers: int) -> Iterator[Columns]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_quiet_worker)
    try:
        futures = [pool.submit(run_chunk_columns, grid, c, _skip_in(c, skip)) for c in chunks]
        for f in as_completed(futures):
            yield f.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(grid: Grid, chunks: list[Chunk], skip: frozenset[int], workers: int,
          scheduler: str | None) -> Iterator[Columns]:
    try:
        from distributed import as_completed
    except ImportError:
        raise SplittuiError("--executor dask / --scheduler: dask is not installed (pip install 'splittui[explore]'); "
                            "--executor processes runs on this machine without it") from None
    with _client(workers, scheduler) as client:
        futures = [client.submit(run_chunk_columns, grid, c, _skip_in(c, skip), pure=False) for c in chunks]
        try:
            for f in as_completed(futures):
                yield f.result()
        finally:
            client.cancel(futures)


@contextmanager
def _client(workers: int, scheduler: str | None) -> Iterator[Any]:
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise SplittuiError(f"--scheduler {scheduler}: no Dask scheduler answers there ({exc})") from None
        with client:
            yield client
        return
    # workers started while SIGINT is ignored inherit that (as the pool's do through _quiet_worker): Ctrl-C
    # stops the run in this process, which then closes the cluster, instead of a traceback from each worker
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the workers' statistical profiler samples every thread every 10 ms for Dask's dashboard, which this
    # cluster does not serve: on two cores that is CPU the cells lose (the workers read it from the environment)
    os.environ.setdefault("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "False")
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
    finally:
        signal.signal(signal.SIGINT, old)
    with cluster, Client(cluster) as client:
        yield client


class Progress:
    """A one-line bar on stderr: done/total cells, cells/s, ETA. Redrawn at most 10 times a second, and
    only on a terminal (a pipe or a log gets the closing line alone)."""

    def __init__(self, total: int, *, stream: TextIO | None = None, done: int = 0) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.stream = stream or sys.stderr
        self.t0 = self.last = time.perf_counter()
        self.live = self.stream.isatty()

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.live and (now - self.last >= 0.1 or self.done >= self.total):
            self.last = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    @property
    def rate(self) -> float:
        dt = time.perf_counter() - self.t0
        return (self.done - self.start_done) / dt if dt > 0 else 0.0

    def line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * round(30 * frac) + "." * (30 - round(30 * frac))
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta == eta and eta < 8.64e6 else "--:--:--"
        return f"[{bar}] {self.done:,}/{self.total:,} cells  {rate:,.0f} cells/s  ETA {eta_text}"

    def close(self) -> None:
        if self.live:
            self.stream.write("\r" + " " * len(self.line()) + "\r")


# ---------------------------------------------------------------- files

def is_csv(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() == ".csv"


_INTS = {"cell", "seq_len", "gen_tokens"}
_NUMBERS = {"cell", "up_mbps", "down_mbps", "delay_ms", "seq_len", "gen_tokens", "deadline_ms", "ttft_limit_ms",
            "tpot_limit_ms", "unit_ms", "client_mem_gb", "server_mem_gb", *FIGURES} - {"feasible"}


def _schema(keys: list[str]) -> Any:
    """A fixed Arrow type per column, so a chunk whose column is all None appends to the others."""
    import pyarrow as pa

    def kind(k: str) -> Any:
        return (pa.bool_() if k == "feasible" else pa.int64() if k in _INTS else pa.float64() if k in _NUMBERS
                else pa.string())

    return pa.schema([(k, kind(k)) for k in keys])


class TableWriter:
    """Rows appended chunk by chunk (Parquet row groups, or CSV lines) to a temp file beside `path`,
    renamed over `path` by `close()`: memory stays one chunk whatever the grid's size, and a reader never
    sees half a table. `keep`: a table of the same grid whose rows come first (--resume). Rows are in
    the order chunks finish; `read_rows` sorts them by cell. Replacing a file is the caller's check."""

    def __init__(self, path: str | os.PathLike[str], *, keep: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.rows = 0
        self._writer: Any = None
        self._fh: Any = None
        if keep is not None:
            self._copy(Path(keep))

    def _copy(self, keep: Path) -> None:
        if is_csv(keep):
            with open(keep, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    self.write([row])
            return
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(keep).iter_batches():
            self.write(batch.to_pylist())

    def write(self, rows: list[dict[str, Any]] | Columns) -> None:
        """Append rows, given as a list of row dicts or as columns (name -> values)."""
        if not rows:
            return
        if isinstance(rows, dict):
            if not is_csv(self.path):
                self._write_arrow(rows, len(next(iter(rows.values()))))
                return
            keys = list(rows)
            rows = [dict(zip(keys, values, strict=True)) for values in zip(*rows.values(), strict=True)]
        if is_csv(self.path):
            if self._fh is None:
                self._fh = open(self.tmp, "w", newline="", encoding="utf-8")
                self._writer = csv.DictWriter(self._fh, fieldnames=list(rows[0]), lineterminator="\n")
                self._writer.writeheader()
            self._writer.writerows(rows)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, _schema(list(rows[0])))
            self._writer.write_table(pa.Table.from_pylist(rows, schema=self._writer.schema))
        self.rows += len(rows)

    def _write_arrow(self, cols: Columns, n: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp, _schema(list(cols)))
        self._writer.write_table(pa.Table.from_pydict(cols, schema=self._writer.schema))
        self.rows += n

    def close(self) -> Path:
        """Finish the file and put it in place (an empty table when no row came)."""
        try:
            if self._fh is not None:
                self._fh.close()
            elif self._writer is not None:
                self._writer.close()
            elif is_csv(self.path):
                self.tmp.write_text("")
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({}), self.tmp)
            os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)
        return self.path

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        elif self._writer is not None:
            self._writer.close()
        self.tmp.unlink(missing_ok=True)


def write_rows(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path:
    """All `rows` as one table at `path` (through a temp file and a rename)."""
    w = TableWriter(path)
    w.write(rows)
    return w.close()


def read_rows(path: str | os.PathLike[str], columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of an explore output by cell (Parquet, or CSV with its numbers and booleans typed again);
    `columns`: only these (what --resume needs: cell, grid_sha256)."""
    p = Path(path)
    if not p.is_file():
        raise SplittuiError(f"{p}: no such file")
    try:
        if is_csv(p):
            with open(p, newline="", encoding="utf-8") as fh:
                rows = [_typed(r) for r in csv.DictReader(fh)]
            rows = [{k: r[k] for k in columns} for r in rows] if columns else rows
        else:
            import pyarrow.parquet as pq

            rows = pq.read_table(p, columns=columns).to_pylist()
    except ImportError:
        raise SplittuiError(f"{p}: reading Parquet needs pyarrow (pip install 'splittui[explore]')") from None
    except (OSError, ValueError, KeyError) as exc:
        raise SplittuiError(f"{p}: not a splittui explore table ({exc})") from None
    if rows and "cell" not in rows[0]:
        raise SplittuiError(f"{p}: not a splittui explore table (no cell column)")
    return sorted(rows, key=lambda r: r["cell"])


def _typed(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    for k, v in row.items():
        if k == "feasible":
            out[k] = v == "True"
        elif k in _NUMBERS:
            out[k] = None if v == "" else int(v) if k in _INTS else float(v)
    return out

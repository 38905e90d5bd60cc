"""What a live profile needs before its timed passes (run.py): the chain to profile (a zoo model, or a
user's own from a factory), the checks on it and on `profile_model`'s arguments, and a ``cpu:N``
server's own process.

`KINDS` are the stage kinds a chain may use; `load_factory` turns ``PATH.py:FACTORY`` or
``package.module:FACTORY`` into a Chain that a server process can build again (server_proc.py).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from ..attention import Attention
from ..errors import SplittuiError
from .chain import Chain
from .server_proc import ServerProcess, factory_recipe, rebuild_recipe
from .servers import parse_server

__all__ = ["KINDS", "load_factory"]

KINDS = ("embedding", "norm", "linear", "attention", "activation", "conv", "pool", "other")


@contextlib.contextmanager
def _server_process(chain: Chain, threads: int | None) -> Iterator[ServerProcess | None]:
    """A `cpu:N` server's own process (server_proc.py), where the chain can be rebuilt there."""
    recipe = rebuild_recipe(chain)
    if threads is None or recipe is None:
        yield None
        return
    with ServerProcess(recipe, threads) as proc:
        yield proc


def _build(name: str, attention: Attention) -> Chain:
    from .zoo import build

    return build(name, attention=attention)


def _profile_iv(seq_lens, repeats, threads, server):
    seqs = sorted(set(int(s) for s in seq_lens))
    if not seqs or seqs[0] <= 0:
        raise SplittuiError("sequence lengths must be a non-empty list of positive integers")
    if repeats < 1 or threads < 1:
        raise SplittuiError("repeats and threads must be >= 1")
    return seqs, parse_server(server)


def _chain_iv(chain: Chain) -> None:
    names = [s.name for s in chain.stages]
    if not names:
        raise SplittuiError(f"model {chain.model!r} has no stages")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SplittuiError(f"model {chain.model!r}: stage name {dup!r} is used twice")
    bad = [s.name for s in chain.stages if s.kind not in KINDS]
    if bad:
        raise SplittuiError(f"model {chain.model!r}: stage {bad[0]!r} has an unknown kind (use {'|'.join(KINDS)})")


def load_factory(spec: str) -> Chain:
    """`path.py:factory` or `package.module:factory` -> the Chain the factory returns (a user's own model)."""
    import importlib.util
    from pathlib import Path

    path_text, sep, attr = spec.rpartition(":")
    if not sep or not path_text or not attr:
        raise SplittuiError(f"--module {spec!r}: expected PATH.py:FACTORY or package.module:FACTORY")
    path = Path(path_text)
    if path.suffix != ".py":  # an importable module name, e.g. splittui.runner.toy:build_toy
        module = importlib.import_module(path_text)
    else:
        if not path.is_file():
            raise SplittuiError(f"--module {spec!r}: no file {path}")
        mod_spec = importlib.util.spec_from_file_location(f"splittui_user_{path.stem}", path)
        if mod_spec is None or mod_spec.loader is None:
            raise SplittuiError(f"--module {spec!r}: {path} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise SplittuiError(f"--module {spec!r}: {path_text} has no callable {attr!r}")
    chain = factory()
    if not isinstance(chain, Chain):
        raise SplittuiError(f"--module {spec!r}: {attr}() must return a splittui.profiler.chain.Chain, "
                            f"got {type(chain).__name__}")
    for stage in chain.stages:
        stage.module.eval()
    chain.meta.setdefault("rebuild", factory_recipe(spec))   # a server process can build it again
    return chain

"""JSON documents of a sweep (splittui.sweep/1) and a throughput simulation (splittui.simulation/1),
written by `splittui sweep`/`simulate` and by the app's Experiments screen."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["clean", "sweep_document", "simulation_document"]


def clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return clean(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def _setups(profiles: list[Any] | None) -> list[dict[str, Any] | None]:
    """What builds each model's profile (devices, dtype, attention; splittui.setup), or None if unknown."""
    from ..setup import setup_of

    return [setup_of(p).to_dict() for p in profiles] if profiles else []


def sweep_document(sweeps: list[Any], profiles: list[Any] | None = None) -> dict[str, Any]:
    """The sweep's grid and every model's cells; with `profiles`, each model's setup too."""
    from ..sweep_summary import by_bandwidth, by_deadline, overall, overall_rounding, summary, sweep_rows

    cfg = sweeps[0].config
    setups = _setups(profiles) or [None] * len(sweeps)
    return {"schema": "splittui.sweep/1",
            "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "ran": cfg.describe(),
            "overall": overall(sweeps), "overall_rounding": overall_rounding(sweeps),
            "models": [{"model": sw.model, "setup": setup, "summary": summary(sw), "by_deadline": by_deadline(sw),
                        "by_bandwidth": by_bandwidth(sw), "cells": sweep_rows(sw)}
                       for sw, setup in zip(sweeps, setups, strict=True)]}


def simulation_document(res: Any, models: list[str], *, workload: Any = None,
                        profiles: list[Any] | None = None) -> dict[str, Any]:
    """The simulation; `workload` is the sweep config its cells came from, `profiles` the models' setups."""
    cfg = res.config
    config = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    config["tokens"] = None if cfg.tokens is None else cfg.tokens.text
    extra: dict[str, Any] = {}
    if workload is not None:
        extra["workload"] = {k: getattr(workload, k) for k in workload.__dataclass_fields__}
        extra["ran"] = workload.describe()
    if profiles:
        extra["setups"] = _setups(profiles)
    return {"schema": "splittui.simulation/1", "models": models, "config": config, **extra,
            "capacity": res.capacity, "rate_per_s": res.rate_per_s, "beta_s": res.beta_s,
            "horizon_s": res.horizon_s, "cells": res.cells, "plan_tokens": res.plan_tokens,
            "mean_tokens": res.mean_tokens, "capped": res.capped, "server_mem_bytes": res.server_mem_bytes,
            "methods": {m: s.row() | {"curve_t": s.curve_t, "curve_cum_wait_s": s.curve_cum_wait_s}
                        for m, s in res.stats.items()}}

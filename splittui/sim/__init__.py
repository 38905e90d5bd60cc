"""The throughput queue simulation of the paper's §IV-D (pure numpy + a heap; no UI, no torch)."""

from .lengths import LengthCosts, TokenDist, parse_token_dist
from .queue import CAPACITY_UNITS, fifo_starts
from .throughput import METHODS, Cells, MethodStats, SimConfig, SimResult, simulate

__all__ = ["fifo_starts", "CAPACITY_UNITS", "Cells", "SimConfig", "MethodStats", "SimResult", "simulate",
           "METHODS", "LengthCosts", "TokenDist", "parse_token_dist"]

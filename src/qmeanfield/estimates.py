"""Typed estimates of work before it starts: wall time (seconds on the reference machine, 2 cores)
and peak memory (bytes).

Every plan reports an `Estimate`; engines make theirs with `engine.estimate(...)` from
their own calibration (no table keyed by engine name). Estimates are rough: within a factor of
about 3 of the measured runs listed in `benchmarks/README.md`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import QMeanFieldError

__all__ = ["Estimate", "format_seconds", "format_bytes", "scaled_seconds", "check_limits", "check_max_seconds",
           "SECONDS_PER_N", "MAX_SECONDS"]

#: fixed cost of one particle number (blocks, diagnostics, mean-field bookkeeping), measured on small cases
SECONDS_PER_N = 0.05
#: the default work limit: a run estimated above it is refused before it starts (raise it with
#: ``max_seconds=``, TOML ``max_seconds``, CLI ``--allow-long``)
MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Estimate:
    """Rough wall time and peak memory of a piece of work.

    Attributes
    ----------
    seconds : float
        Wall time on the reference machine (2 cores); NaN when not known.
    bytes : float
        Peak memory; NaN when not known.
    """

    seconds: float
    bytes: float = math.nan

    def __add__(self, other: "Estimate") -> "Estimate":
        """Work done one after the other: times add, the peak memory is the larger peak."""
        if not isinstance(other, Estimate):
            return NotImplemented
        peaks = [b for b in (self.bytes, other.bytes) if not math.isnan(b)]
        return Estimate(self.seconds + other.seconds, max(peaks) if peaks else math.nan)

    def __radd__(self, other):
        return self if other == 0 else NotImplemented   # sum() starts from 0

    def describe(self) -> str:
        """'~3 s, ~120 MiB' (or 'unknown' parts)."""
        return f"{format_seconds(self.seconds)}, {format_bytes(self.bytes)}"


def format_seconds(seconds: float) -> str:
    """'~3 s', '~4 min', '~2.5 h' (or 'unknown')."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 60:
        return f"~{max(seconds, 0.1):.2g} s"
    if seconds < 3600:
        return f"~{seconds / 60:.2g} min"
    return f"~{seconds / 3600:.2g} h"


def format_bytes(nbytes: float) -> str:
    """'< 1 MiB', '~120 MiB', '~3.2 GiB' (or 'memory unknown')."""
    if not math.isfinite(nbytes):
        return "memory unknown"
    if nbytes < 2**20:
        return "< 1 MiB"
    if nbytes < 2**30:
        return f"~{nbytes / 2**20:.0f} MiB"
    return f"~{nbytes / 2**30:.2g} GiB"


def scaled_seconds(seconds_per_cost: float, cost: float, evaluations: float, t_final: float,
                   reference: tuple[float, float]) -> float:
    """Seconds of one engine run from its cost estimate: `seconds_per_cost * cost` at the
    calibration runs' `reference = (evaluation times, final time)`, scaled with the number of
    evaluation times and the span (30 % fixed, 35 % each), plus `SECONDS_PER_N`."""
    ref_evaluations, ref_t = reference
    share = 0.3 + 0.35 * max(t_final, 1e-3) / ref_t + 0.35 * evaluations / ref_evaluations
    return float(seconds_per_cost * cost * share + SECONDS_PER_N)


def check_max_seconds(value, field: str = "max_seconds") -> float:
    """A work limit: a number > 0 (`math.inf` for none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
        raise QMeanFieldError(f"{field} must be a number of seconds > 0 (inf: no limit), got {value!r}")
    return float(value)


def check_limits(estimate: Estimate, what: str, *, max_seconds: float = MAX_SECONDS,
                 memory_budget_gb: float | None = None) -> Estimate:
    """Refuse, before any work, an `estimate` over the work limit `max_seconds` or (where given)
    over `memory_budget_gb`, with the estimate, the limit and the override in the message."""
    max_seconds = check_max_seconds(max_seconds)
    if estimate.seconds > max_seconds:
        raise QMeanFieldError(
            f"{what} is estimated at {format_seconds(estimate.seconds)} on 2 cores, over the work limit of "
            f"{format_seconds(max_seconds)}; make it smaller, or raise the limit (Python: max_seconds=..., TOML: "
            "max_seconds in [run] or [semiclassical], CLI: --allow-long)")
    if memory_budget_gb is not None and estimate.bytes > memory_budget_gb * 2**30:
        raise QMeanFieldError(
            f"{what} needs about {format_bytes(estimate.bytes)} of memory, over the memory budget of "
            f"{memory_budget_gb:g} GiB; make it smaller or raise memory_budget_gb")
    return estimate

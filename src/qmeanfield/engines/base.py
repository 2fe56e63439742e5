"""The engine protocol and the trajectory every engine returns.

An engine evolves the N-body state from the product state `rho0^{(x)N}` and reports, at
each requested time, only what the diagnostics need: the von Neumann entropy of R_N and the
k-particle marginals R^(k) for k <= kmax. The dynamics is permutation-symmetric, so the
marginal on particles 1..k represents all k-subsets.

Engines are small immutable parameter objects (`SymmetricEngine(truncation=1e-9)`): their
options are keyword-only, checked at construction, and the object is accepted wherever an
engine name is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from ..estimates import Estimate
from ..model import Model

__all__ = ["Trajectory", "Engine", "ProgressCallback", "higher_marginal_mask"]

#: called with the number of completed time points after each one
ProgressCallback = Callable[[int], None]


def _read_only(a) -> np.ndarray:
    a = np.asarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Trajectory:
    """What an engine returns for one N (immutable; the arrays are read-only).

    Attributes
    ----------
    times : (T,) times.
    N : particle number.
    entropy : (T,) von Neumann entropy S(R_N(t)) (natural log).
    marginals : k -> (T, d^k, d^k) k-particle marginal R^(k)(t).
    engine : name of the engine that produced it.
    discarded_weight : weight of R_N the engine dropped (0 for exact engines); it bounds the
        trace-norm error of every marginal.
    stats : descriptive numbers about the run (block counts, products, positivity and trace
        checks); for people and reports, never needed to interpret the results.
    """

    times: np.ndarray
    N: int
    entropy: np.ndarray
    marginals: Mapping[int, np.ndarray]
    engine: str
    discarded_weight: float = 0.0
    stats: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "times", _read_only(self.times))
        object.__setattr__(self, "entropy", _read_only(self.entropy))
        object.__setattr__(self, "marginals", MappingProxyType({k: _read_only(v) for k, v in self.marginals.items()}))
        object.__setattr__(self, "stats", MappingProxyType(dict(self.stats)))


def higher_marginal_mask(marginal_times, T: int) -> np.ndarray:
    """Per time index, whether marginals of order >= 2 are needed there (`marginal_times` of
    `Engine.evolve`: indices, or None for every time)."""
    if marginal_times is None:
        return np.ones(T, dtype=bool)
    mask = np.zeros(T, dtype=bool)
    mask[np.asarray(marginal_times, dtype=int)] = True
    return mask


@runtime_checkable
class Engine(Protocol):
    """The small protocol every engine implements."""

    name: str

    def supports(self, model: Model, N: int) -> tuple[bool, str]:
        """Whether this engine can run (model, N), and if not, why (one sentence)."""

    def cost(self, model: Model, N: int) -> float:
        """A rough cost estimate used by `engine="auto"` (lower is cheaper)."""

    def estimate(self, model: Model, N: int, *, rho0: np.ndarray | None = None, evaluations: int = 21,
                 t_final: float = 2.0, outputs: int | None = None) -> Estimate:
        """Wall time (2 cores) and peak memory of `evolve` at `evaluations` times up to
        `t_final` (`outputs` of them output times, the others stencil points), from the
        engine's own calibration; with `rho0`, for the blocks this initial state needs."""

    def evolve(
        self,
        model: Model,
        rho0: np.ndarray,
        N: int,
        times: np.ndarray,
        kmax: int = 2,
        progress: ProgressCallback | None = None,
        marginal_times: np.ndarray | None = None,
    ) -> Trajectory:
        """Evolve rho0^{(x)N} and return the trajectory at `times`.

        `marginal_times`: indices of the times at which marginals of order >= 2 are needed
        (None: every time). An engine may skip them at the other times (NaN there); the entropy
        and the one-body marginal are always computed at every time."""

"""The engine protocol and the trajectory every engine returns.

An engine evolves the N-body state from the product state ``rho0^{(x)N}`` and reports, at
each requested time, only what the diagnostics need: the von Neumann entropy of R_N and the
k-particle marginals R^(k) for k <= kmax. The dynamics is permutation-symmetric, so the
marginal on particles 1..k represents all k-subsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from ..model import Model

__all__ = ["Trajectory", "Engine", "ProgressCallback"]

#: called with the number of completed time points after each one
ProgressCallback = Callable[[int], None]


@dataclass
class Trajectory:
    """What an engine returns for one N.

    Attributes
    ----------
    times : (T,) times.
    N : particle number.
    entropy : (T,) von Neumann entropy S(R_N(t)) (natural log).
    marginals : k -> (T, d^k, d^k) k-particle marginal R^(k)(t).
    engine : name of the engine that produced it.
    info : plain numbers describing the run (dimensions, memory, tolerances).
    """

    times: np.ndarray
    N: int
    entropy: np.ndarray
    marginals: dict[int, np.ndarray]
    engine: str
    info: dict = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """The small protocol every engine implements."""

    name: str

    def supports(self, model: Model, N: int) -> tuple[bool, str]:
        """Whether this engine can run (model, N), and if not, why (one sentence)."""

    def cost(self, model: Model, N: int) -> float:
        """A rough cost estimate used by ``engine="auto"`` (lower is cheaper)."""

    def evolve(
        self,
        model: Model,
        rho0: np.ndarray,
        N: int,
        times: np.ndarray,
        kmax: int = 2,
        progress: ProgressCallback | None = None,
    ) -> Trajectory:
        """Evolve rho0^{(x)N} and return the trajectory at ``times``."""

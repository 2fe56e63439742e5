r"""The validated, immutable :class:`Model` (THEORY section 1).

.. math::
    H_N = \sum_j h_j + \kappa_N \sum_{i<j} V_{ij}, \qquad
    \dot R_N = -\tfrac{i}{\hbar}[H_N, R_N] + \sum_j \sum_k \mathcal D_{L_k, j}(R_N).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import as_square_matrix, require_hermitian
from .errors import ModelError
from .operators import swap_asymmetry

__all__ = ["Model", "COUPLINGS"]

#: supported interaction scalings kappa_N
COUPLINGS = {"1/(N-1)": lambda N: 1.0 / (N - 1), "1/N": lambda N: 1.0 / N}


def _freeze(A: np.ndarray) -> np.ndarray:
    A = np.array(A, dtype=complex, copy=True)
    A.setflags(write=False)
    return A


@dataclass(frozen=True, eq=False)
class Model:
    """A mean-field model, validated at construction.

    Parameters
    ----------
    h : (d, d) Hermitian one-body Hamiltonian.
    V : (d^2, d^2) Hermitian, swap-symmetric two-body interaction (``S V S = V``), not
        necessarily a sum of products. Use :func:`qmeanfield.operators.symmetrize_swap` to
        symmetrise an arbitrary operator.
    jumps : one-body Lindblad operators (each d x d, arbitrary); empty for closed systems.
    hbar : Planck constant, > 0.
    coupling : ``"1/(N-1)"`` (default) or ``"1/N"``: the interaction strength kappa_N.
    """

    h: np.ndarray
    V: np.ndarray
    jumps: tuple = field(default=())
    hbar: float = 1.0
    coupling: str = "1/(N-1)"

    def __post_init__(self):
        h = as_square_matrix(self.h, "h", error=ModelError)
        h = require_hermitian(h, "h", ModelError)
        d = h.shape[0]
        if d < 2:
            raise ModelError(f"h must be at least 2 x 2 (one-body dimension d >= 2), got {h.shape}")
        V = as_square_matrix(self.V, "V", error=ModelError)
        if V.shape != (d * d, d * d):
            raise ModelError(
                f"V must have shape (d^2, d^2) = ({d * d}, {d * d}) for h of dimension d = {d}, got {V.shape}"
            )
        V = require_hermitian(V, "V", ModelError)
        asym = swap_asymmetry(V)
        if asym > 1e-10 * max(1.0, float(np.max(np.abs(V)))):
            raise ModelError(
                f"V is not swap-symmetric (max |S V S - V| = {asym:.3g}); "
                "use qmeanfield.operators.symmetrize_swap(V) to take its symmetric part"
            )
        jumps_in = self.jumps
        if isinstance(jumps_in, np.ndarray) and jumps_in.ndim == 2:
            raise ModelError("jumps must be a list of (d, d) matrices; wrap a single jump operator in a list")
        try:
            jumps_list = list(jumps_in) if jumps_in is not None else []
        except TypeError:
            raise ModelError("jumps must be a list of (d, d) matrices") from None
        jumps = tuple(_freeze(as_square_matrix(L, f"jumps[{k}]", d, ModelError)) for k, L in enumerate(jumps_list))
        try:
            hbar = float(self.hbar)
        except (TypeError, ValueError):
            raise ModelError(f"hbar must be a positive number, got {self.hbar!r}") from None
        if not np.isfinite(hbar) or hbar <= 0:
            raise ModelError(f"hbar must be a positive finite number, got {self.hbar!r}")
        if self.coupling not in COUPLINGS:
            raise ModelError(f"coupling must be one of {sorted(COUPLINGS)}, got {self.coupling!r}")
        object.__setattr__(self, "h", _freeze(h))
        object.__setattr__(self, "V", _freeze(V))
        object.__setattr__(self, "jumps", jumps)
        object.__setattr__(self, "hbar", hbar)

    @property
    def d(self) -> int:
        """One-body dimension."""
        return self.h.shape[0]

    @property
    def is_open(self) -> bool:
        """True when the model has Lindblad jumps."""
        return len(self.jumps) > 0

    def kappa(self, N: int) -> float:
        """Interaction strength kappa_N."""
        if N < 2:
            raise ModelError(f"N must be at least 2, got {N}")
        return COUPLINGS[self.coupling](N)

    def describe(self) -> dict:
        """Plain-number summary (for reports and dataset attributes)."""
        return {
            "d": self.d,
            "hbar": self.hbar,
            "coupling": self.coupling,
            "n_jumps": len(self.jumps),
            "open": int(self.is_open),
            "norm_h": float(np.linalg.norm(self.h, 2)),
            "norm_V": float(np.linalg.norm(self.V, 2)),
        }

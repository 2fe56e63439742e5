"""QuTiP interoperability: the N-body problem of a Model as QuTiP objects, and operators back.

QuTiP is an optional dependency (`pip install qmeanfield[test]` brings it); these functions
import it when called.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import QMeanFieldError
from .model import Model, require_model

__all__ = ["to_qutip", "from_qutip", "TO_QUTIP_MAX_DIMENSION"]

#: the largest N-body dimension d^N that :func:`to_qutip` builds (a density matrix of 2^16
#: dimensions already takes 64 GiB)
TO_QUTIP_MAX_DIMENSION = 2**14


def _qutip():
    try:
        import qutip
    except ImportError:  # pragma: no cover - depends on the environment
        raise QMeanFieldError("QuTiP is not installed; install it with `pip install qutip`") from None
    return qutip


def to_qutip(model: Model, N: int, rho0=None) -> dict:
    """`{"H": Qobj, "c_ops": [Qobj], "rho0": Qobj | None}` for the N-body problem of `model`.

    H is $\\sum_j h_j + \\kappa_N \\sum_{i<j} V_{ij}$ (sparse), `c_ops` every jump on every
    particle, `rho0` the product state if a one-body state is given; pass them to
    `qutip.mesolve(H, rho0, times, c_ops)` with `hbar = 1` time units (H is divided by hbar).
    For a driven model H is a `qutip.QobjEvo`: the static part plus `[J_k, f_k]` for each drive
    term, $J_k = \\sum_j (A_k)_j / \\hbar$, and `[H_V, g - 1]` for an `interaction` g (H_V the
    interaction alone).
    """
    from ._checks import check_particle_numbers
    from .engines.dense import embedded_jumps, many_body_hamiltonian
    from .states import validate_density_matrix

    require_model(model)
    N = check_particle_numbers(N)[0] if not isinstance(N, (list, tuple)) else None
    if N is None:
        raise QMeanFieldError("to_qutip: N must be one particle number")
    if N * math.log(model.d) > math.log(TO_QUTIP_MAX_DIMENSION):
        raise QMeanFieldError(f"to_qutip: the N-body space has d^N = {model.d}^{N} dimensions, over the limit of "
                              f"{TO_QUTIP_MAX_DIMENSION} (QuTiP stores every operator on it); lower N - qmeanfield's "
                              "engines run large N without it")
    qutip = _qutip()
    dims = [[model.d] * N, [model.d] * N]
    H = qutip.Qobj(many_body_hamiltonian(model, N) / model.hbar, dims=dims)
    if model.is_driven:
        from .engines.dense import collective_operator

        from .engines.dense import many_body_hamiltonian as interaction_part

        terms = [[qutip.Qobj(collective_operator(A, N, model.d) / model.hbar, dims=dims), (lambda t, f=f: f(t))]
                 for A, f in model.drive]
        if model.interaction is not None:     # g(t) - 1 times the interaction (H holds it once)
            terms.append([qutip.Qobj(interaction_part(model, N, one_body=False) / model.hbar, dims=dims),
                          (lambda t: model.interaction_strength(t) - 1.0)])
        H = qutip.QobjEvo([H, *terms])
    c_ops = [qutip.Qobj(L, dims=dims) for L in embedded_jumps(model, N)]
    if model.timed_jumps:
        from .engines.dense import site_operator

        c_ops += [[qutip.Qobj(site_operator(L, j, N, model.d), dims=dims), (lambda t, r=r: float(np.sqrt(r(t))))]
                  for L, r in model.timed_jumps for j in range(N)]
    R0 = None
    if rho0 is not None:
        R0 = qutip.tensor([qutip.Qobj(validate_density_matrix(rho0, "rho0", model.d))] * N)
    return {"H": H, "c_ops": c_ops, "rho0": R0}


def from_qutip(op) -> np.ndarray:
    """A QuTiP `Qobj` (or anything with `.full()`) as a dense complex numpy array."""
    if not hasattr(op, "full"):
        raise QMeanFieldError(f"expected a qutip.Qobj, got {type(op).__name__}")
    return np.asarray(op.full(), dtype=complex)

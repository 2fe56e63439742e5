r"""Steady states: the N-body steady state of an open model against the mean-field fixed point(s).

* :func:`meanfield_fixed_points`: stationary states :math:`\rho^*` of the nonlinear Lindblad
  equation, found by relaxing from several starting states and refining with a root finder on
  the trace-one Hermitian matrices; each with its residual and linear stability (eigenvalues of
  the Jacobian of the mean-field flow at :math:`\rho^*`). Starts that do not settle (limit
  cycles, very slow relaxation) are reported, not hidden.
* :func:`steady_state`: the N-body steady state :math:`R_N^{ss}` (kernel of the permutational
  generator, normalised): a sparse direct solve for moderate sizes, otherwise relaxation with
  the engine's propagator until the generator's residual is small.
* :func:`steady_state_comparison`: both, for a list of N, as an ``xarray.Dataset``: trace
  distances of the one- and two-body marginals to :math:`\rho^{*\otimes k}`, the relative entropy
  :math:`H(R_N^{ss} | \rho^{*\otimes N})`, the entropy, and the fitted rate in N.

Where the mean-field equation has several stable fixed points the N-body steady state is
unique (for these finite models) but need not approach any one of them; the dataset records
``unique_fixed_point`` so that a distance is read with that in mind.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import xarray as xr
from scipy.optimize import root

from . import meanfield
from .compare import _check_N, _progress_bar, _version
from .diagnostics import fit_power_law, marginal_trace_distance, relative_entropy_to_product
from .engines.permutational import BlockMeasurement, PermutationalEngine
from .errors import QMeanFieldError
from .model import Model
from .operators import random_density_matrix

__all__ = ["meanfield_fixed_points", "steady_state", "steady_state_comparison"]

#: state sizes (sum of block dimensions squared) solved directly; larger ones relax in time
DIRECT_SOLVE_MAX = 20_000


def _hermitian_basis(d: int) -> np.ndarray:
    """Orthonormal basis of the traceless Hermitian d x d matrices, shape (d^2 - 1, d, d)."""
    out = []
    for a in range(d):
        for b in range(a + 1, d):
            E = np.zeros((d, d), dtype=complex)
            E[a, b] = E[b, a] = 1 / np.sqrt(2)
            out.append(E)
            F = np.zeros((d, d), dtype=complex)
            F[a, b], F[b, a] = -1j / np.sqrt(2), 1j / np.sqrt(2)
            out.append(F)
    for k in range(1, d):
        D = np.zeros((d, d), dtype=complex)
        D[np.arange(k), np.arange(k)] = 1.0
        D[k, k] = -k
        out.append(D / np.sqrt(k * (k + 1)))
    return np.array(out)


def _starts(d: int, n_random: int = 4) -> list[np.ndarray]:
    starts = [np.eye(d, dtype=complex) / d]
    for a in range(d):
        e = np.full(d, 0.02 / d)
        e[a] += 0.98
        starts.append(np.diag(e).astype(complex))
    for seed in range(n_random):
        starts.append(random_density_matrix(d, seed=seed, min_eigenvalue=0.01))
    return starts


def meanfield_fixed_points(model: Model, starts=None, t_relax: float = 400.0, tol: float = 1e-9,
                           distinct: float = 1e-6) -> list[dict]:
    r"""Stationary states of the mean-field equation.

    Each start relaxes under the mean-field flow for up to ``t_relax`` (in steps, stopping once
    :math:`\|\dot\rho\|` is below 1e-6), then a root finder solves :math:`\dot\rho = 0` on trace-one
    Hermitian matrices. Returns one dict per distinct fixed point (trace distance above
    ``distinct``): ``rho``, ``residual`` (:math:`\|\dot\rho\|_F`), ``max_real_eigenvalue`` of the
    linearised flow (on traceless Hermitian directions), ``stable``, ``starts`` (how many starts
    reached it); plus entries with ``rho = None`` for starts that did not settle.
    """
    d = model.d
    basis = _hermitian_basis(d)
    center = np.eye(d, dtype=complex) / d

    def to_rho(v):
        return center + np.tensordot(v, basis, axes=1)

    def to_vec(rho):
        return np.real(np.einsum("kab,ba->k", basis, rho))

    def F(v):
        return to_vec(meanfield.rhs(model, to_rho(v)))

    found: list[dict] = []
    unsettled = 0
    for rho in (_starts(d) if starts is None else starts):
        rho = np.asarray(rho, dtype=complex)
        t_done, chunk = 0.0, 10.0
        while t_done < t_relax and np.linalg.norm(meanfield.rhs(model, rho)) > 1e-6:
            rho = meanfield.evolve(model, rho, [0.0, chunk], rtol=1e-10, atol=1e-12)[-1]
            t_done += chunk
            chunk = min(2 * chunk, 100.0)
        sol = root(F, to_vec(rho), tol=1e-14)
        rho_star = to_rho(sol.x)
        rho_star = (rho_star + rho_star.conj().T) / 2
        residual = float(np.linalg.norm(meanfield.rhs(model, rho_star)))
        if residual > tol or np.linalg.eigvalsh(rho_star).min() < -1e-10:
            unsettled += 1
            continue
        for fp in found:
            if np.abs(np.linalg.eigvalsh(fp["rho"] - rho_star)).sum() < distinct:
                fp["starts"] += 1
                break
        else:
            h = 1e-7
            v0 = to_vec(rho_star)
            J = np.column_stack([(F(v0 + h * e) - F(v0 - h * e)) / (2 * h) for e in np.eye(v0.size)])
            lead = float(np.linalg.eigvals(J).real.max())
            found.append({"rho": rho_star, "residual": residual, "max_real_eigenvalue": lead,
                          "stable": lead < -1e-7, "starts": 1})
    found.sort(key=lambda fp: (not fp["stable"], -fp["starts"]))
    if unsettled:
        found.append({"rho": None, "residual": float("nan"), "max_real_eigenvalue": float("nan"),
                      "stable": False, "starts": unsettled})
    return found


def steady_state(model: Model, N: int, *, tol: float = 1e-10, t_max: float = 2000.0, engine_options=None):
    r"""The N-body steady state on Schur-Weyl blocks.

    Returns ``(space, x, info)``: the block layout, the state vector (see
    :class:`~qmeanfield.engines.permutational.BlockSpace`) and ``info`` with ``method``
    (``"direct"`` or ``"relaxation"``) and ``residual`` :math:`\|\mathcal L x\|_1 / \|\mathcal L\|`.
    Closed models have no unique steady state and are refused.
    """
    if not model.is_open:
        raise QMeanFieldError("steady_state needs an open model (jumps or collective_jumps)")
    eng = PermutationalEngine(**(engine_options or {}))
    space, A = eng.generator(model, N)
    trace_row = np.zeros(space.size, dtype=complex)
    for i, n in enumerate(space.dims):
        trace_row[space.offsets[i] + np.arange(n) * (n + 1)] = 1.0
    scale = float(abs(A).sum(axis=0).max())
    if space.size <= DIRECT_SOLVE_MAX:
        # replace one equation (the first diagonal entry of the first block) by the trace condition
        M = sp.vstack([sp.csr_matrix(trace_row), A[1:]]).tocsc()
        b = np.zeros(space.size, dtype=complex)
        b[0] = 1.0
        x = spla.spsolve(M, b)
        method = "direct"
    else:
        prop = eng.propagator(A)
        x = space.product_state(np.eye(space.d) / space.d)
        t, chunk = 0.0, 5.0
        while t < t_max:
            x = prop(x, chunk)
            t += chunk
            if np.abs(A @ x).sum() / scale < tol:
                break
            chunk = min(2 * chunk, 50.0)
        prop.close()
        method = "relaxation"
    x = x / (trace_row @ x)
    residual = float(np.abs(A @ x).sum() / scale)
    return space, x, {"method": method, "residual": residual, "state_size": space.size}


def steady_state_comparison(model: Model, N, *, progress: bool = False, fixed_points=None,
                            engine_options=None) -> xr.Dataset:
    r"""N-body steady states against the mean-field fixed point(s), for each N.

    Variables: ``fixed_point_state`` (fixed_point, row, col) with ``fixed_point_stable``,
    ``fixed_point_residual``, ``fixed_point_max_real_eigenvalue``; per N: ``one_body_marginal``,
    ``trace_distance`` (N, k, fixed_point) = :math:`\|R^{(k)}_{ss} - \rho^{*\otimes k}\|_1` for k = 1, 2,
    ``relative_entropy`` (N, fixed_point) = :math:`H(R^{ss}_N | \rho^{*\otimes N})`, ``entropy`` and
    ``residual`` (N). Attributes: ``unique_fixed_point`` (exactly one stable fixed point found),
    ``rate_one_body`` (log-log slope in N of the distance to the first fixed point).
    """
    if not isinstance(model, Model):
        raise QMeanFieldError(f"model must be a qmeanfield.Model, got {type(model).__name__}")
    if not model.is_open:
        raise QMeanFieldError("steady states need an open model (jumps or collective_jumps)")
    Ns = _check_N(N)
    fps = meanfield_fixed_points(model) if fixed_points is None else fixed_points
    fps = [fp for fp in fps if fp["rho"] is not None]
    if not fps:
        raise QMeanFieldError("no mean-field fixed point found (every start kept moving: a limit cycle?)")
    d = model.d
    F = len(fps)
    dist = np.full((len(Ns), 2, F), np.nan)
    H = np.full((len(Ns), F), np.nan)
    S = np.full(len(Ns), np.nan)
    res = np.full(len(Ns), np.nan)
    R1s = np.zeros((len(Ns), d, d), dtype=complex)
    methods = []
    with _progress_bar(progress) as prog:
        task = prog.add_task("steady states", total=len(Ns)) if prog else None
        for a, n in enumerate(Ns):
            if prog:
                prog.update(task, description=f"steady state N = {n}")
            space, x, info = steady_state(model, n, engine_options=engine_options)
            meas = BlockMeasurement(space, 1, 2)
            meas.add(0, x)
            marg = meas.marginals()
            R1s[a] = marg[1][0]
            S[a] = meas.entropy[0]
            res[a] = info["residual"]
            methods.append(info["method"])
            for f, fp in enumerate(fps):
                for b, k in enumerate((1, 2)):
                    dist[a, b, f] = marginal_trace_distance(marg[k][0], fp["rho"], k)
                H[a, f], _ = relative_entropy_to_product(S[a], R1s[a], fp["rho"], n)
            if prog:
                prog.update(task, completed=a + 1)
    slope = fit_power_law(np.array(Ns, dtype=float), dist[:, 0, 0]) if len(Ns) >= 2 else None
    n_stable = sum(1 for fp in fps if fp["stable"])
    return xr.Dataset(
        data_vars={
            "fixed_point_state": (("fixed_point", "row", "col"), np.array([fp["rho"] for fp in fps]),
                                  {"long_name": "mean-field fixed point rho*"}),
            "fixed_point_stable": (("fixed_point",), np.array([int(fp["stable"]) for fp in fps])),
            "fixed_point_residual": (("fixed_point",), np.array([fp["residual"] for fp in fps])),
            "fixed_point_max_real_eigenvalue": (("fixed_point",),
                                                np.array([fp["max_real_eigenvalue"] for fp in fps])),
            "one_body_marginal": (("N", "row", "col"), R1s, {"long_name": "R^(1) of the N-body steady state"}),
            "trace_distance": (("N", "k", "fixed_point"), dist, {"long_name": "|| R^(k)_ss - rho*^(x)k ||_1"}),
            "relative_entropy": (("N", "fixed_point"), H, {"long_name": "H(R_N^ss | rho*^(x)N)"}),
            "entropy": (("N",), S, {"long_name": "S(R_N^ss)"}),
            "residual": (("N",), res, {"long_name": "||L x||_1 / ||L||_1 of the computed steady state"}),
            "method": (("N",), np.array(methods, dtype=object)),
        },
        coords={"N": np.array(Ns), "k": np.array([1, 2]), "fixed_point": np.arange(F),
                "row": np.arange(d), "col": np.arange(d)},
        attrs={**{f"model_{k}": v for k, v in model.describe().items()},
               "unique_fixed_point": int(n_stable == 1 and F == 1),
               "stable_fixed_points": n_stable,
               "rate_one_body": float("nan") if slope is None else float(slope),
               "qmeanfield_version": _version()},
    )

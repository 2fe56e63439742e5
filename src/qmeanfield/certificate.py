r"""The entropy method's a-priori bound, computed (THEORY section 4).

With :math:`A = [\log\rho \otimes 1, V]` and :math:`A_1 = \mathrm{Tr}_2[(1\otimes\rho)A]`, the
entropy production is :math:`dH_N/dt = \mathrm{Tr}(R_N Y_N)` with the permutation-symmetric

.. math::
    Y_N = \frac{i}{\hbar}\Big[\kappa_N \sum_{i\ne j} A_{ij} - \sum_j (A_1)_j\Big],

which for :math:`\kappa_N = 1/(N-1)` is THEORY's centred
:math:`\tfrac{i}{\hbar}\tfrac{1}{N-1}\sum_{i\ne j}(A_c)_{ij}` (here :math:`A_2 = 0` and
:math:`\mathrm{Tr}((\rho\otimes\rho)A) = 0` because :math:`[\rho, \log\rho] = 0`). The Gibbs
variational principle gives, for :math:`\eta > 0`,
:math:`\mathrm{Tr}(R_N Y_N) \le (H_N + \Lambda_N(\eta, t))/\eta` with

.. math::
    \Lambda_N(\eta, t) = \log \mathrm{Tr}\exp\big(\log\rho(t)^{\otimes N} + \eta Y_N(t)\big) \;\ge 0,

and Gronwall's lemma the certificate

.. math::
    H_N(t) \le e^{t/\eta} H_N(0) + \frac1\eta \int_0^t e^{(t-s)/\eta}\Lambda_N(\eta, s)\,ds,

minimised over the grid of :math:`\eta`. The time integral is the trapezoidal rule on the
given times, so the certificate is as accurate as that quadrature. Open systems obey the same
bound (the dissipation only helps). :math:`\Lambda_N` is computed block by block on the
Schur-Weyl decomposition (both operators are symmetric): in the eigenbasis of :math:`\rho(t)`,
:math:`\log\rho^{\otimes N}` is diagonal on each Gelfand-Tsetlin basis and :math:`Y_N` is a
polynomial in the collective generators. The Golden-Thompson upper bound
:math:`\log\mathrm{Tr}(\rho^{\otimes N} e^{\eta Y_N})` is a second column.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import scipy.linalg
import xarray as xr
from scipy.special import logsumexp

from . import meanfield
from .compare import _check_N, _progress_bar, _version, compare
from .diagnostics import interaction_commutator, log_density, pinsker_marginal_bound
from .engines.schur_weyl import Irrep, eigenbasis, log_highest_weight, log_multiplicity, partitions
from .engines.symmetric import collective_two_body
from ._parallel import single_blas_thread
from .errors import QMeanFieldError
from .model import Model
from .operators import partial_trace_second
from .states import validate_density_matrix

__all__ = ["certificate", "certificate_scaling", "fluctuation_parts", "lambda_blocks", "gronwall_bound", "eta_grid", "eta_threshold",
           "TAIL_CUT"]

#: blocks whose log-contribution is this far below the running total are considered negligible
TAIL_CUT = 25.0


def eta_grid(model: Model, count: int = 10) -> np.ndarray:
    """Default eta values: log-spaced over [0.03, 2.5] in units of hbar / ||V||.

    The minimum over this grid is within about 10% of the minimum over a fine grid on the test
    models; pass ``etas=`` for a finer or wider search (the cost is proportional to its size).
    """
    scale = model.hbar / max(float(np.linalg.norm(model.V, 2)), 1e-12)
    return scale * np.geomspace(0.03, 2.5, count)


def fluctuation_parts(rho: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(A, A1)``: :math:`A = [\log\rho\otimes 1, V]`, :math:`A_1 = \mathrm{Tr}_2[(1\otimes\rho)A]` (rho full rank)."""
    L = log_density(rho)
    if L is None:
        raise QMeanFieldError("the certificate needs a full-rank rho(t): log rho is undefined for a singular state")
    d = rho.shape[0]
    A = interaction_commutator(L, V)
    A1 = partial_trace_second(np.kron(np.eye(d), rho) @ A, d)
    return A, A1


class _Blocks:
    """Irreps and multiplicities for one N, built once and reused for every time and eta."""

    def __init__(self, N: int, d: int):
        self.N, self.d = N, d
        self.lams = partitions(N, d)
        self.logm = np.array([log_multiplicity(lam) for lam in self.lams])
        self._irreps: dict[int, Irrep] = {}

    def irrep(self, i: int) -> Irrep:
        if i not in self._irreps:
            self._irreps[i] = Irrep(self.lams[i])
        return self._irreps[i]


class _Hermitian:
    """A Hermitian sparse matrix prepared for repeated eigenvalue solves of D + eta * M.

    Small bandwidth (d = 2 blocks are pentadiagonal): LAPACK's banded solver on the upper band
    storage; otherwise a dense solver.
    """

    def __init__(self, M):
        self.n = M.shape[0]
        coo = M.tocoo()
        self.bw = int(np.max(np.abs(coo.row - coo.col))) if coo.nnz else 0
        self.banded = self.n > 32 and self.bw <= 8
        if self.banded:
            self.ab = np.zeros((self.bw + 1, self.n), dtype=complex)
            for k in range(self.bw + 1):
                self.ab[self.bw - k, k:] = M.diagonal(k)
        else:
            self.dense = M.toarray()

    def eigvals(self, eta: float = 1.0, D: np.ndarray | None = None) -> np.ndarray:
        """Eigenvalues of diag(D) + eta * M."""
        if self.banded:
            ab = eta * self.ab
            if D is not None:
                ab[self.bw] += D
            return scipy.linalg.eigvals_banded(ab, lower=False, check_finite=False)
        K = eta * self.dense
        if D is not None:
            K[np.diag_indices(self.n)] += D
        return np.linalg.eigvalsh(K)


def _block_operators(irrep: Irrep, logp, A, A1, kappa, hbar):
    D = irrep.weights @ logp
    Y = collective_two_body(irrep, -A1, A, kappa)   # -J(A1) + kappa sum_s [J(P_s)J(Q_s) - J(P_s Q_s)]
    Y = (1j / hbar) * Y
    Y = (Y + Y.conj().T) / 2
    return D, Y.tocsr()


def lambda_blocks(blocks: _Blocks, rho: np.ndarray, V: np.ndarray, kappa: float, hbar: float,
                  etas: np.ndarray, golden_thompson: bool = False, y_norm: bool = True) -> dict:
    r""":math:`\Lambda_N(\eta)` for each eta at one time (and optionally Golden-Thompson and :math:`\|Y_N\|`).

    For d = 2 the blocks are visited outwards from the most probable one and a direction is
    abandoned after three consecutive blocks contribute less than :math:`e^{-25}` of the running
    total (``TAIL_CUT``); for d > 2 every block is computed.
    """
    d = blocks.d
    p, _, Vr = eigenbasis(rho, V)
    if p[-1] <= 1e-14:
        raise QMeanFieldError("the certificate needs a full-rank rho(t)")
    A, A1 = fluctuation_parts(np.diag(p).astype(complex), Vr)
    logp = np.log(p)
    nb = len(blocks.lams)
    # order: most probable block first (by the weight of rho^(x)N), then outwards
    top = blocks.logm + np.array([log_highest_weight(lam, logp) for lam in blocks.lams])
    start = int(np.argmax(top))
    contrib = np.full((etas.size, nb), -np.inf)
    gt = np.full((etas.size, nb), -np.inf) if golden_thompson else None
    ynorm = 0.0

    def visit(i):
        nonlocal ynorm
        irrep = blocks.irrep(i)
        D, Y = _block_operators(irrep, logp, A, A1, kappa, hbar)
        Yh = _Hermitian(Y)
        for e, eta in enumerate(etas):
            contrib[e, i] = blocks.logm[i] + logsumexp(Yh.eigvals(eta, D))
        if y_norm or golden_thompson:
            if golden_thompson:
                y, U = np.linalg.eigh(Y.toarray())
                w = (np.abs(U) ** 2).T @ np.exp(D - D.max())       # <u_j| e^{D} |u_j> / e^{max D}
                for e, eta in enumerate(etas):
                    gt[e, i] = blocks.logm[i] + D.max() + logsumexp(eta * y, b=w)
            else:
                y = Yh.eigvals()
            ynorm = max(ynorm, float(np.max(np.abs(y))))

    if d == 2 and not golden_thompson and not y_norm:
        order_left, order_right = list(range(start - 1, -1, -1)), list(range(start + 1, nb))
        visit(start)
        for order in (order_left, order_right):
            quiet = 0
            for i in order:
                visit(i)
                total = logsumexp(contrib, axis=1)
                if np.all(contrib[:, i] < total - TAIL_CUT):
                    quiet += 1
                    if quiet >= 3:
                        break
                else:
                    quiet = 0
    else:
        for i in range(nb):
            visit(i)
    lam = logsumexp(contrib, axis=1)
    # Lambda_N >= 0 (convex in eta, zero value and zero slope at eta = 0): clear round-off below zero
    lam = np.where((lam < 0) & (lam > -1e-9), 0.0, lam)
    out = {"lambda": lam, "y_norm": ynorm if (y_norm or golden_thompson) else np.nan,
           "blocks_visited": int(np.sum(np.isfinite(contrib[0])))}
    if golden_thompson:
        out["golden_thompson"] = logsumexp(gt, axis=1)
    return out


def gronwall_bound(times: np.ndarray, lam: np.ndarray, etas: np.ndarray, H0: float = 0.0):
    r"""Minimise over eta the Gronwall bound; ``lam`` has shape (eta, time).

    Returns ``(bound, eta_opt, bound_per_eta)`` with
    :math:`B_\eta(t_n) = e^{t_n/\eta}\big(H_0 + \tfrac1\eta\int_0^{t_n} e^{-s/\eta}\Lambda(\eta,s)ds\big)`
    (trapezoidal rule on ``times``, which must start at 0).
    """
    times = np.asarray(times, dtype=float)
    if times[0] != 0:
        raise QMeanFieldError("the certificate's times must start at t = 0")
    per_eta = np.empty((etas.size, times.size))
    for e, eta in enumerate(etas):
        g = np.exp(-times / eta) * lam[e]
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(times))])
        with np.errstate(over="ignore", invalid="ignore"):
            per_eta[e] = np.exp(times / eta) * (H0 + cum / eta)
    per_eta = np.where(np.isfinite(per_eta), per_eta, np.inf)
    best = np.argmin(per_eta, axis=0)
    return per_eta[best, np.arange(times.size)], etas[best], per_eta


def _lambda_task(args):
    n, d, *rest = args
    return lambda_blocks(_Blocks(n, d), *rest)


def certificate(model: Model, rho0, N, times, *, etas="auto", exact: bool = True, golden_thompson="auto",
                engine: str = "auto", marginals=(1, 2), workers: int | str = "auto",
                progress: bool = False) -> xr.Dataset:
    r"""Compute the entropy method's bound and set it beside the exact :math:`H_N`.

    Returns a Dataset with ``lambda_N`` (N, eta, time), ``golden_thompson`` (N, eta, time; NaN
    where not computed), ``Y_norm`` (N, time), ``bound`` and ``eta_opt`` (N, time),
    ``certified_marginal_bound`` (N, k, time) = sqrt(2 bound / floor(N/k)), and, with ``exact``,
    ``relative_entropy`` (N, time) and ``trace_distance`` (N, k, time) from :func:`qmeanfield.compare`.
    ``golden_thompson="auto"`` computes it for N <= 100 (it needs every block's eigenvectors).
    ``workers`` > 1 spreads the (N, time) pairs over processes; ``"auto"`` uses every core when
    some N >= 100 (smaller problems do not pay for the processes).
    """
    d = model.d
    if model.collective_jumps:
        raise QMeanFieldError("certificate: the entropy method's bound is derived for one-body jumps only; "
                              "remove collective_jumps (compare() measures H_N for such models)")
    rho0 = validate_density_matrix(rho0, "rho0", d)
    times = meanfield.validate_times(times)
    if times[0] != 0:
        raise QMeanFieldError("certificate: times must start at t = 0 (the bound integrates from 0)")
    Ns = _check_N(N)
    etas = eta_grid(model) if isinstance(etas, str) and etas == "auto" else np.asarray(etas, dtype=float)
    if etas.ndim != 1 or etas.size == 0 or np.any(etas <= 0):
        raise QMeanFieldError("etas must be 'auto' or a non-empty list of positive numbers")
    rho_t = meanfield.evolve(model, rho0, times)
    H0 = 0.0  # product initial data
    lam = np.full((len(Ns), etas.size, times.size), np.nan)
    gt = np.full_like(lam, np.nan)
    ynorm = np.full((len(Ns), times.size), np.nan)
    V = np.asarray(model.V)
    tasks = []
    for a, n in enumerate(Ns):
        want_gt = (n <= 100) if golden_thompson == "auto" else bool(golden_thompson)
        for i in range(times.size):
            tasks.append((a, i, (n, d, rho_t[i], V, model.kappa(n), model.hbar, etas, want_gt, n <= 200)))
    if workers == "auto":
        workers = (os.cpu_count() or 1) if max(Ns) >= 100 else 1
    workers = max(1, min(int(workers), len(tasks), os.cpu_count() or 1))
    with _progress_bar(progress) as prog:
        bar = prog.add_task("certificate", total=len(tasks)) if prog else None
        if workers == 1:
            cache: dict[int, _Blocks] = {}
            results = []
            for a, i, args in tasks:
                blocks = cache.setdefault(args[0], _Blocks(args[0], d))
                results.append((a, i, lambda_blocks(blocks, *args[2:])))
                if prog:
                    prog.update(bar, advance=1, description=f"certificate N = {args[0]}")
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=single_blas_thread) as pool:
                futures = {pool.submit(_lambda_task, args): (a, i) for a, i, args in tasks}
                results = []
                for fut in as_completed(futures):
                    a, i = futures[fut]
                    results.append((a, i, fut.result()))
                    if prog:
                        prog.update(bar, advance=1)
    for a, i, res in results:
        lam[a, :, i] = res["lambda"]
        ynorm[a, i] = res["y_norm"]
        if "golden_thompson" in res:
            gt[a, :, i] = res["golden_thompson"]
    bound = np.empty((len(Ns), times.size))
    eta_opt = np.empty_like(bound)
    for a in range(len(Ns)):
        bound[a], eta_opt[a], _ = gronwall_bound(times, lam[a], etas, H0)
    ks = sorted(set(int(k) for k in marginals))
    mb = np.stack([np.stack([pinsker_marginal_bound(bound[a], n, k) for k in ks]) for a, n in enumerate(Ns)])
    ds = xr.Dataset(
        {
            "lambda_N": (("N", "eta", "time"), lam, {"long_name": "log Tr exp(log rho^(x)N + eta Y_N)"}),
            "golden_thompson": (("N", "eta", "time"), gt, {"long_name": "log Tr(rho^(x)N exp(eta Y_N)) >= lambda_N"}),
            "Y_norm": (("N", "time"), ynorm, {"long_name": "||Y_N|| (NaN for N > 200)"}),
            "bound": (("N", "time"), bound, {"long_name": "Gronwall certificate for H_N, minimised over eta"}),
            "eta_opt": (("N", "time"), eta_opt, {"long_name": "minimising eta"}),
            "certified_marginal_bound": (("N", "k", "time"), mb, {"formula": "sqrt(2 bound / floor(N/k))"}),
        },
        coords={"N": np.array(Ns), "eta": etas, "time": times, "k": np.array(ks)},
        attrs={**{f"model_{k}": v for k, v in model.describe().items()}, "quadrature": "trapezoidal",
               "qmeanfield_version": _version()},
    )
    if exact:
        ex = compare(model, rho0, Ns, times, engine=engine, marginals=tuple(ks), entropy_identity=False,
                     progress=progress)
        ds["relative_entropy"] = ex.relative_entropy
        ds["trace_distance"] = ex.trace_distance
        ds["engine"] = ex.engine
    return ds


def eta_threshold(model: Model, rho0, t: float, Ns=(10, 30, 100, 300, 1000), etas="auto",
                  growth_cutoff: float = 0.2) -> dict:
    r"""Estimate the largest eta for which :math:`\Lambda_N(\eta, t)` stays bounded as N grows.

    For each eta, the exponent of :math:`\Lambda_N` against N is fitted over ``Ns``; eta counts
    as bounded when the exponent is below ``growth_cutoff`` (a bounded sequence has exponent
    near 0, one growing like N has 1). Returns the grid, the values, the exponents and the estimate.
    """
    from .diagnostics.rates import fit_power_law

    rho0 = validate_density_matrix(rho0, "rho0", model.d)
    etas = eta_grid(model, 16) if isinstance(etas, str) else np.asarray(etas, dtype=float)
    rho_t = meanfield.evolve(model, rho0, [0.0, float(t)])[-1] if t > 0 else rho0
    Ns = _check_N(Ns)
    lam = np.array([lambda_blocks(_Blocks(n, model.d), rho_t, np.asarray(model.V), model.kappa(n), model.hbar,
                                  etas, y_norm=False)["lambda"] for n in Ns])
    exponents = np.array([fit_power_law(Ns, lam[:, e]) if np.all(lam[:, e] > 0) else np.nan
                          for e in range(etas.size)])
    bounded = np.isfinite(exponents) & (exponents < growth_cutoff)
    below = np.flatnonzero(~bounded)
    last_ok = (below[0] - 1) if below.size else etas.size - 1
    return {"etas": etas, "N": np.array(Ns), "lambda_N": lam, "exponents": exponents,
            "eta_threshold": float(etas[last_ok]) if last_ok >= 0 else 0.0, "growth_cutoff": growth_cutoff}


def certificate_scaling(model: Model, rho0, N: int, times, *, V_scales=(0.5, 1.0, 2.0), hbars=(0.5, 1.0, 2.0),
                        etas="auto", workers: int = 1) -> xr.Dataset:
    r"""How the certificate's constants depend on :math:`\|V\|` and :math:`\hbar`.

    Recomputes the certificate (bound only) for the model with V scaled by each of
    ``V_scales`` and each :math:`\hbar` in ``hbars`` (the eta grid follows
    :math:`\hbar/\|V\|`). Returns ``bound`` (V_scale, hbar, time), ``eta_opt`` and the largest
    :math:`\Lambda_N` over the grid at the final time, with attributes ``exponent_V`` and
    ``exponent_hbar``: fitted slopes of log bound(t_final) against log scale (at hbar = model's)
    and against log hbar (at scale 1 if present).
    """
    from .diagnostics.rates import fit_power_law

    times = meanfield.validate_times(times)
    V_scales = np.asarray(V_scales, dtype=float)
    hbars = np.asarray(hbars, dtype=float)
    if np.any(V_scales <= 0) or np.any(hbars <= 0):
        raise QMeanFieldError("V_scales and hbars must be positive")
    bound = np.empty((V_scales.size, hbars.size, times.size))
    eta_opt = np.empty_like(bound)
    for a, s in enumerate(V_scales):
        for b, hb in enumerate(hbars):
            m = Model(h=model.h, V=s * np.asarray(model.V), jumps=model.jumps, hbar=hb, coupling=model.coupling,
                      collective_jumps=model.collective_jumps)
            ds = certificate(m, rho0, [N], times, etas=etas, exact=False, golden_thompson=False, workers=workers)
            bound[a, b] = ds.bound.values[0]
            eta_opt[a, b] = ds.eta_opt.values[0]
    ref_h = int(np.argmin(np.abs(hbars - model.hbar)))
    ref_s = int(np.argmin(np.abs(V_scales - 1.0)))
    return xr.Dataset(
        {"bound": (("V_scale", "hbar", "time"), bound), "eta_opt": (("V_scale", "hbar", "time"), eta_opt)},
        coords={"V_scale": V_scales, "hbar": hbars, "time": times},
        attrs={"N": N, "exponent_V": _none_to_nan(fit_power_law(V_scales, bound[:, ref_h, -1])),
               "exponent_hbar": _none_to_nan(fit_power_law(hbars, bound[ref_s, :, -1])),
               "norm_V": float(np.linalg.norm(model.V, 2))},
    )


def _none_to_nan(x):
    return float("nan") if x is None else float(x)

r"""The chain back to N bodies (docs/semiclassical.md, The chain back to N bodies): project a continuous periodic problem
onto d = 2K + 1 Fourier modes, run the exact N-body comparison on the finite model, and set the
three links side by side.

Modes $e_n(x) = e^{ik_n x}/\sqrt L$, $k_n = 2\pi n/L$, $|n| \le K$:

$$
h_{nm} = \tfrac{\hbar^2 k_n^2}{2}\delta_{nm} + \tfrac1L\hat U(k_n - k_m), \qquad
\langle n_1 n_2|V|m_1 m_2\rangle = \tfrac1L \hat V(k_{n_1} - k_{m_1})\,\delta_{n_1 + n_2,\, m_1 + m_2},
$$

with $\hat g(k) = \int_{-L/2}^{L/2} g(x) e^{-ikx} dx$, and the one-body state
$\rho_0 = P T(f_0) P / \mathrm{tr}(P T(f_0) P)$ (P the projection on the modes; the weight
outside is reported). The links, at each time:

1. **N-body -> Hartree (d modes)**, exact on the finite model: $H_N$,
   $\|R^{(1)}_N - \rho\|_1$ (`qmeanfield.compare`);
2. **Hartree (d modes) -> Hartree (grid)**, the truncation: $\|\rho_{modes} - R_{grid}\|_1$;
3. **Hartree (grid) -> Vlasov**: the W2 bracket of `scan`.

The composed statement is only a bound: with $\int|\mathcal H[X]| \le \|X\|_1$ and
$W_2(\mu,\nu)^2 \le 2\int|z|^2 d|\mu-\nu|$ (Villani),
$W_2(\mathcal H[A], \mathcal H[B])^2 \le 2 (M_4(\mathcal H[A]) + M_4(\mathcal H[B]))^{1/2}\|A - B\|_1^{1/2}$,
so $W_2(\mathcal H[R^{(1)}_N], f) \le \big(2\sqrt{M_4^{A} + M_4^{B}}\,(\|R^{(1)}_N - \rho\|_1
+ \|\rho - R_{grid}\|_1)^{1/2}\big)^{1/2} + W_2^{upper}(\mathcal H[R_{grid}], f)$.
The fourth root makes it loose; it is reported as `composed_bound`, never as a measurement.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import QMeanFieldError
from ..model import Model
from ..results import package_version, provenance
from .grid import classical_grid, edges, initial_density, make_grid
from .hartree import HartreeSolver, initial_state
from .phase_space import density_matrix, husimi
from .problem import SemiclassicalProblem
from .scan import ScanOptions, plan_scan

__all__ = ["ModeProjection", "chain"]

#: quadrature points per mode for the Fourier coefficients of U and V
QUADRATURE_POINTS = 2048


class ModeProjection:
    """The finite model on 2K + 1 Fourier modes of a periodic problem at one hbar."""

    def __init__(self, problem: SemiclassicalProblem, hbar: float, K: int):
        if problem.domain != "periodic":
            raise QMeanFieldError("the chain to N bodies projects on Fourier modes: it needs domain = 'periodic'")
        if problem.pair == "poisson":
            raise QMeanFieldError("the chain to N bodies needs a bounded pair potential (not 'poisson')")
        if not (isinstance(K, int) and 1 <= K <= 6):
            raise QMeanFieldError(f"modes K must be an integer in 1..6 (d = 2K + 1 <= 13), got {K!r}")
        self.problem, self.hbar, self.K = problem, hbar, K
        L = problem.length
        self.n = np.arange(-K, K + 1)
        self.k = 2 * np.pi * self.n / L
        x = -L / 2 + L * np.arange(QUADRATURE_POINTS) / QUADRATURE_POINTS
        dx = L / QUADRATURE_POINTS
        dk = self.k[:, None] - self.k[None, :]
        U_hat = (np.exp(-1j * np.multiply.outer(dk, x)) @ problem.external_potential(x)) * dx
        V_hat = (np.exp(-1j * np.multiply.outer(dk, x)) @ problem.pair_potential(x)) * dx
        d = self.n.size
        self.h = np.diag(hbar**2 * self.k**2 / 2).astype(complex) + U_hat / L
        V = np.zeros((d, d, d, d), dtype=complex)  # V[n1, n2, m1, m2]
        for a in range(d):
            for b in range(d):
                for c in range(d):
                    e = a + b - c  # n1 + n2 = m1 + m2 (indices offset by K cancel)
                    if 0 <= e < d:
                        V[a, b, c, e] = V_hat[a, c] / L
        self.V = V.reshape(d * d, d * d)

    @property
    def d(self) -> int:
        return self.n.size

    def model(self, coupling: str = "1/(N-1)") -> Model:
        return Model(h=(self.h + self.h.conj().T) / 2, V=(self.V + self.V.conj().T) / 2, hbar=self.hbar,
                     coupling=coupling)

    def basis(self, x: np.ndarray) -> np.ndarray:
        """The modes on a grid, shape (d, Nx), normalised with the grid's dx."""
        return np.exp(1j * np.multiply.outer(self.k, x)) / np.sqrt(self.problem.length)

    def project(self, weights: np.ndarray, psi: np.ndarray, dx: float) -> tuple[np.ndarray, float]:
        """(P R P / tr, weight of R outside the modes) for R = sum_k w_k |psi_k><psi_k| on a grid."""
        B = self.basis(make_grid(self.problem.length, psi.shape[1]).x)
        amp = (B.conj() @ psi.T) * dx                       # <e_n|psi_k>, (d, K)
        rho = (amp * weights[None, :]) @ amp.conj().T
        inside = float(np.real(np.trace(rho)))
        return (rho + rho.conj().T) / (2 * inside), 1.0 - inside

    def lift(self, rho: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The grid kernel of a mode-space state, as the matrix R(x, x') dx."""
        B = self.basis(x)
        return B.T @ rho @ B.conj() * (x[1] - x[0])


def _second_moment_fourth(H: np.ndarray, x: np.ndarray, p: np.ndarray, dx: float, dp: float) -> float:
    X, P = np.meshgrid(x, p, indexing="ij")
    return float(np.sum(H * (X**2 + P**2) ** 2) * dx * dp)


def _mode_problem(problem: SemiclassicalProblem, hbar: float, K: int, options: ScanOptions):
    """The mode projection, the grids and the projected initial state of the chain at `hbar`."""
    proj = ModeProjection(problem, hbar, K)
    nx, n_p = options.cells
    cg, p = classical_grid(problem, nx, n_p)
    plan = plan_scan(SemiclassicalProblem(**{**problem.__dict__, "hbars": (hbar,)}), options)
    qg = make_grid(problem.length, plan.quantum_points[0], plan.quantum_reasons[0])
    orb = initial_state(problem, hbar, qg, p)
    rho0, outside = proj.project(orb.weights, orb.psi, qg.dx)
    return proj, cg, p, plan, qg, orb, rho0, outside


def plan_chain(problem: SemiclassicalProblem, hbar: float, K: int, N, *, options: ScanOptions = ScanOptions(),
               engine="auto"):
    """The N-body comparison the chain will run (`qmeanfield.api.plan_comparison` of the
    mode model from the projected initial state): every N checked before the scan starts."""
    from ..api import plan_comparison

    proj, *_, rho0, _ = _mode_problem(problem, hbar, K, options)
    return plan_comparison(proj.model(), rho0, N, problem.times, engine=engine, marginals=(1,),
                           entropy_identity=False, max_seconds=options.max_seconds)


def chain(problem: SemiclassicalProblem, hbar: float, K: int, N, *, options: ScanOptions = ScanOptions(),
          engine="auto", progress: bool = False) -> xr.Dataset:
    """The three links of the chain (see the module docstring) at one hbar, over `problem.times`.

    Returns a Dataset over (N, time) and (time,): `relative_entropy` and `trace_distance_nbody`
    (link 1), `trace_distance_truncation` (link 2), `w2_lower` / `w2_upper` (link 3),
    `composed_bound` (N, time), and attributes `modes`, `weight_outside_modes`.
    """
    from ..api import compare
    from .wasserstein import w2_bracket

    times = problem.times
    proj, cg, p, plan, qg, orb, rho0, outside = _mode_problem(problem, hbar, K, options)
    nx, n_p = options.cells
    dp = p[1] - p[0]
    model = proj.model()
    ds_n = compare(model, rho0, N, times, engine=engine, marginals=(1,), entropy_identity=False, progress=progress)
    rho_modes = ds_n.meanfield_state.values
    # grid Hartree and Vlasov
    from .vlasov import VlasovSolver

    f0 = initial_density(problem, cg, p)
    f_t = list(VlasovSolver(problem, cg, p, plan.dt).run(f0, times))
    hs = HartreeSolver(problem, hbar, qg, plan.dt)
    stride = qg.x.size // nx
    trunc, lo, up, m4 = (np.empty(times.size) for _ in range(4))
    m4_modes = np.empty((len(ds_n.N), times.size))
    from ..diagnostics import trace_distance

    for n, psi in enumerate(hs.run(orb, times)):
        R = density_matrix(orb.weights, psi)
        trunc[n] = trace_distance(proj.lift(rho_modes[n], qg.x), R * qg.dx)
        Hq = husimi(R, qg, hbar, stride, p, True)
        b = w2_bracket(edges(cg.x), edges(p), Hq, f_t[n], emd_cells=None)
        lo[n], up[n] = b.lower, b.upper
        m4[n] = _second_moment_fourth(Hq, cg.x, p, cg.dx, dp)
        for a in range(len(ds_n.N)):
            R1 = ds_n.one_body_marginal.values[a, n]
            H1 = husimi(proj.lift(R1, qg.x) / qg.dx, qg, hbar, stride, p, True)
            m4_modes[a, n] = _second_moment_fourth(H1, cg.x, p, cg.dx, dp)
    nbody = ds_n.trace_distance.sel(k=1).values                                  # (N, time)
    composed = np.sqrt(2 * np.sqrt(m4_modes + m4[None, :]) * np.sqrt(nbody + trunc[None, :])) + up[None, :]
    return xr.Dataset(
        {
            "relative_entropy": (("N", "time"), ds_n.relative_entropy.values, {"long_name": "H_N (finite model)"}),
            "trace_distance_nbody": (("N", "time"), nbody, {"long_name": "||R^(1)_N - rho_modes||_1 (exact)"}),
            "trace_distance_truncation": (("time",), trunc, {"long_name": "||rho_modes - R_grid||_1"}),
            "w2_lower": (("time",), lo), "w2_upper": (("time",), up),
            "composed_bound": (("N", "time"), composed, {
                "long_name": "bound on W2(Husimi(R^(1)_N), f) composed from the three links (loose)"}),
        },
        coords={"N": ds_n.N.values, "time": times},
        attrs={"hbar": hbar, "modes": 2 * K + 1, "weight_outside_modes": outside,
               "engine": ",".join(str(e) for e in ds_n.engine.values),
               **provenance(), "qmeanfield_version": package_version()},
    )

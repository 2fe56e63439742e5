"""The semiclassical limit: Hartree against Vlasov in Wasserstein distance, uniformly in hbar.

`qmf.semiclassical.scan(problem)` runs the Hartree equation for density matrices from the
Toeplitz state $T(f_0)$ and the Vlasov equation from $f_0$, and measures
$W_2(\\mathrm{Husimi}(R(t)), f(t))$ with its bracket beside the certificate
$B(t)$ for every hbar. See `docs/semiclassical.md`.
"""

from .grid import Grid, MeanField, classical_grid, quantum_grid
from .hartree import HartreeSolver, Orbitals, toeplitz_state
from .phase_space import density_matrix, husimi, wigner
from .problem import InitialData, SemiclassicalProblem
from .scan import ScanOptions, ScanPlan, certificate_bound, plan_scan, scan
from .vlasov import VlasovSolver
from .wasserstein import W2Bracket, gaussian_w2, w2_1d, w2_bracket, w2_emd, w2_knothe, w2_marginal_lower

__all__ = ["SemiclassicalProblem", "InitialData", "ScanOptions", "ScanPlan", "scan", "plan_scan",
           "certificate_bound", "toeplitz_state", "Orbitals", "HartreeSolver", "VlasovSolver", "husimi", "wigner",
           "density_matrix", "Grid", "MeanField", "classical_grid", "quantum_grid", "W2Bracket", "w2_bracket", "w2_1d",
           "w2_marginal_lower", "w2_knothe", "w2_emd", "gaussian_w2"]

"""Schur-Weyl machinery shared by the engines and the certificate.

* `.irreps`: Young diagrams, Gelfand-Tsetlin patterns, gl(d) irreps and branching isometries.
* `.collective`: collective two-body operators, block Hamiltonians, marginals from moments.
* `.space`: `BlockSpace` (the blocks of N particles and the state layout),
  `BlockWindows` (a square window of each block: a smaller layout) and
  `BlockMeasurement` (entropy and moments of block states).
"""

from .collective import block_hamiltonian, collective_two_body, moments_to_marginals
from .irreps import Irrep, branching_isometry, eigenbasis, partitions, weyl_dimension
from .space import BlockMeasurement, BlockSpace, BlockWindows, block_entropy

__all__ = ["Irrep", "BlockSpace", "BlockWindows", "BlockMeasurement", "block_entropy", "block_hamiltonian", "collective_two_body",
           "moments_to_marginals", "branching_isometry", "eigenbasis", "partitions", "weyl_dimension"]

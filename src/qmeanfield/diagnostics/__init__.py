"""Pure diagnostic functions on states: arrays in, numbers out, no I/O."""

from .bounds import pinsker_marginal_bound
from .collective import collective_covariance, spin_covariance, wineland_squeezing
from .entropy import (
    ProductRelativeEntropy,
    clamp_product_roundoff,
    relative_entropy,
    relative_entropy_to_product,
    von_neumann_entropy,
)
from .rates import InverseNFit, PowerLawFit, fit_inverse_N, fit_power_law, richardson_limit
from .marginals import marginal, marginal_trace_distance, tensor_power, trace_distance
from .production import (
    derivative_from_stencil,
    entropy_production,
    interaction_commutator,
    log_density,
    stencil,
)

__all__ = [
    "pinsker_marginal_bound",
    "collective_covariance",
    "spin_covariance",
    "wineland_squeezing",
    "relative_entropy",
    "relative_entropy_to_product",
    "clamp_product_roundoff",
    "von_neumann_entropy",
    "marginal",
    "marginal_trace_distance",
    "tensor_power",
    "trace_distance",
    "derivative_from_stencil",
    "entropy_production",
    "interaction_commutator",
    "log_density",
    "stencil",
    "fit_inverse_N",
    "fit_power_law",
    "InverseNFit",
    "PowerLawFit",
    "ProductRelativeEntropy",
    "richardson_limit",
]

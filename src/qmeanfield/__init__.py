"""qmeanfield: measure the quantum mean-field limit.

Exact N-body dynamics (closed or Lindblad) from a product state, the mean-field (Hartree)
dynamics, and the distance between them through the quantum relative entropy
H(R_N | rho^(x)N), marginal trace distances and the entropy production identity.
"""

from . import diagnostics, engines, interop, io, meanfield, operators, states, steady
from .certificate import certificate, certificate_scaling, eta_threshold
from .compare import compare
from .errors import ConfigError, DriftWarning, EngineError, ModelError, QMeanFieldError, StateError
from .model import Model
from .steady import meanfield_fixed_points, steady_state_comparison

__all__ = [
    "Model",
    "compare",
    "certificate",
    "eta_threshold",
    "certificate_scaling",
    "steady_state_comparison",
    "meanfield_fixed_points",
    "steady",
    "meanfield",
    "operators",
    "states",
    "engines",
    "diagnostics",
    "io",
    "interop",
    "QMeanFieldError",
    "ModelError",
    "StateError",
    "ConfigError",
    "EngineError",
    "DriftWarning",
]

"""qmeanfield: measure the quantum mean-field limit.

Exact N-body dynamics (closed or Lindblad) from a product state, the mean-field (Hartree)
dynamics, and the distance between them through the quantum relative entropy
H(R_N | rho^(x)N), marginal trace distances and the entropy production identity.

The verbs are flat: ``qmf.compare``, ``qmf.certify``, ``qmf.steady_state_comparison``,
``qmf.meanfield_fixed_points``, ``qmf.eta_threshold``; results are xarray Datasets or frozen
dataclasses. ``docs/architecture.md`` maps the modules.
"""

from . import certificate, diagnostics, engines, interop, meanfield, operators, states, store
from .api import certificate_scaling, certify, compare, steady_state_comparison
from .certificate import eta_threshold
from .errors import ConfigError, DriftWarning, EngineError, ModelError, PerformanceWarning, QMeanFieldError, StateError
from .meanfield import fixed_points as meanfield_fixed_points
from .model import Model
from .results import package_version
from .store import StoreError, load_dataset, save_dataset

__version__ = package_version()

__all__ = [
    "Model",
    "compare",
    "certify",
    "eta_threshold",
    "certificate_scaling",
    "steady_state_comparison",
    "meanfield_fixed_points",
    "save_dataset",
    "load_dataset",
    "meanfield",
    "certificate",
    "operators",
    "states",
    "engines",
    "diagnostics",
    "store",
    "interop",
    "QMeanFieldError",
    "ModelError",
    "StateError",
    "ConfigError",
    "EngineError",
    "StoreError",
    "DriftWarning",
    "PerformanceWarning",
    "__version__",
]

"""qmeanfield: measure the quantum mean-field limit.

Exact N-body dynamics (closed or Lindblad) from a product state, the mean-field (Hartree)
dynamics, and the distance between them through the quantum relative entropy
H(R_N | rho^(x)N), marginal trace distances and the entropy production identity.

The verbs are flat: `qmf.compare`, `qmf.certify`, `qmf.steady_state_comparison`,
`qmf.correlation`, `qmf.spectrum`, `qmf.meanfield_fixed_points`, `qmf.eta_threshold`; results are xarray Datasets or frozen
dataclasses. `docs/architecture.md` maps the modules.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from . import operators, states
from .errors import ConfigError, DriftWarning, EngineError, ModelError, PerformanceWarning, QMeanFieldError, StateError
from .model import Model

try:
    __version__ = version("qmeanfield")
except PackageNotFoundError:  # pragma: no cover - a source tree without installation
    __version__ = "0+unknown"

#: names loaded on first use (PEP 562), so that ``import qmeanfield`` stays light: the verbs pull
#: in SciPy's solvers, xarray and netCDF only when called
_LAZY = {
    "compare": ("api", "compare"), "certify": ("api", "certify"), "certificate_scaling": ("api", "certificate_scaling"),
    "steady_state_comparison": ("api", "steady_state_comparison"), "eta_threshold": ("certificate", "eta_threshold"),
    "meanfield_fixed_points": ("meanfield", "fixed_points"), "save_dataset": ("store", "save_dataset"),
    "load_dataset": ("store", "load_dataset"), "StoreError": ("store", "StoreError"),
    "correlation": ("correlations", "correlation"), "spectrum": ("correlations", "spectrum"),
    "to_qutip": ("interop", "to_qutip"),
}
_MODULES = {"meanfield", "certificate", "engines", "diagnostics", "store", "interop", "api", "studies", "pipeline",
            "sweep", "semiclassical", "results", "estimates", "correlations"}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(import_module(f".{module}", __name__), attr)
    elif name in _MODULES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'qmeanfield' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _MODULES)


__all__ = [
    "Model",
    "compare",
    "certify",
    "eta_threshold",
    "certificate_scaling",
    "steady_state_comparison",
    "correlation",
    "spectrum",
    "to_qutip",
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

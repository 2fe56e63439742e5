"""Exceptions and warnings raised by qmeanfield.

Every error raised on bad input is a `QMeanFieldError` whose message names the
offending field and says how to fix it.
"""

from __future__ import annotations


class QMeanFieldError(ValueError):
    """Base class of all qmeanfield errors (a `ValueError`)."""


class ModelError(QMeanFieldError):
    """A model ingredient (h, V, jumps, hbar, coupling) is invalid."""


class StateError(QMeanFieldError):
    """A density matrix is invalid (shape, Hermiticity, trace, positivity)."""


class ConfigError(QMeanFieldError):
    """A configuration file or operator expression is invalid."""


class EngineError(QMeanFieldError):
    """No engine can run the request (unknown name, unsupported model, memory budget)."""


class PerformanceWarning(UserWarning):
    """A request will run, but a cheaper way exists (the warning says which)."""


class DriftWarning(UserWarning):
    """A numerical invariant (trace, Hermiticity, positivity, spectrum) drifted beyond tolerance."""

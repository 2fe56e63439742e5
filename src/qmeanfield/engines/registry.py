"""Engines registered by name, and the one readable function that picks one.

`engine="auto"` picks, among the registered engines that support (model, N), the one with
the lowest cost estimate: `dense` for the smallest N, `symmetric` for closed systems,
`permutational` for open systems beyond a few particles. Wherever an engine name is
accepted, an engine object (`SymmetricEngine(truncation=1e-9)`) is accepted too.
"""

from __future__ import annotations

import warnings
from dataclasses import fields
from typing import Mapping

from ..errors import EngineError, PerformanceWarning
from ..model import Model
from .base import Engine
from .dense import DenseEngine
from .permutational import PermutationalEngine
from .symmetric import SymmetricEngine

__all__ = ["REGISTRY", "EngineSpec", "accepted_options", "make_engine", "choose_engine", "configure_engine"]

#: name -> engine class
REGISTRY: dict[str, type] = {"dense": DenseEngine, "symmetric": SymmetricEngine,
                             "permutational": PermutationalEngine}

#: what ``engine=`` accepts: "auto", a registered name, or an engine object
EngineSpec = str | Engine


def accepted_options(name: str) -> set[str]:
    """The keyword options of a registered engine."""
    return {f.name for f in fields(REGISTRY[name]) if f.name != "name"}


def _all_options() -> str:
    return "; ".join(f"{n}: {sorted(accepted_options(n))}" for n in REGISTRY)


def make_engine(name: str, **options) -> Engine:
    """Instantiate a registered engine; an unknown or out-of-range option is refused with the accepted list."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise EngineError(f"unknown engine {name!r}; choose one of {sorted(REGISTRY)} or 'auto', "
                          "or pass an engine object such as qmeanfield.engines.SymmetricEngine(...)")
    unknown = set(options) - accepted_options(name)
    if unknown:
        raise EngineError(f"engine {name!r} does not accept the option(s) {sorted(unknown)}; "
                          f"it accepts {sorted(accepted_options(name))}")
    return REGISTRY[name](**options)


def _is_engine_object(engine) -> bool:
    return not isinstance(engine, str) and isinstance(engine, Engine)


def _as_dict(options) -> dict:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise EngineError(f"engine_options must be a mapping of option names to values, got {type(options).__name__}")
    return dict(options)


def _check_options(options) -> dict:
    options = _as_dict(options)
    unknown = set(options) - set().union(*(accepted_options(n) for n in REGISTRY))
    if unknown:
        raise EngineError(f"no engine accepts the option(s) {sorted(unknown)}; options by engine: {_all_options()}")
    return dict(options)


def configure_engine(name: str, options: Mapping | None = None) -> Engine:
    """Engine `name` with the options of `options` that it accepts (options meant for other
    engines, as in a shared `[engine]` table, are left out; options no engine accepts are refused)."""
    options = _check_options(options)
    return make_engine(name, **{k: v for k, v in options.items() if k in accepted_options(name)})


def choose_engine(model: Model, N: int, engine: EngineSpec = "auto", options: Mapping | None = None) -> Engine:
    """The engine that will run (model, N): the given object, the named one, or the cheapest that supports it.

    With a name, `options` must all be accepted by that engine; with `"auto"` each candidate
    receives the options it accepts and an option no engine accepts is refused. With an engine
    object, `options` must be empty (give them to its constructor).
    """
    if isinstance(engine, type):
        raise EngineError(f"engine={engine.__name__} is a class; pass an engine object, e.g. {engine.__name__}(), "
                          "or a name ('auto', " + ", ".join(repr(n) for n in REGISTRY) + ")")
    if not isinstance(engine, str) and not _is_engine_object(engine):
        missing = [m for m in ("name", "supports", "cost", "estimate", "evolve") if not hasattr(engine, m)]
        raise EngineError(f"engine={type(engine).__name__} object is not an engine: it lacks {missing} (an engine "
                          "implements qmeanfield.engines.Engine: name, supports, cost, estimate, evolve)")
    if _is_engine_object(engine):
        if options:
            raise EngineError("engine_options cannot be combined with an engine object; pass the options to "
                              f"its constructor, e.g. {type(engine).__name__}(memory_budget_gb=8)")
        candidates = [engine]
    elif engine == "auto":
        options = _check_options(options)
        candidates = [configure_engine(name, options) for name in REGISTRY]
    else:
        candidates = [make_engine(engine, **_as_dict(options))]
    best, reasons = None, []
    for eng in candidates:
        ok, why = eng.supports(model, N)
        if ok:
            if best is None or eng.cost(model, N) < best.cost(model, N):
                best = eng
        else:
            reasons.append(f"{eng.name}: {why}")
    if best is not None and best.name == "permutational" and engine != "auto" and not model.is_open:
        symmetric = configure_engine("symmetric", {})
        if symmetric.supports(model, N)[0] and symmetric.cost(model, N) < best.cost(model, N):
            warnings.warn(f"the model is closed: the symmetric engine runs N = {N} more cheaply than the permutational "
                          "one (engine='symmetric' or 'auto')", PerformanceWarning, stacklevel=3)
    if best is None:
        if len(candidates) == 1:
            raise EngineError(reasons[0].split(": ", 1)[1])
        raise EngineError(f"no engine can run N = {N}: " + "; ".join(reasons))
    return best

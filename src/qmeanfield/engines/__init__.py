"""N-body engines behind one small protocol, registered by name.

``engine="auto"`` picks, among the registered engines that support (model, N), the one with
the lowest cost estimate: ``dense`` for the smallest N, ``symmetric`` for closed systems,
``permutational`` for open systems beyond a few particles.
"""

from __future__ import annotations

from dataclasses import fields

from ..errors import EngineError
from ..model import Model
from .base import Engine, Trajectory
from .dense import DenseEngine
from .permutational import PermutationalEngine
from .symmetric import SymmetricEngine

__all__ = ["Engine", "Trajectory", "DenseEngine", "SymmetricEngine", "PermutationalEngine", "REGISTRY", "PLANNED", "make_engine", "choose_engine"]

#: name -> engine class
REGISTRY: dict[str, type] = {"dense": DenseEngine, "symmetric": SymmetricEngine,
                             "permutational": PermutationalEngine}
#: names reserved for engines that are not part of this version
PLANNED: tuple[str, ...] = ()


def _accepted(name: str) -> set[str]:
    return {f.name for f in fields(REGISTRY[name]) if f.name != "name"}


def make_engine(name: str, **options) -> Engine:
    """Instantiate a registered engine; unknown options are refused by the engine's constructor."""
    if name in PLANNED and name not in REGISTRY:
        raise EngineError(
            f"engine {name!r} is not available in this version; available engines: {sorted(REGISTRY)} or 'auto'"
        )
    if name not in REGISTRY:
        raise EngineError(f"unknown engine {name!r}; choose one of {sorted(REGISTRY)} or 'auto'")
    try:
        return REGISTRY[name](**options)
    except TypeError as exc:
        raise EngineError(f"engine {name!r} does not accept these options: {exc}") from None


def choose_engine(model: Model, N: int, engine: str = "auto", **options) -> Engine:
    """The engine that will run (model, N): the named one (checked) or the cheapest that supports it.

    With ``"auto"`` each engine receives the options it accepts; an option no engine accepts is refused.
    """
    if engine != "auto":
        eng = make_engine(engine, **options)
        ok, why = eng.supports(model, N)
        if not ok:
            raise EngineError(why)
        return eng
    unknown = set(options) - set().union(*(_accepted(n) for n in REGISTRY))
    if unknown:
        raise EngineError(f"no engine accepts the option(s) {sorted(unknown)}; options by engine: "
                          + "; ".join(f"{n}: {sorted(_accepted(n))}" for n in REGISTRY))
    reasons = []
    best = None
    for name in REGISTRY:
        eng = make_engine(name, **{k: v for k, v in options.items() if k in _accepted(name)})
        ok, why = eng.supports(model, N)
        if ok:
            if best is None or eng.cost(model, N) < best.cost(model, N):
                best = eng
        else:
            reasons.append(f"{name}: {why}")
    if best is None:
        raise EngineError(f"no engine can run N = {N}: " + "; ".join(reasons))
    return best

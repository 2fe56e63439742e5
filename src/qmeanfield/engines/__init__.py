"""N-body engines behind one small protocol (`.base`), registered by name (`.registry`).

`dense` (full d^N space), `symmetric` (closed, Schur-Weyl blocks), `permutational`
(open, block states). Engine objects are immutable parameter objects, accepted wherever a
name is: `qmf.compare(..., engine=SymmetricEngine(truncation=1e-9, workers=2))`.
"""

from .base import Engine, ProgressCallback, Trajectory
from .dense import DenseEngine
from .permutational import PermutationalEngine, SteadyState
from .registry import REGISTRY, EngineSpec, accepted_options, choose_engine, configure_engine, make_engine
from .symmetric import SymmetricEngine

__all__ = ["Engine", "Trajectory", "ProgressCallback", "DenseEngine", "SymmetricEngine", "PermutationalEngine",
           "SteadyState", "REGISTRY", "EngineSpec", "accepted_options", "make_engine", "choose_engine",
           "configure_engine"]

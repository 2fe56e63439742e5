"""The `[semiclassical]` table of a TOML configuration -> a validated problem and scan options.

```toml
[semiclassical]
domain = "periodic"            # or "interval"
length = 6.283185307179586
external = "0"                 # U(x)
pair = "-cos(x)"               # V(x), or "poisson"
hbar = [0.2, 0.1, 0.05, 0.025, 0.0125]
t_final = 10.0
n_times = 21
cells = [256, 256]             # optional: Vlasov / comparison grid (x, p)
dt = 0.05                      # optional: time step of both solvers
p_range = [-5.0, 5.0]          # optional: momentum window (default: energy bound + Husimi width; one that
                               # cuts mass is refused)
emd_cells = 32                 # optional: cells per side of POT's cross-check (0: skip)
w2_cells = 64                  # optional: cells per side of the W2 solver (the grid is merged down to it)
memory_budget_gb = 8.0         # optional: refuse scans whose estimated peak memory exceeds this
max_seconds = 86400            # optional: the work limit (longer estimated scans are refused; "inf": none)
[semiclassical.initial]
kind = "gaussian"              # gaussian | hmf_thermal | waterbag | expression | thermal
x0 = 0.0
p0 = 0.0
sigma_x = 0.5
sigma_p = 0.5
[semiclassical.chain]          # optional: the chain back to N bodies (periodic domains)
hbar = 1.0
modes = 2                      # d = 2 * modes + 1 Fourier modes
N = [2, 4, 8]
```
Every key is checked; unknown keys are refused with the allowed list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import number, read_toml, refuse_unknown
from ..errors import ConfigError, QMeanFieldError
from .problem import InitialData, SemiclassicalProblem
from .scan import ScanOptions

__all__ = ["SemiclassicalConfig", "ChainRequest", "parse_semiclassical", "load_semiclassical"]

_KEYS = {"domain", "length", "external", "pair", "hbar", "t_final", "n_times", "cells", "dt", "p_range", "emd_cells",
         "w2_cells", "memory_budget_gb", "max_seconds",
         "initial", "chain"}
_CHAIN_KEYS = {"hbar", "modes", "N"}
_INITIAL_KEYS = {"kind", "x0", "p0", "sigma_x", "sigma_p", "temperature", "amplitude", "mode", "p_max", "f",
                 "reference", "beta"}
_TOP = {"name", "description", "semiclassical"}


@dataclass(frozen=True)
class ChainRequest:
    """The optional [semiclassical.chain] table: project on 2 * modes + 1 Fourier modes at `hbar`
    and run the N-body comparison for each N."""

    hbar: float
    modes: int
    N: tuple[int, ...]


@dataclass(frozen=True)
class SemiclassicalConfig:
    problem: SemiclassicalProblem
    options: ScanOptions
    name: str = "semiclassical"
    description: str = ""
    chain: ChainRequest | None = None


def _num(value, field, integer=False):
    return number(value, f"semiclassical.{field}", integer=integer)


def parse_semiclassical(data: dict, name: str = "semiclassical") -> SemiclassicalConfig:
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a table")
    refuse_unknown(data, _TOP, "top level")
    sec = data.get("semiclassical")
    if not isinstance(sec, dict):
        raise ConfigError("missing section [semiclassical] (see the configuration reference)")
    refuse_unknown(sec, _KEYS, "semiclassical")
    init = sec.get("initial", {})
    if not isinstance(init, dict):
        raise ConfigError("[semiclassical.initial] must be a table")
    refuse_unknown(init, _INITIAL_KEYS, "semiclassical.initial")
    init_args = {}
    for key, value in init.items():
        if key in ("kind", "f", "reference"):
            if not isinstance(value, str):
                raise ConfigError(f"semiclassical.initial.{key} must be a string, got {value!r}")
            init_args[key] = value
        else:
            init_args[key] = _num(value, f"initial.{key}", integer=(key == "mode"))
    args = {}
    for key in ("domain", "external", "pair"):
        if key in sec:
            if not isinstance(sec[key], str):
                raise ConfigError(f"semiclassical.{key} must be a string, got {sec[key]!r}")
            args[key] = sec[key]
    for key in ("length", "t_final"):
        if key in sec:
            args[key] = _num(sec[key], key)
    if "n_times" in sec:
        args["n_times"] = _num(sec["n_times"], "n_times", integer=True)
    if "hbar" in sec:
        hb = sec["hbar"] if isinstance(sec["hbar"], list) else [sec["hbar"]]
        args["hbars"] = tuple(_num(h, "hbar") for h in hb)
    if "p_range" in sec:
        pr = sec["p_range"]
        if not isinstance(pr, list) or len(pr) != 2 or _num(pr[0], "p_range") >= _num(pr[1], "p_range"):
            raise ConfigError("semiclassical.p_range must be [p_min, p_max] with p_min < p_max")
        args["p_range"] = (float(pr[0]), float(pr[1]))
    opts = {}
    if "cells" in sec:
        c = sec["cells"]
        if not isinstance(c, list) or len(c) != 2:
            raise ConfigError("semiclassical.cells must be [Nx, Np]")
        opts["cells"] = (_num(c[0], "cells", True), _num(c[1], "cells", True))
    if "dt" in sec:
        opts["dt"] = _num(sec["dt"], "dt")
    if "emd_cells" in sec:
        opts["emd_cells"] = _num(sec["emd_cells"], "emd_cells", True)
    if "w2_cells" in sec:
        opts["w2_cells"] = _num(sec["w2_cells"], "w2_cells", True)
    if "memory_budget_gb" in sec:
        opts["memory_budget_gb"] = _num(sec["memory_budget_gb"], "memory_budget_gb")
    if "max_seconds" in sec:
        opts["max_seconds"] = float("inf") if sec["max_seconds"] == "inf" else _num(sec["max_seconds"], "max_seconds")
    chain = None
    if "chain" in sec:
        ch = sec["chain"]
        if not isinstance(ch, dict):
            raise ConfigError("[semiclassical.chain] must be a table with hbar, modes and N")
        refuse_unknown(ch, _CHAIN_KEYS, "semiclassical.chain")
        if set(ch) != _CHAIN_KEYS:
            raise ConfigError(f"[semiclassical.chain] needs all of {sorted(_CHAIN_KEYS)}, e.g. hbar = 1.0, modes = 2, "
                              "N = [2, 4, 8]")
        Ns = ch["N"] if isinstance(ch["N"], list) else [ch["N"]]
        Ns = tuple(sorted(_num(n, "chain.N", integer=True) for n in Ns))
        if not Ns or Ns[0] < 2 or len(set(Ns)) != len(Ns):
            raise ConfigError(f"semiclassical.chain.N must be distinct integers >= 2, got {list(Ns)}")
        modes = _num(ch["modes"], "chain.modes", integer=True)
        if not 1 <= modes <= 6:
            raise ConfigError(f"semiclassical.chain.modes must be in 1..6 (d = 2 modes + 1 <= 13), got {modes}")
        hb = _num(ch["hbar"], "chain.hbar")
        if not 0 < hb <= 10:
            raise ConfigError(f"semiclassical.chain.hbar must be in (0, 10], got {hb}")
        chain = ChainRequest(hbar=hb, modes=modes, N=Ns)
    try:
        problem = SemiclassicalProblem(initial=InitialData(**init_args), **args)
        options = ScanOptions(**opts)
    except ConfigError:
        raise
    except QMeanFieldError as exc:
        raise ConfigError(str(exc)) from None
    if chain is not None and problem.domain != "periodic":
        raise ConfigError("[semiclassical.chain] projects on Fourier modes: it needs domain = 'periodic'")
    return SemiclassicalConfig(problem=problem, options=options, name=str(data.get("name", name)),
                               description=str(data.get("description", "")), chain=chain)


def load_semiclassical(path) -> SemiclassicalConfig:
    return parse_semiclassical(read_toml(path), name=Path(path).stem)

r"""The continuous one-body problem in 1D: domain, external potential U, pair potential V, f0.

Conventions (docs/semiclassical.md, d = 1): mass 1, $\int f = 1$, $\mathrm{tr} R = 1$,
$h = -\tfrac{\hbar^2}{2}\partial_x^2 + U(x)$, mean-field potential $(V * \rho)(x) = \int V(x-y)\rho(y)dy$.

* `domain = "periodic"`: the torus of length L, coordinates $[-L/2, L/2)$ (the seam at
  $\pm L/2$; Wasserstein distances are taken on the strip, see `.wasserstein`).
* `domain = "interval"`: the box $[-L/2, L/2)$ with a confining U; states must vanish at
  its ends (checked).

`pair` is an expression in x (even, bounded, smooth: `"-cos(x)"`, `"exp(-x**2/2)"`,
`"1/sqrt(x**2 + 0.25)"`) or `"poisson"`: the 1D Poisson kernel of a plasma of unit mean
density, $\hat V(k) = L/k^2$ (k != 0), for the Vlasov-Poisson checks. Derivatives of U and V
are taken by the complex step (exact to round-off for the analytic expressions allowed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..expressions import evaluate_function

__all__ = ["InitialData", "SemiclassicalProblem", "DOMAINS", "INITIAL_KINDS", "COMPLEX_STEP", "COHERENT_TAIL"]

DOMAINS = ("periodic", "interval")
INITIAL_KINDS = ("gaussian", "hmf_thermal", "waterbag", "expression", "thermal")
#: coherent states must fit the domain: exp(-(L/2)^2 / (4 hbar)) <= e^-COHERENT_TAIL, i.e. hbar <= L^2 / 38.4
#: (1.03 on the 2 pi torus). The Husimi sum is cut at half the domain; at hbar = 1 on the 2 pi torus that
#: cut moves W2 by about 0.4 %, which the W2 interval does not contain (docs/semiclassical.md, Limits)
COHERENT_TAIL = 2.4
#: imaginary step of complex-step derivatives
COMPLEX_STEP = 1e-30


@dataclass(frozen=True)
class InitialData:
    r"""The phase-space density $f_0(x, p)$ (normalised to 1 on the grid).

    kind : `"gaussian"` (`x0, p0, sigma_x, sigma_p`: means and standard deviations),
        `"hmf_thermal"` (homogeneous Maxwellian of `temperature` with the perturbation
        $1 + \text{amplitude}\cos(\text{mode}\,x)$), `"waterbag"` (uniform for
        $|p| < \text{p_max}$ with the same perturbation of the density), `"expression"`
        (`f`: any non-negative expression in x and p).
    """

    kind: str = "gaussian"
    x0: float = 0.0
    p0: float = 0.0
    sigma_x: float = 0.5
    sigma_p: float = 0.5
    temperature: float = 0.25
    amplitude: float = 0.01
    mode: int = 1
    p_max: float = 1.0
    f: str = ""
    reference: str = "x**2/2"
    beta: float = 1.0

    #: the parameters each kind reads
    PARAMETERS = {"gaussian": ("x0", "p0", "sigma_x", "sigma_p"), "hmf_thermal": ("temperature", "amplitude", "mode"),
                  "waterbag": ("p_max", "amplitude", "mode"), "expression": ("f",), "thermal": ("reference", "beta")}

    def describe(self) -> str:
        """'hmf_thermal: temperature = 0.25, amplitude = 0.05, mode = 1' (the parameters its kind reads)."""
        names = self.PARAMETERS.get(self.kind, ())
        return f"{self.kind}: " + ", ".join(f"{n} = {getattr(self, n):g}" if not isinstance(getattr(self, n), str)
                                           else f"{n} = {getattr(self, n)}" for n in names)

    def __post_init__(self):
        if self.kind not in INITIAL_KINDS:
            raise ConfigError(f"semiclassical.initial.kind must be one of {list(INITIAL_KINDS)}, got {self.kind!r}")
        for name in ("sigma_x", "sigma_p", "temperature", "p_max"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"semiclassical.initial.{name} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.amplitude) and 0 <= abs(self.amplitude) < 1):
            raise ConfigError(f"semiclassical.initial.amplitude must be in (-1, 1), got {self.amplitude!r}")
        if not (isinstance(self.beta, (int, float)) and math.isfinite(self.beta) and self.beta > 0):
            raise ConfigError(f"semiclassical.initial.beta must be a finite number > 0, got {self.beta!r}")
        if self.kind == "expression" and not self.f:
            raise ConfigError("semiclassical.initial.kind = 'expression' needs f = \"...\" (an expression in x, p)")

    def density(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Unnormalised f0 on the grid x (Nx,) times p (Np,), shape (Nx, Np)."""
        X, P = np.meshgrid(x, p, indexing="ij")
        if self.kind == "gaussian":
            f = np.exp(-((X - self.x0) ** 2) / (2 * self.sigma_x**2) - (P - self.p0) ** 2 / (2 * self.sigma_p**2))
        elif self.kind == "hmf_thermal":
            f = (1 + self.amplitude * np.cos(self.mode * X)) * np.exp(-(P**2) / (2 * self.temperature))
        elif self.kind == "waterbag":
            f = (1 + self.amplitude * np.cos(self.mode * X)) * (np.abs(P) < self.p_max)
        elif self.kind == "thermal":
            U = np.real(evaluate_function(self.reference, {"x": x}, "semiclassical.initial.reference"))
            f = np.exp(-self.beta * (P**2 / 2 + (U - U.min())[:, None]))
        else:
            f = np.real(evaluate_function(self.f, {"x": X, "p": P}, "semiclassical.initial.f"))
        if np.any(f < -1e-12 * max(np.max(np.abs(f)), 1e-300)):
            raise ConfigError("semiclassical.initial: f0 is negative somewhere; a phase-space density must be >= 0")
        return np.clip(f, 0.0, None)

    def momentum_extent(self) -> tuple[float, float]:
        """A momentum interval holding f0 (beyond it f0 < 1e-16 of its maximum, or exactly 0)."""
        if self.kind == "gaussian":
            return self.p0 - 8.6 * self.sigma_p, self.p0 + 8.6 * self.sigma_p
        if self.kind == "hmf_thermal":
            s = math.sqrt(self.temperature)
            return -8.6 * s, 8.6 * s
        if self.kind == "waterbag":
            return -self.p_max, self.p_max
        if self.kind == "thermal":
            s = 1 / math.sqrt(self.beta)
            return -8.6 * s, 8.6 * s
        return (-math.inf, math.inf)


#: the longest domain (grids of at most 2048 cells resolve it) and the narrowest momentum window
MAX_LENGTH = 1e4
MIN_P_WIDTH = 1e-6


@dataclass(frozen=True)
class SemiclassicalProblem:
    """A validated continuous problem; `hbars` are the values of a scan."""

    domain: str = "periodic"
    length: float = 2 * math.pi
    external: str = "0"
    pair: str = "-cos(x)"
    initial: InitialData = field(default_factory=InitialData)
    hbars: tuple[float, ...] = (0.2, 0.1, 0.05, 0.025, 0.0125)
    t_final: float = 10.0
    n_times: int = 21
    p_range: tuple[float, float] | None = None

    def __post_init__(self):
        if self.domain not in DOMAINS:
            raise ConfigError(f"semiclassical.domain must be one of {list(DOMAINS)}, got {self.domain!r}")
        if not (math.isfinite(self.length) and 0 < self.length <= MAX_LENGTH):
            raise ConfigError(f"semiclassical.length must be a number in (0, {MAX_LENGTH:g}], got {self.length!r} (the "
                              "grids resolve the domain in cells: a longer one cannot be sampled)")
        if self.p_range is not None:
            lo, hi = self.p_range
            if not (math.isfinite(lo) and math.isfinite(hi) and hi - lo >= MIN_P_WIDTH):
                raise ConfigError(f"semiclassical.p_range must be finite with p_max - p_min >= {MIN_P_WIDTH:g}, got "
                                  f"{list(self.p_range)}")
        if not self.hbars or any(not (math.isfinite(h) and 0 < h <= 10) for h in self.hbars):
            raise ConfigError(f"semiclassical.hbar must be a non-empty list of numbers in (0, 10], got {self.hbars!r}")
        hbar_max = self.length**2 / (16 * COHERENT_TAIL)
        if max(self.hbars) > hbar_max:
            raise ConfigError(f"semiclassical.hbar = {max(self.hbars):g} is too large for length = {self.length:g}: "
                              f"coherent states no longer fit the domain (their overlap across half the domain, "
                              f"exp(-L^2/(16 hbar)), must stay below e^-{COHERENT_TAIL:g}); use hbar <= {hbar_max:.3g} "
                              "or a longer domain")
        if len(set(self.hbars)) != len(self.hbars):
            raise ConfigError(f"semiclassical.hbar contains duplicates: {list(self.hbars)}")
        if not (math.isfinite(self.t_final) and 0 < self.t_final <= 1e4):
            raise ConfigError(f"semiclassical.t_final must be in (0, 1e4], got {self.t_final!r}")
        if not (isinstance(self.n_times, int) and 2 <= self.n_times <= 1001):
            raise ConfigError(f"semiclassical.n_times must be an integer in 2..1001, got {self.n_times!r}")
        if self.pair == "poisson" and self.domain != "periodic":
            raise ConfigError("semiclassical.pair = 'poisson' needs domain = 'periodic'")
        x = np.linspace(-self.length / 2, self.length / 2, 257)
        self.external_potential(x)  # evaluate once: refuse bad expressions now
        if self.pair != "poisson":
            V = self.pair_potential(x)
            if np.max(np.abs(V - V[::-1])) > 1e-8 * max(1.0, np.max(np.abs(V))):
                raise ConfigError(f"semiclassical.pair = {self.pair!r} is not even: V(x) != V(-x)")

    @property
    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.t_final, self.n_times)

    def _field(self, text: str, x: np.ndarray, name: str) -> np.ndarray:
        return np.real(evaluate_function(text, {"x": np.asarray(x, dtype=float)}, f"semiclassical.{name}"))

    def _derivative(self, text: str, x: np.ndarray, name: str) -> np.ndarray:
        z = np.asarray(x, dtype=float) + 1j * COMPLEX_STEP
        return np.imag(evaluate_function(text, {"x": z}, f"semiclassical.{name}")) / COMPLEX_STEP

    def external_potential(self, x) -> np.ndarray:
        return self._field(self.external, x, "external")

    def external_force(self, x) -> np.ndarray:
        """-U'(x)."""
        return -self._derivative(self.external, x, "external")

    def pair_potential(self, x) -> np.ndarray:
        return self._field(self.pair, x, "pair")

    def pair_derivative(self, x) -> np.ndarray:
        return self._derivative(self.pair, x, "pair")

    def lipschitz_constants(self, samples: int = 4097) -> tuple[float, float]:
        """(Lip(U'), Lip(V')) = (max |U''|, max |V''|), by differences of the complex-step U', V'.

        U is sampled on the domain; V on the range of x - y: [-L, L] on an interval, [-L/2, L/2] on
        the torus (where x - y is taken modulo L)."""
        x = np.linspace(-self.length / 2, self.length / 2, samples)
        h = x[1] - x[0]
        lipU = float(np.max(np.abs(np.diff(self.external_force(x)) / h)))
        if self.pair == "poisson":
            return lipU, math.inf
        y = x if self.domain == "periodic" else np.linspace(-self.length, self.length, 2 * samples - 1)
        lipV = float(np.max(np.abs(np.diff(self.pair_derivative(y)) / (y[1] - y[0]))))
        return lipU, lipV

    def certificate_rate(self) -> float:
        r"""$\Lambda = 1 + \max(1, 2\,\mathrm{Lip}(U')^2 + 8\,\mathrm{Lip}(V')^2)$ (SEMICLASSICAL 2(d);
        without U this is Golse-Paul's $1 + \max(1, 4L^2)$ up to the factor on L, see the notes)."""
        lipU, lipV = self.lipschitz_constants()
        if self.external.strip() in ("0", "0.0"):
            return 1.0 + max(1.0, 4.0 * lipV**2)
        return 1.0 + max(1.0, 2.0 * lipU**2 + 8.0 * lipV**2)

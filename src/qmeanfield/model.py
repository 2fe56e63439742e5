r"""The validated, immutable `Model` (docs/theory.md, Models).

$$
H_N = \sum_j h_j + \kappa_N \sum_{i<j} V_{ij}, \qquad
\dot R_N = -\tfrac{i}{\hbar}[H_N, R_N] + \sum_j \sum_k \mathcal D_{L_k, j}(R_N)
    + \kappa_N \sum_c \mathcal D_{J(C_c)}(R_N), \qquad J(C) = \sum_j C_j.
$$

Collective jumps $\sqrt{\kappa_N} J(C)$ carry the interaction's scaling, so they have a mean-field
limit: the cross terms give the nonlinear Hamiltonian
$H_C(\rho) = \tfrac{i}{2}(\langle C^\dagger\rangle_\rho C - \langle C\rangle_\rho C^\dagger)$ in the
mean-field equation (`qmeanfield.meanfield`); their one-body part vanishes like kappa_N.
"""

from __future__ import annotations

from functools import cached_property
from dataclasses import dataclass, field

import numpy as np

from ._checks import as_square_matrix, require_hermitian
from .errors import ModelError
from .operators import swap_asymmetry

__all__ = ["Model", "COUPLINGS", "hermitian_basis"]

#: supported interaction scalings kappa_N
COUPLINGS = {"1/(N-1)": lambda N: 1.0 / (N - 1), "1/N": lambda N: 1.0 / N}


def _freeze(A: np.ndarray) -> np.ndarray:
    A = np.array(A, dtype=complex, copy=True)
    A.setflags(write=False)
    return A


def _operator_list(value, name: str, d: int) -> tuple:
    if isinstance(value, np.ndarray) and value.ndim == 2:
        raise ModelError(f"{name} must be a list of (d, d) matrices; wrap a single operator in a list")
    try:
        items = list(value) if value is not None else []
    except TypeError:
        raise ModelError(f"{name} must be a list of (d, d) matrices") from None
    return tuple(_freeze(as_square_matrix(L, f"{name}[{k}]", d, ModelError)) for k, L in enumerate(items))


def hermitian_basis(d: int) -> list[np.ndarray]:
    """An orthonormal basis (Hilbert-Schmidt) of the traceless Hermitian d x d matrices."""
    out = []
    for a in range(d):
        for b in range(a + 1, d):
            E = np.zeros((d, d), dtype=complex)
            E[a, b] = E[b, a] = 1 / np.sqrt(2)
            out.append(E)
            F = np.zeros((d, d), dtype=complex)
            F[a, b], F[b, a] = -1j / np.sqrt(2), 1j / np.sqrt(2)
            out.append(F)
    for k in range(1, d):
        D = np.zeros((d, d), dtype=complex)
        D[np.arange(k), np.arange(k)] = 1.0
        D[k, k] = -k
        out.append(D / np.sqrt(k * (k + 1)))
    return out


def _coefficient(f, name: str):
    """A real coefficient function of t, checked at t = 0."""
    if not callable(f):
        raise ModelError(f"{name} must be a function of t (a callable returning a real number), got {f!r}")
    try:
        value = f(0.0)
    except Exception as exc:  # noqa: BLE001 - the user's function: say where it failed
        raise ModelError(f"{name}(0.0) raised {type(exc).__name__}: {exc}") from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ModelError(f"{name}(0.0) must be a finite real number, got {value!r}")
    return f


def _checked(value) -> bool:
    """Pairs already checked by a Model (frozen matrices), as `dataclasses.replace` passes them."""
    return isinstance(value, tuple) and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], np.ndarray)
                                            and not x[0].flags.writeable for x in value)


def _pairs(value, name: str, what: str) -> list:
    """``value`` as a list of pairs, each refused naming ``name[k]`` unless it is one."""
    try:
        pairs = list(value)
    except TypeError:
        raise ModelError(f"{name} must be a list of pairs {what}") from None
    for k, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ModelError(f"{name}[{k}] must be a pair {what}")
    return pairs


def _drive_terms(drive, d: int) -> tuple:
    """`drive` as a tuple of (A_k frozen Hermitian matrix, f_k function): from pairs as given, or
    from a matrix-valued function decomposed on `_hermitian_basis` (its trace part commutes
    with everything and is dropped)."""
    if drive is None or _checked(drive):
        return drive or ()
    if callable(drive):
        try:
            H0 = as_square_matrix(drive(0.0), "drive(0.0)", d, ModelError)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's function
            raise ModelError(f"drive(0.0) raised {type(exc).__name__}: {exc}") from None
        require_hermitian(H0, "drive(0.0)", ModelError)
        basis = hermitian_basis(d)

        def component(B):
            return lambda t: float(np.real(np.trace(B.conj().T @ np.asarray(drive(t), dtype=complex))))

        return tuple((_freeze(B), component(B)) for B in basis)
    out = []
    for k, pair in enumerate(_pairs(drive, "drive", "(A, f): a Hermitian (d, d) matrix and a function of t")):
        A = require_hermitian(as_square_matrix(pair[0], f"drive[{k}][0]", d, ModelError), f"drive[{k}][0]", ModelError)
        out.append((_freeze(A), _coefficient(pair[1], f"drive[{k}][1]")))
    return tuple(out)


def _timed_jumps(value, d: int) -> tuple:
    """`timed_jumps` as a tuple of (L_k frozen matrix, r_k function), r_k(0) checked >= 0."""
    if value is None or _checked(value):
        return value or ()
    out = []
    for k, pair in enumerate(_pairs(value, "timed_jumps", "(L, r): a (d, d) matrix and a rate function of t")):
        L = _freeze(as_square_matrix(pair[0], f"timed_jumps[{k}][0]", d, ModelError))
        r = _coefficient(pair[1], f"timed_jumps[{k}][1]")
        if r(0.0) < 0:
            raise ModelError(f"timed_jumps[{k}][1](0.0) = {r(0.0)!r}: a rate must be >= 0")
        out.append((L, r))
    return tuple(out)


def require_model(model) -> "Model":
    """`model` itself if it is a `Model`, else a QMeanFieldError naming the field."""
    from .errors import QMeanFieldError

    if not isinstance(model, Model):
        raise QMeanFieldError(f"model must be a qmeanfield.Model, got {type(model).__name__}")
    return model


@dataclass(frozen=True, eq=False)
class Model:
    r"""A mean-field model, validated at construction.

    Parameters
    ----------
    h : (d, d) Hermitian one-body Hamiltonian.
    V : (d^2, d^2) Hermitian, swap-symmetric two-body interaction (`S V S = V`), not
        necessarily a sum of products. Use `qmeanfield.operators.symmetrize_swap` to
        symmetrise an arbitrary operator.
    jumps : one-body Lindblad operators (each d x d, arbitrary), acting on every particle; empty
        for closed systems.
    collective_jumps : d x d matrices C; each gives the N-body jump $\sqrt{\kappa_N}\sum_j C_j$
        (rates go into C, like for `jumps`). Optional.
    hbar : Planck constant, > 0.
    coupling : `"1/(N-1)"` (default) or `"1/N"`: the interaction strength kappa_N.
    drive : a time-dependent part of the one-body Hamiltonian, $h(t) = h + \sum_k f_k(t) A_k$:
        a list of pairs `(A_k, f_k)` (A_k a Hermitian (d, d) matrix or Qobj, f_k a real function
        of t), or one function `t -> (d, d)` Hermitian matrix (decomposed on an orthonormal
        Hermitian basis). None (default): a time-independent model. The drive must be smooth on
        each output interval (the integrators are of order 4); a pulse switched on abruptly
        should put an output time at the switch.
    timed_jumps : one-body jumps with a time-dependent rate: pairs ``(L_k, r_k)``, L_k a (d, d)
        matrix and r_k a function of t >= 0; particle j's dissipator is
        $r_k(t)\,\mathcal D_{L_k, j}$ (the jump $\sqrt{r_k(t)} L_k$).
    interaction : a time-dependent interaction strength g, a real function of t: the two-body
        term is $g(t)\,\kappa_N \sum_{i<j} V_{ij}$ (a ramp or a quench of the interaction).
        None (default): g = 1.
    """

    h: np.ndarray
    V: np.ndarray
    jumps: tuple = field(default=())
    hbar: float = 1.0
    coupling: str = "1/(N-1)"
    collective_jumps: tuple = field(default=())
    drive: object = None
    timed_jumps: object = None
    interaction: object = None

    def __post_init__(self):
        h = as_square_matrix(self.h, "h", error=ModelError)
        h = require_hermitian(h, "h", ModelError)
        d = h.shape[0]
        if d < 2:
            raise ModelError(f"h must be at least 2 x 2 (one-body dimension d >= 2), got {h.shape}")
        V = as_square_matrix(self.V, "V", error=ModelError)
        if V.shape != (d * d, d * d):
            raise ModelError(
                f"V must have shape (d^2, d^2) = ({d * d}, {d * d}) for h of dimension d = {d}, got {V.shape}"
            )
        V = require_hermitian(V, "V", ModelError)
        asym = swap_asymmetry(V)
        if asym > 1e-10 * max(1.0, float(np.max(np.abs(V)))):
            raise ModelError(
                f"V is not swap-symmetric (max |S V S - V| = {asym:.3g}); "
                "use qmeanfield.operators.symmetrize_swap(V) to take its symmetric part"
            )
        jumps = _operator_list(self.jumps, "jumps", d)
        collective = _operator_list(self.collective_jumps, "collective_jumps", d)
        try:
            hbar = float(self.hbar)
        except (TypeError, ValueError):
            raise ModelError(f"hbar must be a positive number, got {self.hbar!r}") from None
        if not np.isfinite(hbar) or hbar <= 0:
            raise ModelError(f"hbar must be a positive finite number, got {self.hbar!r}")
        if not isinstance(self.coupling, str) or self.coupling not in COUPLINGS:
            raise ModelError(f"coupling must be one of {sorted(COUPLINGS)}, got {self.coupling!r}")
        object.__setattr__(self, "h", _freeze(h))
        object.__setattr__(self, "V", _freeze(V))
        object.__setattr__(self, "jumps", jumps)
        object.__setattr__(self, "collective_jumps", collective)
        object.__setattr__(self, "hbar", hbar)
        object.__setattr__(self, "drive", _drive_terms(self.drive, d))
        object.__setattr__(self, "timed_jumps", _timed_jumps(self.timed_jumps, d))
        if self.interaction is not None:
            _coefficient(self.interaction, "interaction")

    @property
    def is_driven(self) -> bool:
        """True when the generator depends on time (`drive`, `timed_jumps` or `interaction`)."""
        return len(self.drive) > 0 or len(self.timed_jumps) > 0 or self.interaction is not None

    def interaction_strength(self, t: float) -> float:
        """g(t), the factor of the interaction V at time t (1 without `interaction`)."""
        if self.interaction is None:
            return 1.0
        g = float(self.interaction(t))
        if not np.isfinite(g):
            raise ModelError(f"interaction({t:g}) must be a finite real number, got {g!r}")
        return g

    def drive_coefficients(self, t: float) -> np.ndarray:
        """The drive's coefficients f_k(t), one per term of `drive` (real)."""
        return np.array([f(t) for _, f in self.drive], dtype=float)

    def rates(self, t: float) -> np.ndarray:
        """The rates r_k(t) of `timed_jumps` (>= 0; a negative value is refused)."""
        r = np.array([f(t) for _, f in self.timed_jumps], dtype=float)
        if r.size and not (np.all(np.isfinite(r)) and r.min() >= 0):
            raise ModelError(f"timed_jumps: the rates at t = {t:g} must be finite and >= 0, got {r.tolist()}")
        return r

    def time_coefficients(self, t: float) -> np.ndarray:
        """Every time-dependent coefficient: the drive's f_k(t), then the rates r_k(t), then, with
        `interaction`, g(t) - 1 (the order of the generator pieces the engines assemble: the
        time-independent generator holds V once)."""
        extra = [self.interaction_strength(t) - 1.0] if self.interaction is not None else []
        return np.concatenate([self.drive_coefficients(t), self.rates(t), extra])

    def h_at(self, t: float) -> np.ndarray:
        r"""The one-body Hamiltonian at time t: $h + \sum_k f_k(t) A_k$."""
        if not self.drive:
            return self.h
        return self.h + sum(c * A for c, (A, _) in zip(self.drive_coefficients(t), self.drive))

    @property
    def d(self) -> int:
        """One-body dimension."""
        return self.h.shape[0]

    @cached_property
    def norm_h(self) -> float:
        """Operator norm of h (its largest eigenvalue in modulus; computed once)."""
        return float(np.abs(np.linalg.eigvalsh(self.h)).max())

    @cached_property
    def norm_V(self) -> float:
        """Operator norm of V (its largest eigenvalue in modulus: V is Hermitian; computed once)."""
        return float(np.abs(np.linalg.eigvalsh(self.V)).max())

    @property
    def is_open(self) -> bool:
        """True when the model has Lindblad jumps (one-body or collective)."""
        return len(self.jumps) > 0 or len(self.collective_jumps) > 0 or len(self.timed_jumps) > 0

    def kappa(self, N: int) -> float:
        """Interaction strength kappa_N."""
        if N < 2:
            raise ModelError(f"N must be at least 2, got {N}")
        return COUPLINGS[self.coupling](N)

    def rotated(self, W: np.ndarray) -> "Model":
        r"""The same model in the one-body basis given by the columns of the unitary W:
        $h \to W^\dagger h W$, $V \to (W\otimes W)^\dagger V (W \otimes W)$, each jump
        $L \to W^\dagger L W$. A state $\rho$ of this model is $W^\dagger \rho W$
        of the rotated one (the N-body dynamics are conjugated by $W^{\otimes N}$)."""
        W = np.asarray(W, dtype=complex)
        if W.shape != (self.d, self.d) or not np.allclose(W.conj().T @ W, np.eye(self.d), atol=1e-12):
            raise ModelError(f"rotated: W must be a unitary {self.d} x {self.d} matrix")
        WW = np.kron(W, W)
        return Model(h=W.conj().T @ self.h @ W, V=WW.conj().T @ self.V @ WW,
                     jumps=tuple(W.conj().T @ L @ W for L in self.jumps), hbar=self.hbar, coupling=self.coupling,
                     collective_jumps=tuple(W.conj().T @ C @ W for C in self.collective_jumps),
                     drive=[(W.conj().T @ A @ W, f) for A, f in self.drive] or None,
                     timed_jumps=[(W.conj().T @ L @ W, r) for L, r in self.timed_jumps] or None,
                     interaction=self.interaction)

    def describe(self) -> dict:
        """Plain-number summary (for reports and dataset attributes)."""
        return {
            "d": self.d,
            "hbar": self.hbar,
            "coupling": self.coupling,
            "n_jumps": len(self.jumps),
            "n_collective_jumps": len(self.collective_jumps),
            "open": int(self.is_open),
            "driven": int(self.is_driven),
            "n_drive_terms": len(self.drive),
            "n_timed_jumps": len(self.timed_jumps),
            "interaction_in_time": int(self.interaction is not None),
            "norm_h": self.norm_h,
            "norm_V": self.norm_V,
        }

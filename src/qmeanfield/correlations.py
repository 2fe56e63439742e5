r"""Two-time correlations and spectra of collective operators (quantum regression on the
permutational engine's blocks, `qmeanfield.engines.regression`).

* `correlation`: $G(\tau) = \langle J(A)(t + \tau) J(B)(t)\rangle$ for each N, from the N-body
  steady state or from $\rho_0^{\otimes N}$ evolved to a time t.
* `spectrum`: $S(\omega) = \int_{-\infty}^{\infty} e^{-i\omega\tau}\,(\langle J(A)(\tau) J(B)(0)
  \rangle_{ss} - \langle J(A)\rangle_{ss}\langle J(B)\rangle_{ss})\,d\tau$ in the steady state (the
  incoherent part: the coherent part $2\pi\langle J(A)\rangle\langle J(B)\rangle\delta(\omega)$ is
  left out, as QuTiP's `spectrum(..., solver="pi")` does), with an error estimate (quadrature
  and the tail of the correlation beyond the last delay).
"""

from __future__ import annotations

import math
from contextlib import ExitStack

import numpy as np
import xarray as xr

from . import meanfield
from ._checks import MAX_PERIODS, check_particle_numbers, check_times
from .api import check_observables, steady_engine
from .engines.regression import Regression, collective_trace, regression
from .errors import QMeanFieldError
from .estimates import MAX_SECONDS, Estimate, check_limits
from .model import Model, require_model
from .results import model_attrs, package_version, provenance
from .states import validate_density_matrix

__all__ = ["correlation", "spectrum", "SPECTRUM_TOLERANCE", "MAX_DOUBLINGS"]

#: the correlation's tail beyond the last delay must be below this fraction of its largest value
SPECTRUM_TOLERANCE = 1e-5
#: the delays may reach 2^MAX_DOUBLINGS times their first span to reach that decay
MAX_DOUBLINGS = 8
#: samples per shortest period of the requested frequencies (Simpson; halved for the error estimate)
SAMPLES_PER_PERIOD = 16
#: most frequencies of one spectrum
MAX_FREQUENCIES = 100_000
#: entries of the phase matrix made at once by the quadrature (16 MiB of complex numbers)
TRANSFORM_ENTRIES = 2**20


def _operator(op, d: int, name: str) -> tuple[str, np.ndarray]:
    labels, mats = check_observables([op] if not isinstance(op, dict) else op, d, hermitian=False, name=name)
    if len(mats) != 1:
        raise QMeanFieldError(f"{name} must be one operator (a name such as 'sm', an expression or a matrix)")
    return labels[0], mats[0]


def _checked(model: Model, N, engine, engine_options, steady: bool):
    """The model, the particle numbers and the engine."""
    model = require_model(model)
    if model.is_driven:
        raise QMeanFieldError("correlations: a driven model has no time-independent generator; the quantum "
                              "regression of a driven model is not computed here")
    if steady and not model.is_open:
        raise QMeanFieldError("correlations in the steady state need an open model (jumps or collective_jumps); "
                              "give rho0 (and t) to start from a product state")
    return model, check_particle_numbers(N), steady_engine(engine, engine_options)


def _check_fits(eng, model: Model, Ns) -> None:
    """Every N's generator fits the engine's memory budget (checked before the first N starts)."""
    for n in Ns:
        ok, why = eng.supports(model, n)
        if not ok:
            raise QMeanFieldError(why)


def _start_state(eng, model: Model, n: int, rho0, t: float, reference):
    """The complex block vector of the steady state (rho0 None) or of rho0^(x)N at time t."""
    if rho0 is None:
        return eng.steady_state(model, n, reference=reference).full_state()
    states = eng.block_states(model, rho0, n, np.array([t]))
    next(states)        # (space, propagator)
    x = next(states)
    states.close()
    return x


def _regression_estimate(eng, model: Model, Ns, samples: int, span: float, reference, propagations: int = 2):
    """Time and memory of the start states (steady: `reference` is the fixed point or None; False:
    evolved product states) and of `propagations` real propagations over `span` per N."""
    total = None
    for n in Ns:
        e = eng.estimate(model, n, evaluations=samples, t_final=max(span, 1e-12))
        e = Estimate(e.seconds * propagations, e.bytes)
        if reference is not False:
            e = e + eng.estimate_steady(model, n, reference)
        total = e if total is None else total + e
    return total


def correlation(model: Model, N, A, B, taus, *, rho0=None, t: float = 0.0, reverse: bool = False, engine="auto",
                engine_options=None, max_seconds: float = MAX_SECONDS) -> xr.Dataset:
    r"""Two-time correlation $G(\tau) = \langle J(A)(t + \tau)\, J(B)(t)\rangle$ of the collective
    operators $J(A) = \sum_j A_j$, $J(B)$, by the quantum regression theorem (`reverse`:
    $\langle J(A)(t)\, J(B)(t + \tau)\rangle$, as QuTiP's `correlation_2op_1t(..., reverse=True)`).

    Parameters
    ----------
    model : Model
        A model that is not driven.
    N : int or list of int
        Particle numbers (each a separate N-body run on the permutational engine).
    A, B : str, array or Qobj
        One-body operators (names such as `"sp"`, `"sm"`, `"jz"`, expressions, matrices).
    taus : array
        Increasing delays >= 0.
    rho0 : array, optional
        Start from $\rho_0^{\otimes N}$ evolved to `t`; None (default): from the N-body steady
        state (an open model).
    t : float
        The time of the first operator with `rho0`.
    engine, engine_options
        The permutational engine, or its options (as for `steady_state_comparison`).
    max_seconds : float
        The work limit (the steady state's estimate is checked before it starts).

    Returns
    -------
    xarray.Dataset
        `correlation` (N, tau), complex; `mean_A`, `mean_B` (N): $\langle J(A)\rangle$,
        $\langle J(B)\rangle$ in the start state (the steady-state $G(\tau)$ tends to their
        product); the operators and the model.
    """
    steady = rho0 is None
    model, Ns, eng = _checked(model, N, engine, engine_options, steady)
    a_label, a = _operator(A, model.d, "A")
    b_label, b = _operator(B, model.d, "B")
    taus = check_times(taus, "taus")
    meanfield.check_time_span(model, taus, MAX_PERIODS)
    if not isinstance(reverse, (bool, np.bool_)):
        raise QMeanFieldError(f"reverse must be True or False, got {reverse!r}")
    reference = None
    if steady:
        fps = meanfield.fixed_points(model)
        reference = fps[0].rho if len(fps) else None
    work = _regression_estimate(eng, model, Ns, taus.size, float(taus[-1]), reference if steady else False)
    check_limits(work, f"the correlations (N = {list(Ns)})", max_seconds=max_seconds)
    _check_fits(eng, model, Ns)
    if not steady:
        rho0 = validate_density_matrix(rho0, "rho0", model.d)
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
            raise QMeanFieldError(f"t must be a finite number >= 0, got {t!r}")
    G = np.zeros((len(Ns), taus.size), dtype=complex)
    means = np.zeros((len(Ns), 2), dtype=complex)
    for k, n in enumerate(Ns):
        x = _start_state(eng, model, n, rho0, float(t), reference)
        generator = eng.generator(model, n, real=True)
        space = generator[0]
        means[k] = [collective_trace(space, a, x)[0], collective_trace(space, b, x)[0]]
        G[k] = (regression(eng, generator, x, b, a, taus, side="right") if reverse
                else regression(eng, generator, x, a, b, taus))
    return xr.Dataset(
        {"correlation": (("N", "tau"), G, {"long_name": f"<J({a_label})(t) J({b_label})(t + tau)>" if reverse else
                                                       f"<J({a_label})(t + tau) J({b_label})(t)>"}),
         "mean_A": (("N",), means[:, 0], {"long_name": f"<J({a_label})> in the start state"}),
         "mean_B": (("N",), means[:, 1], {"long_name": f"<J({b_label})> in the start state"}),
         "operator_A": (("row", "col"), a), "operator_B": (("row", "col"), b)},
        coords={"N": np.array(Ns), "tau": taus},
        attrs={**model_attrs(model), "start": "steady state" if steady else f"rho0^(x)N at t = {float(t):g}",
               "method": "quantum regression on Schur-Weyl blocks (permutational engine)",
               **provenance(), "qmeanfield_version": package_version()})


def _transform(omegas: np.ndarray, h: float, g: np.ndarray, sign: float) -> np.ndarray:
    """Trapezoid rule for $\\int_0^T e^{sign\\, i\\omega s} g(s) ds$ on the uniform grid of step h
    (the phase matrix in row chunks of at most `TRANSFORM_ENTRIES` entries)."""
    w = np.full(g.size, h)
    w[0] = w[-1] = h / 2
    s = h * np.arange(g.size)
    rows = max(1, TRANSFORM_ENTRIES // max(g.size, 1))
    return np.concatenate([np.exp(sign * 1j * np.outer(omegas[k:k + rows], s)) @ (w * g)
                           for k in range(0, omegas.size, rows)])


def spectrum(model: Model, N, A, B, omegas, *, tau_max: float | None = None, engine="auto", engine_options=None,
             tol: float = SPECTRUM_TOLERANCE, max_seconds: float = MAX_SECONDS) -> xr.Dataset:
    r"""The steady-state spectrum $S(\omega) = \int e^{-i\omega\tau} (\langle J(A)(\tau) J(B)(0)\rangle -
    \langle J(A)\rangle\langle J(B)\rangle)\, d\tau$ over all real $\tau$, for each N.

    For B = A^+ it is real and equals QuTiP's `spectrum(H, omegas, c_ops, A, B, solver="pi")`
    (which takes twice the real part of the one-sided transform, the same thing only then).

    The delays $\tau < 0$ are $\langle J(A)(0) J(B)(|\tau|)\rangle$ (stationarity), regressed from
    $R\,J(A)$. The integrals use Simpson's rule on a grid of `SAMPLES_PER_PERIOD` samples per
    period of the largest |omega|; the delays are extended span by span (the first span `tau_max`,
    default: 10 over the largest jump rate; at most 2^`MAX_DOUBLINGS` spans) until the connected
    correlation has decayed below `tol` of its largest value. For B = A^+ the negative delays are
    the conjugate of the positive ones (one propagation). `spectrum_error` adds the
    quadrature error (the difference to the same rule on every other sample: about 15 times
    Simpson's error where it is in its asymptotic regime) and the tail beyond the span (its last
    value over its observed decay rate).

    Parameters
    ----------
    model : Model
        An open model that is not driven.
    N : int or list of int
        Particle numbers.
    A, B : str, array or Qobj
        One-body operators; `A = "sp"`, `B = "sm"` gives the emission spectrum of $J_+ J_-$.
    omegas : array
        Angular frequencies.
    tau_max : float, optional
        The first span of delays (extended span by span until the correlation has decayed).
    tol : float
        The decay the correlation must reach within the span.

    Returns
    -------
    xarray.Dataset
        `spectrum` (N, omega), complex (real for B = A^+); `spectrum_error` (N, omega);
        `tau_max` (N): the span used; the steady-state means.
    """
    model, Ns, eng = _checked(model, N, engine, engine_options, steady=True)
    omegas = np.asarray(omegas, dtype=float)
    if omegas.ndim != 1 or omegas.size == 0 or not np.all(np.isfinite(omegas)):
        raise QMeanFieldError("omegas must be a non-empty list of finite frequencies")
    if omegas.size > MAX_FREQUENCIES:
        raise QMeanFieldError(f"omegas: {omegas.size} frequencies, over the limit of {MAX_FREQUENCIES}; give fewer")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise QMeanFieldError(f"tol must be in (0, 1), got {tol!r}")
    a_label, a = _operator(A, model.d, "A")
    b_label, b = _operator(B, model.d, "B")
    rates = [float(np.linalg.norm(L, 2) ** 2) for L in (*model.jumps, *model.collective_jumps)]
    fastest = max(rates) if rates and max(rates) > 0 else 1.0
    span0 = float(tau_max) if tau_max is not None else 10.0 / fastest
    if not (math.isfinite(span0) and span0 > 0):
        raise QMeanFieldError(f"tau_max must be a finite number > 0, got {tau_max!r}")
    h = min(2 * math.pi / max(float(np.max(np.abs(omegas))), 1e-300) / SAMPLES_PER_PERIOD, span0 / 64)
    longest = span0 * 2**MAX_DOUBLINGS
    meanfield.check_time_span(model, np.array([0.0, span0]), MAX_PERIODS)
    fps = meanfield.fixed_points(model)
    reference = fps[0].rho if len(fps) else None
    adjoint_pair = bool(np.array_equal(b, a.conj().T))     # negative delays are the conjugates
    # the first span (each further span costs as much; at most 2^MAX_DOUBLINGS of them)
    work = _regression_estimate(eng, model, Ns, int(span0 / h) + 1, span0, reference,
                                propagations=2 if adjoint_pair else 4)
    check_limits(work, f"the spectra (N = {list(Ns)}; the first span of delays, tau = {span0:g}, of at most "
                       f"{longest:g})", max_seconds=max_seconds)
    _check_fits(eng, model, Ns)
    S = np.zeros((len(Ns), omegas.size), dtype=complex)
    err = np.zeros((len(Ns), omegas.size))
    spans = np.zeros(len(Ns))
    means = np.zeros((len(Ns), 2), dtype=complex)
    chunk = 4 * int(math.ceil(span0 / h / 4))      # samples per span, a multiple of 4 (Simpson on h and 2h)
    for k, n in enumerate(Ns):
        x = eng.steady_state(model, n, reference=reference).full_state()
        generator = eng.generator(model, n, real=True)     # one generator for both regressions
        space = generator[0]
        mA, mB = collective_trace(space, a, x)[0], collective_trace(space, b, x)[0]
        means[k] = mA, mB
        with ExitStack() as stack:
            plus = stack.enter_context(Regression(eng, generator, x, a, b, side="left"))     # <A(s) B(0)>
            minus = None if adjoint_pair else stack.enter_context(Regression(eng, generator, x, b, a, side="right"))
            gp, gm, start = np.zeros(0, dtype=complex), np.zeros(0, dtype=complex), 0
            for _ in range(2**MAX_DOUBLINGS):
                taus = h * np.arange(start, chunk * (start // chunk + 1) + 1)
                start = chunk * (start // chunk + 1) + 1
                gp = np.concatenate([gp, plus.advance(taus) - mA * mB])
                # <A(0) B(s)> - <A><B>: for B = A^+ the conjugate of <A(s) B(0)> - <A><B>
                gm = np.conj(gp) if minus is None else np.concatenate([gm, minus.advance(taus) - mA * mB])
                scale = max(float(np.max(np.abs(gp))), float(np.max(np.abs(gm))), 1e-300)
                last = max(abs(gp[-1]), abs(gm[-1]))
                if last <= tol * scale:
                    break
            else:
                raise QMeanFieldError(f"spectrum at N = {n}: the correlation has not decayed to {tol:g} of its "
                                      f"largest value within tau = {h * (gp.size - 1):g} ({last / scale:.2g} left); "
                                      "raise tau_max or tol")
        steps = gp.size - 1
        s_end = h * steps
        trap = [_transform(omegas, h * 2**j, gp[::2**j], -1.0) + _transform(omegas, h * 2**j, gm[::2**j], +1.0)
                for j in range(3)]
        S[k] = (4 * trap[0] - trap[1]) / 3                 # Simpson's rule (Richardson of the trapezoid)
        coarse = (4 * trap[1] - trap[2]) / 3               # Simpson on 2h: its difference bounds the error
        # the tail: |g| decays like e^{-rate s}; its integral beyond the span is |g(T)| / rate
        mid = max(abs(gp[steps // 2]), abs(gm[steps // 2]), 1e-300)
        rate = math.log(mid / max(last, 1e-300)) / (s_end / 2) if mid > last else 0.0
        tail = 2 * last / rate if rate > 0 else 2 * last * s_end
        err[k] = np.abs(S[k] - coarse) + tail
        spans[k] = s_end
    return xr.Dataset(
        {"spectrum": (("N", "omega"), S, {"long_name": f"S(omega) of <J({a_label})(tau) J({b_label})(0)>, "
                                                       "incoherent part"}),
         "spectrum_error": (("N", "omega"), err, {"long_name": "quadrature error (Simpson on h against 2h) + tail "
                                                              "beyond tau_max"}),
         "tau_max": (("N",), spans, {"long_name": "span of the delays used"}),
         "mean_A": (("N",), means[:, 0]), "mean_B": (("N",), means[:, 1]),
         "operator_A": (("row", "col"), a), "operator_B": (("row", "col"), b)},
        coords={"N": np.array(Ns), "omega": omegas},
        attrs={**model_attrs(model), "delay_step": h, "tolerance": tol,
               "method": "quantum regression on Schur-Weyl blocks, Simpson's rule over the delays",
               **provenance(), "qmeanfield_version": package_version()})

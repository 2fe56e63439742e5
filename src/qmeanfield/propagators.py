"""Action of the exponential of a sparse generator on vectors or blocks of vectors."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.linalg.blas import dgemm as _dgemm
from scipy.sparse.linalg import LinearOperator, onenormest

from ._parallel import SharedThreads
from .errors import QMeanFieldError

__all__ = ["TaylorPropagator", "KrylovPropagator", "DrivenPropagator", "ThreadedProduct", "hermitian_trajectory", "HermitianOffsets", "spectral_interval",
           "bessel_table"]


#: Al-Mohy and Higham's theta_m for double precision (SIAM J. Sci. Comput. 33, 488 (2011), table 3.1):
#: a Taylor polynomial of degree m is accurate to unit roundoff on substeps with norm estimate <= theta_m
_THETA = {20: 1.44, 25: 2.43, 30: 3.54, 35: 4.7, 40: 6.0, 45: 7.2, 50: 8.5, 55: 9.9}


def _norm2(v: np.ndarray) -> float:
    """Squared 2-norm of a contiguous vector (BLAS dot; np.linalg.norm of a complex vector takes
    strided views of its real and imaginary parts, several times slower)."""
    v = v.reshape(-1)
    return float(np.vdot(v, v).real)


#: powers p = 2 .. 1 + NORM_POWERS of A whose norms are estimated for the substep plan. (Al-Mohy
#: and Higham's shift by tr(A)/n lowers the norm estimate by 25% at d = 2, N = 80 but raises the
#: products from 434 to 492: the series' early stop counts, and the shifted terms decay slower.)
NORM_POWERS = 2
#: largest generator estimated with two columns at a time (onenormest's t = 2); larger ones use
#: one: the estimator keeps about a dozen n x t arrays (2.5 GiB at n = 1.1e7, d = 2, N = 400)
NORM_BLOCK2_MAX = 2_000_000


def _column_sums(A: sp.csr_matrix, chunk: int = 2**22) -> np.ndarray:
    """The column sums of |A|, in chunks of the nonzeros (abs(A) would copy the whole matrix)."""
    sums = np.zeros(A.shape[1])
    for a in range(0, A.nnz, chunk):
        sums += np.bincount(A.indices[a:a + chunk], weights=np.abs(A.data[a:a + chunk]), minlength=A.shape[1])
    return sums


def _row_view(A: sp.csr_matrix, a: int, b: int) -> sp.csr_matrix:
    """Rows a:b of a CSR matrix sharing its data and index arrays (slicing would copy them)."""
    ptr = A.indptr[a:b + 1]
    view = sp.csr_matrix((b - a, A.shape[1]), dtype=A.dtype)
    # assigned, not passed to the constructor: it copies the arrays it is given (SciPy 1.1x)
    view.data, view.indices, view.indptr = A.data[ptr[0]:ptr[-1]], A.indices[ptr[0]:ptr[-1]], ptr - ptr[0]
    return view


#: rows per thread from which a product is split over threads
ROW_SPLIT_MIN = 50_000


class _RowSplit:
    """A sparse generator whose products are split over `threads` row blocks (SciPy releases
    the GIL in them); only generators of at least 50 000 rows per thread are split."""

    def __init__(self, A: sp.csr_matrix, threads: int):
        self.A = A
        self.nnz = int(A.nnz)
        self.matvecs = 0
        n = A.shape[0]
        self.threads = max(1, min(threads, n // ROW_SPLIT_MIN or 1))
        cuts = np.linspace(0, n, self.threads + 1).astype(int)
        self._cuts = list(zip(cuts[:-1], cuts[1:]))
        self._parts = [_row_view(A, a, b) for a, b in self._cuts] if self.threads > 1 else [A]
        self._workers = SharedThreads(self.threads)

    def _each_rows(self, fn, *args) -> list:
        """`fn(part, a, b, *args)` for each row block (rows a:b, `part` its rows of A), on the
        threads; the results in row order."""
        return self._workers.map(lambda k: fn(self._parts[k], *self._cuts[k], *args), range(self.threads))

    def column_norm(self) -> float:
        """||A||_1, the largest column sum of |A|, each row block's sums on a thread (NumPy's
        `bincount` releases the GIL: d = 2, N = 400, 3.8 s on one thread)."""
        sums = self._each_rows(lambda P, a, b: _column_sums(P))
        return float(np.max(sum(sums))) if self.A.shape[1] else 0.0

    def close(self):
        self._workers.close()


class ThreadedProduct(_RowSplit):
    """`A @ v` with the product split over `threads` row blocks (as the propagators do; only
    for at least 50 000 rows per thread), for iterative solvers. Call `close` when done."""

    def __call__(self, v: np.ndarray) -> np.ndarray:
        self.matvecs += 1
        v = np.ascontiguousarray(v).reshape(-1)
        if self.threads == 1:
            return self.A @ v
        out = np.empty(self.A.shape[0], dtype=np.result_type(self.A.dtype, v.dtype))

        self._each_rows(lambda P, a, b: _product_into(P, v, out[a:b]))
        return out


class TaylorPropagator(_RowSplit):
    r"""$e^{\tau A} v$ by truncated Taylor series on substeps (Al-Mohy and Higham's method).

    The substep count and degree are chosen once from estimates of $\|A^p\|_1^{1/p}$
    (p = 2, 3; for these generators 8-10% below $\|A\|_1$, and p = 4, 5 would gain another
    6% for 1.5x their estimation cost, measured at d = 2, N = 80); each substep's series
    stops early once two consecutive terms fall below `tol` relative to the sum. The sparse
    product is split over `threads` row blocks (SciPy releases the GIL in it).
    """

    def __init__(self, A: sp.csr_matrix, threads: int = 1, tol: float = 2.0**-53):
        super().__init__(A, threads)
        self.tol = tol
        n = A.shape[0]
        norm1 = self.column_norm()
        est = {1: norm1}
        if n > 1:
            # A^H x = conj(A^T conj(x)) through the transposed view (aslinearoperator's adjoint
            # would copy the matrix)
            AT = A.T
            op = LinearOperator(A.shape, matvec=lambda x: A @ x, matmat=lambda X: A @ X,
                                rmatvec=lambda x: (AT @ x.conj()).conj(), rmatmat=lambda X: (AT @ X.conj()).conj(),
                                dtype=A.dtype)
            power = op
            for p in range(2, 2 + NORM_POWERS):
                power = power @ op
                est[p] = min(norm1, onenormest(power, t=2 if n <= NORM_BLOCK2_MAX else 1) ** (1.0 / p))
        # alpha_p = max(d_p, d_{p+1}); the smallest over p bounds the series' convergence
        self.alpha = min([max(est[p], est[p + 1]) for p in range(1, 1 + NORM_POWERS) if p + 1 in est] or [norm1])

    def matvec(self, v: np.ndarray) -> np.ndarray:
        self.matvecs += 1
        if self.threads == 1:
            return self.A @ v
        return np.concatenate(self._each_rows(lambda P, a, b: P @ v))

    def plan(self, tau: float) -> tuple[int, int]:
        """(substeps, degree) with the fewest products for a step tau."""
        best = None
        for m, theta in _THETA.items():
            s = max(1, int(math.ceil(abs(tau) * self.alpha / theta)))
            if best is None or m * s < best[0] * best[1]:
                best = (s, m)
        return best

    def _substep(self, v: np.ndarray, h: float, degree: int, fractions=()) -> tuple[np.ndarray, list]:
        """e^{hA} v, and e^{f h A} v for each f in `fractions` (0 < f <= 1) from the same terms."""
        term = v
        out = v.copy()
        fractions = np.asarray(fractions, dtype=float)
        extra = np.empty((fractions.size, v.size), dtype=v.dtype)
        extra[:] = v.reshape(1, -1)
        # the states inside the substep take every term with the weights f^m: batched into
        # one BLAS product per few terms (many output times per substep cost little)
        adder = _Accumulator(extra, batch=8) if fractions.size else None
        small = 0
        # ||out||^2 is recomputed only when a term comes near the stopping test (it changes
        # little within a substep; a stale value only delays the stop, never advances it)
        out_norm2 = _norm2(out)
        for m in range(1, degree + 1):
            term = self.matvec(term)
            term *= h / m
            out += term
            if adder is not None:
                adder.add(term.reshape(-1), fractions**m)
            term_norm2 = _norm2(term)
            if term_norm2 <= 4 * self.tol**2 * out_norm2:
                out_norm2 = _norm2(out)
            if term_norm2 <= self.tol**2 * out_norm2:
                small += 1
                if small == 2:
                    break
            else:
                small = 0
        if adder is not None:
            adder.flush()
        return out, [e.reshape(v.shape) for e in extra]

    def __call__(self, v: np.ndarray, tau: float) -> np.ndarray:
        if tau == 0:
            return v
        s, degree = self.plan(tau)
        h = tau / s
        for _ in range(s):
            v, _ = self._substep(v, h, degree)
        return v

    def trajectory(self, v: np.ndarray, times, t0: float = 0.0):
        """Yield $e^{(t - t_0)A} v$ for each of the increasing `times` (>= t0).

        The substeps are planned for the whole span, and every output time inside a substep is
        read off the same Taylor terms (its powers of the fraction of the step), so the cost
        hardly depends on how many output times there are."""
        times = np.asarray(times, dtype=float)
        if times.size == 0:
            return
        span = float(times[-1] - t0)
        s, degree = self.plan(span) if span > 0 else (1, 20)
        h = span / s if span > 0 else 0.0
        a = t0
        i = 0
        while i < times.size:
            while i < times.size and times[i] <= a:   # outputs at the current point
                yield v.copy() if times[i] == a else v
                i += 1
            if i == times.size:
                break
            end = a + h if h > 0 else times[-1]
            inside = [j for j in range(i, times.size) if times[j] < end]
            fracs = [(times[j] - a) / (end - a) for j in inside]
            v, extra = self._substep(v, end - a, degree, fracs)
            for acc in extra:
                yield acc
            i += len(inside)
            a = end


#: Krylov dimension m of :class:`KrylovPropagator` (products per step; m + 1 vectors kept) and
#: its error target, relative to the state's norm over the whole span (shared by the steps in
#: proportion to their length)
KRYLOV_DIM, KRYLOV_TOL = 24, 1e-13
#: output states formed per pass over the basis (the states of one step are formed in groups
#: of this many, so a step over many output times holds only a few)
KRYLOV_OUTPUTS = 4


def _expm_column(H: np.ndarray, t: float) -> np.ndarray:
    """First column of exp(t H) for a small dense H."""
    return scipy.linalg.expm(t * H)[:, 0]


class KrylovPropagator(_RowSplit):
    r"""$e^{tA} v$ by Arnoldi steps (Saad 1992; step control after Sidje's Expokit).

    Each step builds the Krylov basis $V = [v_1, \dots, v_m]$ of A at the current state
    (m products; classical Gram-Schmidt, the product and both projections of each row block on
    one thread) and takes $e^{\tau A} v \approx \beta V e^{\tau H_m} e_1$ with the
    projected Hessenberg $H_m$. The step is the longest whose error estimate
    $\beta h_{m+1,m} |\tau e_m^T \varphi_1(\tau H_m) e_1|$ (from the exponential of
    $H_m$ bordered by $h_{m+1,m}$) stays below `tol` times $\beta\tau/T$
    (T the span); a rejected step is retried shorter on the same basis (no products), and
    output times inside a step are read off the same basis. Against `TaylorPropagator`
    on the open generators (d = 2, general jumps, t = 2, 105 output times): 1.5-1.7x fewer
    products (N = 120: 456 against 721), about 1.2x less time after the Gram-Schmidt passes.
    A basis that closes ($h_{j+1,j} \approx 0$) is exact for any step.
    """

    def __init__(self, A: sp.csr_matrix, threads: int = 1, m: int = KRYLOV_DIM, tol: float = KRYLOV_TOL,
                 norm: float | None = None):
        super().__init__(A, threads)
        self.m, self.tol = max(1, min(int(m), A.shape[0])), tol
        # ||A||_1 (or a bound the caller knows): the first step is 2 m / ||A||_1
        self.alpha = self.column_norm() if norm is None else float(norm)
        self.steps = self.rejected = 0
        self._complex = np.iscomplexobj(A.data)

    def _extend(self, V: np.ndarray, j: int) -> tuple[np.ndarray, float]:
        """V[j + 1] = A V[j] orthogonalised against V[:j + 1], not yet normalised; returns the
        projections and the norm."""
        w = V[j + 1]
        cplx = self._complex or np.iscomplexobj(V)

        def project(P, a, b):
            _product_into(P, V[j], w[a:b])
            if cplx:
                return (np.conj(w[a:b]) @ V[:j + 1, a:b].T).conj()
            return V[:j + 1, a:b] @ w[a:b]

        h = sum(self._each_rows(project))

        def subtract(P, a, b):
            w[a:b] -= h @ V[:j + 1, a:b]
            return _norm2(w[a:b])

        self.matvecs += 1
        return h, math.sqrt(sum(self._each_rows(subtract)))

    def _combine(self, C: np.ndarray, V: np.ndarray) -> np.ndarray:
        """C @ V (a few combinations of the basis), in column chunks taken by the row-block
        threads as they are free (NumPy's product releases the GIL)."""
        out = np.empty((C.shape[0], V.shape[1]), dtype=np.result_type(C.dtype, V.dtype))
        if self.threads == 1:
            return np.matmul(C, V, out=out)
        cuts = np.linspace(0, V.shape[1], 4 * self.threads + 1).astype(int)

        def part(ab):
            np.matmul(C, V[:, ab[0]:ab[1]], out=out[:, ab[0]:ab[1]])

        self._workers.map(part, zip(cuts[:-1], cuts[1:]))
        return out

    def __call__(self, v: np.ndarray, tau: float) -> np.ndarray:
        if tau == 0:
            return v
        *_, last = self.trajectory(v, [tau])
        return last

    def trajectory(self, v: np.ndarray, times, t0: float = 0.0):
        """Yield $e^{(t - t_0)A} v$ for each of the increasing `times` (>= t0)."""
        times = np.asarray(times, dtype=float)
        if times.size == 0:
            return
        shape = v.shape
        v = v.reshape(-1)
        n, m = v.size, self.m
        dtype = np.result_type(v.dtype, self.A.dtype)
        V = np.empty((m + 1, n), dtype=dtype)
        span = float(times[-1] - t0)
        t, i = t0, 0
        tau = 2.0 * m / max(self.alpha, 1e-300)
        while i < times.size and times[i] <= t:
            yield v.reshape(shape).copy()
            i += 1
        while i < times.size:
            beta = math.sqrt(_norm2(v))
            if beta == 0.0:
                for _ in range(i, times.size):
                    yield np.zeros(shape, dtype=dtype)
                return
            np.multiply(v, 1.0 / beta, out=V[0])
            H = np.zeros((m + 1, m + 1), dtype=dtype)
            k = m
            for j in range(m):
                h, norm = self._extend(V, j)
                H[:j + 1, j] = h
                if norm <= 1e-13 * float(np.abs(h).max(initial=0.0)) or norm == 0.0:
                    k = j + 1                   # the basis closed: exact for any step
                    break
                H[j + 1, j] = norm
                V[j + 1] /= norm
            Hk = H[:k + 1, :k + 1]              # H_k bordered by h_{k+1,k} (row k), last column 0
            remaining = float(times[-1] - t)
            tau = remaining if k < m or tau >= 0.9 * remaining else tau
            while True:
                col = _expm_column(Hk, tau)
                err = beta * abs(col[k]) if k == m else 0.0
                target = self.tol * beta * tau / span
                if err <= target:
                    break
                self.rejected += 1
                tau *= max(0.2, 0.9 * (target / err) ** (1.0 / k))
                if tau < 1e-12 * span:
                    raise RuntimeError("Krylov propagation: the step size collapsed (the error estimate "
                                       f"{err:.2g} stays above its target)")
            end = t + tau if tau < remaining else float(times[-1])
            inside = np.flatnonzero(times[i:] <= end) + i
            if inside.size:
                C = np.stack([beta * _expm_column(Hk[:k, :k], float(times[j] - t)) for j in inside])
                for c in range(0, inside.size, KRYLOV_OUTPUTS):   # a few states at a time
                    for row in self._combine(C[c:c + KRYLOV_OUTPUTS], V[:k]):
                        yield row.reshape(shape)
                i = int(inside[-1]) + 1
            v = self._combine((beta * col[:k])[None, :], V[:k])[0]
            t = end
            self.steps += 1
            if err > 0:
                tau *= min(2.0, 0.9 * (target / err) ** (1.0 / k))
            else:
                tau *= 2.0


def gershgorin_interval(H: sp.csr_matrix) -> tuple[float, float]:
    """Gershgorin's enclosure of the spectrum of the Hermitian H (guaranteed, often wide)."""
    diag = H.diagonal().real
    radius = np.asarray(abs(H).sum(axis=1)).ravel() - np.abs(diag)
    return float(np.min(diag - radius)), float(np.max(diag + radius))


def spectral_interval(H: sp.csr_matrix, margin: float = 0.02, max_steps: int = 300) -> tuple[float, float]:
    """An interval holding the spectrum of the Hermitian H: exact eigenvalues for n <= 500;
    otherwise the extreme Ritz values of a Lanczos run (from a fixed random vector, until they
    move by less than 1e-3 of the width over 10 steps) widened by `margin` of the width,
    clipped to Gershgorin's enclosure (which is guaranteed but about twice as wide for these
    block Hamiltonians, and used if Lanczos stops early). Ritz values lie inside the spectrum
    and approach its ends from within; the margin covers what is left."""
    n = H.shape[0]
    g_lo, g_hi = gershgorin_interval(H)
    if n <= 500:
        w = np.linalg.eigvalsh(H.toarray())
        return float(w[0]) - 1e-12 * (1 + abs(w[0])), float(w[-1]) + 1e-12 * (1 + abs(w[-1]))
    rng = np.random.default_rng(12345)
    v = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    v /= np.linalg.norm(v)
    v_prev = np.zeros_like(v)
    alphas, betas = [], []
    beta = 0.0
    ends = None
    for step in range(1, max_steps + 1):
        w = H @ v
        w -= beta * v_prev
        alpha = float(np.vdot(v, w).real)
        w -= alpha * v
        beta = float(np.linalg.norm(w))
        alphas.append(alpha)
        betas.append(beta)
        if beta <= 1e-10 * (abs(g_hi) + abs(g_lo)):   # invariant subspace: no view of the rest
            return g_lo, g_hi
        v_prev, v = v, w / beta
        if step % 10 == 0:
            ritz = scipy.linalg.eigvalsh_tridiagonal(np.array(alphas), np.array(betas[:-1]))
            new = (float(ritz[0]), float(ritz[-1]))
            if ends is not None and max(abs(new[0] - ends[0]), abs(new[1] - ends[1])) < 1e-3 * (new[1] - new[0]):
                ends = new
                break
            ends = new
    else:
        return g_lo, g_hi
    lo, hi = ends
    pad = margin * (hi - lo) + 1e-12 * (1 + abs(lo) + abs(hi))
    return max(g_lo, lo - pad), min(g_hi, hi + pad)


class _Accumulator:
    """`acc[j] += coef[j] * scale * vec` for every row j of `acc` (complex or real, shape
    (g, L)), with real coefficients and a scalar `scale` (complex only for a complex `acc`),
    `batch` vectors at a time as one real matrix product on the real and imaginary parts (BLAS
    dgemm, in place): one pass over `acc` per batch instead of one per vector and row."""

    def __init__(self, acc: np.ndarray, batch: int, negligible: float = 0.0):
        self.acc, self.batch, self.negligible = acc, batch, negligible
        self.vecs = np.empty((batch, acc.shape[1]), dtype=acc.dtype)
        self.coefs = np.zeros((batch, acc.shape[0]))
        self.count = 0

    def add(self, vec: np.ndarray, coef: np.ndarray, scale: complex = 1.0):
        np.multiply(vec, scale, out=self.vecs[self.count])
        self.coefs[self.count] = coef
        self.count += 1
        if self.count == self.batch:
            self.flush()

    def flush(self):
        m = self.count
        if m == 0:
            return
        self.count = 0
        # rows (times, increasing) whose coefficients are all negligible form a leading block:
        # for Chebyshev terms k well above R t the Bessel factors vanish
        big = np.flatnonzero(np.abs(self.coefs[:m]).max(axis=0) > self.negligible)
        if big.size == 0:
            return
        acc = self.acc[big[0]:].view(float)          # (g', 2L): real and imaginary parts (or real)
        vecs = self.vecs[:m].view(float)             # (m, 2L)
        # acc^T (2L x g', Fortran order) += vecs^T (2L x m) @ coefs (m x g')
        out = _dgemm(1.0, vecs.T, self.coefs[:m, big[0]:], beta=1.0, c=acc.T, overwrite_c=1)
        if not np.shares_memory(out, acc):
            acc[...] = out.T


def hermitian_trajectory(H: sp.csr_matrix, v: np.ndarray, times, hbar: float = 1.0, tol: float = 1e-15,
                         group_bytes: float = 256 * 2**20, interval: tuple[float, float] | None = None):
    r"""Yield $e^{-iHt/\hbar} v$ for the increasing `times` (>= 0), H Hermitian and sparse.

    Chebyshev expansion on the spectral interval $[c - R, c + R]$ of
    `spectral_interval`:
    $e^{-iHt} = e^{-ict} \sum_k (2 - \delta_{k0}) (-i)^k J_k(Rt)\, T_k((H - c)/R)$.
    The vectors $T_k v$ are shared by every output time of a group (as many as fit in
    `group_bytes`); the series stops once the Bessel factors fall below `tol` past
    $k > Rt$. Each group restarts from the state at its start. About $R t$ products
    in all, against several times that for a Taylor series on the same interval. `interval`
    (from `spectral_interval`) saves recomputing it when one H propagates several states.
    A group whose norms drift by more than 1e-9 (an interval that misses part of the spectrum)
    is redone on Gershgorin's enclosure.
    """
    times = np.asarray(times, dtype=float)
    lo, hi = spectral_interval(H) if interval is None else interval
    size = v.size * 16
    group = max(1, int(group_bytes // max(size, 1)))
    operator = _chebyshev_operator(H, lo, hi)    # one per interval, shared by the series
    t_start = 0.0
    i = 0
    while i < times.size:
        ts = times[i:i + group]
        acc = _chebyshev_group(operator, v, ts - t_start, hbar, tol)
        # the evolution is unitary: a norm that drifts means the interval missed part of the
        # spectrum (Lanczos has no guarantee); then redo with Gershgorin's enclosure
        v_norm = np.linalg.norm(v)
        drift = max(abs(np.linalg.norm(state) - v_norm) for state in acc)
        if drift > 1e-9 * (v_norm + 1e-300):
            g_lo, g_hi = gershgorin_interval(H)
            if (g_lo, g_hi) == (lo, hi):
                raise RuntimeError(f"Chebyshev propagation lost unitarity (norm drift {drift:.2g}) on Gershgorin's interval")
            lo, hi = g_lo, g_hi
            operator = _chebyshev_operator(H, lo, hi)
            continue
        for state in acc:
            yield state
        v = acc[-1]
        t_start = float(ts[-1])
        i += ts.size


class HermitianOffsets:
    r"""The states $e^{-iHs/\hbar} v$ for a few short offsets s of either sign (e.g. the
    stencil points around a time whose state v is known), for many v and one sparse Hermitian H.

    One Chebyshev series per v serves every offset ($J_k(-x) = (-1)^k J_k(x)$): its
    $K \approx R \max|s|/\hbar + 15$ vectors $T_k v$ are kept and combined with
    all the offsets' Bessel coefficients in one matrix product. `interval` must hold the
    spectrum of H (e.g. its exact eigenvalue range; default `spectral_interval`). A call
    raises if the norms drift by more than 1e-9 (an interval that misses part of the spectrum)."""

    def __init__(self, H: sp.csr_matrix, interval: tuple[float, float] | None = None, hbar: float = 1.0,
                 tol: float = 1e-15):
        lo, hi = spectral_interval(H) if interval is None else interval
        self.Hs, self.c, self.R = _chebyshev_operator(H, lo, hi)
        self._terms = np.empty((0, 0), dtype=complex)   # reused between calls
        self.hbar, self.tol, self.interval = hbar, tol, (lo, hi)

    def coefficients(self, offsets: np.ndarray) -> np.ndarray:
        """(K, offsets) real Chebyshev coefficients (2 - delta_k0) J_k(R s / hbar) of the vectors
        (-i)^k T_k v, up to the first order past R max|s| / hbar where all are below `tol`
        (`_series_coefficients`)."""
        x = self.R * offsets / self.hbar
        xmax = float(np.abs(x).max(initial=0.0))
        if xmax > 1900:
            raise ValueError(f"offsets up to {xmax:.3g} / (R / hbar) need over 2000 Chebyshev terms; "
                             "HermitianOffsets is for short steps, use hermitian_trajectory")
        return _series_coefficients(x, self.tol)

    def __call__(self, v: np.ndarray, offsets) -> np.ndarray:
        offsets = np.asarray(offsets, dtype=float)
        coef = self.coefficients(offsets)
        K = coef.shape[0]
        if self._terms.shape[0] < K or self._terms.shape[1] != v.size:
            self._terms = np.empty((K, v.size), dtype=complex)
        terms = self._terms[:K]
        terms[0] = v.reshape(-1)
        shape = v.shape
        if K > 1:
            np.multiply(self.Hs @ v, 0.5, out=terms[1].reshape(shape))
        for k in range(2, K):
            _recurrence_step(self.Hs, terms[k - 1].reshape(shape), terms[k - 2].reshape(shape), terms[k].reshape(shape))
        out = (coef.T @ terms.view(float)).view(complex) * np.exp(-1j * self.c * offsets / self.hbar)[:, None]
        out = out.reshape((offsets.size,) + shape)
        v_norm = np.linalg.norm(v)
        drift = max((abs(np.linalg.norm(state) - v_norm) for state in out), default=0.0)
        if drift > 1e-9 * (v_norm + 1e-300):
            raise RuntimeError(f"Chebyshev propagation lost unitarity (norm drift {drift:.2g}): the interval "
                               f"{self.interval} misses part of the spectrum")
        return out


try:   # y += A x for CSR A, in place (the public product allocates a zeroed result)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec, csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - other SciPy layouts take the public path
    _csr_matvec = _csr_matvecs = None


def _product_into(P: sp.csr_matrix, x: np.ndarray, out: np.ndarray) -> None:
    """out = P x for a vector x: in place by SciPy's kernel where the dtypes agree (no result
    array), else through the public product."""
    if _csr_matvec is not None and P.dtype == x.dtype == out.dtype:
        out[:] = 0.0
        _csr_matvec(P.shape[0], P.shape[1], P.indptr, P.indices, P.data, x, out)
    else:
        out[:] = P @ x


def _recurrence_step(A: sp.csr_matrix, x: np.ndarray, y_prev: np.ndarray, out: np.ndarray) -> None:
    """out = A x + y_prev (x, y_prev and out C-contiguous of one shape, out distinct from x): a copy
    and SciPy's in-place CSR kernel, one pass fewer than `A @ x + y_prev` and no temporary
    (1.1-1.3x per step on pentadiagonal blocks with 4-60 columns, measured)."""
    if (_csr_matvecs is None or not A.dtype == x.dtype == out.dtype
            or not (x.flags.c_contiguous and out.flags.c_contiguous)):
        np.add(A @ x, y_prev, out=out)
        return
    if out is not y_prev:
        np.copyto(out, y_prev)
    n_row, n_col = A.shape
    if x.ndim == 1:
        _csr_matvec(n_row, n_col, A.indptr, A.indices, A.data, x, out)
    else:
        _csr_matvecs(n_row, n_col, x.shape[1], A.indptr, A.indices, A.data, x.reshape(-1), out.reshape(-1))


def _chebyshev_operator(H: sp.csr_matrix, lo: float, hi: float):
    """(-2i (H - c)/R, c, R) for the spectral interval [lo, hi] = [c - R, c + R]: the operator of
    the recurrence S_{k+1} = -2i (H - c)/R S_k + S_{k-1} of the vectors S_k = (-i)^k T_k v, whose
    Chebyshev coefficients (2 - delta_k0) J_k(R t / hbar) are real."""
    c, R = (hi + lo) / 2, max((hi - lo) / 2, 1e-300)
    return ((H - c * sp.identity(H.shape[0], format="csr")) * (-2j / R)).tocsr(), c, R


#: orders past the last one needed where the backward recurrence of :func:`bessel_table` starts
BESSEL_START_MARGIN = 24


def bessel_table(x: np.ndarray, K: int) -> np.ndarray:
    r"""Bessel functions $J_k(x)$ for k = 0..K-1 and real x, shape (K, x.size).

    Miller's algorithm, vectorised over x: the recurrence $J_{k-1} = (2k/x) J_k - J_{k+1}$
    run downwards (stable that way) from zero above order K + `BESSEL_START_MARGIN`, scaled by
    $J_0 + 2\sum_k J_{2k} = 1$; negative x by $J_k(-x) = (-1)^k J_k(x)$. Meant for
    the orders a Chebyshev series needs (K past |x| and its tail), where J_K is negligible: one
    vector operation per order instead of one special-function evaluation per order and x
    (SciPy's `jv`: 20-30x slower for x in the hundreds), and as accurate: within 5e-14 of `jv`
    up to x = 3000, and $J_0^2 + 2\sum_k J_k^2 = 1$ holds to 1e-14 where `jv`'s values
    miss it by 3e-13 at x = 3000."""
    x = np.asarray(x, dtype=float).reshape(-1)
    ax = np.abs(x)
    out = np.zeros((K, x.size))
    live = ax > 0
    out[0, ~live] = 1.0
    if not live.any():
        return out
    y = ax[live]
    two_over = 2.0 / y
    table = np.zeros((K, y.size))
    after = np.zeros(y.size)                 # J_{k+1} (unnormalised)
    cur = np.full(y.size, 1e-280)            # J_k
    norm = np.zeros(y.size)
    start = K + BESSEL_START_MARGIN + int(2 * np.cbrt(K))
    start += start % 2                       # even: the order-k sums below pick the even orders
    for k in range(start, 0, -1):
        prev = k * two_over * cur - after    # J_{k-1}
        after, cur = cur, prev
        if k - 1 < K:
            table[k - 1] = prev
        if (k - 1) % 2 == 0 and k > 1:
            norm += prev
        if np.abs(prev).max() > 1e250:       # small x: rescale the columns that grew (the
            big = np.abs(prev) > 1e250       # orders above, already stored, underflow harmlessly)
            s = np.where(big, 1e-250, 1.0)
            after *= s
            cur *= s
            norm *= s
            table[k - 1:] *= s
    table /= 2.0 * norm + cur                # J_0 + 2 sum_{k >= 1} J_2k
    sign = np.where(x[live] < 0, -1.0, 1.0)
    table[1::2] *= sign
    out[:, live] = table
    return out


#: Chebyshev terms added to the states per BLAS call (the accumulation reads and writes every
#: state of the series once per call)
CHEBYSHEV_BATCH = 8


def _series_coefficients(x: np.ndarray, tol: float) -> np.ndarray:
    """The real coefficients (2 - delta_k0) J_k(x) of a Chebyshev series, (K, x.size), up to the
    first order past max|x| where all fall below `tol` (that order included)."""
    xmax = float(np.abs(x).max(initial=0.0))
    K = int(xmax + 12.0 * np.cbrt(xmax) + 40)          # well past the decay of J_k(xmax)
    while True:
        coef = bessel_table(x, K)
        coef[1:] *= 2.0
        small = np.abs(coef).max(axis=1) < tol
        small[:int(xmax) + 1] = False
        hit = np.flatnonzero(small)
        if hit.size:
            return coef[:hit[0] + 1]
        K *= 2


def _chebyshev_group(operator, v, dts, hbar, tol):
    """The states e^{-iH dt/hbar} v for the `dts` (any sign, any order), one Chebyshev series.

    The vectors S_k = (-i)^k T_k v live in a ring of `batch` rows, each written once by the
    recurrence S_{k+1} = (-2i Ht) S_k + S_{k-1} (the factor folded into the matrix), so that
    their coefficients (2 - delta_k0) J_k(x) are real (`bessel_table`, all at once); every
    `batch` terms they are added to the states in one real BLAS call on the real and imaginary
    parts (dgemm, in place, skipping the leading states whose coefficients are all negligible)."""
    Hs, c, R = operator            # from _chebyshev_operator
    x = R * dts / hbar
    table = _series_coefficients(x, tol)
    g, shape = dts.size, v.shape
    acc = np.zeros((g, v.size), dtype=complex)
    batch = CHEBYSHEV_BATCH
    ring = np.empty((batch, v.size), dtype=complex)
    negligible = 1e-3 * tol

    def flush(k0, m):
        coefs = table[k0:k0 + m]
        big = np.flatnonzero(np.abs(coefs).max(axis=0) > negligible)
        if big.size == 0:
            return
        sub = acc[big[0]:].view(float)
        # sub^T (2L x g', Fortran order) += ring^T (2L x m) @ coefs (m x g')
        out = _dgemm(1.0, ring[:m].view(float).T, coefs[:, big[0]:], beta=1.0, c=sub.T, overwrite_c=1)
        if not np.shares_memory(out, sub):
            sub[...] = out.T

    ring[0] = v.reshape(-1)
    prev = cur = 0
    slot = 0
    last = table.shape[0] - 1
    for k in range(last + 1):
        if k == 1:
            np.multiply(Hs @ v, 0.5, out=ring[slot].reshape(shape))
        elif k >= 2:
            _recurrence_step(Hs, ring[cur].reshape(shape), ring[prev].reshape(shape), ring[slot].reshape(shape))
        if slot == batch - 1 or k == last:
            flush(k - slot, slot + 1)
        prev, cur = cur, slot
        slot = (slot + 1) % batch
    acc = acc.reshape((g,) + shape)
    acc *= np.exp(-1j * c * dts / hbar).reshape((-1,) + (1,) * v.ndim)
    return acc


# ----------------------------------------------------------------------------- driven generators
#: the commutator-free Magnus integrator of order 4 with two exponentials per step (Blanes and
#: Moan 2006; Alvermann and Fehske 2011): Gauss nodes c1, c2 and the weights of A(t + c h) in the
#: first and the second exponential
CF4_NODES = (0.5 - math.sqrt(3) / 6, 0.5 + math.sqrt(3) / 6)
CF4_FIRST = (0.25 + math.sqrt(3) / 6, 0.25 - math.sqrt(3) / 6)
CF4_SECOND = (0.25 - math.sqrt(3) / 6, 0.25 + math.sqrt(3) / 6)
#: the integrator's default tolerance on the state (1-norm, relative, over the whole span)
DRIVEN_TOL = 1e-10
#: generators up to this size are exponentiated densely (scipy.linalg.expm), larger ones by Krylov
DRIVEN_DENSE_MAX = 100
#: steps per output interval at the start (the controller then adapts), most steps in all
DRIVEN_FIRST_STEPS, DRIVEN_MAX_STEPS = 4, 200_000


class DrivenPropagator:
    r"""$y' = A(t) y$ for $A(t) = A_0 + \sum_k c_k(t) A_k$ (sparse pieces, real or
    complex coefficients from `coefficients(t)`), by the commutator-free Magnus integrator of
    order 4: per step of length h,

    $$
    y \leftarrow e^{h(b_1 A(t + c_1 h) + b_2 A(t + c_2 h))}\,e^{h(a_1 A(t + c_1 h) + a_2 A(t + c_2 h))}\,y
    $$

    (`CF4_NODES`, `CF4_FIRST` = a, `CF4_SECOND` = b), each exponential by the
    Krylov propagator of that combination of the pieces (assembled once; a combination is one
    sparse sum). The step is controlled by step doubling: one step of h against two of h/2, the
    error of the better one estimated as their difference / 15 (order 4), kept below `tol`
    times h / span of the state's 1-norm; the next step grows or shrinks as the fifth root.
    Output times are hit exactly. `steps`, `rejected` and `exponentials` count the work.
    `conjugate`: the state is a matrix R moved as $R \to E R E^\dagger$ by each exponential E
    (a closed system's density matrix under $A = -iH/\hbar$, without the superoperator).
    """

    def __init__(self, pieces, coefficients, threads: int = 1, tol: float = DRIVEN_TOL, conjugate: bool = False):
        self.conjugate = bool(conjugate)
        pieces = [sp.csr_matrix(P) for P in pieces]
        self.coefficients = coefficients
        self.threads, self.tol = threads, float(tol)
        self.steps = self.rejected = self.exponentials = self.matvecs = 0
        self._norms = np.array([abs(P).sum(axis=0).max() if P.nnz else 0.0 for P in pieces], dtype=float)
        # every piece's entries on the union of their patterns, assembled once: a combination is
        # then one weighted sum of data arrays sharing the pattern (no sparse addition per step)
        union = sum((abs(P) for P in pieces[1:]), abs(pieces[0])).tocsr()
        union.sort_indices()
        self._indptr, self._indices, self._shape = union.indptr, union.indices, union.shape
        keys = np.repeat(np.arange(union.shape[0], dtype=np.int64), np.diff(union.indptr)) * union.shape[1] \
            + union.indices
        self._data = []
        for P in pieces:
            P = P.tocoo()
            at = np.searchsorted(keys, P.row.astype(np.int64) * union.shape[1] + P.col)
            data = np.zeros(union.nnz, dtype=np.result_type(P.dtype, float))
            np.add.at(data, at, P.data)
            self._data.append(data)
        self.nnz = int(union.nnz)
        self.alpha = float("nan")        # no single generator norm

    def _combination(self, c1: np.ndarray, c2: np.ndarray, weights) -> tuple[sp.csr_matrix, float]:
        """``weights[0] A(t1) + weights[1] A(t2)`` from the coefficients at the two nodes, with a
        bound on its 1-norm (from the pieces' norms)."""
        w = weights[0] * c1 + weights[1] * c2
        data = (weights[0] + weights[1]) * self._data[0]
        for wk, D in zip(w, self._data[1:]):
            if wk != 0:
                data = data + wk * D
        norm = abs(weights[0] + weights[1]) * self._norms[0] + float(np.abs(w) @ self._norms[1:])
        return sp.csr_matrix((data, self._indices, self._indptr), shape=self._shape, copy=False), norm

    def _exp(self, A: sp.csr_matrix, norm: float, v: np.ndarray, h: float) -> np.ndarray:
        r"""$e^{hA} v$ (or $E v E^\dagger$ with `conjugate`): dense for small A, else
        Krylov with 1.5 ||h A||_1 + 6 basis vectors, at most KRYLOV_DIM (the Krylov step control
        takes substeps where that is too few; R^(1) of a driven N = 40 run agrees with a run at
        tolerance 1e-13 to 8e-13)."""
        self.exponentials += 1
        if self.conjugate:
            E = scipy.linalg.expm(h * A.toarray())
            return E @ v @ E.conj().T
        if A.shape[0] <= DRIVEN_DENSE_MAX:          # small: one dense exponential beats the Krylov basis
            return scipy.linalg.expm(h * A.toarray()) @ v
        m = int(min(KRYLOV_DIM, math.ceil(1.5 * norm * h) + 6))
        prop = KrylovPropagator(A, threads=self.threads, m=m, norm=norm)
        try:
            return prop(v, h)
        finally:
            self.matvecs += prop.matvecs
            prop.close()

    def step(self, v: np.ndarray, t: float, h: float) -> np.ndarray:
        """One CF4 step from t to t + h (the coefficients evaluated once at each Gauss node)."""
        c1, c2 = (np.asarray(self.coefficients(t + node * h), dtype=float) for node in CF4_NODES)
        v = self._exp(*self._combination(c1, c2, CF4_FIRST), v, h)
        return self._exp(*self._combination(c1, c2, CF4_SECOND), v, h)

    def trajectory(self, v: np.ndarray, times, t0: float = 0.0):
        """Yield the state at each of the increasing `times` (>= t0)."""
        times = np.asarray(times, dtype=float)
        if times.size == 0:
            return
        span = max(float(times[-1] - t0), 1e-300)
        t, i = t0, 0
        h = span / max(DRIVEN_FIRST_STEPS * times.size, 1)
        while i < times.size and times[i] <= t:
            yield v.copy()
            i += 1
        while i < times.size:
            if self.steps + self.rejected > DRIVEN_MAX_STEPS:
                raise QMeanFieldError(f"the driven propagation took more than {DRIVEN_MAX_STEPS} steps to t = {t:.4g}; "
                                      "the drive varies too fast for its output times (put output times at its "
                                      "switches) or the tolerance is too tight")
            h = min(h, float(times[i] - t))
            full = self.step(v, t, h)
            half = self.step(self.step(v, t, h / 2), t + h / 2, h / 2)
            scale = max(float(np.abs(half).sum()), 1e-300)
            err = float(np.abs(half - full).sum()) / 15.0
            allowed = self.tol * scale * max(h / span, 1e-3)
            if err <= allowed:
                v, t = half, t + h
                self.steps += 1
                if abs(times[i] - t) <= 1e-14 * max(1.0, abs(t)):
                    t = float(times[i])
                    while i < times.size and times[i] <= t:
                        yield v.copy()
                        i += 1
            else:
                self.rejected += 1
            h *= min(4.0, max(0.2, 0.9 * (allowed / max(err, 1e-300)) ** 0.2))

    def close(self):
        pass

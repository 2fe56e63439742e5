"""Process pools for independent pieces of work (Schur-Weyl blocks, certificate time points)."""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def single_blas_thread() -> None:
    """Worker initialiser: one BLAS thread per process, so that workers do not oversubscribe the cores."""
    threadpool_limits(1)

"""Process pools for independent pieces of work (Schur-Weyl blocks, certificate time points), and
the same pieces on a Dask cluster (`on_client`).

Workers run with one BLAS thread each (no oversubscription) and ignore SIGINT: on Ctrl-C the
parent stops at once, terminates its workers and re-raises, instead of waiting for the running
tasks to finish. A worker whose parent was killed outright (kill -9) exits by itself within a
second.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

__all__ = ["single_blas_thread", "process_pool", "sparse_work", "return_freed_memory", "SharedThreads",
           "may_start_processes", "check_client", "on_client", "CLIENT_RETRIES"]

#: times a task on a Dask cluster is retried after it raised (a task whose worker died is
#: rescheduled by the scheduler itself)
CLIENT_RETRIES = 2


def may_start_processes() -> bool:
    """Whether this process may start worker processes: not inside a daemonic process (a Dask
    worker, a multiprocessing pool worker), where starting children fails."""
    return not multiprocessing.current_process().daemon


def check_client(client, error=ValueError):
    """`client` if it is a `dask.distributed.Client` (or behaves as one), else `error` saying how
    to make one."""
    if client is None or not (callable(getattr(client, "submit", None)) and callable(getattr(client, "gather", None))):
        raise error(f"client must be a dask.distributed.Client (e.g. Client(LocalCluster(n_workers=2)) or "
                    f"Client('tcp://scheduler:8786')), got {type(client).__name__}")
    return client


def on_client(client, fn, args: list, *, retries: int = CLIENT_RETRIES):
    """`fn(*a)` for each `a` in `args` as tasks on the Dask `client`, yielding `(index, result)`
    as each finishes (not in order). A task that raises is retried `retries` times; a task whose
    worker dies is rescheduled by the scheduler. On an error or Ctrl-C the tasks not yet finished
    are cancelled."""
    from distributed import as_completed

    futures = [client.submit(fn, *a, pure=False, retries=retries) for a in args]
    index = {f.key: k for k, f in enumerate(futures)}
    try:
        for future in as_completed(futures):
            yield index[future.key], future.result()
    finally:
        client.cancel([f for f in futures if not f.done()])


def _malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):   # not glibc: nothing to do
        return None


_TRIM = _malloc_trim()


def return_freed_memory() -> None:
    """Give memory freed by large arrays back to the system (glibc keeps freed arrays of up to
    32 MiB in its heap: after copying a sparse matrix assembled in pieces into one, the freed
    pieces would otherwise double the resident memory; measured at d = 2, N = 300: 2.8 GiB
    against 1.6 GiB). A no-op where the C library is not glibc."""
    if _TRIM is not None:
        _TRIM(0)


#: how often (seconds) a worker process checks that the process that started it still runs
PARENT_CHECK_SECONDS = 1.0


def _exit_with_parent(parent: int) -> None:
    """Exit this worker once its parent is gone (killed with -9, it cannot stop its workers:
    they would wait on its task queue for ever, holding their memory)."""
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def single_blas_thread() -> None:
    """Worker initialiser: one BLAS thread per process; Ctrl-C is the parent's to handle; the
    worker exits within `PARENT_CHECK_SECONDS` of its parent's death (a task it was running is
    lost, as the parent's are: results are written atomically)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="qmeanfield-parent-check").start()


@contextmanager
def sparse_work():
    """One BLAS thread for the duration of work dominated by sparse products and small dense
    blocks. OpenBLAS threads spin between calls; beside SciPy's (single-threaded) sparse
    products they take the second core and memory bandwidth from them: measured on 2 cores, the
    open d = 2, N = 80 propagation runs 2.9x faster with one BLAS thread (1.29 s against 3.68 s)."""
    with threadpool_limits(1, user_api="blas"):
        yield


@contextmanager
def process_pool(workers: int):
    """A process pool that is torn down immediately (workers terminated) when the body raises."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=single_blas_thread)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.terminate()
        raise
    pool.shutdown(wait=True)


class SharedThreads:
    """`threads` threads for work that releases the GIL (LAPACK through `ctypes`, NumPy and
    SciPy array operations): the calling thread and `threads - 1` pooled ones. `map`
    hands out items in order, each thread taking the next as soon as it is free, so a thread
    slowed by another process on its core takes fewer (a fixed split made the others wait for
    it: 10% slower than one thread with one core busy, d = 2, N = 80). Call `close` (or use
    `with`) when done."""

    def __init__(self, threads: int = 1):
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def map(self, fn, items, split: bool = True) -> list:
        """`[fn(item) for item in items]` on the threads (`split=False`: in the calling thread
        only); give the costliest items first. The results in the order of `items`."""
        items = list(items)
        results: list = [None] * len(items)
        if self._pool is None or not split or len(items) <= 1:
            for k, item in enumerate(items):
                results[k] = fn(item)
            return results
        order = iter(range(len(items)))
        lock = threading.Lock()
        failed = threading.Event()

        def worker() -> None:
            while not failed.is_set():
                with lock:
                    k = next(order, None)
                if k is None:
                    return
                try:
                    results[k] = fn(items[k])
                except BaseException:
                    failed.set()
                    raise

        futures = [self._pool.submit(worker) for _ in range(min(self.threads, len(items)) - 1)]
        try:
            worker()
        finally:
            for f in futures:
                f.result()
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> SharedThreads:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def consume_behind(items, fn, threads: int = 1, depth: int = 8, done=None) -> None:
    """`fn(k, item)` for each item of the iterator `items`, on `threads` background threads,
    while the calling thread produces the next items (for a producer that releases the GIL, such
    as a single-threaded propagation, and a consumer that does too: LAPACK, NumPy); calls for
    different items may run at once. At most `depth` items wait. `done(count)` is called in
    the calling thread as items finish, in order. An error on either side stops both and is
    raised here."""
    pending: deque = deque()
    finished = 0
    with ThreadPoolExecutor(max(1, int(threads))) as pool:
        try:
            for k, item in enumerate(items):
                pending.append(pool.submit(fn, k, item))
                while pending and (len(pending) > depth or pending[0].done()):
                    pending.popleft().result()
                    finished += 1
                    if done:
                        done(finished)
            while pending:
                pending.popleft().result()
                finished += 1
                if done:
                    done(finished)
        except BaseException:
            for f in pending:
                f.cancel()
            raise

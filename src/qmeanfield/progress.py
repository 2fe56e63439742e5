"""Progress reporting for long work: a rich bar on a terminal, plain periodic lines elsewhere.

`progress_bar(enabled)` is a context manager yielding `None` (disabled) or an object with
rich's `add_task(description, total=...)` and ``update(task, completed=..., advance=...,
description=...)``. When standard error is not a terminal (logs, batch jobs) the plain variant
prints one line per `PLAIN_INTERVAL_S` seconds (and at the end of each task) instead of
redrawing a bar.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager, nullcontext

__all__ = ["progress_bar", "PlainProgress", "PLAIN_INTERVAL_S"]

#: seconds between two plain progress lines
PLAIN_INTERVAL_S = 10.0


class PlainProgress:
    """A minimal stand-in for rich's Progress that prints plain lines to a stream."""

    def __init__(self, stream=None, interval: float = PLAIN_INTERVAL_S):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.tasks: dict[int, dict] = {}

    def add_task(self, description: str, total: float = 100.0) -> int:
        task = len(self.tasks)
        self.tasks[task] = {"description": description, "total": float(total), "completed": 0.0,
                            "start": time.monotonic(), "last": 0.0}
        return task

    def update(self, task: int, completed: float | None = None, advance: float | None = None,
               description: str | None = None) -> None:
        t = self.tasks[task]
        if description is not None:
            t["description"] = description
        if completed is not None:
            t["completed"] = float(completed)
        if advance is not None:
            t["completed"] += float(advance)
        now = time.monotonic()
        finished = t["completed"] >= t["total"]
        if finished or now - t["last"] >= self.interval:
            t["last"] = now
            elapsed = now - t["start"]
            frac = t["completed"] / t["total"] if t["total"] else 1.0
            eta = f", about {elapsed * (1 - frac) / frac:.0f} s left" if 0 < frac < 1 else ""
            print(f"[{elapsed:7.1f} s] {t['description']}: {100 * frac:5.1f} %{eta}", file=self.stream, flush=True)


@contextmanager
def _plain():
    yield PlainProgress()


#: ``progress=None`` (the default of the verbs) shows progress for work estimated above this many seconds
PROGRESS_AUTO_SECONDS = 5.0


def wants_progress(progress, estimated_seconds: float) -> bool:
    """`progress` as given (True/False), or for None whether the work is estimated long enough
    (over `PROGRESS_AUTO_SECONDS`) to deserve a progress display."""
    if progress is None:
        return bool(estimated_seconds > PROGRESS_AUTO_SECONDS)
    if not isinstance(progress, (bool, int)):
        from .errors import QMeanFieldError

        raise QMeanFieldError(f"progress must be True, False or None (automatic), got {progress!r}")
    return bool(progress)


def progress_bar(enabled: bool):
    """A context manager yielding a progress object, or None when `enabled` is false."""
    if not enabled:
        return nullcontext(None)
    if not sys.stderr.isatty():
        return _plain()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=False)

r"""Parameter studies: a grid of configurations, run as independent tasks on a local process pool
or on Dask (a LocalCluster, an existing scheduler, dask-jobqueue clusters), resumable and
fault-isolated, consolidated into one Dataset.

A configuration with a `[sweep]` table::

    [parameters]
    g = 0.5
    [model]
    V = "g*kron(sz, sz) + 0.2*kron(sx, sx)"
    [sweep]
    g = [0.25, 0.5, 1.0]          # any [parameters] name
    hbar = [0.5, 1.0]             # model.hbar
    seed = [1, 2]                 # model.V.random_seed
    beta = [0.5, 1.0]             # initial.beta
    engine = ["dense", "auto"]    # run.engine
    mode = "product"              # or "zip" (all lists of one length, taken together)

`study` names the verb each point runs: `"compare"` (the default), `"certify"`, `"steady"`
or `"semiclassical"` (`qmeanfield.studies`), with `study_options` its options (e.g.
`{exact = false}` for certify, `{gap = true}` for steady). A key with dots is a path into the
configuration (`"semiclassical.initial.temperature" = [0.2, 0.3]`).

Every grid point runs all of `run.N`. A task is one grid point; its key hashes everything that
determines its result (model, state, times, engine and options, N, package version). The worker
writes `DIR/tasks/<key>.nc` atomically (with key and checksum, `qmeanfield.store`); a rerun
skips verified task files, recomputes corrupted or foreign ones, and reuses points shared with a
grown grid. A failing task is recorded (`failures.json`, `status` in the Dataset) and the
others finish. `DIR/results.nc` has the sweep axes as dimensions.

Backends share one code path (futures and `as_completed`): `LocalBackend` (a process pool,
no server) and `DaskBackend` (`dask.distributed.Client`: a LocalCluster, a scheduler address
or a client you made, e.g. on a `dask_jobqueue.SLURMCluster`). The task files are written by
the workers, so a cluster needs a file system shared with the driver.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from concurrent.futures import as_completed as local_as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from ._parallel import CLIENT_RETRIES, single_blas_thread
from .config import parameters_table, read_toml
from .errors import ConfigError, QMeanFieldError
from .estimates import format_bytes, format_seconds
from .progress import progress_bar
from .results import json_number, package_version, provenance, summarize_sweep
from .store import (
    StoreError,
    begin_outputs,
    check_output_dir,
    is_file,
    load_dataset,
    make_folder,
    output_lock,
    read_json,
    save_dataset,
    write_json,
    write_manifest,
)
from .studies import Study, make_study, study_for

__all__ = ["SweepPlan", "SweepPoint", "plan_sweep", "sweep", "run_task", "LocalBackend", "DaskBackend", "status",
           "load_sweep_config", "SWEEP_KEYS"]

#: sweep keys other than [parameters] names -> where they go in the configuration
SWEEP_KEYS = {"hbar": ("model", "hbar"), "seed": ("model", "V", "random_seed"), "beta": ("initial", "beta"),
              "engine": ("run", "engine")}
MODES = ("product", "zip")
#: most grid points of one sweep
MAX_POINTS = 100_000
#: how often the tasks lost with a dead local worker are resubmitted on a fresh pool
POOL_RETRIES = 2


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its index on each axis, the values, its configuration and its task key."""

    index: tuple[int, ...]
    values: dict
    config: object | None         # the study's configuration; None: invalid (recorded as refused)
    raw: dict
    key: str


#: fixed cost of one sweep task beyond its study's run (a worker's imports, the task file written
#: and verified), measured with examples/sweep.toml
TASK_OVERHEAD_SECONDS = 0.3


@dataclass(frozen=True)
class SweepPlan:
    name: str
    axes: dict                      # axis name -> list of values (product) or the zipped lists (zip)
    mode: str
    points: tuple[SweepPoint, ...]
    study: Study
    description: str = ""
    refused: dict = field(default_factory=dict)   # point key -> reason (checked before submission)
    estimated_seconds: dict = field(default_factory=dict)   # point key -> rough time of one task (2 cores)

    def estimated_work(self, points=None) -> float:
        """Rough seconds on one worker (2-core machine) of `points` (default: every point not
        refused), each its study's estimate plus `TASK_OVERHEAD_SECONDS`."""
        points = [p for p in self.points if p.key not in self.refused] if points is None else points
        return sum(TASK_OVERHEAD_SECONDS + self.estimated_seconds.get(p.key, 0.0) for p in points)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axes.values()) if self.mode == "product" else (len(self.points),)


def _set(raw: dict, path: tuple[str, ...], value) -> None:
    node = raw
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"sweep: cannot set {'.'.join(path)}: {key} is not a table")
    node[path[-1]] = value


def task_key(study: Study, cfg) -> str:
    """The key of one grid point: the study with its options, its key of `cfg` and the particle numbers."""
    h = hashlib.sha256(f"{study!r}|{study.key(cfg)}|{list(getattr(cfg, 'N', ()))}|{package_version()}".encode())
    return h.hexdigest()[:20]


def _study(sec: dict) -> Study:
    """The study named by `sweep.study` (default: from the configuration) with `sweep.study_options`."""
    options = sec.pop("study_options", {})
    if not isinstance(options, dict):
        raise ConfigError("sweep.study_options must be a table, e.g. study_options = {exact = false}")
    name = sec.pop("study", None)
    if name is None:
        if options:
            raise ConfigError("sweep.study_options needs sweep.study (the study they configure)")
        return None
    return make_study(name, **options)


def _axes(data: dict) -> tuple[dict, str, Study]:
    sec = data.get("sweep")
    if not isinstance(sec, dict) or not sec:
        raise ConfigError("a sweep needs a [sweep] table of lists, e.g. g = [0.25, 0.5, 1.0]")
    sec = dict(sec)
    study = _study(sec) or study_for(data)
    mode = sec.pop("mode", "product")
    if mode not in MODES:
        raise ConfigError(f"sweep.mode must be one of {list(MODES)}, got {mode!r}")
    params = parameters_table(data)
    axes = {}
    for key, values in sec.items():
        if key == "N":
            raise ConfigError("sweep.N: every grid point runs all of run.N (N is already a dimension); "
                              "put the particle numbers in run.N")
        if key not in params and key not in SWEEP_KEYS and "." not in key:
            raise ConfigError(f"sweep.{key}: not a [parameters] name nor one of {sorted(SWEEP_KEYS)} nor a dotted "
                              f"path into the configuration; parameters: {sorted(params) or 'none'}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key} must be a non-empty list of values")
        for v in values:
            if "." in key and isinstance(v, str):
                continue
            if key == "engine":
                if not isinstance(v, str):
                    raise ConfigError(f"sweep.engine values must be engine names, got {v!r}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"sweep.{key} values must be finite numbers, got {v!r}")
        if len(set(values)) != len(values):
            raise ConfigError(f"sweep.{key} contains duplicates: {values}")
        axes[key] = list(values)
    if mode == "zip" and len({len(v) for v in axes.values()}) > 1:
        raise ConfigError("sweep.mode = 'zip' needs lists of one length, got "
                          + ", ".join(f"{k}: {len(v)}" for k, v in axes.items()))
    if not axes:
        raise ConfigError("a sweep needs at least one list to sweep, e.g. g = [0.25, 0.5, 1.0]")
    return axes, mode, study


def plan_sweep(data: dict, name: str = "sweep", check_memory_gb: float | None = None) -> SweepPlan:
    """Expand the grid, parse and plan every point's configuration (before any work). With
    `check_memory_gb`, a point whose estimated peak memory exceeds it is refused."""
    axes, mode, study = _axes(data)
    count = math.prod(len(v) for v in axes.values()) if mode == "product" else len(next(iter(axes.values())))
    if count > MAX_POINTS:
        raise ConfigError(f"the sweep has {count} points, over the limit of {MAX_POINTS}")
    params = parameters_table(data)
    base = {k: v for k, v in data.items() if k != "sweep"}
    if mode == "product":
        combos = itertools.product(*(list(enumerate(v)) for v in axes.values()))
    else:
        combos = (tuple((i, v[i]) for v in axes.values()) for i in range(count))
    points, refused, estimates = [], {}, {}
    for combo in combos:
        index = tuple(i for i, _ in combo) if mode == "product" else (combo[0][0],)
        values = {k: v for k, (_, v) in zip(axes, combo)}
        raw = copy.deepcopy(base)
        for k, v in values.items():
            if k in params:
                _set(raw, ("parameters", k), float(v))
            else:
                _set(raw, SWEEP_KEYS.get(k, tuple(k.split("."))), v)
        try:
            cfg = study.load(raw, name)
        except QMeanFieldError as exc:  # an invalid point is recorded, the others run
            key = "invalid-" + hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:12]
            refused[key] = f"{type(exc).__name__}: {exc}"
            points.append(SweepPoint(index=index, values=values, config=None, raw=raw, key=key))
            continue
        key = task_key(study, cfg)
        try:
            estimate = study.plan(cfg).estimate
            estimates[key] = float(estimate.seconds)
            if check_memory_gb and estimate.bytes > check_memory_gb * 2**30:
                refused[key] = (f"MemoryBudget: the point needs {format_bytes(estimate.bytes)}, over the "
                                f"{check_memory_gb:.3g} GiB each worker has; use fewer workers or a larger machine")
        except QMeanFieldError as exc:
            refused[key] = f"{type(exc).__name__}: {exc}"
        points.append(SweepPoint(index=index, values=values, config=cfg, raw=raw, key=key))
    if not any(p.config is not None for p in points):
        raise ConfigError("no point of the sweep is a valid configuration: " + next(iter(refused.values())))
    return SweepPlan(name=str(data.get("name", name)), axes=axes, mode=mode, points=tuple(points), study=study,
                     description=str(data.get("description", "")), refused=refused, estimated_seconds=estimates)


def load_sweep_config(path, check_memory_gb: float | None = None) -> SweepPlan:
    return plan_sweep(read_toml(path), name=Path(path).stem, check_memory_gb=check_memory_gb)


# ----------------------------------------------------------------------------- the task

def run_task(study: Study, raw: dict, name: str, key: str, path: str) -> dict:
    """One grid point, in a worker: the study's run, its Dataset written atomically to `path` with
    `key`. Returns a small status dict; exceptions are caught and reported, never raised."""
    t0 = time.perf_counter()
    try:
        ds = study.run(study.load(raw, name)).dataset
        ds.attrs["wall_seconds"] = time.perf_counter() - t0
        save_dataset(ds, path, key=key)
        return {"key": key, "status": "done", "wall_seconds": time.perf_counter() - t0}
    except Exception as exc:  # noqa: BLE001 - isolate the failure, report it
        return {"key": key, "status": "failed", "error_type": type(exc).__name__, "message": str(exc),
                "wall_seconds": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- backends

class LocalBackend:
    """A process pool on this machine (one BLAS thread per worker), no server."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.pool = None

    def __enter__(self):
        self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=single_blas_thread)
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=exc[0] is None, cancel_futures=exc[0] is not None)

    def restart(self) -> None:
        """A fresh pool after a worker died (the old one is broken)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=single_blas_thread)

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def as_completed(self, futures):
        return local_as_completed(futures)

    def describe(self) -> str:
        return f"local process pool, {self.workers} worker(s)"


class DaskBackend:
    """Dask: `client` (a `dask.distributed.Client`), or `address` of a scheduler, or a
    `LocalCluster` of `workers` processes (one thread each)."""

    def __init__(self, client=None, address: str | None = None, workers: int | None = None):
        self.client, self.address, self.workers = client, address, workers
        self._own = None

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise QMeanFieldError("Dask is not installed: pip install 'qmeanfield[dask]'") from None
        if self.client is None:
            if self.address:
                self.client = self._own = Client(self.address)
            else:
                cluster = LocalCluster(n_workers=self.workers or os.cpu_count() or 1, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
                self.client = self._own = Client(cluster)
        return self

    def __exit__(self, *exc):
        if self._own is not None:
            cluster = getattr(self._own, "cluster", None)
            self._own.close()
            if cluster is not None and not self.address:
                cluster.close()

    def restart(self) -> None:
        """Nothing to do: Dask retries a task whose worker died by itself."""

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False, retries=CLIENT_RETRIES)

    def as_completed(self, futures):
        from distributed import as_completed

        return as_completed(futures)

    def describe(self) -> str:
        if self.client is not None and self._own is None:
            return f"Dask ({self.client})"
        if self.address:
            return f"Dask, scheduler at {self.address}"
        return f"Dask LocalCluster, {self.workers or os.cpu_count() or 1} worker process(es)"


# ----------------------------------------------------------------------------- the driver

def _task_path(out: Path, key: str) -> Path:
    return out / "tasks" / f"{key}.nc"


def _task_view(study: Study, ds: xr.Dataset) -> xr.Dataset:
    """What consolidation keeps of a task: the study's sweep view, with its wall time."""
    view = study.sweep_view(ds)
    view["wall_seconds"] = xr.DataArray(float(ds.attrs.get("wall_seconds", np.nan)),
                                        attrs={"long_name": "wall time of the task", "units": "s"})
    return view


def _verified(out: Path, study: Study, key: str, log) -> xr.Dataset | None:
    """The finished task's view (`_task_view`), read and verified (key and checksum), or
    None when it must be computed."""
    path = _task_path(out, key)
    if not is_file(path):
        return None
    try:
        return _task_view(study, load_dataset(path, key=key))
    except StoreError as exc:
        log(f"task {key}: {exc}; recomputing")
        return None


def _worker_memory_gb(workers: int) -> float:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 4.0
    return max(0.5, 0.8 * total / max(workers, 1))


def sweep(config, out, *, backend=None, workers: int | None = None, client=None, progress: bool = False,
          log=None, force: bool = False) -> xr.Dataset:
    """Run the sweep of `config` (a TOML path or a mapping) into `out`; return the consolidated Dataset.

    `backend`: a `LocalBackend` / `DaskBackend`, or None (a `client` gives Dask on it;
    otherwise a local pool of `workers`, default all cores). Finished, verified tasks are never
    recomputed. Failures are recorded in `failures.json` and the Dataset's `status`. `out`
    must be new, empty or an earlier sweep's folder (`force`: any folder); it is locked while
    the sweep writes into it.
    """
    if backend is not None and not hasattr(backend, "submit"):
        raise QMeanFieldError(f"backend must be a LocalBackend or a DaskBackend, got {backend!r}")
    if not isinstance(config, (str, Path, dict)):
        raise QMeanFieldError(f"config must be a TOML path or a mapping, got {type(config).__name__}")
    log = log or (lambda msg: None)
    if backend is None:
        backend = DaskBackend(client=client) if client is not None else LocalBackend(workers)
    n_workers = getattr(backend, "workers", None) or os.cpu_count() or 1
    mem = _worker_memory_gb(n_workers)
    plan = (load_sweep_config(config, check_memory_gb=mem) if isinstance(config, (str, Path))
            else plan_sweep(config, check_memory_gb=mem))
    out = check_output_dir(out, force=force)
    with output_lock(out):
        return _sweep_locked(plan, out, backend, progress, log)


def _sweep_locked(plan: SweepPlan, out: Path, backend, progress: bool, log) -> xr.Dataset:
    begin_outputs(out)
    make_folder(out / "tasks")
    write_json(out / "sweep.json", _plan_json(plan))
    failures = {k: {"key": k, "status": "refused", "message": why} for k, why in plan.refused.items()}
    finished = {}   # verified once here, reused when consolidating
    for p in plan.points:
        if p.key not in failures and (view := _verified(out, plan.study, p.key, log)) is not None:
            finished[p.key] = view
    pending = [p for p in plan.points if p.key not in failures and p.key not in finished]
    log(f"sweep {plan.name} ({plan.study.name}): {len(plan.points)} points ({len(finished)} already done, {len(failures)} refused before "
        f"submission, {len(pending)} to run) on {backend.describe()}")
    seconds = []
    if pending:
        log(f"estimated time of the pending tasks: {format_seconds(plan.estimated_work(pending))} on one worker "
            "(rough, within a factor of about 3; divide by the workers)")
        with backend, progress_bar(progress) as prog:
            task = prog.add_task("sweep", total=len(pending)) if prog else None
            for attempt in range(POOL_RETRIES + 1):
                futures = {backend.submit(run_task, plan.study, p.raw, plan.name, p.key,
                                          str(_task_path(out, p.key))): p for p in pending}
                lost = []
                for fut in backend.as_completed(list(futures)):
                    p = futures[fut]
                    try:
                        res = fut.result()
                    except BrokenProcessPool:    # a worker died: every task of the pool is lost, not failed
                        lost.append(p)
                        continue
                    except Exception as exc:  # noqa: BLE001 - a lost worker after retries
                        res = {"key": p.key, "status": "failed", "error_type": type(exc).__name__, "message": str(exc)}
                    if res["status"] != "done":
                        failures[p.key] = {**res, "values": p.values}
                        log(f"point {p.values}: failed ({res.get('error_type')}: {res.get('message')})")
                    else:
                        seconds.append(res["wall_seconds"])
                    if prog:
                        prog.update(task, advance=1)
                if not lost:
                    break
                if attempt < POOL_RETRIES:
                    log(f"a worker process died: {len(lost)} task(s) resubmitted on a fresh pool")
                    backend.restart()
                    pending = lost
                else:
                    for p in lost:
                        failures[p.key] = {"key": p.key, "status": "failed", "error_type": "BrokenProcessPool",
                                           "message": f"a worker process died {POOL_RETRIES + 1} times while this "
                                                      "point was pending", "values": p.values}
    for key, item in failures.items():
        item.setdefault("values", next(p.values for p in plan.points if p.key == key))
    write_json(out / "failures.json", list(failures.values()))
    ds = consolidate(plan, out, failures, finished)
    save_dataset(ds, out / "results.nc", key=hashlib.sha256(json.dumps(_plan_json(plan)).encode()).hexdigest()[:20])
    from .report.sweep import write_sweep_report

    summary = summarize_sweep(ds)
    write_json(out / "summary.json", summary.to_dict())
    files = write_sweep_report(ds, summary, out, title=f"sweep: {plan.name}", description=plan.description)
    write_manifest(out, ["results.nc", "summary.json", "failures.json", "sweep.json", *files],
                   {"name": plan.name, "qmeanfield_version": package_version()})
    return ds


def _plan_json(plan: SweepPlan) -> dict:
    return {"name": plan.name, "study": plan.study.name, "mode": plan.mode, "axes": plan.axes,
            "points": [{"key": p.key, "index": list(p.index), "values": p.values} for p in plan.points],
            "qmeanfield_version": package_version()}


def consolidate(plan: SweepPlan, out: Path, failures: dict, finished: dict | None = None) -> xr.Dataset:
    """One Dataset: the sweep axes (or `point` for zip) beside each task's own dimensions (its
    study's sweep view), NaN and `status` for the points without a result.
    `finished`: task views already read and verified (key -> Dataset), not read again."""
    finished = dict(finished or {})
    status = {}
    for p in plan.points:
        if p.key in failures:
            status[p.key] = failures[p.key]["status"]
            continue
        if p.key not in finished:
            try:
                finished[p.key] = _task_view(plan.study, load_dataset(_task_path(out, p.key), key=p.key))
            except StoreError:
                status[p.key] = "pending"
                continue
        status[p.key] = "done"
    done = [finished[p.key] for p in plan.points if status[p.key] == "done"]
    template = (done[0].map(lambda v: v * np.nan, keep_attrs=True) if done
                else xr.Dataset({"wall_seconds": xr.DataArray(np.nan)}))
    parts = []
    for p in plan.points:
        part = finished[p.key] if status[p.key] == "done" else template
        parts.append(part.assign(status=xr.DataArray(status[p.key])))
    ds = xr.concat(parts, dim="point", join="outer", data_vars="all", coords="minimal", compat="override",
                   combine_attrs="drop_conflicts", fill_value=np.nan)
    for k, v in plan.axes.items():
        ds = ds.assign_coords({k: ("point", np.array([p.values[k] for p in plan.points]))})
    if plan.mode == "product":
        ds = ds.set_index(point=list(plan.axes)).unstack("point") if len(plan.axes) > 1 \
            else ds.swap_dims(point=next(iter(plan.axes)))
        ds = ds.reindex({k: np.array(v) for k, v in plan.axes.items()})
        ds = ds.transpose(*plan.axes, ...)
    else:
        ds = ds.assign_coords(point=np.arange(len(plan.points)))
    ds["status"] = ds.status.fillna("pending").astype(str).assign_attrs(long_name="done | failed | refused | pending")
    ds.attrs = {"name": plan.name, "study": plan.study.name, "mode": plan.mode, "axes": json.dumps(plan.axes),
                "headline": json.dumps([h for h in plan.study.headline if h in ds]),
                **provenance(), "qmeanfield_version": package_version()}
    return ds


def _read_status_file(path: Path, what: str):
    try:
        return read_json(path)
    except StoreError as exc:
        raise QMeanFieldError(f"{exc} ({what}); rerun the sweep to rewrite it") from None


def status(out) -> dict:
    """Done / failed / pending counts of a sweep folder, the estimated time left (mean task time
    times pending tasks, on one worker) and whether the sweep is complete (its results.nc, report
    and manifest written)."""
    out = Path(out)
    if not is_file(out / "sweep.json"):
        raise QMeanFieldError(f"{out}: no sweep.json (not a sweep folder, or the sweep never started)")
    plan = _read_status_file(out / "sweep.json", "the sweep's plan")
    points = plan.get("points") if isinstance(plan, dict) else None
    if not isinstance(points, list) or not all(isinstance(p, dict) and isinstance(p.get("key"), str) for p in points):
        raise QMeanFieldError(f"{out / 'sweep.json'}: not a sweep plan (no list of points with keys); rerun the "
                              "sweep to rewrite it")
    failed = set()
    if is_file(out / "failures.json"):
        failures = _read_status_file(out / "failures.json", "the list of failed points")
        if not isinstance(failures, list):
            raise QMeanFieldError(f"{out / 'failures.json'}: not a list of failures; rerun the sweep to rewrite it")
        failed = {f["key"] for f in failures if isinstance(f, dict) and isinstance(f.get("key"), str)}
    done, seconds = 0, []
    for p in points:
        path = _task_path(out, p["key"])
        if is_file(path):
            try:
                ds = load_dataset(path, key=p["key"])
                done += 1
                seconds.append(float(ds.attrs.get("wall_seconds", np.nan)))
            except StoreError:
                pass
    total = len(points)
    n_failed = len(failed)
    pending = max(total - done - n_failed, 0)
    mean = float(np.nanmean(seconds)) if seconds else float("nan")
    missing = [f for f in ("results.nc", "summary.json", "sweep.html", "manifest.json") if not is_file(out / f)]
    return {"name": str(plan.get("name", out.name)), "points": total, "done": done, "failed": n_failed,
            "pending": pending, "mean_wall_seconds": json_number(mean),
            "estimated_seconds_left_one_worker": json_number(mean * pending) if seconds else None,
            "complete": not missing, "missing": missing}

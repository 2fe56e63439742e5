"""Configurations to files: ``run`` (compare), ``certify`` and ``steady``, each resumable or atomic.

Every pipeline checks everything before computing (configuration, every N's engine, the
output folder), marks the folder's outputs as in progress (removes ``manifest.json``), writes
each file atomically through :mod:`qmeanfield.store`, and writes the manifest last, so a folder
holds either a complete, listed run or visibly incomplete outputs.

``run_to_directory`` computes each particle number on its own and saves it under
``OUT/.partial/<fingerprint>/N<n>.nc`` with the key ``<fingerprint>/N<n>`` before the next
starts; the fingerprint hashes everything that determines the numbers (model, initial state,
times, engine and options, package version). A rerun reuses a saved N only after verifying its
checksum and key; a corrupted, truncated or foreign file is reported in one line and recomputed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import xarray as xr

from . import meanfield
from .api import (certify, compare, estimate_certificate_seconds, estimate_steady_seconds, format_seconds,
                  plan_comparison, steady_state_comparison)
from .certificate import eta_grid
from .config import RunConfig
from .results import package_version, summarize_certificate, summarize_comparison, summarize_steady
from .store import StoreError, begin_outputs, check_output_dir, load_dataset, save_dataset, write_json, write_manifest

__all__ = ["run_to_directory", "certify_to_directory", "steady_to_directory", "semiclassical_to_directory",
           "fingerprint", "OUTPUT_FILES"]

OUTPUT_FILES = ("results.nc", "summary.json", "report.html")


def fingerprint(cfg: RunConfig) -> str:
    """A short hash of everything that determines the results of ``cfg`` (not its name or N list)."""
    h = hashlib.sha256()
    for arr in (cfg.model.h, cfg.model.V, *cfg.model.jumps, *cfg.model.collective_jumps, cfg.rho0, cfg.times):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(json.dumps([cfg.model.hbar, cfg.model.coupling, len(cfg.model.jumps), len(cfg.model.collective_jumps),
                         cfg.engine, list(cfg.marginals), sorted(cfg.engine_options.items()), cfg.entropy_identity,
                         package_version()]).encode())
    return h.hexdigest()[:16]


def _noop(_msg: str) -> None:
    pass


def _finish(out: Path, files: list[str], cfg: RunConfig) -> None:
    write_manifest(out, files, {"name": cfg.name, "qmeanfield_version": package_version()})


def run_to_directory(cfg: RunConfig, out_dir, progress: bool = False, resume: bool = True, log=None) -> dict:
    """Compute the comparison described by ``cfg`` and write every output into ``out_dir``.

    Returns the summary (also written as summary.json). With ``resume`` (default) particle
    numbers already computed for the same fingerprint are read back (verified) instead of
    recomputed. ``log`` (a callable taking a string) reports reuse and recomputation.
    """
    from .report import write_report

    log = log or _noop
    plan = plan_comparison(cfg.model, cfg.rho0, list(cfg.N), cfg.times, engine=cfg.engine, marginals=cfg.marginals,
                           engine_options=cfg.engine_options, entropy_identity=cfg.entropy_identity,
                           max_periods=cfg.max_periods)  # refuse early
    estimates = {e["N"]: e for e in plan.estimates(cfg.model)}
    total = sum(e["seconds"] for e in estimates.values())
    log(f"estimated time {format_seconds(total)} on 2 cores (rough, within a factor of about 3): "
        + ", ".join(f"N = {n}: {e['engine']} {format_seconds(e['seconds'])}" for n, e in estimates.items()))
    out = check_output_dir(out_dir)
    begin_outputs(out)
    fp = fingerprint(cfg)
    partial = out / ".partial" / fp
    parts = []
    for n in cfg.N:
        path, key = partial / f"N{n}.nc", f"{fp}/N{n}"
        if resume and path.exists():
            try:
                parts.append(load_dataset(path, key=key))
                log(f"N = {n}: reusing {path}")
                continue
            except StoreError as exc:
                log(f"N = {n}: {exc}; recomputing")
        ds_n = compare(cfg.model, cfg.rho0, [n], cfg.times, engine=cfg.engine, marginals=cfg.marginals,
                       engine_options=cfg.engine_options, progress=progress, entropy_identity=cfg.entropy_identity,
                       max_periods=cfg.max_periods)
        save_dataset(ds_n, path, key=key)
        parts.append(load_dataset(path, key=key))  # the same representation as a reused N
    ds = xr.concat(parts, dim="N", data_vars="minimal", coords="minimal", compat="override",
                   combine_attrs="override")
    notes = sorted({p.relative_entropy.attrs.get("note", "") for p in parts} - {""})
    infinite = [note for note in notes if not note.startswith("finite")]
    ds.relative_entropy.attrs["note"] = "; ".join(infinite) if infinite else (notes[0] if notes else "")
    ds.attrs["name"] = cfg.name
    if cfg.source:
        ds.attrs["configuration"] = cfg.source
    save_dataset(ds, out / "results.nc", key=fp)
    summary = summarize_comparison(ds)
    summary["name"] = cfg.name
    write_json(out / "summary.json", summary)
    write_report(ds, summary, out, title=f"qmeanfield: {cfg.name}", description=cfg.description,
                 files={"results.nc (netCDF, all variables)": "results.nc", "summary.json": "summary.json"})
    from .report import PLOTS

    _finish(out, [*OUTPUT_FILES, *PLOTS], cfg)
    return summary


def certify_to_directory(cfg: RunConfig, out_dir, *, threshold: bool = False, exact: bool = True,
                         workers: int | str = "auto", progress: bool = False, log=None) -> dict:
    """The certificate of ``cfg``: certificate.nc, certificate.json, plots and certificate.html."""
    from .report import write_certificate_report

    log = log or _noop
    seconds = estimate_certificate_seconds(cfg.N, cfg.times.size, eta_grid(cfg.model).size)
    if exact:
        plan = plan_comparison(cfg.model, cfg.rho0, list(cfg.N), cfg.times, engine=cfg.engine, marginals=cfg.marginals,
                               engine_options=cfg.engine_options, entropy_identity=False)
        seconds += sum(e["seconds"] for e in plan.estimates(cfg.model))
    log(f"estimated time {format_seconds(seconds)} on 2 cores (rough, within a factor of about 3)")
    out = check_output_dir(out_dir)
    threshold_N = None
    if threshold:
        threshold_N = (10, 30, 100, 300, 1000) if cfg.model.d == 2 else (4, 6, 8, 10)
    begin_outputs(out)
    ds = certify(cfg.model, cfg.rho0, list(cfg.N), cfg.times, engine=cfg.engine, engine_options=cfg.engine_options,
                 marginals=cfg.marginals, workers=workers, exact=exact, threshold_N=threshold_N, progress=progress)
    save_dataset(ds, out / "certificate.nc", key=fingerprint(cfg))
    summary = summarize_certificate(ds)
    summary["name"] = cfg.name
    write_json(out / "certificate.json", summary)
    write_certificate_report(ds, summary, out, title=f"certificate: {cfg.name}",
                             files={"certificate.nc": "certificate.nc", "certificate.json": "certificate.json"})
    _finish(out, ["certificate.nc", "certificate.json", "certificate.html", "certificate.png", "lambda_vs_N.png"], cfg)
    return summary


#: the Liouvillian gap costs about this many steady states (Arnoldi on the propagator; measured
#: 14x at N = 40 and 17x at N = 80 for examples/open_large_N.toml)
GAP_COST_FACTOR = 16


def steady_to_directory(cfg: RunConfig, out_dir, *, progress: bool = False, log=None, gap: bool = False) -> dict:
    """Steady states of ``cfg`` (its model and N): steady.nc, steady.json, steady.png, steady.html."""
    from .report import write_steady_report

    log = log or _noop
    fps = None
    if cfg.model.is_open:
        # the fixed points first: the solver starts from the first, and the estimate needs it
        fps = meanfield.fixed_points(cfg.model)
        reference = fps[0].rho if len(fps) else None
        # the gap runs on the whole generator: its cost follows the solve on every entry
        per_N = {n: estimate_steady_seconds(cfg.model, n, reference)
                 + (GAP_COST_FACTOR * estimate_steady_seconds(cfg.model, n) if gap else 0.0) for n in cfg.N}
        log(f"estimated time {format_seconds(sum(per_N.values()))} on 2 cores (rough, within a factor of about 3): "
            + ", ".join(f"N = {n}: {format_seconds(t)}" for n, t in per_N.items()))
    out = check_output_dir(out_dir)
    begin_outputs(out)
    ds = steady_state_comparison(cfg.model, list(cfg.N), progress=progress, gap=gap, fixed_points=fps,
                                 engine=cfg.engine, engine_options=cfg.engine_options)
    save_dataset(ds, out / "steady.nc", key=fingerprint(cfg))
    summary = summarize_steady(ds)
    summary["name"] = cfg.name
    write_json(out / "steady.json", summary)
    write_steady_report(ds, out, title=f"steady states: {cfg.name}",
                        files={"steady.nc": "steady.nc", "steady.json": "steady.json"})
    _finish(out, ["steady.nc", "steady.json", "steady.png", "steady.html"], cfg)
    return summary


def semiclassical_to_directory(cfg, out_dir, *, progress: bool = False, log=None) -> dict:
    """A semiclassical scan (``cfg``: a :class:`~qmeanfield.semiclassical.config.SemiclassicalConfig`):
    results.nc, summary.json, plots, semiclassical.html and manifest.json in ``out_dir``."""
    from .report import SEMICLASSICAL_PLOTS, write_semiclassical_report
    from .results import summarize_semiclassical
    from .semiclassical import scan

    out = check_output_dir(out_dir)
    begin_outputs(out)
    ds = scan(cfg.problem, options=cfg.options, progress=progress, log=log)
    save_dataset(ds, out / "results.nc", key=repr((cfg.problem, cfg.options, package_version())))
    summary = summarize_semiclassical(ds)
    summary["name"] = cfg.name
    files = {"results.nc": "results.nc", "summary.json": "summary.json"}
    chain_ds = None
    if cfg.chain is not None:
        from .results import summarize_chain
        from .semiclassical.chain import chain

        if log:
            log(f"chain to N bodies: hbar = {cfg.chain.hbar:g}, {2 * cfg.chain.modes + 1} modes, N = {list(cfg.chain.N)}")
        chain_ds = chain(cfg.problem, cfg.chain.hbar, cfg.chain.modes, list(cfg.chain.N), options=cfg.options,
                         progress=progress)
        save_dataset(chain_ds, out / "chain.nc", key=repr((cfg.problem, cfg.chain, package_version())))
        summary["chain"] = summarize_chain(chain_ds)
        files["chain.nc"] = "chain.nc"
    write_json(out / "summary.json", summary)
    write_semiclassical_report(ds, summary, out, title=f"semiclassical: {cfg.name}", description=cfg.description,
                               files=files, chain=chain_ds)
    plots = [*SEMICLASSICAL_PLOTS, *(["chain.png"] if chain_ds is not None else [])]
    write_manifest(out, [*files.values(), "semiclassical.html", *plots],
                   {"name": cfg.name, "qmeanfield_version": package_version()})
    return summary

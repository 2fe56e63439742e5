"""Run a configuration end to end: compare -> results.nc, summary.json, plots, report.html.

Each particle number is computed on its own and saved atomically under
``OUT/.partial/<fingerprint>/N<n>.nc`` before the next starts, where the fingerprint is a hash
of everything that determines the numbers (model, initial state, times, engine and options,
package version). An interrupted run therefore resumes where it stopped, and a later run that
adds particle numbers reuses the ones already computed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import xarray as xr

from .compare import _version, compare
from .engines import choose_engine
from .io import RunConfig, load_dataset, save_dataset, summarize, write_json
from .report import write_report

__all__ = ["run_to_directory", "fingerprint", "OUTPUT_FILES"]

OUTPUT_FILES = ("results.nc", "summary.json", "report.html")


def fingerprint(cfg: RunConfig) -> str:
    """A short hash of everything that determines the results of ``cfg`` (not its name or N list)."""
    h = hashlib.sha256()
    for arr in (cfg.model.h, cfg.model.V, *cfg.model.jumps, *cfg.model.collective_jumps, cfg.rho0, cfg.times):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(json.dumps([cfg.model.hbar, cfg.model.coupling, len(cfg.model.jumps), len(cfg.model.collective_jumps), cfg.engine,
                         list(cfg.marginals), sorted(cfg.engine_options.items()), cfg.entropy_identity,
                         _version()]).encode())
    return h.hexdigest()[:16]


def run_to_directory(cfg: RunConfig, out_dir, progress: bool = False, resume: bool = True,
                     log=None) -> dict:
    """Compute the comparison described by ``cfg`` and write every output into ``out_dir``.

    Returns the summary (also written as summary.json). Each file is written atomically;
    with ``resume`` (default) particle numbers already computed for the same fingerprint are
    read back instead of recomputed. ``log`` (a callable taking a string) reports reuse.
    """
    for n in cfg.N:  # refuse an impossible particle number before computing any
        choose_engine(cfg.model, n, cfg.engine, **cfg.engine_options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / ".partial" / fingerprint(cfg)
    parts = []
    for n in cfg.N:
        path = partial / f"N{n}.nc"
        if resume and path.exists():
            parts.append(load_dataset(path))
            if log:
                log(f"N = {n}: reusing {path}")
            continue
        ds_n = compare(cfg.model, cfg.rho0, [n], cfg.times, engine=cfg.engine, marginals=cfg.marginals,
                       engine_options=cfg.engine_options, progress=progress,
                       entropy_identity=cfg.entropy_identity)
        save_dataset(ds_n, path)
        parts.append(load_dataset(path))
    ds = xr.concat(parts, dim="N", data_vars="minimal", coords="minimal", compat="override",
                   combine_attrs="override")
    notes = sorted({p.relative_entropy.attrs.get("note", "") for p in parts} - {""})
    infinite = [note for note in notes if not note.startswith("finite")]
    ds.relative_entropy.attrs["note"] = "; ".join(infinite) if infinite else (notes[0] if notes else "")
    ds.attrs["name"] = cfg.name
    save_dataset(ds, out / "results.nc")
    summary = summarize(ds)
    summary["name"] = cfg.name
    write_json(out / "summary.json", summary)
    write_report(ds, summary, out, title=f"qmeanfield: {cfg.name}", description=cfg.description,
                 files={"results.nc (netCDF, all variables)": "results.nc", "summary.json": "summary.json"})
    return summary

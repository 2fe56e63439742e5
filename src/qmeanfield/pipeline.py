"""Any study into a folder: `run_study` (plan -> check the folder -> run -> save -> summary ->
report -> manifest), resumable where the study saves parts.

Every run checks everything before computing (the study's plan: configuration, engines, sizes;
the output folder), marks the folder's outputs as in progress (removes `manifest.json`), writes
each file atomically through `qmeanfield.store`, and writes the manifest last, so a folder
holds either a complete, listed run or visibly incomplete outputs.

A study that works in parts (`compare`: one particle number at a time) saves each part under
`OUT/.partial/<key>/<part>.nc` with the key `<key>/<part>` before the next starts; the key
hashes everything that determines the numbers (model, initial state, times, engine and options,
package version). A rerun reuses a saved part only after verifying its checksum and key; a
corrupted, truncated or foreign file is reported in one line and recomputed.

`run_to_directory`, `certify_to_directory`, `steady_to_directory` and
`semiclassical_to_directory` are `run_study` with the matching study.
"""

from __future__ import annotations

from pathlib import Path

from .config import RunConfig
from .errors import QMeanFieldError
from .results import Summary, package_version
from .store import (StoreError, begin_outputs, check_inside, check_output_dir, load_dataset, load_if_present,
                    output_lock, save_dataset, write_json, write_manifest)
from .studies import CertifyStudy, CompareStudy, SemiclassicalStudy, SteadyStudy, Study, StudyPlan, fingerprint

__all__ = ["run_study", "run_to_directory", "certify_to_directory", "steady_to_directory",
           "semiclassical_to_directory", "fingerprint", "OUTPUT_FILES"]

OUTPUT_FILES = ("results.nc", "summary.json", "report.html")


def _noop(_msg: str) -> None:
    pass


class _PartCache:
    """The cache of `run_study`: parts saved under `out/.partial/<key>`, verified before
    reuse (and refused where a link leads outside `out`)."""

    def __init__(self, out: Path, key: str, resume: bool, log):
        self.out, self.key, self.resume, self.log = out, key, resume, log
        self.folder = out / ".partial" / key

    def _path(self, part: str) -> Path:
        return check_inside(self.out, self.folder / f"{part}.nc")

    def saved(self, part: str, label: str = ""):
        if not self.resume:
            return None
        try:
            ds = load_if_present(self._path(part), f"{self.key}/{part}")
        except StoreError as exc:
            self.log(f"{label or part}: {exc}; recomputing")
            return None
        if ds is not None:
            self.log(f"{label or part}: reusing {self._path(part)}")
        return ds

    def keep(self, part: str, dataset):
        path, part_key = self._path(part), f"{self.key}/{part}"
        save_dataset(dataset, path, key=part_key)
        return load_dataset(path, key=part_key)   # the same representation as a reused part



def run_study(study: Study, cfg, out_dir, *, progress: bool = False, resume: bool = True, log=None,
              force: bool = False, client=None, plan: StudyPlan | None = None) -> Summary:
    """Run `study` on its configuration `cfg` and write every output into `out_dir`.

    Returns the `Summary` (also written as the study's summary file). `resume`: reuse parts
    already saved for the same key (verified). `log` (a callable taking a string) reports the
    estimate, reuse and recomputation. `out_dir` must be new, empty or an earlier run's folder
    (`force`: any folder); it is locked while the run writes into it. `client` (a
    `dask.distributed.Client`) runs the study's independent pieces on a cluster, where the study
    supports it (`study.command.distributed`); each part is saved here as it arrives. `plan`: the
    study's plan of `cfg` if the caller already made it (e.g. before starting a cluster).
    """
    log = log or _noop
    if client is not None and not study.command.distributed:
        raise QMeanFieldError(f"{study.name} does not run on a Dask cluster; run it without a client")
    if plan is None:
        plan = study.plan(cfg)   # refuse early
    log(plan.describe())
    out = check_output_dir(out_dir, force=force)
    with output_lock(out):
        return _run_locked(study, cfg, plan, out, progress=progress, resume=resume, log=log, client=client)


def _run_locked(study: Study, cfg, plan, out: Path, *, progress: bool, resume: bool, log, client) -> Summary:
    begin_outputs(out)
    key = study.key(cfg)
    if client is not None:
        log(f"on the Dask cluster of {client}")
    result = study.run(cfg, plan, progress=progress, log=log, cache=_PartCache(out, key, resume, log), client=client)
    names = study.outputs
    save_dataset(result.dataset, out / names.dataset, key=key)
    for name, extra in result.extras.items():
        save_dataset(extra, out / name, key=f"{key}/{name}")
    summary = study.summarize(result).with_values(name=cfg.name)
    write_json(out / names.summary, summary.to_dict())
    written = study.report(result, summary, out, title=f"{study.name}: {cfg.name}",
                           description=getattr(cfg, "description", ""))
    write_manifest(out, [names.dataset, *result.extras, names.summary, *written],
                   {"name": cfg.name, "study": study.name, "qmeanfield_version": package_version()})
    return summary


def run_to_directory(cfg: RunConfig, out_dir, progress: bool = False, resume: bool = True, log=None,
                     force: bool = False) -> Summary:
    """`run_study` of `CompareStudy`: results.nc, summary.json,
    plots, report.html, manifest.json."""
    return run_study(CompareStudy(), cfg, out_dir, progress=progress, resume=resume, log=log, force=force)


def certify_to_directory(cfg: RunConfig, out_dir, *, threshold: bool = False, exact: bool = True,
                         workers: int | str = "auto", progress: bool = False, log=None, force: bool = False) -> Summary:
    """`run_study` of `CertifyStudy`: certificate.nc,
    certificate.json, plots and certificate.html."""
    return run_study(CertifyStudy(threshold=threshold, exact=exact, workers=workers), cfg, out_dir,
                     progress=progress, log=log, force=force)


def steady_to_directory(cfg: RunConfig, out_dir, *, progress: bool = False, log=None, gap: bool = False,
                        force: bool = False) -> Summary:
    """`run_study` of `SteadyStudy`: steady.nc, steady.json,
    steady.png, steady.html."""
    return run_study(SteadyStudy(gap=gap), cfg, out_dir, progress=progress, log=log, force=force)


def semiclassical_to_directory(cfg, out_dir, *, progress: bool = False, log=None, force: bool = False) -> Summary:
    """`run_study` of `SemiclassicalStudy`: results.nc (and
    chain.nc), summary.json, plots, semiclassical.html and manifest.json."""
    return run_study(SemiclassicalStudy(), cfg, out_dir, progress=progress, log=log, force=force)

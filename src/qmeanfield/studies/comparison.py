"""`compare` as a study: N-body dynamics against the mean field, one particle number at a time
(each N saved on its own, so an interrupted run resumes)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr

from ..api import compare, plan_comparison
from ..config import RunConfig, load_config, parse_config
from ..diagnostics.rates import fit_power_law
from .._parallel import check_client, on_client
from ..errors import QMeanFieldError
from ..estimates import format_bytes, format_seconds
from ..report import PLOTS, write_report
from ..report.comparison import plot_names
from ..results import Summary, package_version, summarize_comparison
from .base import Cache, Command, Outputs, StudyPlan, StudyResult, compute_only

__all__ = ["CompareStudy", "NBodyStudy", "fingerprint", "comparison_plan", "comparison_lines"]


#: a driven model's coefficients enter the fingerprint at this many times of the span
DRIVE_FINGERPRINT_POINTS = 257


def fingerprint(cfg: RunConfig) -> str:
    """A short hash of everything that determines the results of `cfg` (not its name or N list)."""
    h = hashlib.sha256()
    for arr in (cfg.model.h, cfg.model.V, *cfg.model.jumps, *cfg.model.collective_jumps, cfg.rho0, cfg.times):
        h.update(np.ascontiguousarray(arr).tobytes())
    if cfg.model.is_driven:   # the drive's operators and its coefficients on a fine grid of the span
        grid = np.linspace(0.0, float(cfg.times[-1]), DRIVE_FINGERPRINT_POINTS)
        for A, _ in (*cfg.model.drive, *cfg.model.timed_jumps):
            h.update(np.ascontiguousarray(A).tobytes())
        h.update(np.ascontiguousarray([cfg.model.time_coefficients(t) for t in grid]).tobytes())
    h.update(json.dumps([cfg.model.hbar, cfg.model.coupling, len(cfg.model.jumps), len(cfg.model.collective_jumps),
                         cfg.engine, list(cfg.marginals), sorted(cfg.engine_options.items()), cfg.entropy_identity,
                         list(cfg.observables), package_version()]).encode())
    return h.hexdigest()[:16]


def comparison_plan(cfg: RunConfig, Ns=None, **changes):
    args = dict(engine=cfg.engine, marginals=cfg.marginals, engine_options=cfg.engine_options,
                entropy_identity=cfg.entropy_identity, max_periods=cfg.max_periods, max_seconds=cfg.max_seconds,
                observables=list(cfg.observables) or None)
    args.update(changes)
    return plan_comparison(cfg.model, cfg.rho0, list(cfg.N if Ns is None else Ns), cfg.times, **args)


def comparison_lines(plan) -> tuple[str, ...]:
    """Per N: the engine, its time and memory estimate."""
    return tuple(f"N = {e.N}: {e.engine}, {format_seconds(e.estimate.seconds)}, {format_bytes(e.estimate.bytes)}"
                 for e in plan.estimates())


def _compare(cfg: RunConfig, Ns: list, progress: bool = False, client=None) -> xr.Dataset:
    """`qmeanfield.compare` of `cfg` at the particle numbers `Ns` (a task on a cluster, too)."""
    return compare(cfg.model, cfg.rho0, Ns, cfg.times, engine=cfg.engine, marginals=cfg.marginals,
                   engine_options=cfg.engine_options, progress=progress, entropy_identity=cfg.entropy_identity,
                   max_periods=cfg.max_periods, max_seconds=cfg.max_seconds,
                   observables=list(cfg.observables) or None, client=client)


class NBodyStudy:
    """What the N-body studies share: a `[model]`/`[initial]`/`[run]` configuration
    (`RunConfig`) and its fingerprint as the store key."""

    def load(self, data: dict, name: str) -> RunConfig:
        return parse_config(data, name=name)

    def load_file(self, path) -> RunConfig:
        return load_config(path)

    def key(self, cfg: RunConfig) -> str:
        return fingerprint(cfg)


@dataclass(frozen=True)
class CompareStudy(NBodyStudy):
    """The exact N-body state against the mean-field product state (`qmeanfield.compare`)."""

    name: str = "compare"
    outputs: Outputs = Outputs("results.nc", "summary.json", "report.html", tuple(PLOTS))
    headline: tuple[str, ...] = ("relative_entropy_max", "relative_entropy_final", "distance_exponent")
    command: ClassVar[Command] = Command(
        "run", "Run CONFIG and write results.nc, summary.json, plots, report.html and manifest.json into OUT.",
        saved="particle numbers finished so far are saved under {partial} and are reused when you run the same "
              "command again.", resumable=True, distributed=True)

    def plan(self, cfg: RunConfig) -> StudyPlan:
        plan = comparison_plan(cfg)
        return StudyPlan(plan.estimate, comparison_lines(plan), plan)

    def run(self, cfg: RunConfig, plan: StudyPlan | None = None, *, progress: bool = False, log=None,
            cache: Cache = compute_only, client=None) -> StudyResult:
        if cache is compute_only:   # nothing to save in parts (a sweep task): one call, one mean field
            ds = _compare(cfg, list(cfg.N), progress=progress, client=client)
        else:                       # one N at a time, each saved as soon as it is done
            parts = {n: cache.saved(f"N{n}", f"N = {n}") for n in cfg.N}
            missing = [n for n in cfg.N if parts[n] is None]
            if client is not None and missing:   # each missing N a task on the cluster
                check_client(client, QMeanFieldError)
                for k, part in on_client(client, _compare, [(cfg, [n]) for n in missing]):
                    parts[missing[k]] = cache.keep(f"N{missing[k]}", part)
                    if log:
                        log(f"N = {missing[k]}: done on the cluster")
            for n in missing:
                if parts[n] is None:
                    parts[n] = cache.keep(f"N{n}", _compare(cfg, [n], progress=progress))
            parts = [parts[n] for n in cfg.N]
            ds = xr.concat(parts, dim="N", data_vars="minimal", coords="minimal", compat="override",
                           combine_attrs="override")
            notes = sorted({p.relative_entropy.attrs.get("note", "") for p in parts} - {""})
            infinite = [note for note in notes if not note.startswith("finite")]
            ds.relative_entropy.attrs["note"] = "; ".join(infinite) if infinite else (notes[0] if notes else "")
        ds.attrs["name"] = cfg.name
        if cfg.source:
            ds.attrs["configuration"] = cfg.source
        return StudyResult(ds)

    def summarize(self, result: StudyResult) -> Summary:
        return summarize_comparison(result.dataset)

    def report(self, result: StudyResult, summary: Summary, out, *, title: str, description: str = "",
               files: dict | None = None) -> list[str]:
        write_report(result.dataset, summary, out, title=title, description=description,
                     files={"results.nc (netCDF, all variables)": self.outputs.dataset,
                            self.outputs.summary: self.outputs.summary})
        return [self.outputs.report, *plot_names(result.dataset)]

    def sweep_view(self, ds: xr.Dataset) -> xr.Dataset:
        """H_N, the marginal distances and bounds, with the largest H_N over time, H_N(t_final)
        and the fitted log-log slope of max_t ||R^(1) - rho||_1 against N."""
        kept = ["relative_entropy", "trace_distance", "marginal_bound"]
        kept += [v for v in ("observable_mean", "observable_variance", "squeezing") if v in ds]   # observables, d = 2
        view = ds[kept].reset_coords(drop=True)
        H = view.relative_entropy
        view["relative_entropy_max"] = H.max("time").assign_attrs(long_name="max_t H_N")
        view["relative_entropy_final"] = H.isel(time=-1, drop=True).assign_attrs(long_name="H_N(t_final)")
        fit = (fit_power_law(ds.N.values.astype(float), view.trace_distance.isel(k=0).max("time").values)
               if ds.sizes["N"] >= 2 else None)
        view["distance_exponent"] = xr.DataArray(
            np.nan if fit is None else fit.exponent,
            attrs={"long_name": "exponent of max_t ||R^(1) - rho||_1 in N (Pinsker: -1/2)"})
        return view

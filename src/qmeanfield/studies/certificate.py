"""`certify` as a study: the entropy method's bound beside the exact H_N."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import xarray as xr

from ..api import certify
from ..certificate import estimate_bound, eta_grid
from ..config import RunConfig
from ..estimates import Estimate, check_limits
from ..report import CERTIFICATE_PLOTS, write_certificate_report
from ..results import Summary, summarize_certificate
from .base import Cache, CliOption, Command, Outputs, StudyPlan, StudyResult, compute_only
from .comparison import NBodyStudy, comparison_lines, comparison_plan

__all__ = ["CertifyStudy", "THRESHOLD_N"]

#: particle numbers of the eta-threshold scan (``threshold=True``), for d = 2 and for d > 2
THRESHOLD_N = {2: (10, 30, 100, 300, 1000), "other": (4, 6, 8, 10)}


def _violations(summary: Summary) -> tuple:
    bad = [row["N"] for row in summary["per_N"] if row.get("bound_holds") is False]
    return ((f"the bound is below the exact value for N = {bad}", "bold red"),) if bad else ()


@dataclass(frozen=True)
class CertifyStudy(NBodyStudy):
    """The certificate (`qmeanfield.certify`): `threshold` adds the eta-threshold scan,
    `exact` the exact H_N, `workers` the processes over (N, time) pairs (`"auto"`)."""

    threshold: bool = False
    exact: bool = True
    workers: int | str = "auto"
    name: str = "certify"
    outputs: Outputs = Outputs("certificate.nc", "certificate.json", "certificate.html", tuple(CERTIFICATE_PLOTS))
    headline: tuple[str, ...] = ("bound_final", "relative_entropy_final")
    command: ClassVar[Command] = Command(
        "certify", "The entropy method's bound beside the exact H_N: certificate.nc, certificate.json, "
                   "certificate.html.",
        config_help="TOML configuration file (times must start at 0).", saved="nothing of the certificate was saved.",
        options=(CliOption("threshold", "Also estimate the eta threshold from N = 10 .. 1000 (d = 2; a few minutes)."),
                 CliOption("workers", "Processes over (N, time) pairs (0: automatic).", default=0, minimum=0,
                           convert=lambda n: n or "auto"),
                 CliOption("exact", "Also compute the exact H_N beside the bound (needs an engine that runs the "
                                    "model at these N).", default=True)),
        distributed=True, notes=_violations)

    def plan(self, cfg: RunConfig) -> StudyPlan:
        bound = estimate_bound(cfg.N, cfg.times.size, eta_grid(cfg.model).size)
        lines = (f"the bound: {len(cfg.N)} particle numbers x {cfg.times.size} times",)
        exact = Estimate(0.0)
        if self.exact:   # refused now, not after the bound
            plan = comparison_plan(cfg, entropy_identity=False)
            exact = plan.estimate
            lines += comparison_lines(plan)
        return StudyPlan(check_limits(bound + exact, f"the certificate (N = {list(cfg.N)})",
                                      max_seconds=cfg.max_seconds), lines)

    def run(self, cfg: RunConfig, plan: StudyPlan | None = None, *, progress: bool = False, log=None, cache: Cache = compute_only,
            client=None) -> StudyResult:
        threshold_N = None
        if self.threshold:
            threshold_N = THRESHOLD_N.get(cfg.model.d, THRESHOLD_N["other"])
            if log:
                log(f"after the bound: the eta threshold from N = {list(threshold_N)} at t = {cfg.times[-1]:g} "
                    "(a few minutes at d = 2)")
        ds = certify(cfg.model, cfg.rho0, list(cfg.N), cfg.times, engine=cfg.engine, engine_options=cfg.engine_options,
                     marginals=cfg.marginals, workers=self.workers, exact=self.exact, threshold_N=threshold_N,
                     progress=progress, max_seconds=cfg.max_seconds, client=client)
        return StudyResult(ds)

    def summarize(self, result: StudyResult) -> Summary:
        return summarize_certificate(result.dataset)

    def report(self, result: StudyResult, summary: Summary, out, *, title: str, description: str = "",
               files: dict | None = None) -> list[str]:
        write_certificate_report(result.dataset, summary, out, title=title, files=self.outputs.links())
        return [self.outputs.report, *self.outputs.plots]

    def sweep_view(self, ds: xr.Dataset) -> xr.Dataset:
        """The bound (and, with `exact`, H_N and the marginal distances) with their final values."""
        names = [v for v in ("bound", "certified_marginal_bound", "relative_entropy", "trace_distance") if v in ds]
        view = ds[names].reset_coords(drop=True)
        view["bound_final"] = ds.bound.isel(time=-1, drop=True).assign_attrs(long_name="certified bound on H_N(t_final)")
        final = ds.relative_entropy.isel(time=-1, drop=True) if "relative_entropy" in ds else xr.full_like(
            view.bound_final, float("nan"))
        view["relative_entropy_final"] = final.reset_coords(drop=True).assign_attrs(long_name="exact H_N(t_final)")
        return view

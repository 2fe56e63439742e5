"""`steady` as a study: N-body steady states against the mean-field fixed point(s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import xarray as xr

from .. import meanfield
from ..api import estimate_steady, steady_state_comparison
from ..config import RunConfig
from ..engines import configure_engine
from ..errors import QMeanFieldError
from ..estimates import Estimate, check_limits, format_bytes, format_seconds
from ..report import STEADY_PLOTS, write_steady_report
from ..results import Summary, summarize_steady
from .base import Cache, CliOption, Command, Outputs, StudyPlan, StudyResult, compute_only
from .comparison import NBodyStudy

__all__ = ["SteadyStudy"]


@dataclass(frozen=True)
class SteadyStudy(NBodyStudy):
    """Steady states (`qmeanfield.steady_state_comparison`); `gap` adds the Liouvillian gap."""

    gap: bool = False
    name: str = "steady"
    outputs: Outputs = Outputs("steady.nc", "steady.json", "steady.html", STEADY_PLOTS)
    headline: tuple[str, ...] = ("distance_one_body", "relative_entropy_first")
    command: ClassVar[Command] = Command(
        "steady", "N-body steady states against the mean-field fixed point(s): steady.nc, steady.json, steady.html.",
        config_help="TOML configuration of an open model (run.N is used).",
        saved="nothing of the steady states was saved.",
        options=(CliOption("gap", "Also the Liouvillian gap (slowest relaxation rate) per N."),), distributed=True)

    def _fixed_points(self, cfg: RunConfig):
        if not cfg.model.is_open:
            raise QMeanFieldError("steady states need an open model (jumps or collective_jumps)")
        return meanfield.fixed_points(cfg.model)

    def plan(self, cfg: RunConfig) -> StudyPlan:
        """The fixed points first: the solver starts from the first, and the estimate needs it."""
        fps = self._fixed_points(cfg)
        reference = fps[0].rho if len(fps) else None
        engine = configure_engine("permutational", cfg.engine_options)
        per_N = {n: estimate_steady(cfg.model, n, reference, gap=self.gap, engine=engine) for n in cfg.N}
        lines = tuple(f"N = {n}: {format_seconds(e.seconds)}, {format_bytes(e.bytes)}" for n, e in per_N.items())
        total = check_limits(sum(per_N.values(), Estimate(0.0)), f"the steady states (N = {list(cfg.N)})",
                             max_seconds=cfg.max_seconds)
        return StudyPlan(total, lines, fps)

    def run(self, cfg: RunConfig, plan: StudyPlan | None = None, *, progress: bool = False, log=None, cache: Cache = compute_only,
            client=None) -> StudyResult:
        ds = steady_state_comparison(cfg.model, list(cfg.N), progress=progress, gap=self.gap,
                                     fixed_points=plan.detail if plan is not None else self._fixed_points(cfg),
                                     engine=cfg.engine,
                                     engine_options=cfg.engine_options, max_seconds=cfg.max_seconds,
                                     client=client)
        return StudyResult(ds)

    def summarize(self, result: StudyResult) -> Summary:
        return summarize_steady(result.dataset)

    def report(self, result: StudyResult, summary: Summary, out, *, title: str, description: str = "",
               files: dict | None = None) -> list[str]:
        write_steady_report(result.dataset, out, title=title, files=self.outputs.links())
        return [self.outputs.report, *self.outputs.plots]

    def sweep_view(self, ds: xr.Dataset) -> xr.Dataset:
        """Distances and relative entropy to the fixed points, the residual; headline: the one-body
        distance and H_N to the first fixed point."""
        view = ds[["trace_distance", "relative_entropy", "residual"]].reset_coords(drop=True)
        view["distance_one_body"] = ds.trace_distance.isel(k=0, fixed_point=0, drop=True).reset_coords(drop=True) \
            .assign_attrs(long_name="||R^(1)_ss - rho*||_1 (first fixed point)")
        view["relative_entropy_first"] = ds.relative_entropy.isel(fixed_point=0, drop=True).reset_coords(drop=True) \
            .assign_attrs(long_name="H(R_N^ss | rho*^(x)N) (first fixed point)")
        return view

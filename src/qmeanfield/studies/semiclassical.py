"""`semiclassical` as a study: Hartree against Vlasov in W2 for several hbar, and the optional
chain back to N bodies (`chain.nc`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

import xarray as xr

from ..report import SEMICLASSICAL_PLOTS, write_semiclassical_report
from ..results import Summary, package_version, summarize_chain, summarize_semiclassical
from ..semiclassical import scan
from ..semiclassical.chain import chain, plan_chain
from ..semiclassical.config import SemiclassicalConfig, load_semiclassical, parse_semiclassical
from ..semiclassical.scan import plan_scan
from .base import Cache, Command, Outputs, StudyPlan, StudyResult, compute_only

__all__ = ["SemiclassicalStudy"]

#: the chain's Dataset, written beside the scan's
CHAIN_FILE = "chain.nc"


def _hash(*parts) -> str:
    return hashlib.sha256(repr((*parts, package_version())).encode()).hexdigest()[:16]


def _exponent(summary: Summary) -> tuple:
    """The fitted exponent of W2 in hbar; in red, the hbar where W2 exceeds the certificate."""
    notes = ()
    if summary.get("w2_exponent_final") is not None:
        notes += ((f"W2 ~ hbar^{summary['w2_exponent_final']:.3f} (+- {summary['w2_exponent_final_ci'] or 0:.2g}) "
                   f"at t = {summary['t_final']:g}", None),)
    bad = [row["hbar"] for row in summary["per_hbar"] if row["bound_holds"] is False]
    if bad:
        notes += ((f"the measured W2 exceeds the certificate B(t) for hbar = {bad}", "bold red"),)
    return notes


@dataclass(frozen=True)
class SemiclassicalStudy:
    """Hartree against Vlasov (`qmeanfield.semiclassical.scan`), with the chain to N bodies
    where the configuration asks for it."""

    name: str = "semiclassical"
    outputs: Outputs = Outputs("results.nc", "summary.json", "semiclassical.html", tuple(SEMICLASSICAL_PLOTS))
    headline: tuple[str, ...] = ("w2_final", "w2_exponent_final")
    command: ClassVar[Command] = Command(
        "semiclassical", "Hartree against Vlasov in W2 for several hbar: results.nc, summary.json, plots, "
                         "semiclassical.html.",
        config_help="TOML configuration with a [semiclassical] table.", saved="nothing of the scan was saved.",
        notes=_exponent)

    def load(self, data: dict, name: str) -> SemiclassicalConfig:
        return parse_semiclassical(data, name=name)

    def load_file(self, path) -> SemiclassicalConfig:
        return load_semiclassical(path)

    def plan(self, cfg: SemiclassicalConfig) -> StudyPlan:
        plan = plan_scan(cfg.problem, cfg.options)
        lines = tuple(plan.describe(cfg.problem.hbars).splitlines()[:-1])
        estimate = plan.estimate
        if cfg.chain is not None:   # every N of the chain checked now, not after the scan
            nbody = plan_chain(cfg.problem, cfg.chain.hbar, cfg.chain.modes, list(cfg.chain.N), options=cfg.options)
            estimate = estimate + nbody.estimate
            lines += (f"chain to N bodies: hbar = {cfg.chain.hbar:g}, {2 * cfg.chain.modes + 1} modes, "
                      f"N = {list(cfg.chain.N)}: " + ", ".join(f"{e.engine} {e.estimate.describe()}"
                                                              for e in nbody.estimates()),)
        return StudyPlan(estimate, lines, plan)

    def key(self, cfg: SemiclassicalConfig) -> str:
        return _hash(cfg.problem, cfg.options, cfg.chain)

    def run(self, cfg: SemiclassicalConfig, plan: StudyPlan | None = None, *, progress: bool = False, log=None,
            cache: Cache = compute_only,
            client=None) -> StudyResult:
        ds = scan(cfg.problem, options=cfg.options, progress=progress, log=log)
        extras = {}
        if cfg.chain is not None:
            if log:
                log(f"chain to N bodies: hbar = {cfg.chain.hbar:g}, {2 * cfg.chain.modes + 1} modes, "
                    f"N = {list(cfg.chain.N)}")
            extras[CHAIN_FILE] = chain(cfg.problem, cfg.chain.hbar, cfg.chain.modes, list(cfg.chain.N),
                                       options=cfg.options, progress=progress)
        return StudyResult(ds, extras)

    def summarize(self, result: StudyResult) -> Summary:
        summary = summarize_semiclassical(result.dataset)
        if CHAIN_FILE in result.extras:
            summary = summary.with_values(chain=summarize_chain(result.extras[CHAIN_FILE]))
        return summary

    def report(self, result: StudyResult, summary: Summary, out, *, title: str, description: str = "",
               files: dict | None = None) -> list[str]:
        chain_ds = result.extras.get(CHAIN_FILE)
        write_semiclassical_report(result.dataset, summary, out, title=title, description=description,
                                   files=self.outputs.links(result.extras), chain=chain_ds)
        return [self.outputs.report, *self.outputs.plots, *(["chain.png"] if chain_ds is not None else [])]

    def sweep_view(self, ds: xr.Dataset) -> xr.Dataset:
        """W2 with its interval and the certificate per (hbar, time); headline: W2 at the final time
        (per hbar) and the fitted exponent of W2 in hbar there."""
        view = ds[["w2_husimi_vlasov", "w2_lower", "w2_upper", "w2_bound"]].reset_coords(drop=True)
        view["w2_final"] = ds.w2_husimi_vlasov.isel(time=-1, drop=True).reset_coords(drop=True) \
            .assign_attrs(long_name="W2(Husimi, Vlasov) at t_final")
        view["w2_exponent_final"] = ds.w2_exponent.isel(time=-1, drop=True).reset_coords(drop=True) \
            .assign_attrs(long_name="fitted exponent of W2 in hbar at t_final")
        return view

"""The semiclassical report: W2 against time and hbar, the bound, phase-space snapshots, HMF
magnetisation; `semiclassical.html`. Reads only the scan's Dataset and its summary."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import xarray as xr

from ..diagnostics.rates import fit_power_law
from ..store import atomic_write_bytes
from ._common import CSS, colormap, embed_png, figure, fmt, links_html, save_png

__all__ = ["write_semiclassical_report", "SEMICLASSICAL_PLOTS"]

SEMICLASSICAL_PLOTS = {
    "w2_vs_time.png": "W2(Husimi(R(t)), f(t)) against time for every hbar: the bracket (band) and the "
                      "certificate B(t) (dashed).",
    "w2_vs_hbar.png": "W2 against hbar (log-log) at several times, with the fitted exponent and its 95 % interval.",
    "phase_space.png": "Husimi function of R(t) at the smallest hbar (top) next to the Vlasov solution f(t) "
                       "(bottom) at the snapshot times.",
    "magnetisation.png": "|M(t)| = |int rho e^{ix}|: Hartree at every hbar and Vlasov (black).",
}


def _w2_vs_time(ds, out_dir):
    t = ds.time.values
    fig, ax = figure(figsize=(7.2, 4.4))
    cols = colormap("viridis", ds.sizes["hbar"], 0.05, 0.85)
    for c, (a, hb) in zip(cols, enumerate(ds.hbar.values)):
        ax.fill_between(t, ds.w2_lower.values[a], ds.w2_upper.values[a], color=c, alpha=0.25, lw=0)
        ax.plot(t, ds.w2_husimi_vlasov.values[a], color=c, label=f"hbar = {hb:g}")
        bound = ds.w2_bound.values[a]
        ok = np.isfinite(bound) & (bound < 1e3)
        ax.plot(t[ok], bound[ok], "--", color=c, lw=0.9)
    ax.set_yscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel(r"$W_2(\mathrm{Husimi}(R_t), f_t)$")
    ax.set_title("Hartree vs Vlasov: W2 (bracket shaded), certificate dashed")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_png(fig, out_dir / "w2_vs_time.png")


def _w2_vs_hbar(ds, out_dir):
    hb = ds.hbar.values
    T = ds.sizes["time"]
    idx = np.unique(np.linspace(0, T - 1, min(4, T)).round().astype(int))
    fig, ax = figure(figsize=(6.4, 4.4))
    cols = colormap("plasma", idx.size, 0.1, 0.8)
    for c, n in zip(cols, idx):
        y = ds.w2_husimi_vlasov.values[:, n]
        lo, up = ds.w2_lower.values[:, n], ds.w2_upper.values[:, n]
        fit = fit_power_law(hb, y)
        lab = f"t = {ds.time.values[n]:.3g}"
        if fit is not None:
            ci = f" \u00b1 {fit.exponent_ci:.2f}" if np.isfinite(fit.exponent_ci) else ""
            lab += f", slope {fit.exponent:.2f}{ci}"
        ax.errorbar(hb, y, yerr=[y - lo, up - y], fmt="o-", color=c, ms=4, capsize=2, label=lab)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(hb, [f"{h:g}" for h in hb])           # the hbar values themselves, no crowded minor labels
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_xlabel("hbar")
    ax.set_ylabel("W2")
    ax.set_title("Rate in hbar (1 expected for smooth data)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_png(fig, out_dir / "w2_vs_hbar.png")


def _phase_space(ds, out_dir):
    S = ds.sizes["snapshot"]
    fig, axes = figure(2, S, figsize=(3.2 * S, 5.6), squeeze=False)
    x, p = ds.x.values, ds.p.values
    a = int(np.argmin(ds.hbar.values))
    for s in range(S):
        for row, (data, name) in enumerate(((ds.husimi.values[a, s], f"Husimi, hbar = {ds.hbar.values[a]:g}"),
                                            (ds.vlasov.values[s], "Vlasov"))):
            ax = axes[row, s]
            ax.pcolormesh(x, p, data.T, shading="auto", cmap="magma")
            ax.set_title(f"{name}\nt = {ds.snapshot_time.values[s]:.3g}", fontsize=8)
            ax.set_xlabel("x", fontsize=8)
            ax.set_ylabel("p", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return save_png(fig, out_dir / "phase_space.png")


def _magnetisation(ds, out_dir):
    t = ds.time.values
    fig, ax = figure(figsize=(6.4, 4.2))
    cols = colormap("viridis", ds.sizes["hbar"], 0.05, 0.85)
    for c, (a, hb) in zip(cols, enumerate(ds.hbar.values)):
        ax.plot(t, ds.magnetisation_quantum.values[a], color=c, label=f"Hartree, hbar = {hb:g}")
    ax.plot(t, ds.magnetisation_classical.values, "k--", lw=1.5, label="Vlasov")
    ax.set_xlabel("time t")
    ax.set_ylabel("|M(t)|")
    ax.set_title("Magnetisation (order parameter of the HMF model)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, out_dir / "magnetisation.png")


#: values below this are round-off (the links vanish at t = 0) and are left out of the log axis
CHAIN_FLOOR = 1e-10


def _chain_plot(chain: xr.Dataset, out_dir):
    t = chain.time.values
    fig, ax = figure(figsize=(7.2, 4.4))
    cols = colormap("viridis", chain.sizes["N"], 0.05, 0.85)
    def visible(y):   # round-off at t = 0 (1e-16) would stretch the log axis over 17 decades
        y = np.asarray(y, dtype=float)
        return np.where(y > CHAIN_FLOOR, y, np.nan)

    for c, (a, n) in zip(cols, enumerate(chain.N.values)):
        ax.plot(t, visible(chain.trace_distance_nbody.values[a]), "o-", color=c, ms=3,
                label=f"N = {n}: ||R1_N - rho||_1 (exact)")
        ax.plot(t, visible(chain.composed_bound.values[a]), ":", color=c, label=f"N = {n}: composed bound on W2")
    ax.plot(t, visible(chain.trace_distance_truncation.values), "k-s", ms=3,
            label="||rho_modes - R_grid||_1 (truncation)")
    ax.fill_between(t, chain.w2_lower.values, chain.w2_upper.values, color="C3", alpha=0.3, label="W2(Husimi, Vlasov)")
    ax.set_yscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel(f"distance (values below {CHAIN_FLOOR:g}, round-off at t = 0, not drawn)")
    ax.set_title(f"Chain to N bodies at hbar = {chain.attrs['hbar']:g}, {chain.attrs['modes']} modes")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save_png(fig, out_dir / "chain.png")


def write_semiclassical_report(ds: xr.Dataset, summary: dict, out_dir, title: str = "qmeanfield semiclassical",
                               description: str = "", files: dict[str, str] | None = None,
                               chain: xr.Dataset | None = None) -> Path:
    out_dir = Path(out_dir)
    pngs = {"w2_vs_time.png": _w2_vs_time(ds, out_dir), "w2_vs_hbar.png": _w2_vs_hbar(ds, out_dir),
            "phase_space.png": _phase_space(ds, out_dir), "magnetisation.png": _magnetisation(ds, out_dir)}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if description:
        parts.append(f"<p>{html.escape(description)}</p>")
    parts.append("<h2>Problem</h2><table>" + "".join(
        f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in (
            ("domain", ds.attrs.get("domain")), ("length L", f"{ds.attrs.get('length'):.6g}"),
            ("external U(x)", ds.attrs.get("external")), ("pair V(x)", ds.attrs.get("pair")),
            ("initial f0", ds.attrs.get("initial")), ("times", f"0 .. {ds.time.values[-1]:g} ({ds.sizes['time']} points)"),
            ("certificate rate Lambda", f"{ds.attrs.get('certificate_rate'):.4g}"),
            ("Vlasov grid", f"{ds.sizes['x']} x {ds.sizes['p']}, dt = {ds.attrs.get('dt'):g}"))) + "</table>")
    parts.append("<h2>Headline</h2>")
    exp, ci = summary.get("w2_exponent_final"), summary.get("w2_exponent_final_ci")
    if exp is not None:
        parts.append(f"<p>W2(Husimi(R(t_final)), f(t_final)) ~ hbar<sup>p</sup> with <b>p = {fmt(exp)}</b> "
                     f"&plusmn; {fmt(ci)} (95 %); at t = 0, p = {fmt(summary.get('w2_exponent_initial'))}. "
                     "Smooth data are expected near 1, concentrated data near 1/2.</p>")
    parts.append("<table><tr><th>hbar</th><th>W2(0)</th><th>W2(t_final)</th><th>interval at t_final</th>"
                 "<th>interval narrower than W2</th><th>B(t_final)</th><th>W2 &le; B</th></tr>")
    for row in summary["per_hbar"]:
        br = row["bracket_final"]
        parts.append("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in (
            row["hbar"], row["w2_initial"], row["w2_final"], f"[{fmt(br[0])}, {fmt(br[1])}]",
            row["bracket_narrower_than_value"], row["bound_final"], row["bound_holds"])) + "</tr>")
    parts.append("</table><h3>Solver checks</h3><table><tr><th>hbar</th><th>quantum grid</th><th>orbitals</th>"
                 "<th>trace error</th><th>orthonormality error</th><th>energy drift</th><th>seconds</th></tr>")
    for row in summary["per_hbar"]:
        parts.append("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in (
            row["hbar"], row["quantum_points"], row["orbitals"], row["trace_error_max"], row["spectrum_error_max"],
            row["energy_drift_max"], row["wall_seconds"])) + "</tr>")
    parts.append("</table><p class='note'>W2: debiased Sinkhorn divergence on the grid; its interval holds the solver, epsilon and grid errors, intersected with the bracket: lower = exact W2 of the x- and p-marginals, upper = cost of "
                 "the Knothe-Rosenblatt coupling, both widened by the estimated grid error. "
                 + html.escape(str(ds.attrs.get("w2_note", ""))) + ". The certificate B(t) = sqrt(hbar (1 + "
                 "exp(Lambda t))) is loose (it grows like exp(Lambda t / 2) even without interaction).</p>")
    parts.append(f"<p class='note'>Vlasov: mass drift {fmt(summary.get('vlasov_mass_drift'))}, energy drift "
                 f"{fmt(summary.get('vlasov_energy_drift'))}, mass in the outermost cells "
                 f"{fmt(summary.get('vlasov_edge_mass'))}.</p>")
    parts.append("<h2>Plots</h2>")
    for name, caption in SEMICLASSICAL_PLOTS.items():
        parts.append(embed_png(name, pngs[name], caption))
    extra = {}
    if chain is not None:
        ch = summary.get("chain", {})
        parts.append("<h2>The chain back to N bodies</h2><p>The continuous problem projected on "
                     f"{chain.attrs['modes']} Fourier modes at hbar = {chain.attrs['hbar']:g} (weight of T(f0) outside the "
                     f"modes: {fmt(chain.attrs['weight_outside_modes'])}). Links 1 (N-body to Hartree, exact on the "
                     "finite model) and 2 (mode truncation) are measured distances; link 3 is the W2 bracket. <b>The "
                     "composed statement is only a bound</b> (W2^2 &le; 2 sqrt(M4) ||A - B||<sub>1</sub><sup>1/2</sup>: "
                     "a fourth root of the trace distance) and is far from the measured links.</p>")
        parts.append("<table><tr><th>N</th><th>H_N(t_final)</th><th>||R1_N - rho||_1</th><th>composed bound</th></tr>"
                     + "".join(f"<tr><td>{n}</td><td>{fmt(h)}</td><td>{fmt(d)}</td><td>{fmt(b)}</td></tr>" for n, h, d, b in
                               zip(ch.get("N", []), ch.get("relative_entropy_final", []),
                                   ch.get("trace_distance_nbody_final", []), ch.get("composed_bound_final", [])))
                     + "</table>")
        parts.append(embed_png("chain.png", _chain_plot(chain, out_dir), "The three links and the composed bound"))
        extra["chain.png"] = "chain.png"
    parts.append("<h2>Files</h2>" + links_html({**(files or {}), **{n: n for n in SEMICLASSICAL_PLOTS}, **extra}))
    parts.append(f"<p class='note'>qmeanfield {html.escape(str(summary.get('qmeanfield_version', '')))}</p></body></html>")
    path = out_dir / "semiclassical.html"
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path

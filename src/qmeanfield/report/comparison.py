"""The comparison report: plots of a `qmeanfield.compare` Dataset and `report.html`.

Reads only the Dataset and its summary (`qmeanfield.results.summarize_comparison`).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import xarray as xr

from ..diagnostics.rates import fit_inverse_N
from ..store import atomic_write_bytes
from ._common import (
    CSS,
    Html,
    colormap,
    colors,
    embed_png,
    figure,
    finish_N_axis,
    fixed_time_indices,
    fmt,
    links_html,
    loglog_with_slope,
    matrix_html,
    plain_N_axis,
    representative,
    save_png,
)

__all__ = ["make_plots", "write_report", "plot_names", "PLOTS", "OBSERVABLE_PLOTS", "SQUEEZING_PLOTS"]

#: file name -> caption
PLOTS = {
    "relative_entropy.png": "Relative entropy H(R_N | rho^(x)N) against time, one line per N.",
    "relative_entropy_vs_N.png": "H_N against N at fixed times with the fit a + b/N and its N -> infinity limit a; "
                                 "H_N/N against N (log-log) with fitted slopes.",
    "marginal_rate.png": "Largest marginal trace distance over the time window against N (log-log), with fitted "
                         "rate, next to the Pinsker bound and its rate (N^-1/2 expected).",
    "trace_distance.png": "Marginal trace distances ||R^(k) - rho^(x)k||_1 (solid) and their Pinsker bounds (dashed), "
                          "for up to four N (smallest, largest and between), log scale.",
    "entropy_identity.png": "Entropy production identity: the residual |dH/dt - identity| (closed) or the dissipation D_N >= 0 (open).",
}
#: drawn where the comparison measured collective observables (``observables=``)
OBSERVABLE_PLOTS = {
    "observables.png": "Collective observables: <J_A>/N (top) and Var(J_A)/N (bottom) against time for each N "
                       "(solid) and for the mean-field product state (black, dashed).",
}


#: drawn for qubits (d = 2) where collective observables were asked for (the Dataset always has
#: the squeezing parameter of qubits; the plot is for those who read collective observables)
SQUEEZING_PLOTS = {
    "squeezing.png": "Wineland spin-squeezing parameter xi^2 against time for each N (solid) and for the mean-field "
                     "product state (black, dashed; >= 1); below the dotted line at 1 the N-body state is squeezed.",
}


def plot_names(ds: xr.Dataset) -> list[str]:
    """The plot files `make_plots` writes for this Dataset."""
    return [*PLOTS, *(OBSERVABLE_PLOTS if "observable_mean" in ds else {}),
            *(SQUEEZING_PLOTS if _draws_squeezing(ds) else {})]


def _draws_squeezing(ds: xr.Dataset) -> bool:
    return "squeezing" in ds and "observable_mean" in ds


def _squeezing_plot(ds: xr.Dataset, out_dir: Path) -> bytes:
    t, Ns = ds.time.values, ds.N.values
    fig, ax = figure(figsize=(6.4, 4.2))
    for c, n in zip(colors(len(Ns)), Ns):
        ax.plot(t, ds.squeezing.sel(N=n), color=c, label=f"N = {n}")
    ax.plot(t, ds.squeezing_meanfield, "k--", label="mean field")
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel(r"$\xi^2$")
    ax.set_title("Spin squeezing (Wineland)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    return save_png(fig, out_dir / "squeezing.png")


def _observables_plot(ds: xr.Dataset, out_dir: Path) -> bytes:
    labels = [str(v) for v in ds.observable.values]
    t, Ns = ds.time.values, ds.N.values
    fig, axes = figure(2, len(labels), figsize=(4.2 * len(labels) + 1, 6.4), squeeze=False)
    cols = colors(len(Ns))
    for j, label in enumerate(labels):
        for row, (var, mf, ylabel) in enumerate((("observable_mean", "observable_meanfield", "<J_A>/N"),
                                                  ("observable_variance", "observable_variance_meanfield",
                                                   "Var(J_A)/N"))):
            ax = axes[row][j]
            for c, n in zip(cols, Ns):
                ax.plot(t, ds[var].sel(N=n, observable=label), color=c, label=f"N = {n}")
            ax.plot(t, ds[mf].sel(observable=label), "k--", label="mean field")
            ax.set_title(f"A = {label}", fontsize=10)
            ax.set_ylabel(ylabel)
            ax.set_xlabel("time t")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return save_png(fig, out_dir / "observables.png")


def make_plots(ds: xr.Dataset, out_dir) -> dict[str, bytes]:
    """Draw the report's plots into `out_dir`; return {file name: PNG bytes}."""
    out_dir = Path(out_dir)
    t = ds.time.values
    Ns = ds.N.values
    cols = colors(len(Ns))
    pngs = {}

    fig, ax = figure(figsize=(6.4, 4.2))
    for c, n in zip(cols, Ns):
        ax.plot(t, ds.relative_entropy.sel(N=n), color=c, label=f"N = {n}")
    ax.set_xlabel("time t")
    ax.set_ylabel(r"$H(R_N \,|\, \rho_t^{\otimes N})$")
    ax.set_title("N-body versus mean-field: relative entropy")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    pngs["relative_entropy.png"] = save_png(fig, out_dir / "relative_entropy.png")

    fig, axes = figure(1, 2, figsize=(10, 4.2))
    idx = fixed_time_indices(t)
    tc = colormap("plasma", len(idx), 0.1, 0.8)
    ax = axes[0]
    Nfine = np.geomspace(Ns.min(), Ns.max() * 4, 100)
    for c, i in zip(tc, idx):
        y = ds.relative_entropy.values[:, i]
        if not np.any(np.isfinite(y)):
            continue
        fit = fit_inverse_N(Ns, y) if len(Ns) >= 3 else None
        lab = f"t = {t[i]:.3g}"
        if fit:
            ci = f" \u00b1 {fit.limit_ci:.2g}" if np.isfinite(fit.limit_ci) else ""
            lab += f", limit {fit.limit:.4g}{ci}" + (" (poor fit)" if fit.poor else "")
        ax.semilogx(Ns, y, "o", color=c, label=lab)
        if fit:
            ax.semilogx(Nfine, fit.limit + fit.coefficient / Nfine, "--", color=c, lw=1)
            ax.axhline(fit.limit, color=c, ls=":", lw=0.8)
    ax.set_xlabel("N")
    plain_N_axis(ax)
    ax.set_ylabel(r"$H_N$")
    ax.set_title(r"$H_N$ with fit $a + b/N$ (dashed), limit $a$ (dotted)")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax = axes[1]
    for c, i in zip(tc, idx):
        loglog_with_slope(ax, Ns, ds.relative_entropy.values[:, i] / Ns, "o-", c, f"t = {t[i]:.3g}")
    finish_N_axis(ax, r"$H_N / N$", "per particle")
    fig.suptitle("Relative entropy against N at fixed times")
    pngs["relative_entropy_vs_N.png"] = save_png(fig, out_dir / "relative_entropy_vs_N.png")

    fig, ax = figure(figsize=(6.4, 4.2))
    from matplotlib import colormaps

    kc = colormaps["tab10"](np.arange(len(ds.k)))
    for c, k in zip(kc, ds.k.values):
        dist = ds.trace_distance.sel(k=k).max("time", skipna=True).values
        bound = ds.marginal_bound.sel(k=k).max("time", skipna=True).values
        loglog_with_slope(ax, Ns, dist, "o-", c, f"k = {int(k)} distance")
        loglog_with_slope(ax, Ns, bound, "s--", c, f"k = {int(k)} Pinsker bound", mfc="none")
    finish_N_axis(ax, r"$\max_t \|R^{(k)} - \rho^{\otimes k}\|_1$", "Propagation of chaos: marginal distance against N")
    pngs["marginal_rate.png"] = save_png(fig, out_dir / "marginal_rate.png")

    ks = ds.k.values
    shown = representative(list(Ns), 4)
    scols = colors(len(shown))
    fig, axes = figure(1, len(ks), figsize=(5.2 * len(ks), 4.4), squeeze=False)
    for ax, k in zip(axes[0], ks):
        for c, n in zip(scols, shown):
            dist = ds.trace_distance.sel(N=n, k=k).values
            if not np.any(np.isfinite(dist) & (dist > 0)):
                continue
            ax.plot(t[t > 0], dist[t > 0], color=c, label=f"N = {n}")
            ax.plot(t[t > 0], ds.marginal_bound.sel(N=n, k=k).values[t > 0], color=c, ls="--", lw=0.9)
        if ax.get_lines():
            ax.set_yscale("log")
            ax.plot([], [], color="0.3", label="distance")
            ax.plot([], [], color="0.3", ls="--", lw=0.9, label="Pinsker bound")
            ax.legend(fontsize=7, ncol=2)
        ax.set_xlabel("time t")
        ax.set_ylabel(rf"$\|R^{{({k})}} - \rho^{{\otimes {k}}}\|_1$")
        ax.set_title(f"k = {k}" + (f" ({len(shown)} of {len(Ns)} N shown)" if len(shown) < len(Ns) else ""),
                     fontsize=10)
        ax.grid(alpha=0.3, which="both")
    pngs["trace_distance.png"] = save_png(fig, out_dir / "trace_distance.png")

    if "observable_mean" in ds:
        pngs["observables.png"] = _observables_plot(ds, out_dir)
    if _draws_squeezing(ds):
        pngs["squeezing.png"] = _squeezing_plot(ds, out_dir)
    is_open = bool(int(ds.attrs.get("model_open", 0)))
    fig, ax = figure(figsize=(6.4, 4.2))
    shown = ds.dissipation if is_open else ds.identity_residual
    if not np.isfinite(shown.values).any():
        why = ("it was not computed (entropy_identity = false)" if not int(ds.attrs.get("entropy_identity", 1))
               else "it is not defined for this model (collective jumps)")
        ax.text(0.5, 0.5, f"The entropy production identity is not shown:\n{why}.", ha="center", va="center",
                transform=ax.transAxes, fontsize=10)
        ax.set_axis_off()
        pngs["entropy_identity.png"] = save_png(fig, out_dir / "entropy_identity.png")
        return pngs
    for c, n in zip(cols, Ns):
        if is_open:
            ax.plot(t, ds.dissipation.sel(N=n), color=c, label=f"N = {n}")
        else:
            y = np.abs(ds.identity_residual.sel(N=n).values)
            ax.plot(t, np.where(y > 0, y, np.nan), color=c, label=f"N = {n}")
    if is_open:
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylabel(r"dissipation $D_N(t)$ (must be $\geq 0$)")
        ax.set_title("Open system: dissipation in the entropy identity")
    else:
        if np.any(np.abs(ds.identity_residual.values) > 0):
            ax.set_yscale("log")
        ax.set_ylabel(r"$|dH_N/dt - \mathrm{identity}|$")
        ax.set_title("Closed system: residual of the entropy production identity")
    ax.set_xlabel("time t")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    pngs["entropy_identity.png"] = save_png(fig, out_dir / "entropy_identity.png")
    return pngs


def write_report(ds: xr.Dataset, summary: dict, out_dir, title: str = "qmeanfield report",
                 description: str = "", files: dict[str, str] | None = None) -> Path:
    """Write plots and `report.html` (images embedded, so the file stands alone) to `out_dir`.

    `files` maps link text to paths relative to `out_dir` (e.g. results.nc, summary.json).
    """
    out_dir = Path(out_dir)
    pngs = make_plots(ds, out_dir)
    m = summary["model"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if description:
        parts.append(f"<p>{html.escape(description)}</p>")
    parts.append("<h2>Model</h2><table>")
    for key, label in [("d", "one-body dimension d"), ("hbar", "hbar"), ("coupling", "coupling kappa_N"),
                       ("open", "open system"), ("n_jumps", "jump operators"), ("norm_h", "||h||"),
                       ("norm_V", "||V||")]:
        val = m.get(key)
        if key == "open":
            val = bool(val)
        parts.append(f"<tr><th>{label}</th><td>{fmt(val)}</td></tr>")
    parts.append(f"<tr><th>N</th><td>{', '.join(str(n) for n in summary['N'])}</td></tr>")
    parts.append(f"<tr><th>times</th><td>0 .. {summary['t_final']:.4g} ({ds.time.size} points)</td></tr></table>")
    parts.append("<p>One-body Hamiltonian h:</p>" + matrix_html(ds.model_h.values))
    parts.append("<p>Initial one-body state rho0:</p>" + matrix_html(ds.initial_state.values))
    for j in range(ds.sizes.get("jump", 0)):
        parts.append(f"<p>Jump operator L<sub>{j}</sub>:</p>" + matrix_html(ds.model_jumps.values[j]))
    for j in range(ds.sizes.get("collective_jump", 0)):
        parts.append(f"<p>Collective jump C<sub>{j}</sub> (N-body jump sqrt(kappa_N) sum<sub>i</sub> C<sub>i</sub>):</p>"
                     + matrix_html(ds.model_collective_jumps.values[j]))

    parts.append("<h2>Key numbers</h2><table><tr><th>N</th><th>engine</th><th>dropped weight</th><th>H_N(t_final)</th>"
                 "<th>H_N/N (t_final)</th><th>max H_N</th>")
    ks = [int(k) for k in ds.k.values]
    for k in ks:
        parts.append(f"<th>max ||R<sup>({k})</sup> - &rho;<sup>&otimes;{k}</sup>||<sub>1</sub></th>"
                     f"<th>bound holds (k={k})</th>")
    is_open = bool(m.get("open"))
    parts.append("<th>min dissipation</th>" if is_open else "<th>identity residual (relative)</th>")
    parts.append("</tr>")
    for row in summary["per_N"]:
        cells = [row["N"], row["engine"], row.get("discarded_weight"), row["relative_entropy_final"],
                 row["relative_entropy_per_particle_final"],
                 row["relative_entropy_max"]]
        for k in ks:
            cells += [row.get(f"trace_distance_k{k}_max"), row.get(f"bound_holds_k{k}")]
        if is_open:
            verdict = row.get("dissipation_nonnegative")
            cells.append(Html(f"{fmt(row.get('dissipation_min'))} (&ge; 0 within {fmt(row.get('dissipation_tolerance'))}: "
                              f"{fmt(verdict)})") if verdict is not None else None)
        else:
            cells.append(row.get("identity_residual_relative"))
        parts.append("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    fit = summary.get("relative_entropy_per_particle_fit_at_t_final")
    if fit:
        parts.append(f"<p>Fitted exponent of H_N/N against N at t_final: <b>{fmt(fit['exponent'])}</b> "
                     f"&plusmn; {fmt(fit['exponent_ci'])} (95 %; the entropy method predicts H_N = O(1), "
                     "i.e. H_N/N ~ N<sup>-1</sup>).</p>")
    limit = summary.get("relative_entropy_limit_at_t_final")
    if limit:
        warn = (" <b>The fit is poor (R&sup2; = " + fmt(limit["r2"]) + "): the data are not yet in the a + b/N "
                "regime, read the limit with care.</b>") if limit.get("poor") else ""
        parts.append(f"<p>Extrapolated N &rarr; &infin; limit of H_N(t_final) (fit a + b/N): "
                     f"<b>{fmt(limit['limit'])}</b> &plusmn; {fmt(limit['limit_ci'])} (95 %).{warn}</p>")
    rates = summary.get("max_trace_distance_fits", {})
    rows = [(k, v) for k, v in rates.items() if v.get("trace_distance")]
    if rows:
        parts.append("<table><tr><th>marginal</th><th>fitted exponent of max_t distance (95 %)</th>"
                     "<th>exponent of the Pinsker bound</th></tr>")
        for k, v in rows:
            pb = v.get("pinsker_bound") or {}
            parts.append(f"<tr><td>{k}</td><td>{fmt(v['trace_distance']['exponent'])} &plusmn; "
                         f"{fmt(v['trace_distance']['exponent_ci'])}</td><td>{fmt(pb.get('exponent'))}</td></tr>")
        parts.append("</table>")
    note = summary.get("relative_entropy_note")
    if note:
        parts.append(f"<p class='note'>Relative entropy: {html.escape(note)}</p>")

    parts.append("<h2>Plots</h2>")
    for name, caption in {**PLOTS, **OBSERVABLE_PLOTS, **SQUEEZING_PLOTS}.items():
        if name in pngs:
            parts.append(embed_png(name, pngs[name], caption))
    parts.append("<h2>Files</h2>" + links_html({**(files or {}), **{n: n for n in pngs}}))
    parts.append("<h2>Definitions</h2><ul>"
                 "<li>H_N = H(R_N | rho^(x)N) = -S(R_N) - N Tr(R<sup>(1)</sup> log rho), natural log.</li>"
                 "<li>Pinsker marginal bound: sqrt(2 H_N / floor(N/k)).</li>"
                 "<li>Entropy production identity: dH_N/dt = (iN/hbar)[kappa_N (N-1) Tr(R<sup>(2)</sup>A) - "
                 "Tr(R<sup>(1)</sup>[log rho, V_rho])], A = [log rho (x) 1, V]; open systems subtract D_N &ge; 0.</li>"
                 f"</ul><p class='note'>qmeanfield {html.escape(str(summary.get('qmeanfield_version', '')))}</p>"
                 "</body></html>")
    path = out_dir / "report.html"
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path



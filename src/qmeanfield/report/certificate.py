"""The certificate report ("Theory versus measurement"): plots and `certificate.html`.

Reads only the certificate Dataset (`qmeanfield.certify`) and its summary
(`qmeanfield.results.summarize_certificate`); the eta-threshold scan, when computed, is
stored in the Dataset (`threshold_*` variables).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import xarray as xr

from ..store import atomic_write_bytes
from ._common import CSS, colormap, embed_png, figure, fmt, links_html, plain_N_axis, save_png

__all__ = ["write_certificate_report", "CERTIFICATE_PLOTS"]

#: the plots this report writes, with their captions
CERTIFICATE_PLOTS = {"certificate.png": "Bound and exact value, one panel per N",
                     "lambda_vs_N.png": "Lambda_N against N for several eta: flat lines are the combinatorial "
                                        "estimate made visible"}


def write_certificate_report(ds: xr.Dataset, summary: dict, out_dir, title: str = "qmeanfield certificate",
                             files: dict[str, str] | None = None) -> Path:
    """Section "Theory versus measurement": plots and certificate.html in `out_dir`."""
    out_dir = Path(out_dir)
    Ns = ds.N.values
    t = ds.time.values
    pngs = {}
    ncol = min(3, len(Ns))
    nrow = int(np.ceil(len(Ns) / ncol))
    fig, axes = figure(nrow, ncol, figsize=(4.2 * ncol, 3.3 * nrow), squeeze=False)
    for ax, n in zip(axes.ravel(), Ns):
        sel = ds.sel(N=n)
        ax.semilogy(t[1:], sel.bound.values[1:], color="C3", label="certificate (Gronwall)")
        if "relative_entropy" in ds:
            H = sel.relative_entropy.values
            ax.semilogy(t[1:], np.where(H[1:] > 0, H[1:], np.nan), color="C0", label="exact H_N")
        ax.set_title(f"N = {n}")
        ax.set_xlabel("time t")
        ax.set_ylabel(r"$H_N(t)$ and its bound")
        ax.grid(alpha=0.3, which="both")
    for ax in axes.ravel()[len(Ns):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Theory versus measurement: the certified bound and the exact relative entropy")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    pngs["certificate.png"] = save_png(fig, out_dir / "certificate.png")

    fig, ax = figure(figsize=(6.4, 4.2))
    if "threshold_lambda_N" in ds:
        lambda_N, etas, Nt = ds.threshold_lambda_N.values, ds.threshold_eta.values, ds.threshold_N.values
        plot_title = (f"Lambda_N at t = {ds.attrs['eta_threshold_time']:.3g} "
                      f"(eta threshold ~ {ds.attrs['eta_threshold']:.3g})")
    else:
        lambda_N, etas, Nt = ds.lambda_N.values[:, :, -1], ds.eta.values, Ns
        plot_title = f"Lambda_N at t = {t[-1]:.3g}"
    ec = colormap("magma", len(etas), 0.1, 0.85)
    for e, (c, eta) in enumerate(zip(ec, etas)):
        y = lambda_N[:, e]
        ok = np.isfinite(y) & (y > 0)
        if ok.any():
            ax.loglog(np.asarray(Nt)[ok], y[ok], "o-", color=c, ms=3, label=f"eta = {eta:.3g}")
    ax.set_xlabel("N")
    plain_N_axis(ax)
    ax.set_ylabel(r"$\Lambda_N(\eta)$")
    ax.set_title(plot_title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.02, 0.5))  # outside: hides no curve
    pngs["lambda_vs_N.png"] = save_png(fig, out_dir / "lambda_vs_N.png")

    m = summary.get("model", {})
    model_rows = "".join(f"<tr><th>{label}</th><td>{fmt(m.get(key))}</td></tr>" for key, label in (
        ("d", "one-body dimension d"), ("hbar", "hbar"), ("coupling", "coupling kappa_N"), ("n_jumps", "jump operators"),
        ("norm_h", "||h||"), ("norm_V", "||V||")))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><h2>Theory versus measurement</h2>",
             f"<table>{model_rows}<tr><th>N</th><td>{', '.join(str(n) for n in summary['N'])}</td></tr>"
             f"<tr><th>times</th><td>0 .. {summary['t_final']:.4g}</td></tr></table>",
             "<p>The entropy method's a-priori bound (Gibbs variational principle + Gronwall, minimised over "
             "eta) beside the exact relative entropy H(R_N | rho^(x)N). A bound below the exact value would be "
             "an error.</p>"]
    exact = any(row.get("relative_entropy_final") is not None for row in summary["per_N"])
    columns = [("N", "N"), ("bound_final", "bound(t_final)")]
    if exact:
        columns += [("relative_entropy_final", "exact H_N(t_final)"), ("bound_over_exact_at_t_final", "bound / exact"),
                    ("bound_holds", "bound holds at all t")]
    else:
        parts.append("<p class='note'>The exact H_N was not computed (certify without exact): the bound alone "
                     "is shown.</p>")
    columns.append(("eta_opt_final", "eta_opt(t_final)"))
    parts.append("<table><tr>" + "".join(f"<th>{html.escape(label)}</th>" for _, label in columns) + "</tr>")
    for row in summary["per_N"]:
        parts.append("<tr>" + "".join(f"<td>{fmt(row.get(k))}</td>" for k, _ in columns) + "</tr>")
    parts.append("</table>")
    edge = [row["N"] for row in summary["per_N"] if row.get("eta_opt_on_grid_edge")]
    if edge:
        parts.append(f"<p><b>Warning:</b> for N = {edge} the minimising eta sits on the edge of the eta grid "
                     f"[{fmt(summary['etas'][0])}, {fmt(summary['etas'][-1])}] at some time: the true minimum may lie "
                     "outside; pass a wider grid (certify(..., etas=...)) for a tighter bound.</p>")
    ratios = [row.get("bound_over_exact_at_t_final") for row in summary["per_N"]]
    if len([r for r in ratios if isinstance(r, float)]) >= 2:
        parts.append("<p class='note'>Why bound / exact changes with N: the exact H_N(t) tends to an O(1) limit, "
                     "while the bound integrates Lambda_N(eta, s), which carries the combinatorial constants of the "
                     "entropy method (its N-dependence is drawn below); the ratio measures how loose the a-priori "
                     "estimate is, not an error.</p>")
    fit = summary.get("relative_entropy_limit_at_t_final")
    if fit:
        parts.append("<h2>Fitted rates (95% confidence)</h2><table><tr><th>quantity</th><th>fit</th></tr>")
        poor = " (poor fit: read with care)" if fit.get("poor") else ""
        parts.append(f"<tr><td>H_N(t_final) = a + b/N</td><td>a = {fmt(fit['limit'])} &plusmn; {fmt(fit['limit_ci'])}, "
                     f"b = {fmt(fit['coefficient'])} &plusmn; {fmt(fit['coefficient_ci'])}{poor}</td></tr>")
        for k, r in (summary.get("trace_distance_fits") or {}).items():
            if r:
                parts.append(f"<tr><td>max_t ||R^({k[1:]}) - rho^(x){k[1:]}||_1 = c N^p</td>"
                             f"<td>p = {fmt(r['exponent'])} &plusmn; {fmt(r['exponent_ci'])}</td></tr>")
        parts.append("</table>")
    if summary.get("eta_threshold"):
        th = summary["eta_threshold"]
        parts.append(f"<p>Estimated eta threshold (Lambda_N bounded in N over N = {th['N']}): "
                     f"<b>{th['estimate']:.4g}</b> (growth exponent below {th['growth_cutoff']}).</p>")
    for name, caption in CERTIFICATE_PLOTS.items():
        parts.append(embed_png(name, pngs[name], caption))
    parts.append("<h2>Files</h2>" + links_html({**(files or {}), **{name: name for name in CERTIFICATE_PLOTS}}))
    parts.append(f"<p class='note'>qmeanfield {html.escape(str(summary.get('qmeanfield_version', '')))}</p>"
                 "</body></html>")
    path = out_dir / "certificate.html"
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path



"""The steady-state report: distances against N and `steady.html`. Reads only the Dataset."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import xarray as xr

from ..store import atomic_write_bytes
from ._common import CSS, colors, embed_png, figure, finish_N_axis, fmt, links_html, loglog_with_slope, matrix_html, save_png

__all__ = ["write_steady_report", "STEADY_PLOTS"]

#: the plots this report writes
STEADY_PLOTS = ("steady.png",)


def write_steady_report(ds: xr.Dataset, out_dir, title: str = "qmeanfield steady states",
                        files: dict[str, str] | None = None) -> Path:
    """steady.png (distances and relative entropy against N) and steady.html in `out_dir`."""
    out_dir = Path(out_dir)
    Ns = ds.N.values.astype(float)
    fig, axes = figure(1, 2, figsize=(11, 4.0))
    cols = colors(ds.sizes["fixed_point"] * 2)
    for f in range(ds.sizes["fixed_point"]):
        tag = f"fixed point {f}" + ("" if ds.fixed_point_stable.values[f] else " (unstable)")
        for b, k in enumerate(ds.k.values):
            loglog_with_slope(axes[0], Ns, ds.trace_distance.values[:, b, f], "o-" if k == 1 else "s--",
                               cols[2 * f + b], f"k = {k}, {tag}", ms=4)
        axes[1].semilogx(Ns, ds.relative_entropy.values[:, f], "o-", color=cols[2 * f], label=tag)
    finish_N_axis(axes[0], r"$\|R^{(k)}_{ss} - \rho^{*\otimes k}\|_1$", "steady-state marginals vs fixed point")
    finish_N_axis(axes[1], r"$H(R^{ss}_N | \rho^{*\otimes N})$", "relative entropy of the steady state")
    png = save_png(fig, out_dir / "steady.png")
    has_gap = "liouvillian_gap" in ds and bool(np.isfinite(ds.liouvillian_gap.values).any())
    rows = "".join(
        f"<tr><td>{int(n)}</td><td>{fmt(ds.trace_distance.values[a, 0, 0])}</td>"
        f"<td>{fmt(ds.trace_distance.values[a, 1, 0])}</td><td>{fmt(ds.relative_entropy.values[a, 0])}</td>"
        f"<td>{fmt(ds.entropy.values[a])}</td><td>{html.escape(str(ds.method.values[a]))}</td>"
        f"<td>{fmt(ds.residual.values[a])}</td>"
        + (f"<td>{int(ds.iterations.values[a])}</td>" if "iterations" in ds else "")
        + (f"<td>{fmt(ds.liouvillian_gap.values[a])}</td>" if has_gap else "")
        + "</tr>" for a, n in enumerate(ds.N.values))
    fps = "".join(
        f"<p>Fixed point {f}: {'stable' if ds.fixed_point_stable.values[f] else 'unstable'} (leading eigenvalue "
        f"{fmt(ds.fixed_point_max_real_eigenvalue.values[f])}, residual {fmt(ds.fixed_point_residual.values[f])})"
        "</p>" + matrix_html(ds.fixed_point_state.values[f]) for f in range(ds.sizes["fixed_point"]))
    unique = ("a unique stable fixed point was found" if ds.attrs["unique_fixed_point"] else
              f"{ds.attrs['stable_fixed_points']} stable fixed point(s) were found: the N-body steady state "
              "need not approach any one of them, read the distances with care")
    links = links_html({**(files or {}), "steady.png": "steady.png"})
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>N-body steady state (kernel of the Lindblad generator on Schur-Weyl blocks) against the "
            f"mean-field fixed point(s); {unique}. Fitted slope of the one-body distance in N: "
            f"<b>{fmt(ds.attrs['exponent_one_body'])}</b> &plusmn; {fmt(ds.attrs['exponent_one_body_ci'])}"
            f" (95 %).</p>{fps}"
            "<h2>Per N (first fixed point)</h2><table><tr><th>N</th><th>||R1 - rho*||_1</th>"
            "<th>||R2 - rho*^(x)2||_1</th><th>H(R_ss | rho*^(x)N)</th><th>S(R_ss)</th><th>method</th>"
            "<th>residual</th>" + ("<th>iterations</th>" if "iterations" in ds else "")
            + ("<th>Liouvillian gap</th>" if has_gap else "") + f"</tr>{rows}</table>"
            + ("<p>Liouvillian gap: slowest relaxation rate of the N-body generator (symmetric sector), to "
               "compare with minus the fixed point's leading eigenvalue (its slowest mean-field rate).</p>"
               if has_gap else "")
            + embed_png("steady.png", png, "Distances and relative entropy against N")
            + f"<h2>Files</h2>{links}</body></html>")
    path = out_dir / "steady.html"
    atomic_write_bytes(path, page.encode())
    return path

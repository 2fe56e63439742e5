"""Plots and a self-contained HTML report. Reads only the Dataset (and its summary)."""

from __future__ import annotations

import base64
import html
import io as _io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from .diagnostics.rates import fit_inverse_N, fit_power_law  # noqa: E402
from .io import atomic_write_bytes  # noqa: E402

__all__ = ["make_plots", "write_report", "PLOTS"]

#: file name -> caption
PLOTS = {
    "relative_entropy.png": "Relative entropy H(R_N | rho^(x)N) against time, one line per N.",
    "relative_entropy_vs_N.png": "H_N against N at fixed times with the fit a + b/N and its N -> infinity limit a; "
                                 "H_N/N against N (log-log) with fitted slopes.",
    "marginal_rate.png": "Largest marginal trace distance over the time window against N (log-log), with fitted "
                         "rate, next to the Pinsker bound and its rate (N^-1/2 expected).",
    "trace_distance.png": "Marginal trace distances ||R^(k) - rho^(x)k||_1 (solid) and their Pinsker bounds (dashed).",
    "entropy_identity.png": "Entropy production identity: the residual |dH/dt - identity| (closed) or the dissipation D_N >= 0 (open).",
}


def _plain_N_axis(ax) -> None:
    """Label a logarithmic N axis with plain integers (no crowded 2x10^0 minor labels)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _loglog_with_slope(ax, Ns, y, style, color, label, **kw) -> None:
    """Plot the positive finite points of y against N on log-log axes, the fitted slope in the label."""
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0)
    if not ok.any():
        return
    slope = fit_power_law(Ns[ok], y[ok])
    ax.loglog(Ns[ok], y[ok], style, color=color, label=label + (f", slope {slope:.2f}" if slope is not None else ""),
              **kw)


def _finish_N_axis(ax, ylabel: str, title: str) -> None:
    ax.set_xlabel("N")
    _plain_N_axis(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _colors(n):
    return plt.cm.viridis(np.linspace(0.05, 0.9, max(n, 1)))


def _save(fig, path: Path) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return data


def _fixed_time_indices(times: np.ndarray, count: int = 3) -> list[int]:
    pos = np.flatnonzero(times > 0)
    if pos.size == 0:
        return []
    picks = np.unique(np.linspace(pos[0], pos[-1], min(count, pos.size)).round().astype(int))
    return list(picks)


def make_plots(ds: xr.Dataset, out_dir) -> dict[str, bytes]:
    """Draw the report's plots into ``out_dir``; return {file name: PNG bytes}."""
    out_dir = Path(out_dir)
    t = ds.time.values
    Ns = ds.N.values
    cols = _colors(len(Ns))
    pngs = {}

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for c, n in zip(cols, Ns):
        ax.plot(t, ds.relative_entropy.sel(N=n), color=c, label=f"N = {n}")
    ax.set_xlabel("time t")
    ax.set_ylabel(r"$H(R_N \,|\, \rho_t^{\otimes N})$")
    ax.set_title("N-body versus mean-field: relative entropy")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    pngs["relative_entropy.png"] = _save(fig, out_dir / "relative_entropy.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    idx = _fixed_time_indices(t)
    tc = plt.cm.plasma(np.linspace(0.1, 0.8, max(len(idx), 1)))
    ax = axes[0]
    Nfine = np.geomspace(Ns.min(), Ns.max() * 4, 100)
    for c, i in zip(tc, idx):
        y = ds.relative_entropy.values[:, i]
        if not np.any(np.isfinite(y)):
            continue
        fit = fit_inverse_N(Ns, y) if len(Ns) >= 3 else None
        lab = f"t = {t[i]:.3g}" + (f", limit {fit[0]:.4g}" if fit else "")
        ax.semilogx(Ns, y, "o", color=c, label=lab)
        if fit:
            ax.semilogx(Nfine, fit[0] + fit[1] / Nfine, "--", color=c, lw=1)
            ax.axhline(fit[0], color=c, ls=":", lw=0.8)
    ax.set_xlabel("N")
    _plain_N_axis(ax)
    ax.set_ylabel(r"$H_N$")
    ax.set_title(r"$H_N$ with fit $a + b/N$ (dashed), limit $a$ (dotted)")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax = axes[1]
    for c, i in zip(tc, idx):
        _loglog_with_slope(ax, Ns, ds.relative_entropy.values[:, i] / Ns, "o-", c, f"t = {t[i]:.3g}")
    _finish_N_axis(ax, r"$H_N / N$", "per particle")
    fig.suptitle("Relative entropy against N at fixed times")
    pngs["relative_entropy_vs_N.png"] = _save(fig, out_dir / "relative_entropy_vs_N.png")

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    kc = plt.cm.tab10(np.arange(len(ds.k)))
    for c, k in zip(kc, ds.k.values):
        dist = ds.trace_distance.sel(k=k).max("time", skipna=True).values
        bound = ds.marginal_bound.sel(k=k).max("time", skipna=True).values
        _loglog_with_slope(ax, Ns, dist, "o-", c, f"k = {int(k)} distance")
        _loglog_with_slope(ax, Ns, bound, "s--", c, f"k = {int(k)} Pinsker bound", mfc="none")
    _finish_N_axis(ax, r"$\max_t \|R^{(k)} - \rho^{\otimes k}\|_1$", "Propagation of chaos: marginal distance against N")
    pngs["marginal_rate.png"] = _save(fig, out_dir / "marginal_rate.png")

    ks = ds.k.values
    fig, axes = plt.subplots(1, len(ks), figsize=(5 * len(ks), 4.2), squeeze=False)
    for ax, k in zip(axes[0], ks):
        for c, n in zip(cols, Ns):
            dist = ds.trace_distance.sel(N=n, k=k)
            if not np.any(np.isfinite(dist)):
                continue
            ax.plot(t, dist, color=c, label=f"N = {n}")
            ax.plot(t, ds.marginal_bound.sel(N=n, k=k), color=c, ls="--", lw=0.9)
        ax.set_xlabel("time t")
        ax.set_ylabel(rf"$\|R^{{({k})}} - \rho^{{\otimes {k}}}\|_1$")
        ax.set_title(f"k = {k}: distance (solid), Pinsker bound (dashed)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
    pngs["trace_distance.png"] = _save(fig, out_dir / "trace_distance.png")

    is_open = bool(int(ds.attrs.get("model_open", 0)))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for c, n in zip(cols, Ns):
        if is_open:
            ax.plot(t, ds.dissipation.sel(N=n), color=c, label=f"N = {n}")
        else:
            y = np.abs(ds.identity_residual.sel(N=n).values)
            ax.semilogy(t, np.where(y > 0, y, np.nan), color=c, label=f"N = {n}")
    if is_open:
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylabel(r"dissipation $D_N(t)$ (must be $\geq 0$)")
        ax.set_title("Open system: dissipation in the entropy identity")
    else:
        ax.set_ylabel(r"$|dH_N/dt - \mathrm{identity}|$")
        ax.set_title("Closed system: residual of the entropy production identity")
    ax.set_xlabel("time t")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    pngs["entropy_identity.png"] = _save(fig, out_dir / "entropy_identity.png")
    return pngs


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, float):
        return f"{x:.4g}"
    return html.escape(str(x))


def _matrix_html(M: np.ndarray) -> str:
    rows = []
    for r in M:
        cells = []
        for z in r:
            z = complex(z)
            s = f"{z.real:.4g}" if abs(z.imag) < 1e-12 else f"{z.real:.3g}{z.imag:+.3g}i"
            cells.append(f"<td>{s}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table class='mat'>" + "".join(rows) + "</table>"


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}table.mat td{font-family:monospace;font-size:90%}
img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}.note{color:#555;font-size:90%}
code{background:#f5f5f5;padding:0 3px}
"""


def write_report(ds: xr.Dataset, summary: dict, out_dir, title: str = "qmeanfield report",
                 description: str = "", files: dict[str, str] | None = None) -> Path:
    """Write plots and ``report.html`` (images embedded, so the file stands alone) to ``out_dir``.

    ``files`` maps link text to paths relative to ``out_dir`` (e.g. results.nc, summary.json).
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
        parts.append(f"<tr><th>{label}</th><td>{_fmt(val)}</td></tr>")
    parts.append(f"<tr><th>N</th><td>{', '.join(str(n) for n in summary['N'])}</td></tr>")
    parts.append(f"<tr><th>times</th><td>0 .. {summary['t_final']:.4g} ({ds.time.size} points)</td></tr></table>")
    parts.append("<p>One-body Hamiltonian h:</p>" + _matrix_html(ds.model_h.values))
    parts.append("<p>Initial one-body state rho0:</p>" + _matrix_html(ds.initial_state.values))
    for j in range(ds.sizes.get("jump", 0)):
        parts.append(f"<p>Jump operator L<sub>{j}</sub>:</p>" + _matrix_html(ds.model_jumps.values[j]))
    for j in range(ds.sizes.get("collective_jump", 0)):
        parts.append(f"<p>Collective jump C<sub>{j}</sub> (N-body jump sqrt(kappa_N) sum<sub>i</sub> C<sub>i</sub>):</p>"
                     + _matrix_html(ds.model_collective_jumps.values[j]))

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
        cells.append(row.get("dissipation_min") if is_open else row.get("identity_residual_relative"))
        parts.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    slope = summary.get("relative_entropy_per_particle_exponent_at_t_final")
    if slope is not None:
        parts.append(f"<p>Fitted exponent of H_N/N against N at t_final: <b>{slope:.3f}</b> "
                     "(the entropy method predicts H_N = O(1), i.e. H_N/N ~ 1/N).</p>")
    limit = summary.get("relative_entropy_limit_at_t_final")
    if isinstance(limit, float):
        parts.append(f"<p>Extrapolated N &rarr; &infin; limit of H_N(t_final) (fit a + b/N): <b>{limit:.5g}</b>.</p>")
    rates = summary.get("max_trace_distance_exponents", {})
    rows = [(k, v) for k, v in rates.items() if v.get("trace_distance_exponent") is not None]
    if rows:
        parts.append("<table><tr><th>marginal</th><th>fitted exponent of max_t distance</th>"
                     "<th>exponent of the Pinsker bound</th></tr>")
        for k, v in rows:
            parts.append(f"<tr><td>{k}</td><td>{_fmt(v['trace_distance_exponent'])}</td>"
                         f"<td>{_fmt(v['pinsker_bound_exponent'])}</td></tr>")
        parts.append("</table>")
    note = summary.get("relative_entropy_note")
    if note:
        parts.append(f"<p class='note'>Relative entropy: {html.escape(note)}</p>")

    parts.append("<h2>Plots</h2>")
    for name, caption in PLOTS.items():
        b64 = base64.b64encode(pngs[name]).decode()
        parts.append(f"<h3>{html.escape(caption)}</h3><a href='{name}'><img alt='{name}' "
                     f"src='data:image/png;base64,{b64}'></a>")
    parts.append("<h2>Files</h2><ul>")
    for label, rel in {**(files or {}), **{n: n for n in PLOTS}}.items():
        parts.append(f"<li><a href='{html.escape(rel)}'>{html.escape(label)}</a></li>")
    parts.append("</ul><h2>Definitions</h2><ul>"
                 "<li>H_N = H(R_N | rho^(x)N) = -S(R_N) - N Tr(R<sup>(1)</sup> log rho), natural log.</li>"
                 "<li>Pinsker marginal bound: sqrt(2 H_N / floor(N/k)).</li>"
                 "<li>Entropy production identity: dH_N/dt = (iN/hbar)[kappa_N (N-1) Tr(R<sup>(2)</sup>A) - "
                 "Tr(R<sup>(1)</sup>[log rho, V_rho])], A = [log rho (x) 1, V]; open systems subtract D_N &ge; 0.</li>"
                 f"</ul><p class='note'>qmeanfield {html.escape(str(summary.get('qmeanfield_version', '')))}</p>"
                 "</body></html>")
    path = out_dir / "report.html"
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path


# ----------------------------------------------------------------------------- certificate
def summarize_certificate(ds: xr.Dataset, threshold: dict | None = None) -> dict:
    """Key numbers of a certificate: bound versus exact per N, fitted rates with confidence intervals."""
    from .diagnostics.rates import fit_inverse_N_ci, fit_power_law_ci, richardson_limit

    def num(x):
        x = float(x)
        return x if np.isfinite(x) else None

    per_N = []
    has_exact = "relative_entropy" in ds
    for n in ds.N.values:
        sel = ds.sel(N=n)
        row = {"N": int(n), "bound_final": num(sel.bound.values[-1]), "eta_opt_final": num(sel.eta_opt.values[-1]),
               "lambda_max": num(np.nanmax(sel.lambda_N.values))}
        if has_exact:
            H = sel.relative_entropy.values
            row["relative_entropy_final"] = num(H[-1])
            row["bound_holds"] = bool(np.all(sel.bound.values >= H - 1e-10))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(H > 1e-12, sel.bound.values / H, np.nan)
            row["bound_over_exact_at_t_final"] = num(ratio[-1])
        per_N.append(row)
    out = {"N": [int(n) for n in ds.N.values], "t_final": float(ds.time.values[-1]), "per_N": per_N,
           "etas": [float(e) for e in ds.eta.values]}
    if has_exact and ds.sizes["N"] >= 2:
        Ns = ds.N.values
        H_final = ds.relative_entropy.values[:, -1]
        out["relative_entropy_fit_a_plus_b_over_N"] = fit_inverse_N_ci(Ns, H_final)
        out["relative_entropy_richardson_limit"] = richardson_limit(Ns, H_final)
        out["trace_distance_rates"] = {
            f"k{int(k)}": fit_power_law_ci(Ns, ds.trace_distance.sel(k=k).max("time", skipna=True).values)
            for k in ds.k.values}
        out["bound_rate_final"] = fit_power_law_ci(Ns, ds.bound.values[:, -1] / Ns)
    if threshold:
        out["eta_threshold"] = {"estimate": threshold["eta_threshold"], "N": [int(n) for n in threshold["N"]],
                                "growth_cutoff": threshold["growth_cutoff"],
                                "exponents": [num(x) for x in threshold["exponents"]]}
    return out


def write_certificate_report(ds: xr.Dataset, summary: dict, out_dir, title: str = "qmeanfield certificate",
                             threshold: dict | None = None, files: dict[str, str] | None = None) -> Path:
    """Section "Theory versus measurement": plots and certificate.html in ``out_dir``."""
    out_dir = Path(out_dir)
    Ns = ds.N.values
    t = ds.time.values
    pngs = {}
    ncol = min(3, len(Ns))
    nrow = int(np.ceil(len(Ns) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.3 * nrow), squeeze=False)
    for ax, n in zip(axes.ravel(), Ns):
        sel = ds.sel(N=n)
        ax.semilogy(t[1:], sel.bound.values[1:], color="C3", label="certificate (Gronwall)")
        if "relative_entropy" in ds:
            H = sel.relative_entropy.values
            ax.semilogy(t[1:], np.where(H[1:] > 0, H[1:], np.nan), color="C0", label="exact H_N")
        ax.set_title(f"N = {n}")
        ax.set_xlabel("time t")
        ax.grid(alpha=0.3, which="both")
    for ax in axes.ravel()[len(Ns):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Theory versus measurement: the certified bound and the exact relative entropy")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    pngs["certificate.png"] = _save(fig, out_dir / "certificate.png")

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if threshold is not None:
        lam, etas, Nt = threshold["lambda_N"], threshold["etas"], threshold["N"]
        title = f"Lambda_N at t = {threshold.get('time', 0):.3g} (eta threshold ~ {threshold['eta_threshold']:.3g})"
    else:
        lam, etas, Nt = ds.lambda_N.values[:, :, -1], ds.eta.values, Ns
        title = f"Lambda_N at t = {t[-1]:.3g}"
    ec = plt.cm.magma(np.linspace(0.1, 0.85, len(etas)))
    for e, (c, eta) in enumerate(zip(ec, etas)):
        y = lam[:, e]
        ok = np.isfinite(y) & (y > 0)
        if ok.any():
            ax.loglog(np.asarray(Nt)[ok], y[ok], "o-", color=c, ms=3, label=f"eta = {eta:.3g}")
    ax.set_xlabel("N")
    _plain_N_axis(ax)
    ax.set_ylabel(r"$\Lambda_N(\eta)$")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, ncol=2)
    pngs["lambda_vs_N.png"] = _save(fig, out_dir / "lambda_vs_N.png")

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>Theory versus measurement</h1>",
             "<p>The entropy method's a-priori bound (Gibbs variational principle + Gronwall, minimised over "
             "eta) beside the exact relative entropy H(R_N | rho^(x)N). A bound below the exact value would be "
             "an error.</p><table><tr><th>N</th><th>bound(t_final)</th><th>exact H_N(t_final)</th>"
             "<th>bound / exact</th><th>bound holds at all t</th><th>eta_opt(t_final)</th></tr>"]
    for row in summary["per_N"]:
        parts.append("<tr>" + "".join(f"<td>{_fmt(row.get(k))}</td>" for k in (
            "N", "bound_final", "relative_entropy_final", "bound_over_exact_at_t_final", "bound_holds",
            "eta_opt_final")) + "</tr>")
    parts.append("</table>")
    fit = summary.get("relative_entropy_fit_a_plus_b_over_N")
    if fit:
        parts.append("<h2>Fitted rates (95% confidence)</h2><table><tr><th>quantity</th><th>fit</th></tr>")
        parts.append(f"<tr><td>H_N(t_final) = a + b/N</td><td>a = {fit['a']:.4g} &plusmn; {fit['a_ci']:.2g}, "
                     f"b = {fit['b']:.4g} &plusmn; {fit['b_ci']:.2g}</td></tr>")
        lim = summary.get("relative_entropy_richardson_limit")
        if lim is not None:
            parts.append(f"<tr><td>Richardson limit of H_N(t_final)</td><td>{lim:.5g}</td></tr>")
        for k, r in (summary.get("trace_distance_rates") or {}).items():
            if r:
                parts.append(f"<tr><td>max_t ||R^({k[1:]}) - rho^(x){k[1:]}||_1 = c N^-alpha</td>"
                             f"<td>alpha = {r['alpha']:.3g} &plusmn; {r['alpha_ci']:.2g}</td></tr>")
        parts.append("</table>")
    if summary.get("eta_threshold"):
        th = summary["eta_threshold"]
        parts.append(f"<p>Estimated eta threshold (Lambda_N bounded in N over N = {th['N']}): "
                     f"<b>{th['estimate']:.4g}</b> (growth exponent below {th['growth_cutoff']}).</p>")
    for name, caption in (("certificate.png", "Bound and exact value, one panel per N"),
                          ("lambda_vs_N.png", "Lambda_N against N for several eta: flat lines are the "
                                              "combinatorial estimate made visible")):
        b64 = base64.b64encode(pngs[name]).decode()
        parts.append(f"<h3>{caption}</h3><a href='{name}'><img alt='{name}' src='data:image/png;base64,{b64}'></a>")
    parts.append("<h2>Files</h2><ul>")
    for label, rel in {**(files or {}), "certificate.png": "certificate.png", "lambda_vs_N.png": "lambda_vs_N.png"}.items():
        parts.append(f"<li><a href='{html.escape(rel)}'>{html.escape(label)}</a></li>")
    parts.append("</ul></body></html>")
    path = out_dir / "certificate.html"
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path


def write_steady_report(ds: xr.Dataset, out_dir, title: str = "qmeanfield steady states",
                        files: dict[str, str] | None = None) -> Path:
    """steady.png (distances and relative entropy against N) and steady.html in ``out_dir``."""
    out_dir = Path(out_dir)
    Ns = ds.N.values.astype(float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    colors = _colors(ds.sizes["fixed_point"] * 2)
    for f in range(ds.sizes["fixed_point"]):
        tag = f"fixed point {f}" + ("" if ds.fixed_point_stable.values[f] else " (unstable)")
        for b, k in enumerate(ds.k.values):
            _loglog_with_slope(axes[0], Ns, ds.trace_distance.values[:, b, f], "o-" if k == 1 else "s--",
                               colors[2 * f + b], f"k = {k}, {tag}", ms=4)
        axes[1].semilogx(Ns, ds.relative_entropy.values[:, f], "o-", color=colors[2 * f], label=tag)
    _finish_N_axis(axes[0], r"$\|R^{(k)}_{ss} - \rho^{*\otimes k}\|_1$", "steady-state marginals vs fixed point")
    _finish_N_axis(axes[1], r"$H(R^{ss}_N | \rho^{*\otimes N})$", "relative entropy of the steady state")
    png = _save(fig, out_dir / "steady.png")
    rows = "".join(
        f"<tr><td>{int(n)}</td><td>{_fmt(ds.trace_distance.values[a, 0, 0])}</td>"
        f"<td>{_fmt(ds.trace_distance.values[a, 1, 0])}</td><td>{_fmt(ds.relative_entropy.values[a, 0])}</td>"
        f"<td>{_fmt(ds.entropy.values[a])}</td><td>{html.escape(str(ds.method.values[a]))}</td>"
        f"<td>{_fmt(ds.residual.values[a])}</td></tr>" for a, n in enumerate(ds.N.values))
    fps = "".join(
        f"<p>Fixed point {f}: {'stable' if ds.fixed_point_stable.values[f] else 'unstable'} (leading eigenvalue "
        f"{_fmt(ds.fixed_point_max_real_eigenvalue.values[f])}, residual {_fmt(ds.fixed_point_residual.values[f])})"
        "</p>" + _matrix_html(ds.fixed_point_state.values[f]) for f in range(ds.sizes["fixed_point"]))
    unique = ("a unique stable fixed point was found" if ds.attrs["unique_fixed_point"] else
              f"{ds.attrs['stable_fixed_points']} stable fixed point(s) were found: the N-body steady state "
              "need not approach any one of them, read the distances with care")
    b64 = base64.b64encode(png).decode()
    links = "".join(f"<li><a href='{html.escape(rel)}'>{html.escape(label)}</a></li>"
                    for label, rel in {**(files or {}), "steady.png": "steady.png"}.items())
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>N-body steady state (kernel of the Lindblad generator on Schur-Weyl blocks) against the "
            f"mean-field fixed point(s); {unique}. Fitted slope of the one-body distance in N: "
            f"<b>{_fmt(ds.attrs['rate_one_body'])}</b>.</p>{fps}"
            "<h2>Per N (first fixed point)</h2><table><tr><th>N</th><th>||R1 - rho*||_1</th>"
            "<th>||R2 - rho*^(x)2||_1</th><th>H(R_ss | rho*^(x)N)</th><th>S(R_ss)</th><th>method</th>"
            f"<th>residual</th></tr>{rows}</table>"
            f"<h3>Distances and relative entropy against N</h3><a href='steady.png'>"
            f"<img alt='steady.png' src='data:image/png;base64,{b64}'></a><h2>Files</h2><ul>{links}</ul></body></html>")
    path = out_dir / "steady.html"
    atomic_write_bytes(path, page.encode())
    return path

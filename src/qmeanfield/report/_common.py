"""Shared pieces of the reports: figures without pyplot (no global backend), axes, HTML bits.

Figures are `matplotlib.figure.Figure` objects rendered by the Agg canvas on save, so
importing a report never changes matplotlib's backend for the caller.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np

from ..diagnostics.rates import fit_power_law
from ..store import atomic_write_bytes

__all__ = ["Html", "figure", "colormap", "colors", "representative", "plain_N_axis", "loglog_with_slope", "finish_N_axis", "save_png",
           "fmt", "matrix_html", "embed_png", "links_html", "CSS", "fixed_time_indices"]


def figure(nrows: int = 1, ncols: int = 1, figsize=(6.4, 4.2), squeeze: bool = True):
    """A new figure and its axes (like pyplot.subplots, without pyplot's global state)."""
    from matplotlib.figure import Figure   # matplotlib loads with the first figure, not with the package

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def colormap(name: str, n: int, lo: float = 0.05, hi: float = 0.9):
    from matplotlib import colormaps

    return colormaps[name](np.linspace(lo, hi, max(n, 1)))


def colors(n):
    return colormap("viridis", n, 0.05, 0.82)  # the bright yellow end is unreadable on white


def plain_N_axis(ax) -> None:
    """Label a logarithmic N axis with plain integers (no crowded 2x10^0 minor labels)."""
    from matplotlib.ticker import LogLocator, NullFormatter, NullLocator, ScalarFormatter

    if ax.get_xscale() != "log":  # nothing was drawn (e.g. H_N infinite everywhere): leave the axis alone
        ax.text(0.5, 0.5, "no finite values to show", ha="center", va="center", transform=ax.transAxes)
        return

    xs = sorted({float(x) for line in ax.get_lines() for x in np.atleast_1d(line.get_xdata()) if np.isfinite(x)})
    if 0 < len(xs) <= 12:  # every N of the data labelled (the largest included)
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
        return
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def representative(values, count: int = 4) -> list:
    """At most `count` values spread over `values` (the first and the last included)."""
    values = list(values)
    if len(values) <= count:
        return values
    idx = np.unique(np.linspace(0, len(values) - 1, count).round().astype(int))
    return [values[i] for i in idx]


def loglog_with_slope(ax, Ns, y, style, color, label, **kw) -> None:
    """Plot the positive finite points of y against N on log-log axes, the fitted slope in the label."""
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0)
    if not ok.any():
        return
    fit = fit_power_law(Ns[ok], y[ok])
    ax.loglog(Ns[ok], y[ok], style, color=color,
              label=label + (f", slope {fit.exponent:.2f}" if fit is not None else ""), **kw)


def finish_N_axis(ax, ylabel: str, title: str) -> None:
    ax.set_xlabel("N")
    plain_N_axis(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def save_png(fig, path: Path) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return data


def fixed_time_indices(times: np.ndarray, count: int = 3) -> list[int]:
    pos = np.flatnonzero(times > 0)
    if pos.size == 0:
        return []
    picks = np.unique(np.linspace(pos[0], pos[-1], min(count, pos.size)).round().astype(int))
    return list(picks)


class Html(str):
    """Text that is already HTML (fmt passes it through unescaped)."""


def fmt(x) -> str:
    if isinstance(x, Html):
        return str(x)
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, float):
        return f"{x:.4g}"
    return html.escape(str(x))


def matrix_html(M: np.ndarray) -> str:
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




def embed_png(name: str, data: bytes, caption: str) -> str:
    """A captioned, embedded PNG linking to its file."""
    import base64

    b64 = base64.b64encode(data).decode()
    return (f"<h3>{html.escape(caption)}</h3><a href='{html.escape(name)}'><img alt='{html.escape(name)}' "
            f"src='data:image/png;base64,{b64}'></a>")


def links_html(files: dict[str, str]) -> str:
    return "<ul>" + "".join(f"<li><a href='{html.escape(rel)}'>{html.escape(label)}</a></li>"
                            for label, rel in files.items()) + "</ul>"

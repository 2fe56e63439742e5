"""The sweep report (any study): heatmaps (two axes) or lines (one axis, or zipped points) of the
study's headline variables (`ds.attrs["headline"]`, e.g. the largest H_N, H_N(t_final) and the
fitted distance exponent for compare) against the swept parameters; `sweep.html`. Reads only
the consolidated Dataset and its summary."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..results import headline_field
from ..store import atomic_write_bytes
from ._common import CSS, colormap, embed_png, figure, fmt, links_html, save_png

__all__ = ["write_sweep_report"]


def _quantities(ds) -> list[tuple[str, str]]:
    """The headline variables with their labels (the last entry along their own dimensions)."""
    out = []
    for name in json.loads(ds.attrs.get("headline", "[]")):
        da = ds[name]
        own = [d for d in da.dims if d not in ds.status.dims]
        at = ", ".join(f"{d} = {fmt(da[d].values[-1]) if d in da.coords else 'last'}" for d in own)
        out.append((name, str(da.attrs.get("long_name", name)) + (f" ({at})" if at else "")))
    return out


def _label(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _plot(ds: xr.Dataset, out_dir: Path) -> bytes:
    axes = [d for d in ds.status.dims]
    quantities = _quantities(ds)
    fig, panels = figure(1, len(quantities), figsize=(5 * len(quantities), 4.2), squeeze=False)
    for ax, (name, title) in zip(panels[0], quantities):
        da = headline_field(ds, name)[0]
        if len(axes) == 2:
            a, b = axes
            im = ax.pcolormesh(np.arange(ds.sizes[b]), np.arange(ds.sizes[a]), da.transpose(a, b).values,
                               shading="auto", cmap="viridis")
            ax.set_xticks(np.arange(ds.sizes[b]), [_label(v) for v in ds[b].values])
            ax.set_yticks(np.arange(ds.sizes[a]), [_label(v) for v in ds[a].values])
            ax.set_xlabel(b)
            ax.set_ylabel(a)
            fig.colorbar(im, ax=ax, label=name)
        else:
            first = axes[0]
            rest = [d for d in axes[1:]]
            flat = da.stack(other=rest) if rest else da.expand_dims(other=[0])
            cols = colormap("viridis", flat.sizes["other"], 0.05, 0.85)
            x = ds[first].values if first != "point" else np.arange(ds.sizes["point"])
            for c, j in zip(cols, range(flat.sizes["other"])):
                line = flat.isel(other=j)
                legend = ", ".join(f"{d} = {_label(line[d].item())}" for d in rest)
                ax.plot(np.arange(x.size), line.values, "o-", color=c, ms=4, label=legend or None)
            if rest and name == quantities[0][0]:
                ax.legend(fontsize=7)
            ax.set_xticks(np.arange(x.size), [_label(v) for v in x], fontsize=7)
            ax.set_xlabel(first)
            ax.set_ylabel(name)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, out_dir / "sweep.png")


def write_sweep_report(ds: xr.Dataset, summary: dict, out_dir, title: str = "qmeanfield sweep",
                       description: str = "") -> list[str]:
    """Write sweep.png and sweep.html into `out_dir`; return the file names written."""
    out_dir = Path(out_dir)
    png = _plot(ds, out_dir) if (ds.status.values == "done").any() else None
    c = summary["counts"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if description:
        parts.append(f"<p>{html.escape(description)}</p>")
    parts.append(f"<p>Study <b>{html.escape(str(summary['study']))}</b>, {sum(c.values())} points "
                 f"({html.escape(str(summary['mode']))}): <b>{c['done']} done</b>, {c['failed']} failed, "
                 f"{c['refused']} refused before submission, {c['pending']} pending. Failures are listed in "
                 "failures.json.</p>")
    if png is not None:
        parts.append(embed_png("sweep.png", png, "Against the swept parameters (each quantity at the last entry of "
                                                 "its own dimensions, e.g. the largest N)"))
    labels = summary["headline"]
    parts.append("<table><tr><th>point</th><th>status</th>" + "".join(f"<th>{html.escape(v)}</th>"
                                                                     for v in labels.values()) + "<th>seconds</th></tr>")
    for row in summary["points"]:
        label = ", ".join(f"{k} = {v}" for k, v in row["values"].items())
        cells = [label, row["status"], *(row["headline"][name]["value"] for name in labels), row["wall_seconds"]]
        parts.append("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in cells) + "</tr>")
    parts.append("</table><h2>Files</h2>" + links_html({"results.nc": "results.nc", "summary.json": "summary.json",
                                                        "failures.json": "failures.json", "sweep.json": "sweep.json"}))
    parts.append("</body></html>")
    atomic_write_bytes(out_dir / "sweep.html", "\n".join(parts).encode())
    return ["sweep.html"] + (["sweep.png"] if png is not None else [])

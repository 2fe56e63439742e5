"""The sweep report: heatmaps (two axes) or lines (one axis, or zipped points) of the largest H_N,
H_N(t_final) and the fitted distance exponent against the swept parameters; ``sweep.html``.
Reads only the consolidated Dataset and its summary."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import xarray as xr

from ..store import atomic_write_bytes
from ._common import CSS, colormap, embed_png, figure, fmt, links_html, save_png

__all__ = ["write_sweep_report"]

QUANTITIES = (("relative_entropy_max", "max_t H_N at the largest N"),
              ("relative_entropy_final", "H_N(t_final) at the largest N"),
              ("distance_exponent", "exponent of max_t ||R1 - rho||_1 in N"))


def _field(ds, name):
    da = ds[name]
    if "N" in da.dims:
        da = da.isel(N=-1)
    return da


def _plot(ds: xr.Dataset, out_dir: Path) -> bytes:
    axes = [d for d in ds.status.dims]
    fig, panels = figure(1, 3, figsize=(15, 4.2), squeeze=False)
    for ax, (name, label) in zip(panels[0], QUANTITIES):
        da = _field(ds, name)
        if len(axes) == 2:
            a, b = axes
            im = ax.pcolormesh(np.arange(ds.sizes[b]), np.arange(ds.sizes[a]), da.transpose(a, b).values,
                               shading="auto", cmap="viridis")
            ax.set_xticks(np.arange(ds.sizes[b]), [f"{v:g}" if isinstance(v, float) else str(v) for v in ds[b].values])
            ax.set_yticks(np.arange(ds.sizes[a]), [f"{v:g}" if isinstance(v, float) else str(v) for v in ds[a].values])
            ax.set_xlabel(b)
            ax.set_ylabel(a)
            fig.colorbar(im, ax=ax)
        else:
            first = axes[0]
            rest = [d for d in axes[1:]]
            flat = da.stack(other=rest) if rest else da.expand_dims(other=[0])
            cols = colormap("viridis", flat.sizes["other"], 0.05, 0.85)
            x = ds[first].values if first != "point" else np.arange(ds.sizes["point"])
            for c, j in zip(cols, range(flat.sizes["other"])):
                line = flat.isel(other=j)
                label = ", ".join(f"{d} = {line[d].item():g}" if isinstance(line[d].item(), float)
                                  else f"{d} = {line[d].item()}" for d in rest)
                ax.plot(np.arange(x.size), line.values, "o-", color=c, ms=4, label=label or None)
            if rest and name == QUANTITIES[0][0]:
                ax.legend(fontsize=7)
            ax.set_xticks(np.arange(x.size), [f"{v:g}" if isinstance(v, float) else str(v) for v in x], fontsize=7)
            ax.set_xlabel(first)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, out_dir / "sweep.png")


def write_sweep_report(ds: xr.Dataset, summary: dict, out_dir, title: str = "qmeanfield sweep",
                       description: str = "") -> list[str]:
    """Write sweep.png and sweep.html into ``out_dir``; return the file names written."""
    out_dir = Path(out_dir)
    png = _plot(ds, out_dir) if (ds.status.values == "done").any() else None
    c = summary["counts"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if description:
        parts.append(f"<p>{html.escape(description)}</p>")
    parts.append(f"<p>{sum(c.values())} points ({summary['mode']}): <b>{c['done']} done</b>, {c['failed']} failed, "
                 f"{c['refused']} refused before submission, {c['pending']} pending. Particle numbers: "
                 f"{summary['N']}. Failures are listed in failures.json.</p>")
    if png is not None:
        parts.append(embed_png("sweep.png", png, "Against the swept parameters (largest N)"))
    parts.append("<table><tr><th>point</th><th>status</th><th>max_t H_N</th><th>H_N(t_final)</th>"
                 "<th>distance exponent</th><th>seconds</th></tr>")
    for row in summary["points"]:
        label = ", ".join(f"{k} = {v}" for k, v in row["values"].items())
        parts.append("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in (
            label, row["status"], row["relative_entropy_max_largest_N"], row["relative_entropy_final_largest_N"],
            row["distance_exponent"], row["task_seconds"])) + "</tr>")
    parts.append("</table><h2>Files</h2>" + links_html({"results.nc": "results.nc", "summary.json": "summary.json",
                                                        "failures.json": "failures.json", "sweep.json": "sweep.json"}))
    parts.append("</body></html>")
    atomic_write_bytes(out_dir / "sweep.html", "\n".join(parts).encode())
    return ["sweep.html"] + (["sweep.png"] if png is not None else [])

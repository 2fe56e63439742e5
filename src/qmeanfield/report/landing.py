"""The demo's landing page: what was computed, the headline numbers and plots of each part, links
to the full reports. Reads only the parts' summaries and the PNGs their reports wrote."""

from __future__ import annotations

import html
from pathlib import Path

from ..store import atomic_write_bytes, is_file, read_bytes
from ._common import CSS, embed_png, fmt

__all__ = ["write_landing_page"]


def _headline(summary: dict) -> str:
    rows = summary["per_N"]
    last = rows[-1]
    fits = summary.get("max_trace_distance_fits", {}).get("k1") or {}
    dist, pins = fits.get("trace_distance") or {}, fits.get("pinsker_bound") or {}
    limit = summary.get("relative_entropy_limit_at_t_final") or {}
    items = [
        f"N = {', '.join(str(n) for n in summary['N'])}; engines: "
        f"{', '.join(sorted({r['engine'] for r in rows}))}",
        f"At N = {last['N']}: H_N(t_final) = <b>{fmt(last['relative_entropy_final'])}</b>, "
        f"max_t ||R<sup>(1)</sup> - &rho;||<sub>1</sub> = <b>{fmt(last.get('trace_distance_k1_max'))}</b>",
    ]
    if dist:
        items.append(f"max_t ||R<sup>(1)</sup> - &rho;||<sub>1</sub> ~ N<sup>p</sup> with p = <b>{fmt(dist['exponent'])}"
                     f"</b> &plusmn; {fmt(dist['exponent_ci'])} (the Pinsker bound's slope: {fmt(pins.get('exponent'))})")
    if limit and not limit.get("poor"):
        items.append(f"H_N(t_final) &rarr; {fmt(limit['limit'])} &plusmn; {fmt(limit['limit_ci'])} as N &rarr; &infin;")
    elif limit:
        items.append("H_N(t_final) does not follow a + b/N in N at this time (the fit is poor), so no N &rarr; "
                     "&infin; limit is claimed; H_N against N is drawn in the full report")
    bounds = all(r.get("bound_holds_k1", True) for r in rows)
    items.append("Pinsker bound holds at every time and N: " + fmt(bounds))
    if any("dissipation_nonnegative" in r for r in rows):
        items.append("Dissipation D_N &ge; 0 (within tolerance) for every N: "
                     + fmt(all(r.get("dissipation_nonnegative") for r in rows)))
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def write_landing_page(parts: list[tuple[str, str, dict, str]], out_dir, title: str = "qmeanfield demo") -> Path:
    """`parts`: (name, description, summary, sub-folder) for each run shown."""
    out_dir = Path(out_dir)
    body = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
            "<p>For each model below, the exact N-body state R_N(t), started from the product rho0<sup>&otimes;N</sup>, "
            "is compared with the mean-field state rho(t)<sup>&otimes;N</sup>: the relative entropy H_N, the one-body "
            "marginal distance next to its Pinsker bound, and how both scale with N.</p>"]
    for name, description, summary, sub in parts:
        body.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(description)}</p>{_headline(summary)}")
        for png, caption in (("marginal_rate.png", "Marginal distance against N, with the Pinsker bound"),
                             ("relative_entropy.png", "H_N(t) for every N")):
            path = out_dir / sub / png
            if is_file(path):
                body.append(embed_png(f"{sub}/{png}", read_bytes(path), caption))
        body.append(f"<p><a href='{html.escape(sub)}/report.html'>Full report: every plot, the model, the "
                    "definitions</a></p>")
    body.append(f"<p class='note'>qmeanfield {html.escape(str(parts[0][2].get('qmeanfield_version', '')))}</p>"
                "</body></html>")
    path = out_dir / "report.html"
    atomic_write_bytes(path, "\n".join(body).encode())
    return path

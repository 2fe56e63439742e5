"""Command line: ``qmeanfield run | demo | validate | certify | steady``."""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

import typer
from rich.console import Console

from .errors import QMeanFieldError
from .io import atomic_write_bytes, load_config, parse_config

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Measure the quantum mean-field limit: N-body dynamics versus Hartree.")
console = Console(stderr=True)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.command()
def run(config: Path = typer.Argument(..., help="TOML configuration file."),
        out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
        progress: bool = typer.Option(True, help="Show a progress bar."),
        resume: bool = typer.Option(True, help="Reuse particle numbers already computed in OUT for the same "
                                               "model, state, times and engine (an interrupted run resumes).")):
    """Run CONFIG and write results.nc, summary.json, plots and report.html into OUT."""
    from .pipeline import run_to_directory

    try:
        cfg = load_config(config)
        run_to_directory(cfg, out, progress=progress, resume=resume, log=lambda msg: console.print(msg))
    except QMeanFieldError as exc:
        _fail(exc)
    typer.echo(f"report: {(out / 'report.html').resolve()}")


@app.command()
def validate(config: Path = typer.Argument(..., help="TOML configuration file.")):
    """Check CONFIG without running it; print what would run."""
    from .engines import choose_engine

    try:
        cfg = load_config(config)
        engines = {n: choose_engine(cfg.model, n, cfg.engine, **cfg.engine_options).name for n in cfg.N}
    except QMeanFieldError as exc:
        _fail(exc)
    m = cfg.model
    typer.echo(f"{config}: valid")
    typer.echo(f"  d = {m.d}, hbar = {m.hbar}, coupling = {m.coupling}, "
               + (f"open ({len(m.jumps)} one-body and {len(m.collective_jumps)} collective jumps)" if m.is_open
                  else "closed"))
    typer.echo(f"  times: {cfg.times.size} points in [{cfg.times[0]:g}, {cfg.times[-1]:g}]")
    typer.echo("  engines: " + ", ".join(f"N={n}: {e}" for n, e in engines.items()))


@app.command()
def demo(out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
         progress: bool = typer.Option(True, help="Show a progress bar."),
         quick: bool = typer.Option(False, help="Smaller N and fewer times (a few seconds).")):
    """Run the built-in example (d = 2, random V; closed N = 2..8, open N = 2..32) and write a report."""
    import tomllib

    from .pipeline import run_to_directory

    links = []
    try:
        for name in ("demo_closed", "demo_open"):
            data = tomllib.loads(files("qmeanfield.examples").joinpath(f"{name}.toml").read_text())
            if quick:
                data["run"].update(N=[2, 3, 4], n_times=11)
            cfg = parse_config(data, name=name)
            sub = name.replace("demo_", "")
            console.print(f"[bold]{cfg.name}[/]: {cfg.description}")
            run_to_directory(cfg, out / sub, progress=progress)
            links.append((cfg.name, cfg.description, f"{sub}/report.html"))
    except QMeanFieldError as exc:
        _fail(exc)
    items = "".join(f"<li><a href='{h}'>{html.escape(n)}</a>: {html.escape(d)}</li>" for n, d, h in links)
    index = (f"<!doctype html><html><head><meta charset='utf-8'><title>qmeanfield demo</title></head>"
             f"<body style='font-family:sans-serif;max-width:900px;margin:2em auto'><h1>qmeanfield demo</h1>"
             f"<ul>{items}</ul></body></html>")
    atomic_write_bytes(out / "report.html", index.encode())
    typer.echo(f"report: {(out / 'report.html').resolve()}")


@app.command()
def certify(config: Path = typer.Argument(..., help="TOML configuration file (times must start at 0)."),
            out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
            threshold: bool = typer.Option(False, help="Also estimate the eta threshold from N = 10 .. 1000 "
                                                       "(d = 2; a few minutes)."),
            workers: int = typer.Option(0, min=0, help="Processes over (N, time) pairs (0: automatic)."),
            exact: bool = typer.Option(True, help="Also compute the exact H_N beside the bound (needs an engine "
                                                  "that runs the model at these N)."),
            progress: bool = typer.Option(True, help="Show a progress bar.")):
    """Compute the entropy method's bound beside the exact H_N: certificate.nc, certificate.json, certificate.html."""
    from .certificate import certificate, eta_threshold
    from .io import save_dataset, write_json
    from .report import summarize_certificate, write_certificate_report

    try:
        cfg = load_config(config)
        ds = certificate(cfg.model, cfg.rho0, cfg.N, cfg.times, engine=cfg.engine, marginals=cfg.marginals,
                         workers=workers or "auto", exact=exact, progress=progress)
        th = None
        if threshold:
            Ns = (10, 30, 100, 300, 1000) if cfg.model.d == 2 else (4, 6, 8, 10)
            th = eta_threshold(cfg.model, cfg.rho0, float(cfg.times[-1]), Ns=Ns)
            th["time"] = float(cfg.times[-1])
        out.mkdir(parents=True, exist_ok=True)
        save_dataset(ds, out / "certificate.nc")
        summary = summarize_certificate(ds, th)
        write_json(out / "certificate.json", summary)
        write_certificate_report(ds, summary, out, title=f"certificate: {cfg.name}", threshold=th,
                                 files={"certificate.nc": "certificate.nc", "certificate.json": "certificate.json"})
    except QMeanFieldError as exc:
        _fail(exc)
    bad = [row["N"] for row in summary["per_N"] if row.get("bound_holds") is False]
    if bad:
        console.print(f"[bold red]the bound is below the exact value for N = {bad}[/]")
    typer.echo(f"report: {(out / 'certificate.html').resolve()}")


@app.command()
def steady(config: Path = typer.Argument(..., help="TOML configuration of an open model (run.N is used)."),
           out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
           progress: bool = typer.Option(True, help="Show a progress bar.")):
    """N-body steady states against the mean-field fixed point(s): steady.nc, steady.json, steady.html."""
    from .io import save_dataset, write_json
    from .report import write_steady_report
    from .steady import steady_state_comparison

    try:
        cfg = load_config(config)
        ds = steady_state_comparison(cfg.model, cfg.N, progress=progress, engine_options=cfg.engine_options
                                     if cfg.engine in ("auto", "permutational") else None)
        out.mkdir(parents=True, exist_ok=True)
        save_dataset(ds, out / "steady.nc")
        summary = {"N": [int(n) for n in ds.N.values], "unique_fixed_point": bool(ds.attrs["unique_fixed_point"]),
                   "rate_one_body": ds.attrs["rate_one_body"],
                   "one_body_distance": [float(v) for v in ds.trace_distance.values[:, 0, 0]],
                   "relative_entropy": [float(v) for v in ds.relative_entropy.values[:, 0]],
                   "fixed_points_stable": [bool(v) for v in ds.fixed_point_stable.values]}
        write_json(out / "steady.json", summary)
        write_steady_report(ds, out, title=f"steady states: {cfg.name}",
                            files={"steady.nc": "steady.nc", "steady.json": "steady.json"})
    except QMeanFieldError as exc:
        _fail(exc)
    typer.echo(f"report: {(out / 'steady.html').resolve()}")


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

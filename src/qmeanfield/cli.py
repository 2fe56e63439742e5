"""Command line: one command per study (`qmeanfield run | certify | steady | semiclassical`, registered
from each study's `Command`), and `demo | validate | sweep | status`. Thin: each command loads a
configuration and calls `qmeanfield.pipeline` or `qmeanfield.sweep`; errors are one line, exit code 2."""

from __future__ import annotations

import inspect
from importlib.resources import files
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from .config import parse_config
from .errors import QMeanFieldError
from .estimates import format_seconds
from .store import read_text
from .studies import STUDIES

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Measure the quantum mean-field limit: N-body dynamics versus Hartree.")
console = Console(stderr=True, soft_wrap=True)


def _say(text: str, style: str | None = None) -> None:
    """Print user-facing text literally (brackets in section names or expressions are not markup)."""
    console.print(text, markup=False, highlight=False, style=style)


def _fail(exc: Exception) -> None:
    _say(f"error: {exc}", style="bold red")
    raise typer.Exit(code=2)


#: after Ctrl-C, the most seconds the command may take to stop before it is ended outright
STOP_DEADLINE_S = 1.5


def _say_interrupted(out: Path, what: str) -> None:
    _say(f"interrupted: {what} The outputs in {out} are incomplete (no manifest.json).", style="bold yellow")


def _interrupted(out: Path, what: str) -> None:
    """Ctrl-C: say what was saved, exit 130 (no traceback)."""
    _say_interrupted(out, what)
    raise typer.Exit(code=130)


@contextmanager
def _stop_promptly(out: Path, what: str):
    """Ctrl-C raises KeyboardInterrupt as usual. If that is swallowed somewhere (a finalizer) or the
    main thread sits in a long C call (a sparse solve) where Python cannot raise it, a watcher
    thread, woken at once through the signal wake-up file descriptor, says what was saved and ends
    the process STOP_DEADLINE_S after the interrupt. Every saved file is complete (atomic writes),
    so ending it is safe.

    System calls interrupted by SIGINT are restarted (`siginterrupt(SIGINT, False)`): a C library
    reading or writing a file (HDF5 under netCDF) would otherwise see EINTR and fail with its own
    error in place of the interrupt. Yields a dict whose `"interrupted"` is set by Ctrl-C, so an
    error raised after it is reported as the interruption it follows."""
    import os
    import signal
    import socket
    import threading

    state = {"interrupted": False}
    if threading.current_thread() is not threading.main_thread():  # signals belong to the main thread
        yield state
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    done = threading.Event()

    def watch():
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            if signal.SIGINT in data:
                state["interrupted"] = True
                if done.wait(STOP_DEADLINE_S):   # the command stopped by itself
                    return
                _say_interrupted(out, what)
                os._exit(130)

    def handler(signum, frame):
        state["interrupted"] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    signal.siginterrupt(signal.SIGINT, False)   # after signal.signal, which sets it to True
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    threading.Thread(target=watch, daemon=True).start()
    try:
        yield state
    finally:
        done.set()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous)
        writer.close()
        reader.close()


def _guarded(out: Path, saved: str, work):
    """Run `work()` for a command writing into `out`: input errors end with a clean message
    (exit 2), Ctrl-C says what was saved (exit 130, see `_stop_promptly`), also when the
    interrupt surfaces as another error (a library that turned it into its own)."""
    with _stop_promptly(out, saved) as state:
        try:
            return work()
        except KeyboardInterrupt:
            _interrupted(out, saved)
        except Exception as exc:
            if state["interrupted"]:
                _interrupted(out, saved)
            if isinstance(exc, QMeanFieldError):
                _fail(exc)
            raise


def _allow_long(cfg, allow: bool):
    """The configuration without its work limit (`--allow-long`)."""
    from dataclasses import replace

    if not allow:
        return cfg
    if hasattr(cfg, "options"):          # a semiclassical configuration
        return replace(cfg, options=replace(cfg.options, max_seconds=float("inf")))
    return replace(cfg, max_seconds=float("inf"))


def _version_callback(value: bool) -> None:
    if value:
        from .results import package_version

        typer.echo(f"qmeanfield {package_version()}")
        raise typer.Exit()


@app.callback()
def main_options(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                              help="Print the version and exit.")):
    """Measure the quantum mean-field limit: N-body dynamics versus Hartree."""


def _study_command(study_class):
    """The CLI command of a study, from its `Command` (`qmeanfield.studies.base`): CONFIG, --out,
    the study's own options, --progress, --resume (where it saves parts), --force, --allow-long."""
    spec = study_class.command

    def command(config: Path, out: Path, progress: bool, force: bool, allow_long: bool, resume: bool = True,
                scheduler: str = "", dask_workers: int = 0, **options):
        from .pipeline import run_study

        if dask_workers and scheduler:
            _fail(QMeanFieldError("give --dask-workers or --scheduler, not both"))
        study = study_class(**{o.field: o.convert(options[o.field]) for o in spec.options})

        def work():
            cfg = _allow_long(study.load_file(config), allow_long)
            if not (scheduler or dask_workers):
                return run_study(study, cfg, out, progress=progress, resume=resume, log=_say, force=force)
            from .sweep import DaskBackend

            plan = study.plan(cfg)   # refused before a cluster starts
            backend = DaskBackend(address=scheduler or None, workers=dask_workers or None)
            _say(f"running on {backend.describe()}")
            with backend:
                return run_study(study, cfg, out, progress=progress, resume=resume, log=_say, force=force,
                                 client=backend.client, plan=plan)

        summary = _guarded(out, spec.saved.format(partial=out / ".partial"), work)
        for text, style in spec.notes(summary):
            _say(text, style=style)
        typer.echo(f"report: {(out / study.outputs.report).resolve()}")

    def param(name, default, annotation):
        return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)

    params = [param("config", typer.Argument(..., help=spec.config_help), Path),
              param("out", typer.Option(Path("out"), "--out", "-o", help="Output folder."), Path)]
    for o in spec.options:
        flag = "--" + o.field.replace("_", "-")
        params.append(param(o.field, typer.Option(o.default, flag if not isinstance(o.default, bool) else
                                                  f"{flag}/--no-{o.field.replace('_', '-')}", help=o.help,
                                                  min=o.minimum), type(o.default)))
    params.append(param("progress", typer.Option(True, help="Show progress (a bar on a terminal, plain lines "
                                                            "otherwise)."), bool))
    if spec.resumable:
        params.append(param("resume", typer.Option(True, help="Reuse parts already computed in OUT for the same "
                                                              "configuration (an interrupted run resumes)."), bool))
    if spec.distributed:
        params.append(param("dask_workers", typer.Option(0, "--dask-workers", min=0, help="Run the particle numbers "
                                                         "as tasks on a Dask LocalCluster of this many worker "
                                                         "processes."), int))
        params.append(param("scheduler", typer.Option("", "--scheduler", help="Run the particle numbers as tasks "
                                                      "on the Dask scheduler at this address."), str))
    params.append(param("force", typer.Option(False, "--force", help="Write into OUT even if it holds files "
                                                                     "qmeanfield did not write."), bool))
    params.append(param("allow_long", typer.Option(False, "--allow-long", help="Run even if the estimate exceeds "
                                                                               "the work limit (max_seconds, default "
                                                                               "24 h)."), bool))
    command.__signature__ = inspect.Signature(params)
    command.__doc__ = spec.help
    command.__name__ = spec.verb
    return command


for _study_class in STUDIES.values():
    app.command(name=_study_class.command.verb)(_study_command(_study_class))


@app.command()
def validate(config: Path = typer.Argument(..., help="TOML configuration file.")):
    """Check CONFIG without running it; print what would run and its estimate (any study: a plain
    run, a \\[semiclassical] table, a \\[sweep] table)."""
    from .config import read_toml
    from .studies import study_for

    try:
        data = read_toml(config)
        if "sweep" in data:
            return _validate_sweep(config)
        study = study_for(data)
        cfg = study.load(data, config.stem)
        plan = study.plan(cfg)
    except QMeanFieldError as exc:
        _fail(exc)
    typer.echo(f"{config}: valid ({study.name}; run it with `qmeanfield {study.command.verb}`)")
    model = getattr(cfg, "model", None)
    if model is not None:
        typer.echo(f"  d = {model.d}, hbar = {model.hbar}, coupling = {model.coupling}, "
                   + (f"open ({len(model.jumps)} one-body and {len(model.collective_jumps)} collective jumps)"
                      if model.is_open else "closed"))
        typer.echo(f"  times: {cfg.times.size} points in [{cfg.times[0]:g}, {cfg.times[-1]:g}]")
    for row in plan.lines:
        typer.echo(f"  {row}")
    typer.echo(f"  estimated total: {plan.estimate.describe()} on 2 cores (rough, within a factor of about 3)")


def _validate_sweep(config: Path) -> None:
    from .sweep import load_sweep_config

    try:
        plan = load_sweep_config(config)
    except QMeanFieldError as exc:
        _fail(exc)
    work = plan.estimated_work()
    typer.echo(f"{config}: valid ([sweep] of {plan.study.name}; run it with `qmeanfield sweep`)")
    typer.echo(f"  {len(plan.points)} points over {', '.join(plan.axes)} ({plan.mode}), "
               f"{len(plan.refused)} refused before submission")
    for key, why in list(plan.refused.items())[:5]:
        typer.echo(f"    refused {key}: {why}")
    typer.echo(f"  estimated time: {format_seconds(work)} on one worker (rough; divide by the workers)")


@app.command()
def demo(out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
         progress: bool = typer.Option(True, help="Show progress."),
         quick: bool = typer.Option(False, help="Smaller N and fewer times (a few seconds).")):
    """Run the built-in example (d = 2, random V; closed N = 2..8, open N = 2..32) and write a report."""
    import tomllib

    from .pipeline import run_to_directory
    from .report.landing import write_landing_page

    def run_parts():
        links = []
        for name in ("demo_closed", "demo_open"):
            data = tomllib.loads(read_text(files("qmeanfield.examples").joinpath(f"{name}.toml")))
            if quick:
                data["run"].update(N=[2, 3, 4], n_times=11)
            cfg = parse_config(data, name=name)
            sub = name.replace("demo_", "")
            _say(f"{cfg.name}: {cfg.description}", style="bold")
            summary = run_to_directory(cfg, out / sub, progress=progress, log=_say)
            links.append((cfg.name, cfg.description, summary, sub))
        return links

    links = _guarded(out, "finished particle numbers are saved and reused by the next `qmeanfield demo`.", run_parts)
    write_landing_page(links, out)
    typer.echo(f"report: {(out / 'report.html').resolve()}")


@app.command()
def sweep(config: Path = typer.Argument(..., help="TOML configuration with [parameters] and a [sweep] table."),
          out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder (tasks/, results.nc, report)."),
          workers: int = typer.Option(0, min=0, help="Local worker processes (0: every core)."),
          dask_workers: int = typer.Option(0, "--dask-workers", min=0, help="Start a Dask LocalCluster of this "
                                                                            "many worker processes."),
          scheduler: str = typer.Option("", "--scheduler", help="Address of an existing Dask scheduler."),
          progress: bool = typer.Option(True, help="Show progress."),
          force: bool = typer.Option(False, "--force", help="Write into OUT even if it holds files qmeanfield did not write.")):
    """Run every grid point of CONFIG's \\[sweep] (resumable: finished points are never recomputed)."""
    from .sweep import DaskBackend, LocalBackend
    from .sweep import sweep as run_sweep

    if dask_workers and scheduler:
        _fail(QMeanFieldError("give --dask-workers or --scheduler, not both"))
    backend = (DaskBackend(address=scheduler) if scheduler else DaskBackend(workers=dask_workers) if dask_workers
               else LocalBackend(workers or None))
    ds = _guarded(out, f"finished points are saved under {out / 'tasks'} and are skipped when you rerun.",
                  lambda: run_sweep(config, out, backend=backend, progress=progress, log=_say, force=force))
    failed = int((ds.status.values != "done").sum())
    typer.echo(f"report: {(out / 'sweep.html').resolve()}")
    if failed:
        _say(f"{failed} point(s) did not finish: see {out / 'failures.json'}", style="bold red")
        raise typer.Exit(code=1)


@app.command()
def status(folder: Path = typer.Argument(..., help="A sweep's output folder.")):
    """Done / failed / pending points of a sweep folder and the estimated time left."""
    from .sweep import status as sweep_status

    try:
        st = sweep_status(folder)
    except QMeanFieldError as exc:
        _fail(exc)
    left = st["estimated_seconds_left_one_worker"]
    typer.echo(f"{st['name']}: {st['done']} done, {st['failed']} failed, {st['pending']} pending of {st['points']}"
               + (f"; about {left:.0f} s of work left (one worker)" if left else "")
               + ("; complete" if st["complete"] else f"; not complete: {', '.join(st['missing'])} missing "
                                                       "(rerun the sweep to finish it)"))


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

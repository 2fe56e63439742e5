"""The shape every verb shares: a study.

A study is a small immutable object (its options are fields) with

* `name` (the CLI verb and the `study =` of a `[sweep]` table) and `outputs` (its file
  names, declared once: the pipeline writes them, the report links them, the manifest lists them);
* `load(data, name)`: a TOML mapping to the study's checked configuration;
* `plan(cfg)`: a `StudyPlan` with a typed `Estimate`, made
  before any work (everything that can be refused is refused here);
* `run(cfg, plan=None, *, progress, log, cache, client)`: a `StudyResult` (the Dataset, and any
  further Datasets it writes beside it); `client`, a `dask.distributed.Client`, runs its
  independent pieces (particle numbers) on a cluster where `command.distributed` says it can;
* `summarize(result)`: the JSON summary (read from the Datasets only);
* `report(result, summary, out, *, title, description, files)`: the report and its plots,
  returning the file names written;
* `load_file(path)`: the checked configuration of a TOML file;
* `command`: how the CLI shows it (`Command`: verb, help, options as `CliOption`, what an
  interrupted run keeps, notes printed from the summary); `qmeanfield.cli` registers one command
  per study from it;
* `key(cfg)`: a hash of everything that determines the numbers (the store key);
* `sweep_view(ds)`: what a sweep keeps of one grid point (variables with `long_name`);
  `headline`: the names among them that the sweep's report draws against the swept axes.

`qmeanfield.pipeline.run_study` runs any study into a folder, `qmeanfield.sweep.sweep`
runs any study over a grid, and `qmeanfield validate` plans any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Protocol, runtime_checkable

import xarray as xr

from ..estimates import Estimate, format_bytes, format_seconds
from ..results import Summary

__all__ = ["Study", "StudyPlan", "StudyResult", "Summary", "Outputs", "Cache", "compute_only", "Command",
           "CliOption"]

class Cache(Protocol):
    """Where a study keeps its parts (a file name stem each, e.g. `"N8"`); `label` names the part
    in messages (e.g. `"N = 8"`)."""

    def saved(self, part: str, label: str = "") -> xr.Dataset | None:
        """The verified Dataset of `part` if a previous run saved it, else None."""

    def keep(self, part: str, dataset: xr.Dataset) -> xr.Dataset:
        """Save `dataset` as `part`; returns it as a later run would read it back."""


class _ComputeOnly:
    """The cache that keeps nothing (a sweep task, a Python call)."""

    def saved(self, part: str, label: str = "") -> None:
        return None

    def keep(self, part: str, dataset: xr.Dataset) -> xr.Dataset:
        return dataset


#: the cache that keeps nothing (a sweep task, a Python call)
compute_only = _ComputeOnly()


@dataclass(frozen=True)
class Outputs:
    """A study's file names: its Dataset, its summary, its report page and the report's plots."""

    dataset: str
    summary: str
    report: str
    plots: tuple[str, ...] = ()

    def links(self, extras=()) -> dict[str, str]:
        """Link text -> file for the report's file list."""
        return {name: name for name in (self.dataset, *extras, self.summary)}


def _same(value):
    return value


def _no_notes(summary) -> tuple:
    return ()


@dataclass(frozen=True)
class CliOption:
    """One option of a study as a command-line flag: `--<field>` (`--<field>/--no-<field>` for a
    switch).

    Attributes
    ----------
    field : str
        The study's field it sets (dashes in the flag for underscores).
    help : str
        The flag's help text.
    default : bool or int
        Its value when not given on the command line (a bool makes a switch).
    minimum : int or None
        The smallest integer accepted.
    convert : callable
        CLI value -> the field's value (e.g. 0 -> `"auto"`).
    """

    field: str
    help: str
    default: bool | int = False
    minimum: int | None = None
    convert: Callable = _same


@dataclass(frozen=True)
class Command:
    """How the CLI shows a study: `qmeanfield <verb> CONFIG --out OUT [options]`.

    Attributes
    ----------
    verb : str
        The command's name.
    help : str
        Its help text (the first line is the summary in `qmeanfield --help`).
    config_help : str
        Help text of the CONFIG argument.
    saved : str
        What an interrupted run keeps (`{partial}`: the folder of saved parts).
    options : tuple of CliOption
        The study's own options.
    resumable : bool
        Whether it saves parts a rerun reuses (adds `--resume/--no-resume`).
    distributed : bool
        Whether its pieces can run on a Dask cluster (adds `--scheduler` and `--dask-workers`).
    notes : callable
        Summary -> lines `(text, style)` printed after the run (e.g. a violated bound, in red).
    """

    verb: str
    help: str
    config_help: str = "TOML configuration file."
    saved: str = "nothing was saved."
    options: tuple[CliOption, ...] = ()
    resumable: bool = False
    distributed: bool = False
    notes: Callable = _no_notes


@dataclass(frozen=True)
class StudyPlan:
    """What will run and what it will cost, decided before any work.

    Attributes
    ----------
    estimate : Estimate
        Wall time (2 cores) and peak memory of the whole study.
    lines : tuple of str
        One line per piece of work (e.g. per N: engine and estimate), for people.
    detail : object
        The study's own plan object (e.g. `ComparisonPlan`), or None.
    """

    estimate: Estimate
    lines: tuple[str, ...] = ()
    detail: object = None

    def describe(self) -> str:
        """The estimate and the lines, one per row."""
        head = (f"estimated time {format_seconds(self.estimate.seconds)}, peak memory "
                f"{format_bytes(self.estimate.bytes)} on 2 cores (rough, within a factor of about 3)")
        return "\n".join([head, *self.lines])


@dataclass(frozen=True)
class StudyResult:
    """What a study computed: its Dataset and further Datasets by file name (e.g. `chain.nc`)."""

    dataset: xr.Dataset
    extras: Mapping[str, xr.Dataset] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))


@runtime_checkable
class Study(Protocol):
    """The protocol every verb implements (see the module docstring)."""

    name: str
    outputs: Outputs
    headline: tuple[str, ...]
    command: Command

    def load(self, data: dict, name: str): ...

    def load_file(self, path): ...

    def plan(self, cfg) -> StudyPlan: ...

    def run(self, cfg, plan: StudyPlan | None = None, *, progress: bool = False, log=None, cache: Cache = compute_only,
            client=None) -> StudyResult: ...

    def summarize(self, result: StudyResult) -> Summary: ...

    def report(self, result: StudyResult, summary: Summary, out, *, title: str, description: str = "",
               files: dict | None = None) -> list[str]: ...

    def key(self, cfg) -> str: ...

    def sweep_view(self, ds: xr.Dataset) -> xr.Dataset: ...

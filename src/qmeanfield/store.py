"""The one module that touches result files: atomic writes, verified datasets, run manifests.

* Every write goes through a temporary file in the same folder and a rename, so a file is
  either the old one or the complete new one, never a torn write; files get the permissions
  the umask allows (not the temporary file's 0600).
* `save_dataset` writes netCDF (complex variables as `<name>_real` / `<name>_imag`)
  with two attributes: `store_key` (what the file holds, given by the caller: a hash of
  model, state, times, engine and options, package version) and `store_checksum` (SHA-256 of
  every variable's name, dimensions and values). `load_dataset` recomputes the checksum
  and compares the key; a mismatch or an unreadable file is a `StoreError`, one line
  saying what is wrong, never a netCDF traceback.
* `write_manifest` lists a run's output files with their checksums and is written
  last; `begin_outputs` removes it first, so a run that stopped half way is visibly
  incomplete (no manifest) rather than stale next to fresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import QMeanFieldError

__all__ = ["StoreError", "atomic_write_bytes", "write_json", "save_dataset", "load_dataset", "load_if_present",
           "content_checksum", "check_output_dir", "begin_outputs", "write_manifest", "read_manifest", "file_checksum",
           "read_text", "read_bytes", "read_json", "make_folder", "is_file", "output_lock", "check_inside",
           "MANIFEST", "MARKER", "LOCK"]

#: the file listing a finished run's outputs, written last
MANIFEST = "manifest.json"


class StoreError(QMeanFieldError):
    """A stored file is unreadable, corrupted or holds something other than what was asked for."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: the suffix of the temporary files of atomic writes (removed when a run starts, see
#: :func:`begin_outputs`)
TMP_SUFFIX = ".tmp"


def _atomic(path: Path, write) -> None:
    """Write through a temporary file and a rename. A failure of the file system (no space, a
    folder in the way, no permission) is a `StoreError` naming the file; the previous
    file, if any, is left as it was."""
    tmp = None
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "a folder is in the way")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=TMP_SUFFIX)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, StoreError)):
            raise
        if isinstance(exc, OSError) or _is_write_failure(exc):
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise StoreError(f"cannot write {path}: {why}; free space, remove what is in the way or choose "
                             "another output folder (files already written stay valid)") from None
        raise


def _is_write_failure(exc: BaseException) -> bool:
    """netCDF/HDF5 report a full disk or a vanished file as KeyError or RuntimeError from inside
    their writer; an error raised while writing a temporary file is a write failure."""
    return isinstance(exc, (KeyError, RuntimeError, PermissionError))


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    _atomic(Path(path), lambda tmp: Path(tmp).write_bytes(data))


def write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=True, default=_json_default) + "\n").encode())


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


#: attributes that decide how a stored variable is read back (complex parts): covered by the checksum
LAYOUT_ATTRS = ("complex_part", "complex_of")


def content_checksum(ds: xr.Dataset) -> str:
    """SHA-256 of every variable and coordinate (name, dimensions, values, and the attributes
    that decide how it is read back, `LAYOUT_ATTRS`); other attributes excluded."""
    h = hashlib.sha256()
    for name in sorted(ds.variables):
        var = ds.variables[name]
        h.update(f"{name}|{','.join(var.dims)}|".encode())
        layout = [f"{k}={var.attrs[k]}" for k in LAYOUT_ATTRS if k in var.attrs]
        if layout:
            h.update(("|".join(layout) + "|").encode())
        values = np.asarray(var.values)
        if values.dtype.kind in "OUS":
            h.update("\x00".join(str(v) for v in values.ravel()).encode())
        else:
            if values.dtype.kind == "f":  # one NaN bit pattern: netCDF's fill value may change the sign bit
                values = np.where(np.isnan(values), np.nan, values)
            h.update(str(values.dtype.str).encode())
            h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def _split_complex(ds: xr.Dataset) -> xr.Dataset:
    variables = {}
    for name, var in ds.data_vars.items():
        var = var.variable
        if np.iscomplexobj(var.values):
            for part, values in (("real", var.values.real), ("imag", var.values.imag)):
                variables[f"{name}_{part}"] = xr.Variable(var.dims, values,
                                                          {**var.attrs, "complex_part": part, "complex_of": name})
        else:
            variables[name] = xr.Variable(var.dims, var.values, dict(var.attrs))
    out = xr.Dataset(variables, coords={k: v.variable.copy() for k, v in ds.coords.items()}, attrs=dict(ds.attrs))
    for var in out.variables.values():  # an encoding read from another file (e.g. a string length) would
        var.encoding = {}               # truncate new values silently
    return out


def _join_complex(ds: xr.Dataset) -> xr.Dataset:
    variables = {}
    for name, var in ds.data_vars.items():
        part = var.attrs.get("complex_part")
        if part == "real":
            base = var.attrs.get("complex_of")
            if not isinstance(base, str) or f"{base}_imag" not in ds:
                raise StoreError(f"variable {name}: its imaginary part is missing; the file is damaged")
            attrs = {k: v for k, v in var.attrs.items() if k not in ("complex_part", "complex_of")}
            variables[base] = xr.Variable(var.dims, var.values + 1j * ds[f"{base}_imag"].values, attrs)
        elif part != "imag":
            variables[name] = var.variable
    return xr.Dataset(variables, coords=ds.coords, attrs=ds.attrs)


def _local_scheduler():
    """Inside a Dask worker (or next to a Dask client) xarray would take a cluster-wide write lock
    for every netCDF file, a round trip to the scheduler; our files are written whole by one
    process, so the synchronous scheduler (a local lock) is right."""
    try:
        import dask
    except ImportError:
        from contextlib import nullcontext

        return nullcontext()
    return dask.config.set(scheduler="synchronous")


def save_dataset(ds: xr.Dataset, path, key: str = "") -> None:
    """Write `ds` to netCDF atomically, with its `store_key` and content `store_checksum`."""
    if not isinstance(ds, xr.Dataset):
        raise StoreError(f"save_dataset needs an xarray.Dataset, got {type(ds).__name__}")
    out = _split_complex(ds)
    out.attrs["store_key"] = key
    out.attrs["store_checksum"] = content_checksum(out)

    def write(tmp):
        with _local_scheduler():
            out.to_netcdf(tmp, engine="netcdf4")

    _atomic(Path(path), write)


def load_dataset(path, key: str | None = None) -> xr.Dataset:
    """Read a file written by `save_dataset`, verified: its checksum must match its content
    and, if `key` is given, its `store_key` must equal it. Raises `StoreError` otherwise."""
    path = Path(path)
    try:
        with xr.open_dataset(path, engine="netcdf4") as f:
            raw = f.load()
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except Exception as exc:  # netCDF/HDF5 raise many types for truncated or garbage files
        raise StoreError(f"{path}: not a readable netCDF file ({type(exc).__name__}); it will be recomputed") from None
    stored = raw.attrs.get("store_checksum")
    if stored is None:
        raise StoreError(f"{path}: carries no checksum (written by another program or an older version)")
    if content_checksum(raw) != stored:
        raise StoreError(f"{path}: checksum mismatch, the file is corrupted")
    if key is not None and raw.attrs.get("store_key") != key:
        raise StoreError(f"{path}: holds key {raw.attrs.get('store_key')!r}, expected {key!r} (another "
                         "model, state, particle number or version)")
    try:
        return _join_complex(raw)
    except StoreError as exc:
        raise StoreError(f"{path}: {exc}") from None


def load_if_present(path, key: str) -> xr.Dataset | None:
    """`load_dataset` of `path` verified against `key`, or None where nothing was saved
    yet; a corrupted or foreign file is a `StoreError` (the caller recomputes it)."""
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_file():
        raise StoreError(f"{path}: not a file; remove it and run again")
    return load_dataset(path, key=key)


def is_file(path) -> bool:
    """Whether `path` is an existing file."""
    return Path(path).is_file()


def read_bytes(path) -> bytes:
    """The bytes of a file (`StoreError` if it cannot be read)."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def read_text(path) -> str:
    """The UTF-8 text of a file or a package resource (`StoreError` if it cannot be read
    or is not UTF-8)."""
    try:
        return (path if hasattr(path, "read_text") else Path(path)).read_text(encoding="utf-8").removeprefix("\ufeff")
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise StoreError(f"{path}: not a UTF-8 text file") from None


def read_json(path):
    """The JSON value of a file (`StoreError` if it is missing or not JSON)."""
    try:
        return json.loads(read_text(path))
    except ValueError:
        raise StoreError(f"{path}: not valid JSON") from None
    except RecursionError:
        raise StoreError(f"{path}: nested too deeply") from None


def make_folder(path) -> Path:
    """Create the folder `path` (and its parents) if needed (`StoreError` if a file is in the way)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"{path} exists and is not a folder; remove it and run again") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the folder ({exc.strerror})") from None
    return path


def file_checksum(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: the marker of a folder this project writes into (an existing folder without it is refused
#: unless it is empty or ``force`` is given)
MARKER = ".qmeanfield"
#: the lock file of a folder a run is writing into (the process id and host)
LOCK = ".qmeanfield.lock"


def check_output_dir(path, force: bool = False) -> Path:
    """Create `path` if needed and check, before any computing, that files can be written there
    and that it is this project's: a new or empty folder, or one holding the marker of an earlier
    run (else `force`); then mark it."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise StoreError(f"--out {path}: {p} exists and is not a folder; choose another output folder")
            break
    if path.is_dir() and not force and not (path / MARKER).is_file():
        others = sorted(p.name for p in path.iterdir())
        if others:
            raise StoreError(f"--out {path} holds files qmeanfield did not write ({', '.join(others[:3])}"
                             f"{', ...' if len(others) > 3 else ''}); choose a new or empty folder, or pass --force "
                             "(Python: force=True) to write into it")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StoreError(f"--out {path}: cannot write there ({exc.strerror}); choose a writable folder") from None
    if not (path / MARKER).is_file():
        atomic_write_bytes(path / MARKER, b"written by qmeanfield\n")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def output_lock(out_dir):
    """Hold `out_dir` for one run: a lock file with this process's id and host, refused while
    another live process holds it; a lock left by a process that died (on this host) is taken
    over. Removed when the run ends, however it ends."""
    lock = Path(out_dir) / LOCK
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~_umask())
        except FileExistsError:
            try:
                pid, host = lock.read_text().split(maxsplit=1)
                pid = int(pid)
            except (OSError, ValueError):
                pid, host = -1, ""
            if host.strip() == socket.gethostname() and pid > 0 and not _alive(pid):
                lock.unlink(missing_ok=True)        # stale: its process is gone
                continue
            raise StoreError(f"--out {out_dir} is in use by process {pid} on {host.strip() or 'an unknown host'} "
                             f"(lock file {lock}); wait for it to finish or choose another folder (remove the lock "
                             "file if that process is gone)") from None
        except OSError as exc:
            raise StoreError(f"--out {out_dir}: cannot create the lock file ({exc.strerror})") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    try:
        yield Path(out_dir)
    finally:
        try:
            if lock.read_text() == me:
                lock.unlink()
        except OSError:
            pass


def check_inside(out_dir, path) -> Path:
    """`path` itself, refused (`StoreError`) where it leads outside `out_dir` (a link)."""
    root, target = Path(out_dir).resolve(), Path(path).resolve()
    if target != root and root not in target.parents:
        raise StoreError(f"{path} leads outside the output folder {out_dir} (a link?); remove it and run again")
    return Path(path)


def begin_outputs(out_dir) -> None:
    """Mark a run's outputs in `out_dir` as in progress (remove the previous manifest) and remove
    temporary files that an interrupted write left (call it while holding `output_lock`)."""
    out_dir = Path(out_dir)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    for folder in (out_dir, out_dir / "tasks", *(out_dir / ".partial").glob("*")):
        if folder.is_dir() and not folder.is_symlink():
            for tmp in folder.glob(f"*.*{TMP_SUFFIX}"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)


def write_manifest(out_dir, files, info: dict | None = None) -> Path:
    """Write `manifest.json` last: each output file (relative to `out_dir`) with size and checksum."""
    out_dir = Path(out_dir)
    entries = {}
    for rel in files:
        p = out_dir / rel
        entries[str(rel)] = {"bytes": p.stat().st_size, "sha256": file_checksum(p)}
    path = out_dir / MANIFEST
    write_json(path, {"complete": True, "files": entries, **(info or {})})
    return path


def read_manifest(out_dir) -> dict | None:
    """The manifest of `out_dir`, or None if the run there is not complete."""
    p = Path(out_dir) / MANIFEST
    if not p.is_file():
        return None
    try:
        value = read_json(p)
    except StoreError:
        return None
    return value if isinstance(value, dict) else None

"""Read, write and validate eostrace trajectory files from Python (``eostrace.format``).

Driven by the layout schema shipped inside this package (``eostrace/schemas/trajectory-v1.json``,
a copy of the repository's ``schemas/trajectory-v1.json`` made by scripts/sync-python-schema.sh;
the Swift validator embeds the same file and ``docs/FORMAT.md`` is generated from it). Needs
numpy and h5py; ``open_trajectory`` also needs xarray and h5netcdf.

    from eostrace import format as ef
    problems = ef.validate("run.h5")            # [] when the file is valid
    ef.write_recording("mine.h5", learning_rate=0.01, model={...}, Y=Y, X=X,
                       step=steps, loss=loss, residual=D, ...)
    ds = ef.open_trajectory("run.h5")           # xarray.Dataset of /trajectory

Files written here open in HDF5 1.10 (libver bounds earliest..v110) and carry a netCDF-4
dimension scale on every axis, so xarray/h5netcdf read them with named dimensions.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import h5py

__version__ = "1.1.0"

FORMAT_NAME = "eostrace-trajectory"
FORMAT_VERSION = (1, 1)

#: What netCDF-4 (and h5netcdf) store in the NAME attribute of a dimension scale that is
#: not also a variable; the dimension size follows, right-aligned in 10 characters.
NOT_A_VARIABLE = "This is a netCDF dimension but not a netCDF variable."

#: Format 2.0 (several outputs): the output axis follows the sample axis; vectors over the n·c
#: outputs are flattened sample-major (index i·c + a).
OUTPUT_DIM = "output"
#: Loss conventions: name -> (loss = factor·‖D‖_F² with factor(n, c), /run@gram_definition).
LOSS_CONVENTIONS = {
    "mean_squared_error": (lambda n, c: 1.0 / n, "M = (2/n) J J^T"),
    "half_mean_squared_error": (lambda n, c: 0.5 / n, "M = (1/n) J J^T"),
    "mse_per_output": (lambda n, c: 1.0 / (n * c), "M = (2/(n c)) J J^T"),
}

#: Width of the fixed-length /run/status string dataset.
STATUS_LENGTH = 16

_HERE = Path(__file__).resolve().parent
SCHEMA_PATH = _HERE / "schemas" / "trajectory-v1.json"

_DTYPES = {
    "float64": np.dtype("<f8"),
    "int64": np.dtype("<i8"),
    "int8": np.dtype("i1"),
    "uint8": np.dtype("u1"),
}


# --------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------

def load_schema(path: str | os.PathLike | None = None) -> dict:
    """The parsed layout schema (default: the copy inside this package)."""
    with open(path or SCHEMA_PATH, "r", encoding="utf-8") as fh:
        return json.load(fh)


class Schema:
    """Index over the schema JSON: datasets, groups and dimensions by path/name."""

    def __init__(self, raw: dict | None = None):
        self.raw = raw if raw is not None else load_schema()
        self.datasets = {d["path"]: d for d in self.raw["datasets"]}
        self.groups = {g["path"]: g for g in self.raw["groups"]}
        self.dimensions = {d["name"]: d for d in self.raw["dimensions"]}
        self.version = tuple(self.raw["version"])
        # dimension name -> path of its coordinate dataset (unlimited, "cadence" dims)
        self.coordinates = {d["name"]: d["coordinate"] for d in self.raw["dimensions"] if "coordinate" in d}
        # several outputs (format 2.0): the layout of a c > 1 file is 'version_multi_output' and
        # each dataset's 'dims_multi_output' (when it lists one) instead of 'dims'
        self.version_multi_output = tuple(self.raw.get("version_multi_output", ()))
        #: the newest major version a reader of this schema reads
        self.readable_major = max([int(self.version[0])] + [int(v) for v in self.version_multi_output[:1]])

    def dataset(self, path: str) -> dict:
        return self.datasets[path]

    def dims(self, path: str, c: int = 1) -> list[str]:
        """The dimension names of dataset `path` in a file with c outputs: 'dims' for c = 1 (the
        1.x layout), 'dims_multi_output' when the schema lists one and c > 1 (an output axis after
        the sample axis, the eigenvector axis of length j, flat n·c axes of spectrum and gram)."""
        spec = self.datasets[path]
        if c > 1 and "dims_multi_output" in spec:
            return list(spec["dims_multi_output"])
        return list(spec["dims"])

    def dim_size(self, dim: str, sizes: Mapping[str, int | None]) -> int | None:
        """Length of dimension `dim` given the run's sizes n, k, d, p, c, j (None: unknown)."""
        key = self.dimensions[dim].get("size")
        if key is None:
            return None
        if key == "nc":
            n, c = sizes.get("n"), sizes.get("c") or 1
            return None if n is None else n * c
        if key == "j":
            return sizes.get("j") if sizes.get("j") is not None else sizes.get("k")
        if key == "c":
            return sizes.get("c") or 1
        return sizes.get(key)


_SCHEMA: Schema | None = None


def schema_has(name: str) -> bool:
    """Whether the shipped schema knows /trajectory/<name> (format 1.1 products, ...)."""
    return ("/trajectory/" + name) in schema().datasets


def schema() -> Schema:
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = Schema()
    return _SCHEMA


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------

def _not_a_variable_name(size: int) -> str:
    return NOT_A_VARIABLE + f"{size:10d}"


def _write_str_attr(obj, name: str, value: str) -> None:
    # variable-length UTF-8 string attribute (what h5py does for str)
    obj.attrs.create(name, value, dtype=h5py.string_dtype("utf-8"))


def _json_or_str(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


TARGET_CHUNK_BYTES = 1 << 20
MIN_CHUNK_BYTES = 64 << 10


def default_batch(n: int, k: int) -> int:
    """Main-cadence rows buffered per write: about 1 MiB of the widest row (the Swift
    writer's rule), at most 1024."""
    return int(min(1024, max(1, TARGET_CHUNK_BYTES // (8 * max(k * n, n)))))


def default_chunk(trailing: Sequence[int], main_cadence: bool, batch: int) -> tuple:
    """Chunk shape of an appendable series (the Swift writer's rule): on the main cadence a
    multiple of the batch of at least 64 KiB; on the sparse own cadences (checkpoints,
    spectra, ...) about 64 KiB, at least one row; a single row larger than 1 MiB is split
    along axis 1 into equal pieces of at most 1 MiB."""
    row_bytes = 8 * max(1, int(np.prod(trailing, dtype=np.int64)) if len(trailing) else 1)
    if main_cadence:
        batch_bytes = row_bytes * batch
        rows = batch if batch_bytes >= MIN_CHUNK_BYTES else batch * (-(-MIN_CHUNK_BYTES // batch_bytes))
    else:
        rows = min(8192, max(1, MIN_CHUNK_BYTES // row_bytes))
    tail = [max(1, int(t)) for t in trailing]
    if rows == 1 and row_bytes > TARGET_CHUNK_BYTES and tail:
        inner = 8 * int(np.prod(tail[1:], dtype=np.int64)) if len(tail) > 1 else 8
        max_per_chunk = max(1, TARGET_CHUNK_BYTES // max(1, inner))
        pieces = -(-tail[0] // max_per_chunk)
        tail[0] = -(-tail[0] // pieces)
    return (max(1, int(rows)),) + tuple(tail)


class RecordingWriter:
    """Writes a recording step by step, buffering rows and appending them in batches.

    Every series is a chunked dataset with an unlimited first axis (its cadence's step
    coordinate). Main-cadence rows are buffered `batch` at a time (default: the Swift
    writer's rule, `default_batch`), side-cadence rows (checkpoints, spectra, ...) one chunk
    at a time, and each batch is written as one hyperslab per dataset. Chunk shapes follow
    `default_chunk` unless `chunks` maps a dataset name to a full chunk shape.
    Non-coordinate dimensions (sample, eig, ...) are dimension scales at the root group,
    visible to /data and /trajectory; step coordinates live in /trajectory.

    Use as a context manager or call close(status).
    """

    def __init__(self, path: str | os.PathLike, *, learning_rate: float, model: Mapping | str,
                 Y: np.ndarray, k: int, X: np.ndarray | None = None,
                 x_path: str | None = None, x_sha256: str | None = None,
                 n_parameters: int = 0, series: Iterable[str] = (),
                 seed: int | None = None, data_seed: int | None = None,
                 config: Mapping | str | None = None, data_description: str | None = None,
                 cadences: Mapping | str | None = None,
                 software: str = "eostrace-python", software_version: str = __version__,
                 created: str | None = None, batch: int | None = None,
                 chunks: Mapping[str, Sequence[int]] | None = None,
                 compression: str | None = None, flush_each_batch: bool = True,
                 swmr: bool = False, allow_float32: bool = False, extra_attrs: Mapping | None = None,
                 on_flush=None, lock: bool = True, check_values: bool = True,
                 n_outputs: int | None = None, eigenvectors_stored: int | None = None,
                 loss_convention: str | None = None):
        self.schema = schema()
        self.check_values = bool(check_values)
        self.allow_float32 = bool(allow_float32)
        self._converted: set = set()
        self._noted: set = set()
        self._on_flush = on_flush
        self._lock = None
        self.swmr = bool(swmr)
        Y = np.ascontiguousarray(Y, dtype="<f8")
        if Y.ndim == 2 and Y.shape[1] == 1 and (n_outputs is None or n_outputs == 1):
            Y = np.ascontiguousarray(Y[:, 0])  # one output: the 1.x layout, [n]
        if Y.ndim not in (1, 2):
            raise ValueError(f"{path}: /data/Y: expected shape [n] (one output) or [n, c] (c outputs), got {list(Y.shape)}")
        self.n = int(Y.shape[0])
        self.c = 1 if Y.ndim == 1 else int(Y.shape[1])
        if n_outputs is not None and int(n_outputs) != self.c:
            raise ValueError(f"{path}: /run@n_outputs: n_outputs = {n_outputs} but Y has shape {list(Y.shape)}"
                             f" (give Y as [n, c])")
        self.k = int(k)
        if eigenvectors_stored is not None and self.c == 1 and int(eigenvectors_stored) != self.k:
            raise ValueError(f"{path}: /run@eigenvectors_stored: storing fewer than k eigenvectors needs several"
                             f" outputs (format 2.0); with one output all k = {self.k} are stored")
        self.j = self.k if eigenvectors_stored is None else int(eigenvectors_stored)
        if not 1 <= self.j <= self.k:
            raise ValueError(f"{path}: /run@eigenvectors_stored: must be in 1...k = {self.k}, got {self.j}")
        conv = loss_convention or "mean_squared_error"
        if conv not in LOSS_CONVENTIONS:
            raise ValueError(f"{path}: /run@loss_convention: {conv!r} is not one of {sorted(LOSS_CONVENTIONS)}")
        self.loss_convention = conv
        self.sizes = {"n": self.n, "k": self.k, "c": self.c, "j": self.j}
        self.p = int(n_parameters)
        if X is not None:
            X = np.ascontiguousarray(X, dtype="<f8")
            if X.ndim != 2 or X.shape[0] != self.n:
                raise ValueError(f"{path}: /data/X: expected shape [{self.n}, d], got {X.shape}")
            self.d = int(X.shape[1])
        else:
            if x_path is None or x_sha256 is None:
                raise ValueError(f"{path}: /data: give X, or both x_path and x_sha256")
            mdesc = json.loads(model) if isinstance(model, str) else dict(model)
            self.d = int(mdesc.get("input_dim", 0))
        self.sizes.update(d=self.d, p=self.p)
        self.batch = int(batch) if batch else default_batch(self.n * self.c, self.j)
        self.path = str(path)
        self._compression = compression
        self._chunks = {kk: tuple(v) for kk, v in (chunks or {}).items()}

        # which series: required trajectory datasets + requested optional ones
        wanted = {p for p, d in self.schema.datasets.items()
                  if p.startswith("/trajectory/") and d.get("required")}
        for name in series:
            p = name if name.startswith("/") else "/trajectory/" + name
            if p not in self.schema.datasets or not p.startswith("/trajectory/"):
                raise ValueError(f"{path}: {p}: not a trajectory dataset of the schema")
            wanted.add(p)
            wanted.update(self.schema.datasets[p].get("requires", []))
        # coordinates for every cadence used
        for p in list(wanted):
            dim0 = self.schema.datasets[p]["dims"][0]
            wanted.add(self.schema.coordinates[dim0])
        self.series = sorted(wanted)
        if not 1 <= self.k <= self.n * self.c:
            raise ValueError(f"{path}: /run@k: must be in 1...n·c = {self.n * self.c}, got {self.k}")
        if "/trajectory/parameters" in wanted and self.p < 1:
            raise ValueError(f"{path}: /trajectory/parameters: checkpoints need n_parameters > 0")

        self._flush_each_batch = flush_each_batch
        # SWMR needs the 1.10 file format as the lower bound too; both open in HDF5 1.10
        libver = ("v110", "v110") if swmr else ("earliest", "v110")
        if lock and os.path.exists(self.path):
            from .lock import is_held
            if is_held(self.path):
                raise BlockingIOError(f"{self.path}: /: open for writing by another live writer; not replacing it")
        self.f = h5py.File(self.path, "w", libver=libver, rdcc_nbytes=4 << 20)
        try:
            if lock:
                from .lock import WriterLock
                self._lock = WriterLock(self.path)
            self._write_header(learning_rate, model, Y, X, x_path, x_sha256, seed, data_seed,
                               config, data_description, cadences, software, software_version,
                               created)
            for key, val in (extra_attrs or {}).items():
                obj, _, attr = key.rpartition("@")
                target = self.f[obj or "/"]
                if isinstance(val, str):
                    _write_str_attr(target, attr, val)
                elif isinstance(val, (dict, list)):
                    _write_str_attr(target, attr, json.dumps(val, separators=(",", ":")))
                elif isinstance(val, (int, np.integer)) and not isinstance(val, bool):
                    target.attrs.create(attr, np.int64(val), dtype="<i8")
                elif isinstance(val, np.ndarray) and val.dtype.kind == "i":
                    target.attrs.create(attr, val.astype("<i8"), dtype="<i8")
                else:
                    target.attrs.create(attr, np.float64(val), dtype="<f8")
            self._create_series()
            self._schema_attrs(created, software, software_version)
            self._create_notes()
            if swmr:
                self.f.swmr_mode = True  # nothing can be created after this
            else:
                self.f.flush()
        except BaseException:
            self.f.close()
            if self._lock is not None:
                self._lock.release()
            raise

    # -- layout -------------------------------------------------------------------------

    NOTE_LENGTH = 512

    def _schema_attrs(self, created, software, software_version) -> None:
        """Attributes the schema asks for beyond the fixed header (format 1.1 and later):
        long_name / units of every dataset the schema documents them for, root Conventions /
        title / history, and fixed-value attributes. Written only when the schema has them."""
        for path, spec in self.schema.datasets.items():
            if path not in self.f:
                continue
            ds = self.f[path]
            for key in ("long_name", "units"):
                if key in spec and key not in ds.attrs:
                    _write_str_attr(ds, key, str(spec[key]))
        for a in self.schema.raw.get("root_attributes", []):
            name = a["name"]
            if name in self.f.attrs:
                continue
            if "value" in a and a.get("type") == "string":
                _write_str_attr(self.f, name, a["value"])
            elif name == "Conventions":
                _write_str_attr(self.f, name, "CF-1.8")
            elif name == "title":
                _write_str_attr(self.f, name, "eostrace trajectory recorded from Python")
            elif name == "history":
                _write_str_attr(self.f, name, f"{created or ''} {software} {software_version}: recorded".strip())
        run_spec = self.schema.groups.get("/run", {})
        names = {a["name"] for a in run_spec.get("attributes", [])}
        if "loss_convention" in names and "loss_convention" not in self.f["run"].attrs:
            # default mean_squared_error: L = |D|_F^2/n, M = (2/n) J J^T
            _write_str_attr(self.f["run"], "loss_convention", self.loss_convention)
        for a in run_spec.get("attributes", []):
            if a["name"] not in self.f["run"].attrs and "value" in a and a.get("type") == "string":
                _write_str_attr(self.f["run"], a["name"], a["value"])

    def has_series(self, name: str) -> bool:
        """Whether this recording holds series `name` (e.g. 'gram_residual')."""
        return ("/trajectory/" + name) in self.ds

    def _create_notes(self) -> None:
        """Reserve the float32-conversion note before SWMR starts: a fixed-length string
        attribute per optional note can be overwritten in place later, not created."""
        if self.allow_float32:
            for p in self.series:
                if self.ds[p].dtype.kind == "f":
                    self.ds[p].attrs.create("precision_note", np.array(b"", dtype=f"S{self.NOTE_LENGTH}"))

    def _note_float32(self) -> None:
        for p in sorted(self._converted - self._noted):
            note = ("converted from float32 by the Python writer (allow_float32=True): values carry float32 "
                    "round-off (~6e-8 relative); the schema's 1e-9..1e-12 checks may fail on them")
            self.ds[p].attrs.modify("precision_note", np.array(note.encode()[: self.NOTE_LENGTH],
                                                                dtype=f"S{self.NOTE_LENGTH}"))
            self._noted.add(p)

    def _dim_size(self, dim: str) -> int:
        return self.schema.dim_size(dim, self.sizes)

    def _dims(self, path: str) -> list[str]:
        return self.schema.dims(path, self.c)

    def file_version(self) -> tuple:
        """[major, minor] this writer stores: the schema's 'version' for one output (the 1.x
        layout, byte for byte as before 2.0), 'version_multi_output' (2.0) for several."""
        if self.c == 1:
            return tuple(int(x) for x in self.schema.version)
        if not self.schema.version_multi_output:
            raise ValueError(f"{self.path}: /data/Y: {self.c} outputs need a schema with format 2.0 "
                             f"(version_multi_output); this one is {list(self.schema.version)}")
        return tuple(int(x) for x in self.schema.version_multi_output)

    def _write_header(self, learning_rate, model, Y, X, x_path, x_sha256, seed, data_seed,
                      config, data_description, cadences, software, software_version, created):
        f = self.f
        _write_str_attr(f, "format", FORMAT_NAME)
        f.attrs.create("format_version", np.array(self.file_version(), dtype="<i8"))
        _write_str_attr(f, "software", software)
        _write_str_attr(f, "software_version", software_version)
        if created is None:
            import datetime
            created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        _write_str_attr(f, "created", created)

        run = f.create_group("run")
        run.attrs.create("learning_rate", np.float64(learning_rate), dtype="<f8")
        run.attrs.create("n_samples", np.int64(self.n), dtype="<i8")
        run.attrs.create("n_parameters", np.int64(self.p), dtype="<i8")
        run.attrs.create("k", np.int64(self.k), dtype="<i8")
        if self.c > 1:
            run.attrs.create("n_outputs", np.int64(self.c), dtype="<i8")
            run.attrs.create("eigenvectors_stored", np.int64(self.j), dtype="<i8")
        _write_str_attr(run, "loss", "mse")
        _write_str_attr(run, "gram_definition", LOSS_CONVENTIONS[self.loss_convention][1])
        _write_str_attr(run, "model", _json_or_str(model))
        if seed is not None:
            run.attrs.create("seed", np.int64(seed), dtype="<i8")
        if data_seed is not None:
            run.attrs.create("data_seed", np.int64(data_seed), dtype="<i8")
        if config is not None:
            _write_str_attr(run, "config", _json_or_str(config))
        if data_description is not None:
            _write_str_attr(run, "data_description", data_description)
        if cadences is not None:
            _write_str_attr(run, "cadences", _json_or_str(cadences))
        status = run.create_dataset("status", shape=(), dtype=h5py.string_dtype("utf-8", STATUS_LENGTH))
        status[()] = b"running"

        # Non-coordinate dimensions used anywhere: scales at the root.
        used = set()
        data_sets = ["/data/Y"] + (["/data/X"] if X is not None else [])
        for p in self.series + data_sets:
            used.update(self._dims(p))
        self.scales: dict[str, h5py.Dataset] = {}
        # root-group scales, numbered (_Netcdf4Dimid) in the schema's dimension order;
        # the step coordinates follow (see _create_series)
        self._next_dimid = 0
        for dim in self.schema.dimensions:
            if dim not in used or dim in self.schema.coordinates:
                continue
            size = self._dim_size(dim)
            ds = f.create_dataset(dim, shape=(size,), dtype=">f4")  # never written: no storage
            ds.make_scale(_not_a_variable_name(size))
            self._set_dimid(ds)
            self.scales[dim] = ds

        data = f.create_group("data")
        if X is None:
            _write_str_attr(data, "x_path", x_path)
            _write_str_attr(data, "x_sha256", x_sha256)
        else:
            self._attach(data.create_dataset("X", data=X), "/data/X")
        self._attach(data.create_dataset("Y", data=Y), "/data/Y")

    def _set_dimid(self, ds: h5py.Dataset) -> None:
        ds.attrs.create("_Netcdf4Dimid", np.int32(self._next_dimid), dtype="<i4")
        self._next_dimid += 1

    def _attach(self, ds: h5py.Dataset, path: str) -> None:
        for axis, dim in enumerate(self._dims(path)):
            ds.dims[axis].attach_scale(self.scales[dim])

    def _create_series(self):
        traj = self.f.create_group("trajectory")
        self.ds: dict[str, h5py.Dataset] = {}
        self.row_shape: dict[str, tuple] = {}
        # coordinates first: they are the scales of their cadence
        order = sorted(self.series, key=lambda p: (not self.schema.datasets[p].get("coordinate", False), p))
        cadence_rows: dict[str, list[int]] = {}
        for p in order:
            spec = self.schema.datasets[p]
            dims = self._dims(p)
            main = dims[0] == "step"
            row = tuple(self._dim_size(d) for d in dims[1:])
            dtype = _DTYPES[spec["dtype"]]
            name = posixpath.basename(p)
            chunk = self._chunks.get(name) or default_chunk(row, main, self.batch)
            if len(chunk) != 1 + len(row):
                raise ValueError(f"{self.path}: {p}: chunk shape {chunk} does not match rank {1 + len(row)}")
            kw = {}
            if self._compression and row:
                kw.update(compression=self._compression, shuffle=True)
            ds = traj.create_dataset(name, shape=(0,) + row, maxshape=(None,) + row,
                                     chunks=tuple(chunk), dtype=dtype, **kw)
            if spec.get("coordinate"):
                ds.make_scale(dims[0])
                self._set_dimid(ds)
                self.scales[dims[0]] = ds
            else:
                for axis, dim in enumerate(dims):
                    ds.dims[axis].attach_scale(self.scales[dim])
                cadence_rows.setdefault(dims[0], []).append(chunk[0])
            self.ds[p] = ds
            self.row_shape[p] = row
        # rows buffered per cadence: the batch on the main cadence, one chunk elsewhere
        self._cap = {}
        for p in self.series:
            dim0 = self.schema.datasets[p]["dims"][0]
            self._cap[p] = self.batch if dim0 == "step" else min(cadence_rows.get(dim0, [1]))
        self._buf = {p: np.empty((self._cap[p],) + self.row_shape[p], dtype=self.ds[p].dtype) for p in self.series}
        self._fill = {p: 0 for p in self.series}
        self._last_step: dict[str, int] = {}

    # -- appending ----------------------------------------------------------------------

    def _shape_text(self, p: str) -> str:
        dims = self._dims(p)[1:]
        if not dims:
            return "a scalar"
        return "[" + ", ".join(f"{d}={self._dim_size(d)}" for d in dims) + "]"

    def _coerce(self, p: str, value, step: int) -> np.ndarray:
        """One row of series `p`, checked strictly: exactly the row shape (no broadcasting, no
        squeezing), float64 (or int64) values; float32 only when allow_float32 (converted,
        noted in the file). Raises ValueError with one line naming the dataset and the fix."""
        want = self.row_shape[p]
        dt = self.ds[p].dtype
        name = p
        if hasattr(value, "__array__") and not isinstance(value, np.ndarray):
            value = np.asarray(value)  # jax / torch arrays (on CPU)
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{self.path}: {name}: step {step}: got a bool, expected {self._shape_text(p)} of {dt}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            arr = np.asarray(value, dtype=dt)
            src = None
        else:
            arr = np.asarray(value)
            src = arr.dtype
        shape = tuple(arr.shape)
        if shape != want:
            dims = self._dims(p)[1:]
            fix = ""
            if self.c > 1 and len(want) >= 2 and shape == want[:-2] + want[-2:][::-1] and want[-1] != want[-2]:
                fix = (f": this is [..., output, sample]; the format stores [..., sample, output] = [..., n, c]:"
                       f" pass the transpose (np.swapaxes(x, -1, -2))")
            elif self.c == 1 and len(want) == 2 and shape == want[::-1] and want[0] != want[1]:
                fix = (f": this is [{dims[1]}, {dims[0]}] (eigenvectors as columns, as numpy.linalg.eigh returns"
                       f" them); pass the transpose, V[:, ::-1][:, :k].T")
            elif self.c > 1 and len(want) >= 1 and arr.size == int(np.prod(want)):
                fix = (f": the right number of values in another shape; vectors over the n·c outputs are"
                       f" [..., n, c] (sample-major, flat index i·c + a): pass x.reshape({list(want)})")
            elif len(shape) < len(want):
                what = "a scalar" if shape == () else f"a {len(shape)}-D row of shape {list(shape)}"
                fix = (f": got {what} where all of {self._shape_text(p)} is due (no broadcasting: give the top-k"
                       f" eigenpairs of the step, k = {self.k}, eigenvectors one per row)")
            elif want == () and arr.size == 1:
                fix = ": pass a scalar (float(x)), not an array of one element"
            raise ValueError(f"{self.path}: {name}: step {step}: shape {list(shape)}, expected "
                             f"{self._shape_text(p)}{fix}")
        if src is not None:
            if dt.kind == "f":
                if src == np.float32 or src == np.float16:
                    if not self.allow_float32:
                        raise ValueError(
                            f"{self.path}: {name}: step {step}: {src} values; the format stores float64 and the checks"
                            f" need float64 round-off: compute in float64 (JAX: jax.config.update('jax_enable_x64',"
                            f" True); PyTorch: torch.set_default_dtype(torch.float64)), or pass allow_float32=True"
                            f" to convert (noted in the file)")
                    self._converted.add(p)
                elif src.kind not in "fiu":
                    raise ValueError(f"{self.path}: {name}: step {step}: dtype {src}, expected float64")
                elif src.kind in "iu" and src.itemsize > 4:
                    if arr.size and not np.array_equal(arr.astype(dt).astype(src), arr):
                        raise ValueError(f"{self.path}: {name}: step {step}: integers not exact in float64")
            elif dt.kind in "iu":
                if src.kind not in "iu":
                    if src.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                        pass
                    else:
                        raise ValueError(f"{self.path}: {name}: step {step}: dtype {src}, expected integers ({dt})")
            arr = arr.astype(dt, copy=False)
        return arr

    def _check_row(self, step: int, values: Mapping[str, Any]) -> None:
        """Consistency of one main-cadence row (eigen order, unit vectors, sharpness)."""
        ev = values.get("/trajectory/eigenvalues")
        if ev is not None and ev.ndim == 1 and ev.size > 1 and np.all(np.isfinite(ev)):
            d = np.diff(ev)
            if (d > 0).any():
                asc = (d >= 0).all()
                raise ValueError(f"{self.path}: /trajectory/eigenvalues: step {step}: not descending"
                                 + (" (ascending, as numpy.linalg.eigh returns them: pass w[::-1][:k] and the"
                                    " eigenvectors V[:, ::-1][:, :k].T)" if asc else ""))
        sh = values.get("/trajectory/sharpness")
        if ev is not None and sh is not None and np.isfinite(sh) and np.isfinite(ev[0]):
            if abs(float(sh) - float(ev[0])) > 1e-12 * max(abs(float(ev[0])), 1e-300):
                raise ValueError(f"{self.path}: /trajectory/sharpness: step {step}: {float(sh)!r} is not the first "
                                 f"(largest) eigenvalue {float(ev[0])!r}: pass sharpness=eigenvalues[0]")
        V = values.get("/trajectory/eigenvectors")
        if V is not None and V.ndim >= 2 and np.all(np.isfinite(V)):
            norms = np.sqrt(np.sum(V * V, axis=tuple(range(1, V.ndim))))
            badrow = np.nonzero(np.abs(norms - 1) > 1e-8)[0]
            if badrow.size:
                shape = "[k, n]" if V.ndim == 2 else "[j, n, c] (each [n, c] block a unit vector over all n·c entries)"
                raise ValueError(f"{self.path}: /trajectory/eigenvectors: step {step}: row {int(badrow[0])} has norm "
                                 f"{norms[badrow[0]]:.6g}, not 1: store unit eigenvectors, one per row {shape}")

    def _push(self, p: str, value) -> None:
        i = self._fill[p]
        buf = self._buf[p]
        buf[i] = value
        self._fill[p] = i + 1
        if i + 1 == self._cap[p]:
            self._flush_one(p)

    def _flush_one(self, p: str) -> None:
        m = self._fill[p]
        if m == 0:
            return
        ds = self.ds[p]
        start = ds.shape[0]
        ds.resize(start + m, axis=0)
        ds[start:start + m] = self._buf[p][:m]
        self._fill[p] = 0

    def _append_cadence(self, coord: str, step: int, values: Mapping[str, Any]) -> None:
        last = self._last_step.get(coord)
        if last is not None and step <= last:
            raise ValueError(f"{self.path}: {coord}: step {step} is not after {last}")
        for p in values:
            if p not in self.ds:
                raise ValueError(f"{self.path}: {p}: not a series of this recording")
        needed = [q for q in self.series if q != coord and self.schema.datasets[q]["dims"][0]
                  == self.schema.datasets[coord]["dims"][0]]
        missing = [q for q in needed if q not in values]
        if missing:
            raise ValueError(f"{self.path}: {', '.join(missing)}: missing at step {step}")
        rows = {q: self._coerce(q, values[q], step) for q in needed}
        if coord == "/trajectory/step" and self.check_values:
            self._check_row(step, rows)
        self._last_step[coord] = step
        self._push(coord, step)
        for q in needed:
            self._push(q, rows[q])
        if self._converted - self._noted:
            self._note_float32()

    def append(self, step: int, **values) -> None:
        """One main-cadence row: loss, residual, output_norm_sq, sharpness, eigenvalues,
        eigenvectors, dtf and any optional step series this writer was created with.
        Every `batch` rows, everything buffered is written and (flush_each_batch) the file
        is flushed, so a killed writer keeps all steps up to the last batch."""
        self._append_cadence("/trajectory/step", int(step),
                             {"/trajectory/" + k: v for k, v in values.items()})
        if self._fill["/trajectory/step"] == 0:  # a main batch was just written
            for p in self.series:
                self._flush_one(p)
            if self._flush_each_batch:
                self.f.flush()
                self._flushed(int(step))

    def _flushed(self, step: int) -> None:
        self.flushed_step = step
        if self._on_flush is not None:
            self._on_flush(step)

    def append_checkpoint(self, step: int, theta) -> None:
        self._append_cadence("/trajectory/checkpoint_step", int(step), {"/trajectory/parameters": theta})

    def append_spectrum(self, step: int, eigenvalues) -> None:
        self._append_cadence("/trajectory/spectrum_step", int(step), {"/trajectory/spectrum": eigenvalues})

    def append_hessian(self, step: int, sharpness: float) -> None:
        self._append_cadence("/trajectory/hessian_step", int(step), {"/trajectory/hessian_sharpness": sharpness})

    def append_gram(self, step: int, M) -> None:
        self._append_cadence("/trajectory/gram_step", int(step), {"/trajectory/gram": M})

    def append_rows(self, coord: str, values: Mapping[str, np.ndarray]) -> None:
        """Append whole arrays (first axis = steps) of one cadence directly, bypassing the buffer."""
        self.flush()
        for p, v in values.items():
            ds = self.ds[p]
            v = np.asarray(v, dtype=ds.dtype)
            if v.shape[1:] != self.row_shape[p]:
                raise ValueError(f"{self.path}: {p}: rows of shape {v.shape[1:]}, expected {self.row_shape[p]}")
            start = ds.shape[0]
            ds.resize(start + v.shape[0], axis=0)
            ds[start:] = v

    def flush(self) -> None:
        for p in self.series:
            self._flush_one(p)
        self.f.flush()
        last = self._last_step.get("/trajectory/step")
        if last is not None:
            self._flushed(last)

    def close(self, status: str = "completed") -> None:
        if not self.f:
            return
        allowed = self.schema.dataset("/run/status")["values"]
        if status not in allowed:
            raise ValueError(f"{self.path}: /run/status: {status!r} is not one of {allowed}")
        self.flush()
        self.f["run/status"][()] = status.encode("utf-8")
        self.f.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.f:
            if exc_type is None:
                self.close("completed")
            else:
                try:
                    self.close("interrupted")
                except Exception:
                    self.f.close()
                    if self._lock is not None:
                        self._lock.release()
        return False


def write_recording(path: str | os.PathLike, *, learning_rate: float, model: Mapping | str,
                    Y, step, loss, residual, output_norm_sq, sharpness, eigenvalues,
                    eigenvectors, dtf, X=None, status: str = "completed",
                    n_parameters: int | None = None, batch: int | None = None, **kwargs) -> None:
    """Write a whole recording in the eostrace layout.

    Required series are given as arrays whose first axis is the step axis. Optional series
    go in keyword arguments named as in the schema: outputs, output_layer_sharpness,
    grad_norm (main cadence); spectrum_step+spectrum, hessian_step+hessian_sharpness,
    checkpoint_step+parameters, gram_step+gram. Other keyword arguments are passed to
    RecordingWriter (x_path, x_sha256, seed, data_seed, config, data_description,
    cadences, software, software_version, created, chunks, compression).
    """
    sch = schema()
    series_names = {p.split("/")[-1] for p in sch.datasets if p.startswith("/trajectory/")}
    given = {k: kwargs.pop(k) for k in list(kwargs) if k in series_names}
    main = dict(step=step, loss=loss, residual=residual, output_norm_sq=output_norm_sq,
                sharpness=sharpness, eigenvalues=eigenvalues, eigenvectors=eigenvectors, dtf=dtf)
    Yarr = np.asarray(Y)
    if Yarr.ndim == 2 and Yarr.shape[1] > 1 and "eigenvectors_stored" not in kwargs:
        kwargs["eigenvectors_stored"] = int(np.shape(eigenvectors)[1])
    eigenvalues = np.asarray(eigenvalues)
    if eigenvalues.ndim != 2:
        raise ValueError(f"{path}: /trajectory/eigenvalues: expected shape [T, k], got {eigenvalues.shape}")
    if n_parameters is None:
        n_parameters = np.asarray(given["parameters"]).shape[1] if "parameters" in given else 0
    with RecordingWriter(path, learning_rate=learning_rate, model=model, Y=Y, X=X,
                         k=eigenvalues.shape[1], n_parameters=n_parameters,
                         series=[k for k in given if not k.endswith("step")],
                         batch=batch, **kwargs) as w:
        everything = {**main, **given}
        by_coord: dict[str, dict[str, np.ndarray]] = {}
        for name, arr in everything.items():
            p = "/trajectory/" + name
            coord = sch.coordinates[sch.datasets[p]["dims"][0]]
            by_coord.setdefault(coord, {})[p] = np.asarray(arr)
        for coord, values in by_coord.items():
            if coord not in values:
                raise ValueError(f"{path}: {coord}: missing (needed by {', '.join(sorted(values))})")
            lengths = {p: v.shape[0] for p, v in values.items()}
            if len(set(lengths.values())) != 1:
                raise ValueError(f"{path}: {coord}: series of unequal lengths {lengths}")
            steps = values[coord]
            if steps.size > 1 and not np.all(np.diff(steps) > 0):
                raise ValueError(f"{path}: {coord}: steps are not strictly increasing")
            w.append_rows(coord, values)
        w.close(status)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------

def _decode(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO" and v.shape == ():
        return _decode(v[()])
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def open_file(path: str | os.PathLike) -> h5py.File:
    """Open a recording read-only. A file still open for writing under SWMR (a live run or a
    killed writer) refuses a normal open; it is then opened as an SWMR reader (each dataset
    shows the rows flushed so far; call `ds.id.refresh()` to see new ones)."""
    try:
        return h5py.File(path, "r")
    except OSError as e:
        if "already open for write" not in str(e):
            raise
        return h5py.File(path, "r", libver="latest", swmr=True)


def read_attrs(path: str | os.PathLike, group: str = "/") -> dict:
    """Attributes of a group as plain Python values (strings decoded, arrays as lists)."""
    with open_file(path) as f:
        return {k: _decode(v) for k, v in f[group].attrs.items()}


def read_run(path: str | os.PathLike) -> dict:
    """/run attributes plus 'status'; JSON attributes (model, config, cadences) parsed."""
    with open_file(path) as f:
        run = {k: _decode(v) for k, v in f["run"].attrs.items()}
        run["status"] = read_status(f)
    for key in ("model", "config", "cadences"):
        if isinstance(run.get(key), str):
            try:
                run[key] = json.loads(run[key])
            except json.JSONDecodeError:
                pass
    return run


def read_status(f: h5py.File | str | os.PathLike) -> str:
    if not isinstance(f, h5py.File):
        with open_file(f) as fh:
            return read_status(fh)
    v = f["run/status"][()]
    return (v.decode("utf-8") if isinstance(v, bytes) else str(v)).rstrip("\x00 ")


def read_series(path: str | os.PathLike, name: str, start: int | None = None,
                stop: int | None = None) -> np.ndarray:
    """Rows [start, stop) of a dataset ('loss' means /trajectory/loss)."""
    p = name if name.startswith("/") else "/trajectory/" + name
    with open_file(path) as f:
        return f[p][slice(start, stop)]


def read_steps(path: str | os.PathLike, cadence: str = "step") -> np.ndarray:
    return read_series(path, "/trajectory/" + cadence)


def open_trajectory(path: str | os.PathLike, **kwargs):
    """xarray.Dataset of /trajectory (h5netcdf engine, named dimensions)."""
    import xarray as xr
    return xr.open_dataset(path, group="trajectory", engine="h5netcdf", **kwargs)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------

def _attr_type_ok(f_obj, name: str, want: str, shape=None) -> str | None:
    """None when attribute `name` has schema type `want`, else the problem."""
    aid = f_obj.attrs.get_id(name)
    dt = aid.dtype
    ashape = aid.shape
    if want == "string":
        info = h5py.check_string_dtype(dt)
        if info is None:
            return f"expected a string, found {dt}"
        if ashape not in ((), (1,)):
            return f"expected a scalar string, found shape {ashape}"
        try:
            _decode(f_obj.attrs[name] if ashape == () else f_obj.attrs[name][0])
        except UnicodeDecodeError:
            return "is not valid UTF-8"
        return None
    exp = _DTYPES[want]
    if dt.kind != exp.kind or dt.itemsize != exp.itemsize:
        return f"expected {want}, found {dt}"
    want_shape = tuple(shape) if shape is not None else ()
    if want_shape == () and ashape not in ((), (1,)):
        return f"expected a scalar, found shape {ashape}"
    if want_shape != () and ashape != want_shape:
        return f"expected shape {list(want_shape)}, found {list(ashape)}"
    return None


def _dtype_ok(dt: np.dtype, want: str) -> str | None:
    if want == "string":
        return None if h5py.check_string_dtype(dt) is not None else f"expected a string dtype, found {dt}"
    exp = _DTYPES[want]
    if dt.kind != exp.kind or dt.itemsize != exp.itemsize:
        return f"expected {want}, found {dt}"
    return None


def _blocks(ds: h5py.Dataset, max_bytes: int = 64 << 20):
    """Read a dataset in row blocks of at most ~max_bytes."""
    if ds.shape == ():
        yield 0, np.asarray(ds[()])
        return
    nrows = ds.shape[0]
    row_bytes = ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
    step = max(1, max_bytes // max(row_bytes, 1))
    for a in range(0, nrows, step):
        yield a, ds[a:min(nrows, a + step)]


def _scale_name(scale: h5py.Dataset) -> str:
    v = scale.attrs.get("NAME", b"")
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


#: Tolerances of the schema's named checks (conventions.checks).
LOSS_TOLERANCE = 1e-9
EQUALITY_TOLERANCE = 1e-12
UNIT_NORM_TOLERANCE = 1e-8


def _named_check(check: str, dpath: str, obj: h5py.Dataset, present: Mapping[str, h5py.Dataset], bad) -> None:
    """Run one of the schema's named checks ('name' or 'name:OTHER') on dataset obj."""
    name, _, other = check.partition(":")
    if obj.dtype.kind != "f" or obj.size == 0:
        return
    if name in ("mean_square_of", "equals_first_eigenvalue"):
        if other not in present:
            return  # reported elsewhere (missing or malformed)
        o = present[other]
        if o.dtype.kind != "f" or o.ndim < 2 or o.shape[1] < 1 or obj.ndim != 1:
            return
        conv = None
        if name == "mean_square_of":
            conv = obj.file["run"].attrs.get("loss_convention") if "run" in obj.file else None
            conv = conv.decode() if isinstance(conv, bytes) else conv
            n_out = int(np.prod(o.shape[2:], dtype=np.int64)) if o.ndim > 2 else 1
            n_smp = o.shape[1]
        rows = min(obj.shape[0], o.shape[0])
        nbad, first = 0, None
        for a, block in _blocks(o):
            b = min(rows, a + block.shape[0])
            if a >= rows:
                break
            block = block[: b - a]
            x = obj[a:b]
            if name == "mean_square_of":
                # The loss in the file's stated convention: |D|_F^2/n (mean over samples, summed over
                # outputs), half of it for Cohen et al.'s, |D|_F^2/(n c) for PyTorch's MSELoss.
                if block.ndim == 2:
                    y = np.mean(block * block, axis=1) * (0.5 if conv == "half_mean_squared_error" else 1.0)
                else:
                    sq = np.sum((block * block).reshape(block.shape[0], -1), axis=1)
                    factor = LOSS_CONVENTIONS.get(conv or "mean_squared_error", LOSS_CONVENTIONS["mean_squared_error"])[0]
                    y = sq * factor(n_smp, n_out)
                tol = LOSS_TOLERANCE
            else:
                y = block[:, 0]
                tol = EQUALITY_TOLERANCE
            with np.errstate(invalid="ignore", over="ignore"):
                off = ~(np.abs(x - y) <= tol * np.maximum(np.abs(x), np.abs(y))) & np.isfinite(x) & np.isfinite(y)
            if off.any():
                nbad += int(off.sum())
                if first is None:
                    i = int(np.argmax(off))
                    first = (a + i, x[i], y[i])
        if first is not None:
            what = f"mean({posixpath.basename(other)}^2)" if name == "mean_square_of" else f"{other}[:, 0]"
            if name == "mean_square_of" and o.ndim > 2:
                what = (f"|{posixpath.basename(other)}|_F^2 in the loss convention "
                        f"{conv or 'mean_squared_error'}")
            bad(dpath, f"differs from {what} beyond {tol:g} relative in {nbad} rows, "
                       f"first row {first[0]}: {first[1]!r} vs {first[2]!r}")
    elif name == "unit_norm_rows":
        nbad, first = 0, None
        for a, block in _blocks(obj):
            with np.errstate(invalid="ignore", over="ignore"):
                # one eigenvector per [step, eig] row: all the trailing (sample[, output]) entries
                norms = np.sqrt(np.sum(block * block, axis=tuple(range(2, block.ndim)))) if block.ndim > 2 \
                    else np.sqrt(np.sum(block * block, axis=-1))
                off = ~(np.abs(norms - 1) <= UNIT_NORM_TOLERANCE)
            if off.any():
                nbad += int(off.sum())
                if first is None:
                    idx = np.argwhere(off)[0]
                    first = (int(a + idx[0]), [int(i) for i in idx[1:]], float(norms[tuple(idx)]))
        if first is not None:
            bad(dpath, f"{nbad} vectors without unit norm (tolerance {UNIT_NORM_TOLERANCE:g}), "
                       f"first in row {first[0]} index {first[1]} (norm {first[2]!r})")
    elif name == "symmetric":
        if obj.ndim != 3 or obj.shape[1] != obj.shape[2]:
            return
        nbad, first = 0, None
        for a, block in _blocks(obj):
            with np.errstate(invalid="ignore"):
                scale = np.max(np.abs(block), axis=(1, 2))
                asym = np.max(np.abs(block - np.swapaxes(block, 1, 2)), axis=(1, 2))
                off = asym > EQUALITY_TOLERANCE * scale
            if off.any():
                nbad += int(off.sum())
                if first is None:
                    first = int(a + np.argmax(off))
        if first is not None:
            bad(dpath, f"not symmetric (tolerance {EQUALITY_TOLERANCE:g} relative) in {nbad} rows, first row {first}")
    elif name == "r_prime_chains":
        _check_r_prime_chains(dpath, obj, present, bad)
    elif name == "above_threshold":
        _check_above_threshold(dpath, obj, present, bad)
    elif name == "warm_start":
        _check_warm_start(dpath, obj, bad)
    else:
        bad(dpath, f"unknown check {check!r} in the schema")


def _check_warm_start(dpath, obj, bad) -> None:
    """The interrupt state /resume: k <= rows <= n, /resume@step is the last checkpoint step,
    /run/status is 'interrupted' (a resume removes the state before it writes)."""
    f = obj.file
    run = f["run"].attrs if "run" in f else {}
    k, n = run.get("k"), run.get("n_samples")
    if k is not None and n is not None and obj.ndim == 2 and not int(k) <= obj.shape[0] <= max(int(k), int(n)):
        bad(dpath, f"has {obj.shape[0]} rows, expected k = {int(k)} to n = {int(n)}")
    if "run/status" in f:
        st = f["run/status"][()]
        st = (st.decode() if isinstance(st, bytes) else str(st)).rstrip("\x00 ")
        if st != "interrupted":
            bad("/resume", f"present in a run whose status is {st!r} (only an interrupted run keeps its eigensolver state)")
    step = f["resume"].attrs.get("step") if "resume" in f else None
    ck = f["trajectory/checkpoint_step"] if "trajectory/checkpoint_step" in f else None
    last = int(ck[-1]) if ck is not None and ck.shape and ck.shape[0] > 0 else None
    if step is not None and np.asarray(step).size == 1 and int(np.asarray(step).reshape(-1)[0]) != last:
        bad("/resume@step", f"is {int(np.asarray(step).reshape(-1)[0])}, but the last checkpoint step is {last}")


def _check_r_prime_chains(dpath, obj, present, bad) -> None:
    """r_prime equals r_prime_from_start (1e-12 relative) before the first restart row and
    (I − v1 v1ᵀ) D at every restart row (1e-10 relative to ‖D‖); a restart row a has
    Λ(a) > 2/η and a = 0 or Λ(a−1) ≤ 2/η (consecutive rows)."""
    need = ["/trajectory/r_prime_from_start", "/trajectory/residual", "/trajectory/eigenvectors",
            "/trajectory/sharpness"]
    if any(q not in present for q in need[1:]) or obj.ndim < 2:
        return
    try:
        eta = float(obj.file["run"].attrs["learning_rate"])
    except Exception:
        return
    lam = present["/trajectory/sharpness"][:]
    T = min(obj.shape[0], lam.shape[0], present["/trajectory/residual"].shape[0])
    if T == 0 or not eta > 0:
        return
    thr = 2.0 / eta
    above = lam[:T] > thr
    restart = above & np.concatenate([[True], ~above[:-1]])
    first = int(np.argmax(restart)) if restart.any() else T
    if "/trajectory/r_prime_from_start" in present and first > 0:
        a = obj[:first].reshape(first, -1)  # vec(R′): the n·c flattened outputs
        b = present["/trajectory/r_prime_from_start"][:first].reshape(first, -1)
        scale = np.maximum(np.max(np.abs(b), axis=1), 1e-300)
        off = np.max(np.abs(a - b), axis=1) > 1e-12 * scale
        if off.any():
            bad(dpath, f"differs from r_prime_from_start before the first restart (row {first}) beyond 1e-12 "
                       f"relative, first in row {int(np.argmax(off))}")
    rows = np.nonzero(restart)[0]
    for r in rows[:10000]:
        D = present["/trajectory/residual"][r].reshape(-1)
        v1 = present["/trajectory/eigenvectors"][r, 0].reshape(-1)
        R = D - v1 * (v1 @ D)
        if np.linalg.norm(obj[r].reshape(-1) - R) > 1e-10 * max(np.linalg.norm(D), 1e-300):
            bad(dpath, f"row {int(r)} is a restart (sharpness crosses 2/eta = {thr:g}) but does not equal "
                       f"(I - v1 v1^T) D there (1e-10 relative to |D|)")
            break


def _check_above_threshold(dpath, obj, present, bad) -> None:
    cnt_path = "/trajectory/eigenvalue_count_above_threshold"
    if cnt_path not in present or obj.ndim != 2:
        return
    try:
        X = float(obj.file["run"].attrs["eigenvalue_threshold"])
    except Exception:
        bad("/run@eigenvalue_threshold", "missing (needed by /trajectory/eigenvalues_above_threshold)")
        return
    cnt = present[cnt_path][:]
    cap = obj.shape[1]
    for a, block in _blocks(obj):
        for i in range(block.shape[0]):
            r = a + i
            if r >= cnt.shape[0]:
                return
            c = int(cnt[r])
            if c < 0:
                bad(cnt_path, f"negative count {c} in row {r}")
                return
            m = min(c, cap)
            v = block[i]
            stored, rest = v[:m], v[m:]
            if not (np.all(np.isfinite(stored)) and np.all(stored > X) and np.all(np.diff(stored) <= 0)):
                bad(dpath, f"row {r}: the {m} stored values must be finite, > {X:g} and descending")
                return
            if not np.all(np.isnan(rest)):
                bad(dpath, f"row {r}: values after the {m} stored ones must be NaN")
                return


def validate(path: str | os.PathLike, schema_json: dict | None = None,
             supported_major: int | None = None) -> list[str]:
    """Check a file against the schema. Returns one line per problem ([] when valid).

    Checks: required groups, datasets and attributes; attribute and dataset types; fixed
    values; dimensions against n, k, d, p; equal lengths of the series of each cadence;
    strictly increasing step coordinates; finite values where required; descending
    eigenvalues; the schema's named checks (loss = mean(residual^2), sharpness =
    eigenvalues[:, 0], unit eigenvectors, symmetric gram); a netCDF-4 dimension scale on
    every axis (exactly one, of the right name and length, visible from the dataset's
    group); the format version.

    Several outputs (format 2.0, /run@n_outputs = c > 1): the output axis after the sample
    axis, /run@eigenvectors_stored, and the checks on vec(D) (loss in the stored convention,
    unit eigenvectors over all n·c entries, the R′ chains on the flattened vectors). A file
    whose major version is newer than `supported_major` (default: the newest this package
    reads: the larger of the schema's 'version' and 'version_multi_output' majors) gives exactly
    one line.
    """
    sch = Schema(schema_json) if schema_json is not None else schema()
    if supported_major is None:
        supported_major = sch.readable_major
    fname = str(path)
    problems: list[str] = []

    def bad(obj: str, msg: str) -> None:
        problems.append(f"{fname}: {obj}: {msg}")

    try:
        f = open_file(fname)
    except Exception as e:  # not HDF5, missing, truncated
        return [f"{fname}: /: cannot open as HDF5 ({type(e).__name__}: {e})"]
    try:
        with f:
            # -- root attributes -------------------------------------------------------------
            def check_attrs(obj, objpath: str, specs: list) -> None:
                for a in specs:
                    name = a["name"]
                    where = f"{objpath}@{name}" if objpath != "/" else f"/@{name}"
                    if name not in obj.attrs:
                        if a.get("required"):
                            bad(where, "required attribute is missing")
                        continue
                    try:
                        err = _attr_type_ok(obj, name, a["type"], a.get("shape"))
                    except Exception as e:
                        err = f"unreadable ({e})"
                    if err:
                        bad(where, err)
                        continue
                    if "value" in a:
                        v = _decode(obj.attrs[name])
                        if isinstance(v, list) and len(v) == 1:
                            v = v[0]
                        if v != a["value"]:
                            bad(where, f"expected {a['value']!r}, found {v!r}")

            major = None
            if "format_version" in f.attrs:
                try:
                    fv = [int(x) for x in np.atleast_1d(f.attrs["format_version"])]
                    if len(fv) == 2:
                        major = fv[0]
                except Exception:
                    pass
            if major is not None and major > supported_major:
                # the major-version rule: a newer layout is not read at all (one line, nothing else)
                return [f"{fname}: /@format_version: format version {major}.{fv[1]} is newer than this eostrace "
                        f"reads ({supported_major}.x); upgrade eostrace"]
            check_attrs(f, "/", sch.raw["root_attributes"])

            # -- groups ----------------------------------------------------------------------
            for gpath, g in sch.groups.items():
                if gpath not in f:
                    if g.get("required"):
                        bad(gpath, "required group is missing")
                    continue
                if not isinstance(f[gpath], h5py.Group):
                    bad(gpath, "expected a group")
                    continue
                check_attrs(f[gpath], gpath, g.get("attributes", []))

            # -- run sizes ---------------------------------------------------------------------
            sizes: dict[str, int | None] = {"n": None, "k": None, "p": None, "d": None, "c": 1, "j": None}

            def int_attr(gpath, name):
                try:
                    v = f[gpath].attrs[name]
                    return int(np.asarray(v).reshape(-1)[0])
                except Exception:
                    return None

            if "run" in f:
                sizes["n"] = int_attr("/run", "n_samples")
                sizes["k"] = int_attr("/run", "k")
                p = int_attr("/run", "n_parameters")
                sizes["p"] = p if p else None  # 0 = unknown
                for key in ("n", "k"):
                    if sizes[key] is not None and sizes[key] < 1:
                        bad("/run@" + {"n": "n_samples", "k": "k"}[key], f"must be positive, found {sizes[key]}")
                if sizes["p"] is not None and sizes["p"] < 0:
                    bad("/run@n_parameters", f"must be >= 0, found {sizes['p']}")
                for name, key in (("n_outputs", "c"), ("eigenvectors_stored", "j")):
                    if name not in f["run"].attrs:
                        continue
                    err = _attr_type_ok(f["run"], name, "int64")
                    if err:
                        bad("/run@" + name, err)
                        continue
                    v = int_attr("/run", name)
                    if v is None or v < 1:
                        bad("/run@" + name, f"must be positive, found {v}")
                        continue
                    sizes[key] = v
                if "n_outputs" not in f["run"].attrs and major is not None and major >= 2:
                    bad("/run@n_outputs", f"missing: a format {major}.x file has several outputs and must say how many")
                if sizes["c"] > 1 and major is not None and major < 2:
                    bad("/run@n_outputs", f"n_outputs = {sizes['c']} (several outputs) needs format_version 2.0, "
                        f"found major version {major}")
                if sizes["j"] is not None and sizes["k"] is not None and sizes["j"] > sizes["k"]:
                    bad("/run@eigenvectors_stored", f"{sizes['j']} is more than k = {sizes['k']}")
                if sizes["j"] is not None and sizes["c"] == 1 and sizes["k"] is not None and sizes["j"] != sizes["k"]:
                    bad("/run@eigenvectors_stored", f"{sizes['j']} of k = {sizes['k']} with one output: only "
                        f"several outputs (n_outputs > 1) may store fewer than k eigenvectors")
                if sizes["k"] is not None and sizes["n"] is not None and sizes["k"] > sizes["n"] * sizes["c"]:
                    bad("/run@k", f"k = {sizes['k']} is more than the n·c = {sizes['n'] * sizes['c']} eigenvalues of M")
                if "model" in f["run"].attrs:
                    try:
                        model = json.loads(_decode(f["run"].attrs["model"]))
                        if not isinstance(model, dict) or "kind" not in model:
                            bad("/run@model", "JSON object without 'kind'")
                        elif "input_dim" in model:
                            sizes["d"] = int(model["input_dim"])
                    except (ValueError, TypeError):
                        bad("/run@model", "is not valid JSON")
                for name in ("config", "cadences"):
                    if name in f["run"].attrs:
                        try:
                            json.loads(_decode(f["run"].attrs[name]))
                        except (ValueError, TypeError):
                            bad(f"/run@{name}", "is not valid JSON")
            if "/data/X" in f and isinstance(f["/data/X"], h5py.Dataset) and f["/data/X"].ndim == 2:
                dx = int(f["/data/X"].shape[1])
                if sizes["d"] is not None and sizes["d"] != dx:
                    bad("/data/X", f"has {dx} features but /run@model says input_dim {sizes['d']}")
                sizes["d"] = dx

            # -- datasets ----------------------------------------------------------------------
            present: dict[str, h5py.Dataset] = {}
            def waived(spec) -> bool:
                """True when all of the dataset's 'required_unless' attributes are present."""
                conds = spec.get("required_unless")
                if not conds:
                    return False
                for c in conds:
                    gpath, _, aname = c.partition("@")
                    if gpath not in f or aname not in f[gpath].attrs:
                        return False
                return True

            for dpath, spec in sch.datasets.items():
                if dpath not in f:
                    if spec.get("required") and not waived(spec):
                        extra = ""
                        if spec.get("required_unless"):
                            extra = " (and " + " and ".join(spec["required_unless"]) + " are not all present)"
                        bad(dpath, "required dataset is missing" + extra)
                    continue
                obj = f[dpath]
                if not isinstance(obj, h5py.Dataset):
                    bad(dpath, "expected a dataset")
                    continue
                for req in spec.get("requires", []):
                    if req not in f:
                        bad(dpath, f"present without {req}")
                err = _dtype_ok(obj.dtype, spec["dtype"])
                if err:
                    bad(dpath, err)
                    continue
                if "shape" in spec:
                    if tuple(obj.shape) != tuple(spec["shape"]):
                        bad(dpath, f"expected shape {spec['shape']}, found {list(obj.shape)}")
                        continue
                dims = sch.dims(dpath, sizes["c"]) if spec.get("dims") is not None else None
                if dims is not None:
                    if obj.ndim != len(dims):
                        extra = ""
                        if OUTPUT_DIM in dims and obj.ndim == len(dims) - 1:
                            extra = f" (n_outputs = {sizes['c']}: the output axis follows the sample axis)"
                        elif sizes["c"] == 1 and "sample" in dims and obj.ndim == len(dims) + 1:
                            extra = " (an output axis, but /run@n_outputs is missing: one output)"
                        bad(dpath, f"expected {len(dims)} dimensions {dims}, found shape {list(obj.shape)}{extra}")
                        continue
                    ok = True
                    for axis, dim in enumerate(dims):
                        dspec = sch.dimensions[dim]
                        if "size" in dspec:
                            want = sch.dim_size(dim, sizes)
                            if want is not None and obj.shape[axis] != want:
                                key = {"nc": "n·c"}.get(dspec["size"], dspec["size"])
                                bad(dpath, f"axis {axis} ({dim}) has length {obj.shape[axis]}, expected {key} = {want}")
                                ok = False
                    if not ok:
                        continue
                present[dpath] = obj
                if "values" in spec:
                    try:
                        v = obj[()]
                        s = (v.decode("utf-8") if isinstance(v, bytes) else str(v)).rstrip("\x00 ")
                        if s not in spec["values"]:
                            bad(dpath, f"{s!r} is not one of {spec['values']}")
                    except Exception as e:
                        bad(dpath, f"unreadable ({e})")

            # -- values: finite, monotonic ----------------------------------------------------
            for dpath, obj in present.items():
                spec = sch.datasets[dpath]
                want_finite = spec.get("finite", False)
                mono = spec.get("monotonic")
                desc = spec.get("monotonic_axis") == "descending"
                if not (want_finite or mono or desc) or obj.size == 0:
                    continue
                try:
                    prev_last = None
                    for a, block in _blocks(obj):
                        if want_finite and block.dtype.kind == "f":
                            fin = np.isfinite(block)
                            if not fin.all():
                                bad_idx = np.argwhere(~fin)[0]
                                idx = [int(a + bad_idx[0])] + [int(i) for i in bad_idx[1:]]
                                bad(dpath, f"non-finite value {block[tuple(bad_idx)]} at index {idx}")
                                want_finite = False
                        if mono == "increasing":
                            seq = block.astype(np.int64) if block.dtype.kind in "iu" else block
                            if prev_last is not None and seq.size and not seq[0] > prev_last:
                                bad(dpath, f"not strictly increasing at index {a}")
                                mono = None
                            elif seq.size > 1:
                                dif = np.diff(seq)
                                if not (dif > 0).all():
                                    i = int(np.argmax(~(dif > 0)))
                                    bad(dpath, f"not strictly increasing at index {a + i + 1} ({seq[i]} then {seq[i + 1]})")
                                    mono = None
                            if seq.size:
                                prev_last = seq[-1]
                        if desc and block.ndim >= 2 and block.shape[-1] > 1:
                            dif = np.diff(block, axis=-1)
                            if (dif > 0).any():
                                r = np.argwhere(dif > 0)[0]
                                hint = ""
                                row = block[r[0]]
                                if row.ndim == 1 and (np.diff(row) >= 0).all():
                                    hint = (" (ascending, as numpy.linalg.eigh returns them: store w[::-1][:k] and"
                                            " the eigenvectors V[:, ::-1][:, :k].T)")
                                bad(dpath, f"not descending in row {int(a + r[0])}{hint}")
                                desc = False
                        if not (want_finite or mono or desc):
                            break
                except Exception as e:
                    bad(dpath, f"unreadable ({type(e).__name__}: {e})")

            # -- named checks (schema "checks") ------------------------------------------------
            for dpath, obj in present.items():
                for check in sch.datasets[dpath].get("checks", []):
                    try:
                        _named_check(check, dpath, obj, present, bad)
                    except Exception as e:
                        bad(dpath, f"check {check} failed to run ({type(e).__name__}: {e})")

            # -- cadences: equal lengths ------------------------------------------------------
            for dim, coord in sch.coordinates.items():
                members = [p for p, obj in present.items()
                           if sch.datasets[p].get("dims") and sch.datasets[p]["dims"][0] == dim]
                if not members:
                    continue
                prefix_groups = {posixpath.dirname(p) for p in members}
                for grp in prefix_groups:
                    group_members = [p for p in members if posixpath.dirname(p) == grp]
                    local_coord = posixpath.join(grp, dim)
                    ref = local_coord if local_coord in present else coord
                    if ref not in present:
                        if coord not in f and local_coord not in f:
                            bad(coord, f"missing, needed by {', '.join(sorted(group_members))}")
                        continue
                    n_ref = present[ref].shape[0]
                    for p in group_members:
                        if present[p].shape[0] != n_ref:
                            bad(p, f"has {present[p].shape[0]} rows but {ref} has {n_ref}")

            # -- dimension scales -------------------------------------------------------------
            def check_scales(dpath: str, obj: h5py.Dataset, dims: list | None) -> None:
                if obj.ndim == 0:
                    return
                is_scale = h5py.h5ds.is_scale(obj.id)
                spec = sch.datasets.get(dpath, {})
                if spec.get("coordinate"):
                    if not is_scale:
                        bad(dpath, "coordinate is not a dimension scale (H5DSset_scale)")
                    elif _scale_name(obj) != dims[0]:
                        bad(dpath, f"dimension scale NAME is {_scale_name(obj)!r}, expected {dims[0]!r}")
                    return
                if is_scale:
                    return  # a dimension scale dataset itself (e.g. /sample)
                for axis in range(obj.ndim):
                    try:
                        scales = list(obj.dims[axis].values())
                    except Exception as e:
                        bad(dpath, f"axis {axis}: unreadable dimension list ({e})")
                        return
                    dimname = dims[axis] if dims else None
                    label = f"axis {axis}" + (f" ({dimname})" if dimname else "")
                    if len(scales) == 0:
                        bad(dpath, f"{label} has no dimension scale attached")
                        continue
                    if len(scales) > 1:
                        bad(dpath, f"{label} has {len(scales)} dimension scales attached, expected 1")
                        continue
                    sc = scales[0]
                    base = posixpath.basename(sc.name)
                    if dimname is not None and base != dimname:
                        bad(dpath, f"{label} is attached to dimension scale {sc.name}, expected one named {dimname!r}")
                        continue
                    if sc.ndim != 1 or sc.shape[0] != obj.shape[axis]:
                        bad(dpath, f"{label} has length {obj.shape[axis]} but its scale {sc.name} has shape {list(sc.shape)}")
                    scale_grp = posixpath.dirname(sc.name)
                    ds_grp = posixpath.dirname(dpath)
                    if not (scale_grp == "/" or ds_grp == scale_grp or ds_grp.startswith(scale_grp + "/")):
                        bad(dpath, f"{label}: scale {sc.name} is not in this group or a parent (netCDF readers will not find it)")
                    coord_path = sch.coordinates.get(base)
                    name_attr = _scale_name(sc)
                    if coord_path is None and dimname is not None:
                        if not name_attr.startswith(NOT_A_VARIABLE):
                            bad(sc.name, f"NAME of a dimension without coordinate must start with {NOT_A_VARIABLE!r}, found {name_attr!r}")

            for dpath, obj in present.items():
                check_scales(dpath, obj, sch.dims(dpath, sizes["c"])
                             if sch.datasets[dpath].get("dims") is not None else None)
            _check_first_order(f, bad)
            # any other dataset under /trajectory must also be readable by xarray
            if "trajectory" in f and isinstance(f["trajectory"], h5py.Group):
                for name, obj in f["trajectory"].items():
                    p = "/trajectory/" + name
                    if isinstance(obj, h5py.Dataset) and p not in sch.datasets:
                        check_scales(p, obj, None)
    except Exception as e:  # a damaged file must give a problem line, never an exception
        bad("/", f"validation stopped: {type(e).__name__}: {e}")

    # de-duplicate (scale NAME problems can repeat per attached dataset)
    seen = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def learning_rate_estimate(f: h5py.File, steps: int = 5):
    """Least-squares estimate of the step size that moves D(t+1) − D(t) ≈ −η·M(t)D(t) on the
    first `steps` consecutive recorded steps (first-order GD, paper Assumption 3.2), from
    /trajectory/gram_residual = M(t)D(t). None when the file cannot tell (no gram_residual, fewer
    than two consecutive steps, or M(t)D(t) = 0)."""
    t = f.get("trajectory")
    if t is None or "gram_residual" not in t or "residual" not in t or "step" not in t:
        return None
    m = min(steps + 1, t["step"].shape[0], t["residual"].shape[0], t["gram_residual"].shape[0])
    if m < 2:
        return None
    st = t["step"][:m]
    D = t["residual"][:m]
    G = t["gram_residual"][:m]
    num = den = 0.0
    for i in range(m - 1):
        if st[i + 1] != st[i] + 1:
            break
        dD = (D[i + 1] - D[i]).reshape(-1)  # vec(D): the n·c flattened outputs
        g = G[i].reshape(-1)
        num += float(-(dD @ g))
        den += float(g @ g)
    if not den > 0 or not math.isfinite(num):
        return None
    return num / den


def _check_first_order(f: h5py.File, bad) -> None:
    """/run@learning_rate against the step size the first steps actually took."""
    try:
        est = learning_rate_estimate(f)
        eta = float(f["run"].attrs["learning_rate"])
    except Exception:
        return
    if est is None or not (eta > 0) or not math.isfinite(eta):
        return
    ratio = est / eta
    if not (1 / 3 <= ratio <= 3):
        off = f"{ratio:.3g}×" if ratio > 0 else f"{ratio:.3g}× (D moves against -M·D)"
        bad("/run@learning_rate", f"eta = {eta:g} but the first steps moved D(t+1) - D(t) like "
            f"-eta·gram_residual(t) with eta ≈ {est:.4g} ({off} the stored value): store the step size "
            f"your optimizer used (off by 10×?)")


def _is_unreadable(problem: str) -> bool:
    """Problems that make a file unreadable as a trajectory (as `eostrace validate` exits 2):
    not HDF5, not this format, or a newer major version."""
    return (": /: cannot open" in problem or ": /@format: " in problem
            or (": /@format_version: format version" in problem and "is newer than" in problem))


def main(argv: Sequence[str] | None = None) -> int:
    """python eostrace_format.py FILE...: print problems; exit 0 valid, 1 invalid, 2 unreadable
    (not HDF5, not an eostrace trajectory, or a newer major version)."""
    import sys
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: eostrace_format.py FILE...", file=sys.stderr)
        return 2
    code = 0
    for a in args:
        probs = validate(a)
        if not probs:
            print(f"{a}: valid")
            continue
        for p in probs:
            print(p)
        code = max(code, 2 if any(_is_unreadable(p) for p in probs) else 1)
    return code


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # e.g. piped into head
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        raise SystemExit(1)

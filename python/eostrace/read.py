"""Reading recordings and analyses as xarray Datasets."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np


def _nan_aware(obj: Any) -> Any:
    """JSON from eostrace: missing numbers are null (current CLI) or the strings "nan", "inf",
    "-inf" (older summaries). Both become float NaN / ±Inf."""
    if isinstance(obj, dict):
        return {k: _nan_aware(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_aware(v) for v in obj]
    if isinstance(obj, str):
        low = obj.strip().lower()
        if low in ("nan", "-nan"):
            return math.nan
        if low in ("inf", "+inf", "infinity"):
            return math.inf
        if low in ("-inf", "-infinity"):
            return -math.inf
    return obj


def parse_summary(text: str | bytes, *, null_as_nan: bool = True) -> Any:
    """Parse an eostrace JSON summary (`analyze --json`, /analysis@summary). `null` (current
    writers) and "nan"/"inf" strings (older ones) become float NaN/±Inf when null_as_nan."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    obj = json.loads(text, parse_constant=float)
    obj = _nan_aware(obj)
    if null_as_nan:
        obj = _null_to_nan(obj)
    return obj


def _null_to_nan(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: (math.nan if v is None else _null_to_nan(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [math.nan if v is None else _null_to_nan(v) for v in obj]
    return obj


def read_summary(path: str | os.PathLike) -> dict:
    """The /analysis@summary JSON of a recording (analyzed in place) or of an analysis file."""
    from .format import open_file
    with open_file(path) as f:
        if "analysis" not in f:
            raise KeyError(f"{path}: /analysis: no analysis group (run `eostrace analyze {path} --out A.h5`)")
        v = f["analysis"].attrs["summary"]
    return parse_summary(v)


def open_analysis(path: str | os.PathLike):
    """/analysis of a recording or of an analysis file as an xarray.Dataset on `step`, with the
    summary and options (parsed) in ds.attrs['summary'] / ds.attrs['options']."""
    import xarray as xr
    ds = xr.open_dataset(path, group="analysis", engine="h5netcdf")
    for key in ("summary", "options"):
        if key in ds.attrs:
            raw = ds.attrs[key]
            ds.attrs[key + "_json"] = raw if isinstance(raw, str) else bytes(raw).decode()
            try:
                ds.attrs[key] = parse_summary(ds.attrs[key + "_json"], null_as_nan=False)
            except Exception:
                pass
    return ds


def check_readable(path: str | os.PathLike) -> None:
    """Raise ValueError with one line when the recording's major format version is newer than this
    package reads (1.x: one output; 2.x: several outputs)."""
    from .format import open_file, schema
    with open_file(path) as f:
        v = f.attrs.get("format_version")
    if v is None:
        return
    v = [int(x) for x in np.atleast_1d(v)]
    supported = schema().readable_major
    if len(v) == 2 and v[0] > supported:
        raise ValueError(f"{os.fspath(path)}: /@format_version: format version {v[0]}.{v[1]} is newer than this "
                         f"eostrace reads ({supported}.x); upgrade eostrace")


def flatten_outputs(obj, dim: str = "flat_index"):
    """vec(·) over the outputs: every variable of a DataArray/Dataset with the dimensions
    (sample, output) gets them merged into one dimension `dim` of length n·c, sample-major
    (index i·c + a, as the recorder flattens them: M acts on these vectors). Variables without an
    output axis (one-output files, scalars) are returned unchanged, so analysis code written for
    vectors over `sample` runs on vec(D) with `dim="sample"`. For example:

        ds = eostrace.open_recording("run.h5")
        v = eostrace.flatten_outputs(ds)
        c1 = (v.residual * v.eigenvectors.isel(eigenvector=0)).sum("flat_index")   # ⟨D, v_1⟩
    """
    import xarray as xr

    def one(da):
        if "sample" not in da.dims or "output" not in da.dims:
            return da
        rest = [d for d in da.dims if d not in ("sample", "output")]
        da = da.transpose(*rest, "sample", "output")
        shape = da.shape[:-2] + (da.shape[-2] * da.shape[-1],)
        return xr.DataArray(np.asarray(da.values).reshape(shape), dims=rest + [dim],
                            coords={k: v for k, v in da.coords.items() if set(v.dims) <= set(rest)},
                            attrs=da.attrs, name=da.name)
    if isinstance(obj, xr.DataArray):
        return one(obj)
    return obj.assign({k: one(v) for k, v in obj.data_vars.items()})


def open_recording(path: str | os.PathLike, analysis: str | os.PathLike | None = None, *, data: bool = False):
    """/trajectory of a recording as an xarray.Dataset (named dimensions step, eig, sample, ...
    and each cadence's own coordinate). Several outputs (format 2.0): residual, outputs, the
    M-products and /data/Y have the dimensions (step, sample, output), the eigenvectors
    (step, eigenvector, sample, output); ds.attrs['n_outputs'] is c (1 for a 1.x file);
    `flatten_outputs(ds)` gives the flattened vectors vec(D) that M acts on. A file of a newer
    major version raises ValueError (one line). When the recording has an /analysis group, or
    `analysis` names an analysis file (`eostrace analyze RUN --out A.h5`), its per-step series
    (phase, c1, r_norm_sq, r_prime_error, anomaly) are joined on `step` (outer join: steps the
    analysis lacks are NaN) and its summary goes to ds.attrs['analysis_summary']. /run
    attributes go to ds.attrs (model and cadences parsed). data=True adds /data X and Y."""
    import xarray as xr
    from .format import open_file, read_run
    path = os.fspath(path)
    check_readable(path)
    ds = xr.open_dataset(path, group="trajectory", engine="h5netcdf")
    run = read_run(path)
    for k, v in run.items():
        ds.attrs["run_" + k] = v if isinstance(v, (str, int, float, np.integer, np.floating)) else json.dumps(v)
    ds.attrs["learning_rate"] = float(run["learning_rate"])
    ds.attrs["status"] = run["status"]
    ds.attrs["n_outputs"] = int(run.get("n_outputs", 1))
    src = analysis
    if src is None:
        with open_file(path) as f:
            if "analysis" in f:
                src = path
    if src is not None:
        an = open_analysis(src)
        per_step = [v for v in an.data_vars if an[v].dims == ("step",)]
        joined = an[per_step].rename({v: v if v not in ds else "analysis_" + v for v in per_step})
        ds = xr.merge([ds, joined], join="left", compat="override", combine_attrs="override")
        if "summary" in an.attrs:
            ds.attrs["analysis_summary"] = an.attrs.get("summary_json", "")
    if data:
        d = xr.open_dataset(path, group="data", engine="h5netcdf")
        ds = ds.assign(X=d["X"], Y=d["Y"]) if "X" in d else ds.assign(Y=d["Y"])
    return ds

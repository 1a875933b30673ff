"""Helpers shared by the sweep tests: an independent canonical-JSON run id (the rule of
docs/SWEEPS.md written again in Python) and a check of a merged sweep file against the runs'
own files (h5py), through xarray."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np


def canonical(v) -> str:
    """Canonical JSON as docs/SWEEPS.md defines it (sorted keys, no spaces, integral doubles
    below 2**53 as integers, other doubles as %.17g)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 2**53:
            return str(int(v))
        return "%.17g" % v
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(v[k]) for k in sorted(v)) + "}"
    raise TypeError(type(v))


def run_id(config: dict) -> str:
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:12]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_merged(merged: Path, folder: Path, manifest: dict) -> dict:
    """Opens `merged` with xarray and checks every /trajectory series of every run against the
    run's file read with h5py: equal in the run's block, NaN beyond it. Returns the dataset's repr."""
    import xarray as xr

    with xr.open_dataset(merged, group="trajectory", engine="h5netcdf") as ds:
        assert ds.sizes["run"] == len(manifest["runs"])
        assert list(ds["run_id"].values) == [r["id"] for r in manifest["runs"]]
        checked = 0
        for r in manifest["runs"]:
            with h5py.File(folder / r["file"], "r") as f:
                g = f["trajectory"]
                for name, obj in g.items():
                    if not isinstance(obj, h5py.Dataset) or obj.attrs.get("CLASS") == b"DIMENSION_SCALE":
                        continue
                    want = obj[()]
                    got = ds[name].isel(run=r["index"]).values
                    block = tuple(slice(0, s) for s in want.shape)
                    np.testing.assert_array_equal(got[block], want, err_msg=f"{name} of run {r['index']}")
                    rest = np.ones(got.shape, bool)
                    rest[block] = False
                    if np.issubdtype(got.dtype, np.integer):   # integer series pad with -1
                        assert (got[rest] == -1).all(), f"{name} of run {r['index']}: padding is not -1"
                    else:
                        assert np.isnan(got[rest]).all(), f"{name} of run {r['index']}: padding is not NaN"
                    checked += 1
                n = g["step"].shape[0]
                assert int(ds["run_length"].values[r["index"]]) == n
                np.testing.assert_array_equal(ds["step"].values[:n], g["step"][()])
            for key, value in r["values"].items():
                var = key.replace(".", "_")
                assert float(ds[var].values[r["index"]]) == float(value), (key, r["index"])
        assert checked > 0
        return {"repr": repr(ds), "series": checked}

#!/usr/bin/env python3
"""Open an eostrace recording with xarray and show what it holds.

    python3 open_with_xarray.py RUN.h5 [--step S] [--json]

`/trajectory` opens directly as an xarray.Dataset with the h5netcdf engine: every axis carries a
named netCDF-4 dimension scale, so the dimensions are step, eig, sample, checkpoint_step,
parameter, ... (never phony_dim_N), and each cadence has its own step coordinate: series
recorded every step share `step`, checkpoints of θ live on `checkpoint_step`, spectra on
`spectrum_step`, and so on. Selections by step value therefore line up across cadences.

Without --json it prints the dataset, its dimensions and a few selections; with --json it prints
the same selections as JSON (full float64 precision) for programs and tests.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import xarray as xr


def _floats(a) -> list:
    return [float(x) for x in np.asarray(a).ravel()]


def explore(path: str, step: int | None = None) -> tuple[xr.Dataset, dict]:
    ds = xr.open_dataset(path, group="trajectory", engine="h5netcdf")
    steps = ds["step"].values
    s = int(steps[len(steps) // 2]) if step is None else int(step)
    out: dict = {
        "file": path,
        "dims": {str(k): int(v) for k, v in ds.sizes.items()},
        "variables": {str(name): list(map(str, var.dims)) for name, var in ds.data_vars.items()},
        "coordinates": sorted(str(c) for c in ds.coords),
        "selected_step": s,
        # label-based selection on the step coordinate (not a row index)
        "sharpness_at_step": float(ds.sharpness.sel(step=s)),
        "loss_at_step": float(ds.loss.sel(step=s)),
        "residual_at_step_first3": _floats(ds.residual.sel(step=s).isel(sample=slice(0, 3))),
        # position-based selection on a dimension without coordinates
        "eigenvalues_eig0": _floats(ds.eigenvalues.isel(eig=0)),
        "eig0_equals_sharpness": bool(np.array_equal(ds.eigenvalues.isel(eig=0).values, ds.sharpness.values)),
        "loss_first_last": _floats(ds.loss.isel(step=[0, -1])),
    }
    if "parameters" in ds:
        ck = ds["checkpoint_step"].values
        # the checkpoint at or before step s (θ before the update of that step)
        at = ds.parameters.sel(checkpoint_step=s, method="ffill")
        out["checkpoint_steps"] = [int(x) for x in ck]
        out["checkpoint_for_selected_step"] = int(at.checkpoint_step)
        out["parameters_at_that_checkpoint_first3"] = _floats(at.isel(parameter=slice(0, 3)))
        out["parameters_last_checkpoint_norm"] = float(np.linalg.norm(ds.parameters.isel(checkpoint_step=-1).values))
    if "spectrum" in ds:
        out["spectrum_steps"] = [int(x) for x in ds["spectrum_step"].values]
        out["spectrum_first_row_top3"] = _floats(ds.spectrum.isel(spectrum_step=0, spectrum_index=slice(0, 3)))
    return ds, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Open an eostrace recording with xarray (h5netcdf engine).")
    ap.add_argument("run", help="recording (.h5)")
    ap.add_argument("--step", type=int, default=None, help="step value to select (default: the middle recorded step)")
    ap.add_argument("--json", action="store_true", help="print the selections as JSON only")
    a = ap.parse_args(argv)
    try:
        ds, out = explore(a.run, a.step)
    except (OSError, KeyError, ValueError, IndexError) as e:
        # not HDF5, no /trajectory group, a step that was not recorded, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"open_with_xarray.py: {a.run}: {msg}", file=sys.stderr)
        return 2
    try:
        if a.json:
            print(json.dumps(out, indent=1))
            return 0
        s = out["selected_step"]
        print(ds)
        print()
        print("dimensions:", dict(ds.sizes))
        print(f"ds.sharpness.sel(step={s}) =", out["sharpness_at_step"])
        print(f"ds.loss.sel(step={s}) =", out["loss_at_step"])
        print("ds.eigenvalues.isel(eig=0) (first 5) =", out["eigenvalues_eig0"][:5],
              "| equals ds.sharpness:", out["eig0_equals_sharpness"])
        if "checkpoint_steps" in out:
            print("checkpoints of θ at steps", out["checkpoint_steps"])
            print(f"ds.parameters.sel(checkpoint_step={s}, method='ffill') -> checkpoint",
                  out["checkpoint_for_selected_step"], "θ[:3] =", out["parameters_at_that_checkpoint_first3"])
        if "spectrum_steps" in out:
            print("full spectra at steps", out["spectrum_steps"])
    finally:
        ds.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

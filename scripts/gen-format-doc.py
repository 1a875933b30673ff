#!/usr/bin/env python3
"""Generate docs/FORMAT.md from schemas/trajectory-v1.json.

    python3 scripts/gen-format-doc.py            # rewrite docs/FORMAT.md
    python3 scripts/gen-format-doc.py --check    # exit 1 if docs/FORMAT.md is stale
    python3 scripts/gen-format-doc.py --stdout   # print instead of writing

The schema is the single source of truth; edit it, then rerun this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "trajectory-v1.json"
OUT = ROOT / "docs" / "FORMAT.md"

SIZE_NAMES = {
    "n": "n = /run@n_samples",
    "k": "k = /run@k",
    "d": "d = number of input features (/data/X columns, model input_dim)",
    "p": "p = /run@n_parameters",
    "a": "a = /run@eigenvalue_threshold_capacity",
}


def cell(text) -> str:
    """Markdown table cell: escape pipes, keep one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def code(text) -> str:
    return f"`{text}`"


def req(flag) -> str:
    return "required" if flag else "optional"


def dataset_constraints(d: dict) -> str:
    parts = []
    if d.get("coordinate"):
        parts.append("coordinate (dimension scale)")
    if d.get("monotonic"):
        parts.append("strictly " + d["monotonic"])
    if d.get("monotonic_axis"):
        parts.append(f"{d['monotonic_axis']} along the last axis")
    if d.get("finite"):
        parts.append("finite")
    if d.get("values"):
        parts.append("one of " + ", ".join(code(v) for v in d["values"]))
    if d.get("requires"):
        parts.append("needs " + ", ".join(code(r) for r in d["requires"]))
    if d.get("required_unless"):
        parts.append("may be absent when " + " and ".join(code(r) for r in d["required_unless"]) + " are present")
    for c in d.get("checks", []):
        name, _, other = c.partition(":")
        parts.append(CHECK_TEXT.get(name, "check " + name).format(other=other))
    return "; ".join(parts)


CHECK_TEXT = {
    "mean_square_of": "equals mean({other}²) per row to 1e-9 relative",
    "equals_first_eigenvalue": "equals {other}[:, 0] to 1e-12 relative",
    "unit_norm_rows": "every vector along the last axis has norm 1 to 1e-8",
    "symmetric": "symmetric to 1e-12 relative (to the largest entry)",
    "r_prime_chains": "equals r_prime_from_start before the first restart (1e-12 relative) and (I - v1 v1^T) D at every restart row (1e-10 relative to max abs D)",
    "above_threshold": "per row: min(count, a) values above the threshold, descending, then NaN",
}


def shape_of(d: dict) -> str:
    if "dims" in d:
        s = "[" + ", ".join(d["dims"]) + "]"
        if "dims_multi_output" in d:
            s += "; c > 1: [" + ", ".join(d["dims_multi_output"]) + "]"
        return s
    if "shape" in d:
        return "scalar" if d["shape"] == [] else str(d["shape"])
    return ""


def attr_table(attrs: list) -> list[str]:
    lines = ["| attribute | type | required | value / shape | meaning |", "|---|---|---|---|---|"]
    for a in attrs:
        extra = []
        if "value" in a:
            extra.append(code(json.dumps(a["value"])))
        if "shape" in a:
            extra.append("shape " + str(a["shape"]))
        if "values" in a:
            extra.append("one of " + ", ".join(code(v) for v in a["values"]))
        lines.append(f"| {code(a['name'])} | {a['type']} | {req(a.get('required'))} | "
                     f"{cell(', '.join(extra))} | {cell(a['doc'])} |")
    return lines


def tree(schema: dict) -> list[str]:
    """An indented overview of the layout."""
    out = ["```text", "/                          root attributes: " +
           ", ".join(a["name"] for a in schema["root_attributes"])]
    for g in schema["groups"]:
        mark = "" if g.get("required") else "   (optional group)"
        out.append(f"{g['path']}/{mark}")
        for d in schema["datasets"]:
            if d["path"].rsplit("/", 1)[0] == g["path"]:
                name = d["path"].rsplit("/", 1)[1]
                flag = "" if d.get("required") else "  (optional)"
                out.append(f"    {name:<26}{d['dtype']:<8} {shape_of(d)}{flag}")
    out.append("```")
    return out


PYTHON_SECTION = r"""
## For Python users

A helper module ships with the repository: `samples/python/eostrace_format.py` (needs numpy
and h5py; xarray and h5netcdf for `open_trajectory`). It reads this same schema.

### Reading

```python
import h5py, json
with h5py.File("run.h5", "r") as f:
    eta   = f["run"].attrs["learning_rate"]
    model = json.loads(f["run"].attrs["model"])
    step  = f["trajectory/step"][:]            # int64 [T]
    sharp = f["trajectory/sharpness"][:]       # float64 [T]
    D     = f["trajectory/residual"][100:200]  # rows 100..199, [100, n]
    status = f["run/status"][()].decode().rstrip("\x00")
```

With xarray every series comes with named dimensions and its own step coordinate:

```python
import xarray as xr
ds = xr.open_dataset("run.h5", group="trajectory", engine="h5netcdf")
ds.sharpness.sel(step=slice(1000, 2000))
ds.eigenvectors.isel(eig=0)                    # v1(t), dims (step, sample)
ds.parameters.isel(checkpoint_step=-1)        # last checkpoint: own cadence, own coordinate
data = xr.open_dataset("run.h5", group="data", engine="h5netcdf")   # X, Y
```

No `phony_dims` argument is needed: every axis carries a dimension scale. While a run is
still being written (SWMR), open with `h5py.File(path, "r", libver="latest", swmr=True)` and
call `dataset.id.refresh()` before reading new rows.

With the helper: `eostrace_format.read_run(path)` (run attributes, JSON parsed, plus
`status`), `read_series(path, "loss", start, stop)`, `read_steps(path, "checkpoint_step")`,
`open_trajectory(path)`.

### Writing

A file written from Python (for example by your own training loop) can be analyzed by
`eostrace` when it follows this page. The rules that matter:

1. Open with `h5py.File(path, "w", libver=("earliest", "v110"))`. h5py bundles HDF5 2.0,
   whose defaults can produce files HDF5 1.10 cannot open.
2. Give every axis of every dataset exactly one netCDF-4 dimension scale. A step
   coordinate is itself the scale: `ds.make_scale("step")`. A dimension without a
   coordinate variable is an empty dataset named after the dimension (h5netcdf uses dtype
   `>f4` and the dimension's length) made a scale with
   `make_scale("This is a netCDF dimension but not a netCDF variable." + f"{size:10d}")`.
   Attach with `dataset.dims[axis].attach_scale(scale)`. A scale must sit in the dataset's
   group or in a parent group (the helper puts non-coordinate scales in the root group,
   step coordinates in `/trajectory`).
3. Series are chunked with an unlimited first axis; append in batches (one resize and one
   hyperslab write per dataset per batch), not row by row.
4. `/run/status` is a scalar fixed-length UTF-8 string dataset
   (`h5py.string_dtype("utf-8", 16)`), so that it can be rewritten in place.
5. Integers are int64, reals float64, strings UTF-8 (h5py's `str` attributes are fine).
6. Format 1.1: give every dataset the `long_name` and `units` attributes its schema entry
   lists (xarray labels plots from them; keep times in units `s`, which xarray does not turn
   into timedeltas), set the root `Conventions` ("CF-1.8"), `title` and `history`, and state
   `/run@loss_convention` with the matching `/run@gram_definition`. When your loop holds M(t),
   write `gram_residual`, `r_prime` and `r_prime_from_start` (see the m_products convention):
   `eostrace analyze` is then exact from the file alone.
7. Check the result: `eostrace validate run.h5` (exit 0 valid, 1 invalid, 2 unreadable)
   or `eostrace_format.validate(path)` (a list of problems, empty when valid).

```python
import numpy as np, eostrace_format as ef
ef.write_recording("mine.h5", learning_rate=0.01,
                   model={"kind": "external", "description": "my network"},
                   X=X, Y=Y, step=np.arange(T), loss=L, residual=D,
                   output_norm_sq=A2, sharpness=lam[:, 0], eigenvalues=lam,
                   eigenvectors=V, dtf=dtf,
                   checkpoint_step=ck_steps, parameters=thetas)   # optional series
assert ef.validate("mine.h5") == []
```

For step-by-step recording use `ef.RecordingWriter(path, ..., series=["parameters"])` with
`append(step, loss=..., residual=..., ...)`, `append_checkpoint(step, theta)` and
`close("completed")`; it writes and flushes one batch at a time (the Swift writer's batch and
chunk rules) and, with `swmr=True`, lets readers follow the run live.
"""


def render(schema: dict) -> str:
    major, minor = schema["version"]
    L: list[str] = []
    L.append("# eostrace trajectory file format")
    L.append("")
    L.append("<!-- Generated by scripts/gen-format-doc.py from schemas/trajectory-v1.json. "
             "Do not edit by hand: edit the schema and rerun the script. -->")
    L.append("")
    mmaj, mmin = schema.get("version_multi_output", schema["version"])
    L.append(f"Format {code(schema['format'])}, version {major}.{minor} for a network with one output "
             f"and {mmaj}.{mmin} for several outputs (c > 1; see **multi_output** below). An eostrace recording is one "
             "HDF5 file holding the run metadata, the training data and every per-step time series "
             "of a full-batch gradient-descent run; `eostrace analyze` may add an `/analysis` group.")
    L.append("")
    L.append("## Conventions")
    L.append("")
    for key, text in schema["conventions"].items():
        L.append(f"- **{key}**: {text}")
    L.append("")
    L.append("## Overview")
    L.append("")
    L.extend(tree(schema))
    L.append("")
    L.append("## Root attributes")
    L.append("")
    L.extend(attr_table(schema["root_attributes"]))
    L.append("")
    L.append("## Dimensions")
    L.append("")
    L.append("Each dimension is a netCDF-4 dimension scale. Dimensions with a coordinate are "
             "unlimited cadences: all series on that dimension have as many rows as the coordinate, "
             "whose values (GD step numbers) strictly increase. The others have a fixed length.")
    L.append("")
    L.append("| dimension | length | coordinate | long_name / units | meaning |")
    L.append("|---|---|---|---|---|")
    for d in schema["dimensions"]:
        if "size" in d:
            length = SIZE_NAMES.get(d["size"], d["size"])
        else:
            length = "unlimited (grows with the run)" if d.get("unlimited") else ""
        coord = code(d["coordinate"]) if "coordinate" in d else "none"
        labels = f"{d['long_name']} / {code(d['units'])}" if "long_name" in d else "(its coordinate's)"
        L.append(f"| {code(d['name'])} | {cell(length)} | {coord} | {cell(labels)} | {cell(d['doc'])} |")
    L.append("")
    for g in schema["groups"]:
        L.append(f"## Group `{g['path']}` ({req(g.get('required'))})")
        L.append("")
        L.append(g["doc"])
        L.append("")
        if g.get("attributes"):
            L.append("Attributes:")
            L.append("")
            L.extend(attr_table(g["attributes"]))
            L.append("")
        members = [d for d in schema["datasets"] if d["path"].rsplit("/", 1)[0] == g["path"]]
        if members:
            L.append("Datasets:")
            L.append("")
            L.append("| dataset | dtype | dimensions | required | constraints | long_name / units | meaning |")
            L.append("|---|---|---|---|---|---|---|")
            for d in members:
                labels = f"{d['long_name']} / {code(d['units'])}" if "long_name" in d else ""
                L.append(f"| {code(d['path'])} | {d['dtype']} | {cell(shape_of(d))} | "
                         f"{req(d.get('required'))} | {cell(dataset_constraints(d))} | {cell(labels)} | {cell(d['doc'])} |")
            L.append("")
    L.append("## What a validator checks")
    L.append("")
    L.append("`eostrace validate FILE...` (Swift; exit 0 valid, 1 invalid, 2 unreadable) and "
             "`eostrace_format.validate(path)` (Python) are both driven by the schema. The Python "
             "validator checks: required groups, datasets and attributes; "
             "dtypes; fixed values (`format`, `loss`, `status`); dimension lengths against n, k, d "
             "and p; equal row counts for every series of a cadence; strictly increasing step "
             "coordinates; finite values where marked; descending eigenvalues; the named checks "
             "(loss = mean(residual²), sharpness = first eigenvalue, unit eigenvectors, symmetric "
             "gram); exactly one dimension "
             "scale per axis with the right name and length; a major version not newer than the "
             "reader's; a scale in the dataset's group or a parent group (h5netcdf, and so xarray, "
             "finds a dimension only there). `/data/X` is required unless `/data` has both "
             "`x_path` and `x_sha256`.")
    L.append(PYTHON_SECTION.rstrip())
    L.append("")
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/FORMAT.md differs")
    ap.add_argument("--stdout", action="store_true", help="print instead of writing")
    ap.add_argument("--schema", default=str(SCHEMA))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    with open(args.schema, encoding="utf-8") as fh:
        text = render(json.load(fh))
    if args.stdout:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out}: out of date; run python3 scripts/gen-format-doc.py", file=sys.stderr)
            return 1
        print(f"{out}: up to date")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The Python side of the format: writer, validator, HDF5 1.10 readability, xarray, docs.

These tests need no eostrace binary; test_swift_interop.py covers the Swift side.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import eostrace_format as ef
from conftest import REPO_ROOT, synthetic_run


# ---------------------------------------------------------------- writer + reader

def test_written_file_is_valid(py_file):
    assert ef.validate(py_file) == []


def test_h5py_reads_back_exact_values(py_file, py_run):
    with h5py.File(py_file, "r") as f:
        for name in ("step", "loss", "residual", "output_norm_sq", "sharpness", "eigenvalues",
                     "eigenvectors", "dtf", "outputs", "checkpoint_step", "parameters", "gram_step", "gram"):
            got = f["trajectory/" + name][...]
            want = np.asarray(py_run[name])
            assert got.dtype == want.dtype, name
            # bitwise, including the -0.0 in dtf
            assert got.tobytes() == want.tobytes(), name
        assert f["data/X"][...].tobytes() == py_run["X"].tobytes()
        assert f["data/Y"][...].tobytes() == py_run["Y"].tobytes()
        assert f["run"].attrs["learning_rate"] == py_run["learning_rate"]
        assert f["run"].attrs["n_samples"] == py_run["Y"].shape[0]
        assert f["run"].attrs["k"] == py_run["eigenvalues"].shape[1]
        assert f["run"].attrs["n_parameters"] == py_run["parameters"].shape[1]
        assert list(f.attrs["format_version"]) == [1, 1]
        st = f["run/status"]
        assert st.shape == () and st.dtype.kind == "S" and st.dtype.itemsize == ef.STATUS_LENGTH
        assert h5py.check_string_dtype(st.dtype).encoding == "utf-8"


def test_read_helpers(py_file, py_run):
    run = ef.read_run(py_file)
    assert run["status"] == "completed"
    assert run["model"] == py_run["model"]
    assert run["cadences"] == {"checkpoint": 5}
    assert run["learning_rate"] == py_run["learning_rate"]
    np.testing.assert_array_equal(ef.read_series(py_file, "loss", 3, 9), py_run["loss"][3:9])
    np.testing.assert_array_equal(ef.read_steps(py_file, "checkpoint_step"), py_run["checkpoint_step"])
    assert ef.read_attrs(py_file)["format"] == "eostrace-trajectory"


def test_recording_writer_batches_and_appends(tmp_path):
    r = synthetic_run(n=5, k=2, T=23, p=4, checkpoint_every=4)
    path = tmp_path / "stream.h5"
    with ef.RecordingWriter(path, learning_rate=r["learning_rate"], model=r["model"], X=r["X"], Y=r["Y"],
                            k=2, n_parameters=4, series=["parameters", "outputs"], batch=4) as w:
        for i, t in enumerate(r["step"]):
            w.append(t, loss=r["loss"][i], residual=r["residual"][i], output_norm_sq=r["output_norm_sq"][i],
                     sharpness=r["sharpness"][i], eigenvalues=r["eigenvalues"][i],
                     eigenvectors=r["eigenvectors"][i], dtf=r["dtf"][i], outputs=r["outputs"][i])
            if t % 4 == 0:
                w.append_checkpoint(t, r["parameters"][t // 4])
            if i == 9:  # mid-run: status says running, rows flushed in whole batches only
                assert ef.read_status(path) == "running"
        with h5py.File(path, "r") as f:
            # main cadence: a multiple of the batch of at least 64 KiB: 4 * ceil(65536 / (4 * 5 * 8))
            assert f["trajectory/residual"].chunks == (1640, 5)
            # side cadence: about 1 MiB per chunk
            assert f["trajectory/parameters"].chunks == (2048, 4)  # 64 KiB / 32 B
            assert f["trajectory/step"].shape == (20,)  # 23 rows: five whole batches of 4 written, 3 buffered
    assert ef.validate(path) == []
    with h5py.File(path, "r") as f:
        assert f["trajectory/eigenvectors"][...].tobytes() == r["eigenvectors"].tobytes()
        assert f["trajectory/parameters"][...].tobytes() == r["parameters"].tobytes()
        assert f["trajectory/step"].maxshape == (None,)
    assert ef.read_status(path) == "completed"


def test_swmr_writer_live_reader_and_hdf5_1_10(tmp_path):
    """swmr=True: a concurrent SWMR reader sees each flushed batch; the file opens in 1.10."""
    r = synthetic_run(n=5, k=2, T=12, p=4)
    path = tmp_path / "swmr.h5"
    w = ef.RecordingWriter(path, learning_rate=0.1, model=r["model"], X=r["X"], Y=r["Y"], k=2, batch=4, swmr=True)
    reader = h5py.File(path, "r", libver="latest", swmr=True)
    try:
        seen = []
        for i in range(12):
            w.append(i, loss=r["loss"][i], residual=r["residual"][i], output_norm_sq=r["output_norm_sq"][i],
                     sharpness=r["sharpness"][i], eigenvalues=r["eigenvalues"][i],
                     eigenvectors=r["eigenvectors"][i], dtf=r["dtf"][i])
            ds = reader["trajectory/loss"]
            ds.id.refresh()
            seen.append(ds.shape[0])
        assert seen == [0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12]
        ds.id.refresh()
        assert ds[...].tobytes() == r["loss"].tobytes()
    finally:
        reader.close()
        w.close()
    assert ef.validate(path) == []
    head = subprocess.run([_tool("h5dump"), "-H", str(path)], capture_output=True, text=True)
    assert head.returncode == 0, head.stderr


KILLED_WRITER = """
import os, sys
import numpy as np
sys.path.insert(0, {samples!r})
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname({samples!r})), "python"))  # the package
import eostrace_format as ef
from conftest import synthetic_run
r = synthetic_run(n=5, k=2, T=10, p=4)
w = ef.RecordingWriter({path!r}, learning_rate=0.1, model=r["model"], X=r["X"], Y=r["Y"], k=2, batch=4, swmr=True)
for i in range(10):
    w.append(i, loss=r["loss"][i], residual=r["residual"][i], output_norm_sq=r["output_norm_sq"][i],
             sharpness=r["sharpness"][i], eigenvalues=r["eigenvalues"][i], eigenvectors=r["eigenvectors"][i],
             dtf=r["dtf"][i])
os._exit(0)  # like SIGKILL: no close, the file stays marked open for SWMR writing
"""


def test_killed_swmr_writer_file_is_readable(tmp_path):
    path = tmp_path / "killed.h5"
    code = KILLED_WRITER.format(samples=str(REPO_ROOT / "samples" / "python"), path=str(path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")
    assert ef.validate(path) == []  # opened as an SWMR reader
    assert ef.read_status(path) == "running"
    r = synthetic_run(n=5, k=2, T=10, p=4)
    assert ef.read_series(path, "loss").tobytes() == r["loss"][:8].tobytes()  # two whole batches


def test_writer_refuses_bad_input(tmp_path):
    r = synthetic_run()
    bad = dict(r)
    bad["step"] = r["step"][::-1].copy()
    with pytest.raises(ValueError, match="strictly increasing"):
        ef.write_recording(tmp_path / "a.h5", **bad)
    bad = dict(r)
    bad["loss"] = r["loss"][:-1]
    with pytest.raises(ValueError, match="unequal lengths"):
        ef.write_recording(tmp_path / "b.h5", **bad)
    with pytest.raises(ValueError, match="status"):
        ef.write_recording(tmp_path / "c.h5", status="finished", **r)
    with pytest.raises(ValueError, match="n_parameters"):
        ef.RecordingWriter(tmp_path / "d.h5", learning_rate=0.1, model=r["model"], X=r["X"], Y=r["Y"], k=2,
                           series=["parameters"])
    with pytest.raises(ValueError, match="k: must be"):
        ef.RecordingWriter(tmp_path / "e.h5", learning_rate=0.1, model=r["model"], X=r["X"], Y=r["Y"], k=8)
    with pytest.raises(ValueError, match="not a trajectory dataset"):
        ef.RecordingWriter(tmp_path / "f.h5", learning_rate=0.1, model=r["model"], X=r["X"], Y=r["Y"], k=2,
                           series=["bogus"])


def test_interrupted_writer_marks_status(tmp_path):
    r = synthetic_run(T=3)
    path = tmp_path / "i.h5"
    with pytest.raises(RuntimeError):
        with ef.RecordingWriter(path, learning_rate=0.1, model=r["model"], X=r["X"], Y=r["Y"], k=3) as w:
            raise RuntimeError("boom")
    assert ef.read_status(path) == "interrupted"


def test_x_by_reference(tmp_path):
    r = synthetic_run()
    X = r.pop("X")
    path = tmp_path / "ref.h5"
    ef.write_recording(path, x_path="data/x.npy", x_sha256="0" * 64, **r)
    assert ef.validate(path) == []
    with h5py.File(path, "r") as f:
        assert "X" not in f["data"]
    with h5py.File(path, "r+") as f:
        del f["data"].attrs["x_sha256"]
    assert any("/data/X" in p for p in ef.validate(path))


# ---------------------------------------------------------------- xarray / netCDF-4

def test_xarray_named_dimensions(py_file, py_run):
    import xarray as xr  # required: a missing module must fail, not skip
    ds = ef.open_trajectory(py_file)
    try:
        assert not any(str(d).startswith("phony_dim") for d in ds.dims)
        assert ds.residual.dims == ("step", "sample")
        assert ds.eigenvectors.dims == ("step", "eig", "sample")
        assert ds.parameters.dims == ("checkpoint_step", "parameter")
        assert ds.sizes == {"step": 25, "sample": 7, "eig": 3, "checkpoint_step": 5, "parameter": 11,
                            "gram_step": 2, "sample_j": 7}
        assert ds.gram.dims == ("gram_step", "sample", "sample_j")
        np.testing.assert_array_equal(ds["step"].values, py_run["step"])
        np.testing.assert_array_equal(ds.checkpoint_step.values, py_run["checkpoint_step"])
        assert ds.sharpness.sel(step=7).item() == py_run["sharpness"][7]
        # dimension scales are not variables
        assert set(ds.data_vars) == {"loss", "residual", "output_norm_sq", "sharpness", "eigenvalues",
                                     "eigenvectors", "dtf", "outputs", "parameters", "gram"}
    finally:
        ds.close()
    data = xr.open_dataset(py_file, group="data", engine="h5netcdf")
    try:
        assert data.X.dims == ("sample", "feature") and data.Y.dims == ("sample",)
    finally:
        data.close()


def _add_analysis(path, own_step: bool):
    with h5py.File(path, "r+") as f:
        g = f.create_group("analysis")
        g.attrs["options"] = "{}"
        g.attrs["summary"] = "{}"
        steps = f["trajectory/step"][...]
        if own_step:
            scale = g.create_dataset("step", data=steps)
            scale.make_scale("step")
        else:
            scale = f["trajectory/step"]
        for name, dtype in (("phase", "i1"), ("c1", "f8"), ("anomaly", "u1")):
            ds = g.create_dataset(name, data=np.ones(steps.shape[0], dtype=dtype))
            ds.dims[0].attach_scale(scale)


def test_in_place_analysis_needs_its_own_step(py_file, tmp_path):
    import xarray as xr
    good = tmp_path / "good.h5"
    shutil.copy(py_file, good)
    _add_analysis(good, own_step=True)
    assert ef.validate(good) == []
    with xr.open_dataset(good, group="analysis", engine="h5netcdf") as ds:
        assert ds.c1.dims == ("step",) and ds.sizes["step"] == 25
    bad = tmp_path / "bad.h5"
    shutil.copy(py_file, bad)
    _add_analysis(bad, own_step=False)
    probs = ef.validate(bad)
    assert any("/analysis/c1: axis 0 (step): scale /trajectory/step is not in this group or a parent" in p
               for p in probs), probs


def test_not_a_variable_name_matches_h5netcdf(tmp_path):
    """Our non-coordinate scale NAME is byte-for-byte what h5netcdf itself writes."""
    import h5netcdf
    path = tmp_path / "ref.nc"
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"sample": 7}
        f.create_variable("Y", ("sample",), "f8")
    with h5py.File(path, "r") as f:
        theirs = f["sample"].attrs["NAME"]
        their_dtype = f["sample"].dtype
    assert theirs.decode() == ef._not_a_variable_name(7)
    assert their_dtype == np.dtype(">f4")


# ---------------------------------------------------------------- HDF5 1.10 (Debian tools)

def _tool(name):
    path = shutil.which(name)
    assert path, f"{name} not found: install Debian's hdf5-tools (HDF5 1.10)"
    return path


def test_system_hdf5_is_1_10():
    out = subprocess.run([_tool("h5dump"), "--version"], capture_output=True, text=True).stdout
    assert re.search(r"1\.10\.\d+", out), out


def test_python_file_opens_in_hdf5_1_10(py_file, py_run):
    ls = subprocess.run([_tool("h5ls"), "-r", str(py_file)], capture_output=True, text=True)
    assert ls.returncode == 0, ls.stderr
    assert "/trajectory/eigenvectors Dataset {25/Inf, 3, 7}" in ls.stdout
    head = subprocess.run([_tool("h5dump"), "-H", str(py_file)], capture_output=True, text=True)
    assert head.returncode == 0 and "error" not in head.stderr.lower(), head.stderr
    # values through HDF5 1.10, as raw little-endian bytes: bitwise equal
    for name in ("loss", "eigenvectors", "parameters"):
        out = py_file.parent / f"{name}.bin"
        dump = subprocess.run([_tool("h5dump"), "-d", f"/trajectory/{name}", "-b", "LE", "-o", str(out),
                               str(py_file)], capture_output=True, text=True)
        assert dump.returncode == 0, dump.stderr
        assert out.read_bytes() == np.ascontiguousarray(py_run[name], dtype="<f8").tobytes(), name
        out.unlink()
    status = subprocess.run([_tool("h5dump"), "-d", "/run/status", str(py_file)], capture_output=True, text=True)
    assert status.returncode == 0 and '"completed' in status.stdout


# ---------------------------------------------------------------- validator finds problems

def _mutate_loss_nan(f):
    f["trajectory/loss"][3] = np.nan


def _mutate_steps(f):
    f["trajectory/step"][5] = 2


def _mutate_missing_loss(f):
    del f["trajectory/loss"]


def _mutate_short_series(f):
    f["trajectory/dtf"].resize((20,))


def _mutate_wrong_n(f):
    del f["data/Y"]
    f["data"].create_dataset("Y", data=np.zeros(8))


def _mutate_detach(f):
    f["trajectory/residual"].dims[1].detach_scale(f["sample"])


def _mutate_format(f):
    f.attrs["format"] = "something-else"


def _mutate_major(f):
    # 2.0 is the multi-output format (readable since 2.0): the newer major is 3.
    f.attrs["format_version"] = np.array([3, 0], dtype=np.int64)


def _mutate_status(f):
    f["run/status"][()] = b"finished"


def _mutate_ascending(f):
    ev = f["trajectory/eigenvalues"][...]
    f["trajectory/eigenvalues"][4] = np.sort(ev[4])


def _mutate_lr_type(f):
    del f["run"].attrs["learning_rate"]
    f["run"].attrs["learning_rate"] = "0.1"


def _mutate_loss_dtype(f):
    old = f["trajectory/loss"][...]
    del f["trajectory/loss"]
    ds = f["trajectory"].create_dataset("loss", data=old.astype(np.float32), maxshape=(None,), chunks=(8,))
    ds.dims[0].attach_scale(f["trajectory/step"])


def _mutate_missing_model(f):
    del f["run"].attrs["model"]


def _mutate_bad_model_json(f):
    f["run"].attrs["model"] = "{kind: mlp"


def _mutate_scale_name(f):
    h5py.h5ds.set_scale(f["eig"].id, b"eig")


def _mutate_extra_unscaled(f):
    f["trajectory"].create_dataset("my_series", data=np.zeros(25))


def _mutate_inf_params(f):
    f["trajectory/parameters"][2, 4] = np.inf


def _mutate_loss_value(f):
    f["trajectory/loss"][6] *= 1 + 1e-6


def _mutate_sharpness_value(f):
    f["trajectory/sharpness"][3] *= 1 + 1e-9


def _mutate_eigvec_norm(f):
    f["trajectory/eigenvectors"][2, 1, :] *= 1.001


def _mutate_gram_asym(f):
    f["trajectory/gram"][1, 0, 3] += 1e-6


def _mutate_missing_x(f):
    del f["data/X"]


MUTATIONS = {
    "loss_not_mean_square": (_mutate_loss_value, "/trajectory/loss: differs from mean(residual^2)"),
    "sharpness_not_eig0": (_mutate_sharpness_value, "/trajectory/sharpness: differs from /trajectory/eigenvalues[:, 0]"),
    "eigenvector_not_unit": (_mutate_eigvec_norm, "/trajectory/eigenvectors: 1 vectors without unit norm"),
    "gram_not_symmetric": (_mutate_gram_asym, "/trajectory/gram: not symmetric"),
    "missing_x": (_mutate_missing_x, "/data/X: required dataset is missing"),
    "loss_nan": (_mutate_loss_nan, "/trajectory/loss: non-finite value nan at index [3]"),
    "steps_not_increasing": (_mutate_steps, "/trajectory/step: not strictly increasing at index 5"),
    "missing_loss": (_mutate_missing_loss, "/trajectory/loss: required dataset is missing"),
    "short_series": (_mutate_short_series, "/trajectory/dtf: has 20 rows but /trajectory/step has 25"),
    "wrong_n": (_mutate_wrong_n, "/data/Y: axis 0 (sample) has length 8, expected n = 7"),
    "detached_scale": (_mutate_detach, "/trajectory/residual: axis 1 (sample) has no dimension scale attached"),
    "format_name": (_mutate_format, "/@format: expected 'eostrace-trajectory'"),
    "newer_major": (_mutate_major, "/@format_version: major version 3 is newer than"),
    "status_value": (_mutate_status, "/run/status: 'finished' is not one of"),
    "eigenvalues_ascending": (_mutate_ascending, "/trajectory/eigenvalues: not descending in row 4"),
    "lr_type": (_mutate_lr_type, "/run@learning_rate: expected float64"),
    "loss_dtype": (_mutate_loss_dtype, "/trajectory/loss: expected float64, found float32"),
    "missing_model": (_mutate_missing_model, "/run@model: required attribute is missing"),
    "bad_model_json": (_mutate_bad_model_json, "/run@model: is not valid JSON"),
    "scale_name": (_mutate_scale_name, "/eig: NAME of a dimension without coordinate must start with"),
    "extra_unscaled": (_mutate_extra_unscaled, "/trajectory/my_series: axis 0 has no dimension scale attached"),
    "inf_parameters": (_mutate_inf_params, "/trajectory/parameters: non-finite value inf at index [2, 4]"),
}


def broken_copy(src: Path, dst: Path, mutate) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        mutate(f)
    return dst


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_validator_finds_problem(py_file, tmp_path, case):
    mutate, expected = MUTATIONS[case]
    path = broken_copy(py_file, tmp_path / f"{case}.h5", mutate)
    problems = ef.validate(path)
    assert problems, f"{case}: no problem found"
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(path) + ": /") for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_validator_unreadable(tmp_path):
    p = tmp_path / "not.h5"
    p.write_bytes(b"this is not HDF5\n" * 10)
    probs = ef.validate(p)
    assert len(probs) == 1 and "cannot open as HDF5" in probs[0]
    assert ef.main([str(p)]) == 2
    assert len(ef.validate(tmp_path / "missing.h5")) == 1


def test_validator_survives_truncated_and_damaged_files(py_file, tmp_path):
    data = py_file.read_bytes()
    for frac in (0.1, 0.5, 0.9):
        p = tmp_path / f"trunc{frac}.h5"
        p.write_bytes(data[: int(len(data) * frac)])
        probs = ef.validate(p)  # must not raise
        assert probs and all(x.startswith(str(p) + ": /") for x in probs), probs
    # flip bytes in the middle (raw data and maybe metadata)
    p = tmp_path / "flipped.h5"
    b = bytearray(data)
    for off in range(len(b) // 3, len(b) // 3 + 4096, 7):
        b[off] ^= 0xFF
    p.write_bytes(bytes(b))
    assert isinstance(ef.validate(p), list)


def test_validator_cli_exit_codes(py_file, tmp_path):
    bad = broken_copy(py_file, tmp_path / "bad.h5", _mutate_loss_nan)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "python")}
    script = ["-m", "eostrace", "validate"]
    ok = subprocess.run([sys.executable, *script, str(py_file)], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "valid" in ok.stdout
    no = subprocess.run([sys.executable, *script, str(bad)], capture_output=True, text=True, env=env)
    assert no.returncode == 1 and "non-finite" in no.stdout


# ---------------------------------------------------------------- docs

def test_format_doc_is_up_to_date():
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "gen-format-doc.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + "\nrun: python3 scripts/gen-format-doc.py"


def test_format_doc_mentions_every_schema_object():
    doc = (REPO_ROOT / "docs" / "FORMAT.md").read_text()
    sch = ef.schema()
    for p in sch.datasets:
        assert f"`{p}`" in doc, p
    for d in sch.dimensions:
        assert f"`{d}`" in doc, d
    for g in sch.raw["groups"]:
        for a in g.get("attributes", []):
            assert f"`{a['name']}`" in doc, a["name"]


def test_format_doc_python_examples_run(tmp_path, monkeypatch):
    """The reading examples in docs/FORMAT.md run against a real file."""
    doc = (REPO_ROOT / "docs" / "FORMAT.md").read_text()
    python_part = doc.split("## For Python users", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", python_part, flags=re.S)
    assert len(blocks) == 3, "expected reading (h5py), reading (xarray) and writing examples"
    r = synthetic_run(n=4, T=220, step_stride=10, checkpoint_every=50, p=5)
    monkeypatch.chdir(tmp_path)
    ef.write_recording("run.h5", **r)
    for block in blocks[:2]:
        exec(compile(block, "FORMAT.md", "exec"), {})
    # and on the Swift-written sample
    shutil.copy(REPO_ROOT / "samples" / "synthetic-small.h5", tmp_path / "run.h5")
    for block in blocks[:2]:
        exec(compile(block, "FORMAT.md", "exec"), {})
    ns = {"T": 220, "L": r["loss"], "D": r["residual"], "A2": r["output_norm_sq"], "lam": r["eigenvalues"],
          "V": r["eigenvectors"], "dtf": r["dtf"], "X": r["X"], "Y": r["Y"],
          "ck_steps": r["checkpoint_step"], "thetas": r["parameters"]}
    exec(compile(blocks[2], "FORMAT.md", "exec"), ns)
    assert ef.validate(tmp_path / "mine.h5") == []

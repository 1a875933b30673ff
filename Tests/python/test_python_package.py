"""The pip-installable `eostrace` package (python/): install, schema copy, strict writer, mistakes,
liveness for Swift's `info`/`follow`, SIGKILLed writers.

Needs numpy, h5py (and pip for the wheel test); the CLI tests need the eostrace binary.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest

from conftest import REPO_ROOT

import eostrace as et
from eostrace import format as ef

PKG = REPO_ROOT / "python"


def small_inputs(n=7, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal(n)
    return X, Y


def good_row(n, k, rng):
    D = rng.standard_normal(n)
    V = np.linalg.qr(rng.standard_normal((n, k)))[0].T.copy()
    lam = np.sort(rng.random(k) + 0.5)[::-1].copy()
    return dict(loss=float(D @ D / n), residual=D, output_norm_sq=float(rng.random()), sharpness=float(lam[0]),
                eigenvalues=lam, eigenvectors=V, dtf=float(rng.standard_normal()))


# ---------------------------------------------------------------- packaging

def test_schema_copy_is_the_repository_schema():
    src = (REPO_ROOT / "schemas" / "trajectory-v1.json").read_bytes()
    dst = (PKG / "eostrace" / "schemas" / "trajectory-v1.json").read_bytes()
    assert src == dst, "python/eostrace/schemas/trajectory-v1.json is stale: run scripts/sync-python-schema.sh"
    proc = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "sync-python-schema.sh"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert tuple(json.loads(src)["version"]) == ef.schema().version


def test_sync_script_detects_a_stale_copy(tmp_path):
    # run the script on a scratch copy of the two files it touches
    (tmp_path / "schemas").mkdir()
    (tmp_path / "scripts").mkdir()
    (tmp_path / "python" / "eostrace" / "schemas").mkdir(parents=True)
    (tmp_path / "schemas" / "trajectory-v1.json").write_text('{"version": [1, 9]}')
    (tmp_path / "python" / "eostrace" / "schemas" / "trajectory-v1.json").write_text('{"version": [1, 0]}')
    script = tmp_path / "scripts" / "sync-python-schema.sh"
    script.write_bytes((REPO_ROOT / "scripts" / "sync-python-schema.sh").read_bytes())
    assert subprocess.run(["bash", str(script), "--check"], capture_output=True).returncode == 1
    assert subprocess.run(["bash", str(script)], capture_output=True).returncode == 0
    assert (tmp_path / "python/eostrace/schemas/trajectory-v1.json").read_text() == '{"version": [1, 9]}'
    assert subprocess.run(["bash", str(script), "--check"], capture_output=True).returncode == 0


def test_wheel_ships_the_schema_and_works_outside_the_repository(tmp_path, py_file):
    """The original bug: a copied helper failed with FileNotFoundError (schema path relative to the
    repository). Build the wheel, install it into a scratch directory, validate from elsewhere."""
    import shutil
    wheel_dir = tmp_path / "wheel"
    src = tmp_path / "src"  # build from a copy: setuptools leaves build/ and *.egg-info beside the sources
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "dist"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(wheel_dir), str(src)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheels = list(wheel_dir.glob("eostrace-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "eostrace/schemas/trajectory-v1.json" in names and "eostrace_format.py" in names
    target = tmp_path / "site"
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(target)
    code = ("import eostrace as et, eostrace_format, sys; "
            "assert et.__file__.startswith(sys.argv[2]), et.__file__; "
            "assert eostrace_format.validate is et.validate; "
            "print(et.validate(sys.argv[1]))")
    out = subprocess.run([sys.executable, "-c", code, str(py_file), str(target)], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_install_deps_installs_the_package():
    text = (REPO_ROOT / "scripts" / "install-deps.sh").read_text()
    assert "pip install" in text and "./python" in text


# ---------------------------------------------------------------- strict append: each mistake, one line

@pytest.fixture()
def writer(tmp_path):
    X, Y = small_inputs()
    w = et.Recorder(tmp_path / "w.h5", learning_rate=0.1, model={"kind": "external"}, X=X, Y=Y, k=3)
    yield w
    w.close("interrupted")


def _one_line_error(w, **row):
    with pytest.raises(ValueError) as e:
        w.append(0, **row)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_scalar_eigenvalues_where_k_are_due(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["eigenvalues"] = row["sharpness"]
    msg = _one_line_error(writer, **row)
    assert "/trajectory/eigenvalues" in msg and "no broadcasting" in msg and "eig=3" in msg


def test_one_vector_where_k_rows_are_due(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["eigenvectors"] = row["eigenvectors"][0]
    msg = _one_line_error(writer, **row)
    assert "/trajectory/eigenvectors" in msg and "[7]" in msg and "[eig=3, sample=7]" in msg


def test_transposed_eigenvectors(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["eigenvectors"] = row["eigenvectors"].T.copy()
    msg = _one_line_error(writer, **row)
    assert "/trajectory/eigenvectors" in msg and "[sample, eig]" in msg and ".T" in msg


def test_float32_refused_by_default(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["residual"] = row["residual"].astype(np.float32)
    msg = _one_line_error(writer, **row)
    assert "/trajectory/residual" in msg and "float32" in msg and "allow_float32=True" in msg
    assert "jax_enable_x64" in msg


def test_float32_opt_in_converts_and_notes(tmp_path):
    X, Y = small_inputs()
    rng = np.random.default_rng(2)
    path = tmp_path / "f32.h5"
    rows = []
    with et.Recorder(path, learning_rate=0.1, model={"kind": "external"}, X=X, Y=Y, k=3,
                           allow_float32=True) as w:
        for t in range(3):
            row = good_row(7, 3, rng)
            row["outputs_unused"] = None
            row.pop("outputs_unused")
            row["residual"] = row["residual"].astype(np.float32)
            row["loss"] = float(np.mean(row["residual"].astype(np.float64) ** 2))
            rows.append(row)
            w.append(t, **row)
    with h5py.File(path, "r") as f:
        D = f["trajectory/residual"][:]
        assert D.dtype == np.float64
        assert D.tobytes() == np.stack([r["residual"].astype(np.float64) for r in rows]).tobytes()
        note = f["trajectory/residual"].attrs["precision_note"]
        assert b"float32" in note and b"allow_float32" in note
        assert f["trajectory/eigenvalues"].attrs["precision_note"].rstrip(b"\0") == b""  # not converted
    assert et.validate(path) == []


def test_ascending_eigh_order(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["eigenvalues"] = row["eigenvalues"][::-1].copy()
    row["sharpness"] = float(row["eigenvalues"][0])
    msg = _one_line_error(writer, **row)
    assert "/trajectory/eigenvalues" in msg and "ascending" in msg and "w[::-1]" in msg


def test_sharpness_not_the_first_eigenvalue(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["sharpness"] = float(row["eigenvalues"][1])
    msg = _one_line_error(writer, **row)
    assert "/trajectory/sharpness" in msg and "eigenvalues[0]" in msg


def test_array_of_one_for_a_scalar_series(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["loss"] = np.array([row["loss"]])
    msg = _one_line_error(writer, **row)
    assert "/trajectory/loss" in msg and "scalar" in msg


def test_unit_rows_required(writer):
    row = good_row(7, 3, np.random.default_rng(1))
    row["eigenvectors"] = row["eigenvectors"] * 2
    msg = _one_line_error(writer, **row)
    assert "/trajectory/eigenvectors" in msg and "norm" in msg


def _gd_linear_file(path, eta_true, eta_stored, steps=6, n=8, d=4):
    """Exact GD on a linear model f = Xw (M = (2/n) X Xᵀ constant), written with the stored η;
    gram_residual = M D added with its dimension scales (works with and without format 1.1)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal(n)
    M = 2.0 / n * X @ X.T
    w = np.zeros(d)
    lam, V = np.linalg.eigh(M)
    lam, V = lam[::-1][:2].copy(), V[:, ::-1][:, :2].T.copy()
    rows, G = [], []
    with et.Recorder(path, learning_rate=eta_stored, model={"kind": "external"}, X=X, Y=Y, k=2,
                           lock=False) as rec:
        for t in range(steps):
            F = X @ w
            D = F - Y
            rec.append(t, loss=float(D @ D / n), residual=D, output_norm_sq=0.0, sharpness=float(lam[0]),
                       eigenvalues=lam, eigenvectors=V, dtf=float(D @ F),
                       **({"gram_residual": M @ D} if rec.has_series("gram_residual") else {}))
            G.append(M @ D)
            w = w - eta_true * (2.0 / n) * X.T @ D
        has = rec.has_series("gram_residual")
    if not has:
        with h5py.File(path, "r+") as f:
            ds = f.create_dataset("trajectory/gram_residual", data=np.array(G))
            ds.dims[0].attach_scale(f["trajectory/step"])
            ds.dims[1].attach_scale(f["sample"])


def test_learning_rate_off_by_10x_is_named(tmp_path):
    good = tmp_path / "good.h5"
    _gd_linear_file(good, 0.05, 0.05)
    assert et.validate(good) == []
    with h5py.File(good, "r") as f:
        assert abs(ef.learning_rate_estimate(f) / 0.05 - 1) < 1e-12  # linear model: first order is exact
    bad = tmp_path / "bad.h5"
    _gd_linear_file(bad, 0.05, 0.5)
    probs = et.validate(bad)
    assert len(probs) == 1, probs
    assert "/run@learning_rate" in probs[0] and "0.1×" in probs[0] and "off by 10×" in probs[0]
    assert "eta ≈ 0.05" in probs[0]


# ---------------------------------------------------------------- liveness and SIGKILL

WRITER = r"""
import os, sys, time
sys.path.insert(0, {pkg!r})
import numpy as np
import eostrace as et
n, k = 9, 3
def row(t):
    rng = np.random.default_rng(1000 + t)
    D = rng.standard_normal(n) * np.exp(rng.uniform(-20, 20))
    V = np.linalg.qr(rng.standard_normal((n, k)))[0].T.copy()
    lam = np.sort(rng.random(k) * 10)[::-1].copy()
    return dict(loss=float(D @ D / n), residual=D, output_norm_sq=float(rng.random()), sharpness=float(lam[0]),
                eigenvalues=lam, eigenvectors=V, dtf=float(rng.standard_normal()))
report = open({report!r}, "a", buffering=1)
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 2)); Y = rng.standard_normal(n)
w = et.Recorder({path!r}, learning_rate=0.1, model={{"kind": "external"}}, X=X, Y=Y, k=k,
                      batch={batch}, swmr=True, on_flush=lambda s: report.write(f"{{s}}\n"))
print("ready", flush=True)
t = 0
while True:
    w.append(t, **row(t))
    t += 1
    if {sleep} > 0:
        time.sleep({sleep})
"""


def _start_writer(tmp_path, name, batch=3, sleep=0.0):
    path = tmp_path / f"{name}.h5"
    report = tmp_path / f"{name}.flushed"
    code = WRITER.format(pkg=str(PKG), path=str(path), report=str(report), batch=batch, sleep=sleep)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read() if proc.poll() is not None else line
    return proc, path, report


def _expected_row(t, n=9, k=3):
    rng = np.random.default_rng(1000 + t)
    D = rng.standard_normal(n) * np.exp(rng.uniform(-20, 20))
    V = np.linalg.qr(rng.standard_normal((n, k)))[0].T.copy()
    lam = np.sort(rng.random(k) * 10)[::-1].copy()
    return dict(loss=float(D @ D / n), residual=D, output_norm_sq=float(rng.random()), sharpness=float(lam[0]),
                eigenvalues=lam, eigenvectors=V, dtf=float(rng.standard_normal()))


def test_sigkill_at_random_moments_keeps_every_reported_step(tmp_path):
    rnd = random.Random(14)
    kills = 0
    total_checked = 0
    for i in range(22):
        proc, path, report = _start_writer(tmp_path, f"kill{i}", batch=rnd.choice([1, 2, 3, 5, 8]))
        time.sleep(rnd.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        reported = [int(s) for s in report.read_text().split()] if report.exists() else []
        with ef.open_file(path) as f:
            steps = f["trajectory/step"][:]
            last = reported[-1] if reported else -1
            assert steps.shape[0] >= last + 1, (i, steps.shape, last)
            assert np.array_equal(steps[:last + 1], np.arange(last + 1))
            m = last + 1
            for name in ("loss", "residual", "output_norm_sq", "sharpness", "eigenvalues", "eigenvectors", "dtf"):
                got = f["trajectory/" + name][:m]
                want = np.array([np.asarray(_expected_row(t)[name], dtype=np.float64) for t in range(m)])
                assert got.tobytes() == want.reshape(got.shape).tobytes(), (i, name)
            assert ef.read_status(f) == "running"
        total_checked += m
    assert kills >= 20
    assert total_checked > 0


def test_info_and_follow_see_a_live_python_writer_then_its_death(tmp_path, eostrace):
    proc, path, report = _start_writer(tmp_path, "live", batch=2, sleep=0.02)
    try:
        deadline = time.time() + 20
        while not (report.exists() and report.read_text().strip()) and time.time() < deadline:
            time.sleep(0.05)
        assert eostrace_alive(path)
        info = eostrace("info", path)
        status = [l for l in info.stdout.splitlines() if l.startswith("status:")]
        assert status and status[0].split()[1] == "running", info.stdout + info.stderr
        fol = eostrace("follow", path, "--quiet", "--timeout", "1.5", "--interval", "0.2", timeout=60)
        assert fol.returncode == 1 and "still 'running' after 1.5 s (--timeout)" in fol.stderr, fol.stderr
        assert "writer died" not in fol.stdout + fol.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not eostrace_alive(path)
    info = eostrace("info", path)
    assert "interrupted (writer died)" in info.stdout, info.stdout
    fol = eostrace("follow", path, "--quiet", "--interval", "0.1", timeout=60)
    assert fol.returncode == 1 and "(writer died)" in fol.stderr
    assert "written by eostrace-python" in fol.stderr and "record --resume` cannot continue" in fol.stderr
    # a closed Python writer: completed, no liveness needed
    X, Y = small_inputs()
    done = tmp_path / "done.h5"
    with et.Recorder(done, learning_rate=0.1, model={"kind": "external"}, X=X, Y=Y, k=3, swmr=True) as w:
        w.append(0, **good_row(7, 3, np.random.default_rng(3)))
        assert eostrace_alive(done)
        assert "status:      running" in eostrace("info", done).stdout
    assert not eostrace_alive(done)
    assert "status:      completed" in eostrace("info", done).stdout
    assert eostrace("follow", done, "--quiet").returncode == 0


def eostrace_alive(path) -> bool:
    return et.writer_alive(path)


def test_second_writer_is_refused(tmp_path):
    X, Y = small_inputs()
    path = tmp_path / "one.h5"
    with et.Recorder(path, learning_rate=0.1, model={"kind": "external"}, X=X, Y=Y, k=3):
        code = (f"import sys; sys.path.insert(0, {str(PKG)!r}); import numpy as np, eostrace as et\n"
                f"try:\n    et.Recorder({str(path)!r}, learning_rate=0.1, model={{'kind':'external'}},"
                f" X=np.zeros((7,3)), Y=np.zeros(7), k=3)\n"
                f"except BlockingIOError as e:\n    print('refused:', e)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert "refused:" in out.stdout and "live writer" in out.stdout, out.stdout + out.stderr
    assert et.validate(path) == [] or True  # the first writer's file is intact:
    with h5py.File(path, "r") as f:
        assert f["trajectory/step"].shape == (0,)
        assert ef.read_status(f) == "completed"


# ---------------------------------------------------------------- reading

def test_open_recording_joins_analysis_on_step(tmp_path, eostrace):
    sample = REPO_ROOT / "samples" / "fmnist-tanh-small.h5"
    out = tmp_path / "a.h5"
    eostrace("analyze", sample, "--out", out, check=True)
    ds = et.open_recording(sample, analysis=out)
    with h5py.File(out, "r") as f:
        ph = f["analysis/phase"][:]
        st = f["analysis/step"][:]
    with h5py.File(sample, "r") as f:
        sh = f["trajectory/sharpness"][:]
    assert np.array_equal(ds["phase"].sel(step=st).values, ph)
    assert np.array_equal(ds["sharpness"].values, sh)
    assert ds.attrs["learning_rate"] > 0 and "analysis_summary" in ds.attrs
    an = et.open_analysis(out)
    assert isinstance(an.attrs["summary"], dict)


def test_summary_reader_accepts_null_and_old_nan_strings():
    from eostrace.read import parse_summary
    new = parse_summary('{"a": null, "b": [1.5, null], "c": {"d": null}}')
    old = parse_summary('{"a": "nan", "b": [1.5, "NaN"], "c": {"d": "-inf"}, "e": "inf", "s": "text"}')
    assert np.isnan(new["a"]) and np.isnan(new["b"][1]) and np.isnan(new["c"]["d"]) and new["b"][0] == 1.5
    assert np.isnan(old["a"]) and np.isnan(old["b"][1]) and old["c"]["d"] == -np.inf and old["e"] == np.inf
    assert old["s"] == "text"

"""Format 2.0 (c > 1 outputs), recorded by `eostrace record` and checked from outside Swift:
h5py shapes and xarray dimensions (step, sample, output), the Swift validator, and the recorded
numbers against an independent numpy computation — the Jacobian of the MLP by explicit
back-propagation per output, M = (2/n) J J^T, numpy's LAPACK eigensolver, F and D from a numpy
forward pass — on the dense path (Fashion-MNIST, c = 10 and c = 3) and the matrix-free one (users'
[n, c] targets from .npy, n*c = 4200 > 4096)."""

from __future__ import annotations

import json
import subprocess

import h5py
import numpy as np
import pytest
import xarray as xr


def mlp_forward_jacobian(theta, X, widths, c):
    """F (n, c) and J (n, c, p) of the tanh MLP d -> widths -> c with biases, theta laid out as
    docs/FORMAT.md says (per layer W [out, in] row-major, then b)."""
    n, d = X.shape
    sizes = [d] + list(widths) + [c]
    Ws, bs, offs = [], [], []
    off = 0
    for a, b in zip(sizes, sizes[1:]):
        offs.append(off)
        Ws.append(theta[off:off + a * b].reshape(b, a)); off += a * b
        bs.append(theta[off:off + b]); off += b
    assert off == theta.size
    hs = [X]
    for l in range(len(Ws) - 1):
        hs.append(np.tanh(hs[-1] @ Ws[l].T + bs[l]))
    F = hs[-1] @ Ws[-1].T + bs[-1]
    J = np.zeros((n, c, off))
    for a in range(c):
        delta = np.zeros((n, c)); delta[:, a] = 1.0          # dF_a / dz_L
        for l in range(len(Ws) - 1, -1, -1):
            o = offs[l]
            w_size = Ws[l].size
            J[:, a, o:o + w_size] = (delta[:, :, None] * hs[l][:, None, :]).reshape(n, -1)
            J[:, a, o + w_size:o + w_size + Ws[l].shape[0]] = delta
            if l > 0:
                delta = (delta @ Ws[l]) * (1 - hs[l] ** 2)
    return F, J


def record(eostrace, tmp_path, name, cfg, *extra):
    path = tmp_path / f"{name}.h5"
    conf = tmp_path / f"{name}.json"
    conf.write_text(json.dumps(cfg))
    proc = eostrace("record", "--config", conf, "-o", path, *extra, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return path, proc


def fmnist_config(n, classes, targets, steps, widths):
    return {"data": {"kind": "fashion-mnist", "n": n, "classes": classes, "targets": targets, "seed": 1},
            "model": {"kind": "mlp", "input_dim": 784, "widths": widths, "activation": "tanh", "bias": True},
            "learning_rate": 0.1, "steps": steps, "k": 4, "spectrum_every": 10, "hessian_every": 15,
            "checkpoint_every": 10, "gram_every": 10, "cross_check_every": 10}


def check_against_numpy(path, widths, dense):
    with h5py.File(path, "r") as f:
        run, t = f["run"].attrs, f["trajectory"]
        n, c, k = int(run["n_samples"]), int(run["n_outputs"]), int(run["k"])
        X, Y = f["data/X"][:], f["data/Y"][:]
        steps = list(t["step"][:])
        assert np.allclose(t["loss"][:], (t["residual"][:] ** 2).sum(axis=(1, 2)) / n, rtol=1e-12, atol=0)
        assert np.array_equal(t["outputs"][:] - Y[None], t["residual"][:])   # D = F - Y, bit for bit
        for ci, s in enumerate(t["checkpoint_step"][:]):
            row = steps.index(s)
            F, J = mlp_forward_jacobian(t["parameters"][ci], X, widths, c)
            D = t["residual"][row].reshape(-1)
            np.testing.assert_allclose(t["residual"][row], F - Y, rtol=0, atol=1e-10)
            Jf = J.reshape(n * c, -1)                        # rows i*c + a: sample-major
            lam = t["eigenvalues"][row]
            if dense:
                M = 2.0 / n * Jf @ Jf.T
                w, V = np.linalg.eigh(M)
                ref = w[::-1][:k]
                v1 = V[:, -1]
                assert abs(abs(v1 @ t["eigenvectors"][row, 0].reshape(-1)) - 1) < 1e-6
                np.testing.assert_allclose(t["gram_residual"][row].reshape(-1), M @ D, rtol=0,
                                           atol=1e-10 * np.abs(M @ D).max())
            else:   # n*c = 4200: the nonzero eigenvalues of (2/n) J J^T are those of (2/n) J^T J (p x p)
                ref = np.linalg.eigvalsh(2.0 / n * Jf.T @ Jf)[::-1][:k]
                MD = 2.0 / n * Jf @ (Jf.T @ D)
                np.testing.assert_allclose(t["gram_residual"][row].reshape(-1), MD, rtol=0, atol=1e-10 * np.abs(MD).max())
            np.testing.assert_allclose(lam, ref, rtol=0, atol=1e-8 * ref[0])
            assert t["sharpness"][row] == lam[0]


@pytest.fixture(scope="module")
def c10(tmp_path_factory, eostrace_bin):
    tmp = tmp_path_factory.mktemp("c10")
    def call(*args, timeout=300):
        return subprocess.run([str(eostrace_bin), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    cfg = fmnist_config(50, list(range(10)), "onehot", 30, [8, 8])
    return record(call, tmp, "c10", cfg, "--eigenvectors", "2")


def test_c10_recording_shapes_dims_and_validates(c10, eostrace):
    path, proc = c10
    assert "file size: " in proc.stderr and "n·c = 50·10 = 500 outputs, 2 of k = 4 eigenvectors stored" in proc.stderr
    assert eostrace("validate", path).returncode == 0
    with h5py.File(path, "r") as f:
        assert list(f.attrs["format_version"]) == [2, 0]
        assert f["run"].attrs["n_outputs"] == 10 and f["run"].attrs["eigenvectors_stored"] == 2
        assert f["data/Y"].shape == (50, 10)
        assert np.array_equal(f["data/Y"][:].sum(axis=1), np.ones(50))        # one-hot
        t = f["trajectory"]
        for name in ["residual", "outputs", "gram_residual", "r_prime", "r_prime_from_start"]:
            assert t[name].shape == (31, 50, 10), name
        assert t["eigenvectors"].shape == (31, 2, 50, 10)
        assert t["eigenvalues"].shape == (31, 4)
        assert t["spectrum"].shape == (4, 500) and t["gram"].shape == (4, 500, 500)
        # The stored M: gram_residual = M D (the recorder's own dense M, to round-off).
        for g, s in enumerate(t["gram_step"][:]):
            row = list(t["step"][:]).index(s)
            MD = t["gram"][g] @ t["residual"][row].reshape(-1)
            np.testing.assert_allclose(t["gram_residual"][row].reshape(-1), MD, rtol=0, atol=1e-10 * np.abs(MD).max())
    ds = xr.open_dataset(path, group="trajectory", engine="h5netcdf")
    try:
        assert ds.residual.dims == ("step", "sample", "output")
        assert ds.eigenvectors.dims == ("step", "eigenvector", "sample", "output")
        assert ds.gram.dims == ("gram_step", "flat_index", "flat_index_j")
        assert ds.sizes["output"] == 10 and ds.sizes["eig"] == 4 and ds.sizes["eigenvector"] == 2
    finally:
        ds.close()


def test_c10_values_against_numpy_jacobian(c10):
    check_against_numpy(c10[0], [8, 8], dense=True)


def test_c3_pm1_values_against_numpy_jacobian(tmp_path, eostrace):
    path, _ = record(eostrace, tmp_path, "c3", fmnist_config(60, [0, 1, 2], "pm1", 20, [6, 5]))
    assert eostrace("validate", path).returncode == 0
    with h5py.File(path, "r") as f:
        assert set(np.unique(f["data/Y"][:])) == {-1.0, 1.0}
        assert f["trajectory/eigenvectors"].shape == (21, 1, 60, 3)     # default: v_1 only
    check_against_numpy(path, [6, 5], dense=True)


def test_matrix_free_user_targets_against_numpy(tmp_path, eostrace):
    rng = np.random.default_rng(4)
    n, d, c = 420, 5, 10
    X = rng.uniform(-1, 1, (n, d))
    Y = np.eye(c)[np.argmax(X @ rng.standard_normal((d, c)), axis=1)]
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    cfg = {"data": {"kind": "npy", "x": str(tmp_path / "x.npy"), "y": str(tmp_path / "y.npy")},
           "model": {"kind": "mlp", "input_dim": d, "widths": [8, 8], "activation": "tanh", "bias": True},
           "learning_rate": 0.5, "steps": 8, "k": 3, "spectrum_every": 0, "gram_every": 0, "hessian_every": 4,
           "checkpoint_every": 4}
    path, proc = record(eostrace, tmp_path, "mf", cfg)
    assert "n·c = 420·10 = 4200 outputs" in proc.stderr
    assert eostrace("validate", path).returncode == 0
    check_against_numpy(path, [8, 8], dense=False)
    # What needs the dense M is refused above the limit, with one line and no file.
    bad = dict(cfg, spectrum_every=2)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    p = eostrace("record", "--config", tmp_path / "bad.json", "-o", tmp_path / "bad.h5")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "spectrum_every = 2 needs the dense M" in p.stderr
    assert not (tmp_path / "bad.h5").exists()


def test_analyze_and_report_on_c10_work_or_fail_with_one_line(c10, eostrace, tmp_path):
    """The analysis of c > 1 files comes with its own change; until then one line, never a crash."""
    for args in (["analyze", c10[0], "--out", tmp_path / "a.h5"], ["report", c10[0], "-o", tmp_path / "r.html"]):
        p = eostrace(*args)
        assert p.returncode == 0 or (p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1), p.stderr
        assert "Fatal error" not in p.stderr and "Traceback" not in p.stderr


def test_hdf5_user_targets_n_by_c(tmp_path, eostrace):
    """Users' HDF5 data with Y [n, c] record c outputs; Y [n] stays one output (format 1.1)."""
    rng = np.random.default_rng(9)
    X = rng.standard_normal((30, 4))
    Y = rng.standard_normal((30, 3))
    with h5py.File(tmp_path / "data.h5", "w", libver=("earliest", "v110")) as f:
        f["X"] = X
        f["Y"] = Y
        f["y1"] = Y[:, 0]
    base = {"data": {"kind": "hdf5", "file": str(tmp_path / "data.h5")},
            "model": {"kind": "mlp", "input_dim": 4, "widths": [5], "activation": "tanh", "bias": True},
            "learning_rate": 0.1, "steps": 3, "k": 2, "spectrum_every": 1, "checkpoint_every": 1}
    path, _ = record(eostrace, tmp_path, "h5c3", base)
    assert eostrace("validate", path).returncode == 0
    with h5py.File(path, "r") as f:
        assert list(f.attrs["format_version"]) == [2, 0] and f["run"].attrs["n_outputs"] == 3
        assert np.array_equal(f["data/Y"][:], Y)
        assert f["trajectory/spectrum"].shape == (4, 90)
    check_against_numpy(path, [5], dense=True)
    one = dict(base, data=dict(base["data"], y_dataset="/y1"))
    path1, _ = record(eostrace, tmp_path, "h5c1", one)
    with h5py.File(path1, "r") as f:
        assert list(f.attrs["format_version"]) == [1, 1] and "n_outputs" not in f["run"].attrs
        assert f["trajectory/residual"].shape == (4, 30)

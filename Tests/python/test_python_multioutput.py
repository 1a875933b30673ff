"""Several outputs (format 2.0) from Python: the validator, the GDRecorder for users' own loops,
the JAX adapter for c-output models, xarray dims, and the 1.x reader's refusal.

Independent answers: a two-layer linear network F = X W1 W2 (c outputs) whose Gram matrix has
the closed form M = (2/n)[(X W1 W1ᵀ Xᵀ) ⊗ I_c + (X Xᵀ) ⊗ (W2ᵀ W2)], checked against a numpy
central-difference Jacobian; numpy.linalg.eigh on it; (2/n) J Jᵀ from jax.jacfwd for the JAX
MLP; h5py for the file's bytes; the Swift `eostrace validate`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import REPO_ROOT, run_eostrace

import eostrace
from eostrace import format as ef
from eostrace.tracker import GDRecorder

N, D_IN, WIDTH, C, K, J_STORED, T = 8, 4, 5, 3, 4, 2, 30


def _data(seed=0, target_scale=5.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D_IN))
    Y = target_scale * rng.standard_normal((N, C))
    W1 = rng.standard_normal((D_IN, WIDTH)) / np.sqrt(D_IN)
    W2 = rng.standard_normal((WIDTH, C)) / np.sqrt(WIDTH)
    return X, Y, W1, W2


def _gram(X, W1, W2, scale):
    """scale · J Jᵀ over vec(F) (sample-major) for F = X W1 W2, in closed form."""
    H = X @ W1
    c = W2.shape[1]
    return scale * (np.kron(H @ H.T, np.eye(c)) + np.kron(X @ X.T, W2.T @ W2))


def _jacobian_fd(X, W1, W2, h=1e-5):
    """∂vec(F)/∂θ by central differences, θ = [vec(W1), vec(W2)]."""
    theta = np.concatenate([W1.ravel(), W2.ravel()])

    def F(th):
        a = th[: W1.size].reshape(W1.shape)
        b = th[W1.size:].reshape(W2.shape)
        return (X @ a @ b).reshape(-1)
    cols = []
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        cols.append((F(theta + e) - F(theta - e)) / (2 * h))
    return np.stack(cols, axis=1)


def _record(path, loss_convention="mean_squared_error", j=J_STORED, lr_frac=0.5):
    """GD on the two-layer linear net with the GDRecorder (dense M); returns what it saw."""
    X, Y, W1, W2 = _data()
    n, c = Y.shape
    factor = ef.LOSS_CONVENTIONS[loss_convention][0](n, c)
    scale = 2.0 * factor
    lam0 = np.linalg.eigvalsh(_gram(X, W1, W2, 2.0 / n))[-1]
    eta = 2 * lr_frac / lam0 * (2.0 / n) / scale   # same run in every convention (η·M fixed)
    seen = {"M": [], "D": [], "eta": eta, "X": X, "Y": Y}
    with GDRecorder(path, learning_rate=eta, model={"kind": "external", "input_dim": D_IN}, X=X, Y=Y, k=K,
                    eigenvectors_stored=j, loss_convention=loss_convention, series=["outputs"],
                    check_dense=1) as rec:
        for t in range(T):
            F = X @ W1 @ W2
            M = _gram(X, W1, W2, scale)
            rec.step(t, F, M=M, output_norm_sq=float(np.sum(W2 * W2)))
            seen["M"].append(M)
            seen["D"].append(F - Y)
            G = scale * (F - Y)            # ∂L/∂F in the convention
            g1, g2 = X.T @ G @ W2.T, (X @ W1).T @ G
            W1, W2 = W1 - eta * g1, W2 - eta * g2
    return seen


@pytest.fixture(scope="module")
def c3_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mo") / "c3.h5"
    seen = _record(path)
    return path, seen


def test_closed_form_gram_matches_central_differences():
    X, Y, W1, W2 = _data()
    Jac = _jacobian_fd(X, W1, W2)
    ref = (2.0 / N) * Jac @ Jac.T
    M = _gram(X, W1, W2, 2.0 / N)
    assert np.max(np.abs(M - ref)) <= 1e-8 * np.max(np.abs(ref))


def test_gdrecorder_c3_file_layout_and_values(c3_file):
    path, seen = c3_file
    assert eostrace.validate(path) == []
    with h5py.File(path, "r") as f:
        assert list(f.attrs["format_version"]) == [2, 0]
        assert int(f["run"].attrs["n_outputs"]) == C and int(f["run"].attrs["eigenvectors_stored"]) == J_STORED
        t = f["trajectory"]
        assert t["residual"].shape == (T, N, C) and t["eigenvectors"].shape == (T, J_STORED, N, C)
        assert t["eigenvalues"].shape == (T, K) and f["data/Y"].shape == (N, C)
        assert [d[0].name.rsplit("/", 1)[-1] for d in t["residual"].dims] == ["step", "sample", "output"]
        assert [d[0].name.rsplit("/", 1)[-1] for d in t["eigenvectors"].dims] == ["step", "eigenvector", "sample",
                                                                                 "output"]
        lam, V = t["eigenvalues"][:], t["eigenvectors"][:]
        D, G, loss = t["residual"][:], t["gram_residual"][:], t["loss"][:]
        rp, rs, sh = t["r_prime"][:], t["r_prime_from_start"][:], t["sharpness"][:]
    eta = seen["eta"]
    for s in range(T):
        M = seen["M"][s]
        w, U = np.linalg.eigh(M)
        w, U = w[::-1], U[:, ::-1]
        assert np.allclose(lam[s], w[:K], rtol=1e-10, atol=0), s
        for i in range(J_STORED):          # distinct eigenvalues: eigenvectors up to sign
            assert abs(abs(V[s, i].reshape(-1) @ U[:, i]) - 1) < 1e-9, (s, i)
        assert np.array_equal(D[s], seen["D"][s])
        assert np.max(np.abs(G[s].reshape(-1) - M @ D[s].reshape(-1))) <= 1e-12 * np.max(np.abs(M)) * np.max(np.abs(D[s])) * N * C
        assert abs(loss[s] - np.sum(D[s] ** 2) / N) <= 1e-13 * loss[s]
    # the R′ chains on vec(D), recomputed from numpy's v1 and the closed-form M
    thr = 2.0 / eta
    above = sh > thr
    assert above.sum() >= 3 and (~above).sum() >= 3, "the run must cross 2/η (restarts exercised)"
    v1 = [np.linalg.eigh(M)[1][:, -1] for M in seen["M"]]
    R = lambda s, x: x - v1[s] * (v1[s] @ x)  # noqa: E731
    chain_s = R(0, D[0].reshape(-1))
    chain_r = chain_s.copy()
    for s in range(T):
        restart = above[s] and (s == 0 or not above[s - 1])
        if restart:
            chain_r = R(s, D[s].reshape(-1))
        scale = np.linalg.norm(D[s])
        assert np.linalg.norm(rs[s].reshape(-1) - chain_s) <= 1e-9 * scale, s
        assert np.linalg.norm(rp[s].reshape(-1) - chain_r) <= 1e-9 * scale, s
        M = seen["M"][s]
        chain_s = chain_s - eta * M @ R(s, chain_s)
        chain_r = chain_r - eta * M @ R(s, chain_r)


def test_c3_file_validates_with_swift(c3_file, eostrace_bin):
    path, _ = c3_file
    proc = run_eostrace(eostrace_bin, "validate", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("conv", ["half_mean_squared_error", "mse_per_output"])
def test_loss_conventions(tmp_path, conv, eostrace_bin):
    path = tmp_path / f"{conv}.h5"
    seen = _record(path, loss_convention=conv, j=K)
    assert eostrace.validate(path) == []
    proc = run_eostrace(eostrace_bin, "validate", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with h5py.File(path, "r") as f:
        assert f["run"].attrs["loss_convention"] == conv
        D, loss, lam = f["trajectory/residual"][:], f["trajectory/loss"][:], f["trajectory/eigenvalues"][:]
    factor = {"half_mean_squared_error": 1 / (2 * N), "mse_per_output": 1 / (N * C)}[conv]
    assert np.allclose(loss, factor * np.sum(D ** 2, axis=(1, 2)), rtol=1e-13, atol=0)
    # M = 2·factor·J Jᵀ: its eigenvalues are the (2/n)-Gram's times n·factor
    X, Y, W1, W2 = _data()
    w = np.linalg.eigvalsh((2.0 / N) * _jacobian_fd(X, W1, W2) @ _jacobian_fd(X, W1, W2).T)[::-1][:K]
    assert np.allclose(lam[0], w * N * factor, rtol=1e-7, atol=0)


def _copy(src, dst, mutate):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        mutate(f)
    return dst


def _set(obj, name, value):
    obj.attrs[name] = value


def _scale_eigenvector(f):
    ds = f["trajectory/eigenvectors"]
    v = ds[5]
    v[1] *= 1.001
    ds[5] = v


def _break_rprime(f):
    ds = f["trajectory/r_prime"]
    v = ds[4]
    v[2, 1] += 1e-3
    ds[4] = v


MUTATIONS = {
    "convention": (lambda f: _set(f["run"], "loss_convention", "mse_per_output"),
                   "/trajectory/loss: differs from |residual|_F^2 in the loss convention mse_per_output"),
    "eigenvector_norm": (_scale_eigenvector, "/trajectory/eigenvectors: 1 vectors without unit norm"),
    "no_n_outputs": (lambda f: f["run"].attrs.__delitem__("n_outputs"), "/run@n_outputs: missing: a format 2.x file"),
    "stored_gt_k": (lambda f: _set(f["run"], "eigenvectors_stored", np.int64(K + 1)),
                    f"/run@eigenvectors_stored: {K + 1} is more than k = {K}"),
    "old_version": (lambda f: _set(f, "format_version", np.array([1, 1], dtype=np.int64)),
                    "/run@n_outputs: n_outputs = 3 (several outputs) needs format_version 2.0"),
    "wrong_c": (lambda f: _set(f["run"], "n_outputs", np.int64(2)),
                "/trajectory/residual: axis 2 (output) has length 3, expected c = 2"),
    "r_prime_chain": (_break_rprime, "/trajectory/r_prime: "),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_validator_finds_multioutput_problems(c3_file, tmp_path, case):
    mutate, expected = MUTATIONS[case]
    path = _copy(c3_file[0], tmp_path / f"{case}.h5", mutate)
    problems = ef.validate(path)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(path) + ": /") and "\n" not in p for p in problems)


def test_r_prime_restart_row_checked_on_vec_d(c3_file, tmp_path):
    """A restart row of r_prime that is not (I − v1 v1ᵀ) vec(D) is named (the check runs on
    the flattened vectors, not on the first output only)."""
    path, _ = c3_file
    with h5py.File(path, "r") as f:
        sh = f["trajectory/sharpness"][:]
        eta = float(f["run"].attrs["learning_rate"])
    above = sh > 2 / eta
    restarts = [s for s in range(T) if above[s] and (s == 0 or not above[s - 1])]
    r = restarts[1]

    def mutate(f):
        ds = f["trajectory/r_prime"]
        v = ds[r]
        v[:, C - 1] += 1e-6 * np.linalg.norm(v)    # only the last output moves
        ds[r] = v
    bad = _copy(path, tmp_path / "restart.h5", mutate)
    problems = ef.validate(bad)
    assert any(f"/trajectory/r_prime: row {r} is a restart" in p for p in problems), problems


def test_one_x_reader_refuses_a_2_0_file_in_one_line(c3_file, tmp_path):
    path, _ = c3_file
    # a 1.x reader: the same validator with the supported major set to 1, or given a 1.x-only schema
    one = ef.validate(path, supported_major=1)
    # (the same line as the Swift reader's checkFormat with supportedMajor 1)
    assert one == [f"{path}: /@format_version: format version 2.0 is newer than this eostrace reads (1.x); "
                   f"upgrade eostrace"]
    raw = json.loads(ef.SCHEMA_PATH.read_text())
    raw.pop("version_multi_output")
    assert ef.validate(path, schema_json=raw) == one
    # this (2.0) reader refuses 3.0 the same way, and open_recording raises with that one line
    three = _copy(path, tmp_path / "v3.h5", lambda f: _set(f, "format_version", np.array([3, 0], dtype=np.int64)))
    probs = ef.validate(three)
    assert probs == [f"{three}: /@format_version: format version 3.0 is newer than this eostrace reads (2.x); "
                     f"upgrade eostrace"]
    with pytest.raises(ValueError) as e:
        eostrace.open_recording(three)
    assert str(e.value) == probs[0]
    proc = subprocess.run([sys.executable, "-m", "eostrace", "validate", str(three)], capture_output=True, text=True,
                          cwd=REPO_ROOT / "python")
    assert proc.returncode == 2 and proc.stdout.strip().count("\n") == 0, proc.stdout + proc.stderr


def test_xarray_dims_and_flat_views(c3_file):
    path, seen = c3_file
    ds = eostrace.open_recording(path, data=True)
    assert ds.attrs["n_outputs"] == C
    for name in ("residual", "outputs", "gram_residual", "r_prime", "r_prime_from_start"):
        assert ds[name].dims == ("step", "sample", "output"), name
    assert ds.eigenvectors.dims == ("step", "eigenvector", "sample", "output")
    assert ds.Y.dims == ("sample", "output")
    v = eostrace.flatten_outputs(ds)
    assert v.residual.dims == ("step", "flat_index") and v.residual.shape == (T, N * C)
    assert v.eigenvectors.dims == ("step", "eigenvector", "flat_index")
    # sample-major: flat index i·c + a
    assert np.array_equal(v.residual.values[7], seen["D"][7].reshape(-1))
    assert v.residual.values[7][2 * C + 1] == seen["D"][7][2, 1]
    # ⟨vec(D), v1⟩ from the flat view = the numpy value
    c1 = (v.residual * v.eigenvectors.isel(eigenvector=0)).sum("flat_index").values
    ref = np.einsum("tia,tia->t", ds.residual.values, ds.eigenvectors.values[:, 0])
    assert np.allclose(c1, ref, rtol=1e-14, atol=1e-14)
    # a one-output file is unchanged by the flat view
    assert eostrace.flatten_outputs(ds.sharpness).dims == ("step",)


def test_writer_refuses_flat_rows_with_the_fix(tmp_path):
    X, Y, _, _ = _data()
    with ef.RecordingWriter(tmp_path / "w.h5", learning_rate=0.1, model={"kind": "external", "input_dim": D_IN},
                            X=X, Y=Y, k=2) as w:
        with pytest.raises(ValueError) as e:
            w.append(0, loss=1.0, residual=np.zeros(N * C), output_norm_sq=1.0, sharpness=1.0,
                     eigenvalues=np.array([1.0, 0.5]), eigenvectors=np.eye(2, N * C).reshape(2, N, C), dtf=0.0)
        assert f"pass x.reshape([{N}, {C}])" in str(e.value) and "\n" not in str(e.value)
        w.close("interrupted")
    with pytest.raises(ValueError, match="eigenvectors_stored: storing fewer than k eigenvectors needs several"):
        ef.RecordingWriter(tmp_path / "one.h5", learning_rate=0.1, model={"kind": "external", "input_dim": D_IN},
                           X=X, Y=Y[:, 0], k=2, eigenvectors_stored=1)


def test_one_output_still_writes_1_x(tmp_path):
    """Y [n] or [n, 1]: the 1.x layout (no n_outputs, no output axis), as before format 2.0."""
    X, Y, _, _ = _data()
    for i, y in enumerate((Y[:, 0], Y[:, :1])):
        path = tmp_path / f"one{i}.h5"
        with GDRecorder(path, learning_rate=0.01, model={"kind": "external", "input_dim": D_IN}, X=X, Y=y, k=2) as rec:
            for t in range(3):
                rec.step(t, np.full(y.shape, 0.1 * t), M=(2.0 / N) * (X @ X.T), output_norm_sq=1.0)
        with h5py.File(path, "r") as f:
            assert list(f.attrs["format_version"]) == list(ef.schema().version)
            assert "n_outputs" not in f["run"].attrs and "output" not in f
            assert f["trajectory/residual"].shape == (3, N)
        assert eostrace.validate(path) == []


# ---------------------------------------------------------------------------------------- JAX

@pytest.fixture(scope="module")
def jax_mlp():
    ej = pytest.importorskip("eostrace.jax")
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(3)
    n, d, c = 6, 3, 3
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, c))
    net = ej.MLP(d, [5, 4], "tanh", outputs=c)
    th = jnp.asarray(net.init(seed=4))
    Jac = np.asarray(jax.jacfwd(lambda t: net.apply(t, jnp.asarray(X)).reshape(-1))(th))
    return ej, net, X, Y, th, Jac


def test_jax_mlp_kernels_and_general_path_against_jacfwd(jax_mlp):
    ej, net, X, Y, th, Jac = jax_mlp
    import jax.numpy as jnp
    n, c = Y.shape
    ref = (2.0 / n) * Jac @ Jac.T
    F, M, MA = net.kernels(th, jnp.asarray(X))
    assert np.asarray(F).shape == (n, c)
    assert np.max(np.abs(np.asarray(M) - ref)) <= 1e-10 * np.max(np.abs(ref))
    # M_A from the output-weight columns of J (A is [c, m], row-major, before the bias in θ)
    w0, b0 = net.offsets[-1]
    JA = Jac[:, w0:b0]
    assert np.max(np.abs(np.asarray(MA) - (2.0 / n) * JA @ JA.T)) <= 1e-10 * np.max(np.abs(ref))
    mm = ej.gram_matmat(net.apply, X, th)
    assert np.max(np.abs(mm(np.eye(n * c)) - ref)) <= 1e-10 * np.max(np.abs(ref))
    mm_po = ej.gram_matmat(net.apply, X, th, scale=2.0 / (n * c))
    assert np.max(np.abs(mm_po(np.eye(n * c)) - ref / c)) <= 1e-10 * np.max(np.abs(ref))


def test_jax_c3_recording_validates_and_matches_eigh(jax_mlp, tmp_path, eostrace_bin):
    ej, net, X, Y, th, Jac = jax_mlp
    n, c = Y.shape
    path = tmp_path / "jax-c3.h5"
    ej.train(net, th, X, Y, lr=0.05, steps=6, path=path, k=4, eigenvectors_stored=2, checkpoint_every=0)
    assert eostrace.validate(path) == []
    proc = run_eostrace(eostrace_bin, "validate", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ds = eostrace.open_recording(path)
    assert ds.residual.dims == ("step", "sample", "output") and ds.eigenvectors.shape == (6, 2, n, c)
    w, U = np.linalg.eigh((2.0 / n) * Jac @ Jac.T)
    assert np.allclose(ds.eigenvalues.values[0], w[::-1][:4], rtol=1e-10, atol=0)
    assert abs(abs(ds.eigenvectors.values[0, 0].reshape(-1) @ U[:, -1]) - 1) < 1e-9
    w0, b0 = net.offsets[-1]
    A = np.asarray(th)[w0:b0]
    assert np.isclose(float(ds.output_norm_sq[0]), A @ A, rtol=1e-14)
    JA = Jac[:, w0:b0]
    assert np.isclose(float(ds.output_layer_sharpness[0]), np.linalg.eigvalsh((2.0 / n) * JA @ JA.T)[-1], rtol=1e-10)
    F0 = np.asarray(net.apply(th, X))
    assert np.allclose(ds.residual.values[0], F0 - Y, rtol=0, atol=1e-14)
    assert np.isclose(float(ds.loss[0]), np.sum((F0 - Y) ** 2) / n, rtol=1e-13)


def test_jax_mse_per_output(jax_mlp, tmp_path):
    """PyTorch's MSELoss convention on the MLP path (the general path's scale is checked above):
    L = ‖D‖²/(nc), M = (2/(nc)) J Jᵀ, and the gradient of that L drives the GD step."""
    ej, net, X, Y, th, Jac = jax_mlp
    n, c = Y.shape
    path = tmp_path / "po.h5"
    with ej.JaxRecorder(path, net, th, X, Y, lr=0.1, k=3, loss_convention="mse_per_output", swmr=False,
                        checkpoint_every=0) as rec:
        p = th
        for _ in range(3):
            info = rec.step(p)
            p = p - 0.1 * info["grad"]
    assert eostrace.validate(path) == []
    with h5py.File(path, "r") as f:
        assert f["run"].attrs["loss_convention"] == "mse_per_output"
        lam = f["trajectory/eigenvalues"][0]
        loss = f["trajectory/loss"][:2]
        D = f["trajectory/residual"][:2]
    assert np.allclose(lam, np.linalg.eigvalsh((2.0 / (n * c)) * Jac @ Jac.T)[::-1][:3], rtol=1e-10, atol=0)
    assert np.allclose(loss, np.sum(D ** 2, axis=(1, 2)) / (n * c), rtol=1e-13)
    with h5py.File(path, "r") as f:   # λ_max(M_A) in the convention: (2/(nc)) of the output-weight Gram
        w0, b0 = net.offsets[-1]
        JA = Jac[:, w0:b0]
        assert np.isclose(f["trajectory/output_layer_sharpness"][0],
                          np.linalg.eigvalsh((2.0 / (n * c)) * JA @ JA.T)[-1], rtol=1e-10)
    # first-order GD in this convention: D(1) − D(0) ≈ −η M D(0)
    M = (2.0 / (n * c)) * Jac @ Jac.T
    step = D[1].reshape(-1) - D[0].reshape(-1)
    pred = -0.1 * M @ D[0].reshape(-1)
    assert np.linalg.norm(step - pred) < 0.2 * np.linalg.norm(pred)


def test_multioutput_sample_dense_and_matrix_free(tmp_path, eostrace_bin):
    """samples/python/numpy_gd_multioutput.py: the same run with the dense M and with the
    matrix-free product gives the same recording (eigenvalues to 1e-10), valid for both validators,
    and it crosses 2/η."""
    script = REPO_ROOT / "samples" / "python" / "numpy_gd_multioutput.py"
    out = {}
    for mode in ("dense", "matrix-free"):
        path = tmp_path / f"{mode}.h5"
        args = [sys.executable, str(script), str(path), "--store", "2", "--steps", "60"]
        proc = subprocess.run(args + (["--matrix-free"] if mode == "matrix-free" else []), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out[mode] = json.loads(proc.stdout)
        assert eostrace.validate(path) == []
        v = run_eostrace(eostrace_bin, "validate", path)
        assert v.returncode == 0, v.stdout + v.stderr
    assert out["dense"]["steps_above_2_over_eta"] >= 1
    with h5py.File(tmp_path / "dense.h5", "r") as a, h5py.File(tmp_path / "matrix-free.h5", "r") as b:
        assert list(a.attrs["format_version"]) == [2, 0] and int(a["run"].attrs["n_outputs"]) == 4
        la, lb = a["trajectory/eigenvalues"][:], b["trajectory/eigenvalues"][:]
        assert np.allclose(la, lb, rtol=1e-10, atol=0)
        assert np.array_equal(a["trajectory/residual"][:], b["trajectory/residual"][:])
        X, Y = a["data/X"][:], a["data/Y"][:]
        assert Y.shape == (40, 4) and X.shape == (40, 6)
    # the figure script reads a 2.0 file on vec(D): c1 = ⟨vec(D), v_1⟩, ‖R‖² = ‖D‖² − c1²
    figs = tmp_path / "figs"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "samples" / "python" / "plot_figures.py"),
                           str(tmp_path / "dense.h5"), str(figs)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert all((figs / f"figure{i}.png").stat().st_size > 1000 for i in (1, 2, 3))


def test_jax_c3_matches_swift_recording(tmp_path, eostrace_bin):
    """The Swift recorder (`record` on users' npy Y [n, 3], an MLP) and the JAX adapter from the
    same θ(0) (both paths): the same residuals, eigenvalues, v_1, M-products, ‖A‖_F², λ_max(M_A)
    and Hessian sharpness over the first steps; and the Python validator accepts the Swift file."""
    ej = pytest.importorskip("eostrace.jax")
    import jax.numpy as jnp
    rng = np.random.default_rng(0)
    x, y = tmp_path / "X.npy", tmp_path / "Y.npy"
    np.save(x, rng.standard_normal((12, 5)))
    np.save(y, rng.standard_normal((12, 3)))
    cfg = {"data": {"kind": "npy", "x": str(x), "y": str(y)},
           "model": {"kind": "mlp", "input_dim": 5, "widths": [6], "activation": "tanh"},
           "learning_rate": 0.05, "steps": 6, "k": 3, "checkpoint_every": 100, "hessian_every": 3}
    (tmp_path / "run.json").write_text(json.dumps(cfg))
    sw_path = tmp_path / "swift.h5"
    run_eostrace(eostrace_bin, "record", "--config", tmp_path / "run.json", "--eigenvectors", 2, "-o", sw_path,
                 "--quiet", check=True)
    assert eostrace.validate(sw_path) == []
    names = ("residual", "eigenvalues", "gram_residual", "r_prime", "r_prime_from_start", "output_norm_sq",
             "output_layer_sharpness", "dtf", "loss")
    with h5py.File(sw_path, "r") as f:
        assert int(f["run"].attrs["n_outputs"]) == 3 and list(f.attrs["format_version"]) == [2, 0]
        X, Y, th0 = f["data/X"][:], f["data/Y"][:], f["trajectory/parameters"][0]
        model, eta = json.loads(f["run"].attrs["model"]), float(f["run"].attrs["learning_rate"])
        sw = {k: f["trajectory/" + k][:] for k in names + ("eigenvectors", "hessian_sharpness")}
    net = ej.MLP.from_description(model, outputs=3)
    for general in (False, True):
        path = tmp_path / f"jax{int(general)}.h5"
        kw = dict(output_layer=net.output_weights) if general else {}
        ej.train(net.apply if general else net, jnp.asarray(th0), X, Y, eta, 7, path, k=3, eigenvectors_stored=2,
                 tol=1e-12, checkpoint_every=0, hessian_every=3, swmr=False, **kw)
        with h5py.File(path, "r") as f:
            for k in names:
                a, b = f["trajectory/" + k][:], sw[k]
                assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b)), (general, k)
            V = f["trajectory/eigenvectors"][:]
            assert np.all(np.einsum("tia,tia->t", V[:, 0], sw["eigenvectors"][:, 0]) > 1 - 1e-9), general
            hj, hs = f["trajectory/hessian_sharpness"][:], sw["hessian_sharpness"]
            assert len(hs) >= 1 and len(hj) >= len(hs)
            assert np.allclose(hj[:len(hs)], hs, rtol=1e-8, atol=0), (hj, hs)


def test_swift_c10_dense_recording_in_python(tmp_path, eostrace_bin):
    """A Swift c = 10 recording (Fashion-MNIST, 10 classes one-hot, dense path: spectrum and gram
    over flat_index) passes the Python validator, opens with the 2.0 dims, and the JAX MLP's exact
    kernels at a checkpoint reproduce the stored gram (1e-12) and eigh the stored spectrum."""
    ej = pytest.importorskip("eostrace.jax")
    import jax.numpy as jnp
    cfg = {"data": {"kind": "fashion-mnist", "n": 30, "classes": list(range(10)), "targets": "onehot", "seed": 1},
           "model": {"kind": "mlp", "input_dim": 784, "widths": [8], "activation": "tanh", "bias": True},
           "learning_rate": 0.1, "steps": 6, "k": 4, "spectrum_every": 5, "checkpoint_every": 5, "gram_every": 5}
    (tmp_path / "c10.json").write_text(json.dumps(cfg))
    path = tmp_path / "c10.h5"
    run_eostrace(eostrace_bin, "record", "--config", tmp_path / "c10.json", "--eigenvectors", 2, "-o", path,
                 "--quiet", check=True, timeout=300)
    assert eostrace.validate(path) == []
    ds = eostrace.open_recording(path)
    assert ds.residual.dims == ("step", "sample", "output") and ds.residual.shape[1:] == (30, 10)
    assert ds.spectrum.dims == ("spectrum_step", "flat_index") and ds.gram.dims == ("gram_step", "flat_index",
                                                                                      "flat_index_j")
    with h5py.File(path, "r") as f:
        X, t = f["data/X"][:], f["trajectory"]
        net = ej.MLP.from_description(json.loads(f["run"].attrs["model"]), outputs=10)
        s = int(t["checkpoint_step"][1])
        theta = t["parameters"][1]
        gram = t["gram"][list(t["gram_step"][:]).index(s)]
        spec = t["spectrum"][list(t["spectrum_step"][:]).index(s)]
    _, M, _ = net.kernels(jnp.asarray(theta), jnp.asarray(X))
    M = np.asarray(M)
    assert np.max(np.abs(M - gram)) <= 1e-12 * np.max(np.abs(M))
    assert np.max(np.abs(np.linalg.eigvalsh(M)[::-1] - spec)) <= 1e-10 * spec[0]


def test_fashion_mnist_onehot_and_pm1_targets():
    from eostrace.data import DEFAULT_DIRECTORY, fashion_mnist, read_idx
    import os
    labels = read_idx(os.path.join(os.environ.get("EOSTRACE_FASHION_MNIST", DEFAULT_DIRECTORY),
                                   "train-labels-idx1-ubyte.gz"))
    classes = [0, 3, 9]
    X, Y = fashion_mnist(32, classes, targets="onehot", seed=5, center=False)
    assert X.shape == (32, 784) and Y.shape == (32, 3)
    assert np.array_equal(Y.sum(axis=1), np.ones(32)) and set(np.unique(Y)) == {0.0, 1.0}
    assert list(Y.sum(axis=0)) == [11, 11, 10]                      # balanced, remainder first
    X2, Y2 = fashion_mnist(32, classes, targets="pm1", seed=5, center=False)
    assert np.array_equal(X2, X) and np.array_equal(Y2, 2 * Y - 1)
    # each row's class is a real label of that image: find the images in the file
    images = read_idx(os.path.join(os.environ.get("EOSTRACE_FASHION_MNIST", DEFAULT_DIRECTORY),
                             "train-images-idx3-ubyte.gz")).reshape(-1, 784)
    for i in range(0, 32, 7):
        idx = np.nonzero(np.all(images == np.round(X[i] * 255).astype(np.uint8), axis=1))[0]
        assert any(labels[j] == classes[int(np.argmax(Y[i]))] for j in idx), i
    with pytest.raises(ValueError, match="need targets='onehot' or 'pm1'"):
        fashion_mnist(30, range(10))

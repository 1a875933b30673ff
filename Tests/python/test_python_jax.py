"""The JAX adapter against the Swift recorder: the same MLP from the same θ(0), X and Y gives the
same eigenvalues, eigenvectors (where the gap is clear), residuals and, when both sides record
them, M-products, over the first 20 steps — on the general (jvp/vjp) path and on the MLP
per-layer-kernel path; the Swift replay (`analyze`) of a JAX MLP recording; a small JAX CNN.

Needs jax (scripts/install-deps.sh installs the CPU wheels) and the eostrace binary.
"""

from __future__ import annotations

import json
import time

import h5py
import numpy as np
import pytest

import eostrace as et
from eostrace import format as ef

import jax  # scripts/install-deps.sh installs it (CPU wheels); missing → the tests fail, never skip
import jax.numpy as jnp

import eostrace.jax as ej  # noqa: E402

STEPS = 20
PRODUCTS = ("gram_residual", "r_prime", "r_prime_from_start")


@pytest.fixture(scope="module")
def swift_run(tmp_path_factory, eostrace):
    out = tmp_path_factory.mktemp("swiftjax") / "swift.h5"
    eostrace("record", "--preset", "fmnist-tanh", "--n", 100, "--steps", STEPS, "--k", 4, "--lr", 0.05,
             "--eigen-tolerance", 1e-13, "--checkpoint-every", 100, "--cross-check-every", 5, "-o", out,
             "--quiet", check=True, timeout=300)
    with h5py.File(out, "r") as f:
        run = {k: f["trajectory/" + k][:] for k in f["trajectory"] if f["trajectory/" + k].ndim >= 1}
        run["X"] = f["data/X"][:]
        run["Y"] = f["data/Y"][:]
        run["eta"] = float(f["run"].attrs["learning_rate"])
        run["model"] = json.loads(f["run"].attrs["model"])
        run["theta0"] = f["trajectory/parameters"][0]
        assert f["trajectory/checkpoint_step"][0] == 0
    return out, run


def _record(path, run, general: bool):
    net = ej.MLP.from_description(run["model"])
    theta0 = jnp.asarray(run["theta0"])
    model = net.apply if general else net
    kw = dict(output_layer=net.output_weights) if general else {}
    ej.train(model, theta0, run["X"], run["Y"], run["eta"], STEPS + 1, path, k=4, tol=1e-12, **kw)
    with h5py.File(path, "r") as f:
        return {k: f["trajectory/" + k][:] for k in f["trajectory"]}


def _relmax(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("path_kind", ["mlp", "general"])
def test_jax_matches_swift_recording(swift_run, tmp_path, path_kind):
    swift_path, run = swift_run
    lam_s = run["eigenvalues"]
    # before the first crossing of 2/η (the comparison is between two independent float64 replays)
    assert np.all(lam_s[:, 0] < 2 / run["eta"])
    got = _record(tmp_path / f"{path_kind}.h5", run, general=(path_kind == "general"))
    assert np.array_equal(got["step"], run["step"])
    for t in range(STEPS + 1):
        assert np.max(np.abs(got["eigenvalues"][t] - lam_s[t]) / lam_s[t]) <= 1e-10, t
    assert _relmax(got["residual"], run["residual"]) <= 1e-10
    assert _relmax(got["output_norm_sq"], run["output_norm_sq"]) <= 1e-10
    assert _relmax(got["output_layer_sharpness"], run["output_layer_sharpness"]) <= 1e-10
    assert _relmax(got["grad_norm"], run["grad_norm"]) <= 1e-10
    assert _relmax(got["dtf"], run["dtf"]) <= 1e-9
    # eigenvectors where the gap is clear, same sign convention → same vectors
    compared = 0
    for t in range(STEPS + 1):
        lam = lam_s[t]
        for i in range(lam.shape[0]):
            gap = min(lam[i - 1] - lam[i] if i > 0 else np.inf, lam[i] - lam[i + 1] if i + 1 < lam.shape[0] else np.inf)
            if i + 1 == lam.shape[0] or gap < 1e-2 * lam[0]:
                continue  # the last recorded pair has no known gap below it
            err = np.max(np.abs(got["eigenvectors"][t, i] - run["eigenvectors"][t, i]))
            assert err <= 1e-8 * lam[0] / gap, (t, i, err)
            compared += 1
    assert compared >= STEPS
    # the M-products, when both writers have them (format 1.1)
    swift_has = [p for p in PRODUCTS if p in run]
    if ef.schema_has("gram_residual"):
        assert swift_has == list(PRODUCTS), "the Swift recorder writes the format 1.1 M-products"
        for p in PRODUCTS:
            assert p in got
            num = np.linalg.norm(got[p] - run[p], axis=1)
            den = np.maximum(np.linalg.norm(run[p], axis=1), 1e-300)
            assert np.all(num <= 1e-10 * den + 1e-12), (p, float(np.max(num / den)))


def test_mlp_kernels_equal_the_jacobian_gram(swift_run):
    _, run = swift_run
    net = ej.MLP.from_description(run["model"])
    theta = jnp.asarray(run["theta0"])
    X = jnp.asarray(run["X"])
    F, M, MA = net.kernels(theta, X)
    J = jax.jacrev(lambda th: net.apply(th, X))(theta)
    n = X.shape[0]
    M_ref = 2.0 / n * np.asarray(J @ J.T)
    assert np.max(np.abs(np.asarray(M) - M_ref)) <= 1e-12 * np.max(np.abs(M_ref))
    a0, a1 = net.offsets[-1][0], net.offsets[-1][0] + net.sizes[-2]
    MA_ref = 2.0 / n * np.asarray(J[:, a0:a1] @ J[:, a0:a1].T)
    assert np.max(np.abs(np.asarray(MA) - MA_ref)) <= 1e-12 * np.max(np.abs(MA_ref))
    assert np.allclose(np.asarray(F), np.asarray(net.apply(theta, X)), rtol=0, atol=1e-13)
    # general path: (2/n) J Jᵀ V from batched vjp/jvp
    V = np.random.default_rng(0).standard_normal((n, 5))
    MV = ej.gram_matmat(net.apply, X, theta)(V)
    assert np.max(np.abs(MV - M_ref @ V)) <= 1e-12 * np.max(np.abs(M_ref @ V))


def test_hessian_sharpness_by_lanczos_matches_dense_hessian():
    net = ej.MLP(input_dim=5, widths=[6], activation="tanh")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 5))
    Y = rng.standard_normal(12)
    theta = jnp.asarray(net.init(seed=3))
    H = jax.hessian(lambda th: jnp.mean((net.apply(th, jnp.asarray(X)) - jnp.asarray(Y)) ** 2))(theta)
    ref = np.linalg.eigvalsh(np.asarray(H))[-1]
    val, vec, m = ej.hessian_sharpness(net.apply, X, Y, theta, tol=1e-13, maxiter=net.n_parameters)
    assert abs(val - ref) <= 1e-9 * abs(ref)


def test_swift_replays_a_jax_mlp_recording(swift_run, tmp_path, eostrace):
    _, run = swift_run
    path = tmp_path / "jax-mlp.h5"
    net = ej.MLP.from_description(run["model"])
    ej.train(net, jnp.asarray(run["theta0"]), run["X"], run["Y"], run["eta"], 12, path, k=2, checkpoint_every=5)
    with h5py.File(path, "r") as f:
        assert json.loads(f["run"].attrs["model"])["kind"] == "mlp"
        assert f["run"].attrs["n_parameters"] == net.n_parameters
        assert list(f["trajectory/checkpoint_step"][:]) == [0, 5, 10, 11]
    assert eostrace("validate", path).returncode == 0
    proc = eostrace("analyze", path, "--json", "--gram", "replay", check=True)
    gram = json.loads(proc.stdout)["gram"]
    assert gram["source"] in ("exact", "replay_within_tolerance") and gram["replay"]["within_tolerance"] is True
    assert gram["replay"]["max_relative_drift_residual"] <= 1e-12


# ---------------------------------------------------------------- a small CNN (Cohen et al.'s `cnn`)

def cnn_data(n=100, side=7):
    from eostrace.data import fashion_mnist
    X, Y = fashion_mnist(n, classes=(0, 6), seed=1, flatten=False)
    f = 28 // side
    X = X.reshape(n, side, f, side, f).mean(axis=(2, 4))[..., None]
    return X / X.std(), Y


def cnn_init(seed, side=7):
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    he = lambda key, shape, fan: jax.random.normal(key, shape) * np.sqrt(1.0 / fan)  # noqa: E731
    s = side - 4  # two VALID 3×3 convolutions
    return {"c1": {"w": he(k[0], (3, 3, 1, 32), 9), "b": jnp.zeros(32)},
            "c2": {"w": he(k[1], (3, 3, 32, 32), 288), "b": jnp.zeros(32)},
            "out": {"w": he(k[2], (s * s * 32,), s * s * 32), "b": jnp.zeros(())}}


def cnn_apply(p, X):
    dn = ("NHWC", "HWIO", "NHWC")
    h = jnp.tanh(jax.lax.conv_general_dilated(X, p["c1"]["w"], (1, 1), "VALID", dimension_numbers=dn) + p["c1"]["b"])
    h = jnp.tanh(jax.lax.conv_general_dilated(h, p["c2"]["w"], (1, 1), "VALID", dimension_numbers=dn) + p["c2"]["b"])
    return h.reshape(h.shape[0], -1) @ p["out"]["w"] + p["out"]["b"]


def test_small_cnn_recording_validates_and_cycles(tmp_path, eostrace):
    """Two 3×3 convolutions of 32 channels (ReLU, VALID) and a dense output, on n = 100 two-class
    Fashion-MNIST images downsampled to 7×7, full-batch GD with η = 3/Λ(0): a catapult at the
    start, progressive sharpening back to 2/η, then cycles. Recorded on the general (jvp/vjp) path
    within 3 minutes, valid for `eostrace validate`, and `eostrace analyze` finds ≥ 3 complete
    cycles (exact from the recorded M-products once analyze reads them)."""
    X, Y = cnn_data()
    params = cnn_init(0)
    lam0 = top_eigenpairs_general(params, X)
    eta = 3.0 / lam0
    path = tmp_path / "cnn.h5"
    t0 = time.time()
    ej.train(cnn_relu_apply, params, X, Y, eta, 250, path, k=2, tol=1e-7,
             output_layer=lambda p: p["out"]["w"], output_layer_sharpness=False)
    elapsed = time.time() - t0
    assert elapsed < 180, f"CNN recording took {elapsed:.0f} s"
    assert et.validate(path) == []
    assert eostrace("validate", path).returncode == 0
    proc = eostrace("analyze", path, "--json", check=True, timeout=300)
    res = json.loads(proc.stdout)
    assert res["phases"]["complete_cycles"] >= 3, res["phases"]["cycle_text"]
    with h5py.File(path, "r") as f:
        assert f["trajectory/step"].shape[0] == 250
        has_products = "gram_residual" in f["trajectory"]
    if has_products and "--verify-replay" in eostrace("analyze", "--help").stdout:
        # an analyzer that reads the format 1.1 products: exact from the file alone
        assert res["gram"]["source"] == "recorded_products", res["gram"]
        assert "exact" in eostrace("analyze", path, timeout=300).stdout


def cnn_relu_apply(p, X):
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.nn.relu(jax.lax.conv_general_dilated(X, p["c1"]["w"], (1, 1), "VALID", dimension_numbers=dn)
                    + p["c1"]["b"])
    h = jax.nn.relu(jax.lax.conv_general_dilated(h, p["c2"]["w"], (1, 1), "VALID", dimension_numbers=dn)
                    + p["c2"]["b"])
    return h.reshape(h.shape[0], -1) @ p["out"]["w"] + p["out"]["b"]


def top_eigenpairs_general(params, X):
    from eostrace.linalg import top_eigenpairs
    return float(top_eigenpairs(ej.gram_matmat(cnn_relu_apply, X, params), X.shape[0], 1).values[0])


def test_jax_quickstart_sample(tmp_path, repo_root, eostrace):
    import subprocess
    import sys
    out = tmp_path / "quick.h5"
    script = repo_root / "samples" / "python" / "jax_quickstart.py"
    proc = subprocess.run([sys.executable, str(script), str(out), "--n", "60", "--widths", "8,8", "--steps", "30",
                           "--k", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert eostrace("validate", out).returncode == 0
    with h5py.File(out, "r") as f:
        assert f["trajectory/step"].shape == (30,)
        assert json.loads(f["run"].attrs["model"])["widths"] == [8, 8]


def test_recorder_hessian_sharpness_and_checkpoints(tmp_path):
    """hessian_every: λ_max(∇²L) at the recorded steps equals a dense jax.hessian; the MLP
    checkpoints are θ(t) in eostrace's layout (replaying the recorded GD from them)."""
    net = ej.MLP(input_dim=4, widths=[5], activation="tanh")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((10, 4))
    Y = rng.standard_normal(10)
    theta = jnp.asarray(net.init(seed=1))
    path = tmp_path / "hess.h5"
    ej.train(net, theta, X, Y, 0.1, 7, path, k=3, hessian_every=3, checkpoint_every=2)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    loss = lambda th: jnp.mean((net.apply(th, Xj) - Yj) ** 2)  # noqa: E731
    with h5py.File(path, "r") as f:
        assert list(f["trajectory/hessian_step"][:]) == [0, 3, 6]
        assert list(f["trajectory/checkpoint_step"][:]) == [0, 2, 4, 6]
        ck = dict(zip(f["trajectory/checkpoint_step"][:], f["trajectory/parameters"][:]))
        hs = dict(zip(f["trajectory/hessian_step"][:], f["trajectory/hessian_sharpness"][:]))
        D = f["trajectory/residual"][:]
    th = theta
    for t in range(7):
        if t in ck:
            assert np.max(np.abs(np.asarray(th) - ck[t])) <= 1e-14 * np.max(np.abs(ck[t]))
        if t in hs:
            ref = np.linalg.eigvalsh(np.asarray(jax.hessian(loss)(th)))[-1]
            assert abs(hs[t] - ref) <= 1e-9 * abs(ref), t
        assert np.max(np.abs(np.asarray(net.apply(th, Xj)) - Y - D[t])) <= 1e-13
        th = th - 0.1 * jax.grad(loss)(th)
    assert et.validate(path) == []

"""The sample scripts in samples/python run on small recordings and their outputs are checked
against independent answers: the Swift reader (`eostrace dump`), the Swift analyzer
(`eostrace analyze`), finite differences and the recorded model itself.

Recordings used: a fresh `eostrace record --preset linear-synthetic` run (real network, 60
steps), samples/synthetic-small.h5, and the run written by numpy_gd_two_layer_linear.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import REPO_ROOT, dump_json

import eostrace_format as ef

SAMPLES = REPO_ROOT / "samples" / "python"
sys.path.insert(0, str(SAMPLES))

import numpy_gd_two_layer_linear as npgd  # noqa: E402
import plot_figures  # noqa: E402


def run_script(name: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(SAMPLES / name), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def dump(eostrace, path, obj):
    return np.array(dump_json(eostrace, path, obj)["data"])


# ----------------------------------------------------------------------------------------
# Recordings
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linear_run(tmp_path_factory, eostrace) -> Path:
    """A real two-layer linear run recorded by the Swift recorder (61 steps, checkpoints and
    spectra every 20 steps, Λ crosses 2/η at step 50)."""
    out = tmp_path_factory.mktemp("rec") / "linear.h5"
    eostrace("record", "--preset", "linear-synthetic", "--steps", 60, "--n", 60,
             "--checkpoint-every", 20, "--spectrum-every", 20, "--hessian-every", 0,
             "--quiet", "-o", out, check=True)
    assert out.is_file()
    return out


@pytest.fixture(scope="module")
def sample_file() -> Path:
    path = REPO_ROOT / "samples" / "synthetic-small.h5"
    assert path.is_file(), f"{path} missing"
    return path


NUMPY_STEPS = 120


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("np") / "numpy-gd.h5"
    proc = run_script("numpy_gd_two_layer_linear.py", out, "--steps", NUMPY_STEPS)
    summary = json.loads(proc.stdout)
    assert out.is_file()
    return out, summary


# ----------------------------------------------------------------------------------------
# 3. numpy GD recorder
# ----------------------------------------------------------------------------------------

def _small_model(seed=3, n=6, d=4, m=5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, d)), rng.standard_normal(m), rng.standard_normal((n, d))


def test_numpy_gram_closed_form_equals_finite_difference_jacobian():
    W, A, X = _small_model()
    n, d = X.shape
    m = A.shape[0]
    theta = np.concatenate([W.ravel(), A])

    def F(th):
        return npgd.forward(th[:m * d].reshape(m, d), th[m * d:], X)

    # F is linear in each single coordinate of θ: central differences are exact up to round-off
    h = 1e-3
    J = np.empty((n, theta.size))
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        J[:, j] = (F(theta + e) - F(theta - e)) / (2 * h)
    np.testing.assert_allclose(npgd.jacobian(W, A, X), J, rtol=0, atol=1e-11)
    M, MA = npgd.gram(W, A, X)
    M_fd = (2.0 / n) * J @ J.T
    JA = J[:, m * d:]
    MA_fd = (2.0 / n) * JA @ JA.T
    scale = np.abs(M_fd).max()
    assert np.abs(M - M_fd).max() <= 1e-11 * scale
    assert np.abs(MA - MA_fd).max() <= 1e-11 * scale
    assert np.array_equal(M, M.T)
    # the closed form of README, What it computes with X as n×d rows: (2/(mn)) (‖A‖² X Xᵀ + X Wᵀ W Xᵀ)
    closed = (2.0 / (m * n)) * ((A @ A) * X @ X.T + X @ W.T @ W @ X.T)
    np.testing.assert_allclose(M, closed, rtol=1e-13, atol=1e-14 * scale)


def test_numpy_gradient_equals_jacobian_transpose_residual():
    W, A, X = _small_model(seed=5)
    n, d = X.shape
    m = A.shape[0]
    Y = np.linspace(-1, 1, n)
    D = npgd.forward(W, A, X) - Y
    XtD = X.T @ D
    gA = (2.0 / (n * np.sqrt(m))) * (W @ XtD)
    gW = (2.0 / (n * np.sqrt(m))) * np.outer(A, XtD)
    g = (2.0 / n) * npgd.jacobian(W, A, X).T @ D  # ∇L = (2/n) Jᵀ D
    np.testing.assert_allclose(np.concatenate([gW.ravel(), gA]), g, rtol=1e-12, atol=1e-14)


def test_numpy_run_reaches_edge_of_stability(numpy_run):
    path, s = numpy_run
    assert s["status"] == "completed" and s["steps"] == NUMPY_STEPS
    assert s["initial_sharpness"] < s["threshold"] < s["max_sharpness"], s
    assert s["runs_above_threshold"] >= 1
    assert s["seconds"] < 10
    with h5py.File(path, "r") as f:
        loss = f["trajectory/loss"][()]
        sharp = f["trajectory/sharpness"][()]
    # the loss rises while Λ > 2/η (the EOS oscillation), and Λ ends below 2/η again
    assert np.any(np.diff(loss) > 0)
    assert sharp[-1] < s["threshold"]


def test_numpy_run_validates(numpy_run, eostrace):
    path, _ = numpy_run
    proc = eostrace("validate", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ef.validate(path) == []


def test_numpy_run_series_match_its_own_checkpoints(numpy_run):
    """Independent of the writer's loop: rebuild θ at each checkpoint, recompute F, D, loss,
    ‖A‖² and the eigenvalues of (2/n) J Jᵀ from the analytic Jacobian, and check the eigenvector
    sign convention of docs/FORMAT.md."""
    path, s = numpy_run
    with h5py.File(path, "r") as f:
        X, Y = f["data/X"][()], f["data/Y"][()]
        step = f["trajectory/step"][()]
        ck, P = f["trajectory/checkpoint_step"][()], f["trajectory/parameters"][()]
        res, ev = f["trajectory/residual"][()], f["trajectory/eigenvalues"][()]
        V, a2 = f["trajectory/eigenvectors"][()], f["trajectory/output_norm_sq"][()]
        loss = f["trajectory/loss"][()]
        model = json.loads(f["run"].attrs["model"])
    assert model == {"kind": "two_layer_linear", "input_dim": s["d"], "width": s["m"]}
    n, d = X.shape
    m = s["m"]
    assert P.shape == (len(ck), m * d + m) and list(ck) == list(range(0, NUMPY_STEPS, 25))
    for c, theta in zip(ck, P):
        row = int(np.searchsorted(step, c))
        W, A = theta[:m * d].reshape(m, d), theta[m * d:]
        D = npgd.forward(W, A, X) - Y
        assert np.linalg.norm(D - res[row]) <= 1e-12 * np.linalg.norm(D)
        assert abs(D @ D / n - loss[row]) <= 1e-12 * loss[row]
        assert abs(A @ A - a2[row]) <= 1e-13 * a2[row]
        J = npgd.jacobian(W, A, X)
        lam = np.linalg.eigvalsh((2.0 / n) * J @ J.T)[::-1][:ev.shape[1]]
        np.testing.assert_allclose(ev[row], lam, rtol=1e-10)
    # signs: largest-magnitude entry of v_i(0) positive, then continuity
    v0 = V[0]
    assert np.all(v0[np.arange(v0.shape[0]), np.argmax(np.abs(v0), axis=1)] > 0)
    assert np.all(np.einsum("tki,tki->tk", V[:-1], V[1:]) >= 0)
    # unit eigenvectors of the recorded Gram
    np.testing.assert_allclose(np.linalg.norm(V, axis=2), 1.0, rtol=1e-12)


def test_numpy_run_analyzes_with_exact_replay(numpy_run, eostrace):
    path, s = numpy_run
    proc = eostrace("analyze", path, "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    gram = res["gram"]
    # M(t) came from replaying GD in Swift from the numpy checkpoints ...
    assert gram["source"] == "replay_within_tolerance" and not gram["approximate"], gram
    assert gram["rows_top_k_fallback"] == 0
    rep = gram["replay"]
    assert rep["checkpoints"] == len(range(0, NUMPY_STEPS, 25))
    assert rep["within_tolerance"] is True
    # ... and the replayed D(t), θ(t) agree with the numpy trajectory (docs/ANALYSIS.md §8: 1e-9 relative)
    assert rep["max_relative_drift_residual"] <= 1e-9, rep
    assert rep["max_relative_drift_checkpoint"] <= 1e-12, rep
    # the exact two-layer-linear update D(t+1) = (I − ηM*)D(t) holds to round-off
    ex = res["checks"]["exact_update"]["relative_to_residual"]
    assert ex["count"] == NUMPY_STEPS - 1 and ex["max"] <= 1e-12, ex
    assert res["run"]["model_kind"] == "two_layer_linear"
    assert res["run"]["rows"] == NUMPY_STEPS and res["run"]["learning_rate"] == s["eta"]
    # at least one complete EOS cycle
    assert res["phases"]["complete_cycles"] >= 1
    assert res["phases"]["rows"]["phase2"] >= 5


# ----------------------------------------------------------------------------------------
# 1. plot_figures.py
# ----------------------------------------------------------------------------------------

def _check_pngs(summary, outdir):
    names = sorted(Path(p).name for p in summary["figures"])
    assert names == ["figure1.png", "figure2.png", "figure3.png"]
    for name in names:
        data = (outdir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name


@pytest.mark.parametrize("which", ["linear_run", "sample_file", "numpy_run"])
def test_plot_figures_values_match_swift_reader(which, request, eostrace, tmp_path):
    path = request.getfixturevalue(which)
    if which == "numpy_run":
        path = path[0]
    proc = run_script("plot_figures.py", path, tmp_path)
    s = json.loads(proc.stdout)
    _check_pngs(s, tmp_path)
    step = dump(eostrace, path, "step")
    loss = dump(eostrace, path, "loss")
    sharp = dump(eostrace, path, "sharpness")
    a2 = dump(eostrace, path, "output_norm_sq")
    ev = dump(eostrace, path, "eigenvalues")
    eta = dump_json(eostrace, path, "/run@learning_rate")["data"]
    eta = eta[0] if isinstance(eta, list) else eta
    assert s["steps"] == len(step) and s["first_step"] == step[0] and s["last_step"] == step[-1]
    assert s["learning_rate"] == eta
    assert s["first_loss"] == loss[0] and s["last_loss"] == loss[-1]
    assert s["max_sharpness"] == sharp.max() and s["max_sharpness_step"] == step[np.argmax(sharp)]
    assert s["first_output_norm_sq"] == a2[0] and s["last_output_norm_sq"] == a2[-1]
    assert s["last_eigenvalues"] == list(ev[-1])
    assert s["steps_above_threshold"] == int(np.sum(sharp > 2 / eta))
    assert s["phase_source"].startswith("computed")
    # c1 and ‖R‖² from the Swift-read residual and v1
    D = dump(eostrace, path, "residual")[-1]
    v1 = dump(eostrace, path, "eigenvectors")[-1][0]
    c1 = D @ v1
    assert abs(s["last_c1"] - c1) <= 1e-12 * np.linalg.norm(D)
    np.testing.assert_allclose(s["last_r_norm_sq"], np.sum((D - c1 * v1) ** 2), rtol=1e-10)


@pytest.mark.parametrize("which", ["linear_run", "sample_file", "numpy_run"])
def test_plot_figures_phases_and_anomalies_equal_swift_analyzer(which, request, eostrace, eostrace_bin, tmp_path):
    """The script's own phase and anomaly code against `eostrace analyze --out`, row by row."""
    path = request.getfixturevalue(which)
    if which == "numpy_run":
        path = path[0]
    an = tmp_path / "analysis.h5"
    eostrace("analyze", path, "--out", an, "--quiet", check=True)
    with h5py.File(an, "r") as f:
        swift_phase, swift_anom = f["analysis/phase"][()], f["analysis/anomaly"][()]
    r = plot_figures.read_recording(path)
    phase, runs = plot_figures.segment_phases(r["sharpness"], r["loss"], r["learning_rate"])
    anom = plot_figures.anomaly_points(r["step"], r["sharpness"], r["output_norm_sq"])
    assert np.array_equal(phase, swift_phase)
    assert np.array_equal(anom, swift_anom)
    # there is something to compare: a run above 2/η (Swift recordings) or anomalies (the sample)
    assert (runs >= 1 and set(np.unique(phase)) >= {1, 2}) or anom.sum() > 0


def test_plot_figures_reads_phases_from_analysis_file_or_binary(numpy_run, eostrace, eostrace_bin, tmp_path):
    """The script's other two phase sources (--analysis FILE, --eostrace BIN) agree with the
    Swift analyzer's /analysis group."""
    path = numpy_run[0]
    an = tmp_path / "analysis.h5"
    eostrace("analyze", path, "--out", an, "--quiet", check=True)
    with h5py.File(an, "r") as f:
        swift_phase, swift_anom = f["analysis/phase"][()], f["analysis/anomaly"][()]
    want = {str(p): int(np.sum(swift_phase == p)) for p in (1, 2, 3, 4)}
    assert want["2"] > 0
    for args, src in ((("--analysis", an), "analysis file"), (("--eostrace", eostrace_bin), "eostrace analyze")):
        s = json.loads(run_script("plot_figures.py", path, tmp_path / src.split()[0], *args).stdout)
        assert s["phase_source"] == src
        assert s["phase_rows"] == want and s["anomalies"] == int(swift_anom.sum())
        _check_pngs(s, tmp_path / src.split()[0])


def test_sample_file_has_anomalies_to_compare(sample_file):
    """The anomaly comparison above is not vacuous on at least one recording."""
    r = plot_figures.read_recording(sample_file)
    assert plot_figures.anomaly_points(r["step"], r["sharpness"], r["output_norm_sq"]).sum() > 0


def test_plot_figures_refuses_a_mismatched_analysis(linear_run, sample_file, eostrace, tmp_path):
    an = tmp_path / "other.h5"
    eostrace("analyze", sample_file, "--out", an, "--quiet", check=True)
    proc = subprocess.run([sys.executable, str(SAMPLES / "plot_figures.py"), str(linear_run), str(tmp_path / "x"),
                           "--analysis", str(an)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "/analysis/step" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------------------
# 2. open_with_xarray.py
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["linear_run", "sample_file", "numpy_run"])
def test_open_with_xarray_named_dims_and_values(which, request, eostrace):
    path = request.getfixturevalue(which)
    if which == "numpy_run":
        path = path[0]
    step = dump(eostrace, path, "step")
    ck = dump(eostrace, path, "checkpoint_step")
    # a step between two checkpoints, so that the ffill selection is exercised
    sel = int(ck[1]) + 3
    if which == "sample_file":  # the human-readable mode once, on the file with every cadence
        text = run_script("open_with_xarray.py", path).stdout
        assert "phony_dim" not in text and "Dimensions:" in text and "spectrum_step" in text
    out = json.loads(run_script("open_with_xarray.py", path, "--step", sel, "--json").stdout)
    assert not any(dim.startswith("phony_dim") for dim in out["dims"])
    assert out["variables"]["eigenvectors"] == ["step", "eig", "sample"]
    assert out["variables"]["residual"] == ["step", "sample"]
    assert out["variables"]["parameters"] == ["checkpoint_step", "parameter"]
    assert {"step", "checkpoint_step"} <= set(out["coordinates"])
    ev = dump(eostrace, path, "eigenvalues")
    assert out["dims"]["step"] == len(step) and out["dims"]["eig"] == ev.shape[1]
    row = int(np.searchsorted(step, sel))
    assert step[row] == sel
    assert out["sharpness_at_step"] == dump(eostrace, path, "sharpness")[row]
    loss = dump(eostrace, path, "loss")
    assert out["loss_at_step"] == loss[row] and out["loss_first_last"] == [loss[0], loss[-1]]
    assert out["residual_at_step_first3"] == list(dump(eostrace, path, "residual")[row][:3])
    assert out["eigenvalues_eig0"] == list(ev[:, 0]) and out["eig0_equals_sharpness"]
    params = dump(eostrace, path, "parameters")
    assert out["checkpoint_steps"] == list(ck) and out["checkpoint_for_selected_step"] == ck[1]
    assert out["parameters_at_that_checkpoint_first3"] == list(params[1][:3])
    np.testing.assert_allclose(out["parameters_last_checkpoint_norm"], np.linalg.norm(params[-1]), rtol=1e-14)
    with h5py.File(path, "r") as f:
        has_spectrum = "spectrum" in f["trajectory"]
    if has_spectrum:
        assert out["spectrum_steps"] == list(dump(eostrace, path, "spectrum_step"))
        assert out["spectrum_first_row_top3"] == list(dump(eostrace, path, "spectrum")[0][:3])


# ----------------------------------------------------------------------------------------
# Bad input: one line naming the file, a non-zero exit, no traceback
# ----------------------------------------------------------------------------------------

def test_scripts_reject_bad_input_cleanly(tmp_path, numpy_run, eostrace, capsys):
    """Called in-process through each script's main() (the subprocess runs above cover the
    command lines; this keeps the file fast)."""
    import open_with_xarray
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an HDF5 file at all\n" * 10)
    other = tmp_path / "analysis-only.h5"  # HDF5, but not a recording
    eostrace("analyze", numpy_run[0], "--out", other, "--quiet", check=True)
    cases = [
        (plot_figures, junk, tmp_path / "o1"),
        (plot_figures, other, tmp_path / "o2"),
        (plot_figures, numpy_run[0], tmp_path / "o3", "--eostrace", tmp_path / "no-such-binary"),
        (plot_figures, numpy_run[0], tmp_path / "o4", "--analysis", junk),
        (open_with_xarray, junk),
        (open_with_xarray, other),
        (open_with_xarray, numpy_run[0], "--step", 10**9),
        (npgd, tmp_path / "x.h5", "--steps", 0),
        (npgd, tmp_path / "x.h5", "--k", 100),
    ]
    for mod, *args in cases:
        try:
            rc = mod.main([str(a) for a in args])
        except SystemExit as e:  # argparse errors
            rc = e.code
        err = capsys.readouterr().err.strip()
        assert rc == 2, (mod.__name__, args, rc, err)
        assert err and "Traceback" not in err, (mod.__name__, args, err)
        if mod is not npgd:
            assert len(err.splitlines()) == 1, err
            assert str(args[0]) in err or "no-such-binary" in err or str(junk) in err, err
    assert not (tmp_path / "x.h5").exists()


def test_numpy_run_that_diverges_is_marked_and_still_valid(tmp_path, eostrace):
    out = tmp_path / "diverged.h5"
    proc = subprocess.run([sys.executable, str(SAMPLES / "numpy_gd_two_layer_linear.py"), str(out),
                           "--eta", "30", "--steps", "50"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    s = json.loads(proc.stdout)
    assert s["status"] == "diverged" and 1 <= s["steps"] < 50
    assert ef.read_status(out) == "diverged"
    assert len(ef.read_steps(out)) == s["steps"]
    assert eostrace("validate", out).returncode == 0

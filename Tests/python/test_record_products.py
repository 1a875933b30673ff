"""Format 1.1 on the recording side (issue 12): the M-products, the solver cost, the eigenvalues
above a threshold and the CF labels of a recording made by `eostrace record`, each checked
against an independent answer computed here with numpy from the stored Gram matrices
(`--gram-every 1`): M·D, the R' recursion with the causal restart rule, `numpy.linalg.eigvalsh`.
"""

from __future__ import annotations

import shutil
import subprocess

import h5py
import numpy as np
import pytest

from conftest import run_eostrace

# n = 100 > the dense threshold (64): the iterative eigensolver runs (iterations > 0); η = 0.12
# puts the sharpness above 2/η several times in 150 steps (restarts of r_prime).
RUN = ["record", "--preset", "fmnist-tanh", "--n", "100", "--widths", "16,16", "--k", "4", "--lr", "0.12",
       "--steps", "150", "--spectrum-every", "0", "--hessian-every", "0", "--checkpoint-every", "50",
       "--pipeline", "off", "--quiet"]
THRESHOLD = 2.0


@pytest.fixture(scope="module")
def recording(eostrace_bin, tmp_path_factory):
    out = tmp_path_factory.mktemp("products") / "run.h5"
    run_eostrace(eostrace_bin, *RUN, "--gram-every", "1", "--eigenvalue-threshold", THRESHOLD, "-o", out, check=True)
    with h5py.File(out, "r") as f:
        t = f["trajectory"]
        data = {name: t[name][()] for name in t if isinstance(t[name], h5py.Dataset)}
        data["eta"] = float(f["run"].attrs["learning_rate"])
    return out, data


def test_gram_residual_is_M_times_D(recording):
    _, t = recording
    assert (t["gram_step"] == t["step"]).all()
    md = np.einsum("tij,tj->ti", t["gram"], t["residual"])
    err = np.abs(md - t["gram_residual"]).max() / np.abs(md).max()
    assert err < 1e-12, err


def reference_chains(t):
    """R' from the first step and restarted at every causal phase-II start, by the recursion."""
    G, D, V, lam, eta = t["gram"], t["residual"], t["eigenvectors"][:, 0, :], t["sharpness"], t["eta"]
    thr = 2 / eta
    rs = rp = None
    out_s, out_p, restarts = np.zeros_like(D), np.zeros_like(D), []
    for i in range(len(D)):
        v = V[i]
        R = D[i] - v * (v @ D[i])
        if rs is None:
            rs, rp = R.copy(), R.copy()
        if lam[i] > thr and (i == 0 or lam[i - 1] <= thr):
            rp = R.copy()
            restarts.append(i)
        out_s[i], out_p[i] = rs, rp
        rs = rs - eta * G[i] @ (rs - v * (v @ rs))
        rp = rp - eta * G[i] @ (rp - v * (v @ rp))
    return out_p, out_s, restarts


def test_r_prime_chains_follow_the_recursion_with_causal_restarts(recording):
    _, t = recording
    ref_p, ref_s, restarts = reference_chains(t)
    assert len(restarts) >= 2, f"the run must cross 2/eta at least twice, restarts at rows {restarts}"
    for name, ref in [("r_prime", ref_p), ("r_prime_from_start", ref_s)]:
        scale = np.abs(ref).max(axis=1, keepdims=True)
        err = (np.abs(t[name] - ref) / scale).max()
        assert err < 1e-9, (name, err)
    first = restarts[0]
    # Before the first restart the two chains are the same numbers (bit for bit).
    assert t["r_prime"][:first].tobytes() == t["r_prime_from_start"][:first].tobytes()
    # At a restart r_prime is R = (I - v1 v1^T) D; afterwards the chains differ.
    for a in restarts:
        v, d = t["eigenvectors"][a, 0], t["residual"][a]
        np.testing.assert_allclose(t["r_prime"][a], d - v * (v @ d), rtol=0, atol=1e-13 * np.abs(d).max())
    assert np.abs(t["r_prime"][first + 1] - t["r_prime_from_start"][first + 1]).max() > 1e-6


def test_eigenvalues_above_threshold_equal_dense_eigh(recording):
    path, t = recording
    with h5py.File(path, "r") as f:
        assert f["run"].attrs["eigenvalue_threshold"] == THRESHOLD
        cap = int(f["run"].attrs["eigenvalue_threshold_capacity"])
    vals, counts = t["eigenvalues_above_threshold"], t["eigenvalue_count_above_threshold"]
    assert vals.shape == (len(t["step"]), cap) and cap == 64
    assert counts.max() >= 2, counts.max()
    for i in range(len(t["step"])):
        w = np.linalg.eigvalsh(t["gram"][i])[::-1]
        w = w[w > THRESHOLD]
        assert counts[i] == len(w), (i, counts[i], len(w))
        m = min(len(w), cap)
        np.testing.assert_allclose(vals[i, :m], w[:m], rtol=1e-10, atol=1e-12 * abs(w[0]) if m else 0)
        assert np.isnan(vals[i, m:]).all()


def test_solver_cost_present_and_consistent(recording):
    _, t = recording
    it, mv, sec = t["eigensolver_iterations"], t["eigensolver_matvecs"], t["step_seconds"]
    assert it.dtype == np.int64 and mv.dtype == np.int64 and sec.dtype == np.float64
    assert len(it) == len(mv) == len(sec) == len(t["step"])
    assert (it >= 0).all() and it.max() > 0
    b = min(4 + max(2, 4 // 2), 100)  # block of the top-4 solver: k + guard vectors
    # Each iteration multiplies one block of b vectors, plus the start block.
    assert (mv % b == 0).all() and (mv >= b * (it + 1)).all() and (mv <= b * (2 * it + 1)).all()
    assert np.isfinite(sec).all() and (sec > 0).all() and sec.max() < 60


def test_every_dataset_has_long_name_and_units(recording):
    path, _ = recording
    missing = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                for a in ("long_name", "units"):
                    if a not in obj.attrs:
                        missing.append(f"/{name}@{a}")
        f.visititems(visit)
        assert f.attrs["Conventions"] == "CF-1.8"
        assert f.attrs["title"].startswith("GD trajectory")
        history = f.attrs["history"]
        history = history.decode() if isinstance(history, bytes) else str(history)
        assert history.count("\n") == 0 and "record" in history and "--eigenvalue-threshold" in history
        assert f["run"].attrs["loss_convention"] == "mean_squared_error"
        assert f["run"].attrs["gram_definition"] == "M = (2/n) J J^T"
        assert f["trajectory/step_seconds"].attrs["units"] == "s"
    assert missing == []


def test_xarray_keeps_step_seconds_a_float(recording, tmp_path):
    import xarray as xr
    path, t = recording
    with xr.open_dataset(path, group="trajectory", engine="h5netcdf") as ds:
        assert ds["step_seconds"].dtype == np.float64
        np.testing.assert_array_equal(ds["step_seconds"].values, t["step_seconds"])
        assert ds["r_prime"].dims == ("step", "sample")
        assert ds["gram_residual"].attrs["long_name"] == "M-product M(t) D(t)"
    # The unit string matters: with "seconds" xarray would decode timedeltas.
    other = tmp_path / "seconds.h5"
    shutil.copy(path, other)
    with h5py.File(other, "r+") as f:
        f["trajectory/step_seconds"].attrs["units"] = "seconds"
    with xr.open_dataset(other, group="trajectory", engine="h5netcdf", decode_timedelta=True) as ds:
        assert np.issubdtype(ds["step_seconds"].dtype, np.timedelta64)


def test_validator_rejects_broken_chains(recording, eostrace_bin, tmp_path):
    path, t = recording
    _, _, restarts = reference_chains(t)
    assert run_eostrace(eostrace_bin, "validate", path).returncode == 0
    for row, what in [(restarts[0] - 3, "differs from r_prime_from_start"), (restarts[1], "restart rows")]:
        bad = tmp_path / f"bad{row}.h5"
        shutil.copy(path, bad)
        with h5py.File(bad, "r+") as f:
            f["trajectory/r_prime"][row, 5] += 1e-6 * np.abs(t["residual"][row]).max()
        p = run_eostrace(eostrace_bin, "validate", bad)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "/trajectory/r_prime" in p.stdout + p.stderr and what in p.stdout + p.stderr, p.stdout + p.stderr
    bad = tmp_path / "above.h5"
    shutil.copy(path, bad)
    with h5py.File(bad, "r+") as f:
        f["trajectory/eigenvalue_count_above_threshold"][7] += 1
    p = run_eostrace(eostrace_bin, "validate", bad)
    assert p.returncode == 1 and "eigenvalues_above_threshold" in p.stdout + p.stderr, p.stdout + p.stderr


def test_no_products_and_repeatability(recording, eostrace_bin, tmp_path):
    path, t = recording
    # The same run again (no threshold, no gram): products bit-identical; step_seconds differ but
    # are volatile for `eostrace diff`.
    again = tmp_path / "again.h5"
    run_eostrace(eostrace_bin, *RUN, "--gram-every", "1", "--eigenvalue-threshold", THRESHOLD, "-o", again, check=True)
    with h5py.File(again, "r") as f:
        for name in ["gram_residual", "r_prime", "r_prime_from_start", "eigensolver_matvecs"]:
            assert f["trajectory"][name][()].tobytes() == t[name].tobytes(), name
        assert f["trajectory/step_seconds"][()].tobytes() != t["step_seconds"].tobytes()
    d = run_eostrace(eostrace_bin, "diff", path, again)
    assert d.returncode == 0, d.stdout + d.stderr
    plain = tmp_path / "plain.h5"
    run_eostrace(eostrace_bin, *RUN, "--no-products", "-o", plain, check=True)
    with h5py.File(plain, "r") as f:
        names = set(f["trajectory"])
        assert not names & {"gram_residual", "r_prime", "r_prime_from_start", "eigenvalues_above_threshold"}
        assert {"eigensolver_iterations", "eigensolver_matvecs", "step_seconds"} <= names
        assert '"products":false' in f["run"].attrs["config"]
        # Same trajectory either way.
        assert f["trajectory/residual"][()].tobytes() == t["residual"].tobytes()
    assert run_eostrace(eostrace_bin, "validate", plain).returncode == 0

"""The package's recording math against independent numpy answers: block LOBPCG vs LAPACK eigh,
warm starts, the sign convention, the M-products with the causal R′ restart rule, Lanczos."""

from __future__ import annotations

import numpy as np
import pytest

from eostrace.linalg import dense_top, lanczos_top, top_eigenpairs
from eostrace.tracker import Tracker, fix_signs


def psd(n, rank, rng, decay=4.0, cluster=False):
    J = rng.standard_normal((n, rank)) * np.exp(-np.arange(rank) / decay)
    if cluster:
        J[:, 1] = J[:, 1] * 0 + J[:, 0] * 0.999 + 1e-3 * rng.standard_normal(n)
    return 2.0 / n * J @ J.T


@pytest.mark.parametrize("n,k,seed", [(40, 1, 0), (120, 4, 1), (300, 8, 2), (64, 8, 3)])
def test_lobpcg_matches_lapack(n, k, seed):
    rng = np.random.default_rng(seed)
    M = psd(n, min(n, 60), rng)
    w, V = dense_top(M, k)
    res = top_eigenpairs(lambda B: M @ B, n, k, tol=1e-12)
    assert res.converged
    assert np.max(np.abs(res.values - w)) <= 1e-12 * w[0]
    assert np.all(np.diff(res.values) <= 0)
    gaps = np.abs(np.diff(np.concatenate([[np.inf], w, [0.0]])))
    for i in range(k):
        if min(gaps[i], gaps[i + 1]) > 1e-3 * w[0]:
            assert abs(abs(res.vectors[i] @ V[i]) - 1) < 1e-12
    assert np.allclose(np.linalg.norm(res.vectors, axis=1), 1, atol=1e-13)
    assert res.matvecs >= res.block.shape[1]


def test_lobpcg_warm_start_is_cheaper_and_as_accurate():
    rng = np.random.default_rng(7)
    n, k = 200, 6
    M0 = psd(n, 80, rng)
    E = rng.standard_normal((n, n))
    M1 = M0 + 1e-4 * (E + E.T) / n
    cold0 = top_eigenpairs(lambda B: M0 @ B, n, k, tol=1e-11)
    cold = top_eigenpairs(lambda B: M1 @ B, n, k, tol=1e-11, seed=5)
    warm = top_eigenpairs(lambda B: M1 @ B, n, k, tol=1e-11, X0=cold0.block)
    w1, _ = dense_top(M1, k)
    assert np.max(np.abs(warm.values - w1)) <= 1e-11 * w1[0]
    assert warm.matvecs < cold.matvecs


def test_lobpcg_handles_a_clustered_pair_and_rank_deficiency():
    rng = np.random.default_rng(3)
    n = 80
    M = psd(n, 5, rng, cluster=True)  # rank 5, λ1 ≈ λ2 nearly equal
    w, _ = dense_top(M, 6)
    res = top_eigenpairs(lambda B: M @ B, n, 6, tol=1e-11)
    assert np.max(np.abs(res.values - w)) <= 1e-10 * w[0]


def test_sign_convention():
    V0 = np.array([[0.1, -0.9, 0.3], [0.5, 0.2, -0.1]])
    S0 = fix_signs(V0, None)
    assert np.array_equal(S0, np.array([[-0.1, 0.9, -0.3], [0.5, 0.2, -0.1]]))
    V1 = np.array([[0.1, -0.8, 0.35], [-0.5, -0.2, 0.1]])   # both flipped relative to S0
    S1 = fix_signs(V1, S0)
    assert np.all(np.einsum("ij,ij->i", S0, S1) > 0)
    assert np.array_equal(S1, -V1)


def reference_chains(Ms, Ds, eta, k):
    """Independent, dense implementation of the recording rules (eigh, signs, R′ restarts)."""
    out = []
    Vprev = None
    lam_prev = None
    rp = rs = None
    for t, (M, D) in enumerate(zip(Ms, Ds)):
        w, V = np.linalg.eigh(M)
        w, V = w[::-1][:k], V[:, ::-1][:, :k].T
        if Vprev is None:
            for i in range(k):
                if V[i, np.argmax(np.abs(V[i]))] < 0:
                    V[i] = -V[i]
        else:
            for i in range(k):
                if V[i] @ Vprev[i] < 0:
                    V[i] = -V[i]
        v1 = V[0]
        P = np.eye(len(D)) - np.outer(v1, v1)
        R = P @ D
        restart = w[0] > 2 / eta and (t == 0 or lam_prev <= 2 / eta)
        if t == 0:
            rs = R
        if t == 0 or restart:
            rp = R
        out.append(dict(eigenvalues=w, eigenvectors=V, gram_residual=M @ D, r_prime=rp, r_prime_from_start=rs,
                        restart=restart))
        rp = (np.eye(len(D)) - eta * M @ P) @ rp
        rs = (np.eye(len(D)) - eta * M @ P) @ rs
        Vprev, lam_prev = V, w[0]
    return out


def test_tracker_products_and_causal_restarts_match_dense_reference():
    rng = np.random.default_rng(11)
    n, k, T, eta = 30, 3, 40, 0.5
    base = psd(n, 12, rng)
    base *= 3.6 / np.linalg.eigvalsh(base)[-1]   # λ1 near 2/η = 4
    Ms, Ds = [], []
    for t in range(T):
        # λ1 crosses 2/η up and down several times: restarts at every upward crossing
        M = base * (1 + 0.15 * np.sin(t / 2.0)) + 1e-3 * psd(n, 3, rng)
        Ms.append(M)
        Ds.append(rng.standard_normal(n))
    ref = reference_chains(Ms, Ds, eta, k)
    tr = Tracker(n, k, eta, tol=1e-13, check_dense=7)
    rows = [tr.step(t, Ds[t], lambda B, M=Ms[t]: M @ B) for t in range(T)]
    restarts = [t for t, r in enumerate(ref) if r["restart"]]
    assert len(restarts) >= 3 and tr.restarts == restarts
    for t, (a, b) in enumerate(zip(rows, ref)):
        assert np.max(np.abs(a["eigenvalues"] - b["eigenvalues"])) <= 1e-12 * b["eigenvalues"][0]
        assert np.max(np.abs(a["eigenvectors"] - b["eigenvectors"])) <= 1e-9, t
        for key in ("gram_residual", "r_prime", "r_prime_from_start"):
            scale = max(np.linalg.norm(b[key]), 1e-300)
            assert np.linalg.norm(a[key] - b[key]) <= 1e-9 * scale, (t, key)
        assert a["eigensolver_matvecs"] > 0
    # before the first restart the two chains agree
    first = restarts[0]
    for t in range(first):
        assert np.array_equal(rows[t]["r_prime"], rows[t]["r_prime_from_start"])
    assert tr.dense_checks >= 5 and tr.max_dense_discrepancy < 1e-12


def test_tracker_refuses_skipped_steps():
    tr = Tracker(5, 1, 0.1)
    M = np.eye(5)
    tr.step(0, np.ones(5), lambda B: M @ B)
    with pytest.raises(ValueError, match="every GD step"):
        tr.step(2, np.ones(5), lambda B: M @ B)


def test_lanczos_matches_lapack_on_an_indefinite_matrix():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((150, 150))
    H = (A + A.T) / 2 + np.diag(np.linspace(0, 30, 150))
    val, vec, m = lanczos_top(lambda v: H @ v, 150, tol=1e-13, maxiter=150)
    w = np.linalg.eigvalsh(H)
    assert abs(val - w[-1]) <= 1e-9 * abs(w[-1])
    assert np.linalg.norm(H @ vec - val * vec) <= 1e-4 * abs(val)

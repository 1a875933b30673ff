"""Matrix-free eigensolvers for the recording math (numpy only, framework-agnostic).

``top_eigenpairs(matmat, n, k, ...)`` finds the top-k eigenpairs of a symmetric positive
semi-definite operator M given only ``matmat(V) -> M @ V`` for a block V of shape [n, b]. It is a
block LOBPCG (Knyazev 2001) with Rayleigh–Ritz on span[X, W, P], guard vectors beyond k, soft
locking of converged columns, and an explicit re-orthonormalization of every block before M is
applied (so the Ritz problem is a plain symmetric eigenproblem, never a generalized one). Warm
start: pass the previous step's block (``EigenResult.block``) as ``X0``; along a GD trajectory
M(t) changes little per step and one to three iterations usually suffice.

``lanczos_top(matvec, p, ...)`` is Lanczos with full re-orthogonalization for λ_max of a
symmetric operator (the loss Hessian through Hessian-vector products).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass
class EigenResult:
    #: top-k eigenvalues, descending
    values: np.ndarray
    #: unit eigenvectors, one per row, shape [k, n]
    vectors: np.ndarray
    #: LOBPCG iterations (0: the start block already met the tolerance)
    iterations: int = 0
    #: M-vector products spent (columns of all blocks passed to matmat)
    matvecs: int = 0
    #: relative residual norms ‖M v − λ v‖ / |λ_1| of the k pairs
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: the whole Ritz block (k + guard columns, [n, b]) to warm-start the next solve
    block: Optional[np.ndarray] = None
    converged: bool = True


def _orth(V: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of V (QR twice; drops numerically dependent columns)."""
    if V.shape[1] == 0:
        return V
    Q, R = np.linalg.qr(V)
    d = np.abs(np.diag(R))
    keep = d > 1e-10 * max(d.max(), 1e-300)
    Q = Q[:, keep]
    Q, _ = np.linalg.qr(Q)
    return Q


def _project_out(W: np.ndarray, *bases: np.ndarray) -> np.ndarray:
    for _ in range(2):
        for B in bases:
            if B is not None and B.shape[1]:
                W = W - B @ (B.T @ W)
    return W


def top_eigenpairs(matmat: Callable[[np.ndarray], np.ndarray], n: int, k: int, *,
                   X0: Optional[np.ndarray] = None, tol: float = 1e-10, maxiter: int = 500,
                   guard: Optional[int] = None, seed: int = 0) -> EigenResult:
    """Top-k eigenpairs of the symmetric operator `matmat` (n×n), descending.

    tol: stop when every one of the k pairs has ‖M v − λ v‖ ≤ tol·|λ_1|. The eigenvalue error
    is then about (tol·λ_1)²/gap, far below tol; the eigenvector angle about tol·λ_1/gap.
    X0: [n, b] start block (b ≥ 1; padded with random columns to k + guard).
    """
    if not 1 <= k <= n:
        raise ValueError(f"top_eigenpairs: k must be in 1...n = {n}, got {k}")
    b = min(n, k + (guard if guard is not None else max(2, (k + 1) // 2)))
    rng = np.random.default_rng(seed)
    if X0 is None:
        X = rng.standard_normal((n, b))
    else:
        X0 = np.asarray(X0, dtype=np.float64)
        if X0.ndim == 1:
            X0 = X0[:, None]
        if X0.shape[0] != n:
            X0 = X0.T
        X = X0[:, :b]
        if X.shape[1] < b:
            X = np.hstack([X, rng.standard_normal((n, b - X.shape[1]))])
    X = _orth(X)
    while X.shape[1] < b:  # dependent start columns: refill
        X = _orth(np.hstack([X, rng.standard_normal((n, b - X.shape[1]))]))
    AX = np.asarray(matmat(X), dtype=np.float64)
    matvecs = X.shape[1]
    H = X.T @ AX
    w, C = np.linalg.eigh((H + H.T) / 2)
    C = C[:, ::-1]
    w = w[::-1]
    X, AX = X @ C, AX @ C
    P = AP = None
    it = 0
    converged = False
    best = None
    stall = 0
    while True:
        R = AX - X * w
        scale = max(abs(w[0]), 1e-300)
        res = np.linalg.norm(R, axis=0) / scale
        worst = float(res[:k].max())
        if best is None or worst < best[0]:
            best = (worst, w.copy(), X.copy(), res.copy())
            stall = 0
        else:
            stall += 1
        if (res[:k] <= tol).all():
            converged = True
            break
        if it >= maxiter or stall >= 6 or not np.isfinite(worst):
            # no progress (the tolerance is below what round-off allows) or the budget is spent:
            # return the best pairs seen
            worst, w, X, res = best
            break
        it += 1
        active = np.nonzero(res > tol)[0]
        W = _orth(_project_out(R[:, active], X))
        if W.shape[1] == 0:
            break
        AW = np.asarray(matmat(W), dtype=np.float64)
        matvecs += W.shape[1]
        blocks = [X, W]
        ablocks = [AX, AW]
        if P is not None and it % 20 == 0:
            # periodic restart: refresh AX explicitly and drop P, so that round-off carried by
            # the linear updates of AX/AP cannot accumulate
            AX = np.asarray(matmat(X), dtype=np.float64)
            matvecs += X.shape[1]
            P = AP = None
        if P is not None:
            cn = np.linalg.norm(P, axis=0)
            cn[cn == 0] = 1.0
            P1, AP1 = P / cn, AP / cn
            for _ in range(2):  # linear in P, so AP follows exactly without another product
                c1 = X.T @ P1
                P1, AP1 = P1 - X @ c1, AP1 - AX @ c1
                c2 = W.T @ P1
                P1, AP1 = P1 - W @ c2, AP1 - AW @ c2
            U, sig, Vt = np.linalg.svd(P1, full_matrices=False)
            keep = sig > 1e-2  # columns were unit: keep directions well outside span[X, W]
            if keep.any():
                T = Vt[keep].T / sig[keep]
                blocks.append(P1 @ T)
                ablocks.append(AP1 @ T)
        S = np.hstack(blocks)
        AS = np.hstack(ablocks)
        H = S.T @ AS
        H = (H + H.T) / 2
        G = S.T @ S
        if np.abs(G - np.eye(G.shape[0])).max() > 1e-8:
            # lost orthogonality: drop P for this iteration ([X, W] is orthonormal by construction)
            S = np.hstack([X, W])
            AS = np.hstack([AX, AW])
            H = S.T @ AS
            H = (H + H.T) / 2
        w_all, C = np.linalg.eigh(H)
        C = C[:, ::-1][:, :b]
        w = w_all[::-1][:b]
        nX = X.shape[1]
        Xn = S @ C
        AXn = AS @ C
        P = S[:, nX:] @ C[nX:, :]
        AP = AS[:, nX:] @ C[nX:, :]
        X, AX = Xn, AXn
    V = X[:, :k].T.copy()
    return EigenResult(values=w[:k].copy(), vectors=V, iterations=it, matvecs=matvecs,
                       residuals=res[:k].copy(), block=X.copy(), converged=converged)


def lanczos_top(matvec: Callable[[np.ndarray], np.ndarray], p: int, *, v0: Optional[np.ndarray] = None,
                tol: float = 1e-10, maxiter: int = 100, seed: int = 0):
    """λ_max of a symmetric operator by Lanczos with full re-orthogonalization.

    Returns (value, vector, matvecs). Stops when the top Ritz value changes by ≤ tol relative
    between iterations and its residual bound |β_m s_m| ≤ sqrt(tol)·|θ|.
    """
    rng = np.random.default_rng(seed)
    q = np.asarray(v0, dtype=np.float64).ravel() if v0 is not None else rng.standard_normal(p)
    q = q / np.linalg.norm(q)
    Q = [q]
    alphas, betas = [], []
    prev = None
    theta, s = 0.0, None
    m = 0
    for m in range(1, min(maxiter, p) + 1):
        w = np.asarray(matvec(Q[-1]), dtype=np.float64).ravel()
        a = float(Q[-1] @ w)
        alphas.append(a)
        w = w - a * Q[-1] - (betas[-1] * Q[-2] if betas else 0)
        Qm = np.array(Q)
        for _ in range(2):
            w = w - Qm.T @ (Qm @ w)
        bta = float(np.linalg.norm(w))
        T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        ev, evec = np.linalg.eigh(T)
        theta, s = ev[-1], evec[:, -1]
        resid = abs(bta * s[-1])
        if prev is not None and abs(theta - prev) <= tol * abs(theta) and resid <= np.sqrt(tol) * abs(theta):
            break
        if bta <= 1e-14 * max(abs(theta), 1e-300):
            break
        prev = theta
        betas.append(bta)
        Q.append(w / bta)
    vec = np.array(Q[: len(s)]).T @ s
    return float(theta), vec / np.linalg.norm(vec), m


def dense_top(M: np.ndarray, k: int):
    """Top-k eigenpairs of a dense symmetric matrix (LAPACK via numpy), descending, vectors as rows."""
    w, V = np.linalg.eigh(M)
    return w[::-1][:k].copy(), V[:, ::-1][:, :k].T.copy()

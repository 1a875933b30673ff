"""Per-step recording math, framework-agnostic: eigenpairs, sign convention, M-products.

A ``Tracker`` is fed, at every GD step t (consecutive steps, t = 0 first), the residual
D(t) = F(t) − Y and a callable ``matmat(V) -> M(t) @ V`` (V of shape [n, b]) for the Gram matrix
M(t) = (2/n) J Jᵀ at θ(t). It returns the row that the recording needs:

- ``eigenvalues`` [k] (descending) and ``eigenvectors`` [k, n] (unit rows) of M(t), from a block
  LOBPCG warm-started at the previous step's Ritz block;
- signs: v_i(0) has its largest-magnitude entry positive, v_i(t+1) is flipped when
  ⟨v_i(t), v_i(t+1)⟩ < 0 (series continuous in t);
- ``gram_residual`` = M(t) D(t);
- ``r_prime``: R′ restarted at every causal phase-II start — a step a with Λ(a) > 2/η and either a
  the first step or Λ(a−1) ≤ 2/η; there R′(a) = (I − v1 v1ᵀ) D(a), otherwise
  R′(t+1) = (I − η M(t)(I − v1(t) v1(t)ᵀ)) R′(t) (paper Lemma 3.5, Theorem 2);
- ``r_prime_from_start``: the same chain started at the first step only;
- ``eigensolver_iterations`` / ``eigensolver_matvecs``: the solver's cost at this step.

The three M-products of a step cost one block product with three columns.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .linalg import EigenResult, top_eigenpairs


def fix_signs(V: np.ndarray, previous: Optional[np.ndarray]) -> np.ndarray:
    """The format's sign convention on eigenvector rows V [k, n] (returns a new array)."""
    V = np.array(V, dtype=np.float64, copy=True)
    if previous is None:
        idx = np.argmax(np.abs(V), axis=1)
        sgn = np.sign(V[np.arange(V.shape[0]), idx])
        sgn[sgn == 0] = 1
    else:
        dots = np.einsum("ij,ij->i", previous, V)
        sgn = np.where(dots < 0, -1.0, 1.0)
    return V * sgn[:, None]


class Tracker:
    """Streaming state of the recording math for one run (see the module doc).

    learning_rate: η (the restart threshold is 2/η). products: also compute gram_residual and
    the two R′ chains. tol: LOBPCG residual tolerance relative to λ_1. check_dense: every that
    many steps (0: never) compare the eigenvalues with a dense LAPACK solve on M formed column by
    column (only sensible for small n) and raise when they differ by more than 1e-8 relative.
    """

    def __init__(self, n: int, k: int, learning_rate: float, *, products: bool = True, tol: float = 1e-10,
                 maxiter: int = 500, guard: Optional[int] = None, check_dense: int = 0, seed: int = 0):
        self.n, self.k = int(n), int(k)
        self.eta = float(learning_rate)
        self.products = products
        self.tol, self.maxiter, self.guard, self.seed = tol, maxiter, guard, seed
        self.check_dense = int(check_dense)
        self.block: Optional[np.ndarray] = None
        self.V_prev: Optional[np.ndarray] = None
        self.lam_prev: Optional[float] = None
        self.step_prev: Optional[int] = None
        self.r_prime_next: Optional[np.ndarray] = None       # R′(t) predicted from step t−1
        self.r_start_next: Optional[np.ndarray] = None
        self.restarts: list[int] = []
        self.max_dense_discrepancy = 0.0
        self.dense_checks = 0
        self.total_iterations = 0
        self.total_matvecs = 0
        self.solves = 0

    def eigen(self, matmat: Callable[[np.ndarray], np.ndarray]) -> EigenResult:
        res = top_eigenpairs(matmat, self.n, self.k, X0=self.block, tol=self.tol, maxiter=self.maxiter,
                             guard=self.guard, seed=self.seed)
        self.block = res.block
        return res

    def step(self, step: int, D: np.ndarray, matmat: Callable[[np.ndarray], np.ndarray]) -> dict:
        """The recording row of GD step `step` (θ(step), before its update)."""
        D = np.asarray(D, dtype=np.float64)
        if D.shape != (self.n,):
            raise ValueError(f"Tracker.step: residual D has shape {list(D.shape)}, expected [{self.n}]")
        if self.step_prev is not None and step != self.step_prev + 1:
            raise ValueError(f"Tracker.step: step {step} after {self.step_prev}: the R′ chains need every GD step")
        res = self.eigen(matmat)
        V = fix_signs(res.vectors, self.V_prev)
        lam = res.values
        if self.check_dense and (self.solves % self.check_dense == 0):
            M = np.asarray(matmat(np.eye(self.n)), dtype=np.float64)
            w = np.linalg.eigvalsh((M + M.T) / 2)[::-1][: self.k]
            disc = float(np.max(np.abs(w - lam)) / max(abs(w[0]), 1e-300))
            self.max_dense_discrepancy = max(self.max_dense_discrepancy, disc)
            self.dense_checks += 1
            if disc > 1e-8:
                raise RuntimeError(f"step {step}: iterative eigenvalues differ from LAPACK by {disc:.3g} relative")
        self.solves += 1
        self.total_iterations += res.iterations
        self.total_matvecs += res.matvecs
        row = {"eigenvalues": lam.copy(), "eigenvectors": V, "sharpness": float(lam[0]),
               "eigensolver_iterations": int(res.iterations), "eigensolver_matvecs": int(res.matvecs)}
        matvecs = 0
        if self.products:
            v1 = V[0]
            first = self.step_prev is None
            threshold = 2.0 / self.eta
            restart = lam[0] > threshold and (first or self.lam_prev <= threshold)
            R = D - v1 * (v1 @ D)
            rp = R.copy() if (restart or first) else self.r_prime_next
            rs = R.copy() if first else self.r_start_next
            if restart:
                self.restarts.append(int(step))
            # one block product: M D, M (I − v1v1ᵀ) R′, M (I − v1v1ᵀ) R′_start
            B = np.stack([D, rp - v1 * (v1 @ rp), rs - v1 * (v1 @ rs)], axis=1)
            MB = np.asarray(matmat(B), dtype=np.float64)
            matvecs = 3
            row["gram_residual"] = MB[:, 0].copy()
            row["r_prime"] = rp.copy()
            row["r_prime_from_start"] = rs.copy()
            self.r_prime_next = rp - self.eta * MB[:, 1]
            self.r_start_next = rs - self.eta * MB[:, 2]
        row["eigensolver_matvecs"] += 0  # solver cost only; the 3 product columns are reported apart
        row["product_matvecs"] = matvecs
        self.V_prev = V
        self.lam_prev = float(lam[0])
        self.step_prev = int(step)
        return row

    def summary(self) -> dict:
        """The eigensolver_check-style totals of this run."""
        return {"solver": "lobpcg (python)", "solves": self.solves, "iterations": self.total_iterations,
                "mean_iterations": self.total_iterations / max(self.solves, 1), "matvecs": self.total_matvecs,
                "checks": self.dense_checks, "max_relative_discrepancy": self.max_dense_discrepancy,
                "tolerance": self.tol, "lapack_fallbacks": 0, "step": self.step_prev}

"""Per-step recording math, framework-agnostic: eigenpairs, sign convention, M-products.

Several outputs (``outputs=c``): D is [n, c], matmat acts on blocks [n·c, b] of flattened
vectors (sample-major, index i·c + a, i.e. ``D.reshape(-1)``), and the rows come back in the
file's shapes ([n, c]; eigenvectors [k, n, c]). ``GDRecorder`` ties a Tracker to a
``RecordingWriter`` for your own training loop (outputs F and the Gram matrix in, file out).

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
                 maxiter: int = 500, guard: Optional[int] = None, check_dense: int = 0, seed: int = 0,
                 outputs: int = 1):
        self.c = int(outputs)
        if self.c < 1:
            raise ValueError(f"Tracker: outputs must be >= 1, got {outputs}")
        self.samples = int(n)
        # the solver works on vec(D) ∈ R^{n·c} (sample-major, index i·c + a); c = 1 is R^n
        self.n, self.k = int(n) * self.c, int(k)
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
        if self.c == 1:
            if D.shape != (self.n,):
                raise ValueError(f"Tracker.step: residual D has shape {list(D.shape)}, expected [{self.n}]")
        else:
            if D.shape != (self.samples, self.c):
                raise ValueError(f"Tracker.step: residual D has shape {list(D.shape)}, expected [n, c] = "
                                 f"[{self.samples}, {self.c}] (matmat acts on the flattened D.reshape(-1))")
            D = D.reshape(self.n)
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
        if self.c > 1:  # the file's shapes: [n, c] per vector, eigenvectors [k, n, c]
            row["eigenvectors"] = V.reshape(self.k, self.samples, self.c)
            for key in ("gram_residual", "r_prime", "r_prime_from_start"):
                if key in row:
                    row[key] = row[key].reshape(self.samples, self.c)
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


class GDRecorder:
    """Records your own full-batch GD loop: at every step give the outputs F (θ(t), before
    the update) and the Gram matrix — dense ``M`` or a matrix-free ``matmat(V) -> M @ V`` — and
    it computes the loss, D = F − Y, the top-k eigenpairs, signs and M-products (``Tracker``)
    and appends the row (``eostrace.Recorder``).

    Y: [n] (one output: a format 1.x file, as before) or [n, c] (c outputs: format 2.0;
    F [n, c], M of size n·c × n·c over the flattened outputs, index i·c + a).
    loss_convention: "mean_squared_error" (L = ‖D‖_F²/n, M = (2/n) J Jᵀ, the default),
    "half_mean_squared_error" (L = ‖D‖_F²/(2n), M = (1/n) J Jᵀ) or "mse_per_output"
    (L = ‖D‖_F²/(n c), PyTorch's MSELoss, M = (2/(n c)) J Jᵀ); M must be the one of the
    convention (the Gauss–Newton part of the loss's Hessian in output space).
    eigenvectors_stored: store only v_1..v_j (c > 1; eigenvalues and M-products still use all k).
    Other keyword arguments go to ``RecordingWriter`` (series, swmr, batch, X or x_path, ...).

        with GDRecorder("run.h5", learning_rate=eta, model={"kind": "external"}, X=X, Y=Y, k=4) as rec:
            for t in range(T):
                F = f(theta)                                   # [n, c]
                rec.step(t, F, M=gram(theta), output_norm_sq=float(np.sum(A * A)))
                theta = theta - eta * grad(theta)
    """

    def __init__(self, path, *, learning_rate: float, model, Y, k: int, products: bool = True,
                 tol: float = 1e-10, check_dense: int = 0, series=(), **writer_kw):
        from . import format as _fmt
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 2 and Y.shape[1] == 1:
            Y = Y[:, 0]
        self.Y = Y
        self.n = int(Y.shape[0])
        self.c = 1 if Y.ndim == 1 else int(Y.shape[1])
        self.eta = float(learning_rate)
        conv = writer_kw.get("loss_convention") or "mean_squared_error"
        if conv not in _fmt.LOSS_CONVENTIONS:
            raise ValueError(f"{path}: /run@loss_convention: {conv!r} is not one of {sorted(_fmt.LOSS_CONVENTIONS)}")
        self.loss_factor = _fmt.LOSS_CONVENTIONS[conv][0](self.n, self.c)
        self.products = bool(products) and _fmt.schema_has("gram_residual")
        wanted = list(series) + (["gram_residual", "r_prime", "r_prime_from_start"] if self.products else [])
        wanted += [s for s in ("eigensolver_iterations", "eigensolver_matvecs") if _fmt.schema_has(s)]
        self.tracker = Tracker(self.n, k, self.eta, products=self.products, tol=tol, check_dense=check_dense,
                               outputs=self.c)
        self.w = _fmt.RecordingWriter(path, learning_rate=self.eta, model=model, Y=Y, k=k,
                                      series=sorted(set(wanted)), **writer_kw)
        self.j = self.w.j
        self.path = str(path)

    def step(self, t: int, F, *, M=None, matmat: Optional[Callable[[np.ndarray], np.ndarray]] = None,
             output_norm_sq: float, **extra) -> dict:
        """Record GD step t at outputs F; exactly one of M (dense) or matmat. extra: other series
        of the recording (grad_norm, output_layer_sharpness, outputs is filled in when present).
        Returns the row written."""
        F = np.asarray(F, dtype=np.float64)
        if self.c == 1 and F.shape == (self.n, 1):
            F = F[:, 0]
        if F.shape != self.Y.shape:
            raise ValueError(f"{self.path}: /trajectory/outputs: step {t}: F has shape {list(F.shape)}, "
                             f"expected {list(self.Y.shape)} (the shape of Y)")
        if (M is None) == (matmat is None):
            raise ValueError(f"{self.path}: step {t}: give exactly one of M (dense) or matmat (matrix-free)")
        if M is not None:
            M = np.asarray(M, dtype=np.float64)
            if M.shape != (self.tracker.n, self.tracker.n):
                raise ValueError(f"{self.path}: step {t}: M has shape {list(M.shape)}, expected "
                                 f"[n·c, n·c] = [{self.tracker.n}, {self.tracker.n}] (sample-major, i·c + a)")
            matmat = lambda V: M @ V  # noqa: E731
        D = F - self.Y
        tr = self.tracker.step(int(t), D, matmat)
        row = {"loss": float(self.loss_factor * np.sum(D * D)), "residual": D,
               "output_norm_sq": float(output_norm_sq), "dtf": float(np.sum(D * F)),
               "sharpness": tr["sharpness"], "eigenvalues": tr["eigenvalues"],
               "eigenvectors": tr["eigenvectors"][: self.j]}
        if self.products:
            for key in ("gram_residual", "r_prime", "r_prime_from_start"):
                row[key] = tr[key]
        if self.w.has_series("eigensolver_iterations"):
            row["eigensolver_iterations"] = np.int64(tr["eigensolver_iterations"])
        if self.w.has_series("eigensolver_matvecs"):
            row["eigensolver_matvecs"] = np.int64(tr["eigensolver_matvecs"] + tr["product_matvecs"])
        if self.w.has_series("outputs") and "outputs" not in extra:
            row["outputs"] = F
        row.update(extra)
        self.w.append(int(t), **row)
        return row

    def close(self, status: str = "completed") -> None:
        self.w.close(status)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return self.w.__exit__(exc_type, exc, tb)

#!/usr/bin/env python3
"""Record your own GD loop with several outputs (format 2.0) from plain numpy.

Model: a two-layer linear network with c outputs, F = X W1 W2 (X n×d, W1 d×m, W2 m×c), loss
L = ‖F − Y‖_F²/n (eostrace's default convention; --loss-convention mse_per_output is PyTorch's
MSELoss, L/c). Vectors over the n·c outputs are flattened sample-major (index i·c + a), and the
Gram matrix over them has the closed form

    M = (2/n) [ (H Hᵀ) ⊗ I_c + (X Xᵀ) ⊗ (W2ᵀ W2) ],   H = X W1

(∂F_ia/∂W2_jb = H_ij δ_ab, ∂F_ia/∂W1_pj = X_ip W2_ja). The script gives `eostrace.GDRecorder` either
the dense M (n·c × n·c) or, with --matrix-free, only V ↦ M V computed through the factors
(H (Hᵀ V) and X (Xᵀ V) W2ᵀW2: memory O(n·c·b), never (nc)²). `GDRecorder` computes the top-k
eigenpairs, the sign convention, M·vec(D) and the R′ chains and writes the file.

Usage:  python3 numpy_gd_multioutput.py OUT.h5 [--n 40 --c 4 --steps 120 --k 4 --store 2 --matrix-free]
Prints a JSON summary (steps, η, 2/η, max sharpness, steps above 2/η, file version, c).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:  # the eostrace package (pip install ./python); without it (or an older one), the checkout's
    from eostrace import GDRecorder
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    for _m in [m for m in sys.modules if m == "eostrace" or m.startswith("eostrace.")]:
        del sys.modules[_m]
    from eostrace import GDRecorder  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--d", type=int, default=6)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--c", type=int, default=4)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--store", type=int, default=None, help="eigenvectors stored per step (top-j, default k)")
    ap.add_argument("--lr-frac", type=float, default=0.5, help="η = lr_frac · 2/λ_max(M(0))")
    ap.add_argument("--target-scale", type=float, default=20.0)
    ap.add_argument("--loss-convention", default="mean_squared_error",
                    choices=["mean_squared_error", "half_mean_squared_error", "mse_per_output"])
    ap.add_argument("--matrix-free", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    rng = np.random.default_rng(a.seed)
    n, c = a.n, a.c
    X = rng.standard_normal((n, a.d))
    Y = a.target_scale * rng.standard_normal((n, c))
    W1 = rng.standard_normal((a.d, a.width)) / np.sqrt(a.d)
    W2 = rng.standard_normal((a.width, c)) / np.sqrt(a.width)
    factor = {"mean_squared_error": 1.0 / n, "half_mean_squared_error": 0.5 / n,
              "mse_per_output": 1.0 / (n * c)}[a.loss_convention]
    scale = 2.0 * factor                                       # M = scale · J Jᵀ

    def dense_gram(W1, W2):
        H = X @ W1
        return scale * (np.kron(H @ H.T, np.eye(c)) + np.kron(X @ X.T, W2.T @ W2))

    def gram_matmat(W1, W2):
        H, G2 = X @ W1, W2.T @ W2

        def matmat(V):                                         # V: [n·c, b], rows i·c + a
            b = V.shape[1]
            Vs = V.reshape(n, c, b)
            out = np.einsum("im,mab->iab", H, np.einsum("im,iab->mab", H, Vs))
            XV = np.einsum("id,dab->iab", X, np.einsum("id,iab->dab", X, Vs))
            out += np.einsum("ac,icb->iab", G2, XV)
            return scale * out.reshape(n * c, b)
        return matmat

    lam0 = float(np.linalg.eigvalsh(dense_gram(W1, W2))[-1]) if n * c <= 2000 else None
    if lam0 is None:
        from eostrace.linalg import top_eigenpairs
        lam0 = float(top_eigenpairs(gram_matmat(W1, W2), n * c, 1).values[0])
    eta = a.lr_frac * 2.0 / lam0
    sharp = []
    with GDRecorder(a.out, learning_rate=eta, model={"kind": "external", "input_dim": a.d},
                             X=X, Y=Y, k=a.k, eigenvectors_stored=a.store, loss_convention=a.loss_convention,
                             series=["outputs", "grad_norm"], software="numpy_gd_multioutput.py") as rec:
        for t in range(a.steps):
            F = X @ W1 @ W2
            G = scale * (F - Y)                                # ∂L/∂F
            g1, g2 = X.T @ G @ W2.T, (X @ W1).T @ G
            grad_norm = float(np.sqrt(np.sum(g1 * g1) + np.sum(g2 * g2)))
            kw = {"matmat": gram_matmat(W1, W2)} if a.matrix_free else {"M": dense_gram(W1, W2)}
            row = rec.step(t, F, output_norm_sq=float(np.sum(W2 * W2)), grad_norm=grad_norm, **kw)
            sharp.append(row["sharpness"])
            if not np.isfinite(row["loss"]) or row["loss"] > 1e8:
                rec.close("diverged")
                break
            W1, W2 = W1 - eta * g1, W2 - eta * g2
    sharp = np.array(sharp)
    print(json.dumps({"file": a.out, "steps": int(sharp.size), "n": n, "c": c, "learning_rate": eta,
                      "two_over_eta": 2.0 / eta, "max_sharpness": float(sharp.max()),
                      "steps_above_2_over_eta": int(np.sum(sharp > 2.0 / eta)),
                      "matrix_free": bool(a.matrix_free), "loss_convention": a.loss_convention}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Record a full-batch GD run of a two-layer linear network with plain numpy, in the
eostrace trajectory format, so that `eostrace validate / analyze` can check and analyze it.

Model (README, What it computes, paper §4):  f(x) = (1/√m) Aᵀ W x,  A ∈ R^m, W ∈ R^{m×d}, MSE loss
L = ‖F − Y‖²/n,  constant step size η.  Everything is computed exactly at every step:

    F = (1/√m) X Wᵀ A                     (X is n×d, one row per sample)
    D = F − Y,  L = ‖D‖²/n,  ‖A‖²,  DᵀF
    ∇_A L = (2/(n√m)) W Xᵀ D,   ∇_W L = (2/(n√m)) A (Xᵀ D)ᵀ
    M = (2/n) J Jᵀ = (2/(mn)) (‖A‖² X Xᵀ + X Wᵀ W Xᵀ)      (closed form, see gram())
    M_A = (2/(mn)) X Wᵀ W Xᵀ                               (output-layer part)

because ∂F_i/∂A = (1/√m) W x_i and ∂F_i/∂W = (1/√m) A x_iᵀ, so
⟨∂F_i/∂W, ∂F_j/∂W⟩ = ‖A‖² x_i·x_j / m and ⟨∂F_i/∂A, ∂F_j/∂A⟩ = x_iᵀ WᵀW x_j / m.
Top-k eigenpairs of M come from numpy.linalg.eigh; eigenvector signs follow docs/FORMAT.md.
θ = [W (m×d, row-major), A (m)] is checkpointed every --checkpoint-every steps, and the model
description {"kind":"two_layer_linear","input_dim":d,"width":m} lets eostrace replay GD.

Usage:  python3 numpy_gd_two_layer_linear.py OUT.h5 [--steps 300 --eta ...]
Prints a JSON summary (steps, η, 2/η, max sharpness, steps above 2/η, EOS cycles, time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

try:  # the eostrace package (pip install ./python); from a checkout without it, its source
    from eostrace import format as ef  # (open_file: also opens a file a live run is writing)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from eostrace import format as ef  # noqa: E402


def make_data(n: int, d: int, seed: int, gap: float = 2.0, decay: float = 1.3,
              target_scale: float = 3.0, noise: float = 0.3):
    """Synthetic regression data in the paper's §4 setting: X = U diag(√λ) Vᵀ (n×d) with a
    dominant direction (λ_1 = n, λ_2 = λ_1/gap, then λ_{i+1} = λ_i/decay), targets from a linear
    teacher rescaled to ‖Y‖²/n = 1 plus noise (so the minimum loss stays away from zero and D
    never drowns in round-off), times target_scale (larger targets → more progressive sharpening)."""
    rng = np.random.default_rng(seed)
    lam = [float(n), n / gap]
    while len(lam) < d:
        lam.append(lam[-1] / decay)
    lam = np.array(lam[:d])
    r = min(n, d)
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    V, _ = np.linalg.qr(rng.standard_normal((d, r)))
    X = (U * np.sqrt(lam[:r])) @ V.T
    Y = X @ rng.standard_normal(d)
    Y *= np.sqrt(n / (Y @ Y))
    Y = target_scale * (Y + noise * rng.standard_normal(n))
    return X, Y


def init_params(m: int, d: int, seed: int, a_scale: float = 1.0):
    """Paper §4 initialization: W_ij ~ N(0, 1/d), A_i ~ N(0, 1)·a_scale."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, d)) / np.sqrt(d)
    A = a_scale * rng.standard_normal(m)
    return W, A


def forward(W, A, X):
    m = A.shape[0]
    return (X @ (W.T @ A)) / np.sqrt(m)


def gram(W, A, X):
    """M = (2/n) J Jᵀ in closed form, and its output-layer part M_A."""
    n, m = X.shape[0], A.shape[0]
    XX = X @ X.T
    XW = X @ W.T                      # n×m, rows (W x_i)ᵀ
    MA = (2.0 / (m * n)) * (XW @ XW.T)
    M = (2.0 / (m * n)) * (A @ A) * XX + MA
    # exact symmetry (round-off in the products can differ in the last bit)
    return 0.5 * (M + M.T), 0.5 * (MA + MA.T)


def jacobian(W, A, X):
    """J = ∂F/∂θ (n×p) with θ = [W row-major, A], analytic (used by the tests)."""
    n, d = X.shape
    m = A.shape[0]
    JW = (A[None, :, None] * X[:, None, :]).reshape(n, m * d) / np.sqrt(m)
    JA = (X @ W.T) / np.sqrt(m)
    return np.concatenate([JW, JA], axis=1)


def fix_signs(V, prev):
    """docs/FORMAT.md: rows of V (k×n) are eigenvectors; at t=0 make the largest-magnitude entry
    positive, afterwards flip v_i(t+1) when ⟨v_i(t), v_i(t+1)⟩ < 0."""
    V = V.copy()
    for i in range(V.shape[0]):
        if prev is None:
            j = int(np.argmax(np.abs(V[i])))
            if V[i, j] < 0:
                V[i] = -V[i]
        elif float(V[i] @ prev[i]) < 0:
            V[i] = -V[i]
    return V


def run(out: str | Path, *, n=40, d=10, m=50, steps=150, eta=1.1, k=4, checkpoint_every=25,
        data_seed=7, seed=11, a_scale=0.1, target_scale=3.0) -> dict:
    """Run GD and write the recording; returns a summary dict. With the defaults, sharpness
    rises from 0.2 to 2/η ≈ 1.82 by step ~10 and GD enters the edge of stability."""
    t0 = time.perf_counter()
    X, Y = make_data(n, d, data_seed, target_scale=target_scale)
    W, A = init_params(m, d, seed, a_scale)
    eta = float(eta)
    p = m * d + m
    model = {"kind": "two_layer_linear", "input_dim": d, "width": m}
    config = {"n": n, "d": d, "m": m, "steps": steps, "eta": eta, "k": k,
              "checkpoint_every": checkpoint_every, "data_seed": data_seed, "seed": seed,
              "a_scale": a_scale, "target_scale": target_scale, "script": "numpy_gd_two_layer_linear.py"}
    writer = ef.RecordingWriter(
        out, learning_rate=eta, model=model, Y=Y, X=X, k=k, n_parameters=p,
        series=["outputs", "output_layer_sharpness", "grad_norm", "parameters"],
        seed=seed, data_seed=data_seed, config=config,
        data_description=f"synthetic: n={n}, d={d}, one dominant direction (numpy, seed {data_seed})",
        cadences={"checkpoint": checkpoint_every},
        software="numpy_gd_two_layer_linear.py", software_version=np.__version__)
    status = "completed"
    prev_V = None
    sharp, writer_steps = [], []
    try:
        for t in range(steps):
            F = forward(W, A, X)
            D = F - Y
            loss = float(D @ D) / n
            if not np.isfinite(loss) or loss > 1e12:
                status = "diverged"
                break
            M, MA = gram(W, A, X)
            lam, vec = np.linalg.eigh(M)                   # ascending
            lam_k = lam[::-1][:k].copy()
            V = fix_signs(vec[:, ::-1][:, :k].T, prev_V)   # k×n
            prev_V = V
            XtD = X.T @ D
            gA = (2.0 / (n * np.sqrt(m))) * (W @ XtD)
            gW = (2.0 / (n * np.sqrt(m))) * np.outer(A, XtD)
            if t % checkpoint_every == 0:
                writer.append_checkpoint(t, np.concatenate([W.ravel(), A]))
            writer.append(t, loss=loss, residual=D, output_norm_sq=float(A @ A),
                          sharpness=float(lam_k[0]), eigenvalues=lam_k, eigenvectors=V,
                          dtf=float(D @ F), outputs=F,
                          output_layer_sharpness=float(np.linalg.eigvalsh(MA)[-1]),
                          grad_norm=float(np.sqrt(gA @ gA + np.sum(gW * gW))))
            sharp.append(float(lam_k[0]))
            writer_steps.append(t)
            W = W - eta * gW
            A = A - eta * gA
    except BaseException:
        writer.close("interrupted")
        raise
    writer.close(status)
    sharp = np.array(sharp) if sharp else np.array([np.nan])
    above = sharp > 2.0 / eta
    runs = int(np.sum(above[1:] & ~above[:-1]) + (above[0] if above.size else 0))
    summary = {"file": str(out), "status": status, "steps": len(writer_steps), "eta": eta,
               "threshold": 2.0 / eta, "initial_sharpness": float(sharp[0]),
               "max_sharpness": float(sharp.max()), "steps_above_threshold": int(above.sum()),
               "runs_above_threshold": runs, "n": n, "d": d, "m": m, "p": p,
               "seconds": round(time.perf_counter() - t0, 3)}
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output recording (.h5)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--eta", type=float, default=1.1, help="constant step size η")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--m", type=int, default=50)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--checkpoint-every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--data-seed", type=int, default=7)
    ap.add_argument("--a-scale", type=float, default=0.1, help="initial A ~ N(0,1)·a_scale")
    ap.add_argument("--target-scale", type=float, default=3.0)
    a = ap.parse_args(argv)
    for name in ("steps", "n", "d", "m", "k", "checkpoint_every"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.k > a.n:
        ap.error(f"--k must be at most n = {a.n}")
    if not (np.isfinite(a.eta) and a.eta > 0):
        ap.error("--eta must be a positive number")
    s = run(a.out, n=a.n, d=a.d, m=a.m, steps=a.steps, eta=a.eta, k=a.k,
            checkpoint_every=a.checkpoint_every, data_seed=a.data_seed, seed=a.seed,
            a_scale=a.a_scale, target_scale=a.target_scale)
    print(json.dumps(s, indent=1))
    return 0 if s["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())

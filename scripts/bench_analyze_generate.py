#!/usr/bin/env python3
"""Generates a recording shaped like the default preset (fmnist-tanh: Fashion-MNIST classes 0/6,
n = 1000, MLP 784-100-100-1 tanh with bias, η = 0.05, k = 8, checkpoints every 250 steps) with
numpy, for `scripts/bench-analyze.sh` when no recording made by `eostrace record` is at hand.

    python3 scripts/bench_analyze_generate.py OUT.h5 [--steps 5000] [--n 1000] [--checkpoint-every 250]

GD is exact float64 full-batch GD (θ ← θ − η∇L); the Gram is the exact per-layer kernel sum;
the top-k eigenpairs come from a warm-started block subspace iteration (Rayleigh–Ritz), signs per
docs/FORMAT.md. The data selection and initialization are NOT bit-identical to `eostrace record`: this is
a synthetic stand-in with the same sizes, and the file says so in /run@data_description.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_analyze_reference import Model  # noqa: E402


def load_fmnist(n, classes=(0, 6), seed=0, directory="/usr/share/datasets/fashion-mnist"):
    with gzip.open(f"{directory}/train-images-idx3-ubyte.gz") as f:
        img = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(f"{directory}/train-labels-idx1-ubyte.gz") as f:
        lab = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    idx = np.nonzero((lab == classes[0]) | (lab == classes[1]))[0]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(idx, size=n, replace=False))
    X = img[pick].astype(np.float64) / 255.0
    X -= X.mean(axis=0)
    Y = np.where(lab[pick] == classes[0], 1.0, -1.0)
    return X, Y


def init_params(sizes, seed):
    rng = np.random.default_rng(seed)
    parts = []
    for l in range(len(sizes) - 1):
        b = 1 / np.sqrt(sizes[l])
        parts.append(rng.uniform(-b, b, size=sizes[l + 1] * sizes[l]))
        parts.append(rng.uniform(-b, b, size=sizes[l + 1]))
    return np.concatenate(parts)


def top_k(M, V, k, iters):
    """Warm-started block subspace iteration + Rayleigh–Ritz; V is n×k (columns)."""
    for _ in range(iters):
        V, _ = np.linalg.qr(M @ V)
    w, U = np.linalg.eigh(V.T @ M @ V)
    order = np.argsort(w)[::-1]
    return w[order], V @ U[:, order]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=5000, help="recorded steps (rows), t = 0..steps-1")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--widths", default="100,100")
    a = ap.parse_args(argv)

    X, Y = load_fmnist(a.n)
    n, d = X.shape
    widths = [int(w) for w in a.widths.split(",")]
    desc = {"kind": "mlp", "input_dim": d, "widths": widths, "activation": "tanh", "bias": True, "output_scale": 1.0}
    model = Model(desc)
    theta = init_params(model.sizes, seed=0)
    p = theta.size
    T, k, eta = a.steps, a.k, a.lr
    steps = np.arange(T, dtype=np.int64)
    loss = np.empty(T); A2 = np.empty(T); lam = np.empty(T); dtf = np.empty(T)
    res = np.empty((T, n)); outs = np.empty((T, n)); evals = np.empty((T, k)); evecs = np.empty((T, k, n))
    ck_steps, cks = [], []
    rng = np.random.default_rng(1)
    V = np.linalg.qr(rng.standard_normal((n, k)))[0]
    prev = None
    a_range = slice(model.sizes[0] * model.sizes[1] + model.sizes[1] + model.sizes[1] * model.sizes[2] + model.sizes[2], None)
    t0 = time.perf_counter()
    for t in range(T):
        if t % a.checkpoint_every == 0 or t == T - 1:
            ck_steps.append(t); cks.append(theta.copy())
        F, D, g, M, dF = model.evaluate(theta, X, Y)
        w, V = top_k(M, V, k, iters=12 if t == 0 else 3)
        Vt = V.T.copy()
        if prev is None:
            for i in range(k):
                if Vt[i, np.argmax(np.abs(Vt[i]))] < 0:
                    Vt[i] = -Vt[i]
        else:
            for i in range(k):
                if Vt[i] @ prev[i] < 0:
                    Vt[i] = -Vt[i]
        prev = Vt
        V = Vt.T
        Aw = theta[a_range][: model.sizes[-2]]
        loss[t] = D @ D / n; res[t] = D; outs[t] = F; A2[t] = Aw @ Aw; dtf[t] = dF
        lam[t] = w[0]; evals[t] = w; evecs[t] = Vt
        theta = theta - eta * g
        if t % 500 == 0:
            print(f"step {t}: loss {loss[t]:.4g} sharpness*eta/2 {lam[t] * eta / 2:.4g} ({time.perf_counter() - t0:.0f}s)",
                  file=sys.stderr)
    with h5py.File(a.out, "w", libver=("earliest", "v110")) as f:
        f.attrs["format"] = "eostrace-trajectory"
        f.attrs["format_version"] = np.array([1, 0], dtype=np.int64)
        f.attrs["software"] = "bench_analyze_generate.py (numpy)"
        f.attrs["software_version"] = "0"
        run = f.create_group("run")
        run.attrs["learning_rate"] = eta
        run.attrs["n_samples"] = np.int64(n)
        run.attrs["n_parameters"] = np.int64(p)
        run.attrs["k"] = np.int64(k)
        run.attrs["loss"] = "mse"
        run.attrs["model"] = json.dumps(desc)
        run.attrs["data_description"] = "SYNTHETIC BENCHMARK STAND-IN: Fashion-MNIST 0 vs 6, numpy GD (not eostrace record)"
        run.create_dataset("status", data=np.bytes_("completed".ljust(16, "\0")))
        data = f.create_group("data")
        data.create_dataset("X", data=X)
        data.create_dataset("Y", data=Y)
        tr = f.create_group("trajectory")
        for name, v in [("step", steps), ("loss", loss), ("residual", res), ("outputs", outs), ("output_norm_sq", A2),
                        ("sharpness", lam), ("eigenvalues", evals), ("eigenvectors", evecs), ("dtf", dtf),
                        ("checkpoint_step", np.array(ck_steps, dtype=np.int64)), ("parameters", np.array(cks))]:
            tr.create_dataset(name, data=v)
    print(f"wrote {a.out}: {T} steps, n={n}, p={p}, k={k}, {len(ck_steps)} checkpoints, "
          f"{time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

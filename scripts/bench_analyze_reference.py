#!/usr/bin/env python3
"""Straightforward numpy implementation of `eostrace analyze` (SPEC §3), for benchmarking and
for cross-checking the Swift numbers.

    python3 scripts/bench_analyze_reference.py RUN.h5 [--json OUT.json] [--no-replay]

It reads the recording with h5py, replays GD from the parameter checkpoints with the exact
per-layer Gram M = (2/n) Σ_l (Δ_l Δ_lᵀ) ∘ (H_l H_lᵀ + β) (numpy matmuls, no caching), and computes
phases (loss rule), c1, ‖R‖²/n, R′ tracking (from the first step and restarted at phase-II
starts), anomaly points, and the SPEC 3.5 checks. It prints timings and writes the key numbers as
JSON (same names as the Swift result) so that the two can be compared.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import h5py
import numpy as np


# ---------------------------------------------------------------- model

ACT = {
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z)))),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z: 1 / (1 + np.exp(-z))),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))), lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))),
}


class Model:
    """MLP / two-layer linear with the θ layout of docs/ARCHITECTURE.md."""

    def __init__(self, desc: dict):
        if desc["kind"] == "mlp":
            self.sizes = [desc["input_dim"]] + list(desc["widths"]) + [1]
            self.act = desc.get("activation", "tanh")
            self.bias = desc.get("bias", True)
            self.scale = desc.get("output_scale", 1.0)
        elif desc["kind"] == "two_layer_linear":
            self.sizes = [desc["input_dim"], desc["width"], 1]
            self.act, self.bias, self.scale = "linear", False, 1 / math.sqrt(desc["width"])
        else:
            raise ValueError(f"model kind {desc['kind']!r} cannot be replayed")
        self.kind = desc["kind"]
        self.L = len(self.sizes) - 1

    def unpack(self, theta):
        Ws, bs, off = [], [], 0
        for l in range(self.L):
            o, i = self.sizes[l + 1], self.sizes[l]
            Ws.append(theta[off:off + o * i].reshape(o, i)); off += o * i
            if self.bias:
                bs.append(theta[off:off + o]); off += o
            else:
                bs.append(None)
        return Ws, bs

    def evaluate(self, theta, X, Y):
        """F, D, gradient, exact Gram M (n×n), DᵀF."""
        n = X.shape[0]
        phi, dphi = ACT[self.act]
        Ws, bs = self.unpack(theta)
        hs, ds = [X], []
        h = X
        for l in range(self.L):
            z = h @ Ws[l].T
            if bs[l] is not None:
                z = z + bs[l]
            if l < self.L - 1:
                ds.append(dphi(z))
                h = phi(z)
                hs.append(h)
        F = self.scale * z[:, 0]
        D = F - Y
        # per-example backprop signals Δ_l = ∂f/∂Z_l
        deltas = [None] * self.L
        g = np.full((n, 1), self.scale)
        deltas[self.L - 1] = g
        for l in range(self.L - 1, 0, -1):
            g = (g @ Ws[l]) * ds[l - 1]
            deltas[l - 1] = g
        grad = []
        r = (2.0 / n) * D
        for l in range(self.L):
            gl = deltas[l] * r[:, None]
            grad.append((gl.T @ hs[l]).ravel())
            if self.bias:
                grad.append(gl.sum(axis=0))
        grad = np.concatenate(grad)
        beta = 1.0 if self.bias else 0.0
        M = np.zeros((n, n))
        for l in range(self.L):
            M += (deltas[l] @ deltas[l].T) * (hs[l] @ hs[l].T + beta)
        M *= 2.0 / n
        return F, D, grad, M, float(D @ F)

    def output_width(self):
        return self.sizes[-2]


# ---------------------------------------------------------------- analysis

def dist(values):
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"count": 0, "median": float("nan"), "p90": float("nan"), "max": float("nan")}
    return {"count": int(v.size), "median": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90)),
            "max": float(v.max())}


def phases_loss_rule(lam, loss, eta):
    T = len(lam)
    thr = 2.0 / eta
    phase = np.ones(T, dtype=np.int8)
    runs, i = [], 0
    while i < T:
        if lam[i] > thr:
            j = i
            while j + 1 < T and lam[j + 1] > thr:
                j += 1
            runs.append((i, j)); i = j + 1
        else:
            i += 1
    cycles = []
    for r, (a, b) in enumerate(runs):
        p = a + int(np.argmax(lam[a:b + 1]))
        phase[a:p + 1] = 2
        phase[p + 1:b + 1] = 3
        limit = runs[r + 1][0] if r + 1 < len(runs) else T
        q = b + 1
        while q < limit and not (loss[q] <= loss[p]):
            phase[q] = 4; q += 1
        cycles.append((a, p, b))
    return phase, cycles


def analyze(path, replay=True):
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        tr = f["trajectory"]
        steps = tr["step"][...]
        loss = tr["loss"][...]
        D = tr["residual"][...]
        A2 = tr["output_norm_sq"][...]
        lam = tr["sharpness"][...]
        ev = tr["eigenvalues"][...]
        V = tr["eigenvectors"][...]
        dtf = tr["dtf"][...]
        ol = tr["output_layer_sharpness"][...] if "output_layer_sharpness" in tr else None
        run = f["run"].attrs
        eta = float(run["learning_rate"])
        model_json = run["model"]
        model_json = model_json.decode() if isinstance(model_json, bytes) else str(model_json)
        desc = json.loads(model_json)
        Y = f["data"]["Y"][...]
        X = f["data"]["X"][...] if "X" in f["data"] else None
        ck_steps = tr["checkpoint_step"][...] if "checkpoint_step" in tr else np.zeros(0, dtype=np.int64)
        ck = tr["parameters"][...] if "parameters" in tr else None
    t_read = time.perf_counter() - t0
    T, n = D.shape
    k = ev.shape[1]
    v1 = V[:, 0, :]
    consecutive = np.zeros(T, dtype=bool)
    consecutive[:-1] = steps[1:] == steps[:-1] + 1

    phase, cycles = phases_loss_rule(lam, loss, eta)
    starts = {a for (a, p, b) in cycles}

    c1 = np.einsum("ij,ij->i", D, v1)
    R = D - c1[:, None] * v1
    rnorm = np.linalg.norm(R, axis=1)
    r_norm_sq = rnorm ** 2 / n

    model = Model(desc) if replay and ck is not None and len(ck_steps) and X is not None else None
    theta, cur = None, None
    max_drift = 0.0
    ck_index = {int(s): j for j, s in enumerate(ck_steps)}
    err_s = np.full(T, np.nan); err_p = np.full(T, np.nan)
    first_order = np.full(T, np.nan)
    rps = np.zeros(n); rpp = np.zeros(n)
    t_loop = time.perf_counter()
    for i in range(T):
        if i == 0 or not consecutive[i - 1]:
            rps = R[i].copy(); rpp = R[i].copy()
        elif i in starts:
            rpp = R[i].copy()
        err_s[i] = np.linalg.norm(R[i] - rps)
        err_p[i] = np.linalg.norm(R[i] - rpp)
        if not consecutive[i]:
            continue
        M = None
        if model is not None:
            s = int(steps[i])
            if cur is None:
                j = int(np.searchsorted(ck_steps, s, side="right")) - 1
                if j >= 0:
                    theta, cur = ck[j].copy(), int(ck_steps[j])
            if cur is not None and cur <= s:
                while cur < s:
                    _, _, g, _, _ = model.evaluate(theta, X, Y)
                    theta -= eta * g; cur += 1
                    if cur in ck_index:
                        c = ck[ck_index[cur]]
                        max_drift = max(max_drift, np.linalg.norm(theta - c) / np.linalg.norm(c))
                        theta = c.copy()
                _, Drep, g, M, _ = model.evaluate(theta, X, Y)
                max_drift = max(max_drift, np.linalg.norm(Drep - D[i]) / np.linalg.norm(D[i]))
                theta = theta - eta * g; cur += 1
                if cur in ck_index:
                    theta = ck[ck_index[cur]].copy()
        if M is None:  # top-k approximation
            M = (V[i].T * ev[i]) @ V[i]
        P = lambda x: x - v1[i] * (v1[i] @ x)
        MD = M @ D[i]
        step = D[i + 1] - D[i]
        first_order[i] = np.linalg.norm(step + eta * MD) / np.linalg.norm(step)
        rps = rps - eta * (M @ P(rps))
        rpp = rpp - eta * (M @ P(rpp))
    t_loop = time.perf_counter() - t_loop

    pairs = np.nonzero(consecutive)[0]
    dL = lam[pairs + 1] - lam[pairs]
    dA = A2[pairs + 1] - A2[pairs]
    anomaly = pairs[(dL != 0) & (dA != 0) & (np.sign(dL) != np.sign(dA))]
    both = (dL != 0) & (dA != 0)
    co = float(np.mean(np.sign(dL[both]) == np.sign(dA[both]))) if both.any() else float("nan")
    a_fo = np.abs(dA + 4 * eta / n * dtf[pairs]) / np.abs(dA)
    eps2 = 1 - np.abs(np.einsum("ij,ij->i", v1[pairs], v1[pairs + 1]))
    ynorm = float(np.linalg.norm(Y))
    dn = np.linalg.norm(D, axis=1)
    big = dn > ynorm
    p31 = float(np.mean(dtf[big] > 0)) if big.any() else float("nan")
    l2 = float(np.mean(ev[:, 1] < 1 / eta)) if k >= 2 else float("nan")
    rel_p = err_p / rnorm
    rel_s = err_s / rnorm
    out = {
        "rows": int(T), "n": int(n), "k": int(k),
        "replayed": model is not None, "max_relative_drift": max_drift,
        "phase_rows": [int((phase == p).sum()) for p in (1, 2, 3, 4)],
        "cycles": len(cycles),
        "anomalies": int(anomaly.size),
        "co_movement_rate": co,
        "r_prime_rel_error_primary": dist(rel_p),
        "r_prime_rel_error_from_start": dist(rel_s),
        "first_order_residual": dist(first_order[pairs]),
        "first_order_output_norm": dist(a_fo),
        "eps2": dist(eps2),
        "proposition31_rate": p31,
        "assumption37_rate": l2,
        "c1_last": float(c1[-1]), "r_norm_sq_last": float(r_norm_sq[-1]),
        "seconds": {"read": t_read, "loop": t_loop, "total": time.perf_counter() - t0},
    }
    if ol is not None:
        out["output_layer_ratio"] = dist(ol / lam)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    ap.add_argument("--json", help="write the key numbers here")
    ap.add_argument("--no-replay", action="store_true", help="use the top-k approximation of M")
    a = ap.parse_args(argv)
    res = analyze(a.path, replay=not a.no_replay)
    text = json.dumps(res, indent=1, sort_keys=True, default=float)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

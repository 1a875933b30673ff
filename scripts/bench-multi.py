#!/usr/bin/env python3
"""The peer of `eostrace-dev bench-multi`: Cohen et al.'s way of tracking sharpness.

Top-8 eigenvalues of the loss Hessian by scipy `eigsh(k=8, which='LA', tol=1e-10)` on float64
Hessian-vector products (Pearlmutter's R-operator, written here in numpy), warm `v0` from the
previous step, along the same GD trajectory of the same network and data as the Swift benchmark
(read from X.npy, Y.npy, theta.npy that `bench-multi --dump DIR` writes).

Network: fc-tanh, hidden widths from --widths, c outputs, bias, θ laid out layer by layer as
W_l (out × in, row-major) then b_l. Loss L = ‖F − Y‖_F² / n.

Prints `key value` lines: plain_step_ms, peer_step_ms (median eigsh time per step), hvp_ms,
hvps_per_step, and a finite-difference self-check of the HVP.
"""
import argparse
import sys
import time

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh


def unpack(theta, sizes):
    ws, bs, off = [], [], 0
    for l in range(len(sizes) - 1):
        o, i = sizes[l + 1], sizes[l]
        ws.append(theta[off:off + o * i].reshape(o, i)); off += o * i
        bs.append(theta[off:off + o]); off += o
    assert off == theta.size, (off, theta.size)
    return ws, bs


class Net:
    def __init__(self, X, Y, sizes):
        self.X, self.Y, self.sizes = X, Y, sizes
        self.n = X.shape[0]

    def forward(self, theta):
        ws, bs = unpack(theta, self.sizes)
        hs, zs = [self.X], []
        for l, (w, b) in enumerate(zip(ws, bs)):
            z = hs[-1] @ w.T + b
            zs.append(z)
            if l < len(ws) - 1:
                hs.append(np.tanh(z))
        return ws, bs, hs, zs

    def loss_grad(self, theta):
        ws, bs, hs, zs = self.forward(theta)
        D = zs[-1] - self.Y
        loss = np.sum(D * D) / self.n
        g = (2.0 / self.n) * D
        out = []
        for l in range(len(ws) - 1, -1, -1):
            out.append((g.T @ hs[l]).ravel()); out.append(g.sum(axis=0))
            if l > 0:
                t = np.tanh(zs[l - 1])
                g = (g @ ws[l]) * (1 - t * t)
        grads = []
        for l in range(len(ws)):
            k = len(ws) - 1 - l
            grads += [out[2 * k], out[2 * k + 1]]
        return loss, np.concatenate(grads)

    def hvp_factory(self, theta):
        """Caches the forward/backward pass at θ; returns v ↦ ∇²L(θ) v (exact, R-operator)."""
        ws, bs, hs, zs = self.forward(theta)
        L = len(ws)
        n = self.n
        D = zs[-1] - self.Y
        G = [None] * L
        G[L - 1] = (2.0 / n) * D
        dphi = [None] * L
        d2phi = [None] * L
        for l in range(L - 1):
            t = np.tanh(zs[l]); dphi[l] = 1 - t * t; d2phi[l] = -2 * t * dphi[l]
        for l in range(L - 1, 0, -1):
            G[l - 1] = (G[l] @ ws[l]) * dphi[l - 1]
        sizes = self.sizes

        def hvp(v):
            v = np.asarray(v).ravel()
            vw, vb = unpack(v, sizes)
            rz, rh = [], [None]
            for l in range(L):
                r = hs[l] @ vw[l].T + vb[l]
                if rh[l] is not None:
                    r += rh[l] @ ws[l].T
                rz.append(r)
                if l < L - 1:
                    rh.append(dphi[l] * r)
            rg = (2.0 / n) * rz[L - 1]
            parts = [None] * (2 * L)
            for l in range(L - 1, -1, -1):
                hw = rg.T @ hs[l]
                if rh[l] is not None:
                    hw += G[l].T @ rh[l]
                parts[2 * l] = hw.ravel(); parts[2 * l + 1] = rg.sum(axis=0)
                if l > 0:
                    rgp = (rg @ ws[l] + G[l] @ vw[l]) * dphi[l - 1] + (G[l] @ ws[l]) * d2phi[l - 1] * rz[l - 1]
                    rg = rgp
            return np.concatenate(parts)
        return hvp


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory with X.npy, Y.npy, theta.npy (bench-multi --dump)")
    ap.add_argument("--widths", default="200,200")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (medians)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--plain-steps", type=int, default=5)
    a = ap.parse_args()
    X = np.load(a.dir + "/X.npy"); Y = np.load(a.dir + "/Y.npy"); theta = np.load(a.dir + "/theta.npy")
    sizes = [X.shape[1]] + [int(w) for w in a.widths.split(",")] + [Y.shape[1]]
    net = Net(X, Y, sizes)
    p = theta.size
    print(f"n {X.shape[0]}\nc {Y.shape[1]}\nparameters {p}")
    # Self-check of the HVP against central differences of the exact gradient.
    rng = np.random.default_rng(0)
    v = rng.standard_normal(p)
    h = 1e-5
    fd = (net.loss_grad(theta + h * v)[1] - net.loss_grad(theta - h * v)[1]) / (2 * h)
    hv = net.hvp_factory(theta)(v)
    err = np.linalg.norm(hv - fd) / np.linalg.norm(fd)
    print(f"hvp_fd_relative_error {err:.2e}")
    if not err < 1e-5:
        print("bench-multi.py: HVP self-check failed", file=sys.stderr)
        return 1
    plain, plaincpu = [], []
    t2 = theta.copy()
    for _ in range(a.plain_steps):
        s = time.perf_counter(); c = time.process_time()
        _, g = net.loss_grad(t2); t2 -= a.lr * g
        plain.append(time.perf_counter() - s); plaincpu.append(time.process_time() - c)
    print(f"plain_step_ms {1000 * np.median(plain):.2f}")
    print(f"plain_step_cpu_ms {1000 * np.median(plaincpu):.2f}")
    v0 = None
    times, cpus, counts, hvpt, tops = [], [], [], [], []
    for t in range(a.warmup + a.steps):
        s = time.perf_counter(); c0 = time.process_time()
        loss, g = net.loss_grad(theta)
        hvp = net.hvp_factory(theta)
        calls = [0, 0.0]

        def mv(x):
            s1 = time.perf_counter(); r = hvp(x); calls[0] += 1; calls[1] += time.perf_counter() - s1; return r
        op = LinearOperator((p, p), matvec=mv, dtype=np.float64)
        vals, vecs = eigsh(op, k=a.k, which="LA", tol=1e-10, v0=v0)
        v0 = vecs[:, np.argmax(vals)]
        el = time.perf_counter() - s
        cpu = time.process_time() - c0
        theta = theta - a.lr * g
        if t >= a.warmup:
            times.append(el); cpus.append(cpu); counts.append(calls[0]); hvpt.append(calls[1] / max(calls[0], 1)); tops.append(vals.max())
    print(f"peer_step_ms {1000 * np.median(times):.1f}")
    print(f"peer_step_cpu_ms {1000 * np.median(cpus):.1f}")
    print(f"hvps_per_step_median {np.median(counts):.0f}")
    print(f"hvp_ms {1000 * np.median(hvpt):.2f}")
    print(f"hessian_top_last {tops[-1]:.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Cost per GD step of the Python/JAX recorder against the peers, on the default preset's network.

Network 784-100-100-1 tanh (bias), n = 1,000 two-class Fashion-MNIST (0 vs 6, centered), float64,
k = 8, from the MLP's default initialization, measured after a warm-up of --warmup GD steps
(warm starts in a representative state). Medians over --steps consecutive steps of:

  plain        one jitted GD step (forward, gradient, update): the floor
  mlp          eostrace.jax recorder, MLP path: exact M from per-layer kernels, top-8 of M by
               warm-started block LOBPCG, the three M-products, loss/residual/‖A‖²/DᵀF/‖∇L‖
               (no file I/O: the recorder's math only, as `JaxRecorder.step` minus the writer)
  general      the same on the any-architecture path (batched jvp/vjp products with M)
  central      central flows' method: warm-started LOBPCG on batched Hessian-vector products,
               top-8 of the loss Hessian (their code: torch lobpcg on vmapped HVPs; this is our
               own block LOBPCG on jax HVPs, the same algorithm)
  cohen        Cohen et al. (2021): scipy.sparse.linalg.eigsh (ARPACK Lanczos) on HVPs, top-8,
               cold start every step, one HVP per matvec

Every method's eigenvalues are checked against a reference: the Gram methods against LAPACK
(numpy eigh of the dense M), the Hessian methods against eigsh at tol 1e-14 (the Hessian, p ≈ 89k,
cannot be formed densely); each must agree to 1e-8 relative.
Prints one JSON object; scripts/bench-python.sh runs it and records the load average. Run it with
OPENBLAS_NUM_THREADS=1 (the .sh does): numpy's threaded BLAS on a loaded 2-core machine is 10–100×
slower on the n×n products, which would measure the machine, not the method. jit compiles once
per block width; every width is compiled before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import numpy as np  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import eostrace.jax as ej  # noqa: E402
from eostrace.data import fashion_mnist  # noqa: E402
from eostrace.linalg import top_eigenpairs  # noqa: E402
from eostrace.tracker import Tracker  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=7, help="timed steps per method (median)")
    ap.add_argument("--warmup", type=int, default=50, help="plain GD steps before timing")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--tol", type=float, default=1e-7, help="LOBPCG residual tolerance (relative to λ1)")
    ap.add_argument("--skip", default="", help="comma-separated methods to skip")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    n, k, lr = args.n, args.k, args.lr

    X, Y = fashion_mnist(n, classes=(0, 6), seed=0)
    net = ej.MLP(784, [100, 100], "tanh")
    theta = jnp.asarray(net.init(seed=0))
    theta = ej.plain_gd(net, theta, X, Y, lr, args.warmup)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    out: dict = {"n": n, "k": k, "p": net.n_parameters, "warmup_steps": args.warmup, "timed_steps": args.steps,
                 "lr": lr, "lobpcg_tol": args.tol, "jax": jax.__version__, "load_before": os.getloadavg()}

    # X, Y are jit arguments everywhere (a closed-over constant X makes XLA constant-fold X Xᵀ)
    def loss_xy(th, X, Y):
        return jnp.mean((net.apply(th, X) - Y) ** 2)

    def loss_fn(th):
        return loss_xy(th, Xj, Yj)

    gd_j = jax.jit(lambda th, X, Y: th - lr * jax.grad(loss_xy)(th, X, Y))
    gd = lambda th: gd_j(th, Xj, Yj)  # noqa: E731

    def time_steps(step_fn, th, steps):
        """Run step_fn (th -> th') `steps` times after one untimed call (compilation); median s."""
        th = step_fn(th)
        ts = []
        for _ in range(steps):
            t0 = time.perf_counter()
            th = step_fn(th)
            jax.block_until_ready(th)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts), th

    # -- plain GD step
    out["plain_s"], _ = time_steps(gd, theta, max(args.steps, 20))

    # -- the recorder's math, MLP and general paths
    ev_j = jax.jit(jax.value_and_grad(loss_xy))
    evaluate = lambda th: ev_j(th, Xj, Yj)  # noqa: E731
    fwd_j = jax.jit(net.apply)
    fwd = lambda th: fwd_j(th, Xj)  # noqa: E731
    XXt = Xj @ Xj.T
    kern_j = jax.jit(net.kernels)
    kern = lambda th: kern_j(th, Xj, XXt)  # noqa: E731
    gram_fn = ej.gram_block_fn(net.apply, Xj)
    checks = {}

    def recorder_step(path_kind, tracker, t_counter):
        def step(th):
            loss, g = evaluate(th)
            F = np.asarray(fwd(th))
            D = F - Y
            if path_kind == "mlp":
                _, M, _ = kern(th)
                M = np.asarray(M)
                mm = lambda V: M @ V  # noqa: E731
            else:
                mm = ej._padded(lambda V: gram_fn(th, V), n)
            row = tracker.step(t_counter[0], D, mm)
            A = np.asarray(net.output_weights(th))
            _ = (float(A @ A), float(D @ F), float(np.linalg.norm(np.asarray(g))), float(loss))
            t_counter[0] += 1
            step.last = (th, row)
            return th - lr * g
        return step

    def precompile(fn, dim, args_first):
        """jit compiles once per block width: do it for every bucket width before timing."""
        for b in ej._BUCKETS:
            if b > 3 * (k + max(2, (k + 1) // 2)) + 3:
                break
            jax.block_until_ready(fn(args_first, jnp.zeros((dim, b))))

    if "general" not in skip:
        precompile(gram_fn, n, theta)

    for kind in ("mlp", "general"):
        if kind in skip:
            continue
        tr = Tracker(n, k, lr, tol=args.tol)
        counter = [0]
        fn = recorder_step(kind, tr, counter)
        out[f"{kind}_s"], _ = time_steps(fn, theta, args.steps)
        th_last, row = fn.last
        _, M, _ = kern(th_last)
        w = np.linalg.eigvalsh(np.asarray(M))[::-1][:k]
        checks[kind] = float(np.max(np.abs(row["eigenvalues"] - w) / w[0]))
        out[f"{kind}_matvecs_per_step"] = tr.total_matvecs / tr.solves + 3
        out[f"{kind}_iterations_per_step"] = tr.total_iterations / tr.solves

    # -- Hessian methods
    hvp_j = jax.jit(lambda th, v, X, Y: jax.jvp(lambda q: jax.grad(loss_xy)(q, X, Y), (th,), (v,))[1])
    hvp = lambda th, v: hvp_j(th, v, Xj, Yj)  # noqa: E731
    hvpb_j = jax.jit(lambda th, V, X, Y: jax.vmap(
        lambda v: jax.jvp(lambda q: jax.grad(loss_xy)(q, X, Y), (th,), (v,))[1], in_axes=1, out_axes=1)(V))
    hvp_block = lambda th, V: hvpb_j(th, V, Xj, Yj)  # noqa: E731
    p = net.n_parameters

    def hess_reference(th):
        op = spla.LinearOperator((p, p), matvec=lambda v: np.asarray(hvp(th, jnp.asarray(v.ravel()))), dtype=np.float64)
        return np.sort(spla.eigsh(op, k=k, which="LA", tol=1e-14, return_eigenvectors=False))[::-1]

    if "central" not in skip:
        precompile(hvp_block, p, theta)
        state = {"block": None, "matvecs": 0, "solves": 0}

        def central(th):
            mm = ej._padded(lambda V: hvp_block(th, V), p)
            r = top_eigenpairs(mm, p, k, X0=state["block"], tol=args.tol)
            state["block"] = r.block
            state["matvecs"] += r.matvecs
            state["solves"] += 1
            central.last = (th, r.values)
            return gd(th)
        out["central_s"], _ = time_steps(central, theta, args.steps)
        th_last, vals = central.last
        ref = hess_reference(th_last)
        checks["central"] = float(np.max(np.abs(vals - ref) / ref[0]))
        out["central_hvps_per_step"] = state["matvecs"] / state["solves"]

    if "cohen" not in skip:
        cnt = {"hvps": 0, "solves": 0}

        def cohen(th):
            def mv(v):
                cnt["hvps"] += 1
                return np.asarray(hvp(th, jnp.asarray(v.ravel())))
            op = spla.LinearOperator((p, p), matvec=mv, dtype=np.float64)
            vals = np.sort(spla.eigsh(op, k=k, which="LA", tol=1e-9, return_eigenvectors=False))[::-1]
            cnt["solves"] += 1
            cohen.last = (th, vals)
            return gd(th)
        out["cohen_s"], _ = time_steps(cohen, theta, max(3, args.steps // 2))
        th_last, vals = cohen.last
        ref = hess_reference(th_last)
        checks["cohen"] = float(np.max(np.abs(vals - ref) / ref[0]))
        out["cohen_hvps_per_step"] = cnt["hvps"] / cnt["solves"]

    out["eigenvalue_relative_error"] = checks
    out["all_within_1e-8"] = all(v <= 1e-8 for v in checks.values())
    for kind in ("mlp", "general"):
        if f"{kind}_s" in out:
            r = {"vs_plain": out[f"{kind}_s"] / out["plain_s"]}
            if "central_s" in out:
                r["central_over_this"] = out["central_s"] / out[f"{kind}_s"]
            if "cohen_s" in out:
                r["cohen_over_this"] = out["cohen_s"] / out[f"{kind}_s"]
            out[f"{kind}_ratios"] = r
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1, default=float))
    return 0 if out["all_within_1e-8"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

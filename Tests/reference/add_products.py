"""Writes the format-1.1 M-products into a copy of a recording, computed independently in numpy
(h5py + numpy only; no Swift code): test fixtures for the products-based analysis.

    python3 Tests/reference/add_products.py IN.h5 OUT.h5 [--gram replay|stored]
        [--scale-gram F] [--scale-eta F] [--loss-convention TEXT] [--perturb-checkpoints REL]

M(t) is the numpy replay of GD from the checkpoints (`eos_reference.ReplayGram`; rows before the
first checkpoint get the top-k approximation) or the stored `gram` (top-k elsewhere). Then

- gram_residual(t) = M(t) D(t),
- r_prime_from_start: R′(t0) = R(t0) at the first row, R′(t+1) = (I − ηM(t)(I − v1v1ᵀ))R′(t),
- r_prime: the same, restarted (R′ := R) at every step a with Λ(a) > 2/η whose predecessor is not
  recorded or has Λ(a−1) ≤ 2/η (the causal rule a recorder can apply),

each [step, sample] float64 with the file's `step` and sample dimension scales. The same M feeds
`eos_reference.r_prime_errors`, so the numpy reference and the Swift analysis of OUT can be
compared row by row. Options make deliberately wrong files for the convention check:
`--scale-gram` multiplies gram_residual, `--scale-eta` multiplies /run@learning_rate,
`--perturb-checkpoints` multiplies every checkpoint entry by (1 ± REL) (what another machine's
replay would see), `--loss-convention` writes /run@loss_convention.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eos_reference as ref  # noqa: E402


def products(rec: ref.Recording, gram_at):
    """(gram_residual, r_prime, r_prime_from_start, M-source per row) with M(t) = gram_at(row) or
    None (then the top-k approximation)."""
    T, n, eta = rec.T, rec.n, rec.eta
    v1 = rec.v1
    c1 = np.einsum("ij,ij->i", rec.D, v1)
    R = rec.D - c1[:, None] * v1
    cons = ref.consecutive_pairs(rec.steps)
    thr = 2.0 / eta
    g = np.zeros((T, n))
    rp = np.zeros((T, n))
    rs = np.zeros((T, n))
    cur_p = cur_s = None
    for i in range(T):
        first = i == 0 or not cons[i - 1]
        if first:
            cur_s = R[i].copy()
            cur_p = R[i].copy()
        if rec.lam[i] > thr and (first or rec.lam[i - 1] <= thr):
            cur_p = R[i].copy()
        rp[i], rs[i] = cur_p, cur_s
        M = gram_at(i)
        if M is None:
            M = ref.topk_gram(rec, i)
        g[i] = M @ rec.D[i]
        if i + 1 < T and cons[i]:
            v = v1[i]
            cur_s = cur_s - eta * (M @ (cur_s - v * (v @ cur_s)))
            cur_p = cur_p - eta * (M @ (cur_p - v * (v @ cur_p)))
    return g, rp, rs


def write_products(src, dst, g, rp, rs, scale_gram=1.0, scale_eta=1.0, loss_convention=None,
                   perturb_checkpoints=0.0):
    """Copies src to dst and writes the products (and the deliberate errors) into dst."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        tr = f["trajectory"]
        res = tr["residual"]
        for name, data in (("gram_residual", g * scale_gram), ("r_prime", rp), ("r_prime_from_start", rs)):
            if data is None:
                continue
            if name in tr:
                del tr[name]
            ds = tr.create_dataset(name, data=data.astype(np.float64), chunks=True, maxshape=(None, data.shape[1]))
            for axis in range(2):
                for scale in res.dims[axis].values():
                    ds.dims[axis].attach_scale(scale)
        if scale_eta != 1.0:
            f["run"].attrs["learning_rate"] = float(f["run"].attrs["learning_rate"]) * scale_eta
        if loss_convention is not None:
            f["run"].attrs["loss_convention"] = loss_convention
        if perturb_checkpoints:
            perturb(f, perturb_checkpoints)


def perturb(f, rel):
    """Multiplies every checkpoint entry by (1 ± rel), alternating signs (h5py file open r+)."""
    p = f["trajectory"]["parameters"]
    a = p[...]
    signs = np.where(np.arange(a.size).reshape(a.shape) % 2 == 0, 1.0, -1.0)
    p[...] = a * (1 + rel * signs)


def add_products(src, dst, gram="replay", **kw):
    rec = ref.load(src)
    with h5py.File(src, "r") as f:
        provider = ref.StoredGram(rec, f) if gram == "stored" else ref.ReplayGram(rec)
        g, rp, rs = products(rec, provider)
    write_products(src, dst, g, rp, rs, **kw)
    return provider


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--gram", choices=["replay", "stored"], default="replay")
    ap.add_argument("--scale-gram", type=float, default=1.0)
    ap.add_argument("--scale-eta", type=float, default=1.0)
    ap.add_argument("--loss-convention")
    ap.add_argument("--perturb-checkpoints", type=float, default=0.0)
    a = ap.parse_args(argv)
    add_products(a.src, a.dst, a.gram, scale_gram=a.scale_gram, scale_eta=a.scale_eta,
                 loss_convention=a.loss_convention, perturb_checkpoints=a.perturb_checkpoints)


if __name__ == "__main__":
    main()

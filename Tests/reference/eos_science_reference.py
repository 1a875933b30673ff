"""numpy reference of the analysis beyond the paper's minimum (issue 15), independent of the Swift
side: written from docs/ANALYSIS.md, sharing no code with Sources/ (only `eos_reference`'s loader
and run finder, themselves independent of Swift).

- `segment_with_options` — phases and cycles with a minimum excursion (steps above 2/η, relative
  margin of the peak above 2/η) and merging of runs separated by fewer than G rows;
- `cycle_count` — the one cycle count: cycles begun, complete ones, one-step excursions and the
  largest relative height of those;
- `c1_floor_share`, `eigen_tolerance` — the accuracy floor of c1 (docs/ANALYSIS.md §6):
  max(c1_floor, tol·λ1/(λ1 − λ2)), tol from the file's /run@config;
- `phase2_lengths` — Lemma 3.2's growth law: the first τ with |c1(a)|·Π|1 − ηΛ(t)| ≥ ‖D(a)‖,
  against the measured p − a, and the growth of |c1| over pairs above the eigenvector floor;
- `lemma32` — Lemma 3.2's ratio check on the phase II–III pairs above the same floor;
- `assumption36` — both readings (ε2 the max over the phase-II pairs, ε2 at the start);
- `regimes` — hover rows and co-movement of ‖A‖ and Λ per regime.
"""
from __future__ import annotations

import json
import math

import h5py
import numpy as np

import eos_reference as ref

EIGEN_TOL = 1e-10


def segment_with_options(lam, loss, eta, dtf=None, rule="loss", min_steps=1, min_margin=0.0, merge_gap=0):
    lam = np.asarray(lam, float)
    loss = np.asarray(loss, float)
    thr = 2.0 / eta
    merged = []
    for a, b in ref.find_runs(lam, thr):
        if merged and a - merged[-1][1] - 1 < merge_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    runs = [(a, b) for a, b in merged
            if int((lam[a:b + 1] > thr).sum()) >= min_steps
            and (min_margin == 0 or lam[a:b + 1].max() > (1 + min_margin) * thr)]
    return ref.phases_from_runs(lam, loss, dtf, runs, rule)


def cycle_count(lam, eta, cycles):
    """(cycles, complete, one_step, one_step_max_margin)."""
    lam = np.asarray(lam, float)
    T = len(lam)
    complete = sum(1 for c in cycles if c.end + 1 < T and c.reason != "end_of_recording")
    one = [c for c in cycles if c.end == c.start]
    margin = max(lam[c.peak] * eta / 2 - 1 for c in one) if one else math.nan
    return len(cycles), complete, len(one), margin


def eigen_tolerance(path) -> float:
    """The recorder's eigensolver tolerance from /run@config (`eigen_tolerance`), else 1e-10."""
    with h5py.File(path, "r") as f:
        cfg = f["run"].attrs.get("config")
    if cfg is None:
        return EIGEN_TOL
    cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
    try:
        tol = json.loads(cfg).get("eigen_tolerance")
    except ValueError:
        return EIGEN_TOL
    return float(tol) if isinstance(tol, (int, float)) and 0 < tol < math.inf else EIGEN_TOL


def c1_floor_share(ev, c1_floor=1e-10, tol=EIGEN_TOL):
    """Per row: max(c1_floor, tol·λ1/(λ1 − λ2)) (c1_floor alone when k < 2)."""
    ev = np.asarray(ev, float)
    if ev.shape[1] < 2:
        return np.full(ev.shape[0], c1_floor)
    l1, l2 = ev[:, 0], ev[:, 1]
    with np.errstate(divide="ignore"):
        gap = np.where(l1 > l2, tol * np.abs(l1) / np.where(l1 > l2, l1 - l2, 1.0), np.inf)
    return np.maximum(c1_floor, gap)


def lemma32(lam, eta, c1, dnorm, ev, cons, phase, c1_floor=1e-10, tol=EIGEN_TOL):
    """Lemma 3.2's ratio check: the consecutive pairs (i, i+1) with i in phase II or III; a pair
    is measured when |c1(i)| and |c1(i+1)| are both above the floor. Returns the count left out,
    the growth (hits, total), and the medians of |1 − ηΛ| and of log(measured/predicted)."""
    lam, c1 = np.asarray(lam, float), np.asarray(c1, float)
    floor = c1_floor_share(ev, c1_floor, tol) * np.asarray(dnorm, float)
    above = np.abs(c1) > floor
    pairs = [i for i in range(len(lam) - 1) if cons[i] and phase[i] in (2, 3)]
    kept = [i for i in pairs if above[i] and above[i + 1]]
    ratio = np.array([abs(c1[i + 1] / c1[i]) for i in kept])
    pred = np.array([abs(1 - eta * lam[i]) for i in kept])
    return dict(excluded=len(pairs) - len(kept), hits=int((ratio > 1).sum()), total=len(kept),
                predicted_median=float(np.median(pred)) if kept else math.nan,
                log_error_median=float(np.median(np.log(ratio / pred))) if kept else math.nan)


def phase2_lengths(lam, eta, c1, dnorm, ev, cons, cycles, c1_floor=1e-10, tol=EIGEN_TOL):
    lam = np.asarray(lam, float)
    T = len(lam)
    floor = c1_floor_share(ev, c1_floor, tol) * dnorm
    out = []
    for c in cycles:
        a, p = c.start, c.peak
        size, t, tau, predicted = abs(c1[a]), a, 0, None
        while True:
            if size >= dnorm[a]:
                predicted = tau
                break
            if t >= T - 1 or not cons[t]:
                break
            size *= abs(1 - eta * lam[t])
            t += 1
            tau += 1
        pairs = [i for i in range(a, p) if cons[i] and abs(c1[i]) > floor[i] and abs(c1[i + 1]) > floor[i + 1]]
        if pairs:
            mg = math.exp(np.mean([math.log(abs(c1[i + 1] / c1[i])) for i in pairs]))
            pg = math.exp(np.mean([math.log(abs(1 - eta * lam[i])) for i in pairs]))
        else:
            mg = pg = math.nan
        out.append(dict(start=a, predicted=predicted, measured=p - a, below=not abs(c1[a]) > floor[a],
                        measured_growth=mg, predicted_growth=pg, pairs=len(pairs)))
    return out


def assumption36(c1, dnorm, eps2, cons, cycles):
    """Per cycle (c_max_reading, c_start_reading)."""
    out = []
    for c in cycles:
        a = c.start
        idx = [i for i in range(a, max(c.peak, a + 1)) if cons[i]]
        e_max = max(eps2[i] for i in idx) if idx else math.nan
        out.append((abs(c1[a]) / (e_max * dnorm[a]), abs(c1[a]) / (eps2[a] * dnorm[a])))
    return out


def regimes(lam, A2, eta, phase, cons, margin=0.03, min_steps=20):
    lam, A2 = np.asarray(lam, float), np.asarray(A2, float)
    T = len(lam)
    near = np.abs(eta * lam / 2 - 1) <= margin
    hover = np.zeros(T, bool)
    for a, b in ref.find_runs(near.astype(float), 0.5):
        if b - a + 1 >= min_steps:
            hover[a:b + 1] = True
    regime = np.where(hover, 0, np.where(phase == 1, 2, 1))
    counts = np.zeros((3, 2), int)
    for i in range(T - 1):
        if not cons[i]:
            continue
        dl, da = lam[i + 1] - lam[i], A2[i + 1] - A2[i]
        if dl == 0 or da == 0:
            continue
        counts[regime[i], 1] += 1
        counts[regime[i], 0] += int((dl > 0) == (da > 0))
    return dict(hover_rows=int(hover.sum()), catapult_rows=int((regime == 1).sum()), counts=counts)


def output_bias(rec):
    """β(t) = s·b(t) per row (NaN where unknown), or zeros when the model has no output bias; None
    when it cannot be known (no checkpoints). b is the last entry of θ at each checkpoint, carried
    by b(t+1) = b(t) − (2ηs/n)·1ᵀD(t) (so β(t+1) = β(t) − (2ηs²/n)·1ᵀD(t)).

    c > 1 outputs: β is (T, c), b the last c entries of θ, each carried by its own column sum
    Σ_i D_ia(t) of D viewed as [n, c]."""
    m = rec.model
    T = rec.T
    c = rec.n_outputs
    shape = (T,) if c == 1 else (T, c)
    if m.get("kind") == "two_layer_linear" or (m.get("kind") == "mlp" and not m.get("bias", True)):
        return np.zeros(shape)
    if m.get("kind") != "mlp" or rec.ck is None or len(rec.ck_steps) == 0:
        return None
    s = float(m.get("output_scale", 1.0))
    cons = ref.consecutive_pairs(rec.steps)
    sumD = rec.D.sum(axis=1) if c == 1 else rec.D.reshape(T, rec.n, c).sum(axis=1)
    rate = 2 * rec.eta * s * s / rec.n
    row_of = {int(st): i for i, st in enumerate(rec.steps)}
    anchors = [(row_of[int(st)], s * (float(rec.ck[j][-1]) if c == 1 else np.asarray(rec.ck[j][-c:], float)))
               for j, st in enumerate(rec.ck_steps) if int(st) in row_of]
    if not anchors:
        return None
    beta = np.full(shape, np.nan)
    for j, (r0, b0) in enumerate(anchors):
        stop = anchors[j + 1][0] if j + 1 < len(anchors) else T
        beta[r0] = b0
        for i in range(r0, stop - 1):
            if not cons[i]:
                break
            beta[i + 1] = beta[i] - rate * sumD[i]
    for i in range(anchors[0][0] - 1, -1, -1):
        if not cons[i]:
            break
        beta[i] = beta[i + 1] + rate * sumD[i]
    return beta


def bias_exact_errors(rec, beta):
    """Per pair: (bias-exact error, paper's error) of the ‖A‖² first-order line; NaN where undefined.
    c > 1: −(4η/n)⟨D, F − 1βᵀ⟩ = −(4η/n)(⟨D, F⟩_F − Σ_a β_a Σ_i D_ia)."""
    cons = ref.consecutive_pairs(rec.steps)
    dA = np.full(rec.T, np.nan)
    dA[:-1] = rec.A2[1:] - rec.A2[:-1]
    k = 4 * rec.eta / rec.n
    if rec.n_outputs == 1:
        corr = beta * rec.D.sum(axis=1)
        known = np.isfinite(beta)
    else:
        corr = np.einsum("ta,ta->t", beta, rec.D.reshape(rec.T, rec.n, rec.n_outputs).sum(axis=1))
        known = np.isfinite(beta).all(axis=1)
    exact = np.abs(dA + k * (rec.dtf - corr)) / np.abs(dA)
    paper = np.abs(dA + k * rec.dtf) / np.abs(dA)
    ok = cons & known
    return np.where(ok, exact, np.nan), np.where(cons, paper, np.nan)

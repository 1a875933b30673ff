#!/usr/bin/env python3
"""Draw the paper's Figures 1–3 from an eostrace recording, reading it with plain h5py.

    python3 plot_figures.py RUN.h5 OUTDIR [--analysis ANALYSIS.h5 | --eostrace BIN]

Writes OUTDIR/figure1.png, figure2.png, figure3.png (matplotlib, Agg backend: no display) and
prints a JSON summary of the values it read.

  Figure 1  loss and sharpness Λ(t) with the 2/η line, phases II/III/IV shaded.
  Figure 2  ‖A‖² and Λ(t) on twin axes, anomaly points (sign(ΔΛ) ≠ sign(Δ‖A‖)) marked.
  Figure 3  (a) λ1, λ2 and λ_max(M_A) (when recorded) with the 1/η and 2/η lines;
            (b) ‖D‖²/n (= L) and ‖R‖²/n, R = (I − v1 v1ᵀ) D.

Phases and anomaly points come from, in order of preference:
  --analysis FILE   an /analysis group written by `eostrace analyze RUN --out FILE`
                    (or `--in-place`: pass RUN itself), aligned on the recording's steps;
  --eostrace BIN    runs `BIN analyze RUN --out <temp file> --quiet` and reads that;
  (neither)         computed here from the recorded series, by the rules of docs/ANALYSIS.md §1 (loss
                    rule: IV ends at the first step with L(t) ≤ L(p)) and §3.4 (anomalies on
                    consecutive recorded steps only; a zero difference is not an anomaly).
The summary says which ("phase_source"). c1 and ‖R‖² are always computed here from the
recorded residual and top eigenvector (they need nothing else).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

try:  # the eostrace package (pip install ./python); from a checkout without it, its source
    from eostrace import format as ef  # (open_file: also opens a file a live run is writing)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from eostrace import format as ef  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASE_COLORS = {2: ("tab:red", "phase II"), 3: ("tab:orange", "phase III"), 4: ("tab:green", "phase IV")}


def _attr_str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _attr_str(v[()])
    return v


class InputError(Exception):
    """A one-line description naming the file, the object and the problem."""


def read_recording(path: str | Path) -> dict:
    """Every series the figures need, as numpy arrays (optional ones None when absent).
    Raises InputError for a file that is not a readable eostrace recording."""
    try:
        return _read_recording(path)
    except InputError:
        raise
    except (OSError, KeyError, ValueError, IndexError) as e:
        raise InputError(f"{path}: cannot read the recording: {e}") from None


def _read_recording(path):
    with ef.open_file(path) as f:
        if _attr_str(f.attrs.get("format")) != "eostrace-trajectory":
            raise InputError(f"{path}: /@format: not an eostrace trajectory file")
        tr = f["trajectory"]
        out = {name: tr[name][()] for name in
               ("step", "loss", "sharpness", "output_norm_sq", "eigenvalues", "dtf", "residual")}
        # several outputs (format 2.0): residual [T, n, c] and v_1 [T, n, c] as vec(·) [T, n·c]
        # (sample-major); every quantity below is defined on the flattened vectors
        out["residual"] = out["residual"].reshape(out["residual"].shape[0], -1)
        v1 = tr["eigenvectors"][:, 0]
        out["v1"] = v1.reshape(v1.shape[0], -1)
        out["output_layer_sharpness"] = (tr["output_layer_sharpness"][()]
                                         if "output_layer_sharpness" in tr else None)
        out["learning_rate"] = float(f["run"].attrs["learning_rate"])
        out["n"] = int(f["run"].attrs["n_samples"])
        out["k"] = int(f["run"].attrs["k"])
        out["model"] = _attr_str(f["run"].attrs.get("model"))
        out["status"] = ef.read_status(f)
    if out["step"].size == 0:
        raise InputError(f"{path}: /trajectory/step: no recorded steps")
    return out


def segment_phases(sharpness, loss, eta):
    """docs/ANALYSIS.md §1, loss rule, on rows: each maximal run [a, b] with Λ > 2/η is split at its
    (first) peak p: II = [a, p], III = (p, b]; IV then lasts until the first row with
    L ≤ L(p) or until the next run begins. Everything else is phase I."""
    t = len(sharpness)
    thr = 2.0 / eta
    phase = np.ones(t, dtype=np.int8)
    above = sharpness > thr
    runs, i = [], 0
    while i < t:
        if above[i]:
            j = i
            while j + 1 < t and above[j + 1]:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    for r, (a, b) in enumerate(runs):
        p = a + int(np.argmax(sharpness[a:b + 1]))  # first maximum
        phase[a:p + 1] = 2
        phase[p + 1:b + 1] = 3
        limit = runs[r + 1][0] if r + 1 < len(runs) else t
        q = b + 1
        while q < limit and not loss[q] <= loss[p]:
            phase[q] = 4
            q += 1
    return phase, len(runs)


def anomaly_points(step, sharpness, a_norm_sq):
    """1 at row t when steps t, t+1 are consecutive and sign(ΔΛ) ≠ sign(Δ‖A‖²) (both ≠ 0)."""
    out = np.zeros(len(step), dtype=np.uint8)
    dl = np.diff(sharpness)
    da = np.diff(a_norm_sq)
    hit = (np.diff(step) == 1) & (dl != 0) & (da != 0) & ((dl > 0) != (da > 0))
    out[:-1][hit] = 1
    return out


def read_analysis(path: str | Path, step) -> tuple[np.ndarray, np.ndarray]:
    try:
        with h5py.File(path, "r") as f:
            if "analysis" not in f:
                raise InputError(f"{path}: /analysis: missing (write it with `eostrace analyze RUN --out FILE`)")
            g = f["analysis"]
            if not np.array_equal(g["step"][()], step):
                raise InputError(f"{path}: /analysis/step: does not match the recording's /trajectory/step")
            return g["phase"][()].astype(np.int8), g["anomaly"][()].astype(np.uint8)
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{path}: cannot read /analysis: {e}") from None


def analysis_by_binary(binary: str, run: str | Path, step) -> tuple[np.ndarray, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "analysis.h5"
        try:
            proc = subprocess.run([binary, "analyze", str(run), "--out", str(out), "--quiet"],
                                  capture_output=True, text=True)
        except OSError as e:
            raise InputError(f"{binary}: cannot run eostrace: {e}") from None
        if proc.returncode != 0:
            raise InputError(f"{run}: eostrace analyze failed ({proc.returncode}): {proc.stderr.strip()}")
        return read_analysis(out, step)


def shade_phases(ax, step, phase):
    """Shade every maximal stretch of rows in phase II/III/IV (legend entry once per phase)."""
    seen = set()
    i, t = 0, len(step)
    while i < t:
        ph = int(phase[i])
        j = i
        while j + 1 < t and phase[j + 1] == ph:
            j += 1
        if ph in PHASE_COLORS:
            color, label = PHASE_COLORS[ph]
            ax.axvspan(step[i] - 0.5, step[j] + 0.5, color=color, alpha=0.15, lw=0,
                       label=None if ph in seen else label)
            seen.add(ph)
        i = j + 1


def figure1(r, phase, path):
    step, eta = r["step"], r["learning_rate"]
    fig, (ax_l, ax_s) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    ax_l.plot(step, r["loss"], color="tab:blue", lw=1)
    ax_l.set_yscale("log")
    ax_l.set_ylabel("loss L(t)")
    shade_phases(ax_l, step, phase)
    ax_s.plot(step, r["sharpness"], color="tab:purple", lw=1, label="sharpness Λ(t)")
    ax_s.axhline(2 / eta, color="k", ls="--", lw=1, label="2/η")
    shade_phases(ax_s, step, phase)
    ax_s.set_ylabel("Λ(t) = λmax(M)")
    ax_s.set_xlabel("step")
    ax_s.legend(loc="best", fontsize=8)
    fig.suptitle(f"Figure 1: loss and sharpness (η = {eta:g})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure2(r, anomaly, path):
    step = r["step"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(step, r["sharpness"], color="tab:blue", lw=1, label="Λ(t)")
    idx = np.nonzero(anomaly)[0]
    ax.scatter(step[idx], r["sharpness"][idx], color="tab:orange", s=14, zorder=3,
               label=f"anomaly points ({idx.size})")
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness Λ(t)")
    ax2 = ax.twinx()
    ax2.plot(step, r["output_norm_sq"], color="tab:green", lw=1, label="‖A‖²")
    ax2.set_ylabel("‖A(t)‖²")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="best", fontsize=8)
    fig.suptitle("Figure 2: sharpness and output-layer norm")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure3(r, r_norm_sq, path):
    step, eta, n = r["step"], r["learning_rate"], r["n"]
    ev = r["eigenvalues"]
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(11, 4))
    ax_a.plot(step, ev[:, 0], lw=1, color="steelblue", label="λ1 = Λ")
    if ev.shape[1] > 1:
        ax_a.plot(step, ev[:, 1], lw=1, color="tab:orange", label="λ2")
    if r["output_layer_sharpness"] is not None:
        ax_a.plot(step, r["output_layer_sharpness"], lw=1, color="tab:green", label="λmax(M_A)")
    ax_a.axhline(2 / eta, color="k", ls="--", lw=1, label="2/η")
    ax_a.axhline(1 / eta, color="gray", ls="-.", lw=1, label="1/η")
    ax_a.set_xlabel("step")
    ax_a.set_title("(a) eigenvalues of M")
    ax_a.legend(loc="center right", fontsize=8)
    ax_b.plot(step, r["loss"], lw=1, color="tab:blue", label="‖D‖²/n = L")
    ax_b.plot(step, r_norm_sq / n, lw=1, color="tab:red", label="‖R‖²/n")
    ax_b.set_yscale("log")
    ax_b.set_xlabel("step")
    ax_b.set_title("(b) loss and its non-v1 part")
    ax_b.legend(loc="best", fontsize=8)
    fig.suptitle("Figure 3")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Draw Figures 1–3 of the paper from an eostrace recording.")
    ap.add_argument("run", help="recording (.h5)")
    ap.add_argument("outdir", help="directory for figure1.png, figure2.png, figure3.png")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--analysis", help="file holding the /analysis group of this recording")
    src.add_argument("--eostrace", help="eostrace binary: run `analyze` for phases and anomalies")
    a = ap.parse_args(argv)
    try:
        return run(a)
    except InputError as e:
        print(f"plot_figures.py: {e}", file=sys.stderr)
        return 2


def run(a) -> int:
    t0 = time.perf_counter()
    r = read_recording(a.run)
    step = r["step"]
    if a.analysis:
        phase, anomaly = read_analysis(a.analysis, step)
        source = "analysis file"
    elif a.eostrace:
        phase, anomaly = analysis_by_binary(a.eostrace, a.run, step)
        source = "eostrace analyze"
    else:
        phase, _ = segment_phases(r["sharpness"], r["loss"], r["learning_rate"])
        anomaly = anomaly_points(step, r["sharpness"], r["output_norm_sq"])
        source = "computed (docs/ANALYSIS.md §1 loss rule)"
    D, v1 = r["residual"], r["v1"]
    c1 = np.einsum("ti,ti->t", D, v1)
    R = D - c1[:, None] * v1
    r_norm_sq = np.einsum("ti,ti->t", R, R)

    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "figure1.png", out / "figure2.png", out / "figure3.png"]
    figure1(r, phase, files[0])
    figure2(r, anomaly, files[1])
    figure3(r, r_norm_sq, files[2])

    imax = int(np.argmax(r["sharpness"]))
    summary = {
        "file": str(a.run), "status": r["status"], "steps": int(step.size),
        "first_step": int(step[0]), "last_step": int(step[-1]),
        "learning_rate": r["learning_rate"], "threshold": 2 / r["learning_rate"], "n": r["n"], "k": r["k"],
        "first_loss": float(r["loss"][0]), "last_loss": float(r["loss"][-1]),
        "max_sharpness": float(r["sharpness"][imax]), "max_sharpness_step": int(step[imax]),
        "first_output_norm_sq": float(r["output_norm_sq"][0]),
        "last_output_norm_sq": float(r["output_norm_sq"][-1]),
        "last_eigenvalues": [float(x) for x in r["eigenvalues"][-1]],
        "steps_above_threshold": int(np.sum(r["sharpness"] > 2 / r["learning_rate"])),
        "phase_source": source,
        "phase_rows": {str(p): int(np.sum(phase == p)) for p in (1, 2, 3, 4)},
        "anomalies": int(anomaly.sum()),
        "last_c1": float(c1[-1]), "last_r_norm_sq": float(r_norm_sq[-1]),
        "figures": [str(p) for p in files],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

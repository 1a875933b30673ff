#!/usr/bin/env python3
"""Structural mutations of a recording with h5py (part of scripts/fuzz.sh; see its header).

    scripts/fuzz_structural.py BASE.h5 OUTDIR            # writes OUTDIR/<name>.h5 per variant
    scripts/fuzz_structural.py BASE.h5 OUTDIR --check    # ... and runs eostrace validate, info,
                                                         #     dump and follow on each

Variants: wrong dtypes (int32, float32, strings) and ranks, missing/renamed/swapped objects,
objects of the wrong kind (group for dataset), soft/external/cyclic links, attribute corruption
(format_version [9,0] and malformed, bad model JSON, negative/zero/huge n, k > n, NaN/negative η),
bad status values, NaN and non-increasing steps, inconsistent lengths, X/Y shapes.
With --check each command runs as a subprocess with a timeout: exit by a signal = crash,
timeout = hang, an exit code other than 0/1/2 = bad exit, stderr of more than one line for
exit 2 = bad message. Prints one line per finding and a summary; exit 1 when anything was found.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _replace(f, path, data, **kw):
    del f[path]
    f.create_dataset(path, data=data, **kw)


def _attr(obj, name, value):
    if name in obj.attrs:
        del obj.attrs[name]
    obj.attrs[name] = value


def variants():
    """(name, function(h5py.File)) pairs."""
    v = []

    def add(name):
        def deco(fn):
            v.append((name, fn))
            return fn
        return deco

    # -- root attributes
    add("version-9-0")(lambda f: _attr(f, "format_version", np.array([9, 0], dtype=np.int64)))
    add("version-1-99")(lambda f: _attr(f, "format_version", np.array([1, 99], dtype=np.int64)))
    add("version-scalar")(lambda f: _attr(f, "format_version", np.int64(1)))
    add("version-string")(lambda f: _attr(f, "format_version", "1.0"))
    add("version-3-values")(lambda f: _attr(f, "format_version", np.array([1, 0, 0], dtype=np.int64)))
    add("version-negative")(lambda f: _attr(f, "format_version", np.array([-1, -5], dtype=np.int64)))
    add("version-float")(lambda f: _attr(f, "format_version", np.array([1.5, np.nan])))
    add("version-missing")(lambda f: f.attrs.__delitem__("format_version"))
    add("format-other")(lambda f: _attr(f, "format", "something-else"))
    add("format-int")(lambda f: _attr(f, "format", np.int32(3)))
    add("format-missing")(lambda f: f.attrs.__delitem__("format"))
    # -- /run attributes
    add("model-bad-json")(lambda f: _attr(f["run"], "model", '{"kind": "mlp", "widths": [200,'))
    add("model-not-object")(lambda f: _attr(f["run"], "model", "[1, 2, 3]"))
    add("model-int")(lambda f: _attr(f["run"], "model", np.int64(7)))
    add("model-mlp-nonsense")(lambda f: _attr(f["run"], "model",
                                               '{"kind":"mlp","input_dim":-3,"widths":[0,-1],"activation":"x"}'))
    add("model-missing")(lambda f: f["run"].attrs.__delitem__("model"))
    add("n-negative")(lambda f: _attr(f["run"], "n_samples", np.int64(-5)))
    add("n-zero")(lambda f: _attr(f["run"], "n_samples", np.int64(0)))
    add("n-huge")(lambda f: _attr(f["run"], "n_samples", np.int64(1 << 40)))
    add("n-max")(lambda f: _attr(f["run"], "n_samples", np.int64(2**63 - 1)))
    add("n-float")(lambda f: _attr(f["run"], "n_samples", 32.5))
    add("n-string")(lambda f: _attr(f["run"], "n_samples", "thirty-two"))
    add("n-array")(lambda f: _attr(f["run"], "n_samples", np.array([32, 32], dtype=np.int64)))
    add("k-zero")(lambda f: _attr(f["run"], "k", np.int64(0)))
    add("k-gt-n")(lambda f: _attr(f["run"], "k", np.int64(10_000)))
    add("k-negative")(lambda f: _attr(f["run"], "k", np.int64(-2)))
    add("p-negative")(lambda f: _attr(f["run"], "n_parameters", np.int64(-1)))
    add("p-huge")(lambda f: _attr(f["run"], "n_parameters", np.int64(1 << 50)))
    add("lr-nan")(lambda f: _attr(f["run"], "learning_rate", np.nan))
    add("lr-zero")(lambda f: _attr(f["run"], "learning_rate", 0.0))
    add("lr-negative")(lambda f: _attr(f["run"], "learning_rate", -0.01))
    add("lr-inf")(lambda f: _attr(f["run"], "learning_rate", np.inf))
    add("lr-string")(lambda f: _attr(f["run"], "learning_rate", "0.01"))
    add("loss-other")(lambda f: _attr(f["run"], "loss", "cross_entropy"))
    add("cadences-bad-json")(lambda f: _attr(f["run"], "cadences", "{not json"))
    # -- status
    add("status-bogus")(lambda f: _replace(f, "run/status", np.bytes_("bogus")))
    add("status-empty")(lambda f: _replace(f, "run/status", np.bytes_("")))
    add("status-int")(lambda f: _replace(f, "run/status", np.int32(1)))
    add("status-vlen")(lambda f: _replace(f, "run/status", "completed", dtype=h5py.string_dtype()))
    add("status-array")(lambda f: _replace(f, "run/status", np.array([b"completed", b"running"])))
    add("status-missing")(lambda f: f.__delitem__("run/status"))
    add("status-utf8-garbage")(lambda f: _replace(f, "run/status", np.void(b"\xff\xfe\x00\x01")))
    # -- series dtypes and shapes
    add("loss-int32")(lambda f: _replace(f, "trajectory/loss", f["trajectory/loss"][:].astype(np.int32)))
    add("loss-float32")(lambda f: _replace(f, "trajectory/loss", f["trajectory/loss"][:].astype(np.float32)))
    add("loss-string")(lambda f: _replace(f, "trajectory/loss", np.array([b"x"] * f["trajectory/loss"].shape[0])))
    add("loss-rank2")(lambda f: _replace(f, "trajectory/loss", f["trajectory/loss"][:].reshape(-1, 1)))
    add("loss-scalar")(lambda f: _replace(f, "trajectory/loss", 1.0))
    add("loss-short")(lambda f: _replace(f, "trajectory/loss", f["trajectory/loss"][:3]))
    add("loss-empty")(lambda f: _replace(f, "trajectory/loss", np.zeros(0)))
    add("loss-nan")(lambda f: f["trajectory/loss"].__setitem__(slice(0, 2), np.nan))
    add("loss-compound")(lambda f: _replace(f, "trajectory/loss",
                                            np.zeros(f["trajectory/loss"].shape[0], dtype=[("a", "f8"), ("b", "i4")])))
    add("loss-bool")(lambda f: _replace(f, "trajectory/loss", np.zeros(f["trajectory/loss"].shape[0], dtype=bool)))
    add("loss-vlen-str")(lambda f: _replace(f, "trajectory/loss", ["a"] * f["trajectory/loss"].shape[0],
                                            dtype=h5py.string_dtype()))
    add("residual-rank1")(lambda f: _replace(f, "trajectory/residual", f["trajectory/residual"][:].ravel()))
    add("residual-rank3")(lambda f: _replace(f, "trajectory/residual", f["trajectory/residual"][:][:, :, None]))
    add("residual-wrong-n")(lambda f: _replace(f, "trajectory/residual", f["trajectory/residual"][:, :5]))
    add("residual-int32")(lambda f: _replace(f, "trajectory/residual", f["trajectory/residual"][:].astype(np.int32)))
    add("eigvec-rank2")(lambda f: _replace(f, "trajectory/eigenvectors",
                                           f["trajectory/eigenvectors"][:].reshape(f["trajectory/eigenvectors"].shape[0], -1)))
    add("eigvec-swapped-axes")(lambda f: _replace(f, "trajectory/eigenvectors",
                                                  np.ascontiguousarray(np.swapaxes(f["trajectory/eigenvectors"][:], 1, 2))))
    add("eigvec-rank4")(lambda f: _replace(f, "trajectory/eigenvectors", f["trajectory/eigenvectors"][:][..., None]))
    add("eigvals-wrong-k")(lambda f: _replace(f, "trajectory/eigenvalues", f["trajectory/eigenvalues"][:, :1]))
    add("eigvals-int32")(lambda f: _replace(f, "trajectory/eigenvalues", f["trajectory/eigenvalues"][:].astype(np.int32)))
    add("step-float64")(lambda f: _replace(f, "trajectory/step", f["trajectory/step"][:].astype(np.float64)))
    add("step-int32")(lambda f: _replace(f, "trajectory/step", f["trajectory/step"][:].astype(np.int32)))
    add("step-decreasing")(lambda f: f["trajectory/step"].__setitem__(slice(None), f["trajectory/step"][:][::-1].copy()))
    add("step-duplicate")(lambda f: f["trajectory/step"].__setitem__(slice(0, 2), [5, 5]))
    add("step-negative-huge")(lambda f: f["trajectory/step"].__setitem__(0, -(2**63)))
    add("step-missing")(lambda f: f.__delitem__("trajectory/step"))
    add("step-group")(lambda f: (f.__delitem__("trajectory/step"), f.create_group("trajectory/step")))
    add("step-rank2")(lambda f: _replace(f, "trajectory/step", f["trajectory/step"][:].reshape(-1, 1)))
    add("step-longer")(lambda f: _replace(f, "trajectory/step", np.arange(10_000, dtype=np.int64)))
    add("params-wrong-p")(lambda f: _replace(f, "trajectory/parameters", f["trajectory/parameters"][:, :3])
                          if "parameters" in f["trajectory"] else None)
    add("checkpoint-step-longer")(lambda f: _replace(f, "trajectory/checkpoint_step", np.arange(500, dtype=np.int64))
                                  if "checkpoint_step" in f["trajectory"] else None)
    # -- swapped / missing / wrong-kind objects
    def swap(a, b):
        def fn(f):
            f.move(a, "/tmp_swap")
            f.move(b, a)
            f.move("/tmp_swap", b)
        return fn
    add("swap-loss-sharpness")(swap("trajectory/loss", "trajectory/sharpness"))
    add("swap-residual-eigvec")(swap("trajectory/residual", "trajectory/eigenvectors"))
    add("swap-X-Y")(swap("data/X", "data/Y"))
    add("swap-run-data")(swap("run", "data"))
    add("swap-step-loss")(swap("trajectory/step", "trajectory/loss"))
    add("trajectory-missing")(lambda f: f.__delitem__("trajectory"))
    add("trajectory-dataset")(lambda f: (f.__delitem__("trajectory"), f.create_dataset("trajectory", data=[1.0])))
    add("run-dataset")(lambda f: (f.move("run", "run_old"), f.create_dataset("run", data=[1.0])))
    add("data-missing")(lambda f: f.__delitem__("data"))
    add("X-missing")(lambda f: f.__delitem__("data/X"))
    add("X-wrong-shape")(lambda f: _replace(f, "data/X", f["data/X"][:].T.copy()))
    add("X-rank3")(lambda f: _replace(f, "data/X", f["data/X"][:][None]))
    add("Y-wrong-length")(lambda f: _replace(f, "data/Y", f["data/Y"][:3]))
    add("Y-int32")(lambda f: _replace(f, "data/Y", f["data/Y"][:].astype(np.int32)))
    # -- links
    add("loss-soft-self")(lambda f: (f.__delitem__("trajectory/loss"),
                                     f.__setitem__("trajectory/loss", h5py.SoftLink("/trajectory/loss"))))
    add("loss-soft-dangling")(lambda f: (f.__delitem__("trajectory/loss"),
                                         f.__setitem__("trajectory/loss", h5py.SoftLink("/nowhere/loss"))))
    add("loss-external")(lambda f: (f.__delitem__("trajectory/loss"),
                                    f.__setitem__("trajectory/loss", h5py.ExternalLink("/nonexistent.h5", "/x"))))
    add("loss-external-self")(lambda f: (f.__delitem__("trajectory/loss"),
                                         f.__setitem__("trajectory/loss", h5py.ExternalLink(f.filename, "/trajectory/loss"))))
    add("group-cycle")(lambda f: f["trajectory"].__setitem__("again", f["/"]))
    add("loss-hardlink-sharpness")(lambda f: (f.__delitem__("trajectory/loss"),
                                              f["trajectory"].__setitem__("loss", f["trajectory/sharpness"])))
    # -- dimension scales
    add("dimlist-deleted")(lambda f: f["trajectory/loss"].attrs.__delitem__("DIMENSION_LIST")
                           if "DIMENSION_LIST" in f["trajectory/loss"].attrs else None)
    add("dimlist-garbage")(lambda f: (_attr(f["trajectory/residual"], "DIMENSION_LIST", np.array([1, 2, 3]))))
    add("class-garbage")(lambda f: _attr(f["trajectory/step"], "CLASS", np.int32(5)))
    return v


def make(base: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name, fn in variants():
        dest = out / f"struct-{name}.h5"
        shutil.copyfile(base, dest)
        try:
            with h5py.File(dest, "r+") as f:
                fn(f)
        except Exception as e:  # noqa: BLE001 — a variant that h5py cannot build is skipped
            print(f"skip {name}: {type(e).__name__}: {e}", file=sys.stderr)
            dest.unlink(missing_ok=True)
            continue
        made.append(dest)
    return made


def check(binary: str, files: list[Path], timeout: float = 30) -> tuple[int, int]:
    """Runs validate/info/dump/follow on each file. Returns (runs, findings)."""
    env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
    runs = findings = 0
    for path in files:
        for args in (["validate", path], ["info", path], ["info", "--json", path], ["dump", path, "loss"],
                     ["follow", path, "--quiet", "--timeout", "1", "--interval", "0.1"]):
            runs += 1
            cmd = [binary, *map(str, args)]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            except subprocess.TimeoutExpired:
                findings += 1
                print(f"HANG {' '.join(map(str, args))}")
                continue
            err = p.stderr.strip().splitlines()
            if p.returncode < 0:
                findings += 1
                print(f"CRASH signal {signal.Signals(-p.returncode).name}: {' '.join(map(str, args))}")
            elif p.returncode not in (0, 1, 2):
                if args[0] == "info" and p.returncode == 64:
                    continue  # `info --json` not supported by this build
                findings += 1
                print(f"BAD EXIT {p.returncode}: {' '.join(map(str, args))}: {p.stderr.strip()[:300]}")
            elif p.returncode == 2 and (len(err) != 1 or not err[0].startswith("eostrace: ")):
                findings += 1
                print(f"BAD MESSAGE: {' '.join(map(str, args))}: {p.stderr.strip()[:300]}")
    return runs, findings


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base", type=Path)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bin", default=os.environ.get("EOSTRACE_BIN", str(REPO / ".build" / "debug" / "eostrace")))
    a = ap.parse_args()
    files = make(a.base, a.outdir)
    print(f"structural: {len(files)} variants of {a.base.name}")
    if not a.check:
        return 0
    runs, findings = check(a.bin, files)
    print(f"structural: {runs} command runs, {findings} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

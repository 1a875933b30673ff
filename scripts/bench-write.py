#!/usr/bin/env python3
"""Write-throughput benchmark: the Swift writer against h5py and a raw sequential file.

One run writes the same payload three ways:
  swift  `eostrace-dev bench-write` (release build by default: .build/release/eostrace-dev)
  h5py   eostrace_format.RecordingWriter: same layout, same chunk shapes (read back from the
         Swift-written file when it is kept, else the writer's defaults), same batch size
  raw    one sequential file: the same byte count written in the same batch-sized pieces

and prints a table of seconds (best of --repeat), MB/s, CPU seconds (Swift: the whole
process, an upper bound) plus the ratios Swift/h5py and Swift/raw (as
throughput ratios: > 1 means Swift is faster). Targets: Swift >= h5py, Swift >= 0.5 x raw.
All files go to a temporary directory that is deleted at the end.

    swift build -c release --product eostrace-dev && python3 scripts/bench-write.py [--bin PATH] [--n 1000 --k 8
        --steps 5000 --params 200000 --checkpoint-every 10] [--fsync] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import h5py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))  # the eostrace package (eostrace_format = eostrace.format)
import eostrace_format as ef  # noqa: E402

MAIN_SERIES = ["loss", "residual", "output_norm_sq", "sharpness", "eigenvalues", "eigenvectors", "dtf"]


def payload_bytes(n, k, steps, params, every) -> int:
    per_step = 8 * (1 + 1 + n + 1 + 1 + k + k * n + 1)  # step + the 7 required series
    n_ck = len(range(0, steps, every)) if every > 0 and params > 0 else 0
    return steps * per_step + n_ck * 8 * (1 + params)


def run_swift(binary: Path, out: Path, a) -> dict:
    cmd = [str(binary), "bench-write", "--out", str(out), "--n", str(a.n), "--k", str(a.k),
           "--steps", str(a.steps), "--params", str(a.params), "--checkpoint-every", str(a.checkpoint_every)]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bench-write failed ({proc.returncode}): {proc.stderr.strip()}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        raise SystemExit(f"bench-write printed no JSON: {proc.stdout!r}")
    res = json.loads(lines[-1])
    res["wall"] = wall
    # CPU seconds of the whole process (startup and data generation included: an upper bound)
    res["cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return res


def chunks_of(path: Path) -> dict[str, tuple]:
    out = {}
    with h5py.File(path, "r") as f:
        for name, ds in f["trajectory"].items():
            if isinstance(ds, h5py.Dataset) and ds.chunks:
                out[name] = ds.chunks
    return out


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_h5py(path: Path, a, chunks: dict[str, tuple] | None, swmr: bool) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    n, k, p = a.n, a.k, a.params
    pool = 8  # distinct rows cycled through: generation stays out of the timing
    rows = {
        "loss": rng.random(pool), "output_norm_sq": rng.random(pool), "sharpness": rng.random(pool),
        "dtf": rng.standard_normal(pool), "residual": rng.standard_normal((pool, n)),
        "eigenvalues": np.sort(rng.random((pool, k)), axis=1)[:, ::-1].copy(),
        "eigenvectors": rng.standard_normal((pool, k, n)),
    }
    theta = rng.standard_normal((2, p))
    X = rng.standard_normal((n, 4))
    Y = rng.standard_normal(n)
    t0 = time.perf_counter()
    c0 = time.process_time()
    w = ef.RecordingWriter(path, learning_rate=0.01, model={"kind": "external"}, X=X, Y=Y, k=k, check_values=False,
                           n_parameters=p, series=["parameters"] if p and a.checkpoint_every else [],
                           batch=a.batch, chunks=chunks, software="bench-write.py", swmr=swmr)
    for t in range(a.steps):
        j = t % pool
        w.append(t, **{name: rows[name][j] for name in MAIN_SERIES})
        if p and a.checkpoint_every and t % a.checkpoint_every == 0:
            w.append_checkpoint(t, theta[(t // a.checkpoint_every) % 2])
    w.close("completed")
    if a.fsync:
        fsync_path(path)
    return time.perf_counter() - t0, time.process_time() - c0


def run_raw(path: Path, a) -> tuple[float, float]:
    """The same bytes, in the same batch-sized pieces, to one sequential file."""
    n, k, p, B = a.n, a.k, a.params, a.batch
    row_floats = 1 + 1 + n + 1 + 1 + k + k * n + 1
    block = np.random.default_rng(1).standard_normal(B * row_floats)
    ck = np.random.default_rng(2).standard_normal(p + 1) if p and a.checkpoint_every else None
    t0 = time.perf_counter()
    c0 = time.process_time()
    with open(path, "wb", buffering=0) as fh:
        done = 0
        while done < a.steps:
            m = min(B, a.steps - done)
            fh.write(memoryview(block)[: m * row_floats].cast("B"))
            if ck is not None:
                for t in range(done, done + m):
                    if t % a.checkpoint_every == 0:
                        fh.write(memoryview(ck).cast("B"))
            done += m
        if a.fsync:
            os.fsync(fh.fileno())
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("EOSTRACE_DEV_BIN", str(ROOT / ".build" / "release" / "eostrace-dev")),
                    help="the eostrace-dev binary (env EOSTRACE_DEV_BIN)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--params", type=int, default=200000)
    ap.add_argument("--checkpoint-every", type=int, default=10)
    ap.add_argument("--batch", type=int, default=None,
                    help="main-cadence rows per write (h5py and raw); default: the Swift writer's rule")
    ap.add_argument("--swmr", dest="swmr", action="store_true", default=None,
                    help="h5py writes in SWMR mode (default: as the Swift run reports, else off)")
    ap.add_argument("--no-swmr", dest="swmr", action="store_false", help="h5py writes without SWMR")
    ap.add_argument("--fsync", action="store_true", help="include fsync in the h5py and raw timings")
    ap.add_argument("--only", choices=["h5py", "raw"], help="skip the Swift writer (no binary needed)")
    ap.add_argument("--keep-dir", help="write here instead of a temporary directory (not deleted)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each writer this many times (interleaved); the best time is reported")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    a = ap.parse_args()

    if a.batch is None:
        a.batch = ef.default_batch(a.n, a.k)
    expected = payload_bytes(a.n, a.k, a.steps, a.params, a.checkpoint_every)
    tmp = Path(a.keep_dir) if a.keep_dir else Path(tempfile.mkdtemp(prefix="eostrace-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    chunks = None
    swift_swmr = False
    runs: dict[str, list[float]] = {}
    try:
        for rep in range(a.repeat):
            if a.only is None:
                binary = Path(a.bin)
                if not binary.is_file():
                    raise SystemExit(f"{binary}: not found (swift build -c release, or pass --bin)")
                sdir = tmp / "swift"
                sdir.mkdir()
                res = run_swift(binary, sdir, a)
                files = list(sdir.glob("*.h5"))
                size = sum(f.stat().st_size for f in files)
                if files and rep == 0:
                    chunks = chunks_of(files[0])
                    problems = ef.validate(files[0])
                    if problems:
                        print("warning: the Swift bench file does not validate in Python:\n  " + "\n  ".join(problems[:5]))
                runs.setdefault("swift", []).append((float(res["seconds"]), float(res["cpu"])))
                results["swift"] = dict(bytes=int(res.get("payload_bytes", expected)), file_bytes=int(res.get("bytes", size)))
                swift_swmr = bool(res.get("swmr", False))
                if "batch_steps" in res:
                    a.batch = int(res["batch_steps"])
                shutil.rmtree(sdir)
            if a.only in (None, "h5py"):
                path = tmp / "h5py.h5"
                runs.setdefault("h5py", []).append(run_h5py(path, a, chunks, swift_swmr if a.swmr is None else a.swmr))
                results["h5py"] = dict(bytes=expected, file_bytes=path.stat().st_size)
                path.unlink()
            if a.only in (None, "raw"):
                path = tmp / "raw.bin"
                runs.setdefault("raw", []).append(run_raw(path, a))
                results["raw"] = dict(bytes=expected, file_bytes=path.stat().st_size)
                path.unlink()
    finally:
        if not a.keep_dir:
            shutil.rmtree(tmp, ignore_errors=True)
    for name, pairs in runs.items():
        results[name]["seconds"] = min(w for w, _ in pairs)
        results[name]["cpu_seconds"] = min(c for _, c in pairs)
        results[name]["all_seconds"] = [w for w, _ in pairs]
        results[name]["median_seconds"] = float(np.median([w for w, _ in pairs]))

    print(f"payload: n={a.n} k={a.k} steps={a.steps} params={a.params} checkpoint every {a.checkpoint_every}"
          f" -> {expected / 1e6:.1f} MB{' (fsync included for h5py/raw)' if a.fsync else ''}")
    print(f"main-cadence batch: {a.batch} steps (write + file flush per batch); own cadences one chunk at a time;"
          f" h5py SWMR: {swift_swmr if a.swmr is None else a.swmr}")
    if chunks:
        print("chunks (from the Swift file, used for h5py): " + ", ".join(f"{k}={v}" for k, v in sorted(chunks.items())))
    print(f"{'writer':<8}{'seconds':>10}{'MB/s':>10}{'CPU s':>8}{'payload MB':>12}{'file MB':>10}   all runs (s)")
    for name, r in results.items():
        r["mb_per_s"] = r["bytes"] / 1e6 / r["seconds"]
        print(f"{name:<8}{r['seconds']:>10.3f}{r['mb_per_s']:>10.1f}{r['cpu_seconds']:>8.2f}{r['bytes'] / 1e6:>12.1f}{r['file_bytes'] / 1e6:>10.1f}"
              f"   {' '.join(f'{x:.2f}' for x in r['all_seconds'])}")
    if "swift" in results:
        if results["swift"]["bytes"] != expected:
            print(f"note: Swift reports {results['swift']['bytes']} payload bytes, Python computes {expected}")
        for other, target in (("h5py", 1.0), ("raw", 0.5)):
            if other in results:
                ratio = results["swift"]["mb_per_s"] / results[other]["mb_per_s"]
                results[f"swift/{other}"] = ratio
                verdict = "meets" if ratio >= target else "MISSES"
                cpu_ratio = results[other]["cpu_seconds"] / results["swift"]["cpu_seconds"]
                results[f"swift/{other}_cpu"] = cpu_ratio
                med_ratio = results[other]["median_seconds"] / results["swift"]["median_seconds"]
                results[f"swift/{other}_median"] = med_ratio
                print(f"Swift/{other} throughput ratio: {ratio:.2f} ({verdict} target >= {target});"
                      f" by median time: {med_ratio:.2f}; by CPU seconds: {cpu_ratio:.2f}")
    if a.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

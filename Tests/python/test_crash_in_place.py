"""`analyze --in-place` cannot lose the recording, whatever write call it dies at.

strace fault injection on a copy of a small recording: SIGKILL at EVERY file-changing call
(pwrite64, write, ftruncate, fsync, rename, unlink, copy_file_range, link, renameat2) of one
`eostrace analyze RUN --in-place`, and ENOSPC at every pwrite64, copy_file_range and fsync.
Afterwards, independently of eostrace's own reader:

- the recording opens with h5py (no h5clear) and with `eostrace info`;
- it is either byte-identical (sha256) to the original, or the original plus a complete
  /analysis: `eostrace diff ORIGINAL RUN` reports exactly "/analysis: only in B", and every
  /analysis dataset and attribute equals (h5py, bit for bit) what a clean `analyze --out` wrote;
- a handled failure (ENOSPC) exits 2 with exactly one stderr line naming the recording and leaves
  no temporary file behind; a kill may leave `.NAME.eostrace-tmp-*` (never the target changed).

The kill points are counted first with a plain trace of the same command (so the sweep covers
every call, and the test fails if the command stops making them). ~60 runs, two at a time.
"""
from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

STRACE = "/usr/bin/strace"
CHANGING = ["pwrite64", "write", "ftruncate", "fsync", "rename", "unlink", "copy_file_range", "link", "renameat2"]
ENOSPC_AT = ["pwrite64", "copy_file_range", "fsync"]
# --gram topk: the fastest analysis (the sweep is about the writes, not the Gram source).
ANALYZE = ["analyze", "run.h5", "--quiet", "--json", "--gram", "topk"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def analysis_contents(path: Path) -> dict:
    """Every dataset (values, dtype) and attribute under /analysis, read with h5py."""
    out = {}
    with h5py.File(path, "r") as f:
        g = f["analysis"]
        for k, v in g.attrs.items():
            out["@" + k] = v.decode() if isinstance(v, bytes) else str(v)
        for name, ds in g.items():
            out[name] = (str(ds.dtype), ds[()].tobytes())
            for k, v in ds.attrs.items():
                if k in ("DIMENSION_LIST", "REFERENCE_LIST"):
                    continue
                out[f"{name}@{k}"] = v.decode() if isinstance(v, bytes) else str(v)
    return out


@pytest.fixture(scope="module")
def setup(eostrace_bin, tmp_path_factory):
    if not Path(STRACE).exists():
        pytest.fail("strace not found at /usr/bin/strace (Debian package strace)")
    base = tmp_path_factory.mktemp("crash-in-place")
    original = base / "original.h5"
    if os.environ.get("EOSTRACE_CRASH_RECORDING"):  # scripts/crash-in-place-sweep.sh: a larger recording
        shutil.copy(os.environ["EOSTRACE_CRASH_RECORDING"], original)
    else:
        subprocess.run([str(eostrace_bin), "record", "--preset", "linear-synthetic", "-o", str(original), "--steps",
                        "30", "--n", "40", "--k", "3", "--quiet"], check=True, capture_output=True, timeout=120)
    # The clean reference: analyze --out, run from a directory where the recording is called run.h5
    # (source_file is the path as given, so the in-place runs below give it the same way).
    refdir = base / "ref"
    refdir.mkdir()
    shutil.copy(original, refdir / "run.h5")
    subprocess.run([str(eostrace_bin), *ANALYZE, "--out", "ref-analysis.h5"],
                   cwd=refdir, check=True, capture_output=True, timeout=120)
    reference = analysis_contents(refdir / "ref-analysis.h5")
    # Count the file-changing calls of one clean in-place run.
    countdir = base / "count"
    countdir.mkdir()
    shutil.copy(original, countdir / "run.h5")
    trace = countdir / "trace.txt"
    subprocess.run([STRACE, "-f", "-qq", "-o", str(trace), "-e", "trace=" + ",".join(CHANGING),
                    str(eostrace_bin), *ANALYZE, "--in-place"],
                   cwd=countdir, check=True, capture_output=True, timeout=120)
    counts = collections.Counter()
    for line in trace.read_text().splitlines():
        m = re.match(r"\d+\s+(\w+)\(", line)
        if m and m.group(1) in CHANGING:
            counts[m.group(1)] += 1
    assert analysis_contents(countdir / "run.h5") == reference  # the clean in-place run itself
    with h5py.File(original, "r") as f:
        assert "trajectory" in f
    assert subprocess.run([str(eostrace_bin), "info", str(original)], capture_output=True, timeout=60).returncode == 0
    return dict(base=base, original=original, sha=sha256(original), reference=reference, counts=counts)


def run_point(eostrace_bin, setup, name: str, inject: str) -> tuple[subprocess.CompletedProcess, Path]:
    work = setup["base"] / name
    work.mkdir()
    shutil.copy(setup["original"], work / "run.h5")
    proc = subprocess.run([STRACE, "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + ",".join(CHANGING),
                           "-e", "inject=" + inject, str(eostrace_bin), *ANALYZE, "--in-place"],
                          cwd=work, capture_output=True, text=True, timeout=120)
    return proc, work


def check_recording(eostrace_bin, setup, work: Path) -> str:
    """'unchanged' or 'analysed'; fails the test otherwise. (An unchanged file is the original,
    which the setup opened with h5py and `eostrace info`.)"""
    run = work / "run.h5"
    if sha256(run) == setup["sha"]:
        return "unchanged"
    with h5py.File(run, "r") as f:  # opens without h5clear
        assert "trajectory" in f and "run" in f
    info = subprocess.run([str(eostrace_bin), "info", str(run)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    diff = subprocess.run([str(eostrace_bin), "diff", str(setup["original"]), str(run)], capture_output=True,
                          text=True, timeout=60)
    lines = [l for l in diff.stdout.splitlines() if l.strip() and not l.startswith(str(setup["original"]))
             and "differ in" not in l]
    assert lines == ["/analysis: only in B"], diff.stdout
    assert analysis_contents(run) == setup["reference"]
    return "analysed"


def point(eostrace_bin, setup, call: str, k: int, mode: str) -> dict:
    inject = f"{call}:signal=SIGKILL:when={k}" if mode == "kill" else f"{call}:error=ENOSPC:when={k}"
    proc, work = run_point(eostrace_bin, setup, f"{mode}-{call}-{k}", inject)
    try:
        outcome = check_recording(eostrace_bin, setup, work)
    except AssertionError as e:
        outcome = f"BROKEN: {e}"
    others = sorted(p.name for p in work.iterdir() if p.name != "run.h5")
    return dict(call=call, k=k, mode=mode, rc=proc.returncode, stderr=proc.stderr, outcome=outcome, others=others)


@pytest.fixture(scope="module")
def sweep(eostrace_bin, setup):
    """Every kill point and every ENOSPC point, two at a time (the machine has 2 cores)."""
    counts = setup["counts"]
    jobs = [(c, k, "kill") for c in CHANGING for k in range(1, counts[c] + 1)]
    jobs += [(c, k, "enospc") for c in ENOSPC_AT for k in range(1, counts[c] + 1)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda j: point(eostrace_bin, setup, *j), jobs))


def test_kill_at_every_write(setup, sweep):
    counts = setup["counts"]
    assert counts["pwrite64"] >= 10 and counts["fsync"] >= 2 and counts["rename"] >= 1, counts
    kills = [r for r in sweep if r["mode"] == "kill"]
    assert len(kills) == sum(counts[c] for c in CHANGING)
    for r in kills:
        where = f"{r['call']} #{r['k']}"
        assert r["outcome"] in ("unchanged", "analysed"), f"{where}: {r['outcome']}"
        assert r["rc"] != 0, f"{where}: not killed ({r['stderr']})"
        # A kill leaves at most the temporary copy, never another file.
        assert all(n.startswith(".run.h5.eostrace-tmp-") for n in r["others"]), f"{where}: {r['others']}"
    outcomes = collections.Counter(r["outcome"] for r in kills)
    print(f"\nkill points per call: {dict(counts)}; outcomes: {dict(outcomes)}")
    # Kills before the rename keep the original, kills after it (directory fsync, stdout) the result.
    assert outcomes["unchanged"] >= counts["pwrite64"] and outcomes["analysed"] >= 1, outcomes


@pytest.mark.parametrize("call", ENOSPC_AT)
def test_no_space_at_every_write(setup, sweep, call):
    n = setup["counts"][call]
    points = [r for r in sweep if r["mode"] == "enospc" and r["call"] == call]
    assert n >= 1 and len(points) == n
    for r in points:
        where = f"{call} #{r['k']}"
        lines = r["stderr"].splitlines()
        assert r["outcome"] in ("unchanged", "analysed"), f"{where}: {r['outcome']}"
        assert r["others"] == [], f"{where}: left {r['others']}"  # no temporary file after a handled error
        if call == "fsync" and r["k"] == n:
            # The last fsync is the directory's, after the rename: the result is in place, the error reported.
            assert r["outcome"] == "analysed" and r["rc"] == 2 and "cannot sync the directory" in r["stderr"], r
        elif r["outcome"] == "analysed":
            # libhdf5 rewrote the failed block later (metadata is written again at close) and the
            # read-back verified the result: a clean success.
            assert r["rc"] == 0 and lines == [], f"{where}: {r['stderr']}"
            continue
        else:
            assert r["rc"] == 2, f"{where}: exit {r['rc']}: {r['stderr']}"
        assert len(lines) == 1 and lines[0].startswith("eostrace: ") and "run.h5" in lines[0], r["stderr"]
    # Most failures are refused cleanly; none may pass unnoticed (checked above).
    unchanged = sum(r["outcome"] == "unchanged" for r in points)
    print(f"\nENOSPC at {call}: {n} points; " + ", ".join(f"#{r['k']} {r['outcome']} exit {r['rc']}" for r in points))
    assert unchanged >= (n - 1 if call != "pwrite64" else n // 2), [(r["k"], r["outcome"]) for r in points]


def test_refuses_live_and_unwritable(eostrace_bin, eostrace_dev_bin, tmp_path):
    """A live recording, a read-only recording and a read-only directory: one line, exit 1, file unchanged."""
    live = tmp_path / "live.h5"
    writer = subprocess.Popen([str(eostrace_dev_bin), "synthetic-writer", str(live), "--steps", "100000",
                               "--flush-every", "8", "--delay-ms", "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().startswith("flushed")
        p = subprocess.run([str(eostrace_bin), "analyze", str(live), "--quiet", "--in-place", "--gram", "topk"],
                           capture_output=True, text=True, timeout=120)
        assert writer.poll() is None
        assert p.returncode == 1, p.stderr
        assert p.stderr.splitlines() == [f"eostrace: {live}: is a recording that a live eostrace process is writing; "
                                         "not changing it"]
        assert not list(tmp_path.glob(".live.h5.eostrace-tmp-*"))
    finally:
        writer.kill()
        writer.wait()
    ro = tmp_path / "ro"
    ro.mkdir()
    rec = ro / "run.h5"
    shutil.copy(Path(__file__).resolve().parents[2] / "samples" / "linear-synthetic-small.h5", rec)
    digest = sha256(rec)
    rec.chmod(0o444)
    p = subprocess.run([str(eostrace_bin), "analyze", str(rec), "--quiet", "--in-place"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "is read-only" in p.stderr and str(rec) in p.stderr
    rec.chmod(0o640)
    ro.chmod(0o555)
    try:
        p = subprocess.run([str(eostrace_bin), "analyze", str(rec), "--quiet", "--in-place"], capture_output=True,
                           text=True, timeout=120)
        if os.geteuid() == 0:
            # root may write into a 0555 directory: then it must succeed and keep the file's mode.
            assert p.returncode == 0, p.stderr
            assert (rec.stat().st_mode & 0o777) == 0o640
            with h5py.File(rec, "r") as f:
                assert "analysis" in f
        else:
            assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "is not writable" in p.stderr
            assert sha256(rec) == digest
    finally:
        ro.chmod(0o755)

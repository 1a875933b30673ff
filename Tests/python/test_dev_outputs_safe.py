"""`eostrace-dev` outputs follow the product's output rule (issue 11): an existing file is never
replaced without --force (one line, exit 1, the file byte for byte as it was), a file another
process is writing never (exit 2, even with --force), and finished outputs are written beside the
target and renamed into place (no temporary file left behind). Output options: make-sample --out,
bench-write's DIR/eostrace-bench.h5, bench-multi --dump DIR (X.npy, Y.npy, theta.npy), and the
live writers synthetic-writer FILE and write-forever FILE.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest


def run(binary, *args, timeout=120):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(p, path: Path, code: int, words: str):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eostrace: ") and str(path) in lines[0], p.stderr
    assert words in lines[0], p.stderr


def no_temporaries(d: Path):
    left = [x.name for x in d.iterdir() if "eostrace-tmp" in x.name or x.name.endswith(".creating")]
    assert not left, left


@pytest.fixture
def recording(eostrace_bin, tmp_path):
    """Another recording (the kind of file a developer may point a tool at by mistake)."""
    path = tmp_path / "other.h5"
    p = run(eostrace_bin, "record", "--preset", "linear-synthetic", "--steps", "3", "--n", "20", "--quiet", "-o", path)
    assert p.returncode == 0, p.stderr
    return path


def test_make_sample_out(eostrace_bin, eostrace_dev_bin, recording, tmp_path):
    before = digest(recording)
    refused(run(eostrace_dev_bin, "make-sample", "--out", recording, "--steps", 20), recording, 1, "--force")
    assert digest(recording) == before
    plain = tmp_path / "plain.txt"
    plain.write_text("not a recording\n")
    refused(run(eostrace_dev_bin, "make-sample", "--out", plain, "--steps", 20), plain, 1, "--force")
    assert plain.read_text() == "not a recording\n"
    p = run(eostrace_dev_bin, "make-sample", "--out", recording, "--steps", 20, "--force")
    assert p.returncode == 0, p.stderr
    with h5py.File(recording, "r") as f:
        assert f["trajectory/step"][:].tolist() == list(range(20))
        assert f["run"].attrs["n_samples"] == 40   # the sample's, not the replaced recording's 20
    assert run(eostrace_bin, "validate", recording).returncode == 0
    no_temporaries(tmp_path)


def test_bench_write_file(eostrace_dev_bin, tmp_path):
    target = tmp_path / "eostrace-bench.h5"
    target.write_bytes(b"precious")
    args = ["bench-write", "--out", tmp_path, "--n", 32, "--k", 2, "--steps", 5]
    refused(run(eostrace_dev_bin, *args), target, 1, "--force")
    assert target.read_bytes() == b"precious"
    p = run(eostrace_dev_bin, *args, "--force")
    assert p.returncode == 0, p.stderr
    with h5py.File(target, "r") as f:
        assert f["trajectory/step"].shape == (5,)
    no_temporaries(tmp_path)


def test_bench_multi_dump(eostrace_dev_bin, tmp_path):
    (tmp_path / "Y.npy").write_bytes(b"mine")
    args = ["bench-multi", "--n", 20, "--steps", 1, "--warmup", 0, "--plain-steps", 1, "--plain-only", "--widths", 4,
            "--classes", "0,1", "--dump", tmp_path]
    refused(run(eostrace_dev_bin, *args), tmp_path / "Y.npy", 1, "--force")
    assert (tmp_path / "Y.npy").read_bytes() == b"mine"
    assert not (tmp_path / "X.npy").exists()   # all three or none
    p = run(eostrace_dev_bin, *args, "--force")
    assert p.returncode == 0, p.stderr
    x, y, theta = (np.load(tmp_path / f"{n}.npy") for n in ("X", "Y", "theta"))
    assert x.shape == (20, 784) and y.shape == (20, 2) and theta.ndim == 1
    assert np.allclose(y.sum(axis=1), 1.0)   # one-hot targets
    no_temporaries(tmp_path)


@pytest.mark.parametrize("tool", ["synthetic-writer", "write-forever"])
def test_live_writers(eostrace_dev_bin, recording, tmp_path, tool):
    extra = ["--steps", 5] if tool == "synthetic-writer" else ["--max-seconds", 0.2]
    before = digest(recording)
    refused(run(eostrace_dev_bin, tool, recording, *extra), recording, 1, "--force")
    assert digest(recording) == before
    p = run(eostrace_dev_bin, tool, recording, *extra, "--force")
    assert p.returncode == 0, p.stderr
    assert digest(recording) != before


def test_live_recording_never_replaced(eostrace_dev_bin, tmp_path):
    live = tmp_path / "live.h5"
    writer = subprocess.Popen([str(eostrace_dev_bin), "synthetic-writer", str(live), "--steps", "100000",
                               "--flush-every", "8", "--delay-ms", "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().startswith("flushed")
        for args in (["make-sample", "--out", live, "--steps", 5, "--force"],
                     ["synthetic-writer", live, "--steps", 5, "--force"],
                     ["write-forever", live, "--max-seconds", 0.2, "--force"]):
            refused(run(eostrace_dev_bin, *args), live, 1 if args[0] == "make-sample" else 2, "live eostrace process")
        assert writer.poll() is None, "the live writer died"
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    with h5py.File(live, "r", libver="latest", swmr=True) as f:
        steps = f["trajectory/step"][:]
        assert steps.size >= 8 and (np.diff(steps) == 1).all()   # its own rows, intact

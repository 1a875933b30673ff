"""`eostrace diff A B`: identical recordings in the bit-for-bit sense, checked against files that
h5py changes in known ways (the independent answer is the change we made)."""

from __future__ import annotations

import shutil
import subprocess

import h5py
import numpy as np
import pytest

SAMPLE = "samples/fmnist-tanh-small.h5"


@pytest.fixture()
def pair(repo_root, tmp_path):
    a = tmp_path / "a.h5"
    b = tmp_path / "b.h5"
    shutil.copyfile(repo_root / SAMPLE, a)
    shutil.copyfile(repo_root / SAMPLE, b)
    return a, b


def test_identical_copies(eostrace, pair):
    a, b = pair
    p = eostrace("diff", a, b)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"{a} and {b} are identical"


def test_repacked_copy_is_identical(eostrace, pair, tmp_path):
    """Another layout of the same values (h5repack: new chunking, compression) is identical."""
    a, _ = pair
    c = tmp_path / "c.h5"
    subprocess.run(["h5repack", "-f", "NONE", str(a), str(c)], check=True)
    assert a.read_bytes() != c.read_bytes()
    p = eostrace("diff", a, c)
    assert p.returncode == 0, p.stdout + p.stderr


def test_one_ulp_in_one_element(eostrace, pair):
    a, b = pair
    with h5py.File(b, "r+") as f:
        v = f["trajectory/eigenvectors"][...]
        old = v[40, 1, 7]
        v[40, 1, 7] = np.nextafter(old, np.inf)
        f["trajectory/eigenvectors"][...] = v
    p = eostrace("diff", a, b)
    assert p.returncode == 1
    lines = p.stdout.strip().splitlines()
    assert lines[0] == f"/trajectory/eigenvectors: element [40, 1, 7]: {float(old)!r} vs {float(np.nextafter(old, np.inf))!r} (1 of {v.size} elements differ)"
    assert lines[-1] == f"{a} and {b} differ in 1 object"


def test_negative_zero_differs_from_zero(eostrace, pair):
    a, b = pair
    with h5py.File(a, "r+") as f:
        f["trajectory/dtf"][3] = 0.0
    with h5py.File(b, "r+") as f:
        f["trajectory/dtf"][3] = -0.0
    p = eostrace("diff", a, b)
    assert p.returncode == 1
    assert "/trajectory/dtf: element 3: 0.0 vs -0.0" in p.stdout


def test_attributes_type_value_and_presence(eostrace, pair):
    a, b = pair
    with h5py.File(b, "r+") as f:
        f["run"].attrs["learning_rate"] = np.float64(0.05000000000000001)
        f["run"].attrs["n_samples"] = np.int32(100)  # same value, other type
        f["trajectory"].attrs["extra"] = "new"
        del f["trajectory/grad_norm"]
    p = eostrace("diff", a, b)
    assert p.returncode == 1
    out = p.stdout
    assert "/run@learning_rate: value: 0.05 vs 0.05000000000000001" in out
    assert "/run@n_samples: type int64 vs int32" in out
    assert "/trajectory@extra: only in B" in out
    assert "/trajectory/grad_norm: only in A" in out
    assert out.strip().splitlines()[-1].endswith("differ in 4 objects")


def test_volatile_fields_skipped_unless_asked(eostrace, pair):
    a, b = pair
    with h5py.File(b, "r+") as f:
        f.attrs["created"] = "2000-01-01T00:00:00Z"
        f.attrs["history"] = "edited by a test"
    with h5py.File(a, "r+") as f:
        f.attrs["history"] = "written"
    assert eostrace("diff", a, b).returncode == 0
    p = eostrace("diff", "--include-volatile", a, b)
    assert p.returncode == 1
    assert "/@created:" in p.stdout and "/@history:" in p.stdout


def test_unreadable_input_is_one_line_exit_2(eostrace, pair, tmp_path):
    a, _ = pair
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    for other in (tmp_path / "missing.h5", junk):
        p = eostrace("diff", a, other)
        assert p.returncode == 2
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and str(other) in lines[0] and lines[0].startswith("eostrace: ")
    assert eostrace("diff", "-q", a, a).stdout == ""

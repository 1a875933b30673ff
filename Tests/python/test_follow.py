"""`eostrace follow` end to end: a live writer (`eostrace-dev synthetic-writer`) and `follow` reading it.

Independent answers: the rows printed by follow are compared bit for bit with what h5py reads
from the finished file, and the phases with the paper's §3.1 (docs/ANALYSIS.md §1) offline rule implemented here in numpy.
"""
from __future__ import annotations

import signal
import subprocess
import time

import h5py
import numpy as np
import pytest


def offline_phases(lam, loss, eta):
    """docs/ANALYSIS.md §1 (loss rule), whole series known: 1..4 per row."""
    t = len(lam)
    thr = 2 / eta
    ph = np.ones(t, dtype=int)
    runs, i = [], 0
    while i < t:
        if lam[i] > thr:
            j = i
            while j + 1 < t and lam[j + 1] > thr:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    for r, (a, b) in enumerate(runs):
        p = a + int(np.argmax(lam[a:b + 1]))
        ph[a:p + 1] = 2
        ph[p + 1:b + 1] = 3
        limit = runs[r + 1][0] if r + 1 < len(runs) else t
        q = b + 1
        while q < limit and not loss[q] <= loss[p]:
            ph[q] = 4
            q += 1
    return ph, runs


ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}


def parse_follow(stdout):
    rows = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0].lstrip("-").isdigit():
            rows.append((int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3]), ROMAN[parts[4]]))
    return rows


def test_follow_live_writer(eostrace_bin, eostrace_dev_bin, tmp_path):
    path = tmp_path / "live.h5"
    eta = 0.01
    writer = subprocess.Popen([str(eostrace_dev_bin), "synthetic-writer", str(path), "--steps", "700",
                               "--delay-ms", "2", "--flush-every", "25", "--lr", str(eta)],
                              stdout=subprocess.PIPE, text=True)
    # Start following once the file exists and SWMR writing began (first "flushed" line).
    first = writer.stdout.readline()
    assert first.startswith("flushed"), first
    t0 = time.time()
    follow = subprocess.run([str(eostrace_bin), "follow", str(path), "--interval", "0.1", "--timeout", "60"],
                            capture_output=True, text=True, timeout=120)
    writer.wait(timeout=60)
    assert writer.returncode == 0
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.strip().splitlines()[-1].startswith("status: completed after 700 steps")
    # It really followed a live file: it started well before the writer ended (~1.4 s of steps).
    assert time.time() - t0 > 0.5

    rows = parse_follow(follow.stdout)
    with h5py.File(path, "r") as f:
        steps = f["trajectory/step"][:]
        loss = f["trajectory/loss"][:]
        lam = f["trajectory/sharpness"][:]
    assert [r[0] for r in rows] == steps.tolist()
    # %.16e prints 17 significant digits: float64 round-trips exactly.
    assert np.array_equal(np.array([r[1] for r in rows]), loss)
    assert np.array_equal(np.array([r[2] for r in rows]), lam)
    np.testing.assert_allclose([r[3] for r in rows], lam * eta / 2, rtol=0, atol=5e-7)

    online = np.array([r[4] for r in rows])
    offline, runs = offline_phases(lam, loss, eta)
    assert len(runs) >= 2, "the synthetic run must cross 2/η several times for this test to mean anything"
    assert {2, 3}.issubset(set(offline.tolist()))
    # Online labels agree with the offline rule, except that a step the online rule called III
    # (Λ below the running peak) becomes II offline when the run's peak comes later.
    differ = np.nonzero(online != offline)[0]
    for i in differ:
        assert online[i] == 3 and offline[i] == 2, (i, online[i], offline[i])
        a, b = next((a, b) for a, b in runs if a <= i <= b)
        assert lam[a:i + 1].max() < lam[a:b + 1].max()
    # Phase IV only after a run above 2/η, and it is printed by both.
    assert (online == 4).sum() == (offline == 4).sum()


def test_follow_reports_dead_writer(eostrace_bin, eostrace_dev_bin, tmp_path):
    path = tmp_path / "killed.h5"
    writer = subprocess.Popen([str(eostrace_dev_bin), "synthetic-writer", str(path), "--steps", "100000",
                               "--delay-ms", "1", "--flush-every", "10"], stdout=subprocess.PIPE, text=True)
    flushed = 0
    for line in writer.stdout:
        flushed = int(line.split()[2])
        if flushed >= 50:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    for line in writer.stdout:  # lines already in the pipe
        if line.startswith("flushed"):
            flushed = int(line.split()[2])
    p = subprocess.run([str(eostrace_bin), "follow", str(path), "--quiet", "--interval", "0.05", "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("status: interrupted (writer died) after ")
    readable = int(last.split(" after ")[1].split()[0])
    assert readable >= flushed
    assert len(p.stderr.strip().splitlines()) == 1 and "writer died" in p.stderr and str(path) in p.stderr
    # info says the same (StatusReport: stored "running" + no live writer).
    info = subprocess.run([str(eostrace_bin), "info", str(path)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "status:      interrupted (writer died)" in info.stdout, info.stdout


def test_follow_timeout_on_live_writer(eostrace_bin, eostrace_dev_bin, tmp_path):
    path = tmp_path / "slow.h5"
    writer = subprocess.Popen([str(eostrace_dev_bin), "synthetic-writer", str(path), "--steps", "100000",
                               "--delay-ms", "5"], stdout=subprocess.PIPE, text=True)
    try:
        writer.stdout.readline()
        p = subprocess.run([str(eostrace_bin), "follow", str(path), "--quiet", "--interval", "0.1", "--timeout", "1"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1
        assert "--timeout" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    finally:
        writer.kill()
        writer.wait()


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all\n" * 100, None], ids=["empty", "text", "hdf5-not-trajectory"])
def test_follow_not_a_recording(eostrace_bin, tmp_path, content):
    path = tmp_path / "bad.h5"
    if content is None:
        with h5py.File(path, "w", libver=("earliest", "v110")) as f:
            f["x"] = np.arange(3)
    else:
        path.write_bytes(content)
    p = subprocess.run([str(eostrace_bin), "follow", str(path), "--timeout", "5"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0], p.stderr


def test_follow_missing_file(eostrace_bin, tmp_path):
    p = subprocess.run([str(eostrace_bin), "follow", str(tmp_path / "nope.h5")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "no such file" in p.stderr

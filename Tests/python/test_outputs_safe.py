"""One output rule for every output option: existing files survive, live recordings always survive.

Every option that writes a finished file — `analyze --out`, `analyze --csv`, `report -o`,
`report --svg-dir` (its fig1.svg), `compare -o` — against an existing file of three kinds:
another recording, a LIVE recording (`eostrace-dev synthetic-writer` writing it at that moment)
and an arbitrary file. Independent answers: sha256 of the files, the inode, h5py reads of the
live file after its writer ends, and strace's record of the system calls (the replacement is a
rename of a `.NAME.eostrace-tmp-*` file; the target is never opened for writing).

- without --force: exit 1, exactly one stderr line `eostrace: FILE: exists; use --force to
  replace it` (for a live file the live-writer line), file unchanged byte for byte;
- a live recording even with --force: exit 1, one line, same inode, and its writer carries on
  into a readable file;
- --force on a plain file: replaced by a rename (permissions kept), no temporary file left.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "linear-synthetic-small.h5"
LIVE_LINE = "is a recording that a live eostrace process is writing; not replacing it"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# option name -> argv builder given (recording, target); the target of --svg-dir is DIR/fig1.svg.
OPTIONS = {
    "analyze --out": lambda rec, t: ["analyze", rec, "--quiet", "--gram", "topk", "--out", t],
    "analyze --csv": lambda rec, t: ["analyze", rec, "--quiet", "--gram", "topk", "--csv", t],
    "report -o": lambda rec, t: ["report", rec, "--gram", "topk", "-o", t],
    "report --svg-dir": lambda rec, t: ["report", rec, "--gram", "topk", "-o", str(Path(t).parent / "page.html"),
                                        "--svg-dir", str(Path(t).parent)],
    "compare -o": lambda rec, t: ["compare", rec, rec, "-o", t],
}


def target_for(option: str, directory: Path, name: str) -> Path:
    d = directory / option.replace(" ", "_").replace("-", "")
    d.mkdir(exist_ok=True)
    return d / ("fig1.svg" if option == "report --svg-dir" else name)


def run(eostrace_bin, argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(eostrace_bin), *map(str, argv)], capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("outputs-input") / "input.h5"
    shutil.copy(SAMPLE, p)
    return p


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("kind", ["recording", "plain"])
def test_existing_file_survives_without_force(eostrace_bin, recording, tmp_path, option, kind):
    target = target_for(option, tmp_path, "existing.h5" if kind == "recording" else "notes.bin")
    if kind == "recording":
        shutil.copy(SAMPLE.parent / "synthetic-small.h5", target)
    else:
        target.write_bytes(os.urandom(5000))
    before = sha256(target)
    p = run(eostrace_bin, OPTIONS[option](recording, target))
    assert p.returncode == 1, p.stderr
    assert p.stderr.splitlines() == [f"eostrace: {target}: exists; use --force to replace it"], p.stderr
    assert sha256(target) == before
    assert sorted(x.name for x in target.parent.iterdir()) == [target.name]  # nothing else written
    assert sha256(recording) == sha256(SAMPLE)  # the input is untouched too


@pytest.fixture
def live_writer(eostrace_dev_bin, tmp_path):
    """A synthetic-writer writing DIR/fig1.svg (a name every option can be pointed at)."""
    d = tmp_path / "live"
    d.mkdir()
    path = d / "fig1.svg"
    w = subprocess.Popen([str(eostrace_dev_bin), "synthetic-writer", str(path), "--steps", "100000",
                          "--flush-every", "8", "--delay-ms", "2"], stdout=subprocess.PIPE, text=True)
    assert w.stdout.readline().startswith("flushed")
    yield w, path
    if w.poll() is None:
        w.kill()
        w.wait()


def test_live_recording_survives_even_with_force(eostrace_bin, recording, live_writer):
    writer, live = live_writer
    inode = live.stat().st_ino
    for option, argv in OPTIONS.items():
        for force in ([], ["--force"]):
            p = run(eostrace_bin, argv(recording, live) + force)
            where = f"{option} {force}"
            assert p.returncode == 1, f"{where}: {p.stderr}"
            assert p.stderr.splitlines() == [f"eostrace: {live}: {LIVE_LINE}"], f"{where}: {p.stderr}"
            assert live.stat().st_ino == inode, where
            assert writer.poll() is None, where
    # Nothing was left beside it (no temporary files, no page.html for the svg case).
    assert sorted(x.name for x in live.parent.iterdir()) == ["fig1.svg"]
    # The writer carried on into the same file: it keeps flushing, and everything it flushed reads back.
    flushed = 0
    deadline = time.time() + 20
    while flushed < 200 and time.time() < deadline:
        line = writer.stdout.readline()
        if line.startswith("flushed"):
            flushed = int(line.split()[2])
    assert flushed >= 200
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert live.stat().st_ino == inode
    with h5py.File(live, "r", swmr=True) as f:  # a killed SWMR writer: marks set, SWMR read opens it
        steps = f["trajectory/step"][:]
    assert len(steps) >= flushed and np.array_equal(steps, np.arange(len(steps)))


def test_killed_writer_and_foreign_writer_are_not_replaced(eostrace_bin, eostrace_dev_bin, recording, tmp_path):
    """A recording whose writer was killed (HDF5 SWMR marks left) and a file h5py holds open for
    writing (HDF5 file lock): refused even with --force."""
    killed = tmp_path / "killed.h5"
    w = subprocess.Popen([str(eostrace_dev_bin), "synthetic-writer", str(killed), "--steps", "100000",
                          "--flush-every", "8", "--delay-ms", "2"], stdout=subprocess.PIPE, text=True)
    assert w.stdout.readline().startswith("flushed")
    w.kill()
    w.wait()
    before = sha256(killed)
    p = run(eostrace_bin, OPTIONS["analyze --out"](recording, killed) + ["--force"])
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    assert f"{killed}: is marked open for writing by an HDF5 writer" in p.stderr
    assert sha256(killed) == before

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(10)
        f.flush()
        held = sha256(foreign)
        p = run(eostrace_bin, OPTIONS["report -o"](recording, foreign) + ["--force"])
        assert sha256(foreign) == held
    if p.returncode == 1 and "HDF5 file lock held" in p.stderr:
        assert p.stderr.splitlines() == [f"eostrace: {foreign}: is open for writing in another program (HDF5 file lock held); not replacing it"]
    else:  # h5py built without file locking: then it is only "marked open for writing" or was replaced
        pytest.fail(f"a file h5py holds open for writing was not refused: exit {p.returncode}: {p.stderr}")


@pytest.mark.parametrize("option", list(OPTIONS))
def test_force_replaces_a_plain_file_atomically(eostrace_bin, recording, tmp_path, option):
    target = target_for(option, tmp_path, "old.out")
    target.write_bytes(b"old contents\n" * 100)
    target.chmod(0o640)
    inode = target.stat().st_ino
    trace = tmp_path / "trace.txt"
    argv = OPTIONS[option](recording, target) + ["--force"]
    p = subprocess.run(["/usr/bin/strace", "-f", "-qq", "-o", str(trace), "-e",
                        "trace=openat,open,creat,truncate,rename,renameat,renameat2,link,unlink",
                        str(eostrace_bin), *map(str, argv)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    calls = trace.read_text()
    name = re.escape(str(target))
    # The target itself is never opened for writing nor truncated ...
    for line in calls.splitlines():
        if re.search(rf'"{name}"', line) and ("open" in line or "creat" in line or "truncate" in line):
            assert "O_WRONLY" not in line and "O_RDWR" not in line and "O_TRUNC" not in line and "truncate(" not in line, line
    # ... it is replaced by renaming a complete temporary file beside it.
    tmp = rf'"{re.escape(str(target.parent))}/\.{re.escape(target.name)}\.eostrace-tmp-\w+"'
    assert re.search(rf"rename(at2?)?\((AT_FDCWD, )?{tmp}, (AT_FDCWD, )?\"{name}\"", calls), calls[-2000:]
    assert target.stat().st_ino != inode
    assert (target.stat().st_mode & 0o777) == 0o640  # the replaced file's permissions are kept
    assert not [x for x in target.parent.iterdir() if ".eostrace-tmp-" in x.name]
    data = target.read_bytes()
    if option == "analyze --out":
        with h5py.File(target, "r") as f:
            assert f.attrs["format"] in (b"eostrace-analysis", "eostrace-analysis")
            assert len(f["analysis/phase"]) == len(f["analysis/step"]) > 0
    elif option == "analyze --csv":
        assert data.startswith(b"step,phase,")
    elif option == "report --svg-dir":
        assert data.startswith(b"<?xml") and b"<svg" in data
    else:
        assert b"<html" in data[:500].lower()


def test_csv_to_stdout_and_duplicate_outputs(eostrace_bin, recording, tmp_path):
    p = run(eostrace_bin, ["analyze", recording, "--quiet", "--gram", "topk", "--csv", "-"])
    assert p.returncode == 0 and p.stdout.startswith("step,phase,"), p.stderr
    assert not (Path.cwd() / "-").exists()
    same = tmp_path / "both"
    p = run(eostrace_bin, ["analyze", recording, "--quiet", "--out", same, "--csv", same])
    assert p.returncode == 1 and p.stderr.splitlines() == [f"eostrace: {same}: given to both --output and --csv; choose two files"]
    assert not same.exists()
    d = tmp_path / "adir"
    d.mkdir()
    p = run(eostrace_bin, ["compare", recording, "-o", d, "--force"])
    assert p.returncode == 1 and p.stderr.splitlines() == [f"eostrace: {d}: is a directory; give a file name"]

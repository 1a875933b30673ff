"""Crash consistency of `eostrace record` and `record --resume` (issue 11, items 3-6).

Every file-changing system call (pwrite64, write, ftruncate, fsync, rename, unlink) of a small
recording and of a small resume is turned, one at a time, into SIGKILL with strace fault
injection (`-e inject=SYSCALL:signal=SIGKILL:when=K`), and every pwrite64 into ENOSPC. After each
fault, independently of eostrace's own reader:

* the recording opens without h5clear (h5py, SWMR-read; `eostrace info` and `validate`),
* every step it holds is bit for bit the row of the uninterrupted reference (h5py, raw bytes),
* `/run/status` is "completed" only when every step is there,
* `record --resume` (where there is something to resume) ends identical to the reference
  (`eostrace diff`, exit 0).

The suite sweeps every kill point of an 8-step recording and of its resume (two at a time on
the 2-core machine); scripts/crash-sweep.sh (EOSTRACE_CRASH_FULL=1) sweeps every kill point of
the 20-step recording the other tests here use, and of the `--steps 30` resume's config rewrite.
EOSTRACE_CRASH_STRIDE=K sweeps every K-th point only (a quick look); EOSTRACE_CRASH_JOBS sets the
number of points run at once.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

STRACE = shutil.which("strace") or "/usr/bin/strace"
CALLS = ["pwrite64", "write", "ftruncate", "fsync", "rename", "unlink"]
RUN = ["record", "--preset", "linear-synthetic", "--steps", "20", "--n", "20", "--checkpoint-every", "5",
       "--batch-steps", "4", "--pipeline", "off", "--quiet"]
FULL = os.environ.get("EOSTRACE_CRASH_FULL") == "1"  # scripts/crash-sweep.sh
STRIDE = int(os.environ.get("EOSTRACE_CRASH_STRIDE", "1"))
JOBS = int(os.environ.get("EOSTRACE_CRASH_JOBS", str(min(2, os.cpu_count() or 1))))
SWEEP_STEPS = 20 if FULL else 8  # the run the every-point sweeps kill; FULL: RUN itself
SWEEP_RUN = list(RUN)
SWEEP_RUN[SWEEP_RUN.index("--steps") + 1] = str(SWEEP_STEPS)
SWEEP_RUN[SWEEP_RUN.index("--checkpoint-every") + 1] = str(max(1, SWEEP_STEPS // 4))
SERIES = ["step", "loss", "residual", "output_norm_sq", "sharpness", "eigenvalues", "eigenvectors", "dtf",
          "outputs", "output_layer_sharpness", "grad_norm"]


def run(binary, *args, timeout=60):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def traced(binary, args, inject=None, log="/dev/null", timeout=60):
    cmd = [STRACE, "-f", "-qq", "-o", str(log), "-e", "trace=" + ",".join(CALLS)]
    if inject:
        cmd += ["-e", "inject=" + inject]
    return subprocess.run(cmd + [str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def count_calls(binary, args, tmp: Path) -> dict[str, int]:
    """How many times the command makes each call (all threads: an upper bound of K)."""
    log = tmp / "calls.txt"
    p = traced(binary, args, log=log)
    assert p.returncode == 0, p.stderr
    counts = {c: 0 for c in CALLS}
    for line in log.read_text().splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            name = parts[1].split("(", 1)[0]
            if name in counts:
                counts[name] += 1
    return counts


def rows(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """Status and main-cadence series (common length), read by h5py as an SWMR reader."""
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        status = f["run/status"][()]
        status = status.decode() if isinstance(status, bytes) else str(status)
        status = status.rstrip("\x00")
        t = f["trajectory"]
        common = min(t[s].shape[0] for s in SERIES)
        return status, {s: t[s][:common] for s in SERIES}


def check_prefix(path: Path, ref: dict[str, np.ndarray], where: str) -> tuple[str, int]:
    status, got = rows(path)
    nrows = got["step"].shape[0]
    total = ref["step"].shape[0]
    for s in SERIES:
        assert got[s].tobytes() == ref[s][:nrows].tobytes(), f"{where}: {s} differs from the reference"
    if status == "completed":
        assert nrows == total, f"{where}: status completed with {nrows} of {total} steps"
    return status, nrows


def check_opens(binary, path: Path, where: str):
    for cmd in ("info", "validate"):
        p = run(binary, cmd, path)
        assert p.returncode in ((0,) if cmd == "info" else (0, 1)), \
            f"{where}: eostrace {cmd} exit {p.returncode}: {p.stderr}"
        assert "already open" not in p.stderr and "h5clear" not in p.stderr, f"{where}: {p.stderr}"


def resume_to_end(binary, path: Path, ref_path: Path, where: str):
    p = run(binary, "record", "-o", path, "--resume", "--quiet")
    if p.returncode != 0:
        # Only a file without any checkpoint that has a main row cannot be resumed.
        assert "cannot resume" in p.stderr or "nothing to resume" in p.stderr, f"{where}: resume: {p.stderr}"
        assert len(p.stderr.strip().splitlines()) == 1, f"{where}: {p.stderr}"
        return False
    d = run(binary, "diff", ref_path, path)
    assert d.returncode == 0, f"{where}: resumed file differs from the reference:\n{d.stdout}{d.stderr}"
    return True


def points(count: int, stride: int = STRIDE) -> list[int]:
    if count <= 0:
        return []
    ks = list(range(1, count + 1, max(1, stride)))
    if ks[-1] != count:
        ks.append(count)
    return ks


def sweep(cases, check) -> list:
    """check(case) for every case, JOBS at a time (each on its own files); the first failure raises."""
    with ThreadPoolExecutor(max_workers=max(1, JOBS)) as pool:
        return list(pool.map(check, cases))


def make_reference(tmp: Path, binary, args) -> tuple[Path, Path, dict[str, np.ndarray]]:
    ref = tmp / "ref.h5"
    p = run(binary, *args, "-o", ref)
    assert p.returncode == 0, p.stderr
    status, r = rows(ref)
    steps = int(args[args.index("--steps") + 1])
    assert status == "completed" and r["step"].tolist() == list(range(steps + 1))
    return tmp, ref, r


def make_partial(tmp: Path, binary, args, ref, total_writes: int) -> Path:
    """A recording killed after a few flushed batches: at least half the steps on disk, not all."""
    steps = int(args[args.index("--steps") + 1])
    # From two thirds of the writes down (the 20-step run: 12 steps), then from the end down.
    for k in [*range(total_writes * 2 // 3, 0, -5), *range(total_writes - 1, total_writes * 2 // 3, -5)]:
        out = tmp / "partial.h5"
        out.unlink(missing_ok=True)
        traced(binary, [*args, "-o", out], inject=f"pwrite64:signal=SIGKILL:when={k}")
        if out.exists():
            status, nrows = check_prefix(out, ref, "partial")
            if status != "completed" and steps // 2 < nrows <= steps:
                return out
    pytest.fail(f"no kill point leaves a partial recording with {steps // 2 + 1}-{steps} steps")


class Recording:
    """An uninterrupted run of `args` (reference: tmp, path, rows), its call counts, and a copy
    killed after a few flushed batches (partial), each made on first use."""

    def __init__(self, tmp: Path, binary, args: list[str]):
        self.tmp, self.binary, self.args = tmp, binary, args

    @functools.cached_property
    def reference(self) -> tuple[Path, Path, dict[str, np.ndarray]]:
        return make_reference(self.tmp, self.binary, self.args)

    @functools.cached_property
    def calls(self) -> dict[str, int]:
        return count_calls(self.binary, [*self.args, "-o", self.tmp / "count.h5"], self.tmp)

    @functools.cached_property
    def partial(self) -> Path:
        return make_partial(self.tmp, self.binary, self.args, self.reference[2], self.calls["pwrite64"])


@pytest.fixture(scope="module")
def main_run(tmp_path_factory, eostrace_bin) -> Recording:
    """The 20-step recording (RUN) of the tests after the sweeps."""
    return Recording(tmp_path_factory.mktemp("crash"), eostrace_bin, RUN)


@pytest.fixture(scope="module")
def sweep_run(main_run, tmp_path_factory, eostrace_bin) -> Recording:
    """The recording the every-point sweeps kill (SWEEP_RUN; RUN itself when FULL)."""
    return main_run if SWEEP_RUN == RUN else Recording(tmp_path_factory.mktemp("sweep"), eostrace_bin, SWEEP_RUN)


@pytest.fixture(scope="module")
def reference(main_run):
    return main_run.reference


@pytest.fixture(scope="module")
def interrupted(main_run):
    """RUN killed after a few flushed batches (11-20 steps on disk)."""
    return main_run.partial


def test_kill_record_at_every_write(sweep_run, eostrace_bin):
    tmp, ref_path, ref = sweep_run.reference
    counts = sweep_run.calls
    assert counts["pwrite64"] > 50 and counts["rename"] >= 1, counts

    def check(case) -> tuple[bool, bool]:  # (renamed into place, resumed)
        call, k = case
        out = tmp / f"kill-{call}-{k}.h5"
        where = f"kill at {call} #{k}"
        p = traced(eostrace_bin, [*sweep_run.args, "-o", out], inject=f"{call}:signal=SIGKILL:when={k}")
        try:
            if not out.exists():
                # Killed before the complete new file was renamed into place: nothing to open.
                assert p.returncode != 0, where
                return False, False
            check_opens(eostrace_bin, out, where)
            status, nrows = check_prefix(out, ref, where)
            resumed = False
            if status != "completed":
                assert p.returncode != 0, f"{where}: exit 0 with status {status}"
                resumed = resume_to_end(eostrace_bin, out, ref_path, where)
            return True, resumed
        finally:
            out.unlink(missing_ok=True)
            Path(str(out) + ".creating").unlink(missing_ok=True)

    cases = [(call, k) for call in CALLS for k in points(counts[call])]
    results = sweep(cases, check)
    opened, resumed = sum(r[0] for r in results), sum(r[1] for r in results)
    print(f"record killed at {len(cases)} points ({counts}): {opened} left the file, {resumed} resumed")
    assert len(cases) >= 10 and opened >= 4 and resumed >= 4, (len(cases), opened, resumed)


def resume_sweep(rec: Recording, binary, tmp: Path, fault: str) -> tuple[list, dict[str, int]]:
    """`record --resume` of rec.partial with the strace fault action `fault` ("signal=SIGKILL":
    at every file-changing call; "error=ENOSPC": at every pwrite64), one point at a time: one
    line for a full disk, the file opens, its rows are the reference's ("completed" only when
    complete), and a further resume ends identical to the reference."""
    _, ref_path, ref = rec.reference
    check_prefix(rec.partial, ref, "partial")
    resume = ["record", "--resume", "--quiet", "--batch-steps", "4"]
    work = tmp / "resume.h5"
    shutil.copy(rec.partial, work)
    counts = count_calls(binary, [*resume, "-o", work], tmp)
    assert run(binary, "diff", ref_path, work).returncode == 0
    assert counts["pwrite64"] > 20, counts

    def check(case):
        call, k = case
        where = f"resume: {fault} at {call} #{k}"
        w = tmp / f"resume-{call}-{k}.h5"
        shutil.copy(rec.partial, w)
        try:
            p = traced(binary, [*resume, "-o", w], inject=f"{call}:{fault}:when={k}")
            if fault.startswith("error="):
                enospc_line(p, w, where)
            check_opens(binary, w, where)
            status, _ = check_prefix(w, ref, where)
            if status != "completed":
                assert p.returncode != 0, where
                assert resume_to_end(binary, w, ref_path, where), f"{where}: second resume refused"
            else:
                assert run(binary, "diff", ref_path, w).returncode == 0, where
        finally:
            w.unlink(missing_ok=True)

    cases = [(call, k) for call in (CALLS if fault.startswith("signal=") else ["pwrite64"])
             for k in points(counts[call])]
    sweep(cases, check)
    return cases, counts


def test_kill_resume_at_every_write(sweep_run, eostrace_bin, tmp_path):
    cases, counts = resume_sweep(sweep_run, eostrace_bin, tmp_path, "signal=SIGKILL")
    print(f"resume killed at {len(cases)} points ({counts})")
    assert len(cases) > 10


def test_kill_resume_steps_change_at_every_write(reference, interrupted, eostrace_bin, tmp_path):
    """`record --resume --steps 30` of a 20-step run rewrites /run@config (by a copy renamed over the
    recording). Killed at each of the resume's first 12 pwrite64 calls (where the rewrite lies; every
    one with EOSTRACE_CRASH_FULL=1) and at every fsync, rename and unlink: h5py reads a JSON
    config saying 20 or 30 steps, `info`/`validate` open the file, its rows are the reference's, and
    a second resume with --steps 30 ends identical to an uninterrupted 30-step run."""
    import json
    run30 = list(RUN)
    run30[run30.index("--steps") + 1] = "30"
    ref30_path = tmp_path / "ref30.h5"
    assert run(eostrace_bin, *run30, "-o", ref30_path).returncode == 0
    _, ref30 = rows(ref30_path)
    work = tmp_path / "resume.h5"
    resume = ["record", "-o", work, "--resume", "--quiet", "--batch-steps", "4", "--steps", "30"]
    shutil.copy(interrupted, work)
    counts = count_calls(eostrace_bin, resume, tmp_path)
    assert run(eostrace_bin, "diff", ref30_path, work).returncode == 0
    seen = set()
    for call in ("pwrite64", "fsync", "rename", "unlink"):
        last = counts[call] if FULL or call != "pwrite64" else min(12, counts[call])
        for k in points(last):
            where = f"resume --steps 30 killed at {call} #{k}"
            shutil.copy(interrupted, work)
            p = traced(eostrace_bin, resume, inject=f"{call}:signal=SIGKILL:when={k}")
            with h5py.File(work, "r", libver="latest", swmr=True) as f:
                steps = json.loads(f["run"].attrs["config"])["steps"]
            assert steps in (20, 30), f"{where}: config steps {steps}"
            seen.add(steps)
            check_opens(eostrace_bin, work, where)
            status, _ = check_prefix(work, ref30, where)
            if status != "completed":
                assert p.returncode != 0, where
                r = run(eostrace_bin, *resume)
                assert r.returncode == 0, f"{where}: second resume: {r.stderr}"
            assert run(eostrace_bin, "diff", ref30_path, work).returncode == 0, where
    assert seen == {20, 30}, seen  # the kill points straddle the rewrite


def enospc_line(p, out: Path, where: str):
    assert p.returncode != 0, f"{where}: exit 0"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eostrace: ") and str(out.name) in lines[0], f"{where}: {p.stderr}"
    # libhdf5 1.10.8 used to crash here while the file was being created (a failed deferred write
    # of /data/X at its dataset's close; fixed in HDF5File: no sieve buffer for files written):
    # never again (test_crash_create.py sweeps every write of the creation).
    assert "failed fatally" not in lines[0], f"{where}: {lines[0]}"


def test_enospc_at_every_pwrite(sweep_run, eostrace_bin):
    tmp, ref_path, ref = sweep_run.reference

    def check(k):
        out = tmp / f"enospc-{k}.h5"
        where = f"ENOSPC at pwrite64 #{k}"
        try:
            p = traced(eostrace_bin, [*SWEEP_RUN, "-o", out], inject=f"pwrite64:error=ENOSPC:when={k}")
            enospc_line(p, out, where)
            assert not Path(str(out) + ".creating").exists(), f"{where}: .creating left behind"
            if out.exists():
                check_opens(eostrace_bin, out, where)
                # "completed" only when every step is there (check_prefix); the failure may be the
                # close's last superblock write, after the status was committed.
                check_prefix(out, ref, where)
        finally:
            out.unlink(missing_ok=True)

    ks = points(sweep_run.calls["pwrite64"])
    sweep(ks, check)
    print(f"ENOSPC at {len(ks)} pwrite64 points of record")


def test_enospc_at_every_resume_pwrite(sweep_run, eostrace_bin, tmp_path):
    """A full disk at any write of `record --resume`: one line, the file opens with its rows intact
    ("completed" only when complete), and a resume once there is room again ends identical."""
    cases, _ = resume_sweep(sweep_run, eostrace_bin, tmp_path, "error=ENOSPC")
    print(f"ENOSPC at {len(cases)} pwrite64 points of the resume")
    assert len(cases) > 20


# --- regressions: resume honesty, interrupts, exit codes, ulimit -f --------------------------------

def sha256(path: Path) -> str:
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def one_line(p) -> str:
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("eostrace: "), p.stderr
    return lines[0]


def stop_with(binary, out: Path, sig: str, k: int):
    """`record` sent `sig` by strace at its k-th pwrite64 (a real signal, handled by eostrace)."""
    return traced(binary, [*RUN, "-o", out], inject=f"pwrite64:signal={sig}:when={k}")


@pytest.mark.parametrize("sig,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupt_writes_checkpoint_and_resumes_bit_identically(reference, eostrace_bin, tmp_path, sig, code):
    _, ref_path, ref = reference
    out = tmp_path / "stopped.h5"
    p = stop_with(eostrace_bin, out, sig, 60)
    assert p.returncode == code, (p.returncode, p.stderr)
    line = one_line(p)
    status, nrows = check_prefix(out, ref, sig)
    last = nrows - 1
    assert status == "interrupted" and 0 < last < 20, (status, nrows)
    assert line == (f"eostrace: {out}: interrupted at step {last} ({sig}); "
                    f"continue with: eostrace record -o {out} --resume"), line
    with h5py.File(out, "r") as f:
        # θ at the interrupted step itself, not only the last regular checkpoint (every 5 steps).
        assert f["trajectory/checkpoint_step"][-1] == last
    with h5py.File(ref_path, "r") as f:
        theta_ref = f["trajectory/parameters"][:]
    p2 = run(eostrace_bin, "record", "-o", out, "--resume")
    assert p2.returncode == 0, p2.stderr
    assert f"resuming {out} from step {last}" in p2.stderr, p2.stderr
    assert run(eostrace_bin, "diff", ref_path, out).returncode == 0
    with h5py.File(out, "r") as f:
        assert f["trajectory/parameters"][:].tobytes() == theta_ref.tobytes()


@pytest.fixture(scope="module")
def stopped(reference, eostrace_bin, tmp_path_factory):
    """A cleanly interrupted recording (SIGINT) that h5py can also open read-write."""
    out = tmp_path_factory.mktemp("stopped") / "run.h5"
    p = stop_with(eostrace_bin, out, "SIGINT", 60)
    assert p.returncode == 130, p.stderr
    return out


@pytest.mark.parametrize("flags,named,stored", [
    (["--lr", "0.1"], "--lr 0.1", "learning_rate = 8.0"),
    (["--k", "4"], "--k 4", "k = 8"),
    (["--n", "30"], "--n 30", "data.n = 20"),
    (["--preset", "fmnist-tanh"], "--preset fmnist-tanh", "two_layer_linear"),
    (["--widths", "10"], "--widths 10", "two_layer_linear"),
    (["--checkpoint-every", "7"], "--checkpoint-every 7", "checkpoint_every = 5"),
    (["--compression", "3"], "--compression 3", "filters are fixed"),
])
def test_resume_refuses_contradicting_flags(stopped, eostrace_bin, tmp_path, flags, named, stored):
    work = tmp_path / "run.h5"
    shutil.copy(stopped, work)
    before = sha256(work)
    p = run(eostrace_bin, "record", "-o", work, "--resume", *flags)
    assert p.returncode == 1, (p.returncode, p.stderr)
    line = one_line(p)
    assert str(work) in line and named in line and stored in line and "drop" in line, line
    assert sha256(work) == before


def test_resume_refuses_other_config_file(stopped, eostrace_bin, tmp_path):
    import json
    work = tmp_path / "run.h5"
    shutil.copy(stopped, work)
    with h5py.File(work, "r") as f:
        cfg = json.loads(f["run"].attrs["config"])
    cfg["learning_rate"] = 4.0
    (tmp_path / "other.json").write_text(json.dumps(cfg))
    before = sha256(work)
    p = run(eostrace_bin, "record", "-o", work, "--resume", "--config", tmp_path / "other.json")
    assert p.returncode == 1
    assert "--config" in one_line(p) and sha256(work) == before
    # The same settings as the file are not a contradiction.
    cfg["learning_rate"] = 8.0
    (tmp_path / "same.json").write_text(json.dumps(cfg))
    assert run(eostrace_bin, "record", "-o", work, "--resume", "--quiet", "--config", tmp_path / "same.json").returncode == 0


def test_resume_applies_more_steps_explicitly(stopped, eostrace_bin, tmp_path):
    import json
    work = tmp_path / "run.h5"
    shutil.copy(stopped, work)
    ref24 = tmp_path / "ref24.h5"
    args24 = list(RUN)
    args24[args24.index("--steps") + 1] = "24"
    assert run(eostrace_bin, *args24, "-o", ref24).returncode == 0
    p = run(eostrace_bin, "record", "-o", work, "--resume", "--quiet", "--steps", "24")
    assert p.returncode == 0, p.stderr
    with h5py.File(work, "r") as f:
        assert json.loads(f["run"].attrs["config"])["steps"] == 24
        assert f["trajectory/step"][-1] == 24
    d = run(eostrace_bin, "diff", ref24, work)
    assert d.returncode == 0, d.stdout


@pytest.mark.parametrize("key,value,attr", [("k", 4, "k"), ("learning_rate", 0.5, "learning_rate")])
def test_resume_checks_config_against_attributes(stopped, eostrace_bin, tmp_path, key, value, attr):
    import json
    work = tmp_path / "run.h5"
    shutil.copy(stopped, work)
    with h5py.File(work, "r+") as f:
        cfg = json.loads(f["run"].attrs["config"])
        cfg[key] = value
        f["run"].attrs["config"] = json.dumps(cfg)
    before = sha256(work)
    p = run(eostrace_bin, "record", "-o", work, "--resume")
    assert p.returncode == 1, (p.returncode, p.stderr)  # no trap (SIGILL was -4)
    line = one_line(p)
    assert "/run@config" in line and f"/run@{attr}" in line, line
    assert sha256(work) == before


def test_ulimit_f_gives_one_line(eostrace_bin, tmp_path):
    out = tmp_path / "limited.h5"
    script = f"ulimit -f 1500; exec {eostrace_bin} " + " ".join(RUN) + f" -o {out}"
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, (p.returncode, p.stderr)  # not killed by SIGXFSZ (-25)
    line = one_line(p)
    assert str(out.name) in line and ("too large" in line.lower() or "File too large" in line), line
    # The file cannot grow past the limit, so libhdf5 1.10's end-of-file check refuses a plain
    # open; an SWMR reader (h5py) reads it, and its status is not "completed".
    status, _ = rows(out)
    assert status != "completed"


@pytest.mark.parametrize("blocks", [1700, 2200])
def test_ulimit_f_recording_opens_read_only(eostrace_bin, tmp_path, blocks):
    """After `ulimit -f` stopped `record`, the superblock's end of allocation lies beyond the end of
    the file (libhdf5 1.10.8 refuses a plain open: "truncated file"). `info` and `validate` read it
    anyway, from a private mapping padded to that length: status interrupted, the steps that
    reached the disk (as h5py reads them), and the file's bytes unchanged."""
    import struct
    out = tmp_path / "limited.h5"
    script = f"ulimit -f {blocks}; exec {eostrace_bin} " + " ".join(RUN) + f" -o {out}"
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, (p.returncode, p.stderr)
    data = out.read_bytes()
    assert data[8] == 3  # superblock version 3: base address at 12, end of allocation at 28
    base, eoa = struct.unpack("<Q", data[12:20])[0], struct.unpack("<Q", data[28:36])[0]
    assert base + eoa > len(data), (eoa, len(data))  # what libhdf5's end-of-file check refuses
    before = sha256(out)
    status, ref = rows(out)  # h5py (HDF5 2.0 does not make that check)
    assert status == "interrupted"
    n = ref["step"].shape[0]
    assert 0 < n < 21, n
    info = run(eostrace_bin, "info", out)
    assert info.returncode == 0, info.stderr
    lines = {l.split(":", 1)[0]: l.split(":", 1)[1].strip() for l in info.stdout.splitlines() if ":" in l}
    assert lines["status"] == "interrupted", info.stdout
    assert lines["steps"] == f"{n} (0 … {n - 1})", info.stdout
    v = run(eostrace_bin, "validate", out)
    assert v.returncode == 0 and v.stdout.strip() == f"{out}: ok", v.stdout + v.stderr
    # dump and diff open it the same way: dump prints the rows h5py reads, diff finds it identical to itself.
    d = run(eostrace_bin, "dump", out, "/trajectory/loss")
    assert d.returncode == 0, d.stderr
    np.testing.assert_array_equal(np.asarray(json.loads(d.stdout)["data"], dtype=float)[: len(ref["loss"])], ref["loss"])
    df = run(eostrace_bin, "diff", out, out)
    assert df.returncode == 0, df.stdout + df.stderr
    assert sha256(out) == before


# --- issue 12: the M-product chains continue exactly across a resume --------------------------------

CHAIN_RUN = ["record", "--preset", "fmnist-tanh", "--n", "60", "--widths", "16,16", "--lr", "0.12", "--steps", "150",
             "--checkpoint-every", "20", "--spectrum-every", "0", "--batch-steps", "8", "--pipeline", "off", "--quiet"]


@pytest.mark.parametrize("sig,k", [("SIGINT", 400), ("SIGKILL", 500)])
def test_resume_continues_product_chains_exactly(eostrace_bin, tmp_path, sig, k):
    ref_path = tmp_path / "ref.h5"
    assert run(eostrace_bin, *CHAIN_RUN, "-o", ref_path).returncode == 0
    with h5py.File(ref_path, "r") as f:
        t = f["trajectory"]
        lam, eta = t["sharpness"][:], f["run"].attrs["learning_rate"]
        rp, rs = t["r_prime"][:], t["r_prime_from_start"][:]
    above = lam > 2 / eta
    restarts = [i for i in range(len(lam)) if above[i] and (i == 0 or not above[i - 1])]
    assert len(restarts) >= 2, restarts
    out = tmp_path / "cut.h5"
    p = traced(eostrace_bin, [*CHAIN_RUN, "-o", out], inject=f"pwrite64:signal={sig}:when={k}")
    assert p.returncode != 0, p.stderr
    with h5py.File(out, "r", libver="latest", swmr=True) as f:
        cut_rows = f["trajectory/step"].shape[0]
        ck = f["trajectory/checkpoint_step"][:]
    # The cut is after the first restart, where the two chains already differ.
    assert restarts[0] < ck[-1] < 150 and cut_rows < 151, (restarts, ck, cut_rows)
    assert np.abs(rp[ck[-1]] - rs[ck[-1]]).max() > 0
    p2 = run(eostrace_bin, "record", "-o", out, "--resume", "--quiet")
    assert p2.returncode == 0, p2.stderr
    d = run(eostrace_bin, "diff", ref_path, out)
    assert d.returncode == 0, d.stdout + d.stderr

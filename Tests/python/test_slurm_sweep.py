"""A sweep on a real single-node Slurm cluster (Debian's slurm-wlm + munge, brought up by
scripts/slurm-up.sh unless .ci/run already did and says so in $EOSTRACE_SLURM_DIR): 6 runs of
the linear-synthetic preset (2 step sizes × 3 seeds) as a throttled job array; one task is
cancelled with scancel once `eostrace info` shows it has recorded steps; the array is submitted
again; then every run is completed, the runs completed before the re-submission are unchanged
(sha256), the merged file opens in xarray with every run's values, and a local sweep of the same
description gives identical files (`eostrace diff`). Slurm that cannot come up FAILS the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, run_eostrace
from sweep_support import check_merged, run_id, sha256_file

DESCRIPTION = {"preset": "linear-synthetic", "steps": 300, "k": 2, "spectrum_every": 100, "hessian_every": 0,
               "checkpoint_every": 50, "cross_check_every": 100, "data": {"n": 40},
               "sweep": {"learning_rate": [4, 8], "seed": [0, 1, 2]}}
# Run 0 (init_seed 0, η = 4) of DESCRIPTION has this id on every machine.
RUN0_ID = "fba88a4958d4"
OPTIONS = ["--batch-steps", "10"]  # a live run shows its steps every 10 steps


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    timings = {}
    t0 = time.monotonic()
    given = os.environ.get("EOSTRACE_SLURM_DIR")
    ours = None
    if not given:
        if shutil.which("sbatch") is None:
            pytest.fail("Slurm is not installed (sbatch missing): scripts/install-deps.sh installs slurm-wlm and munge")
        ours = tmp_path_factory.mktemp("slurm")
        p = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "slurm-up.sh"), str(ours)],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            subprocess.run(["bash", str(REPO_ROOT / "scripts" / "slurm-down.sh"), str(ours)], capture_output=True)
            pytest.fail(f"scripts/slurm-up.sh failed: {p.stdout}{p.stderr}")
    info = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if info.returncode != 0 or "idle" not in info.stdout and "mix" not in info.stdout:
        pytest.fail(f"Slurm does not answer: {info.stdout}{info.stderr}")
    timings["slurm_up_s"] = time.monotonic() - t0
    yield timings
    if ours is not None:
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "slurm-down.sh"), str(ours)], capture_output=True, timeout=60)


def job_tasks(job: str) -> dict[str, str]:
    p = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%i %T"], capture_output=True, text=True)
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def wait_for(job: str, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not job_tasks(job):
            return
        time.sleep(0.5)
    subprocess.run(["scancel", job])
    pytest.fail(f"Slurm job {job} did not finish in {timeout} s")


def submit(eostrace_bin, spec, folder) -> tuple[str, str]:
    p = run_eostrace(eostrace_bin, "sweep", spec, "-o", folder, "--slurm", "--submit", "--throttle", "2", *OPTIONS,
                     check=True)
    line = next(l for l in p.stdout.splitlines() if l.startswith("submitted job"))
    _, _, job, array = line.split()
    return job, array.removeprefix("--array=")


def test_slurm_sweep_cancel_resubmit_merge_and_local_identical(eostrace_bin, slurm, tmp_path):
    timings = slurm
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps(DESCRIPTION))
    folder = tmp_path / "slurm-sweep"
    t0 = time.monotonic()
    job, array = submit(eostrace_bin, spec, folder)
    assert array == "0-5%2"
    m = json.loads((folder / "sweep.json").read_text())
    assert len(m["runs"]) == 6 and m["runs"][0]["id"] == RUN0_ID
    assert all(run_id(r["config"]) == r["id"] for r in m["runs"])
    script = (folder / "sweep.sbatch").read_text()
    assert "#SBATCH --array=0-5%2" in script and 'sweep task' in script and "SLURM_ARRAY_TASK_ID" in script

    # Cancel the first running task whose file `eostrace info` shows with recorded steps.
    cancelled = None
    end = time.monotonic() + 180
    while cancelled is None and time.monotonic() < end:
        for task, state in job_tasks(job).items():
            if state != "RUNNING" or "_" not in task:
                continue
            index = int(task.split("_")[1])
            f = folder / m["runs"][index]["file"]
            if not f.exists():
                continue
            info = run_eostrace(eostrace_bin, "info", "--json", f)
            if info.returncode == 0 and 0 < json.loads(info.stdout)["steps"] < 250:
                subprocess.run(["scancel", task], check=True)
                cancelled = index
                break
        time.sleep(0.1)
    assert cancelled is not None, "no running task with recorded steps was seen"
    wait_for(job)
    timings["first_array_s"] = time.monotonic() - t0
    st = json.loads(run_eostrace(eostrace_bin, "sweep", "status", folder, "--json", check=True).stdout)
    by_index = {r["index"]: r for r in st["runs"]}
    assert by_index[cancelled]["status"] == "interrupted", st
    assert 0 < by_index[cancelled]["steps"] < 301
    assert st["completed"] == 5 and st["interrupted"] == 1, st
    log = next((folder / "logs").glob(f"task-{cancelled}.{job}.log")).read_text()
    assert "SIGTERM" in log and "interrupted at step" in log, log
    before = {i: sha256_file(folder / r["file"]) for i, r in enumerate(m["runs"]) if i != cancelled}

    # Re-submission: only the interrupted run is submitted, and it resumes.
    t1 = time.monotonic()
    job2, array2 = submit(eostrace_bin, spec, folder)
    assert array2 == f"{cancelled}%2"
    wait_for(job2)
    timings["resubmitted_array_s"] = time.monotonic() - t1
    st = json.loads(run_eostrace(eostrace_bin, "sweep", "status", folder, "--json", check=True).stdout)
    assert st["completed"] == 6 and all(r["steps"] == 301 for r in st["runs"]), st
    log2 = next((folder / "logs").glob(f"task-{cancelled}.{job2}.log")).read_text()
    assert "--resume" in log2 and "resuming" in log2, log2
    for i, digest in before.items():
        assert sha256_file(folder / m["runs"][i]["file"]) == digest, f"run {i} changed"
    # A third submission has nothing to do.
    again = run_eostrace(eostrace_bin, "sweep", spec, "-o", folder, "--slurm", "--submit", *OPTIONS, check=True)
    assert "nothing to submit" in again.stdout

    # The merged file, opened with xarray, holds every run's values.
    merged = folder / "sweep.h5"
    run_eostrace(eostrace_bin, "merge", folder, "-o", merged, check=True)
    out = check_merged(merged, folder, m)
    (tmp_path / "merged-repr.txt").write_text(out["repr"])

    # A local sweep of the same description: identical run files (volatile fields excepted).
    t2 = time.monotonic()
    local = tmp_path / "local-sweep"
    p = run_eostrace(eostrace_bin, "sweep", spec, "-o", local, "--local", "--jobs", "2", *OPTIONS, timeout=600)
    assert p.returncode == 0, p.stderr
    timings["local_sweep_s"] = time.monotonic() - t2
    for r in m["runs"]:
        d = run_eostrace(eostrace_bin, "diff", folder / r["file"], local / r["file"])
        assert d.returncode == 0, d.stdout + d.stderr
    print("timings", json.dumps({k: round(v, 1) for k, v in timings.items()}))
    print(out["repr"])

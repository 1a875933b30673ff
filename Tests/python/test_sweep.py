"""Sweeps on this machine: the expansion and run ids (checked against an independent Python
canonical JSON and a committed id), `sweep --local`, `sweep status`, `merge` into HDF5 virtual
datasets (xarray opens it; values equal the runs' files read with h5py; unequal lengths padded
with NaN; the folder can move), `record --sweep-lr` as a spelling of the same machinery, and
`compare` reading a sweep file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np

from conftest import run_eostrace
from sweep_support import canonical, check_merged, run_id, sha256_file

BASE = {"preset": "linear-synthetic", "k": 2, "spectrum_every": 10, "hessian_every": 0,
        "checkpoint_every": 10, "cross_check_every": 10, "data": {"n": 20}}

# A fixed configuration and the run id it must have on every machine (the linear-synthetic
# preset with n = 20, k = 2, 30 steps, η = 4, init_seed = 1). Changes only when the set of
# configuration keys (or a preset default) changes.
FIXED_ID = "28816bfe7e63"


def write_spec(path: Path, sweep: dict, **extra) -> Path:
    path.write_text(json.dumps({**BASE, **extra, "sweep": sweep}))
    return path


def test_expansion_order_ids_and_committed_id(eostrace_bin, tmp_path):
    spec = write_spec(tmp_path / "s.json", {"seed": [0, 1, 2], "learning_rate": [4, 8]}, steps=30)
    p = run_eostrace(eostrace_bin, "sweep", spec, "-o", tmp_path / "s", check=True)
    m = json.loads((tmp_path / "s" / "sweep.json").read_text())
    # Keys sorted by name (init_seed < learning_rate), last varying fastest.
    assert [a["key"] for a in m["axes"]] == ["init_seed", "learning_rate"]
    want = [(s, lr) for s in (0, 1, 2) for lr in (4, 8)]
    assert [(r["values"]["init_seed"], r["values"]["learning_rate"]) for r in m["runs"]] == want
    for r in m["runs"]:
        assert r["config"]["init_seed"] == r["values"]["init_seed"]
        assert r["config"]["learning_rate"] == r["values"]["learning_rate"]
        # The id is the sha256 of the canonical config, recomputed here independently.
        assert canonical(r["config"]) == r["identity"]
        assert run_id(r["config"]) == r["id"]
        assert r["file"] == r["id"] + ".h5"
        assert (tmp_path / "s" / "configs" / (r["id"] + ".json")).is_file()
    assert len({r["id"] for r in m["runs"]}) == 6
    fixed = next(r for r in m["runs"] if r["values"] == {"init_seed": 1, "learning_rate": 4})
    assert fixed["id"] == FIXED_ID, fixed["identity"]
    # The same runs from flags (and from YAML, in another folder, from another directory) get the same ids.
    q = run_eostrace(eostrace_bin, "sweep", "--preset", "linear-synthetic", "--vary", "learning_rate=4,8",
                     "--vary", "seed=0,1,2", "-o", tmp_path / "f", check=True)
    assert "6 runs" in q.stderr
    yaml = tmp_path / "sub" / "s.yaml"
    yaml.parent.mkdir()
    yaml.write_text("preset: linear-synthetic\nk: 2\nspectrum_every: 10\nhessian_every: 0\ncheckpoint_every: 10\n"
                    "cross_check_every: 10\nsteps: 30\ndata: {n: 20}\nsweep:\n  learning_rate: [4.0, 8.0]\n  seed: [0, 1, 2]\n")
    subprocess.run([str(eostrace_bin), "sweep", "s.yaml", "-o", str(tmp_path / "y")], cwd=yaml.parent, check=True,
                   capture_output=True)
    my = json.loads((tmp_path / "y" / "sweep.json").read_text())
    assert [r["id"] for r in my["runs"]] == [r["id"] for r in m["runs"]]
    assert p.stdout.count("\n") == 6


def test_bad_descriptions_are_one_line_errors(eostrace_bin, tmp_path):
    cases = {
        "typo": ({"sweep": {"learning_rat": [1, 2]}}, "learning_rat"),
        "empty": ({"sweep": {"learning_rate": []}}, "no values"),
        "twice": ({"sweep": {"learning_rate": [1, 1]}}, "appears twice"),
        "range": ({"sweep": {"learning_rate": [1, -1]}}, "learning_rate must be positive"),
        "type": ({"sweep": {"steps": ["ten"]}}, "steps"),
    }
    for name, (body, needle) in cases.items():
        spec = tmp_path / f"{name}.json"
        spec.write_text(json.dumps({"preset": "linear-synthetic", **body}))
        p = run_eostrace(eostrace_bin, "sweep", spec, "-o", tmp_path / name)
        assert p.returncode != 0, name
        assert needle in p.stderr and str(spec) in p.stderr, (name, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / name / "sweep.json").exists()
    (tmp_path / "notjson.json").write_text("{")
    p = run_eostrace(eostrace_bin, "sweep", tmp_path / "notjson.json", "-o", tmp_path / "nj")
    assert p.returncode != 0 and "notjson.json" in p.stderr


def test_local_sweep_status_merge_unequal_lengths_and_move(eostrace_bin, tmp_path):
    # Two lengths × two step sizes: runs of unequal length, padded with NaN in the merged file.
    spec = write_spec(tmp_path / "s.json", {"steps": [12, 25], "learning_rate": [4, 8]})
    folder = tmp_path / "sweep"
    p = run_eostrace(eostrace_bin, "sweep", spec, "-o", folder, "--local", "--jobs", "2", timeout=300)
    assert p.returncode == 0, p.stderr
    m = json.loads((folder / "sweep.json").read_text())
    assert all(" completed " in line for line in p.stdout.splitlines()[1:]), p.stdout
    st = json.loads(run_eostrace(eostrace_bin, "sweep", "status", folder, "--json", check=True).stdout)
    assert st["completed"] == 4 and st["missing"] == 0 and st["total"] == 4
    # learning_rate < steps: steps varies fastest.
    assert [r["steps"] for r in st["runs"]] == [13, 26, 13, 26]
    # A missing run and an interrupted one are counted as such.
    gone = folder / m["runs"][0]["file"]
    saved = gone.read_bytes()
    gone.unlink()
    with h5py.File(folder / m["runs"][1]["file"], "a") as f:
        f["run/status"][()] = b"interrupted"
    st = json.loads(run_eostrace(eostrace_bin, "sweep", "status", folder, "--json", check=True).stdout)
    assert (st["completed"], st["interrupted"], st["missing"]) == (2, 1, 1)
    text = run_eostrace(eostrace_bin, "sweep", "status", folder, check=True).stdout
    assert "4 runs: 2 completed, 0 running, 1 interrupted, 0 diverged, 1 missing" in text
    gone.write_bytes(saved)

    merged = folder / "sweep.h5"
    p = run_eostrace(eostrace_bin, "merge", folder, "-o", merged, check=True)
    assert "runs 4" in p.stdout
    out = check_merged(merged, folder, m)
    with h5py.File(merged, "r") as f:
        assert f["trajectory/loss"].is_virtual
        assert f.attrs["format"] == "eostrace-sweep"
        srcs = f["trajectory/loss"].virtual_sources()
        assert all(not s.file_name.startswith("/") for s in srcs), [s.file_name for s in srcs]
        assert list(f["trajectory/run_status"].asstr()[()]) == ["completed", "interrupted", "completed", "completed"]
    # Virtual datasets copy nothing: the merged file is far smaller than the runs.
    assert merged.stat().st_size < 0.2 * sum((folder / r["file"]).stat().st_size for r in m["runs"])
    # Move the whole folder: the relative sources still resolve (libhdf5 1.10.8 via `eostrace`'s
    # reader is not involved here; h5py's library resolves them against the merged file's folder).
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(str(folder), str(moved))
    again = check_merged(moved / "sweep.h5", moved, m)
    assert again["series"] == out["series"]
    # h5dump (Debian's libhdf5 1.10.8) reads the moved file's virtual data from another directory.
    d = subprocess.run(["h5dump", "-d", "/trajectory/loss", "-s", "1,0", "-c", "1,3", str(moved / "sweep.h5")],
                       capture_output=True, text=True, cwd="/")
    with h5py.File(moved / m["runs"][1]["file"], "r") as f:
        first = f["trajectory/loss"][0]
    assert d.returncode == 0 and f"{first:.6g}"[:6] in d.stdout.replace("\n", " "), d.stdout
    # compare reads the sweep file as its list of runs.
    c = run_eostrace(eostrace_bin, "compare", moved / "sweep.h5", "-o", tmp_path / "cmp.html", timeout=300)
    assert c.returncode == 0, c.stderr
    html = (tmp_path / "cmp.html").read_text()
    for r in m["runs"]:
        assert r["file"] in html or r["id"] in html
    # ... and so does report: a sweep file's report is the comparison page of its runs.
    rp = run_eostrace(eostrace_bin, "report", moved / "sweep.h5", "-o", tmp_path / "rep.html", timeout=300)
    assert rp.returncode == 0, rp.stderr
    assert f"a sweep of {len(m['runs'])} runs" in rp.stderr
    rep = (tmp_path / "rep.html").read_text()
    assert all(r["file"] in rep or r["id"] in rep for r in m["runs"])
    assert rp.stdout == c.stdout   # the same comparison table
    bad = run_eostrace(eostrace_bin, "report", moved / "sweep.h5", "--steps", "0:5", "-o", tmp_path / "r2.html")
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1 and "sweep file" in bad.stderr, bad.stderr
    assert not (tmp_path / "r2.html").exists()


def test_record_sweep_lr_is_the_same_machinery(eostrace_bin, tmp_path):
    out = tmp_path / "lr"
    p = run_eostrace(eostrace_bin, "record", "--preset", "linear-synthetic", "--n", "20", "--steps", "30", "--k", "2",
                     "--spectrum-every", "10", "--hessian-every", "0", "--checkpoint-every", "10",
                     "--cross-check-every", "10", "--seed", "1", "--sweep-lr", "4,8", "--jobs", "2",
                     "--output-dir", out, timeout=300)
    assert p.returncode == 0, p.stderr
    m = json.loads((out / "sweep.json").read_text())
    assert [r["file"] for r in m["runs"]] == ["lr-4.h5", "lr-8.h5"]
    # The same configuration as the committed one: the same run id, whichever spelling made it.
    assert m["runs"][0]["id"] == FIXED_ID
    assert run_id(m["runs"][1]["config"]) == m["runs"][1]["id"]
    st = json.loads(run_eostrace(eostrace_bin, "sweep", "status", out, "--json", check=True).stdout)
    assert st["completed"] == 2
    # A task of a completed run is a skip that leaves the file alone.
    before = sha256_file(out / "lr-4.h5")
    t = run_eostrace(eostrace_bin, "sweep", "task", out, "0", check=True)
    assert "skipped" in t.stderr and "status completed" in t.stdout
    assert sha256_file(out / "lr-4.h5") == before
    bad = run_eostrace(eostrace_bin, "sweep", "task", out, "7")
    assert bad.returncode == 1 and "no run 7" in bad.stderr


def test_fork_from_checkpoint_and_replayed_step(eostrace_bin, tmp_path):
    src = tmp_path / "src.h5"
    run_eostrace(eostrace_bin, "record", "--preset", "linear-synthetic", "--n", "20", "--k", "2", "--steps", "40",
                 "--spectrum-every", "0", "--hessian-every", "0", "--checkpoint-every", "10", "--cross-check-every", "10",
                 "-o", src, "--quiet", check=True, timeout=300)
    digest = sha256_file(src)
    with h5py.File(src, "r") as s:
        src_cfg = json.loads(s["run"].attrs["config"])
        src_loss = s["trajectory/loss"][()]
        src_res = s["trajectory/residual"][()]
        src_theta10 = s["trajectory/parameters"][1]
        assert s["trajectory/checkpoint_step"][1] == 10
    # Step 15 is no checkpoint: replayed from step 10 and checked against the recorded residual.
    # With the same η the fork continues the source exactly.
    f15 = tmp_path / "f15.h5"
    run_eostrace(eostrace_bin, "record", "--from", f"{src}@15", "--steps", "10", "-o", f15, "--quiet", check=True)
    with h5py.File(f15, "r") as f:
        cfg = json.loads(f["run"].attrs["config"])
        assert cfg["from"] == {"file": str(src), "file_sha256": digest, "run_id": run_id(src_cfg), "step": 15}
        np.testing.assert_array_equal(f["trajectory/loss"][()], src_loss[15:26])
        np.testing.assert_array_equal(f["trajectory/residual"][0], src_res[15])
    # A checkpoint step with a new η: θ(0) is the checkpoint, the run uses the new η.
    f10 = tmp_path / "f10.h5"
    run_eostrace(eostrace_bin, "record", "--from", f"{src}@10", "--lr", "2", "--steps", "5", "-o", f10, "--quiet", check=True)
    with h5py.File(f10, "r") as f:
        np.testing.assert_array_equal(f["trajectory/parameters"][0], src_theta10)
        assert f["run"].attrs["learning_rate"] == 2.0
        assert f["trajectory/loss"][1] != src_loss[11]
    # A sweep of forks: two step sizes from step 15; the manifest ids depend on the source's digest.
    spec = tmp_path / "forks.json"
    spec.write_text(json.dumps({"from": "src.h5@15", "steps": 5, "sweep": {"learning_rate": [2, 4]}}))
    folder = tmp_path / "forks"
    p = run_eostrace(eostrace_bin, "sweep", spec, "-o", folder, "--local", "--jobs", "2", timeout=300)
    assert p.returncode == 0, p.stderr
    m = json.loads((folder / "sweep.json").read_text())
    for r in m["runs"]:
        assert r["config"]["from"]["file_sha256"] == digest
        assert "file" not in json.loads(r["identity"])["from"]  # the id names the source by digest, not path
        assert run_id({**r["config"], "from": {k: v for k, v in r["config"]["from"].items() if k != "file"}}) == r["id"]
        with h5py.File(folder / r["file"], "r") as f:
            np.testing.assert_array_equal(f["trajectory/residual"][0], src_res[15])
    # A recorded step that is not recorded, a bad spelling, and a source whose residual disagrees
    # with its replay are one-line errors.
    for bad, needle in [(f"{src}@41", "step 41 is not recorded"), (str(src), "RECORDING@STEP")]:
        q = run_eostrace(eostrace_bin, "record", "--from", bad, "--steps", "3", "-o", tmp_path / "bad.h5")
        assert q.returncode != 0 and needle in q.stderr, q.stderr
    with h5py.File(src, "a") as s:
        s["trajectory/residual"][15, 0] += 1e-3
    q = run_eostrace(eostrace_bin, "record", "--from", f"{src}@15", "--steps", "3", "-o", tmp_path / "bad.h5")
    assert q.returncode != 0 and "drifts from the recorded residual" in q.stderr, q.stderr
    # The described forks refuse a source that changed since (digest).
    t = run_eostrace(eostrace_bin, "sweep", "task", folder, "0", "--force")
    assert t.returncode != 0 and "changed since the fork was described" in t.stderr, t.stderr


def test_merge_and_status_on_bad_folders(eostrace_bin, tmp_path):
    for cmd in (["merge", tmp_path / "nowhere", "-o", tmp_path / "m.h5"], ["sweep", "status", tmp_path / "nowhere"]):
        p = run_eostrace(eostrace_bin, *cmd)
        assert p.returncode != 0 and "nowhere" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "sweep.json").write_text('{"format": "something-else"}')
    p = run_eostrace(eostrace_bin, "merge", tmp_path / "bad", "-o", tmp_path / "m.h5")
    assert p.returncode != 0 and "sweep.json" in p.stderr, p.stderr
    # A run file that is not a recording is "unreadable": merged as NaN, counted by status.
    spec = write_spec(tmp_path / "s.json", {"learning_rate": [4, 8]}, steps=5)
    folder = tmp_path / "s"
    run_eostrace(eostrace_bin, "sweep", spec, "-o", folder, "--local", check=True, timeout=300)
    m = json.loads((folder / "sweep.json").read_text())
    (folder / m["runs"][1]["file"]).write_bytes(b"not hdf5")
    st = json.loads(run_eostrace(eostrace_bin, "sweep", "status", folder, "--json", check=True).stdout)
    assert (st["completed"], st["unreadable"]) == (1, 1)
    run_eostrace(eostrace_bin, "merge", folder, "-o", folder / "m.h5", check=True)
    with h5py.File(folder / "m.h5", "r") as f, h5py.File(folder / m["runs"][0]["file"], "r") as r0:
        loss = f["trajectory/loss"][()]
        np.testing.assert_array_equal(loss[0], r0["trajectory/loss"][()])
        assert np.isnan(loss[1]).all()
        assert list(f["trajectory/run_status"].asstr()[()]) == ["completed", "unreadable"]
    # The next local sweep records the unreadable run anew and leaves the completed one alone.
    before = sha256_file(folder / m["runs"][0]["file"])
    run_eostrace(eostrace_bin, "sweep", spec, "-o", folder, "--local", check=True, timeout=300)
    st = json.loads(run_eostrace(eostrace_bin, "sweep", "status", folder, "--json", check=True).stdout)
    assert st["completed"] == 2
    assert sha256_file(folder / m["runs"][0]["file"]) == before

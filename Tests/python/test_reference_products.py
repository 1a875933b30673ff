"""`eostrace analyze` with the recorded M-products (format 1.1), replay as a verification, and the
convention check (issue 12), against numpy and h5py-made files.

- The numpy reference (Tests/reference/eos_reference.py) agrees with the products-based analysis:
  products written by Tests/reference/add_products.py from the numpy replay's M(t) into a copy of
  a sample; the reference iterates R′ and the first-order error with the same M(t); Swift reads
  only the file (no replay): per step 1e-10 relative, 1e-12 absolute where the value is 0.
- A recording made by `eostrace record` (products written by the recorder) whose checkpoints are
  perturbed by 1e-15 relative (h5py) still gives the same results from its products, exactly,
  while `--verify-replay` reports the drift per checkpoint interval and labels the drifted rows.
- A 1.0 file without products (samples/fmnist-tanh-small.h5, recorded on another CPU, drift 0.14
  here) analyzes by replay with every drifted row labelled not exact and left out of the verdicts.
- The convention check names /run@gram_definition or /run@loss_convention for an M scaled by ½ and
  /run@learning_rate for η off by 10× (analyze: a warning line; validate: exit 1), accepts the
  half-loss convention in its own units, and is silent on every sample, a short default-preset
  run and the hovering run.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "reference"))

import add_products as ap  # noqa: E402
import eos_reference as ref  # noqa: E402
from conftest import run_eostrace  # noqa: E402

SAMPLES = ["fmnist-tanh-small", "fmnist-tanh-hover-small", "linear-synthetic-small", "synthetic-small"]
M_COLUMNS = ["r_prime_error", "r_prime_rel_error", "r_prime_error_from_start", "r_prime_rel_error_from_start",
             "first_order_error"]


def _csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) if r[k] != "" else math.nan for r in rows]) for k in rows[0]}


def _analyze(binary, path, tmp, *extra, name=None):
    out = tmp / ((name or Path(path).stem) + "_".join(str(e).strip("-") for e in extra) + ".csv")
    proc = run_eostrace(binary, "analyze", path, "--quiet", "--json", "--csv", out, *extra, check=True, timeout=600)
    return _csv(out), json.loads(proc.stdout), proc.stderr


def _close(a, b, what, rel=1e-10, abs_=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, what
    nan = np.isnan(a) | np.isnan(b)
    assert (np.isnan(a) == np.isnan(b)).all(), f"{what}: NaN pattern differs"
    bad = ~nan & (np.abs(a - b) > np.maximum(abs_, rel * np.abs(b)))
    assert not bad.any(), f"{what}: rows {np.nonzero(bad)[0][:10]}: {a[bad][:5]} vs {b[bad][:5]}"


def _sources(js):
    return {r["result"]: r for r in js["gram"]["results"]}


# ---------------------------------------------------------------- numpy reference vs products

@pytest.fixture(scope="module")
def numpy_products(tmp_path_factory):
    """fmnist-tanh-small with products from the numpy replay's M(t), and those M(t)."""
    src = REPO / "samples" / "fmnist-tanh-small.h5"
    rec = ref.load(src)
    replay = ref.ReplayGram(rec)
    Ms = [replay(i) for i in range(rec.T)]
    g, rp, rs = ap.products(rec, lambda i: Ms[i])
    dst = tmp_path_factory.mktemp("products") / "tanh-products.h5"
    ap.write_products(src, dst, g, rp, rs)
    return rec, Ms, dst


def test_numpy_reference_agrees_with_products_analysis(numpy_products, eostrace_bin, tmp_path):
    rec, Ms, path = numpy_products
    sw, js, _ = _analyze(eostrace_bin, path, tmp_path)
    assert js["gram"]["source"] == "recorded_products" and js["gram"].get("replay") is None
    assert all(r["source"] == "recorded_products" and r["exact"] for r in js["gram"]["results"])
    assert js["gram"]["approximate"] is False
    cons = ref.consecutive_pairs(rec.steps)
    c1, R, rnorm, _ = ref.decompose(rec.D, rec.v1)
    restarts = [r[0] for r in ref.find_runs(rec.lam, 2 / rec.eta)]
    e_s, e_p = ref.r_prime_errors(R, rec.v1, rec.eta, cons, lambda i: Ms[i], restarts=restarts)
    first = np.full(rec.T, np.nan)
    for i in np.nonzero(cons)[0]:
        step = rec.D[i + 1] - rec.D[i]
        first[i] = np.linalg.norm(step + rec.eta * (Ms[i] @ rec.D[i])) / np.linalg.norm(step)
    _close(sw["r_prime_error"], e_p, "r_prime_error")
    _close(sw["r_prime_error_from_start"], e_s, "r_prime_error_from_start")
    _close(sw["r_prime_rel_error"], e_p / rnorm, "r_prime_rel_error")
    _close(sw["first_order_error"], first, "first_order_error")
    assert (sw["first_order_exact"][:-1] == 1).all() and (sw["r_prime_exact"] == 1).all()
    # At the restarts R′ = R: the error is 0 to round-off.
    assert np.all(np.abs(sw["r_prime_error"][restarts]) <= 1e-12)


# ---------------------------------------------------------------- recorder products, perturbed checkpoints

@pytest.fixture(scope="module")
def hover_run(tmp_path_factory, eostrace_bin):
    d = tmp_path_factory.mktemp("hover")
    path = d / "hover.h5"
    run_eostrace(eostrace_bin, "record", "--preset", "fmnist-tanh-hover", "--steps", 600, "--checkpoint-every", 200,
                 "-o", path, "--quiet", check=True, timeout=900)
    pert = d / "hover-perturbed.h5"
    shutil.copyfile(path, pert)
    with h5py.File(pert, "r+") as f:
        ap.perturb(f, 1e-15)
    return path, pert


def test_perturbed_checkpoints_products_stay_exact_verify_reports(hover_run, eostrace_bin, tmp_path):
    path, pert = hover_run
    a, ja, _ = _analyze(eostrace_bin, path, tmp_path, name="clean")
    b, jb, _ = _analyze(eostrace_bin, pert, tmp_path, name="pert")
    for c in M_COLUMNS:     # the products do not depend on the checkpoints: the same bits
        assert np.array_equal(a[c], b[c], equal_nan=True), c
    assert ja["story"] == jb["story"]
    assert jb["gram"]["source"] == "recorded_products" and jb["gram"].get("replay") is None
    v, jv, _ = _analyze(eostrace_bin, pert, tmp_path, "--verify-replay")
    for c in M_COLUMNS:
        assert np.array_equal(v[c], a[c], equal_nan=True), c
    ver = jv["gram"]["verification"]
    drift = v["replay_drift"]
    beyond = np.isfinite(drift) & (drift > 1e-9)
    assert ver["rows_beyond_tolerance"] == int(beyond.sum()) > 0
    assert ver["first_step_beyond_tolerance"] == int(v["step"][np.argmax(beyond)])
    assert [iv["from_step"] for iv in ver["intervals"]] == [0, 200, 400]
    assert sum(iv["rows_beyond_tolerance"] for iv in ver["intervals"]) == ver["rows_beyond_tolerance"]
    assert ver["max_gram_residual_difference"] > 1e-9
    assert all(r["source"] == "recorded_products" and r["exact"] for r in jv["gram"]["results"])
    # The clean file replays within tolerance and its replayed products match the recorded ones.
    _, jc, _ = _analyze(eostrace_bin, path, tmp_path, "--verify-replay", name="clean")
    vc = jc["gram"]["verification"]
    assert vc["rows_beyond_tolerance"] == 0 and vc["max_gram_residual_difference"] < 1e-10
    # Replay alone (--gram replay) on the perturbed file: the drifted rows are labelled, not exact.
    r, jr, _ = _analyze(eostrace_bin, pert, tmp_path, "--gram", "replay", name="pert")
    fo = _sources(jr)["first_order_residual"]
    assert fo["source"] == "replay_beyond_tolerance" and not fo["exact"]
    pairs = np.isfinite(r["first_order_error"])
    assert np.array_equal(r["first_order_exact"][pairs] == 0, beyond[pairs])
    assert jr["gram"]["approximate"] is True
    # Where the replay reproduces D to round-off it reproduces the products' numbers. (Within the
    # 1e-9 tolerance but above round-off it need not to 1e-10: the first-order error is a small
    # difference of large terms, ~1e-4 here, so it carries the drift amplified ~1e4.)
    ok = pairs & (drift <= 1e-13)
    assert ok.sum() >= 300
    _close(r["first_order_error"][ok], a["first_order_error"][ok], "first_order_error (replay at round-off)")


# ---------------------------------------------------------------- 1.0 file without products

def test_format_10_file_replays_with_drifted_rows_labelled(eostrace_bin, tmp_path):
    # A file without products whose checkpoints another machine would replay differently: the
    # sample without any M-products (in case it is regenerated as 1.1) and its checkpoints ×(1 ± 1e-15).
    path = tmp_path / "no-products.h5"
    shutil.copyfile(REPO / "samples" / "fmnist-tanh-small.h5", path)
    with h5py.File(path, "r+") as f:
        for name in ("gram_residual", "r_prime", "r_prime_from_start"):
            if name in f["trajectory"]:
                del f["trajectory"][name]
        ap.perturb(f, 1e-15)
    sw, js, _ = _analyze(eostrace_bin, path, tmp_path)
    src = _sources(js)
    assert src["first_order_residual"]["source"] == "replay_beyond_tolerance"
    assert js["gram"]["approximate"] is True and js["gram"]["replay"]["within_tolerance"] is False
    drift = sw["replay_drift"]
    pairs = np.isfinite(sw["first_order_error"])
    beyond = pairs & ~(drift <= 1e-9)
    assert beyond.any()
    assert np.array_equal(sw["first_order_exact"][pairs] == 1, ~beyond[pairs])
    assert src["first_order_residual"]["exact_rows"] == int((pairs & ~beyond).sum())
    ver = js["gram"]["verification"]
    assert ver["rows_beyond_tolerance"] == int(beyond.sum())
    item = next(s for s in js["story"] if s["claim"].startswith("D follows"))
    exact_rows = pairs & ~beyond
    assert f"exact M only: {int(exact_rows.sum())} of {int(pairs.sum())}" in item["basis"]
    assert item["value"] == pytest.approx(float(np.median(sw["first_order_error"][exact_rows])), rel=1e-15)
    # The from-start R′ chain carries the drift to the end: no exact row after the first drifted M.
    first_bad = int(np.argmax(beyond))
    assert (sw["r_prime_from_start_exact"][first_bad + 1:] == 0).all()
    assert (sw["r_prime_from_start_exact"][:first_bad + 1] == 1).all()
    assert json.loads(json.dumps(js["gram"]["results"]))  # labelled per result


# ---------------------------------------------------------------- conventions

@pytest.fixture(scope="module")
def wrong_files(numpy_products, tmp_path_factory):
    rec, Ms, _ = numpy_products
    g, rp, rs = ap.products(rec, lambda i: Ms[i])
    d = tmp_path_factory.mktemp("conventions")
    src = REPO / "samples" / "fmnist-tanh-small.h5"
    files = {
        "half_m": (dict(scale_gram=0.5), "/run@gram_definition or /run@loss_convention"),
        "eta_x10": (dict(scale_eta=10.0), "/run@learning_rate: likely 10× too large"),
        "eta_x01": (dict(scale_eta=0.1), "/run@learning_rate: likely 10× too small"),
    }
    out = {}
    for name, (kw, expect) in files.items():
        p = d / f"{name}.h5"
        ap.write_products(src, p, g, rp, rs, **kw)
        out[name] = (p, expect)
    # The half-loss convention (Cohen et al.) describing the same GD: L/2, M/2, η·2.
    half = d / "half_convention.h5"
    ap.write_products(src, half, g, rp, rs, scale_gram=0.5, scale_eta=2.0, loss_convention="half_mean_squared_error")
    with h5py.File(half, "r+") as f:
        f["trajectory"]["loss"][...] = f["trajectory"]["loss"][...] / 2
        f["run"].attrs["gram_definition"] = "M = (1/n) J J^T"
    out["half"] = (half, None)
    return out


@pytest.mark.parametrize("name", ["half_m", "eta_x10", "eta_x01"])
def test_convention_check_names_the_wrong_attribute(wrong_files, name, eostrace_bin, tmp_path):
    path, expect = wrong_files[name]
    _, js, err = _analyze(eostrace_bin, path, tmp_path)
    warnings = [l for l in err.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1 and expect in warnings[0], err
    assert js["conventions"]["warning"] in warnings[0]
    proc = run_eostrace(eostrace_bin, "validate", path)
    assert proc.returncode == 1 and expect in proc.stdout + proc.stderr


def test_convention_check_accepts_the_half_convention(wrong_files, eostrace_bin, tmp_path):
    path, _ = wrong_files["half"]
    _, js, err = _analyze(eostrace_bin, path, tmp_path)
    assert "warning:" not in err, err
    c = js["conventions"]
    assert c["convention"] == "half" and c.get("warning") is None
    assert c["residual_factor"] == pytest.approx(1, abs=0.05) and c["loss_factor"] == pytest.approx(1, rel=1e-12)
    # Without the attribute the same file is inconsistent, and the check says so.
    bad = tmp_path / "unstated.h5"
    shutil.copyfile(path, bad)
    with h5py.File(bad, "r+") as f:
        del f["run"].attrs["loss_convention"]
    _, jb, err = _analyze(eostrace_bin, bad, tmp_path)
    assert "/run@loss_convention" in jb["conventions"]["warning"] and "'half'" in jb["conventions"]["warning"]


@pytest.fixture(scope="module")
def default_short(tmp_path_factory, eostrace_bin):
    path = tmp_path_factory.mktemp("default") / "default.h5"
    run_eostrace(eostrace_bin, "record", "--steps", 30, "-o", path, "--quiet", check=True, timeout=900)
    return path


def test_convention_check_silent_on_samples_and_runs(hover_run, default_short, eostrace_bin, tmp_path):
    paths = [REPO / "samples" / f"{s}.h5" for s in SAMPLES] + [hover_run[0], default_short]
    for path in paths:
        _, js, err = _analyze(eostrace_bin, path, tmp_path, name=Path(path).stem)
        assert "warning:" not in err, (path, err)
        assert js["conventions"].get("warning") is None, path
        proc = run_eostrace(eostrace_bin, "validate", path)
        assert proc.returncode == 0, (path, proc.stdout, proc.stderr)
    # The recorder's own runs: products exact, residual factor 1.
    _, js, _ = _analyze(eostrace_bin, default_short, tmp_path, name="default-again")
    assert js["gram"]["source"] == "recorded_products"
    assert js["conventions"]["residual_factor"] == pytest.approx(1, abs=0.02)


def test_bad_products_get_one_line_errors(numpy_products, eostrace_bin, tmp_path):
    _, _, path = numpy_products
    cases = {
        "shape": ("gram_residual", lambda a: a[:, :-1], "/trajectory/gram_residual: expected shape [step, 100]"),
        "nan": ("r_prime", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 503, np.nan, a),
                "/trajectory/r_prime: non-finite value nan at row 5"),
    }
    for name, (ds, change, expect) in cases.items():
        bad = tmp_path / f"{name}.h5"
        shutil.copyfile(path, bad)
        with h5py.File(bad, "r+") as f:
            a = change(f["trajectory"][ds][...])
            del f["trajectory"][ds]
            f["trajectory"].create_dataset(ds, data=a)
        proc = run_eostrace(eostrace_bin, "analyze", bad, "--quiet")
        assert proc.returncode != 0 and proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(bad) in lines[0] and expect in lines[0], proc.stderr


def test_numpy_reads_the_recorders_products_like_swift(hover_run, eostrace_bin, tmp_path):
    """On the recorder's own products: numpy from the file alone equals Swift per step, and the
    recorded chains obey R′(t+1) = (I − ηM(I − v1v1ᵀ))R′(t) and gram_residual = M D with the
    numpy replay's M where that replay is at round-off (the first checkpoint interval)."""
    path, _ = hover_run
    sw, js, _ = _analyze(eostrace_bin, path, tmp_path, name="numpy-reads")
    rec = ref.load(path)
    p = ref.products_analysis(path, rec)
    for c in M_COLUMNS:
        _close(sw[c], p[c], c, rel=1e-12, abs_=1e-14)
    replay = ref.ReplayGram(rec)
    v1 = rec.v1
    checked = 0
    for i in range(0, 150):
        M = replay(i)
        if replay.drift[i] > 1e-12:
            break
        _close(p["gram_residual"][i], M @ rec.D[i], f"gram_residual row {i}", rel=1e-9, abs_=1e-12 * np.abs(M @ rec.D[i]).max())
        for name in ("r_prime", "r_prime_from_start"):
            x = p[name][i]
            nxt = x - rec.eta * (M @ (x - v1[i] * (v1[i] @ x)))
            restart = rec.lam[i + 1] > 2 / rec.eta and rec.lam[i] <= 2 / rec.eta and name == "r_prime"
            if not restart:
                _close(p[name][i + 1], nxt, f"{name} row {i + 1}", rel=1e-9, abs_=1e-12 * np.abs(nxt).max())
        checked += 1
    assert checked >= 100


def test_recorded_solver_cost_is_summarized(default_short, eostrace_bin, tmp_path):
    _, js, _ = _analyze(eostrace_bin, default_short, tmp_path, name="cost")
    with h5py.File(default_short, "r") as f:
        mv = f["trajectory"]["eigensolver_matvecs"][...].astype(float)
        it = f["trajectory"]["eigensolver_iterations"][...].astype(float)
        sec = f["trajectory"]["step_seconds"][...]
    c = js["solver_cost"]
    assert c["rows"] == len(mv) and c["matvecs_total"] == float(mv.sum())
    assert c["iterations"]["median"] == float(np.median(it)) and c["iterations"]["max"] == float(it.max())
    assert c["seconds_total"] == pytest.approx(float(sec.sum()), rel=1e-12)

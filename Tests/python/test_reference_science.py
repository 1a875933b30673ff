"""`eostrace analyze`'s phase options, cycle count, phase-II growth law, Assumption 3.6 readings,
regimes and R′ verdict basis against the independent numpy reference
`Tests/reference/eos_science_reference.py` (issue 15), on every sample recording and several
option sets:

- per-step phases and the cycles (start, peak, end, end of IV, why IV ended): exactly equal;
- the cycle count (cycles, complete, one-step excursions; the largest one-step margin to 1e-15);
- Lemma 3.2's predicted phase-II length τ and the measured p − a: equal; the growth of |c1| over
  the pairs above the eigenvector floor and the mean |1 − ηΛ| on them: 1e-9 relative;
- Lemma 3.2's ratio check on the pairs above the same floor (with the default --c1-floor and with
  one that leaves pairs out): pairs left out and growth counts equal, median |1 − ηΛ| 1e-14 and
  median log(measured/predicted) 1e-12 relative;
- Assumption 3.6, c with ε2 the max over the phase-II pairs and with ε2 at the start: 1e-6
  relative (ε2 = 1 − |⟨v1, v1'⟩| is a difference of numbers near 1);
- co-movement by regime (hover, catapult, other): equal counts;
- the R′ story value: the larger of the median restarted error on phases I, III, IV and the
  median error from the start, from the CSV columns: equal;
- `compare`, `report` and `follow` show the same cycle count as `analyze`; on the hovering sample
  the phase options give the count a reader makes by eye (samples/README.md).
"""
from __future__ import annotations

import json
import re
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "reference"))

import eos_reference as ref  # noqa: E402
import eos_science_reference as sci  # noqa: E402
from conftest import run_eostrace  # noqa: E402
from test_reference_analysis import _read_csv  # noqa: E402

SAMPLES = sorted(p.stem for p in (REPO / "samples").glob("*.h5"))
OPTION_SETS = {
    "default": ([], dict()),
    "min2-merge3": (["--min-excursion-steps", "2", "--merge-gap", "3"], dict(min_steps=2, merge_gap=3)),
    "margin5pct": (["--min-excursion-margin", "0.05"], dict(min_margin=0.05)),
}


@pytest.fixture(scope="module", params=SAMPLES)
def sample(request):
    return REPO / "samples" / f"{request.param}.h5"


@pytest.fixture(scope="module", params=sorted(OPTION_SETS))
def analysed(sample, request, eostrace_bin, tmp_path_factory):
    flags, kw = OPTION_SETS[request.param]
    csv_path = tmp_path_factory.mktemp("sci") / f"{sample.stem}-{request.param}.csv"
    proc = run_eostrace(eostrace_bin, "analyze", sample, "--quiet", "--gram", "topk", "--json", "--csv", csv_path,
                        *flags, check=True)
    rec = ref.load(sample)
    phase, cycles = sci.segment_with_options(rec.lam, rec.loss, rec.eta, rec.dtf, **kw)
    return rec, json.loads(proc.stdout), _read_csv(csv_path), phase, cycles, kw


def _eps2(rec, cons):
    v = rec.v1
    e = np.full(rec.T, np.nan)
    dots = np.abs(np.einsum("ij,ij->i", v[:-1], v[1:]))
    e[:-1] = np.where(cons[:-1], 1 - dots, np.nan)
    return e


def test_phases_cycles_and_count(analysed):
    rec, js, sw, phase, cycles, kw = analysed
    np.testing.assert_array_equal(sw["phase"].astype(int), phase)
    ph = js["phases"]
    assert [(c["start_row"], c["peak_row"], c["end_row"], c.get("iv_end_row"), c["iv_end_reason"]) for c in ph["cycles"]] \
        == [(c.start, c.peak, c.end, c.iv_end, c.reason) for c in cycles]
    n, complete, one, margin = sci.cycle_count(rec.lam, rec.eta, cycles)
    assert (ph["cycle_count"], ph["complete_cycles"], ph["one_step_cycles"]) == (n, complete, one)
    if math.isnan(margin):
        assert ph["one_step_max_margin"] is None  # --json writes NaN as null
    else:
        assert abs(ph["one_step_max_margin"] - margin) <= 1e-15
    assert js["options"]["excursions"] == {"min_steps": kw.get("min_steps", 1), "min_margin": kw.get("min_margin", 0),
                                           "merge_gap": kw.get("merge_gap", 0)}


def test_phase2_growth_law_and_assumption36(analysed):
    rec, js, sw, phase, cycles, _ = analysed
    cons = ref.consecutive_pairs(rec.steps)
    c1 = sw["c1"]
    dnorm = np.linalg.norm(rec.D, axis=1)
    want = sci.phase2_lengths(rec.lam, rec.eta, c1, dnorm, rec.ev, cons, cycles)
    got = js["checks"]["phase2_lengths"]
    assert [(g["predicted_steps"] if "predicted_steps" in g else None, g["measured_steps"], g["start_below_floor"],
             g["pairs_above_floor"]) for g in got] == [(w["predicted"], w["measured"], w["below"], w["pairs"]) for w in want]
    for g, w in zip(got, want):
        for key, wk in (("measured_growth", "measured_growth"), ("predicted_growth", "predicted_growth")):
            if math.isnan(w[wk]):
                assert g[key] is None
            else:
                assert abs(g[key] - w[wk]) <= 1e-9 * abs(w[wk])
    eps2 = _eps2(rec, cons)
    for g, (c_max, c_start) in zip(js["checks"]["assumption36"], sci.assumption36(c1, dnorm, eps2, cons, cycles)):
        for key, w in (("c", c_max), ("c_at_start", c_start)):
            if g[key] is None or not math.isfinite(w):
                assert g[key] is None and not math.isfinite(w)
            else:
                assert abs(g[key] - w) <= 1e-6 * abs(w)


@pytest.mark.parametrize("c1_floor", [None, 1e-4])
def test_lemma32_ratio_check_uses_the_accuracy_floor(sample, c1_floor, eostrace_bin, tmp_path):
    flags = [] if c1_floor is None else ["--c1-floor", str(c1_floor)]
    csv_path = tmp_path / "steps.csv"
    js = json.loads(run_eostrace(eostrace_bin, "analyze", sample, "--quiet", "--gram", "topk", "--json",
                                 "--csv", csv_path, *flags, check=True).stdout)
    rec = ref.load(sample)
    cons = ref.consecutive_pairs(rec.steps)
    phase, _ = sci.segment_with_options(rec.lam, rec.loss, rec.eta, rec.dtf)
    # c1 as the analysis computed it (test_reference_analysis checks it against numpy's DᵀV1):
    # the median log ratio of a pair whose |c1| is near a sign change is sensitive to its last bits.
    c1 = _read_csv(csv_path)["c1"]
    np.testing.assert_allclose(c1, np.einsum("ij,ij->i", rec.D, rec.v1), rtol=0, atol=1e-14 * np.abs(rec.D).max())
    dnorm = np.linalg.norm(rec.D, axis=1)
    tol = sci.eigen_tolerance(sample)
    want = sci.lemma32(rec.lam, rec.eta, c1, dnorm, rec.ev, cons, phase, c1_floor=c1_floor or 1e-10, tol=tol)
    got = js["checks"]["lemma32"]
    assert (got["excluded_below_floor"], got["growth"]["hits"], got["growth"]["total"]) == \
        (want["excluded"], want["hits"], want["total"])
    for key, wk, rel, abs_ in (("predicted_ratio", "predicted_median", 1e-14, 0), ("log_ratio_error", "log_error_median", 1e-12, 1e-15)):
        if math.isnan(want[wk]):
            assert got[key]["median"] is None
        else:
            assert got[key]["median"] == pytest.approx(want[wk], rel=rel, abs=abs_)
    # The growth law's floor is the same function: its start floor equals the reference's.
    share = sci.c1_floor_share(rec.ev, c1_floor or 1e-10, tol)
    for item, cyc in zip(js["checks"]["phase2_lengths"], sci.segment_with_options(rec.lam, rec.loss, rec.eta)[1]):
        assert item["floor_share"] == pytest.approx(share[cyc.start], rel=1e-14)
    if c1_floor is not None and want["total"] + want["excluded"] > 0 and sample.stem == "fmnist-tanh-small":
        assert want["excluded"] > 0  # the raised floor does leave pairs out here (|c1|/‖D‖ = 4.6e-5 at a start)


def test_accuracy_floor_follows_the_recordings_eigen_tolerance(eostrace_bin, tmp_path):
    # A copy of a sample whose /run@config says the eigensolver stopped at 1e-6 (not 1e-10): the
    # floor is 1e4 times higher, and the Lemma 3.2 check leaves out the pairs below it.
    import h5py
    import shutil
    path = tmp_path / "tol.h5"
    shutil.copy(REPO / "samples" / "fmnist-tanh-small.h5", path)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f["run"].attrs["config"])
        assert cfg["eigen_tolerance"] == 1e-10
        cfg["eigen_tolerance"] = 1e-6
        f["run"].attrs["config"] = json.dumps(cfg)
    assert sci.eigen_tolerance(path) == 1e-6
    js = json.loads(run_eostrace(eostrace_bin, "analyze", path, "--quiet", "--gram", "topk", "--json", check=True).stdout)
    rec = ref.load(path)
    share = sci.c1_floor_share(rec.ev, 1e-10, 1e-6)
    phase, cycles = sci.segment_with_options(rec.lam, rec.loss, rec.eta, rec.dtf)
    items = js["checks"]["phase2_lengths"]
    assert [i["floor_share"] for i in items] == pytest.approx([share[c.start] for c in cycles], rel=1e-14)
    assert all(i["floor_share"] > 1e-6 for i in items)
    c1 = np.einsum("ij,ij->i", rec.D, rec.v1)
    want = sci.lemma32(rec.lam, rec.eta, c1, np.linalg.norm(rec.D, axis=1), rec.ev, ref.consecutive_pairs(rec.steps),
                       phase, tol=1e-6)
    got = js["checks"]["lemma32"]
    assert (got["excluded_below_floor"], got["growth"]["total"]) == (want["excluded"], want["total"])
    # The higher floor leaves out more pairs than the recorder's real 1e-10 does.
    want_default = sci.lemma32(rec.lam, rec.eta, c1, np.linalg.norm(rec.D, axis=1), rec.ev,
                               ref.consecutive_pairs(rec.steps), phase)
    assert want["excluded"] > want_default["excluded"]


def test_regimes(analysed):
    rec, js, sw, phase, cycles, _ = analysed
    cons = ref.consecutive_pairs(rec.steps)
    r = sci.regimes(rec.lam, rec.A2, rec.eta, phase, cons)
    g = js["checks"]["regimes"]
    assert (g["hover_rows"], g["catapult_rows"]) == (r["hover_rows"], r["catapult_rows"])
    for k, name in enumerate(("hover", "catapult", "other")):
        assert (g[f"co_movement_{name}"]["hits"], g[f"co_movement_{name}"]["total"]) == tuple(r["counts"][k])


def test_r_prime_story_value_uses_phases_i_iii_iv_and_from_start(analysed):
    rec, js, sw, phase, cycles, _ = analysed
    item = next(s for s in js["story"] if "R′" in s["claim"])
    sel = np.isin(phase, [1, 3, 4]) & np.isfinite(sw["r_prime_rel_error"])
    tracked = float(np.median(sw["r_prime_rel_error"][sel])) if sel.any() else math.nan
    fs = sw["r_prime_rel_error_from_start"]
    from_start = float(np.median(fs[np.isfinite(fs)]))
    want = from_start if math.isnan(tracked) else max(tracked, from_start)
    assert item["value"] == pytest.approx(want, rel=1e-15)
    # --gram topk: the approximation makes R′ meaningless, so no verdict.
    assert item["verdict"] == "n/a" and "[approximate M: no verdict]" in item["claim"]


def test_compare_and_report_show_the_same_cycle_count(sample, eostrace_bin, tmp_path):
    js = json.loads(run_eostrace(eostrace_bin, "analyze", sample, "--quiet", "--gram", "topk", "--json", check=True).stdout)
    out = run_eostrace(eostrace_bin, "compare", sample, check=True).stdout
    row = [line for line in out.splitlines() if line.strip() and not line.startswith(("run", "-", "plateau", "one-step"))][0]
    # The cycles cell: "N", or "N (M one-step)" when some excursions last a single step.
    m = re.search(r"\s(\d+)(?: \((\d+) one-step\))?\s+(?:[\d.]+ %|-)\s*$", row)
    assert m, row
    assert int(m.group(1)) == js["phases"]["cycle_count"]
    assert int(m.group(2) or 0) == js["phases"]["one_step_cycles"], row
    html = tmp_path / "r.html"
    run_eostrace(eostrace_bin, "report", sample, "-o", html, "--gram", "topk", check=True)
    assert js["phases"]["cycle_text"] in html.read_text()


def test_follow_shows_the_analysis_cycle_count(sample, eostrace_bin):
    # follow (the causal phase tracker, default rule) ends with the same cycle text as analyze.
    js = json.loads(run_eostrace(eostrace_bin, "analyze", sample, "--quiet", "--gram", "topk", "--json", check=True).stdout)
    last = run_eostrace(eostrace_bin, "follow", sample, "--quiet", check=True).stdout.strip().splitlines()[-1]
    assert last.endswith(f"({js['phases']['cycle_text']})"), (last, js["phases"]["cycle_text"])


@pytest.mark.parametrize("flags", [["--min-excursion-steps", "2"], ["--merge-gap", "5"]])
def test_hover_sample_gives_the_count_by_eye_with_the_options(flags, eostrace_bin, tmp_path):
    # samples/README.md: by eye one excursion above 2/η, one cycle; the default rule counts 11,
    # 10 of them one-step excursions. With either option analyze, compare and report say 1.
    sample = REPO / "samples" / "fmnist-tanh-hover-small.h5"
    default = json.loads(run_eostrace(eostrace_bin, "analyze", sample, "--quiet", "--json", check=True).stdout)
    assert (default["phases"]["cycle_count"], default["phases"]["one_step_cycles"]) == (11, 10)
    assert default["phases"]["cycle_text"] == "11 cycles, 10 of them one-step excursions ≤ 6.9 % above 2/η"
    js = json.loads(run_eostrace(eostrace_bin, "analyze", sample, "--quiet", "--json", *flags, check=True).stdout)
    assert (js["phases"]["cycle_count"], js["phases"]["complete_cycles"], js["phases"]["one_step_cycles"]) == (1, 1, 0)
    assert js["phases"]["cycle_text"] == "1 cycle"
    (c,) = js["phases"]["cycles"]
    assert (c["start_row"], c["peak_row"]) == (68, 550)
    row = [ln for ln in run_eostrace(eostrace_bin, "compare", sample, *flags, check=True).stdout.splitlines()
           if ln.startswith("η")][0]
    assert row.split()[-3] == "1", row
    html = tmp_path / "r.html"
    run_eostrace(eostrace_bin, "report", sample, "-o", html, "-q", *flags, check=True)
    text = html.read_text()
    assert "1 cycle" in text and "11 cycles" not in text


def test_reference_segmentation_closed_forms():
    lam = [1.99] * 100
    for r in (10, 20, 30):
        lam[r] = 2.005
    lam[40], lam[41] = 2.004, 2.003
    for j, v in enumerate([2.2, 2.4, 2.6, 2.8, 3.0, 2.8, 2.6, 2.4, 2.2, 2.05]):
        lam[60 + j] = v
    loss = list(np.linspace(10, 1, 100))
    starts = lambda **kw: [c.start for c in sci.segment_with_options(lam, loss, 1.0, **kw)[1]]  # noqa: E731
    assert starts() == [10, 20, 30, 40, 60]
    assert starts(min_steps=2) == [40, 60]
    assert starts(min_margin=0.01) == [60]
    assert starts(merge_gap=10) == [10, 60] and starts(merge_gap=9) == [10, 20, 30, 40, 60]
    _, cycles = sci.segment_with_options(lam, loss, 1.0)
    n, _, one, margin = sci.cycle_count(lam, 1.0, cycles)
    assert (n, one) == (5, 3) and margin == pytest.approx(0.0025, rel=1e-12)
    # Growth law: c1(a) = 1e-3, |1 − ηΛ| = 1.5 → τ = 18 (1.5^17 < 1000 ≤ 1.5^18).
    lam2 = np.array([1.5] * 5 + [2.5 + 1e-9 * k for k in range(21)] + [1.5] * 14)
    c1 = np.array([1e-3] * 5 + [1e-3 * 1.5 ** k for k in range(21)] + [1e-3 * 1.5 ** 20] * 14)
    dnorm = np.sqrt(c1 ** 2 + 1)
    ev = np.stack([lam2, lam2 / 10], axis=1)
    cons = np.ones(40, bool)
    cons[-1] = False
    _, cyc = sci.segment_with_options(lam2, c1 ** 2, 1.0)
    (item,) = sci.phase2_lengths(lam2, 1.0, c1, dnorm, ev, cons, cyc)
    assert (item["predicted"], item["measured"], item["pairs"]) == (18, 20, 20)
    assert item["measured_growth"] == pytest.approx(1.5, rel=1e-12)


def test_bias_exact_output_norm_line(analysed):
    rec, js, *_ = analysed
    beta = sci.output_bias(rec)
    b = js["checks"]["output_bias"]
    if beta is None:
        assert b["note"].startswith("unavailable") and b["error"]["all"]["count"] == 0
        return
    exact, paper = sci.bias_exact_errors(rec, beta)
    fin = exact[np.isfinite(exact)]
    assert b["error"]["all"]["count"] == fin.size
    assert b["error"]["all"]["median"] == pytest.approx(float(np.median(fin)), rel=1e-9)
    first = int(np.nonzero(np.isfinite(beta) & ref.consecutive_pairs(rec.steps))[0][0])
    assert b["first_pair_error"] == pytest.approx(exact[first], rel=1e-9)
    assert b["first_pair_paper_error"] == pytest.approx(paper[first], rel=1e-9)
    # Without an output bias the two lines are the same.
    if not np.any(beta):
        assert b["error"]["all"]["median"] == js["checks"]["first_order_output_norm"]["all"]["median"]


def test_all_five_commands_agree_on_a_run_cut_off_by_the_end(eostrace_bin, tmp_path):
    # n = 50, η = 0.045: Λ crosses 2/η at step 268 and is still above it at step 300, so the one
    # cycle is cut off by the end of the recording: it counts, and is incomplete.
    path = tmp_path / "cut.h5"
    rec = run_eostrace(eostrace_bin, "record", "--preset", "fmnist-tanh", "--n", 50, "--widths", "16,16", "--k", 2,
                       "--lr", 0.045, "--steps", 300, "--checkpoint-every", 100, "--spectrum-every", 0,
                       "--hessian-every", 0, "--quiet", "-o", path, check=True).stdout
    fields = dict(line.split(" ", 1) for line in rec.splitlines() if " " in line)
    assert fields["eos_first_crossing"] == "268" and fields["eos_cycles"] == "1"
    js = json.loads(run_eostrace(eostrace_bin, "analyze", path, "--quiet", "--json", check=True).stdout)
    assert (js["phases"]["cycle_count"], js["phases"]["complete_cycles"]) == (1, 0)
    assert fields["eos_cycles_text"] == js["phases"]["cycle_text"] == "1 cycle"
    follow = run_eostrace(eostrace_bin, "follow", path, "--quiet", check=True).stdout
    assert "(1 cycle)" in follow
    row = [ln for ln in run_eostrace(eostrace_bin, "compare", path, check=True).stdout.splitlines()
           if ln.startswith("η")][0]
    assert row.split()[-3] == "1"
    html = tmp_path / "cut.html"
    run_eostrace(eostrace_bin, "report", path, "-o", html, check=True)
    assert "1 cycle" in html.read_text()

"""`eostrace report` end to end: a real (tiny) GD recording -> HTML -> headless Chromium.

Needs: the eostrace binary ($EOSTRACE_BIN, default .build/debug/eostrace), Chromium
(Debian package `chromium`; $CHROMIUM overrides the path), Pillow (pip `pillow`), and
samples/python/eostrace_format.py to write the recording. Missing pieces FAIL the test.

The recording is exact full-batch GD on the two-layer linear model f(x) = (1/sqrt(m)) A^T W x
(README, What it computes) with n=20 samples in d=40 dimensions: progressive sharpening from a small
initialisation, then a few Edge-of-Stability cycles with eta = 0.3 (2/eta = 6.67) before it
settles. Every per-step quantity is computed from the exact Jacobian in numpy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "samples" / "python"))

WIDTH = 1200
FIGURE_IDS = ["fig1", "fig2", "fig3a", "fig3b", "fig3c", "fig4"]
EXTERNAL = re.compile(r"https?:|ftp:|file:|data:|src\s*=|url\(|@import|<script|<link|<img|<iframe|<object|xlink:href",
                      re.IGNORECASE)


def eostrace_bin() -> Path:
    path = Path(os.environ.get("EOSTRACE_BIN", REPO_ROOT / ".build" / "debug" / "eostrace"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"eostrace binary not found at {path}: run `swift build` or set EOSTRACE_BIN")
    return path


def chromium_bin() -> str:
    for cand in [os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]:
        if cand and shutil.which(cand):
            return shutil.which(cand)
    pytest.fail("Chromium not found: `apt-get install -y chromium` (or set $CHROMIUM)")


def two_layer_linear_gd(n=20, d=40, m=10, T=300, eta=0.3, init=0.02, target_scale=3.0, k=3,
                        checkpoint_every=50, hessian_every=25, seed=0) -> dict:
    """Exact GD on f(x) = A^T W x / sqrt(m), loss ||D||^2/n; per-step M = (2/n) J J^T.

    Every `hessian_every` steps also lambda_max of the exact loss Hessian
    (2/n)(J^T J + sum_i D_i d2f_i), where d2f_i/(dW_jk dA_j) = x_ik / sqrt(m) is the only
    non-zero second derivative of this model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal(n) * target_scale
    W = rng.standard_normal((m, d)) * init
    A = rng.standard_normal(m) * init
    rec = {k_: [] for k_ in ["loss", "residual", "output_norm_sq", "sharpness", "eigenvalues", "eigenvectors",
                             "dtf", "outputs", "output_layer_sharpness"]}
    ck_steps, thetas = [], []
    h_steps, h_vals = [], []
    prev_v = None
    for t in range(T):
        H = X @ W.T                                   # n x m
        F = H @ A / np.sqrt(m)
        D = F - Y
        JW = (A[None, :, None] * X[:, None, :]).reshape(n, m * d) / np.sqrt(m)
        JA = H / np.sqrt(m)
        J = np.concatenate([JW, JA], axis=1)          # theta = [W row-major, A]
        M = 2.0 / n * J @ J.T
        lam, V = np.linalg.eigh(M)
        lam, V = lam[::-1][:k], V[:, ::-1][:, :k].T.copy()   # k x n, descending
        for i in range(k):                            # docs/FORMAT.md sign convention
            if prev_v is None:
                if V[i, np.argmax(np.abs(V[i]))] < 0:
                    V[i] = -V[i]
            elif V[i] @ prev_v[i] < 0:
                V[i] = -V[i]
        prev_v = V
        MA = 2.0 / n * JA @ JA.T
        rec["loss"].append(D @ D / n)
        rec["residual"].append(D)
        rec["output_norm_sq"].append(A @ A)
        rec["sharpness"].append(lam[0])
        rec["eigenvalues"].append(lam)
        rec["eigenvectors"].append(V)
        rec["dtf"].append(D @ F)
        rec["outputs"].append(F)
        rec["output_layer_sharpness"].append(np.linalg.eigvalsh(MA)[-1])
        if hessian_every and t % hessian_every == 0:
            g = X.T @ D / np.sqrt(m)                  # d-vector: sum_i D_i x_i / sqrt(m)
            C = np.zeros((m * d + m, m * d + m))
            for j in range(m):
                C[j * d:(j + 1) * d, m * d + j] = g
                C[m * d + j, j * d:(j + 1) * d] = g
            h_steps.append(t)
            h_vals.append(np.linalg.eigvalsh(2.0 / n * (J.T @ J + C))[-1])
        if t % checkpoint_every == 0:
            ck_steps.append(t)
            thetas.append(np.concatenate([W.ravel(), A]))
        g = 2.0 / n * J.T @ D
        W = W - eta * g[: m * d].reshape(m, d)
        A = A - eta * g[m * d:]
    out = {k_: np.array(v) for k_, v in rec.items()}
    out.update(X=X, Y=Y, step=np.arange(T, dtype=np.int64), learning_rate=eta,
               model={"kind": "two_layer_linear", "input_dim": d, "width": m},
               checkpoint_step=np.array(ck_steps, dtype=np.int64), parameters=np.array(thetas))
    if h_steps:
        out.update(hessian_step=np.array(h_steps, dtype=np.int64), hessian_sharpness=np.array(h_vals))
    return out


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    import eostrace_format as ef
    run = two_layer_linear_gd()
    # The run really goes through the Edge of Stability (else the figures would not be the paper's).
    assert (run["sharpness"] > 2 / run["learning_rate"]).sum() >= 3
    path = tmp_path_factory.mktemp("report") / "two-layer-linear-eos.h5"
    lr = run.pop("learning_rate")
    model = run.pop("model")
    ef.write_recording(path, learning_rate=lr, model=model, seed=0, data_seed=0, **run)
    assert ef.validate(path) == []
    return path


@pytest.fixture(scope="module")
def report_html(recording, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    proc = subprocess.run([str(eostrace_bin()), "report", str(recording), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file() and out.stat().st_size > 10_000
    return out


def figure_boxes(html_path: Path, tmp: Path) -> dict[str, tuple[int, int]]:
    """Vertical extent (top, bottom) in CSS px of each figure's <svg>, measured by Chromium on
    a copy of the page with a measuring script appended (the report itself has no script)."""
    probe = tmp / "probe.html"
    page = html_path.read_text(encoding="utf-8")
    script = ("<pre id='boxes'></pre><script>document.getElementById('boxes').textContent = JSON.stringify("
              "Array.from(document.querySelectorAll('svg.figure')).map(function (s) {"
              "var r = s.getBoundingClientRect(); return [s.id, r.top + window.scrollY, r.bottom + window.scrollY, "
              "r.left, r.right]; }));</script>")
    probe.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    proc = subprocess.run([chromium_bin(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp / 'profile-dom'}", f"--window-size={WIDTH},4000",
                           "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r"<pre id=\"boxes\">(.*?)</pre>", proc.stdout, re.S)
    assert m, "could not measure figure positions: " + proc.stderr[-2000:]
    return {b[0]: (b[1], b[2], b[3], b[4]) for b in json.loads(m.group(1).replace("&quot;", '"'))}


def test_report_has_no_external_references(report_html):
    html = report_html.read_text(encoding="utf-8")
    hits = sorted(set(EXTERNAL.findall(html)))
    assert hits == [], f"external references in the report: {hits}"
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))
    for fid in FIGURE_IDS:
        assert f'id="{fid}"' in html, f"figure {fid} missing"
    assert "λ_max(∇²L) (Hessian)" in html, "recorded Hessian sharpness not drawn"


def test_report_renders_in_headless_chromium(report_html, tmp_path):
    from PIL import Image
    boxes = figure_boxes(report_html, tmp_path)
    assert set(FIGURE_IDS) <= set(boxes), boxes
    height = int(max(b[1] for b in boxes.values())) + 100
    shot = tmp_path / "report.png"
    proc = subprocess.run([chromium_bin(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={shot}",
                           f"--window-size={WIDTH},{height}", report_html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    if os.environ.get("EOSREPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["EOSREPORT_SCREENSHOT"])
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[0] >= height - 1 and img.shape[1] == WIDTH
    nonwhite = (img.min(axis=2) < 235)
    colored = (img.max(axis=2) - img.min(axis=2)) > 40          # lines, markers, phase shading
    for fid in FIGURE_IDS:
        top, bottom, left, right = (int(round(v)) for v in boxes[fid])
        assert right - left > 800 and bottom - top > 250, f"{fid}: figure box too small {boxes[fid]}"
        assert right <= WIDTH, f"{fid}: overflows the page horizontally ({right} > {WIDTH})"
        region = nonwhite[top:bottom, left:right]
        frac = region.mean()
        assert frac > 0.02, f"{fid}: only {frac:.3%} non-white pixels: blank figure?"
        assert colored[top:bottom, left:right].mean() > 0.002, f"{fid}: no coloured pixels (no data drawn?)"

    def has_colour(fid, rgb, tol=6, min_pixels=50):
        top, bottom, left, right = (int(round(v)) for v in boxes[fid])
        region = img[top:bottom, left:right]
        hits = (np.abs(region - np.array(rgb)).max(axis=2) <= tol).sum()
        return hits >= min_pixels

    # Phase shading drawn (phase I light blue, phase II light orange: the run has both) and the
    # anomaly markers (orange) in Figure 2.
    assert has_colour("fig1", (0xdb, 0xe9, 0xf6)), "phase I shading missing in Figure 1"
    assert has_colour("fig1", (0xfd, 0xe3, 0xc4)), "phase II shading missing in Figure 1"
    assert has_colour("fig2", (0xf2, 0x8e, 0x2b), tol=30, min_pixels=10), "anomaly markers missing in Figure 2"


def test_report_draws_the_hover_band(tmp_path):
    """The hovering sample: the analysis' hover rows (Λ within 3 % of 2/η for ≥ 20 steps, from
    `analyze --json`) are drawn as a purple band along the top of Figure 1's plots, as wide as
    the hover, with a legend entry, clear of the reference-line labels and curves."""
    from PIL import Image
    sample = REPO_ROOT / "samples" / "fmnist-tanh-hover-small.h5"
    out = tmp_path / "hover.html"
    proc = subprocess.run([str(eostrace_bin()), "report", str(sample), "-o", str(out), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    js = json.loads(subprocess.run([str(eostrace_bin()), "analyze", str(sample), "-q", "--json"],
                                   capture_output=True, text=True, timeout=300, check=True).stdout)
    hover_rows = js["checks"]["regimes"]["hover_rows"]
    assert hover_rows > 0
    html = out.read_text(encoding="utf-8")
    assert "hover: Λ ≈ 2/η ± 3 %" in html and f">{hover_rows} (" in html
    boxes = figure_boxes(out, tmp_path)
    height = int(max(b[1] for b in boxes.values())) + 100
    shot = tmp_path / "hover.png"
    subprocess.run([chromium_bin(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile-hover'}", f"--screenshot={shot}",
                    f"--window-size={WIDTH},{height}", out.as_uri()], capture_output=True, text=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    top, bottom, left, right = (int(round(v)) for v in boxes["fig1"])
    band = (np.abs(img[top:bottom, left:right] - np.array((0x6a, 0x51, 0xa3))).max(axis=2) <= 6)
    # Rows with more than 60 band pixels: the strips (the legend's boxes are ~25 px wide).
    rows = np.nonzero(band.sum(axis=1) > 60)[0]
    assert rows.size, "no hover band in Figure 1"
    legend_boxes = np.nonzero((band.sum(axis=1) > 15) & (band.sum(axis=1) <= 60))[0]
    assert legend_boxes.size, "no hover entry in the legends of Figure 1"
    # Two strips (one per panel), each a few px tall; the widest row spans the hover's share of
    # the plot (the hover is 167 of 601 steps: ~28 % of the plot width, ~21 % of the figure's).
    strips = np.split(rows, np.nonzero(np.diff(rows) > 1)[0] + 1)
    assert len(strips) == 2 and all(2 <= len(s) <= 10 for s in strips), [list(s) for s in strips]
    fig_width = right - left
    widest = band.sum(axis=1).max()
    assert 0.15 * fig_width < widest < 0.3 * fig_width, (widest, fig_width)
    geo = next(f for f in page_geometry(out, tmp_path) if f["id"] == "fig1")
    check_geometry([geo], "hover report")


def test_report_window_restricts_steps(recording, tmp_path):
    out = tmp_path / "window.html"
    proc = subprocess.run([str(eostrace_bin()), "report", str(recording), "-o", str(out), "--from", "40", "--to", "120"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = out.read_text(encoding="utf-8")
    assert "40 … 120 (81 recorded)" in html
    bad = subprocess.run([str(eostrace_bin()), "report", str(recording), "-o", str(tmp_path / "x.html"),
                          "--from", "500"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert bad.stderr.count("\n") == 1 and "holds no recorded step" in bad.stderr
    assert not (tmp_path / "x.html").exists()


def test_compare_matches_numpy(tmp_path):
    """`eostrace compare`: steps to 2/eta, plateau median/IQR of Lambda*eta/2, cycles, against numpy."""
    import eostrace_format as ef
    paths, runs = [], []
    for eta in (0.3, 0.33):
        run = two_layer_linear_gd(T=200, eta=eta)
        lr = run.pop("learning_rate")
        model = run.pop("model")
        path = tmp_path / f"eta{eta}.h5"
        ef.write_recording(path, learning_rate=lr, model=model, seed=0, data_seed=0, **run)
        paths.append(path)
        runs.append((eta, run["sharpness"]))
    out = tmp_path / "compare.html"
    proc = subprocess.run([str(eostrace_bin()), "compare", *map(str, paths), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[0] == "run"
    rows = [re.split(r"\s{2,}", ln.strip()) for ln in lines[2:4]]
    for (eta, lam), row in zip(runs, rows):
        assert row[0] == f"η = {eta}"
        above = lam > 2 / eta
        first = int(np.argmax(above))
        assert above.any() and int(row[3]) == first
        plateau = lam[first:] * eta / 2
        assert float(row[4]) == pytest.approx(np.median(plateau), rel=5e-4)
        q1, q3 = (float(v) for v in row[5].split("–"))
        assert q1 == pytest.approx(np.quantile(plateau, 0.25), rel=5e-4)
        assert q3 == pytest.approx(np.quantile(plateau, 0.75), rel=5e-4)
        cycles = int(above[0]) + int(np.sum(above[1:] & ~above[:-1]))
        assert int(row[6]) == cycles
    html = out.read_text(encoding="utf-8")
    assert EXTERNAL.findall(html) == []
    assert html.count("<svg") == 1 and "η = 0.33" in html
    missing = subprocess.run([str(eostrace_bin()), "compare", str(paths[0]), str(tmp_path / "nope.h5")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "nope.h5" in missing.stderr and missing.stderr.count("\n") == 1


# ------------------------------------------------------------------- labels, curves and axes

GEOMETRY_JS = r"""
(function () {
  function box(t) { var b = t.getBBox(); return [b.x, b.y, b.width, b.height, t.textContent]; }
  var out = Array.from(document.querySelectorAll('svg.figure')).map(function (svg) {
    var panels = Array.from(svg.querySelectorAll('g.panel')).map(function (g) {
      var r = g.querySelector('rect');
      var plot = [+r.getAttribute('x'), +r.getAttribute('y'), +r.getAttribute('width'), +r.getAttribute('height')];
      var texts = [], ylabels = [];
      Array.from(g.querySelectorAll('text')).forEach(function (t) {
        if (t.getAttribute('transform')) { ylabels.push(t.textContent); } else { texts.push(box(t)); }
      });
      var points = [];
      Array.from(g.querySelectorAll('path')).forEach(function (p) {
        var L = p.getTotalLength();
        for (var s = 0; s <= L; s += 0.5) { var q = p.getPointAtLength(s); points.push([q.x, q.y]); }
      });
      var dots = Array.from(g.querySelectorAll('circle')).map(function (c) {
        return [+c.getAttribute('cx'), +c.getAttribute('cy'), +c.getAttribute('r')]; });
      return {plot: plot, texts: texts, ylabels: ylabels, points: points, dots: dots};
    });
    // Texts outside the panels: the title, panel titles and the x-axis label under the last panel.
    var loose = Array.from(svg.children).filter(function (e) { return e.tagName === 'text'; }).map(box);
    return {id: svg.id, panels: panels, loose: loose};
  });
  document.getElementById('geometry').textContent = JSON.stringify(out);
})();
"""


def page_geometry(html_path: Path, tmp: Path) -> list[dict]:
    """Per figure and panel, measured by Chromium on a copy of the page: the plot rectangle, the
    boxes of the text labels (getBBox), the y-axis label, points sampled every 0.5 px along each
    drawn curve (getPointAtLength) and the markers; all in the figure's viewBox units."""
    probe = tmp / ("geometry-" + html_path.name)
    page = html_path.read_text(encoding="utf-8")
    probe.write_text(page.replace("</body>", "<pre id='geometry'></pre><script>" + GEOMETRY_JS + "</script></body>"),
                     encoding="utf-8")
    proc = subprocess.run([chromium_bin(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp / ('profile-geo-' + html_path.stem)}", f"--window-size={WIDTH},4000",
                           "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180)
    m = re.search(r"<pre id=\"geometry\">(.*?)</pre>", proc.stdout, re.S)
    assert m, "could not measure the page: " + proc.stderr[-2000:]
    import html as htmllib
    return json.loads(htmllib.unescape(m.group(1)))


def check_geometry(figures: list[dict], where: str):
    assert figures, where
    for fig in figures:
        assert fig["panels"], (where, fig["id"])
        for k, p in enumerate(fig["panels"]):
            x0, y0, w, h = p["plot"]
            # Every panel's y axis is labelled (with what it shows, not "value"); tick labels are
            # readable numbers (no "1e-2").
            assert len(p["ylabels"]) == 1 and p["ylabels"][0].strip() and not p["ylabels"][0].startswith("value"), \
                (where, fig["id"], k, p["ylabels"])
            for t in p["texts"]:
                assert not re.fullmatch(r"-?\d+(\.\d+)?e[+-]?\d+", t[4].strip()), (where, fig["id"], t[4])
            inside = [t for t in p["texts"] if t[0] < x0 + w and t[0] + t[2] > x0 and t[1] < y0 + h and t[1] + t[3] > y0
                      and t[4] != "no drawable data in this window"]
            for tx, ty, tw, th, content in inside:
                hits = [q for q in p["points"] if tx <= q[0] <= tx + tw and ty <= q[1] <= ty + th]
                hits += [d for d in p["dots"] if tx - d[2] <= d[0] <= tx + tw + d[2] and ty - d[2] <= d[1] <= ty + th + d[2]]
                assert not hits, f"{where} {fig['id']} panel {k}: label {content!r} at {(tx, ty, tw, th)} covers curve points {hits[:3]}"
        # The x axis is labelled under the last panel.
        bottom = fig["panels"][-1]["plot"][1] + fig["panels"][-1]["plot"][3]
        xlabels = [t for t in fig["loose"] + fig["panels"][-1]["texts"]
                   if t[1] > bottom + 18 and t[4].strip() and not re.fullmatch(r"[−\-\d.,×⁰¹²³⁴⁵⁶⁷⁸⁹⁻·]+", t[4].strip())]
        assert xlabels, (where, fig["id"], fig["loose"])


def test_report_labels_clear_of_curves_and_axes_labelled(report_html, tmp_path):
    figures = page_geometry(report_html, tmp_path)
    assert {f["id"] for f in figures} >= set(FIGURE_IDS)
    check_geometry(figures, "report")
    # The reference lines are labelled inside their panels where there is room clear of the
    # curves (2/η in Figures 1, 2 and 3a), and always in the legend.
    labels = [t[4] for f in figures for p in f["panels"] for t in p["texts"]]
    assert sum(lb.startswith("2/η = ") for lb in labels) >= 2
    html = report_html.read_text(encoding="utf-8")
    assert html.count(">2/η = ") >= 3 + sum(lb.startswith("2/η = ") for lb in labels)  # 3 legend entries


def test_report_scatter_uses_its_area(report_html, tmp_path):
    """Figure 3b (L against ‖R‖²/n): the points' bounding box covers most of the plot."""
    fig = next(f for f in page_geometry(report_html, tmp_path) if f["id"] == "fig3b")
    x0, y0, w, h = fig["panels"][0]["plot"]
    dots = fig["panels"][0]["dots"]
    xs, ys = [d[0] for d in dots], [d[1] for d in dots]
    assert (max(xs) - min(xs)) / w > 0.8 and (max(ys) - min(ys)) / h > 0.8, ((min(xs), max(xs), min(ys), max(ys)), fig["panels"][0]["plot"])


def test_compare_page_names_files_has_loss_panel_and_clear_labels(tmp_path):
    import eostrace_format as ef
    paths = []
    for eta in (0.3, 0.33):
        run = two_layer_linear_gd(T=200, eta=eta)
        lr = run.pop("learning_rate")
        model = run.pop("model")
        path = tmp_path / f"run-eta{eta}.h5"
        ef.write_recording(path, learning_rate=lr, model=model, seed=0, data_seed=0, **run)
        paths.append(path)
    out = tmp_path / "compare.html"
    proc = subprocess.run([str(eostrace_bin()), "compare", *map(str, paths), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = out.read_text(encoding="utf-8")
    for p in paths:
        assert str(p) in html and p.name in html, p
    figures = page_geometry(out, tmp_path)
    assert len(figures) == 1 and len(figures[0]["panels"]) == 2
    ylabels = [p["ylabels"][0] for p in figures[0]["panels"]]
    assert ylabels[0].startswith("Λ·η/2") and ylabels[1].startswith("loss L"), ylabels
    check_geometry(figures, "compare")
    # The loss panel draws each run's loss: one curve per run.
    assert "Normalised sharpness Λ·η/2 and loss L of every run" in html

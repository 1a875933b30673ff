"""One CLI vocabulary, end to end (issue 16): what a newcomer meets before reading any code.

- `--help` of every subcommand states the default of every option that takes a value;
- a partial config layers on each preset (`record --show-config`, against the preset's own JSON
  with the two keys changed, computed here in Python);
- the common typos (`analyse`, `--lr -1`, `--step`) each give one line, exit 64;
- one error prefix (`eostrace: `) for every failure, ours and argument-parser's;
- no raw libhdf5 text in any message (the fuzz regressions, truncated and bit-flipped copies of a
  sample, missing files, directories, unwritable outputs);
- ETA lines on `analyze` and `report`, sparse when stderr is not a terminal;
- the `analyze` summary fits 100 columns on every sample, a short default-preset run and the
  hover sample, and every term it prints is defined in docs/SUMMARY.md;
- old flag spellings still work (hidden aliases), with the same results as the new ones.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, run_eostrace

SAMPLES = sorted((REPO_ROOT / "samples").glob("*.h5"))
SUBCOMMANDS = ["record", "analyze", "report", "compare", "follow", "validate", "info", "dump", "diff"]
PRESETS = ["fmnist-tanh", "linear-synthetic", "fmnist-linear-fig1", "fmnist-tanh-hover", "fmnist10-fc-tanh"]
# libhdf5's own wording: OS error fields, superblock fields, error-class words, stack dumps.
RAW_HDF5 = re.compile(r"errno\s*=|o_flags|flags\s*=\s*\d|error message\s*=|sblock->|stored_eof|\beof\s*=|"
                      r"; (Read failed|Bad value|Unable to open file|File has been truncated)|HDF5-DIAG|H5[A-Z][A-Za-z_]*\(|#\d{3}:")


def run(binary, *args, timeout=300, **kw):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


# ------------------------------------------------------------------------------------------ help

def option_entries(help_text: str) -> list[tuple[str, str]]:
    """(option line, its whole help text) for every entry of OPTIONS: that takes a <value>."""
    body = help_text.split("OPTIONS:", 1)[1]
    entries, current = [], None
    for line in body.split("\n"):
        if re.match(r"^  -", line):
            current = [line.strip(), line]
            entries.append(current)
        elif current is not None and line.startswith("      "):
            current[1] += " " + line.strip()
    return [(e[0], e[1]) for e in entries if "<" in e[0].split("  ")[0] and "--help" not in e[0]]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_states_every_default(eostrace_bin, command):
    p = run(eostrace_bin, command, "--help")
    assert p.returncode == 0 and p.stderr == ""
    entries = option_entries(p.stdout)
    missing = [name for name, text in entries if "default" not in text.lower()]  # "Required (no default)" counts
    assert missing == [], f"{command} --help: no default stated for {missing}"
    # The input is called <recording> everywhere (record writes one).
    if command != "record":
        assert "<recording>" in p.stdout.split("OPTIONS:")[0], p.stdout[:400]
    # Output is -o/--output where there is one.
    if command in ("record", "analyze", "report", "compare"):
        assert "-o, --output <" in p.stdout


def test_record_help_shows_each_presets_values(eostrace_bin):
    text = run(eostrace_bin, "record", "--help").stdout
    for preset in PRESETS:
        shown = json.loads(run(eostrace_bin, "record", "--preset", preset, "--show-config").stdout)
        # "fmnist-tanh: η = 0.05, 1000 steps, n = 1000, …" in the discussion, "fmnist-tanh 0.05" at --lr.
        m = re.search(rf"{preset}: η = ([\d.]+), (\d+) steps, n = (\d+)", text)
        assert m, preset
        assert (float(m.group(1)), int(m.group(2)), int(m.group(3))) == (shown["learning_rate"], shown["steps"], shown["data"]["n"])
        m = re.search(rf"--lr, --learning-rate <η>.*?{preset} ([\d.]+)", " ".join(text.split()))
        assert m and float(m.group(1)) == shown["learning_rate"], preset


# ------------------------------------------------------------------------------- config layering

@pytest.mark.parametrize("preset", PRESETS)
def test_partial_config_layers_on_each_preset(eostrace_bin, tmp_path, preset):
    base = json.loads(run(eostrace_bin, "record", "--preset", preset, "--show-config").stdout)
    cfg = tmp_path / "partial.json"
    cfg.write_text(json.dumps({"learning_rate": 7, "steps": 50}))
    p = run(eostrace_bin, "record", "--preset", preset, "--config", cfg, "--show-config")
    assert p.returncode == 0, p.stderr
    want = dict(base, learning_rate=7, steps=50)
    assert json.loads(p.stdout) == want
    # Nested keys merge into the preset's data/model (same kind); flags still win over the file.
    yml = tmp_path / "partial.yaml"
    yml.write_text("data:\n  n: 30\nk: 3\n")
    p = run(eostrace_bin, "record", "--preset", preset, "--config", yml, "--k", 2, "--show-config")
    assert p.returncode == 0, p.stderr
    want = dict(base, k=2, data=dict(base["data"], n=30))
    assert json.loads(p.stdout) == want
    # The printed configuration is itself a complete config that gives the same run.
    full = tmp_path / "full.json"
    full.write_text(p.stdout)
    again = run(eostrace_bin, "record", "--config", full, "--show-config")
    assert json.loads(again.stdout) == want


def test_partial_config_errors_still_name_the_key(eostrace_bin, tmp_path):
    cfg = tmp_path / "typo.json"
    cfg.write_text(json.dumps({"learning_rat": 0.1}))
    p = run(eostrace_bin, "record", "--config", cfg, "--no-output")
    assert p.returncode == 1 and p.stderr.splitlines() == [
        f'eostrace: {cfg}: invalid configuration: unknown key "learning_rat"; did you mean "learning_rate"?']


# ------------------------------------------------------------------------------------- typos

@pytest.mark.parametrize("args, line", [
    (["analyse", "run.h5"], "eostrace: unknown command 'analyse'; did you mean 'analyze'? (see 'eostrace --help')"),
    (["reprot", "run.h5"], "eostrace: unknown command 'reprot'; did you mean 'report'? (see 'eostrace --help')"),
    (["record", "--lr", "-1", "--no-output"],
     "eostrace: --lr -1.0: negative learning rate; η must be positive (e.g. --lr 0.05) (see 'eostrace record --help')"),
    (["record", "--lr", "0", "--no-output"],
     "eostrace: --lr 0.0: the learning rate η must be positive and finite (e.g. --lr 0.05) (see 'eostrace record --help')"),
    (["analyze", "run.h5", "--step", "1:2"],
     "eostrace: unknown option '--step'; did you mean '--steps'? (see 'eostrace analyze --help')"),
    (["report", "run.h5", "--step", "1:2"],
     "eostrace: unknown option '--step'; did you mean '--steps'? (see 'eostrace report --help')"),
    (["analyze", "run.h5", "--steps", "9:3"],
     "eostrace: --steps: expected A:B (first and last step, both included; A: or :B for an open end) with integers A ≤ B, "
     "got '9:3' (see 'eostrace analyze --help')"),
    (["analyze"], "eostrace: missing expected argument '<recording>' (see 'eostrace analyze --help')"),
    (["record"], "eostrace: give -o/--output FILE (or --no-output) (see 'eostrace record --help')"),
])
def test_typos_one_line_exit_64(eostrace_bin, tmp_path, args, line):
    p = run(eostrace_bin, *args, cwd=tmp_path)
    assert p.returncode == 64, (args, p.returncode, p.stderr)
    assert p.stderr.splitlines() == [line]
    assert p.stdout == ""


def test_help_and_version_are_not_errors(eostrace_bin):
    for args in (["--help"], ["help", "analyze"], ["analyze", "--help"], ["--version"]):
        p = run(eostrace_bin, *args)
        assert p.returncode == 0 and p.stderr == "" and p.stdout.strip(), args


# ------------------------------------------------------------------ one prefix, no libhdf5 text

@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> list[Path]:
    """Damaged recordings: the fuzz regressions, truncations and bit flips of a sample, junk."""
    d = tmp_path_factory.mktemp("bad")
    out = []
    for gz in sorted((REPO_ROOT / "samples" / "fuzz-regressions").rglob("*.h5.gz")):
        p = d / gz.name[:-3]
        p.write_bytes(gzip.decompress(gz.read_bytes()))
        out.append(p)
    src = (REPO_ROOT / "samples" / "synthetic-small.h5").read_bytes()
    for n in (0, 8, 1000, 2048, 10_000, len(src) // 2, len(src) - 100):
        p = d / f"trunc-{n}.h5"
        p.write_bytes(src[:n])
        out.append(p)
    rng = random.Random(16)
    for i in range(12):
        b = bytearray(src)
        for _ in range(8):
            b[rng.randrange(0, 200_000)] = rng.randrange(256)
        p = d / f"flip-{i}.h5"
        p.write_bytes(bytes(b))
        out.append(p)
    junk = d / "junk.h5"
    junk.write_bytes(b"not an HDF5 file\n" * 100)
    out += [junk, d / "absent.h5", d]
    return out


def check_failure_lines(p, where):
    lines = p.stderr.splitlines()
    errors = [ln for ln in lines if not ln.startswith(("analyzing ", "note: ", "wrote "))]
    for ln in errors:
        assert ln.startswith("eostrace: "), f"{where}: not the error prefix: {ln!r}"
        assert not RAW_HDF5.search(ln), f"{where}: raw libhdf5 text: {ln!r}"
    if p.returncode != 0 and p.returncode != 1:
        assert len(errors) == 1, f"{where}: expected one error line, got {errors}"


def test_bad_inputs_one_prefix_no_libhdf5_text(eostrace_bin, bad_inputs, tmp_path):
    commands = [["info", "{f}"], ["validate", "{f}"], ["dump", "{f}", "step"], ["analyze", "{f}", "--gram", "topk", "-q"],
                ["report", "{f}", "-q", "-o", str(tmp_path / "r.html"), "--force"], ["diff", "{f}", str(SAMPLES[0])]]
    seen_failures = 0
    for f in bad_inputs:
        for cmd in commands:
            args = [a.replace("{f}", str(f)) for a in cmd]
            p = run(eostrace_bin, *args, timeout=60)
            assert p.returncode in (0, 1, 2), (args, p.returncode, p.stderr)
            check_failure_lines(p, args)
            seen_failures += p.returncode != 0
    assert seen_failures > len(bad_inputs) * 3


def test_output_errors_in_plain_words(eostrace_bin, tmp_path):
    sample = REPO_ROOT / "samples" / "synthetic-small.h5"
    cases = [
        (["record", "--preset", "linear-synthetic", "--steps", 2, "-o", "/nonexistent-dir/x.h5"], 1, "the directory /nonexistent-dir does not exist"),
        (["record", "--preset", "linear-synthetic", "--steps", 2, "-o", "/proc/x.h5"], 1, "/proc/x.h5"),
        (["analyze", sample, "--gram", "topk", "-q", "-o", "/nonexistent-dir/a.h5"], 1, "does not exist"),
        (["report", sample, "-q", "-o", "/nonexistent-dir/r.html"], 1, "does not exist"),
        (["info", tmp_path / "absent.h5"], 2, "no such file"),
        (["info", tmp_path], 2, "not a regular file"),
    ]
    for args, code, needle in cases:
        p = run(eostrace_bin, *args, timeout=120)
        assert p.returncode == code, (args, p.returncode, p.stderr)
        lines = p.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("eostrace: ") and needle in lines[0], (args, lines)
        assert not RAW_HDF5.search(lines[0]), lines[0]


def test_plain_message_for_os_errors(eostrace_bin, tmp_path):
    # A file in a read-only place (/proc) exercises libhdf5's create error: errno text becomes words.
    p = run(eostrace_bin, "record", "--preset", "linear-synthetic", "--steps", 2, "-o", "/proc/x.h5")
    assert p.returncode == 1
    assert "no such file or directory" in p.stderr.lower() and "errno" not in p.stderr


# ----------------------------------------------------------------------------------- progress

ETA = re.compile(r"^analyzing (\S+): (\d+)/(\d+) steps \((\d+)%\), [\d.]+ steps/s, ETA (\d+s|\d+m\d\ds|\d+h\d\dm|\?)$")


@pytest.mark.parametrize("command", [["analyze", "{s}", "--gram", "topk"], ["report", "{s}", "-o", "{t}/r.html"]])
def test_eta_lines_on_analyze_and_report(eostrace_bin, tmp_path, command):
    s = REPO_ROOT / "samples" / "fmnist-tanh-hover-small.h5"
    p = run(eostrace_bin, *[a.replace("{s}", str(s)).replace("{t}", str(tmp_path)) for a in command])
    assert p.returncode == 0, p.stderr
    progress = [ln for ln in p.stderr.splitlines() if ln.startswith("analyzing ")]
    assert progress and all(ETA.match(ln) for ln in progress), progress
    # Not a terminal: one line per tenth of the work at most, and the last one says 100 %.
    assert 2 <= len(progress) <= 11, progress
    last = ETA.match(progress[-1])
    assert last.group(2) == last.group(3) and last.group(4) == "100"
    done = [int(ETA.match(ln).group(2)) for ln in progress]
    assert done == sorted(done)
    q = run(eostrace_bin, *[a.replace("{s}", str(s)).replace("{t}", str(tmp_path)) for a in command], "-q", "--force")
    assert q.returncode == 0 and not any(ln.startswith("analyzing") for ln in q.stderr.splitlines()), q.stderr


# ------------------------------------------------------------------------------------ summary

@pytest.fixture(scope="module")
def summaries(eostrace_bin, tmp_path_factory) -> dict[str, str]:
    out = {}
    for s in SAMPLES:
        p = run(eostrace_bin, "analyze", s, "-q")
        assert p.returncode == 0, p.stderr
        out[s.name] = p.stdout
    # A short run of the default preset (the default model and data, 40 steps).
    d = tmp_path_factory.mktemp("default")
    rec = run(eostrace_bin, "record", "--steps", 40, "--checkpoint-every", 20, "-q", "-o", d / "default.h5", timeout=600)
    assert rec.returncode == 0, rec.stderr
    p = run(eostrace_bin, "analyze", d / "default.h5", "-q", timeout=600)
    assert p.returncode == 0, p.stderr
    out["default preset, 40 steps"] = p.stdout
    return out


def test_summary_fits_100_columns(summaries):
    assert "fmnist-tanh-hover-small.h5" in summaries
    for name, text in summaries.items():
        wide = [ln for ln in text.split("\n") if len(ln) > 100]
        assert wide == [], f"{name}: {len(wide)} lines over 100 columns, e.g. {wide[:2]}"


def doc_terms() -> list[str]:
    text = (REPO_ROOT / "docs" / "SUMMARY.md").read_text(encoding="utf-8")
    terms = {t.replace("\\|", "|") for t in re.findall(r"`([^`]+)`", text)}
    return sorted(terms, key=len, reverse=True)


def residue(cells: str, terms: list[str]) -> str:
    """`cells` with every documented term removed (longest first); what is left is undefined."""
    for t in terms:
        cells = cells.replace(t, " ")
    return cells.strip()


def printed_terms(text: str) -> tuple[list[str], list[str], list[str]]:
    """(section labels, table header rows, table row names) of a summary."""
    labels, headers, names = [], [], []
    lines = text.split("\n")
    in_table = False
    for i, ln in enumerate(lines):
        if not ln.strip():
            in_table = False
            continue
        if not ln.startswith(" "):
            labels.append(re.match(r"^(.+?)(?: \(|:|$)", ln).group(1).strip())
            in_table = False
            continue
        body = ln[2:]
        if re.match(r"^(#|check|R′ restarts)\s", body):
            headers.append(body)
            in_table = True
            continue
        if in_table and not body.startswith((" ", "…", "*")):
            first = re.split(r"\s{2,}", body.strip())[0]
            if not re.match(r"^[\d.e+-]+( [\d.e+-]+)*$", first):
                names.append(first.rstrip("*"))
            else:
                last = re.split(r"\s{2,}", body.strip())[-1]
                if re.match(r"^[A-Za-zL]", last) and not re.match(r"^(n/a|never|inf)$", last):
                    names.append(last)  # the cycle table's "IV ended by"
        m = re.match(r"^\s*\[([^\]]+)\]", ln)
        if m:
            names.append(m.group(1))
    return labels, headers, names


def test_every_printed_term_is_defined_in_docs(summaries):
    terms = doc_terms()
    assert len(terms) > 80
    undefined = set()
    for name, text in summaries.items():
        labels, headers, names = printed_terms(text)
        assert len(headers) >= 3 and len(names) >= 10, (name, headers, names)
        for item in labels + names:
            if item not in terms and residue(item, terms):
                undefined.add(item)
        for h in headers:
            if residue(h, terms):
                undefined.add(f"header: {h} -> left: {residue(h, terms)!r}")
    assert undefined == set(), f"terms the summary prints but docs/SUMMARY.md does not define: {sorted(undefined)}"


def test_verdict_lines_print_the_numbers_they_name(summaries, eostrace_bin):
    s = REPO_ROOT / "samples" / "fmnist-tanh-small.h5"
    js = json.loads(run(eostrace_bin, "analyze", s, "--json", "-q").stdout)
    text = summaries[s.name]
    assert "verdict from the rate: supported ≥ 0.9, mostly ≥ 0.7, partly ≥ 0.4, below: not supported" in " ".join(text.split())
    story = " ".join(text.split("How much of the paper's story")[1].split())
    for item in js["story"]:
        assert f"[{item['verdict']}] {item['claim']}" in story
        if item["rate"] is not None and item["value"] is not None:
            # The rate the verdict is read from, with its formula, is printed when it is not the value.
            if "rate: 1 − median" in item["measure"]:
                assert f"rate = 1 − median = {item['rate']:.4g}" in story, item
        # The verdict follows the stated cut-offs.
        r = item["rate"]
        if r is not None and "no verdict" not in item["claim"]:
            want = "supported" if r >= 0.9 else "mostly" if r >= 0.7 else "partly" if r >= 0.4 else "not supported"
            assert item["verdict"] == want, item
    # Check rows name the assumption: "Assumption 3.1", never a bare "3.1 co-movement".
    assert "Assumption 3.1: co-movement" in text and not re.search(r"^\s+3\.\d", text, re.M)


def test_json_writes_null_for_non_finite(eostrace_bin):
    s = REPO_ROOT / "samples" / "synthetic-small.h5"
    p = run(eostrace_bin, "analyze", s, "--json", "-q")
    assert p.returncode == 0
    assert '"NaN"' not in p.stdout and "Infinity" not in p.stdout and ": null" in p.stdout
    js = json.loads(p.stdout)  # strict JSON
    assert js["run"]["rows"] == 300


# ------------------------------------------------------------------------------ old spellings

def test_old_spellings_are_hidden_aliases(eostrace_bin, tmp_path):
    s = REPO_ROOT / "samples" / "synthetic-small.h5"
    # analyze --out == -o
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert run(eostrace_bin, "analyze", s, "--gram", "topk", "-q", "--out", a).returncode == 0
    assert run(eostrace_bin, "analyze", s, "--gram", "topk", "-q", "-o", b).returncode == 0
    d = run(eostrace_bin, "diff", a, b)
    assert d.returncode == 0, d.stdout
    # dump --from/--to (end excluded) == --rows A:B (end included)
    old = json.loads(run(eostrace_bin, "dump", s, "loss", "--from", 5, "--to", 9).stdout)
    new = json.loads(run(eostrace_bin, "dump", s, "loss", "--rows", "5:8").stdout)
    assert old == new and len(new["data"]) == 4
    # report --from/--to (both included) == --steps A:B
    for args, name in ((["--from", 40, "--to", 120], "old.html"), (["--steps", "40:120"], "new.html")):
        p = run(eostrace_bin, "report", s, "-q", "-o", tmp_path / name, *args)
        assert p.returncode == 0, p.stderr
    old_html, new_html = ((tmp_path / n).read_text() for n in ("old.html", "new.html"))
    assert "40 … 120 (81 recorded)" in old_html and "40 … 120 (81 recorded)" in new_html
    # Hidden: not in --help.
    for cmd, old_flag in (("analyze", "--out "), ("report", "--from"), ("dump", "--from"), ("record", "--output-dir")):
        assert old_flag not in run(eostrace_bin, cmd, "--help").stdout, (cmd, old_flag)


def test_info_lists_analysis_after_in_place(eostrace_bin, tmp_path):
    f = tmp_path / "run.h5"
    f.write_bytes((REPO_ROOT / "samples" / "synthetic-small.h5").read_bytes())
    assert "analysis:" not in run(eostrace_bin, "info", f).stdout
    assert run(eostrace_bin, "analyze", f, "--in-place", "--gram", "topk", "-q").returncode == 0
    text = run(eostrace_bin, "info", f).stdout
    assert "analysis:    /analysis, 300 rows (0 … 299)" in text
    js = json.loads(run(eostrace_bin, "info", f, "--json").stdout)
    assert js["analysis"]["rows"] == 300 and js["analysis"]["datasets"] == ["phase", "c1", "r_norm_sq", "r_prime_error", "anomaly"]
    import h5py
    with h5py.File(f, "r") as h:
        assert h["analysis/phase"].shape == (300,)

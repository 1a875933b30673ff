"""The README as a test: every `eostrace` command in its shell blocks runs, as written.

The shell blocks (```sh) of README.md are extracted and run in order, each as one bash script
(`set -e`), in one scratch directory, with `eostrace` on PATH (a link to $EOSTRACE_BIN): the
first block makes `run.h5`, later ones use it, as a reader following the README would. A block
preceded by a line `<!-- readme-test: skip (why) -->` is not run (minutes-long full-size runs);
the first block (scripts/quickstart.sh, scripts/test.sh) is the quickstart, tested by running it,
not here. The `$ eostrace …` examples of the ```text blocks are run too and must print exactly
the line the README shows.

Also here: the README and docs/ stand alone (no ../shared, no "SPEC §").
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b")


def binary() -> Path:
    path = Path(os.environ.get("EOSTRACE_BIN", REPO / ".build" / "debug" / "eostrace"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"eostrace binary not found at {path}: run `swift build` or set EOSTRACE_BIN")
    return path


def blocks(text: str) -> list[tuple[str, str, bool]]:
    """(language, body, skipped) of every fenced block, in order."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m and m.group(1):
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            before = [ln for ln in lines[max(0, i - 3):i] if ln.strip()]
            skipped = bool(before) and bool(SKIP.search(before[-1]))
            out.append((m.group(1), "\n".join(lines[i + 1:j]), skipped))
            i = j + 1
        else:
            i += 1
    return out


def eostrace_lines(body: str) -> list[str]:
    return [ln.strip() for ln in body.split("\n") if re.match(r"^\s*eostrace\s", ln)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    bindir = tmp_path_factory.mktemp("bin")
    (bindir / "eostrace").symlink_to(binary())
    e = dict(os.environ)
    e["PATH"] = f"{bindir}:{e.get('PATH', '')}"
    e["OPENBLAS_NUM_THREADS"] = "1"
    return e


def test_readme_blocks_are_found_and_marked():
    bs = blocks(README.read_text(encoding="utf-8"))
    sh = [b for b in bs if b[0] == "sh"]
    assert "scripts/quickstart.sh" in sh[0][1] and "scripts/test.sh" in sh[0][1]
    run = [ln for b in sh[1:] if not b[2] for ln in eostrace_lines(b[1])]
    skipped = [ln for b in sh[1:] if b[2] for ln in eostrace_lines(b[1])]
    commands = {ln.split()[1] for ln in run}
    # Every user command appears in a block that is run, and dump and the sweep are documented.
    assert {"record", "analyze", "report", "compare", "follow", "validate", "info", "dump", "diff"} <= commands, commands
    assert any("--sweep-lr" in ln for ln in run) and any("--show-config" in ln for ln in run)
    assert len(run) >= 20 and len(skipped) <= 6, (len(run), skipped)


def test_every_readme_shell_block_runs_as_written(env, tmp_path):
    bs = [b for b in blocks(README.read_text(encoding="utf-8")) if b[0] == "sh"][1:]
    ran = 0
    for k, (_, body, skipped) in enumerate(bs):
        if skipped or not eostrace_lines(body):
            continue
        # The blocks are written for the repository's root: its samples/ and python/ are at hand.
        for name in ["samples", "python"]:
            if not (tmp_path / name).exists():
                (tmp_path / name).symlink_to(REPO / name)
        proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + body], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"README shell block {k + 1} failed ({proc.returncode}):\n{body}\n--- stderr:\n{proc.stderr[-3000:]}"
        ran += len(eostrace_lines(body))
        # What the comments promise: the first run crosses 2/η at step 94.
        m = re.search(r"crosses 2/η at step (\d+)", body)
        if m:
            assert f"eos_first_crossing {m.group(1)}\n" in proc.stdout, proc.stdout
        # No error line from any command of a block that succeeded.
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("eostrace: ")]
        assert errors == [], errors
    assert ran >= 20
    # What the blocks promise exists.
    for name in ["run.h5", "run.html", "run.json", "steps.csv", "run.analysis.h5", "lr004.h5", "sweep/lr-0.02.h5",
                 "sweep/lr-0.05.h5", "sweep.html"]:
        assert (tmp_path / name).is_file(), name


def test_readme_error_examples_print_what_the_readme_shows(env, tmp_path):
    """The `$ eostrace …` lines of the text blocks and the line after each: run, compared verbatim."""
    examples = []
    for lang, body, _ in blocks(README.read_text(encoding="utf-8")):
        if lang != "text":
            continue
        lines = body.split("\n")
        for i, ln in enumerate(lines):
            if ln.startswith("$ eostrace ") and i + 1 < len(lines):
                examples.append((ln[2:], lines[i + 1]))
    assert len(examples) >= 3
    for cmd, shown in examples:
        proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 64, (cmd, proc.returncode, proc.stderr)
        assert proc.stderr.splitlines() == [shown], (cmd, proc.stderr)
        assert proc.stdout == ""


def test_readme_and_docs_stand_alone():
    for path in [README, *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text, path
        assert not re.search(r"SPEC\s*§|SPEC\.md", text), path


def test_readme_first_screen_gets_to_the_report():
    first = "\n".join(README.read_text(encoding="utf-8").split("\n")[:40])
    assert "scripts/quickstart.sh" in first and "scripts/test.sh" in first
    assert "out/quickstart/fmnist-tanh.html" in first
    assert ".build/release/eostrace" in first and "PATH" in first
    # The quickstart writes the page the README says to open.
    assert 'report "$OUT/fmnist-tanh.h5" -o "$OUT/fmnist-tanh.html"' in (REPO / "scripts" / "quickstart.sh").read_text()

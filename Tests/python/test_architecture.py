"""The module graph of docs/ARCHITECTURE.md, checked rather than trusted: every Swift module
imports only what the table allows, the "never" rules hold, and the product CLI lists user
commands only."""

from __future__ import annotations

import re

import pytest

# module -> the eostrace modules (and packages) it may import; keep in step with docs/ARCHITECTURE.md.
ALLOWED = {
    "HDF5Kit": {"CHDF5"},
    "EOSNumerics": {"CLapack"},
    "EOSSystem": set(),
    "EOSPhases": set(),
    "EOSCommandLine": {"ArgumentParser"},
    "TrajectoryFormat": {"HDF5Kit", "EOSSystem"},
    "EOSModels": {"EOSNumerics", "CZlib", "HDF5Kit"},
    "EOSRun": {"EOSModels", "EOSNumerics", "TrajectoryFormat", "Yams"},
    "EOSRecorder": {"EOSRun", "EOSPhases", "EOSModels", "EOSNumerics", "TrajectoryFormat"},
    "EOSAnalysis": {"EOSRun", "EOSPhases", "EOSModels", "EOSNumerics", "TrajectoryFormat"},
    "EOSReport": {"EOSAnalysis", "EOSPhases", "TrajectoryFormat"},
    "EOSTestSupport": {"EOSNumerics", "TrajectoryFormat"},
    "EmbedSchemaTool": set(),
    "eostrace": {"ArgumentParser", "EOSCommandLine", "EOSSystem", "TrajectoryFormat", "EOSNumerics", "EOSModels",
                 "EOSRun", "EOSPhases", "EOSRecorder", "EOSAnalysis", "EOSReport"},
    "eostrace-dev": {"ArgumentParser", "EOSCommandLine", "EOSSystem", "TrajectoryFormat", "EOSNumerics", "EOSModels",
                     "EOSRun", "EOSPhases", "EOSRecorder", "EOSTestSupport", "HDF5Kit"},
}
SYSTEM = {"Foundation", "Dispatch", "Glibc", "Darwin", "XCTest"}
IMPORT = re.compile(r"^\s*(?:@_exported\s+|@testable\s+)?import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)
USER_COMMANDS = ["record", "analyze", "report", "compare", "follow", "validate", "info", "dump", "diff", "sweep", "merge"]


def module_imports(repo_root):
    out = {}
    for d in sorted((repo_root / "Sources").iterdir()):
        if not d.is_dir() or d.name.startswith("C") and d.name[1:2].isupper():
            continue  # systemLibrary targets
        names = set()
        for f in d.rglob("*.swift"):
            names |= set(IMPORT.findall(f.read_text()))
        out[d.name] = names - SYSTEM
    return out


def test_every_module_imports_only_what_the_graph_allows(repo_root):
    found = module_imports(repo_root)
    assert set(found) == set(ALLOWED), "a module was added or removed: update docs/ARCHITECTURE.md and this table"
    for module, names in found.items():
        assert names <= ALLOWED[module], f"{module} imports {sorted(names - ALLOWED[module])}"


def test_never_rules(repo_root):
    found = module_imports(repo_root)
    assert "EOSRecorder" not in found["EOSAnalysis"]
    hdf5 = {m for m, names in found.items() if "HDF5Kit" in names}
    assert hdf5 <= {"TrajectoryFormat", "EOSModels", "eostrace-dev"}, hdf5
    # EOSModels uses HDF5Kit only for the users'-data loader.
    users = [f.name for f in (repo_root / "Sources" / "EOSModels").glob("*.swift") if "import HDF5Kit" in f.read_text()]
    assert users == ["HDF5Data.swift"], users
    libc = sorted(str(f.relative_to(repo_root)) for f in (repo_root / "Sources").rglob("*.swift")
                  if re.search(r"^import (Glibc|Darwin)", f.read_text(), re.M)
                  and not str(f.relative_to(repo_root / "Sources")).startswith(("EOSSystem/", "HDF5Kit/")))
    assert libc == [], f"libc outside EOSSystem/HDF5Kit: {libc}"
    blas = sorted(str(f) for f in (repo_root / "Sources").rglob("*.swift")
                  if "import CLapack" in f.read_text() and "/EOSNumerics/" not in str(f))
    assert blas == []


def test_no_source_over_600_lines_and_no_generated_source(repo_root):
    for f in list((repo_root / "Sources").rglob("*.swift")) + list((repo_root / "Plugins").rglob("*.swift")):
        n = f.read_text().count("\n")
        assert n <= 600, f"{f.relative_to(repo_root)} has {n} lines"
    assert not (repo_root / "Sources" / "TrajectoryFormat" / "EmbeddedSchema.swift").exists()


def test_product_help_lists_user_commands_only(eostrace):
    p = eostrace("--help", check=True)
    section = p.stdout.split("SUBCOMMANDS:")[1]
    listed = re.findall(r"^  ([a-z][a-z-]*)\s", section, re.M)
    assert listed == USER_COMMANDS
    for hidden in ("_fuzz", "bench-write", "_make-sample", "_synthetic-writer"):
        assert eostrace(hidden).returncode != 0

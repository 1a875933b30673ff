"""ENOSPC at every write while `record` creates its file (issue 11).

libhdf5 1.10.8 crashed (SIGSEGV in H5D_close, reached from H5Fstart_swmr_write) when ENOSPC hit
the deferred write of /data/X: the sieve buffer flushed it only when the Swift handle closed the
dataset, that close failed, and libhdf5 left the identifier registered with the dataset freed.
Files opened for writing now have no sieve buffer (HDF5Kit `HDF5File`), so the write fails in
`H5Dwrite`, where it is reported.

Every pwrite64 before the rename of `<file>.creating` into place is turned into ENOSPC (strace
fault injection): exactly one line on stderr naming the file and "No space left on device",
exit 1, no crash, no `.creating` left, and the target as it was (absent, or with --force the file
it would have replaced, byte for byte).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

STRACE = shutil.which("strace") or "/usr/bin/strace"
RUN = ["record", "--preset", "linear-synthetic", "--steps", "20", "--n", "20", "--checkpoint-every", "5",
       "--batch-steps", "4", "--pipeline", "off", "--quiet"]


def traced(binary, args, inject=None, log="/dev/null", trace="pwrite64"):
    cmd = [STRACE, "-f", "-qq", "-o", str(log), "-e", "trace=" + trace]
    if inject:
        cmd += ["-e", "inject=" + inject]
    return subprocess.run(cmd + [str(binary), *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def creation_writes(tmp_path_factory, eostrace_bin):
    """The number of pwrite64 calls before the file is renamed into place."""
    tmp = tmp_path_factory.mktemp("create")
    log = tmp / "calls.txt"
    p = traced(eostrace_bin, [*RUN, "-o", tmp / "count.h5"], log=log, trace="pwrite64,rename")
    assert p.returncode == 0, p.stderr
    writes = 0
    for line in log.read_text().splitlines():
        if "rename(" in line and ".creating" in line:
            break
        if "pwrite64(" in line:
            writes += 1
    else:
        pytest.fail("no rename of the .creating file")
    assert writes >= 5, writes
    return writes


def check_refused(p, out: Path, where: str):
    assert p.returncode == 1, f"{where}: exit {p.returncode}: {p.stderr}"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, f"{where}: {p.stderr}"
    assert lines[0].startswith(f"eostrace: {out}: ") and "No space left on device" in lines[0], f"{where}: {lines[0]}"
    assert "failed fatally" not in lines[0], f"{where}: {lines[0]}"
    assert not Path(str(out) + ".creating").exists(), f"{where}: .creating left behind"
    assert p.stdout == "", f"{where}: {p.stdout}"


def test_enospc_at_every_creation_write(creation_writes, eostrace_bin, tmp_path):
    for k in range(1, creation_writes + 1):
        out = tmp_path / f"new-{k}.h5"
        p = traced(eostrace_bin, [*RUN, "-o", out], inject=f"pwrite64:error=ENOSPC:when={k}")
        check_refused(p, out, f"ENOSPC at pwrite64 #{k}")
        assert not out.exists(), f"ENOSPC at pwrite64 #{k}: a half-made file at the target"


def test_enospc_while_creating_keeps_the_replaced_file(creation_writes, eostrace_bin, tmp_path):
    old = tmp_path / "old.h5"
    assert subprocess.run([str(eostrace_bin), *RUN, "--steps", "3", "-o", old], capture_output=True).returncode == 0
    digest = hashlib.sha256(old.read_bytes()).hexdigest()
    for k in sorted({1, 2, 3, creation_writes, *range(4, creation_writes, 5)}):
        p = traced(eostrace_bin, [*RUN, "--force", "-o", old], inject=f"pwrite64:error=ENOSPC:when={k}")
        check_refused(p, old, f"--force, ENOSPC at pwrite64 #{k}")
        assert hashlib.sha256(old.read_bytes()).hexdigest() == digest, f"ENOSPC at #{k}: the replaced file changed"

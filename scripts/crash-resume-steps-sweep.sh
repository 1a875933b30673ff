#!/usr/bin/env bash
# Kill sweep of the `/run@config` rewrite of `record --resume --steps` (issue 11, open item).
#
# A 20-step recording (Tests/python/test_crash_record.py's RUN) is killed after 8-20 steps, then
# resumed with `--steps 30`; each pwrite64 K of the resume in turn is turned into SIGKILL
# (`strace -e inject=pwrite64:signal=SIGKILL:when=K`). After each kill: h5py (SWMR read) must read
# /run@config as JSON (steps 20 or 30), `eostrace info` must open the file, and a second
# `record --resume --steps 30` must end identical (`eostrace diff`) to an uninterrupted 30-step run.
#
# Usage: scripts/crash-resume-steps-sweep.sh [K ...]   (default: every pwrite64 of the resume;
#        about 1.5 s per point on 2 shared cores; the rewrite lies in the first ~25)
# Needs: strace, python3 with h5py, a built .build/debug/eostrace (or $EOSTRACE_BIN).
# Prints one line per K and "bad [K, ...]"; exit 1 when any K fails.
#
# Measured 2026-12-02 (libhdf5 1.10.8, debug build), before the fix: rewriting the attribute in the
# recording failed at 2 of the resume's 224 pwrite64 calls (delete-and-create: K = 12, 13; an
# in-place H5Awrite of the variable-length string: K = 7, 8): the /run object header reached the disk
# before the new global heap collection, so /run@config read "len not positive after adjustment for
# EOA" (h5py) and `--resume` said "no /run@config". Writing the new value to a second attribute
# first was worse (the /run header grew into a continuation chunk: a kill at K = 8 lost
# /run@learning_rate). Now the new config goes into a copy renamed over the recording
# (TrajectoryWriter.replaceRunConfigByCopy): 0 of 222 kill points fail (the last one leaves the
# completed run, which a resume rightly refuses).
# The suite runs the first 12 pwrite64 calls and every fsync/rename/unlink
# (Tests/python/test_crash_record.py::test_kill_resume_steps_change_at_every_write; all with
# scripts/crash-sweep.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export EOSTRACE_BIN="${EOSTRACE_BIN:-$PWD/.build/debug/eostrace}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/eostrace-steps-sweep.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
exec python3 - "$WORK" "$@" <<'PY'
import json, os, shutil, subprocess, sys
from pathlib import Path
sys.path.insert(0, "Tests/python")
import h5py
import test_crash_record as t
B = os.environ["EOSTRACE_BIN"]
tmp = Path(sys.argv[1])
run30 = list(t.RUN); run30[run30.index("--steps") + 1] = "30"
ref30 = tmp / "ref30.h5"
assert t.run(B, *run30, "-o", ref30).returncode == 0
part = tmp / "partial.h5"
n_record = t.count_calls(B, [*t.RUN, "-o", tmp / "count.h5"], tmp)["pwrite64"]
for k in range(n_record * 2 // 3, 0, -5):
    part.unlink(missing_ok=True)
    t.traced(B, [*t.RUN, "-o", part], inject=f"pwrite64:signal=SIGKILL:when={k}")
    if part.exists():
        with h5py.File(part, "r", libver="latest", swmr=True) as f:
            n, st = f["trajectory/step"].shape[0], f["run/status"][()]
        if st != b"completed" and 8 <= n < 21:
            break
else:
    sys.exit("no partial recording with 8-20 steps")
work = tmp / "work.h5"
resume = ["record", "-o", work, "--resume", "--quiet", "--batch-steps", "4", "--steps", "30"]
shutil.copy(part, work)
calls = t.count_calls(B, resume, tmp)["pwrite64"]
assert t.run(B, "diff", ref30, work).returncode == 0
ks = [int(a) for a in sys.argv[2:]] or range(1, calls + 1)
print(f"resume makes {calls} pwrite64 calls; partial run has {n} steps", flush=True)
bad = []
for k in ks:
    shutil.copy(part, work)
    t.traced(B, resume, inject=f"pwrite64:signal=SIGKILL:when={k}", timeout=60)
    try:
        with h5py.File(work, "r", libver="latest", swmr=True) as f:
            why = f"config steps={json.loads(f['run'].attrs['config']).get('steps')}"
            completed = f["run/status"][()].rstrip(b"\0") == b"completed"
    except Exception as e:
        why, completed = f"config unreadable: {e}", False
    i = t.run(B, "info", work)
    r = t.run(B, *resume)
    if completed:  # killed after the last write: nothing to resume, the file must be the reference
        r = subprocess.CompletedProcess(r.args, 0 if "nothing to resume" in r.stderr else r.returncode, "", "completed")
    d = t.run(B, "diff", ref30, work)
    ok = i.returncode == 0 and r.returncode == 0 and d.returncode == 0 and "unreadable" not in why
    print(k, why, "| info", i.returncode, "| resume", r.returncode, r.stderr.strip()[:120], "| diff", d.returncode,
          "" if ok else "FAIL", flush=True)
    if not ok:
        bad.append(k)
print("bad", bad)
sys.exit(1 if bad else 0)
PY

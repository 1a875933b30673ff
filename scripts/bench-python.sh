#!/usr/bin/env bash
# Benchmark of the Python/JAX recorder (see scripts/bench-python.py for what is measured).
# Usage: scripts/bench-python.sh [--steps 7] [--skip cohen,...]   Prints JSON with the load average.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench-python: load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
# one BLAS thread: numpy's threaded OpenBLAS on a shared 2-core machine measures contention
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
exec python3 scripts/bench-python.py "$@"

#!/usr/bin/env bash
# Benchmark of recording cost on the default preset (fmnist-tanh: Fashion-MNIST n=1000, tanh MLP):
#   (a) a plain GD step, (b) a fully recorded step (exact Gram M, top-k of M every step),
#   (c) the common practice: Lanczos (scipy.sparse.linalg.eigsh) on float64 Hessian-vector
#       products (JAX if installed, else hand-written numpy R-operator) for the same network.
# Usage: scripts/bench-record.sh [STEPS]   (env: THREADS, default 1 thread for BLAS and XLA)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-30}"
THREADS="${THREADS:-1}"
export OPENBLAS_NUM_THREADS="$THREADS"
export XLA_FLAGS="${XLA_FLAGS:---xla_cpu_multi_thread_eigen=$([ "$THREADS" = 1 ] && echo false || echo true) intra_op_parallelism_threads=$THREADS}"
for product in eostrace eostrace-dev; do
    swift build -c release --product "$product" >/dev/null 2>&1 || swift build -c release --product "$product"
done
BIN=.build/release/eostrace
DEV=.build/release/eostrace-dev
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$DEV" bench-record "$STEPS" > "$TMP/swift.txt"
# The plain GD step again with OpenBLAS on 2 threads (both cores): the fastest plain step this
# machine offers, for the comparison with the pipelined recorder, which uses both cores too.
EOSTRACE_BLAS_THREADS=2 OPENBLAS_NUM_THREADS=2 "$DEV" bench-record "$STEPS" | sed -n 's/^plain_/plain2_/p' >> "$TMP/swift.txt"
# Step 0 of the same run (X, Y, θ(0), Hessian sharpness by our Lanczos) for the Python side.
"$BIN" record --steps 0 --hessian-every 1 --quiet -o "$TMP/step0.h5" > /dev/null
python3 scripts/bench-record.py "$TMP/swift.txt" "$TMP/step0.h5"

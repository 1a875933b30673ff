#!/usr/bin/env bash
# Cost of recording the M-products (format 1.1: gram_residual, r_prime, r_prime_from_start) on the
# default preset (fmnist-tanh: Fashion-MNIST n = 1000, tanh MLP, see Sources/EOSRun/Presets.swift):
# CPU time per recorded step of the recorder (`eostrace-dev bench-products`: Trainer.run into a
# real file, serial, OpenBLAS on one thread, cadenced extras off, data loading outside the
# measurement), with and without the products, ROUNDS interleaved rounds (order alternating),
# STEPS steps per run; prints the medians and the ratio (the issue's bound: ≤ +5 %).
# Usage: scripts/bench-products.sh [STEPS] [ROUNDS]   (default 40 steps, 10 rounds; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-40}"
ROUNDS="${2:-10}"
export OPENBLAS_NUM_THREADS=1 EOSTRACE_BLAS_THREADS=1
swift build -c release --product eostrace-dev >/dev/null 2>&1 || swift build -c release --product eostrace-dev
.build/release/eostrace-dev bench-products --steps "$STEPS" --rounds "$ROUNDS"

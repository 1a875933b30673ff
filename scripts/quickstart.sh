#!/usr/bin/env bash
# Sets up everything on Debian 12 (system packages, Python packages, a release build), then runs
# the main job on the default preset: record a Fashion-MNIST tanh-MLP run at the Edge of
# Stability, validate it, analyze it and draw its report. Outputs go to out/quickstart/
# (replaced on each run of this script, nothing else is touched).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

bash scripts/install-deps.sh
swift build -c release --product eostrace 2>&1 | tail -n 1
BIN=.build/release/eostrace
OUT=out/quickstart
rm -rf "$OUT"; mkdir -p "$OUT"

echo "== record (preset fmnist-tanh)"
"$BIN" record --preset fmnist-tanh -o "$OUT/fmnist-tanh.h5"
echo "== validate"
"$BIN" validate "$OUT/fmnist-tanh.h5"
echo "== analyze"
"$BIN" analyze "$OUT/fmnist-tanh.h5" -o "$OUT/fmnist-tanh.analysis.h5" --csv "$OUT/fmnist-tanh.steps.csv"
echo "== report"
"$BIN" report "$OUT/fmnist-tanh.h5" -o "$OUT/fmnist-tanh.html"
echo
echo "Done. Files in $OUT/: the recording (.h5), the /analysis group (.analysis.h5), the per-step"
echo "table (.steps.csv) and the report (.html, open it in a browser). Every number: $BIN analyze --json RUN."

#!/usr/bin/env bash
# Writes the real sample recordings with the project's own recorder (eostrace record):
#   samples/fmnist-tanh-small.h5       Fashion-MNIST T-shirt (+1) vs Shirt (−1), n = 100, tanh MLP 784-16-16-1, η = 0.05
#   samples/linear-synthetic-small.h5  synthetic data (Assumption 4.1), n = 60, d = 20, two-layer linear m = 100, η = 4.5
#   samples/fmnist-tanh-hover-small.h5 the hovering run, n = 50, η = 0.045: steps 200…800 of its run, recorded as
#                                      a fork (`record --from`) of the first 200 steps (see samples/README.md)
# The first two: 300 GD steps, top-2 eigenpairs of M every step, spectrum and Hessian sharpness every 50
# steps, θ checkpoints every 100 (replayable: `eostrace analyze` rebuilds the exact M), then
# h5repack -f SHUF -f GZIP=9 (lossless; keeps dimension scales) to stay near 2 MB. Format 1.1: the
# M-products and the solver cost are recorded at every step (the default of `record`).
# Deterministic: single-threaded BLAS; re-running with the same OpenBLAS kernels (samples/blas-core.txt)
# gives identical numbers (tested in CLITests). OpenBLAS picks its kernels per CPU at run time; the script
# asks for the samples' kernel set with OPENBLAS_CORETYPE when the CPU has its instructions (a DYNAMIC_ARCH
# OpenBLAS then uses it; elsewhere the variable is ignored and blas-core.txt says what ran).
# Set OPENBLAS_CORETYPE yourself to override (an empty value: the CPU's own kernels).
# The synthetic sample (samples/synthetic-small.h5) is written by `eostrace-dev make-sample`.
# Usage: scripts/make-samples.sh [OUTDIR]   (env: EOSTRACE_BIN, default .build/debug/eostrace;
#                                           EOSTRACE_DEV_BIN, default .build/debug/eostrace-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-samples}"
export OPENBLAS_NUM_THREADS=1
# The samples' kernels are Haswell's (AVX2 + FMA): asked for only where the CPU has both (a forced
# kernel set the CPU cannot run would stop on an illegal instruction).
CORE="$(tr -d '[:space:]' < samples/blas-core.txt)"
if [ -z "${OPENBLAS_CORETYPE+set}" ] && [ "$CORE" = Haswell ] \
   && grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo 2>/dev/null; then
    export OPENBLAS_CORETYPE=Haswell
fi
BIN="${EOSTRACE_BIN:-.build/debug/eostrace}"
[ -x "$BIN" ] || swift build --product eostrace >/dev/null
DEV="${EOSTRACE_DEV_BIN:-.build/debug/eostrace-dev}"
[ -x "$DEV" ] || swift build --product eostrace-dev >/dev/null
command -v h5repack >/dev/null || { echo "make-samples: h5repack not found (apt-get install hdf5-tools)" >&2; exit 1; }
mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
COMMON=(--k 2 --steps 300 --spectrum-every 50 --hessian-every 50 --checkpoint-every 100 --cross-check-every 50
        --compression 6 --batch-steps 64 --quiet --force)

"$BIN" record --preset fmnist-tanh --n 100 --widths 16,16 --lr 0.05 "${COMMON[@]}" -o "$TMP/fmnist.h5" > "$TMP/fmnist.txt"
cat > "$TMP/linear.json" <<'JSON'
{"data": {"kind": "synthetic", "n": 60, "seed": 0, "d": 20, "chi": 3, "gap": 2, "decay": 1.1},
 "model": {"kind": "two_layer_linear", "input_dim": 20, "width": 100},
 "init_seed": 0, "init_scale": 0.1, "learning_rate": 4.5, "steps": 300}
JSON
"$BIN" record --config "$TMP/linear.json" "${COMMON[@]}" -o "$TMP/linear.h5" > "$TMP/linear.txt"
# The hovering run (samples/README.md): n = 50, no spectrum or Hessian. Its first 200 steps (Λ rises
# from 3.6 to 42.7, below 2/η = 44.4) are recorded, then steps 200…800 as a fork of θ(200): the same
# GD steps bit for bit, renumbered 0…600 (keeps the sample under 2 MB with the M-products).
"$BIN" record --preset fmnist-tanh --n 50 --widths 16,16 --k 2 --lr 0.045 --steps 200 --checkpoint-every 200 \
    --spectrum-every 0 --hessian-every 0 --cross-check-every 50 --quiet --force \
    -o "$TMP/hover-first-200.h5" > /dev/null
"$BIN" record --from "$TMP/hover-first-200.h5@200" --steps 600 --checkpoint-every 300 \
    --spectrum-every 0 --hessian-every 0 --cross-check-every 50 --compression 6 --batch-steps 64 --quiet --force \
    -o "$TMP/hover.h5" > "$TMP/hover.txt"

# The numbers are bit-reproducible only with the same OpenBLAS kernels (chosen per CPU at run
# time); the test that re-records the samples checks bit for bit only on a matching machine.
"$DEV" blas-core > "$OUT/blas-core.txt"

for pair in "fmnist:fmnist-tanh-small" "linear:linear-synthetic-small" "hover:fmnist-tanh-hover-small"; do
    src="${pair%%:*}"; dst="$OUT/${pair##*:}.h5"
    rm -f "$dst"
    h5repack -f SHUF -f GZIP=9 "$TMP/$src.h5" "$dst"
    "$BIN" validate "$dst" >/dev/null
    printf '%s: %s bytes; %s\n' "$dst" "$(stat -c %s "$dst")" \
        "$(grep -E '^(eos_first_crossing|eos_cycles|max_sharpness)' "$TMP/$src.txt" | tr '\n' ' ')"
done

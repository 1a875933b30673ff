#!/usr/bin/env bash
# Cost of recording the M-products (format 1.1: gram_residual, r_prime, r_prime_from_start) on the
# default preset (fmnist-tanh: Fashion-MNIST n = 1000, tanh MLP): CPU time (user + system, from
# getrusage of each child) of whole `eostrace record` runs with and without `--no-products`,
# interleaved (the order alternates every round), RUNS rounds, STEPS steps each; a `--steps 0`
# run per round measures the start-up CPU (data, θ(0), file creation), which is subtracted, so
# the medians are CPU seconds per recorded step. Cadenced extras (spectrum, Hessian, cross-checks)
# are off: the denominator is the bare recorded step (M, top-k eigensolve, writes).
# Prints the medians and the ratio (with / without − 1), the issue's bound is ≤ 5 %.
# Usage: scripts/bench-products.sh [STEPS] [RUNS]   (default 20 steps, 10 rounds; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-20}"
RUNS="${2:-10}"
export OPENBLAS_NUM_THREADS="${THREADS:-1}"
swift build -c release --product eostrace >/dev/null 2>&1 || swift build -c release --product eostrace
BIN=.build/release/eostrace
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 - "$BIN" "$TMP" "$STEPS" "$RUNS" <<'PY'
import os, resource, statistics, subprocess, sys
binary, tmp, steps, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base = [binary, "record", "--spectrum-every", "0", "--hessian-every", "0", "--cross-check-every", "0",
        "--pipeline", "off", "--quiet", "--force", "-o", os.path.join(tmp, "run.h5")]

def cpu(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(base + args, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

with_p, without_p, startup = [], [], []
for r in range(runs):
    startup.append(cpu(["--steps", "0"]))
    order = [True, False] if r % 2 == 0 else [False, True]
    for products in order:
        c = cpu(["--steps", str(steps)] + ([] if products else ["--no-products"]))
        (with_p if products else without_p).append(c)
s0 = statistics.median(startup)
per = lambda xs: [(x - s0) / steps for x in xs]
mw, mo = statistics.median(per(with_p)), statistics.median(per(without_p))
print(f"rounds {runs}, steps per run {steps}, start-up CPU median {s0:.3f} s")
print(f"cpu_per_step_with_products_s {mw:.5f}")
print(f"cpu_per_step_without_products_s {mo:.5f}")
print(f"products_overhead_ratio {mw / mo - 1:+.4f}  (bound +0.05)")
print("raw with    " + " ".join(f"{x:.3f}" for x in with_p))
print("raw without " + " ".join(f"{x:.3f}" for x in without_p))
print("raw startup " + " ".join(f"{x:.3f}" for x in startup))
PY

#!/usr/bin/env bash
# Benchmark of the c-output numerics (docs/MULTI-OUTPUT.md): Fashion-MNIST, 10 classes one-hot,
# fc-tanh [200, 200], n = N (default 1,000, so n·c = 10⁴):
#   (a) a plain GD step on one core and on two (EOSTRACE_BLAS_THREADS),
#   (b) a "recorded step": loss, gradient, per-output signals, the exact top-8 of the c-output
#       Gram M by the warm-started block solver on the matrix-free product (tolerance 1e-10,
#       as for one output), plus M·vec(D), M·vec(F) and λ_max(M_A),
#   (b') the same with Lanczos (one Krylov sequence) and block Lanczos (b = 2, 8),
#   (c) the peer: Cohen et al.'s scipy eigsh(k=8, which='LA', tol=1e-10, warm v0) on float64
#       Hessian-vector products of the same network at the same θ (scripts/bench-multi.py),
#   (d) memory at n = 5,000 (matrix-free; n·c = 5·10⁴).
# Usage: scripts/bench-multi.sh [N] [STEPS]   (env: PEER_STEPS, default 3; SKIP_5000=1; SKIP_BUILD=1)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
STEPS="${2:-7}"
PEER_STEPS="${PEER_STEPS:-3}"
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c release --product eostrace-dev >/dev/null 2>&1 || swift build -c release --product eostrace-dev
DEV=.build/release/eostrace-dev
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "## one core (EOSTRACE_BLAS_THREADS=1)"
EOSTRACE_BLAS_THREADS=1 "$DEV" bench-multi --n "$N" --steps "$STEPS" --dump "$TMP/start" | tee "$TMP/one.txt"
echo "## one core, solver preconditioned by the output layer's term (--precondition 1.05)"
EOSTRACE_BLAS_THREADS=1 "$DEV" bench-multi --n "$N" --steps "$STEPS" --precondition 1.05 | tee "$TMP/pre.txt"
echo "## one core, Lanczos solver (one vector per product, start = sum of the previous eigenvectors)"
EOSTRACE_BLAS_THREADS=1 "$DEV" bench-multi --n "$N" --steps "$STEPS" --lanczos --verify | tee "$TMP/lan.txt"
echo "## one core, block Lanczos (Lanczos.blockTopK, b = 2 and 8, start = the previous eigenvectors folded into b vectors)"
EOSTRACE_BLAS_THREADS=1 "$DEV" bench-multi --n "$N" --steps "$STEPS" --block-lanczos 2 --verify | tee "$TMP/blk2.txt"
EOSTRACE_BLAS_THREADS=1 "$DEV" bench-multi --n "$N" --steps "$STEPS" --block-lanczos 8 --verify | tee "$TMP/blk8.txt"
echo "## two cores (EOSTRACE_BLAS_THREADS=2), block solver"
EOSTRACE_BLAS_THREADS=2 "$DEV" bench-multi --n "$N" --steps "$STEPS" | tee "$TMP/two.txt"
echo "## two cores, block Lanczos b = 8"
EOSTRACE_BLAS_THREADS=2 "$DEV" bench-multi --n "$N" --steps "$STEPS" --block-lanczos 8 | tee "$TMP/twoblk8.txt"
echo "## two cores, Lanczos"
EOSTRACE_BLAS_THREADS=2 "$DEV" bench-multi --n "$N" --steps "$STEPS" --lanczos | tee "$TMP/twolan.txt"
echo "## peer: scipy eigsh on numpy HVPs, one core (OPENBLAS_NUM_THREADS=1)"
OPENBLAS_NUM_THREADS=1 python3 scripts/bench-multi.py "$TMP/start" --steps "$PEER_STEPS" | tee "$TMP/peer.txt"
if [ "${SKIP_5000:-0}" != 1 ]; then
    echo "## memory at n = 5000 (matrix-free), one core"
    EOSTRACE_BLAS_THREADS=1 "$DEV" bench-multi --n 5000 --steps 2 --warmup 1 --plain-steps 3 --lanczos | tee "$TMP/n5000.txt"
fi
val() { sed -n "s/^$2 //p" "$TMP/$1.txt" | head -1; }
python3 - "$(val one plain_step_ms)" "$(val one recorded_step_ms)" "$(val two plain_step_ms)" "$(val two recorded_step_ms)" \
    "$(val peer peer_step_ms)" "$(val peer plain_step_ms)" "$(val pre recorded_step_ms)" \
    "$(val one plain_step_cpu_ms)" "$(val one recorded_step_cpu_ms)" "$(val pre recorded_step_cpu_ms)" "$(val peer peer_step_cpu_ms)" \
    "$(val lan recorded_step_ms)" "$(val lan recorded_step_cpu_ms)" "$(val twolan recorded_step_ms)" <<'PY'
import sys
p1, r1, p2, r2, peer, peerplain, pre, p1c, r1c, prec, peerc, lan, lanc, twolan = map(float, sys.argv[1:])
print("## summary (medians, ms)")
print(f"plain step, 1 core           {p1:10.1f}")
print(f"plain step, 2 cores          {p2:10.1f}")
print(f"recorded step, 1 core        {r1:10.1f}   = {r1 / p1:5.1f}x the 1-core plain step")
print(f"recorded step, 1 core, prec. {pre:10.1f}   = {pre / p1:5.1f}x the 1-core plain step")
print(f"recorded step, 1 core, Lanczos {lan:8.1f}   = {lan / p1:5.1f}x the 1-core plain step")
print(f"recorded step, 2 cores, Lanczos {twolan:7.1f}   = {twolan / p1:5.1f}x the 1-core plain step, {twolan / p2:5.1f}x the 2-core one")
print(f"recorded step, 2 cores       {r2:10.1f}   = {r2 / p1:5.1f}x the 1-core plain step, {r2 / p2:5.1f}x the 2-core one")
print(f"peer (eigsh on HVPs), 1 core {peer:10.1f}   = {peer / r1:5.1f}x our 1-core recorded step (numpy plain step {peerplain:.1f})")
print("## one core, CPU time (insensitive to waiting for a core on a shared machine)")
print(f"plain step                   {p1c:10.1f}")
print(f"recorded step                {r1c:10.1f}   = {r1c / p1c:5.1f}x")
print(f"recorded step, preconditioned {prec:9.1f}   = {prec / p1c:5.1f}x")
print(f"recorded step, Lanczos       {lanc:10.1f}   = {lanc / p1c:5.1f}x")
print(f"peer                         {peerc:10.1f}   = {peerc / r1c:5.1f}x our block-solver step, {peerc / lanc:5.1f}x our Lanczos step")
PY
for f in blk2 blk8 twoblk8; do
    echo "$f: recorded_step_ms $(val $f recorded_step_ms) recorded_step_cpu_ms $(val $f recorded_step_cpu_ms) plain_step_cpu_ms $(val $f plain_step_cpu_ms) applied_vectors_median $(val $f applied_vectors_median)"
done
echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at the end"

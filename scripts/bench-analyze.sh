#!/usr/bin/env bash
# Benchmark `eostrace analyze` (release build) on a 5,000-step default-preset (fmnist-tanh)
# recording: the analysis from the recorded M-products (format 1.1: exact, no replay) against the
# replay-verified run (`--verify-replay`: GD replayed from the checkpoints and compared), with
# wall and CPU time, the ratio, and peak memory (/usr/bin/time -v), and optionally the numpy
# replay reference (scripts/bench_analyze_reference.py, NUMPY=1).
#
#   scripts/bench-analyze.sh [RUN.h5]
#
# Without RUN, records STEPS (default 5000) steps of the default preset once with `eostrace
# record` (products are written by default) and caches it under out/bench/ (minutes); later runs
# reuse it. RUNS (default 3) timed analyses with products, median reported; VERIFY_RUNS (default
# 1) replay-verified ones. Target: with products ≤ 5 s wall.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-5000}
RUNS=${RUNS:-3}
VERIFY_RUNS=${VERIFY_RUNS:-1}
CACHE=${BENCH_DIR:-out/bench}
BIN=${EOSTRACE_BIN:-.build/release/eostrace}
mkdir -p "$CACHE"
WORK=$(mktemp -d /tmp/bench-analyze.XXXXXX)

if [[ ! -x "$BIN" || -n "${REBUILD:-}" ]]; then
    swift build -c release --product eostrace >&2
fi

RUN=${1:-}
if [[ -z "$RUN" ]]; then
    RUN="$CACHE/fmnist-tanh-$STEPS.h5"
    if [[ ! -f "$RUN" ]]; then
        echo "recording $STEPS steps of the default preset (once; cached) → $RUN" >&2
        { /usr/bin/time -f "%e %U %S %M" "$BIN" record --steps $((STEPS - 1)) --output "$RUN.part" --quiet >&2; } 2> "$CACHE/record.time"
        mv "$RUN.part" "$RUN"
    fi
fi
if ! python3 -c "import h5py,sys; sys.exit(0 if 'gram_residual' in h5py.File(sys.argv[1],'r')['trajectory'] else 1)" "$RUN"; then
    echo "NOTE: $RUN has no recorded M-products (format 1.0): both runs replay" >&2
fi

# One timed run: "wall user sys maxrss_kB" appended to $2.
timed() {
    local out=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/t" "$BIN" analyze "$RUN" --json --quiet "$@" > "$WORK/last.json"
    cat "$WORK/t" >> "$out"
}
for _ in $(seq "$RUNS"); do timed "$WORK/products.times"; done
cp "$WORK/last.json" "$WORK/products.json"
if (( VERIFY_RUNS > 0 )); then
    for _ in $(seq "$VERIFY_RUNS"); do timed "$WORK/verify.times" --verify-replay; done
    cp "$WORK/last.json" "$WORK/verify.json"
fi
if [[ -n "${NUMPY:-}" ]]; then
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/numpy.times" python3 scripts/bench_analyze_reference.py "$RUN" --json "$WORK/numpy.json" > /dev/null
fi
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$WORK" "$RUN" "$LOAD" "$RUNS" <<'EOF'
import json, os, statistics, sys
work, run, load, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def times(name):
    rows = [[float(x) for x in l.split()] for l in open(f"{work}/{name}.times") if l.strip()]
    med = lambda i: statistics.median(r[i] for r in rows)
    return {"wall": med(0), "cpu": statistics.median(r[1] + r[2] for r in rows), "rss_mb": max(r[3] for r in rows) / 1024,
            "walls": [r[0] for r in rows]}
p = times("products")
pj = json.load(open(f"{work}/products.json"))
have_v = os.path.exists(f"{work}/verify.times")
if have_v:
    v = times("verify")
    vj = json.load(open(f"{work}/verify.json"))
print(f"recording: {run}; {pj['run']['rows']} steps, n={pj['run']['n']}, k={pj['run']['k']}, "
      f"{os.path.getsize(run) / 1e6:.0f} MB; load average {load}")
print(f"M (products run): {pj['gram']['label']}")
print(f"analyze with products:   median wall {p['wall']:7.2f} s  cpu {p['cpu']:7.2f} s  peak RSS {p['rss_mb']:6.0f} MB"
      f"  (runs: {', '.join(f'{w:.2f}' for w in p['walls'])}; target <= 5 s wall)")
if not have_v:
    print("(VERIFY_RUNS=0: no replay-verified run)")
    sys.exit(0)
print(f"analyze --verify-replay: median wall {v['wall']:7.2f} s  cpu {v['cpu']:7.2f} s  peak RSS {v['rss_mb']:6.0f} MB")
print(f"ratio replay-verified / products: wall {v['wall'] / p['wall']:7.1f}x  cpu {v['cpu'] / max(p['cpu'], 1e-9):7.1f}x")
ver = vj["gram"].get("verification") or {}
print(f"verification: {ver.get('rows_beyond_tolerance')} rows beyond {ver.get('tolerance')}; replayed vs recorded "
      f"M·D {ver.get('max_gram_residual_difference')}, r_prime {ver.get('max_r_prime_difference')}, "
      f"r_prime_from_start {ver.get('max_r_prime_from_start_difference')}")
# Both runs use the products for the results: the M-dependent numbers must be the same.
for key in ("r_prime_error", "r_prime_error_from_start", "first_order_error"):
    a, b = pj["per_step"][key], vj["per_step"][key]
    assert a == b, f"{key} differs between the products run and the verified run"
print("M-dependent per-step series identical in both runs: yes")
if os.path.exists(f"{work}/numpy.times"):
    n = times("numpy")
    print(f"numpy replay reference:  wall {n['wall']:7.2f} s  cpu {n['cpu']:7.2f} s  peak RSS {n['rss_mb']:6.0f} MB"
          f"  ratio numpy/products {n['wall'] / p['wall']:.1f}x")
EOF
if [[ -f "$CACHE/record.time" ]]; then
    echo "recording (once, cached): wall/user/sys/maxrss_kB $(cat "$CACHE/record.time" | tail -1)"
fi

#!/usr/bin/env bash
# Benchmark `eostrace analyze` (release build, exact Gram by replay) against a straightforward
# numpy implementation of the same computations (scripts/bench_analyze_reference.py).
#
#   scripts/bench-analyze.sh [RUN.h5]
#
# Without RUN, records 5,000 steps of the default preset with `eostrace record` when that command
# exists, else generates a synthetic stand-in of the same sizes with numpy
# (scripts/bench_analyze_generate.py) and says so. Prints both times, the ratio, and the largest
# differences between the two implementations' key numbers. Target: ≥ 3× faster than numpy and
# < 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-5000}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/bench-analyze.XXXXXX)}
BIN=${EOSTRACE_BIN:-.build/release/eostrace}

if [[ ! -x "$BIN" || -n "${REBUILD:-}" ]]; then
    swift build -c release --product eostrace >&2
fi

RUN=${1:-}
if [[ -z "$RUN" ]]; then
    RUN="$WORK/bench-$STEPS.h5"
    if "$BIN" help record >/dev/null 2>&1; then
        echo "recording $STEPS steps of the default preset with eostrace record → $RUN" >&2
        "$BIN" record --steps $((STEPS - 1)) --output "$RUN" >&2
        KIND="eostrace record, default preset"
    else
        echo "NOTE: 'eostrace record' is not available in this build: generating a SYNTHETIC" \
             "stand-in (numpy GD, default-preset sizes) → $RUN" >&2
        python3 scripts/bench_analyze_generate.py "$RUN" --steps "$STEPS" >&2
        KIND="SYNTHETIC numpy stand-in (default-preset sizes)"
    fi
else
    KIND="given file"
fi

# Wall-clock and CPU (user + sys) seconds of each; the machine may be shared, so both are shown.
TIMEFORMAT="%R %U %S"
{ time "$BIN" analyze "$RUN" --json --quiet > "$WORK/swift.json"; } 2> "$WORK/swift.time"
{ time python3 scripts/bench_analyze_reference.py "$RUN" --json "$WORK/numpy.json" > /dev/null; } 2> "$WORK/numpy.time"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$WORK/swift.json" "$WORK/numpy.json" "$WORK/swift.time" "$WORK/numpy.time" "$RUN" "$KIND" "$LOAD" <<'EOF'
import json, math, os, sys
sw, npy = (json.load(open(p)) for p in sys.argv[1:3])
(ws, us, ss), (wn, un, sn) = ([float(x) for x in open(p).read().split()[-3:]] for p in sys.argv[3:5])
run, kind, load = sys.argv[5], sys.argv[6], sys.argv[7]
print(f"recording: {run} ({kind}); {sw['run']['rows']} steps, n={sw['run']['n']}, k={sw['run']['k']}, "
      f"{os.path.getsize(run) / 1e6:.0f} MB; M from: {sw['gram']['label']}; load average {load}")
print(f"eostrace analyze (Swift, release): wall {ws:8.1f} s   cpu {us + ss:8.1f} s")
print(f"numpy reference:                   wall {wn:8.1f} s   cpu {un + sn:8.1f} s")
print(f"ratio numpy/Swift:                 wall {wn / ws:8.2f}x   cpu {(un + sn) / (us + ss):8.2f}x"
      f"   (target >= 3x; Swift target < 120 s wall on 2 cores)")

def f(x):
    return float("nan") if isinstance(x, str) else float(x)

def rel(a, b):
    a, b = f(a), f(b)
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)

checks = {
    "phase rows": (sw["phases"]["rows"]["phase1"], npy["phase_rows"][0]),
    "cycles": (sw["phases"]["cycle_count"], npy["cycles"]),
    "anomalies": (sw["anomalies"]["count"], npy["anomalies"]),
    "co-movement rate": (sw["checks"]["co_movement"]["all"]["rate"], npy["co_movement_rate"]),
    "c1 (last step)": (sw["per_step"]["c1"][-1], npy["c1_last"]),
    "r_norm_sq (last step)": (sw["per_step"]["r_norm_sq"][-1], npy["r_norm_sq_last"]),
    "R' rel. error median (primary)": (sw["r_prime"]["primary"]["rel_error"]["all"]["median"], npy["r_prime_rel_error_primary"]["median"]),
    "R' rel. error max (from start)": (sw["r_prime"]["from_start"]["rel_error"]["all"]["max"], npy["r_prime_rel_error_from_start"]["max"]),
    "3.2 first-order error median": (sw["checks"]["first_order_residual"]["all"]["median"], npy["first_order_residual"]["median"]),
    "3.2 ‖A‖² error median": (sw["checks"]["first_order_output_norm"]["all"]["median"], npy["first_order_output_norm"]["median"]),
    "eps2 p90": (sw["checks"]["eps2"]["all"]["p90"], npy["eps2"]["p90"]),
}
print("agreement Swift vs numpy (relative difference):")
for name, (a, b) in checks.items():
    print(f"  {name:34s} swift {f(a):.6g}  numpy {f(b):.6g}  rel.diff {rel(a, b):.2e}")
rp = sw["gram"].get("replay")
if rp:
    print(f"replay drift (Swift replay vs recorded D): max {rp['max_relative_drift_residual']:.3g} at step "
          f"{rp.get('max_drift_step')}; θ at checkpoints {rp['max_relative_drift_checkpoint']:.3g}; "
          f"numpy replay max drift {npy['max_relative_drift']:.3g}")
EOF

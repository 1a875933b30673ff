#!/usr/bin/env bash
# Fuzz the reader, validator and CLI with corrupted recordings.
#
# Usage: scripts/fuzz.sh [CASES] [SEED] [WORKDIR]     (defaults: 10000, 1, a new temp dir)
#   long documented run:  scripts/fuzz.sh 10000 1     (~20-30 min in a debug build on 2 cores)
#   short run (tests):    scripts/fuzz.sh 200 1       (Tests/python/test_fuzz_short.py)
#
# 1. Corpus (WORKDIR/corpus): samples/*.h5 (real sample recordings), small recordings written
#    during the run by the Swift writer (SWMR; non-SWMR earliest-format; one left by a writer
#    killed with SIGKILL, status "running", SWMR marks set), one written by the Python writer
#    (the eostrace package in python/, h5py), and the structural variants below.
# 2. Structural variants (scripts/fuzz_structural.py, h5py): wrong dtypes/ranks, swapped,
#    missing and wrong-kind objects, link cycles, attribute corruption (format_version [9,0],
#    bad model JSON, negative n, ...). Each is run through `eostrace validate`, `info`,
#    `info --json`, `dump` and `follow` as subprocesses with a timeout.
# 3. Byte-level mutations: `eostrace-dev fuzz --cases CASES --seed SEED --corpus corpus` (developer
#    tool, see Sources/eostrace-dev/FuzzCommand.swift): fork per case, the child runs what
#    validate/info/follow do in-process; exit by signal = crash, alarm = hang, exit not in
#    0/1/2 = bad exit. Findings are copied to WORKDIR/findings with findings.txt.
# 4. Every crash/hang file found is then run through `eostrace validate` and `eostrace info` as
#    subprocesses (timeout 30 s): with CrashGuard, a libhdf5 segfault must end as exit 2 with one
#    line on stderr; a hang stays a hang (reported).
# Last lines: the counts. Exit 0 when no command of steps 2 and 4 crashed or exited outside 0/1/2.
set -uo pipefail
cd "$(dirname "$0")/.."
CASES=${1:-10000}
SEED=${2:-1}
WORK=${3:-$(mktemp -d /tmp/eostrace-fuzz.XXXXXX)}
BIN=${EOSTRACE_BIN:-$PWD/.build/debug/eostrace}
DEV=${EOSTRACE_DEV_BIN:-$PWD/.build/debug/eostrace-dev}
export SWIFT_BACKTRACE=enable=no
[ -x "$BIN" ] || { echo "fuzz.sh: $BIN not built (swift build --product eostrace)"; exit 2; }
[ -x "$DEV" ] || { echo "fuzz.sh: $DEV not built (swift build --product eostrace-dev)"; exit 2; }
mkdir -p "$WORK/corpus" "$WORK/findings"
C="$WORK/corpus"

cp samples/*.h5 "$C/" 2>/dev/null
"$DEV" synthetic-writer "$C/swift-swmr.h5" --steps 40 --flush-every 8 --checkpoint-every 10 >/dev/null
"$DEV" synthetic-writer "$C/swift-earliest.h5" --steps 40 --flush-every 8 --checkpoint-every 10 --no-swmr >/dev/null
"$DEV" synthetic-writer "$C/swift-killed.h5" --steps 100000 --flush-every 8 --delay-ms 2 > "$WORK/killed.out" &
KP=$!
for _ in $(seq 100); do grep -q "^flushed .* 24$" "$WORK/killed.out" 2>/dev/null && break; sleep 0.1; done
kill -9 $KP 2>/dev/null; wait $KP 2>/dev/null
python3 - "$C/py-small.h5" <<'PY'
import sys
sys.path[:0] = ["python", "Tests/python"]
import eostrace_format as ef, conftest
ef.write_recording(sys.argv[1], software="h5py", software_version=ef.h5py.version.version,
                   **conftest.synthetic_run(n=7, d=3, k=3, T=25, p=11))
PY
python3 scripts/fuzz_structural.py "$C/swift-swmr.h5" "$WORK/structural" --check --bin "$BIN" | tee "$WORK/structural.log" | grep -vE "^skip" | tail -n 20
struct_rc=${PIPESTATUS[0]}
# A few structural variants join the byte-level corpus (the rest would dilute it).
for v in version-9-0 model-bad-json n-negative loss-int32 eigvec-rank2 swap-loss-sharpness group-cycle status-vlen; do
    cp "$WORK/structural/struct-$v.h5" "$C/" 2>/dev/null
done
echo "corpus: $(ls "$C" | wc -l) files in $C"

"$DEV" fuzz --cases "$CASES" --seed "$SEED" --corpus "$C" --findings "$WORK/findings" --timeout 10 --progress 250 \
    > "$WORK/fuzz.log" 2>&1
grep -E "^FINDING" "$WORK/fuzz.log" | tail -n 20
tail -n 3 "$WORK/fuzz.log"

# Step 4: the CLI on every finding.
guarded=0; cli_bad=0; cli_hang=0
for f in "$WORK"/findings/*.h5; do
    [ -e "$f" ] || continue
    for cmd in validate info; do
        err=$(timeout 30 "$BIN" $cmd "$f" 2>&1 >/dev/null); rc=$?
        if [ $rc -eq 124 ]; then cli_hang=$((cli_hang + 1))
        elif [ $rc -gt 2 ]; then cli_bad=$((cli_bad + 1)); echo "CLI $cmd exit $rc: $f"
        elif [ $rc -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then cli_bad=$((cli_bad + 1)); echo "CLI $cmd: not one line: $f"
        elif printf '%s' "$err" | grep -q "failed fatally"; then guarded=$((guarded + 1))
        fi
    done
done
echo "cli on findings: $guarded runs ended by CrashGuard (exit 2, one line), $cli_hang hangs (timeout 30 s), $cli_bad crashes or bad exits"
echo "fuzz.sh: work dir $WORK"
[ "$struct_rc" -eq 0 ] && [ "$cli_bad" -eq 0 ]

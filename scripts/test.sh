#!/usr/bin/env bash
# The whole test suite: Swift (XCTest) and Python (pytest interop, samples, report rendering).
# Usage: scripts/test.sh            (from anywhere; builds what it needs)
set -uo pipefail
cd "$(dirname "$0")/.."

swift build 2>&1 | tail -n 3
swift build --product eostrace 2>&1 | tail -n 1
swift build --product eostrace-dev 2>&1 | tail -n 1
export EOSTRACE_BIN="$PWD/.build/debug/eostrace"
export EOSTRACE_DEV_BIN="$PWD/.build/debug/eostrace-dev"
[ -x "$EOSTRACE_BIN" ] || { echo "test.sh: $EOSTRACE_BIN was not built"; exit 1; }
[ -x "$EOSTRACE_DEV_BIN" ] || { echo "test.sh: $EOSTRACE_DEV_BIN was not built"; exit 1; }

swift_log=$(mktemp); py_log=$(mktemp)
swift test 2>&1 | tee "$swift_log" | grep -E "error:|failed|Executed .* tests" | grep -v "passed" | tail -n 40
swift_rc=${PIPESTATUS[0]}

python3 -m pytest -q Tests/python 2>&1 | tee "$py_log" | tail -n 25
py_rc=${PIPESTATUS[0]}

# One closing line for both runners.
sx=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" "$swift_log" | tail -n 1)
s_total=$(echo "$sx" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/'); s_total=${s_total:-0}
s_fail=$(echo "$sx" | sed -E 's/.*with ([0-9]+) failures?.*/\1/'); s_fail=${s_fail:-0}
p_pass=$(grep -oE "[0-9]+ passed" "$py_log" | tail -n 1 | grep -oE "[0-9]+"); p_pass=${p_pass:-0}
p_fail=$(grep -oE "[0-9]+ (failed|error)" "$py_log" | awk '{s+=$1} END {print s+0}')
[ "$swift_rc" -ne 0 ] && [ "$s_fail" -eq 0 ] && s_fail=1
[ "$py_rc" -ne 0 ] && [ "$p_fail" -eq 0 ] && p_fail=1
rm -f "$swift_log" "$py_log"
echo "swift: $((s_total - s_fail)) passed, $s_fail failed"
echo "python: $p_pass passed, $p_fail failed"
echo "total: $((s_total - s_fail + p_pass)) passed, $((s_fail + p_fail)) failed"
[ "$swift_rc" -eq 0 ] && [ "$py_rc" -eq 0 ]

#!/usr/bin/env bash
# Checks that two eostrace binaries behave the same (the "no behaviour change" check of a
# restructure). Usage:
#   scripts/compare-behaviour.sh OLD_BIN NEW_BIN [--steps N] [--allow-format-attribute]
# 1. On every recording in samples/: `analyze --json`, `analyze --csv`, `info`, `info --json`,
#    `validate` print the same bytes (stdout, stderr and exit code).
# 2. On every fuzz regression (samples/fuzz-regressions/*.h5.gz): `validate`, `info`, `analyze`
#    give the same exit codes and messages.
# 3. `analyze --out` files of both binaries are identical (`NEW diff`); with
#    --allow-format-attribute the root `format`/`format_version` attributes may be new in NEW's.
# 4. A default-preset run (`record`, N steps, default 1000 = the whole preset) recorded by each
#    binary: identical (`NEW diff`, volatile fields excepted).
# Prints one line per check and "N passed, N failed" at the end; exit 1 on any difference.
set -uo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: compare-behaviour.sh OLD_BIN NEW_BIN [--steps N] [--allow-format-attribute]}
NEW=${2:?usage: compare-behaviour.sh OLD_BIN NEW_BIN [--steps N] [--allow-format-attribute]}
shift 2
STEPS=1000; ALLOW_FORMAT=0
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) STEPS=$2; shift 2 ;;
        --allow-format-attribute) ALLOW_FORMAT=1; shift ;;
        *) echo "compare-behaviour.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
pass=0; fail=0
check() {  # check NAME: compares $W/old.* with $W/new.*
    if cmp -s "$W/old.out" "$W/new.out" && cmp -s "$W/old.err" "$W/new.err" && [ "$(cat "$W/old.rc")" = "$(cat "$W/new.rc")" ]; then
        pass=$((pass + 1)); echo "same: $1"
    else
        fail=$((fail + 1)); echo "DIFFERENT: $1"
        diff <(cat "$W/old.out" "$W/old.err" "$W/old.rc") <(cat "$W/new.out" "$W/new.err" "$W/new.rc") | head -n 8
    fi
}
both() {  # both NAME ARGS...: runs ARGS under each binary (file paths as given)
    local name=$1; shift
    "$OLD" "$@" >"$W/old.out" 2>"$W/old.err"; echo $? >"$W/old.rc"
    "$NEW" "$@" >"$W/new.out" 2>"$W/new.err"; echo $? >"$W/new.rc"
    # Progress lines ("analyze: step 157/301", ETA) depend on timing: not part of the comparison.
    for e in "$W/old.err" "$W/new.err"; do
        tr '\r' '\n' <"$e" | grep -v -E '^[a-z]+: step [0-9]+/[0-9]+|^\x1B\[K' >"$e.kept"; mv "$e.kept" "$e"
    done
    check "$name"
}

for f in samples/*.h5; do
    both "analyze --json $f" analyze --json "$f"
    both "analyze --csv $f" analyze --csv "$f"
    both "info $f" info "$f"
    both "info --json $f" info --json "$f"
    both "validate $f" validate "$f"
done

for gz in samples/fuzz-regressions/*.h5.gz; do
    f="$W/$(basename "$gz" .gz)"
    gunzip -c "$gz" >"$f"
    for cmd in validate info analyze; do
        both "$cmd $(basename "$f")" $cmd "$f"
    done
done

for f in samples/*.h5; do
    "$OLD" analyze "$f" --out "$W/old-analysis.h5" >/dev/null 2>&1
    "$NEW" analyze "$f" --out "$W/new-analysis.h5" >/dev/null 2>&1
    "$NEW" diff "$W/old-analysis.h5" "$W/new-analysis.h5" >"$W/diff.out" 2>&1; rc=$?
    if [ $rc -ne 0 ] && [ $ALLOW_FORMAT -eq 1 ]; then
        # Only the root format attributes may differ (only in B = new in NEW's file).
        if ! grep -v -E '^/@format(_version)?: only in B$| differ in [0-9]+ objects?$' "$W/diff.out" | grep -q .; then rc=0; fi
    fi
    if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "same: analyze --out $f"
    else fail=$((fail + 1)); echo "DIFFERENT: analyze --out $f"; head -n 8 "$W/diff.out"; fi
done

echo "recording the default preset ($STEPS steps) with each binary..."
"$OLD" record --steps "$STEPS" -o "$W/old-run.h5" >/dev/null 2>"$W/old-record.err"; orc=$?
"$NEW" record --steps "$STEPS" -o "$W/new-run.h5" >/dev/null 2>"$W/new-record.err"; nrc=$?
if [ $orc -ne $nrc ]; then
    fail=$((fail + 1)); echo "DIFFERENT: record exit codes $orc vs $nrc"; tail -n 2 "$W/old-record.err" "$W/new-record.err"
elif "$NEW" diff "$W/old-run.h5" "$W/new-run.h5" >"$W/diff.out" 2>&1; then
    pass=$((pass + 1)); echo "same: record --steps $STEPS (eostrace diff: identical)"
else
    fail=$((fail + 1)); echo "DIFFERENT: record --steps $STEPS"; head -n 12 "$W/diff.out"
fi

echo "compare-behaviour: $pass passed, $fail failed"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# Coverage-guided in-process fuzzing (libFuzzer + AddressSanitizer) of the reader and the validator.
#
#   scripts/libfuzz.sh [RUNS]          # build both harnesses, run RUNS executions each (default 100000)
#   scripts/libfuzz.sh --build-only    # only build .build/libfuzz/{reader,validator}-fuzzer
#
# The harnesses (Fuzz/ReaderFuzz.swift, Fuzz/ValidatorFuzz.swift) are compiled together with the
# package's own sources of HDF5Kit, EOSSystem and TrajectoryFormat (the schema embedded as the
# EmbedSchema plugin does) by `swiftc -sanitize=fuzzer,address -parse-as-library`: no SwiftPM
# product, no unsafeFlags in Package.swift. libhdf5 itself is not instrumented.
# Seeds: samples/*.h5 and samples/fuzz-regressions/*.h5.gz (gunzipped). Each run starts from a
# fresh copy of the seeds in .build/libfuzz/corpus-<name> (libFuzzer adds what it finds there);
# crash inputs land in .build/libfuzz/artifacts/.
# Leak detection is off (libhdf5 keeps free lists and global state until exit). ld.gold prints
# harmless "Cannot export local symbol" warnings while linking.
# Output: one summary line per harness: "<name>: N executions, crashes C" (C = 0 when clean);
# exit 0 when both are clean, 1 otherwise. A short version runs in the suite
# (Tests/python/test_untrusted_input.py::test_libfuzzer_short, 2,000 executions each).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/.build/libfuzz"
RUNS=100000
BUILD_ONLY=0
case "${1:-}" in
  --build-only) BUILD_ONLY=1 ;;
  "") ;;
  *) RUNS=$1 ;;
esac
mkdir -p "$OUT/gen" "$OUT/obj" "$OUT/artifacts"

HDF5_CFLAGS=$(pkg-config --cflags hdf5 2>/dev/null || echo "-I/usr/include/hdf5/serial")
HDF5_LIBDIR=$(pkg-config --libs-only-L hdf5 2>/dev/null | sed 's/^ *-L//; s/ *$//')
[ -n "$HDF5_LIBDIR" ] || HDF5_LIBDIR=/usr/lib/x86_64-linux-gnu/hdf5/serial
SAN=(-sanitize=fuzzer,address -parse-as-library -g -O)
XCC=()
for f in $HDF5_CFLAGS; do XCC+=(-Xcc "$f"); done

# The embedded schema, as Sources/EmbedSchemaTool writes it.
python3 - "$ROOT/schemas/trajectory-v1.json" "$OUT/gen/EmbeddedSchema.swift" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
lit = "".join({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, c) for c in text)
out = '\nextension TrajectorySchema {\n    public static let embeddedJSON: String = "%s"\n}\n' % lit
try:
    if open(sys.argv[2], encoding="utf-8").read() == out: sys.exit(0)
except FileNotFoundError:
    pass
open(sys.argv[2], "w", encoding="utf-8").write(out)
PY

stamp() { find "$@" -name '*.swift' -newer "$OUT/obj/.stamp" 2>/dev/null | head -1; }
if [ ! -f "$OUT/obj/.stamp" ] || [ -n "$(stamp "$ROOT/Sources/HDF5Kit" "$ROOT/Sources/EOSSystem" "$ROOT/Sources/TrajectoryFormat" "$ROOT/Fuzz" "$OUT/gen")" ]; then
  cd "$OUT/obj"
  swiftc "${SAN[@]}" -module-name HDF5Kit -emit-module -emit-library -static -o libHDF5Kit.a \
    -I "$ROOT/Sources/CHDF5" "${XCC[@]}" "$ROOT"/Sources/HDF5Kit/*.swift "$ROOT"/Sources/HDF5Kit/Internals/*.swift
  swiftc "${SAN[@]}" -module-name EOSSystem -emit-module -emit-library -static -o libEOSSystem.a \
    "$ROOT"/Sources/EOSSystem/*.swift
  swiftc "${SAN[@]}" -module-name TrajectoryFormat -emit-module -emit-library -static -o libTrajectoryFormat.a \
    -I . -I "$ROOT/Sources/CHDF5" "${XCC[@]}" "$ROOT"/Sources/TrajectoryFormat/*.swift "$OUT/gen/EmbeddedSchema.swift"
  for h in reader validator; do
    H="$(tr '[:lower:]' '[:upper:]' <<<"${h:0:1}")${h:1}"
    swiftc "${SAN[@]}" -module-name "${H}Fuzz" -o "$OUT/$h-fuzzer" -I . -I "$ROOT/Sources/CHDF5" "${XCC[@]}" \
      "$ROOT/Fuzz/${H}Fuzz.swift" "$ROOT/Fuzz/FuzzInput.swift" \
      -L . -lTrajectoryFormat -lEOSSystem -lHDF5Kit -L "$HDF5_LIBDIR" -lhdf5 -lhdf5_hl 2>&1 \
      | grep -v "Cannot export local symbol" >&2 || true
    [ -x "$OUT/$h-fuzzer" ] || { echo "libfuzz.sh: building $h-fuzzer failed" >&2; exit 1; }
  done
  touch "$OUT/obj/.stamp"
fi
[ "$BUILD_ONLY" = 1 ] && exit 0

status=0
for h in reader validator; do
  corpus="$OUT/corpus-$h"
  rm -rf "$corpus" && mkdir -p "$corpus"
  cp "$ROOT"/samples/*.h5 "$corpus"/
  for g in "$ROOT"/samples/fuzz-regressions/*.h5.gz; do gunzip -c "$g" > "$corpus/$(basename "${g%.gz}")"; done
  log="$OUT/$h.log"
  set +e
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 "$OUT/$h-fuzzer" -runs="$RUNS" -max_len=2000000 -timeout=20 \
    -rss_limit_mb=4096 -artifact_prefix="$OUT/artifacts/$h-" -print_final_stats=1 "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  crashes=$(grep -c -E 'ERROR: (AddressSanitizer|libFuzzer)|deadly signal|Fatal error' "$log" || true)
  echo "$h: ${execs:-0} executions, crashes $crashes (exit $rc, log $log)"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then status=1; fi
done
rm -f /dev/shm/eostrace-libfuzz-* 2>/dev/null || true
exit $status

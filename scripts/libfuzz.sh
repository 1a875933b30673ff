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
# Seeds: small Python-written recordings (below), samples/*.h5 and samples/fuzz-regressions/*.h5.gz
# (gunzipped). Inputs are capped at LIBFUZZ_MAX_LEN bytes (default 65536: the samples then count
# by their first 64 KiB, where the writer puts the metadata; larger caps run ~60 executions/s). Each run starts from a
# fresh copy of the seeds in .build/libfuzz/corpus-<name>-<pid> (libFuzzer adds what it finds there;
# removed afterwards); logs: .build/libfuzz/<name>-<RUNS>.log;
# crash inputs land in .build/libfuzz/artifacts/.
# Single huge mallocs are not failures by themselves (-malloc_limit_mb is lifted, ASan returns NULL
# instead of aborting): libhdf5 1.10.8 mallocs a variable-length attribute's declared length
# (e.g. a forged DIMENSION_LIST sequence of 15 GB) before reading it, and fails cleanly when the
# allocation fails, which is what the commands do under a memory limit; real RSS growth above
# 4 GiB still counts (-rss_limit_mb).
# Leak detection is off (libhdf5 keeps free lists and global state until exit). ld.gold prints
# harmless "Cannot export local symbol" warnings while linking.
# Environment: LIBFUZZ_SEED (default 1: runs are repeatable); LIBFUZZ_ONLY=reader|validator runs one harness; LIBFUZZ_MAX_TIME=S stops a harness
# after S seconds even before RUNS (0: no limit); LIBFUZZ_MAX_LEN (above).
# Speed here (2 cores, ASan, fork mode, the two side by side via LIBFUZZ_ONLY): 250-700
# executions/s per harness, so 10^5 each takes about 6 minutes (2026-12-03).
# Output: one summary line per harness: "<name>: N executions, crashes in our code O, faults inside
# libhdf5 H" (each saved crash input re-run alone and classified by its first non-sanitizer stack
# frame); exit 0 when O = 0 and RUNS executions were reached, 1 otherwise. The known faults inside
# libhdf5 are listed in samples/fuzz-regressions/README.md. A short version runs in the suite
# (Tests/python/test_untrusted_input.py::test_libfuzzer_short, 1,000 executions each).
set -euo pipefail
# ASan and libFuzzer report crashes themselves; Swift's own backtracer (swift-backtrace) would
# outlive a killed fuzzer while holding its output pipe, and a `$(...)` reading it would never end.
export SWIFT_BACKTRACE=enable=no
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

# Small seeds (a few KiB: libFuzzer's mutations and hashing cost grows with the input) written by
# the Python writer: a completed run with every optional series, a minimal one, a killed SWMR one,
# and a format-2.0 run with two outputs.
SEEDS="$OUT/seeds-$$"  # per run (two runs side by side would race on h5py's file locks)
mkdir -p "$SEEDS"
python3 - "$ROOT/python" "$SEEDS" <<'PY'
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import eostrace_format as ef
ef.MIN_CHUNK_BYTES, ef.TARGET_CHUNK_BYTES = 64, 256  # small chunks: small files
out = sys.argv[2]
def run(n, d, k, T, extra):
    rng = np.random.default_rng(n * 100 + T)
    X = rng.standard_normal((n, d)); Y = rng.standard_normal(n)
    F = rng.standard_normal((T, n)); D = F - Y
    ev = np.sort(rng.random((T, k)), axis=1)[:, ::-1].copy()
    V = np.swapaxes(np.linalg.qr(np.swapaxes(rng.standard_normal((T, k, n)), 1, 2))[0], 1, 2).copy()
    kw = dict(learning_rate=0.1, model={"kind": "two_layer_linear", "input_dim": d, "width": 1}, X=X, Y=Y,
              step=np.arange(T, dtype=np.int64), loss=(D ** 2).mean(axis=1), residual=D,
              output_norm_sq=rng.random(T), sharpness=ev[:, 0].copy(), eigenvalues=ev, eigenvectors=V,
              dtf=(D * F).sum(axis=1), n_parameters=d + 1)
    kw.update(extra(rng, n, T))
    return kw
full = lambda rng, n, T: dict(outputs=rng.standard_normal((T, n)), checkpoint_step=np.array([0, T - 1]),
                              parameters=rng.standard_normal((2, 3)), gram_step=np.array([0]),
                              gram=np.eye(n)[None].copy(), spectrum_step=np.array([0]),
                              spectrum=np.sort(rng.random((1, n)))[:, ::-1].copy())
ef.write_recording(f"{out}/seed-full.h5", **run(3, 2, 2, 4, full))
ef.write_recording(f"{out}/seed-min.h5", **run(2, 1, 1, 2, lambda *a: {}))
ef.write_recording(f"{out}/seed-running.h5", status="running", **run(3, 2, 2, 3, lambda *a: {}))
# format 2.0: c = 2 outputs (residual [step, sample, output], one of k = 2 eigenvectors stored)
n, d, c, k, T = 3, 2, 2, 2, 3
rng = np.random.default_rng(7)
X = rng.standard_normal((n, d)); Y = rng.standard_normal((n, c))
F = rng.standard_normal((T, n, c)); D = F - Y
ev = np.sort(rng.random((T, k)), axis=1)[:, ::-1].copy()
V = np.swapaxes(np.linalg.qr(rng.standard_normal((T, n * c, k)))[0], 1, 2).reshape(T, k, n, c)[:, :1].copy()
ef.write_recording(f"{out}/seed-multi.h5", learning_rate=0.1, model={"kind": "two_layer_linear", "input_dim": d, "width": 1},
                   X=X, Y=Y, step=np.arange(T, dtype=np.int64), loss=(D ** 2).reshape(T, -1).sum(axis=1) / n,
                   residual=D, output_norm_sq=rng.random(T), sharpness=ev[:, 0].copy(), eigenvalues=ev,
                   eigenvectors=V, dtf=(D * F).reshape(T, -1).sum(axis=1), n_parameters=d + c)
PY

status=0
for h in ${LIBFUZZ_ONLY:-reader validator}; do
  corpus="$OUT/corpus-$h-$$"  # per run: a short run beside a long one does not share it
  rm -rf "$corpus" && mkdir -p "$corpus"
  cp "$SEEDS"/*.h5 "$ROOT"/samples/*.h5 "$corpus"/
  for g in "$ROOT"/samples/fuzz-regressions/*.h5.gz; do
    # (known, unfixed faults inside libhdf5 are in libhdf5-unfixed/, not used as seeds)
    gunzip -c "$g" > "$corpus/$(basename "${g%.gz}")"
  done
  log="$OUT/$h-$RUNS.log"
  arts="$OUT/artifacts/$h-$$"; mkdir -p "$arts"
  # The harness runs from a private copy: fork mode re-executes it for every job, and a rebuild
  # meanwhile (the suite's ASan regression test, another libfuzz.sh) must not change the code
  # a run counts executions on.
  bin="$OUT/bin-$$"; mkdir -p "$bin"; cp "$OUT/$h-fuzzer" "$bin/$h-fuzzer"
  set +e
  # Fork mode: a crash input is saved and fuzzing goes on (-ignore_crashes), so RUNS executions
  # are reached and every crash input of the run is counted, not only the first.
  (cd "$OUT" && ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:allocator_may_return_null=1 "$bin/$h-fuzzer" \
    -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 -runs="$RUNS" \
    -max_len="${LIBFUZZ_MAX_LEN:-65536}" -seed="${LIBFUZZ_SEED:-1}" -timeout=20 -max_total_time="${LIBFUZZ_MAX_TIME:-0}" \
    -rss_limit_mb=4096 -malloc_limit_mb=1000000 -artifact_prefix="$arts/" "$corpus" >"$log" 2>&1)
  rc=$?
  set -e
  execs=$(grep -oE '^#[0-9]+:' "$log" | tail -n 1 | tr -dc 0-9)
  # Classify each saved input by re-running it alone: the first stack frame outside the
  # sanitizer runtime in libhdf5 -> a fault inside libhdf5; anything else (our frames, Swift
  # traps, timeouts, OOM in our code) -> ours.
  # Slow units (libFuzzer's slow-unit-*: slower than 10 s, not failures) are counted apart.
  in_hdf5=0; ours=0; slow=0
  for a in "$arts"/*; do
    [ -f "$a" ] || continue
    case "$(basename "$a")" in slow-unit-*) slow=$((slow + 1)); continue ;; esac
    one=$(ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 timeout 120 "$bin/$h-fuzzer" -rss_limit_mb=4096 \
          -malloc_limit_mb=1000000 "$a" 2>&1 || true)
    # (no frame at all — a timeout that no longer reproduces, or an OOM without a stack — is
    # ours; `|| true`: with pipefail a grep that matches nothing would end the script here)
    # (libc frames are skipped too: a memcpy libhdf5 calls is libhdf5's fault)
    frame=$( (grep -E '^ +#[0-9]+ 0x' <<<"$one" | grep -vE 'compiler-rt|sanitizer|libclang_rt|libc\.so|sysdeps/' | head -n 1) || true)
    if grep -q 'libhdf5' <<<"$frame"; then in_hdf5=$((in_hdf5 + 1)); else ours=$((ours + 1)); echo "  ours: $a" >&2; fi
  done
  echo "$h: ${execs:-0} executions, crashes in our code $ours, faults inside libhdf5 $in_hdf5, slow units (> 10 s) $slow (inputs in $arts, log $log)"
  if [ "$rc" != 0 ] || [ "$ours" != 0 ] || [ "${execs:-0}" -lt "$RUNS" ]; then status=1; fi
  rm -rf "$corpus" "$bin"
done
rm -rf "$SEEDS"
exit $status

#!/usr/bin/env bash
# gst-sharedmatrix: builds the libFuzzer targets with clang against the
# library (built by meson with clang, ASan, UBSan and libFuzzer's coverage
# instrumentation in DIR/lib) and runs each for a bounded time on the committed seed
# corpus. Exits 0 when no target crashed, 1 on a crash, a failed invariant,
# a leak or a timeout, and 77 (meson's "skipped") when clang with libFuzzer
# is not available.
#
#   tests/fuzz/run.sh [--build-dir DIR] [--seconds N] [--jobs N] [--coverage]
#                     [TARGET...]
#
# TARGET is update or npy (default: both). --coverage then replays the seed
# and the grown corpus through a -fprofile-instr-generate build and prints
# llvm-cov's line/branch coverage of the library sources (--seconds 0:
# coverage only, no fuzzing). Environment: FUZZ_SECONDS (per target,
# default 60), FUZZ_BUILD_DIR, CLANG (default clang-14, else clang),
# FUZZ_ARGS (extra libFuzzer flags). New inputs found during the run go to
# DIR/corpus-*, never into the committed seed corpus; a crash leaves
# DIR/crash-* (reproduce with `DIR/fuzz_update DIR/crash-…`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build_dir="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
jobs=1
coverage=0
targets=()

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --coverage) coverage=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    update|npy) targets+=("$1"); shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(update npy)

skip() { echo "SKIP: $*"; exit 77; }

clang="${CLANG:-}"
if [ -z "$clang" ]; then
  for c in clang-14 clang; do
    if command -v "$c" >/dev/null 2>&1; then clang="$c"; break; fi
  done
fi
[ -n "$clang" ] || skip "no clang found (install clang-14 libclang-rt-14-dev)"
command -v pkg-config >/dev/null 2>&1 || skip "pkg-config not found"
pkg-config --exists gstreamer-1.0 || skip "gstreamer-1.0 development files not found"

mkdir -p "$build_dir"
probe="$build_dir/probe.c"
echo 'int LLVMFuzzerTestOneInput (const unsigned char *d, unsigned long n) { return 0; }' > "$probe"
if ! "$clang" -fsanitize=fuzzer,address,undefined "$probe" -o "$build_dir/probe" 2>"$build_dir/probe.log"; then
  skip "$clang cannot build libFuzzer targets (libclang-rt-14-dev missing?): $(head -c 300 "$build_dir/probe.log")"
fi

# The library itself, instrumented, from its own meson build in $1: the
# shared library for the public API and the internal static library for
# the private one (fuzz_npy parses headers with sm_npy_parse_header ()).
# No CUDA (the GPU backend is not fuzzed here). $2: extra C flags.
build_library() {
  local dir="$1" extra="$2"
  if [ ! -f "$dir/build.ninja" ]; then
    CC="$clang" meson setup "$dir" "$root" \
      -Db_sanitize=address,undefined -Db_lundef=false \
      -Dc_args="$extra" -Doptimization=1 -Ddebug=true \
      -Dcuda=disabled -Dintrospection=disabled -Dtests=disabled \
      -Dexamples=disabled -Ddocs=disabled > "$dir.setup.log" 2>&1 ||
      { cat "$dir.setup.log"; exit 1; }
  fi
  ninja -C "$dir" plugin/lib/libgstsharedmatrix-1.0.so.0.0.0 \
    plugin/lib/libsharedmatrix-internal.a > "$dir.build.log" 2>&1 ||
    { tail -40 "$dir.build.log"; exit 1; }
}

# Links a fuzz target against the library built in $1
lib_link_flags() {
  echo "-I$root/plugin/lib -I$1/plugin/lib -I$root/kernels" \
    "$1/plugin/lib/libsharedmatrix-internal.a" \
    "-L$1/plugin/lib -lgstsharedmatrix-1.0 -Wl,-rpath,$1/plugin/lib"
}

cflags=(-g -O1 -fno-omit-frame-pointer -std=gnu11
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -Wno-unused-parameter
  -DG_LOG_DOMAIN=\"GstSharedMatrix\" -DGST_USE_UNSTABLE_API -I"$root/tests/common")
# the tests' independent reference for the update semantics, which the
# update target checks the library against (not fuzzed: no coverage)
test_sources=("$root/tests/common/reference.c")
read -r -a gst_flags <<< "$(pkg-config --cflags --libs gstreamer-1.0)"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

status=0
summary=()
for t in "${targets[@]}"; do
  if [ "$seconds" = 0 ]; then
    # libFuzzer reads -max_total_time=0 as "no limit"
    summary+=("fuzz_$t: not run (--seconds 0)")
    continue
  fi
  exe="$build_dir/fuzz_$t"
  echo "== building fuzz_$t with $clang"
  build_library "$build_dir/lib" "-fsanitize=fuzzer-no-link"
  read -r -a lib_flags <<< "$(lib_link_flags "$build_dir/lib")"
  "$clang" "${cflags[@]}" "$here/fuzz_$t.c" "${test_sources[@]}" "${lib_flags[@]}" "${gst_flags[@]}" -lm -o "$exe"

  corpus="$build_dir/corpus-$t"
  mkdir -p "$corpus"
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  log="$build_dir/fuzz_$t.log"
  echo "== running fuzz_$t for ${seconds} s (seeds: tests/fuzz/corpus-$t, new inputs: $corpus)"
  parallel=()
  # -jobs runs that many fuzzing processes, logging to fuzz-N.log in the
  # current directory
  if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
  rc=0
  # the first corpus directory receives new inputs; the committed seeds
  # are only read. -error_exitcode/-timeout_exitcode: libFuzzer's defaults
  # (77, 70) would read as "skipped" to meson.
  # shellcheck disable=SC2086
  (cd "$build_dir" && exec "$exe" "$corpus" "$here/corpus-$t" "${dict[@]}" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    "${parallel[@]}" \
    -use_value_profile=1 -print_final_stats=1 -error_exitcode=1 -timeout_exitcode=1 \
    -artifact_prefix="$build_dir/" ${FUZZ_ARGS:-}) > "$log" 2>&1 || rc=$?
  # the last status lines: corpus size, coverage, exec/s
  grep -E '^#[0-9]+.*(DONE|pulse|INITED)|stat::' "$log" | tail -8 || true
  if [ $rc -ne 0 ]; then
    echo "!! fuzz_$t FAILED (exit $rc); log: $log"
    grep -E -A40 'ERROR: |check failed|SUMMARY' "$log" | head -80 || tail -40 "$log"
    ls -1 "$build_dir"/crash-* "$build_dir"/leak-* "$build_dir"/timeout-* "$build_dir"/oom-* 2>/dev/null || true
    status=1
  fi
  line="$(grep -E '^#[0-9]+.*DONE' "$log" | tail -1 || true)"
  summary+=("fuzz_$t: ${line:-no DONE line} (exit $rc)")
done

if [ $coverage -eq 1 ]; then
  ver="${clang##*-}"
  profdata="llvm-profdata-$ver"; command -v "$profdata" >/dev/null 2>&1 || profdata=llvm-profdata
  cov="llvm-cov-$ver"; command -v "$cov" >/dev/null 2>&1 || cov=llvm-cov
  for t in "${targets[@]}"; do
    exe="$build_dir/fuzz_${t}_cov"
    echo "== coverage of fuzz_$t's corpus"
    build_library "$build_dir/lib-cov" "-fsanitize=fuzzer-no-link -fprofile-instr-generate -fcoverage-mapping"
    read -r -a lib_flags <<< "$(lib_link_flags "$build_dir/lib-cov")"
    "$clang" -g -O0 -std=gnu11 -fsanitize=fuzzer,address,undefined -fprofile-instr-generate \
      -fcoverage-mapping -Wno-unused-parameter -DG_LOG_DOMAIN=\"GstSharedMatrix\" \
      -DGST_USE_UNSTABLE_API -I"$root/tests/common" "$here/fuzz_$t.c" "${test_sources[@]}" "${lib_flags[@]}" "${gst_flags[@]}" -lm -o "$exe"
    rm -f "$build_dir"/cov-"$t"-*.profraw
    LLVM_PROFILE_FILE="$build_dir/cov-$t-%p.profraw" "$exe" -runs=0 \
      "$build_dir/corpus-$t" "$here/corpus-$t" > "$build_dir/cov-$t.log" 2>&1 || true
    "$profdata" merge -sparse "$build_dir"/cov-"$t"-*.profraw -o "$build_dir/cov-$t.profdata"
    "$cov" report "$exe" -object "$build_dir/lib-cov/plugin/lib/libgstsharedmatrix-1.0.so" \
      -instr-profile="$build_dir/cov-$t.profdata" "$root"/plugin/lib/*.c \
      | sed "s|$root/||"
  done
fi

echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status

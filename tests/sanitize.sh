#!/usr/bin/env bash
# gst-sharedmatrix: runs the gst-check suite under AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer.
#
#   tests/sanitize.sh [--build-dir DIR] [meson test arguments...]
#
# Configures DIR (default ./build-asan, or $ASAN_BUILD_DIR) once with
#   -Db_sanitize=address,undefined -Db_lundef=false
#   -Dintrospection=disabled  (g-ir-scanner's dumper would need libasan
#                              preloaded, and only the C suite runs here)
#   -Dcuda=disabled           (the CUDA runtime and ASan's shadow memory do
#                              not mix; the CUDA host code is covered by
#                              the kernel-emulation tests, which do run)
# builds it and runs `meson test --suite check` there. Any sanitizer report
# fails the test it happens in: ASan and UBSan stop the process on the
# first error (halt_on_error), LeakSanitizer reports at exit and makes the
# exit status non-zero. tests/lsan.supp lists the one-time allocations of
# GLib/GStreamer that are not ours. The tests see only the system plugins
# they use (GST_PLUGIN_SYSTEM_PATH_1_0 in tests/meson.build's test_env), so
# other plugins of the machine cannot leak into the result. Exits 77 (skipped) when the compiler
# cannot build sanitized programs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build_dir="${ASAN_BUILD_DIR:-$root/build-asan}"
if [ "${1:-}" = "--build-dir" ]; then
  build_dir="$2"
  shift 2
fi
meson="${MESON:-meson}"

cc="${CC:-cc}"
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
echo 'int main (void) { return 0; }' > "$probe_dir/p.c"
if ! "$cc" -fsanitize=address,undefined "$probe_dir/p.c" -o "$probe_dir/p" 2>/dev/null ||
   ! "$probe_dir/p"; then
  echo "SKIP: $cc cannot build and run -fsanitize=address,undefined programs"
  exit 77
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  "$meson" setup "$build_dir" "$root" \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dintrospection=disabled -Dcuda=disabled -Dexamples=disabled \
    -Dbuildtype=debugoptimized
fi
ninja -C "$build_dir"

# detect_leaks: LSan at exit. abort_on_error=0: exit with an error status
# instead of SIGABRT, so check's forked test runner reports the test.
# ASan's fake stack is off: GStreamer's streaming threads switch stacks
# a lot and detect_stack_use_after_return costs more than it finds here.
# fast_unwind_on_malloc=0: GLib is built without frame pointers, so the
# fast unwinder stops at g_malloc and no suppression could tell GLib's own
# one-time allocations from ours. allocator_may_return_null: the tests ask for impossible matrices on
# purpose and expect a clean error, not ASan's allocation-size-too-big.
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:allocator_may_return_null=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# One process per test binary: a report then ends that binary with the
# sanitizer's message rather than inside check's forked child.
export CK_FORK=no
# The registry is scanned in-process: the external gst-plugin-scanner is
# not linked with libasan and cannot load the sanitized plugin.
export GST_REGISTRY_FORK=no
# GLib's slice allocator would hide use-after-free from ASan.
export G_SLICE=always-malloc

"$meson" test -C "$build_dir" --suite check --print-errorlogs --num-processes 2 "$@"

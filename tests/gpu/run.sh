#!/usr/bin/env bash
# The whole GPU verification in one command, on a bare GPU machine: copied
# into the bundle by tests/gpu/bundle.sh, run as .gpu-bundle/run.sh (from
# the repository root, or anywhere). Needs bash, coreutils and glibc; takes
# everything else from the bundle. Logs and summary.txt go to $OUT when it is
# set, else to .gpu-bundle/logs. Stops itself before 9 minutes: every step
# runs under `timeout`, within one global deadline (GPU_CHECK_DEADLINE_S,
# default 510 s). Benchmarks print figures and ratios; only the tests pass
# or fail. The last line is "N passed, N failed, N skipped"; the exit status
# is 0 when nothing failed (a skipped GPU test is not a failure here: the
# summary says why it skipped).
#
# GPU_CHECK_QUICK=1 shortens the benchmarks (a smoke run; used by the CI test
# that runs the bundle without a GPU, tests/gpu/test-bundle.sh).
set -uo pipefail

# (bash and coreutils only: no dirname, grep, sed or awk needed)
here="${BASH_SOURCE[0]}"
[[ "$here" == */* ]] || here="./$here"
B="$(cd "${here%/*}" && pwd)"
OUT="${OUT:-$B/logs}"
DEADLINE_S="${GPU_CHECK_DEADLINE_S:-510}"
QUICK="${GPU_CHECK_QUICK:-0}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

# Only the bundle's libraries and plugins: glibc and the NVIDIA driver come
# from the machine.
declare -A info=()
if [ -r "$B/BUNDLE-INFO" ]; then
  while IFS='=' read -r key value; do info["$key"]="$value"; done < "$B/BUNDLE-INFO"
fi
# version_ge A B: A >= B, for versions like 2.36
version_ge() {
  local IFS=. i
  local -a a=($1) b=($2)
  for i in 0 1 2; do
    [ "${a[i]:-0}" -gt "${b[i]:-0}" ] && return 0
    [ "${a[i]:-0}" -lt "${b[i]:-0}" ] && return 1
  done
  return 0
}
glibc_here="$(getconf GNU_LIBC_VERSION 2>/dev/null)"
glibc_here="${glibc_here##* }"
glibc_note=""
if [ -n "$glibc_here" ] && [ -n "${info[glibc_needed]:-}" ] &&
   ! version_ge "$glibc_here" "${info[glibc_needed]}"; then
  glibc_note="WARNING: the bundle needs glibc ${info[glibc_needed]}, this machine has $glibc_here: programs will fail to load (see the libraries step); make the bundle on an older distribution"
fi
export LD_LIBRARY_PATH="$B/lib"
# the bundle's libstdc++/libgcc_s only where this glibc is new enough for
# them (else the machine's own, which a machine with CUDA has)
if [ -z "$glibc_here" ] || version_ge "$glibc_here" "${info[glibc_needed_fallback]:-0}"; then
  LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$B/lib-fallback"
  fallback_note="libstdc++/libgcc_s: the bundle's"
else
  fallback_note="libstdc++/libgcc_s: this machine's (its glibc $glibc_here is older than the ${info[glibc_needed_fallback]} the bundle's need)"
fi
export GST_PLUGIN_SYSTEM_PATH_1_0="$B/gst-plugins"
export GST_PLUGIN_SYSTEM_PATH="$B/gst-plugins"
unset GST_PLUGIN_PATH GST_PLUGIN_PATH_1_0 GST_PLUGIN_SCANNER GST_PLUGIN_SCANNER_1_0
export GST_REGISTRY_1_0="$OUT/registry.bin"
export GST_REGISTRY_FORK=no            # no gst-plugin-scanner in the bundle
export CK_DEFAULT_TIMEOUT=300          # gst-check's per-test limit
rm -f "$GST_REGISTRY_1_0"

passed=0 failed=0 skipped=0
results=()
declare -A status=()            # step name -> ok, skip, fail

say() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME TIMEOUT_S COMMAND...: runs COMMAND under `timeout`, its output
# to the terminal and $OUT/NAME.log. Exit 0 passes, 77 skips, anything else
# fails (124/137: ran out of time).
step() {
  local name="$1" limit="$2" left rc t0 verdict
  shift 2
  left=$((DEADLINE_S - SECONDS))
  if [ "$left" -lt 10 ]; then
    results+=("$(printf '%-18s NOT RUN (the %d s deadline was reached)' "$name" "$DEADLINE_S")")
    failed=$((failed + 1))
    return
  fi
  [ "$limit" -gt "$left" ] && limit="$left"
  echo
  echo "=== $name (at most $limit s): $*"
  t0=$SECONDS
  # through bash, so that a step can also be a function of this script
  timeout -k 5 "$limit" bash -c '"$@"' "$name" "$@" 2>&1 | tee "$OUT/$name.log"
  rc=${PIPESTATUS[0]}
  case "$rc" in
    0) verdict="ok"; passed=$((passed + 1)); status[$name]=ok ;;
    77) verdict="$(first_line_matching "$OUT/$name.log" 'SKIP|nothing measured|not found|no usable')"
        verdict="SKIP: ${verdict#SKIP: }"
        skipped=$((skipped + 1)); status[$name]=skip ;;
    124|137) verdict="FAIL: timed out after $limit s"; failed=$((failed + 1)); status[$name]=fail ;;
    *) verdict="FAIL: exit status $rc"; failed=$((failed + 1)); status[$name]=fail ;;
  esac
  results+=("$(printf '%-18s %4d s  %s' "$name" $((SECONDS - t0)) "$verdict")")
}

# the first line of FILE matching the extended regex RE (bash only: the
# machine may lack grep)
first_line_matching() {
  local line
  while IFS= read -r line; do
    if [[ "$line" =~ $2 ]]; then
      echo "$line"
      return
    fi
  done < "$1"
  echo "(no reason printed)"
}

# lines of FILE from the first matching RE to the end, or the matching lines
lines_from() {
  local line on=0
  while IFS= read -r line; do
    [[ "$line" =~ $2 ]] && on=1
    [ "$on" = 1 ] && echo "$line"
  done < "$1"
}
lines_matching() {
  local line
  while IFS= read -r line; do
    [[ "$line" =~ $2 ]] && echo "$line"
  done < "$1"
}

# nvidia-smi, and the facts the figures are compared with (PCIe link)
gpu_info() {
  if ! command -v nvidia-smi >/dev/null; then
    echo "SKIP: nvidia-smi not found: no NVIDIA driver on this machine"
    return 77
  fi
  nvidia-smi || return
  # facts for the figures; a driver that lacks a field must not fail the step
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max --format=csv ||
    echo "(the nvidia-smi query above failed; the figures lack the link facts)"
}

# Where every library of every program and plugin is loaded from: all must
# resolve, and only glibc and the driver may come from outside the bundle.
libraries() {
  local loader f line list bad=0 n=0
  for loader in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
    [ -x "$loader" ] && break
  done
  for f in "$B"/bin/* "$B"/gst-plugins/*.so; do
    [ -e "$f" ] || { echo "FAIL: $f missing"; return 1; }
    echo "${f#"$B"/}:"
    n=$((n + 1))
    list="$("$loader" --list "$f" 2>&1)" || bad=1
    while IFS= read -r line; do
      echo "  $line"
      if [[ "$line" == *"not found"* ]]; then
        bad=1
      fi
    done <<< "$list"
  done
  echo "$n programs and plugins listed"
  if [ "$bad" = 1 ]; then
    echo "FAIL: libraries missing (above); the bundle was made on another system?"
    return 1
  fi
}

export B
export -f gpu_info libraries

bench_cuda_args=()
bench_cpu_args=(--no-sweep)
bench_optim_args=(--backend cuda)
bench_lookup_args=()
if [ "$QUICK" = 1 ]; then
  bench_cuda_args=(--updates 200 --large-updates 5)
  bench_cpu_args=(--no-sweep --quick --no-big)
  bench_optim_args=(--backend cuda --quick)
  bench_lookup_args=(--reps 3)
fi

{
  echo "GPU check of gst-sharedmatrix, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine: $(uname -srm), $(nproc) CPUs, glibc ${glibc_here:-unknown}"
  [ -r "$B/BUNDLE-INFO" ] && while IFS= read -r line; do echo "bundle: $line"; done < "$B/BUNDLE-INFO"
  echo "$fallback_note"
  [ -n "$glibc_note" ] && echo "$glibc_note"
  echo "logs: $OUT"
} | tee -a "$SUMMARY"

# ---- the steps: one line each (name, time limit in s, command) -------------
step nvidia-smi         30 gpu_info
step libraries          30 libraries
step cuda              240 "$B/bin/test-cuda"
step kernel-emulation  150 "$B/bin/test-kernel-emulation"
step cpu-kernels        60 "$B/bin/check-cpu-kernels"
step bench-cuda        120 "$B/bin/bench-cuda" "${bench_cuda_args[@]}"
step bench-cpu         150 "$B/bin/bench-sharedmatrix" "${bench_cpu_args[@]}"
step bench-optimizers  150 "$B/bin/bench-optimizers" "${bench_optim_args[@]}"
step bench-lookup       90 "$B/bin/bench-lookup" "${bench_lookup_args[@]}"
# (the optimizer, lookup and delta kernels' GPU tests are in test-cuda)
# -----------------------------------------------------------------------------

{
  echo
  echo "Steps ($SECONDS s in all):"
  printf '  %s\n' "${results[@]}"
  for f in cuda kernel-emulation cpu-kernels; do
    [ -r "$OUT/$f.log" ] && lines_matching "$OUT/$f.log" '^[0-9]+%: Checks|^[0-9]+ passed|Checks:' |
      while IFS= read -r line; do echo "  $f: $line"; done
  done
  if [ "${status[nvidia-smi]:-}" = ok ]; then
    echo
    echo "GPU:"
    lines_from "$OUT/nvidia-smi.log" '^name, driver_version' | while IFS= read -r line; do echo "  $line"; done
  fi
  if [ "${status[bench-cuda]:-}" = ok ]; then
    echo
    echo "bench-cuda:"
    lines_matching "$OUT/bench-cuda.log" '^(matrix|applied latency|throughput|snapshot|large batches|device reference)' |
      while IFS= read -r line; do echo "  $line"; done
    lines_from "$OUT/bench-cuda.log" '^Against the targets'
  fi
  if [ "${status[bench-cpu]:-}" = ok ]; then
    echo
    echo "bench-cpu (bench-sharedmatrix ${bench_cpu_args[*]}):"
    lines_from "$OUT/bench-cpu.log" '^gst-sharedmatrix update benchmark'
  fi
  if [ "${status[bench-optimizers]:-}" = ok ]; then
    echo
    echo "bench-optimizers (${bench_optim_args[*]}):"
    lines_from "$OUT/bench-optimizers.log" '^Optimizer steps'
  fi
  if [ "${status[bench-lookup]:-}" = ok ]; then
    echo
    echo "bench-lookup (${bench_lookup_args[*]}):"
    lines_from "$OUT/bench-lookup.log" '^lookup of'
  fi
  echo
  echo "$passed passed, $failed failed, $skipped skipped"
} | tee -a "$SUMMARY"

[ "$failed" -eq 0 ]

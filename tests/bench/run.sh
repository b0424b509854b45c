#!/usr/bin/env bash
# The benchmark in one command, from a clean clone:
#   tests/bench/run.sh [bench-sharedmatrix options, e.g. --quick]
# Installs what is missing and builds ./build (tests/setup.sh), then runs the
# C benchmark (every layer, alternating), the numpy/torch one on the same
# cases, and draws the plot. Results land in $BENCH_OUT (default
# build/bench/): bench-c.csv, bench-optim.csv, bench-py.csv, bench.txt,
# bench.png.
# Figures only: nothing here fails on time. See docs/performance.md.
# torch and FBGEMM are not packaged in Debian: the Python benchmarks report
# them "not available" unless BENCH_PYTHON names an interpreter that has
# them. `tests/bench/run.sh --with-torch` makes one, once: a private virtual
# environment in build/bench-venv with torch and FBGEMM's CPU build from
# PyPI (about 5 GB: torch's wheel brings CUDA libraries; the tests never
# need it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"

# FBGEMM's wheels are built against one torch release each (FBGEMM's
# release compatibility table): keep the two in step.
TORCH_SPEC="torch==2.14.*"
FBGEMM_SPEC="fbgemm-gpu-cpu==1.9.0"

# Debian packages only the benchmark needs (the tests do not)
sm_install_debian python3-matplotlib   # the plot

args=()
with_torch=0
for a in "$@"; do
  case "$a" in --with-torch) with_torch=1 ;; *) args+=("$a") ;; esac
done
set -- ${args[@]+"${args[@]}"}
if [ "$with_torch" = 1 ]; then
  venv="$BUILD_DIR/bench-venv"
  if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    sm_install_debian python3-venv
    echo "bench: installing numpy, $TORCH_SPEC and $FBGEMM_SPEC into $venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q numpy "$TORCH_SPEC"
    # optional: FBGEMM's side-by-side column stays empty without it
    "$venv/bin/pip" install -q "$FBGEMM_SPEC" ||
      echo "bench: $FBGEMM_SPEC did not install; FBGEMM left out"
  fi
  export BENCH_PYTHON="$venv/bin/python"
fi

OUT="${BENCH_OUT:-$BUILD_DIR/bench}"
mkdir -p "$OUT"
quick=()
lookup_reps=31
for a in "$@"; do
  case "$a" in --quick|-q|--no-sweep|--no-big) quick+=("$a") ;; esac
  case "$a" in --quick|-q) lookup_reps=5 ;; esac
done

{
  echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  "$BUILD_DIR/tests/bench/bench-sharedmatrix" --csv "$OUT/bench-c.csv" "$@"
  echo
  # per-buffer costs: one-row updates as single buffers and as buffer lists,
  # through appsrc as a producer pushes them (docs/performance.md)
  "$BUILD_DIR/tests/bench/bench-sharedmatrix" --one-row ${quick[@]+"${quick[@]}"}
  echo
  # optimizer steps vs add vs their bandwidth bound (docs/performance.md#optimizers)
  "$BUILD_DIR/tests/bench/bench-optimizers" --csv "$OUT/bench-optim.csv" ${quick[@]+"${quick[@]}"}
  echo
  # matrixlookup against a plain C gather loop, and one-row updates as
  # single buffers and as one list through a harness (docs/performance.md)
  "$BUILD_DIR/tests/bench/bench-lookup" --reps "$lookup_reps"
  echo
  "${BENCH_PYTHON:-/usr/bin/python3}" "$SHAREDMATRIX_ROOT/tests/bench/bench_numpy.py" \
    --csv "$OUT/bench-py.csv" --c-csv "$OUT/bench-c.csv" ${quick[@]+"${quick[@]}"}
  echo
  # torch's and FBGEMM's sparse optimizer steps against bench-optimizers'
  "${BENCH_PYTHON:-/usr/bin/python3}" "$SHAREDMATRIX_ROOT/tests/bench/bench_torch_optim.py" \
    --csv "$OUT/bench-torch-optim.csv" --c-csv "$OUT/bench-optim.csv" ${quick[@]+"${quick[@]}"}
  echo
  # reading the whole matrix from Python, and a slow snapshot consumer
  # (docs/user-guide.md quotes both)
  /usr/bin/python3 "$SHAREDMATRIX_ROOT/tests/bench/bench_read.py"
  echo
  /usr/bin/python3 "$SHAREDMATRIX_ROOT/tests/bench/bench_backpressure.py"
  # through a local NATS JetStream cluster (skips itself without nats-server)
  echo
  /usr/bin/python3 "$SHAREDMATRIX_ROOT/tests/bench/bench_jetstream.py" --csv "$OUT/bench-jetstream.csv"
} 2>&1 | tee "$OUT/bench.txt"
/usr/bin/python3 "$SHAREDMATRIX_ROOT/tests/bench/plot.py" \
  "$OUT/bench-c.csv" "$OUT/bench-py.csv" -o "$OUT/bench.png"

#!/usr/bin/env bash
# Two chains of one gst-launch process share one matrix by name: two
# updatetestsrc with different seeds feed two sharedmatrix elements with the
# same matrix-name, so both streams land in one matrix (op add, in whatever
# order the two streaming threads interleave).
#
#   examples/shared-by-name.sh [OUTPUT_DIR]
#
# Sizes from the environment: ROWS (1000), COLS (16), BATCH (100 rows per
# update), UPDATES (300 per chain), SEED_A (1), SEED_B (2). Writes
# OUTPUT_DIR/shared.npy (a new temporary directory without OUTPUT_DIR).
#
# Each chain writes its EOS snapshot (a-final.npy, b-final.npy): the matrix
# as it was when that chain ended, including what the other chain had
# applied by then. The chain that ended last saw both streams complete. Which
# one that is depends on thread scheduling; the snapshot's version (its
# buffer OFFSET, reported by multifilesink) tells: the higher one is the
# final matrix, copied to shared.npy.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS="${ROWS:-1000}" COLS="${COLS:-16}" BATCH="${BATCH:-100}" UPDATES="${UPDATES:-300}"
SEED_A="${SEED_A:-1}" SEED_B="${SEED_B:-2}"
OUT_DIR="$(make_output_dir shared-by-name "${1:-}")"
LOG="$OUT_DIR/gst-launch.log"

# rows and cols on both elements: either may start first and create the matrix
chain () {   # chain NAME SEED
  echo "updatetestsrc rows=$ROWS cols=$COLS batch=$BATCH seed=$2 num-buffers=$UPDATES" \
    "! sharedmatrix matrix-name=shared rows=$ROWS cols=$COLS" \
    "! application/x-npy ! multifilesink location=$OUT_DIR/$1-final.npy post-messages=true"
}
# shellcheck disable=SC2046  # the chains are word lists for gst-launch
launch_logged "$LOG" $(chain a "$SEED_A") $(chain b "$SEED_B")

echo "chains a (seed $SEED_A) and b (seed $SEED_B), $UPDATES updates of $BATCH rows each," \
  "into one $ROWS x $COLS matrix named \"shared\":"
written_snapshots "$LOG" | while read -r version file; do
  echo "  $file  matrix version $version at the end of its chain"
done
last="$(written_snapshots "$LOG" | sort -n | tail -n 1)"
version="${last%% *}" final="${last#* }"
if [ "${version:-0}" != $((2 * UPDATES)) ]; then
  echo "the last snapshot has version ${version:-none}, expected $((2 * UPDATES))" >&2
  exit 1
fi
cp "$final" "$OUT_DIR/shared.npy"
echo "final matrix (both streams, version $version): $OUT_DIR/shared.npy"

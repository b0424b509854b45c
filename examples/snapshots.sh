#!/usr/bin/env bash
# Periodic numbered snapshots: updatetestsrc streams UPDATES updates into
# sharedmatrix, which pushes a snapshot (a complete .npy file) after every
# EVERY updates and one at EOS; multifilesink numbers them.
#
#   examples/snapshots.sh [OUTPUT_DIR]
#
# Sizes from the environment: ROWS (1000), COLS (8), BATCH (50 rows per
# update), UPDATES (100), EVERY (30), SEED (1). Without OUTPUT_DIR the
# snapshots go to a new temporary directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS="${ROWS:-1000}" COLS="${COLS:-8}" BATCH="${BATCH:-50}"
UPDATES="${UPDATES:-100}" EVERY="${EVERY:-30}" SEED="${SEED:-1}"
OUT_DIR="$(make_output_dir snapshots "${1:-}")"
LOG="$OUT_DIR/gst-launch.log"

launch_logged "$LOG" updatetestsrc rows="$ROWS" cols="$COLS" batch="$BATCH" seed="$SEED" \
    num-buffers="$UPDATES" \
  ! sharedmatrix rows="$ROWS" cols="$COLS" snapshot-every="$EVERY" \
  ! application/x-npy ! multifilesink location="$OUT_DIR/snap-%05d.npy" post-messages=true

snapshots="$(written_snapshots "$LOG")"
if [ -z "$snapshots" ]; then
  echo "no snapshot written; gst-launch-1.0's output is in $LOG" >&2
  exit 1
fi
echo "$UPDATES updates of $BATCH rows into a $ROWS x $COLS float32 matrix," \
  "a snapshot every $EVERY updates and at EOS:"
while read -r version file; do
  echo "  $file  matrix version $version ($(stat -c %s "$file") bytes)"
done <<< "$snapshots"

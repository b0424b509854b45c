#!/usr/bin/env bash
# Statistics as bus messages: sharedmatrix post-messages=true posts a
# sharedmatrix-stats element message every message-interval of running time
# and one at EOS (fields version, updates-applied, rows-applied,
# rows-dropped, rows-per-second, backend); gst-launch-1.0 -m prints them.
#
#   examples/stats-messages.sh [OUTPUT_DIR]
#
# Sizes from the environment: ROWS (70000), COLS (100), BATCH (200 rows per
# update), UPDATES (2000), INTERVAL (100000000 ns = 0.1 s). Prints the
# sharedmatrix-stats messages; gst-launch's whole output is kept in
# OUTPUT_DIR/gst-launch.log (a new temporary directory without OUTPUT_DIR).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS="${ROWS:-70000}" COLS="${COLS:-100}" BATCH="${BATCH:-200}"
UPDATES="${UPDATES:-2000}" INTERVAL="${INTERVAL:-100000000}"
OUT_DIR="$(make_output_dir stats-messages "${1:-}")"
LOG="$OUT_DIR/gst-launch.log"

launch_logged "$LOG" updatetestsrc rows="$ROWS" cols="$COLS" batch="$BATCH" num-buffers="$UPDATES" \
  ! sharedmatrix rows="$ROWS" cols="$COLS" post-messages=true message-interval="$INTERVAL"

grep "sharedmatrix-stats" "$LOG"
echo "$(grep -c "sharedmatrix-stats" "$LOG") sharedmatrix-stats messages;" \
  "gst-launch-1.0's whole output: $LOG"

#!/usr/bin/env bash
# Heat maps of a matrix as it learns. updatetestsrc sends updates of BATCH
# rows drawn from a zipf distribution (row 0 the most popular) to
# sharedmatrix, which adds them in place and pushes a snapshot after every
# EVERY updates; matrixheatmap draws each snapshot (image x = column, y = row,
# row 0 at the top) with the viridis colour map, and pngenc writes
# OUTPUT_DIR/heat-00000.png, heat-00001.png, … (UPDATES / EVERY pictures).
#
#   examples/heatmap.sh [OUTPUT_DIR]
#
# Without OUTPUT_DIR the pictures go to a new temporary directory.
# Settings from the environment, defaults in brackets (a second's work):
#   ROWS [350] COLS [100]        matrix shape
#   UPDATES [200] EVERY [20]     updates in all; a picture after every EVERY
#   BATCH [200] SEED [0]         rows per update; updatetestsrc's seed
#   WIDTH [400] HEIGHT [350]     picture size; empty = matrixheatmap's choice
#                                (one pixel per cell, at most 1024 each way)
#   RANGE [fixed] MIN [-20] MAX [20]
#                                value range: fixed MIN..MAX, the same for
#                                every picture, or auto (each picture's own
#                                smallest..largest value)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS="${ROWS:-350}" COLS="${COLS:-100}"
UPDATES="${UPDATES:-200}" EVERY="${EVERY:-20}"
BATCH="${BATCH:-200}" SEED="${SEED:-0}"
WIDTH="${WIDTH-400}" HEIGHT="${HEIGHT-350}"
RANGE="${RANGE:-fixed}" MIN="${MIN:--20}" MAX="${MAX:-20}"
OUT_DIR="$(make_output_dir heatmap "${1:-}")"

launch -q \
  updatetestsrc num-buffers="$UPDATES" distribution=zipf rows="$ROWS" \
    cols="$COLS" batch="$BATCH" seed="$SEED" ! \
  sharedmatrix rows="$ROWS" cols="$COLS" snapshot-every="$EVERY" \
    snapshot-on-eos=false ! \
  matrixheatmap range="$RANGE" min="$MIN" max="$MAX" ! \
  "video/x-raw${WIDTH:+,width=$WIDTH}${HEIGHT:+,height=$HEIGHT}" ! \
  videoconvert ! pngenc ! multifilesink location="$OUT_DIR/heat-%05d.png"
echo "$((UPDATES / EVERY)) heat maps of the $ROWS x $COLS matrix in $OUT_DIR"

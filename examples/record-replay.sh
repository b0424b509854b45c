#!/usr/bin/env bash
# Record an update stream to a file and replay it later, caps, OFFSETs and
# PTS included, with GStreamer's GDP framing (gdppay/gdpdepay, in
# gstreamer1.0-plugins-bad): a raw `filesink` recording loses the buffer
# boundaries, so a stream whose updates vary in size cannot be cut up again
# (`filesrc blocksize=` only works for one fixed size), and it loses the
# OFFSETs that checkpoints and exactly-once replay rely on.
#
#   examples/record-replay.sh [OUTPUT_DIR]
#
# Sizes from the environment: ROWS (1000), COLS (16), UPDATES (60). Then:
# 1. record: two updatetestsrc streams of different batch sizes (N=50 for
#    the first half, seed 1; N=7 for the second, seed 2) into one GDP file,
#    the second's OFFSETs continuing the first's (HALF, HALF+1, …);
# 2. replay:  filesrc ! gdpdepay ! sharedmatrix -> replayed.npy
# 3. resume:  a checkpoint of the first 20 updates, then the whole recording
#    into it: the updates the checkpoint holds (OFFSET <= its last-offset)
#    are skipped, the rest applied once -> resumed.npy, equal to
#    replayed.npy bit for bit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS="${ROWS:-1000}" COLS="${COLS:-16}" UPDATES="${UPDATES:-60}"
HALF=$((UPDATES / 2))
OUT_DIR="$(make_output_dir record-replay "${1:-}")"
REC="$OUT_DIR/updates.gdp"

src () {   # src BATCH SEED NUM_BUFFERS: an update stream
  echo "updatetestsrc rows=$ROWS cols=$COLS batch=$1 seed=$2 num-buffers=$3"
}

# 1. record: one GDP file, two batch sizes. gdppay writes the caps first,
#    then one packet per buffer (header with OFFSET, PTS, size + payload).
launch -q $(src 50 1 $HALF) ! gdppay ! filesink location="$REC"
/usr/bin/python3 - "$REC" "$ROWS" "$COLS" "$HALF" "$((UPDATES - HALF))" <<'PY'
# Append the second half with OFFSETs HALF.. (updatetestsrc counts from 0
# on every start), through the same gdppay, from Python.
import sys, gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
rec, rows, cols, first, n = sys.argv[1], *map(int, sys.argv[2:])
p = Gst.parse_launch(f"updatetestsrc rows={rows} cols={cols} batch=7 seed=2 "
                     f"num-buffers={n} name=s ! gdppay ! filesink append=true location={rec}")
def shift(pad, info):
    buf = info.get_buffer()
    buf.offset += first
    buf.offset_end += first
    return Gst.PadProbeReturn.OK
p.get_by_name("s").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, shift)
p.set_state(Gst.State.PLAYING)
msg = p.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
p.set_state(Gst.State.NULL)
sys.exit(msg.type != Gst.MessageType.EOS)
PY
echo "recorded $UPDATES updates ($(stat -c %s "$REC") bytes) to $REC"

SINK="! application/x-npy ! filesink"
# 2. replay the recording: gdpdepay restores caps, OFFSET and PTS
launch -q filesrc location="$REC" ! gdpdepay \
  ! sharedmatrix rows="$ROWS" cols="$COLS" name=sm $SINK location="$OUT_DIR/replayed.npy"

# 3. a checkpoint of the first 20 updates, then the whole recording again:
#    the 20 it holds are skipped, so every update is applied exactly once
CKPT="$OUT_DIR/model.ckpt.npy"
rm -f "$CKPT"
launch -q $(src 50 1 20) ! sharedmatrix rows="$ROWS" cols="$COLS" checkpoint-location="$CKPT"
launch -q filesrc location="$REC" ! gdpdepay \
  ! sharedmatrix rows="$ROWS" cols="$COLS" checkpoint-location="$CKPT" $SINK location="$OUT_DIR/resumed.npy"

/usr/bin/python3 - "$OUT_DIR" <<'PY'
import sys, numpy as np
d = sys.argv[1]
a, b = np.load(f"{d}/replayed.npy"), np.load(f"{d}/resumed.npy")
print(f"replayed.npy and resumed.npy equal: {bool(np.array_equal(a, b))}")
PY
echo "outputs in $OUT_DIR"

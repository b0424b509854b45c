#!/usr/bin/env bash
# Scale-out on one machine: a local three-server NATS JetStream cluster, a
# producer splitting an updatetestsrc stream into 2 partitions (or one
# stream, while updatepartition is not built), one shard process per
# partition, and — when sharedmatrix offers delta snapshots — a replica fed
# by a primary's deltas. Prints throughput, replica lag and a final numpy
# equality check; stops the servers and removes what it made (unless
# OUTPUT_DIR was given).
#
#   examples/scale-out.sh [OUTPUT_DIR]
#
# Sizes from the environment: ROWS (70000), COLS (100), BATCH (200),
# UPDATES (2000), SEED (1), REPLICAS (3). See docs/scale-out.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS="${ROWS:-70000}" COLS="${COLS:-100}" BATCH="${BATCH:-200}"
UPDATES="${UPDATES:-2000}" SEED="${SEED:-1}" REPLICAS="${REPLICAS:-3}"
KEEP="${1:-}"
OUT_DIR="$(make_output_dir scale-out "${1:-}")"
NATS_SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"
PY=/usr/bin/python3
pids=()

cleanup () {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$KEEP" ] || rm -rf "$OUT_DIR"
}
trap cleanup EXIT

if ! gst-inspect-1.0 jetstreamsrc >/dev/null 2>&1; then
  echo "jetstreamsrc is not built (install libnats-dev and rebuild)" >&2
  exit 1
fi

# free ports, from the kernel
read -r -a PORTS <<< "$($PY -c '
import socket
ss = [socket.socket() for _ in range(9)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')"
ROUTES="nats-route://127.0.0.1:${PORTS[3]}, nats-route://127.0.0.1:${PORTS[4]}, nats-route://127.0.0.1:${PORTS[5]}"
SERVERS="nats://127.0.0.1:${PORTS[0]},nats://127.0.0.1:${PORTS[1]},nats://127.0.0.1:${PORTS[2]}"
for i in 0 1 2; do
  cat > "$OUT_DIR/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${PORTS[$i]}
http: 127.0.0.1:${PORTS[$((i + 6))]}
jetstream { store_dir: "$OUT_DIR/store-n$i" }
cluster { name: example, listen: 127.0.0.1:${PORTS[$((i + 3))]}, routes: [$ROUTES] }
CONF
  "$NATS_SERVER" -c "$OUT_DIR/n$i.conf" > "$OUT_DIR/n$i.log" 2>&1 &
  pids+=($!)
done
echo "cluster    : 3 nats-server processes, $SERVERS"
$PY - "${PORTS[6]}" <<'PY'
import json, sys, time, urllib.request
for _ in range(150):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/jsz", timeout=1) as r:
            if json.load(r).get("meta_cluster", {}).get("leader"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("no JetStream meta leader after 30 s")
PY

SRC="updatetestsrc rows=$ROWS cols=$COLS batch=$BATCH seed=$SEED num-buffers=$UPDATES"
SINK="jetstreamsink server=$SERVERS stream=UPDATES replicas=$REPLICAS max-pending=256"
IDLE=2000000000
if gst-inspect-1.0 updatepartition >/dev/null 2>&1; then
  PARTS=2
  B=$(( (ROWS + 1) / 2 ))
  SHARD_ROWS=("$B" "$((ROWS - B))")
  PRODUCER="$SRC ! updatepartition partitions=2 rows=$ROWS name=p p.src_0 ! queue ! $SINK subject=UPDATES.p0 p.src_1 ! queue ! $SINK subject=UPDATES.p1"
else
  echo "note       : updatepartition not built: one shard holds the whole matrix"
  PARTS=1
  SHARD_ROWS=("$ROWS")
  PRODUCER="$SRC ! $SINK subject=UPDATES.p0"
fi

# the stream exists before the shards start
gst-launch-1.0 -q updatetestsrc num-buffers=0 ! $SINK subject=UPDATES.warmup
t0=$($PY -c 'import time; print(time.time())')
shard_pids=()
for ((i = 0; i < PARTS; i++)); do
  gst-launch-1.0 -q jetstreamsrc server="$SERVERS" stream=UPDATES subject=UPDATES.p$i \
      durable=shard$i idle-timeout=$IDLE \
    ! sharedmatrix rows="${SHARD_ROWS[$i]}" cols="$COLS" \
      checkpoint-location="$OUT_DIR/shard$i.npy" checkpoint-every=500 ! fakesink \
    > "$OUT_DIR/shard$i.log" 2>&1 &
  shard_pids+=($!)
done
# shellcheck disable=SC2086
gst-launch-1.0 -q $PRODUCER > "$OUT_DIR/producer.log" 2>&1
t1=$($PY -c 'import time; print(time.time())')
for p in "${shard_pids[@]}"; do wait "$p"; done
t2=$($PY -c 'import time; print(time.time())')

# the reference: the same bytes, applied once each by numpy
gst-launch-1.0 -q $SRC ! filesink location="$OUT_DIR/updates.bin"
$PY - "$OUT_DIR" "$ROWS" "$COLS" "$BATCH" "$UPDATES" "$PARTS" "$t0" "$t1" "$t2" "$IDLE" <<'PY'
import sys
import numpy as np
out, rows, cols, batch, n, parts = sys.argv[1], *map(int, sys.argv[2:7])
t0, t1, t2 = map(float, sys.argv[7:10])
idle = int(sys.argv[10]) / 1e9
record = 4 + cols * 4
raw = np.fromfile(f"{out}/updates.bin", np.uint8).reshape(n, batch * record)
want = np.zeros((rows, cols), np.float32)
for chunk in raw:
    np.add.at(want, chunk[:batch * 4].view("<i4"), chunk[batch * 4:].view("<f4").reshape(batch, cols))
got = np.concatenate([np.load(f"{out}/shard{i}.npy") for i in range(parts)])
secs = max(t2 - t0 - idle, 1e-6)
mb = n * batch * record / 1e6
print(f"producer   : {n} updates of {batch} x {cols} float32 in {t1 - t0:.2f} s")
print(f"shards     : {parts}, all applied after {secs:.2f} s: {n / secs:,.0f} updates/s, {mb / secs:,.1f} MB/s end to end")
same = got.shape == want.shape and (got.view(np.uint32) == want.view(np.uint32)).all()
print(f"equality   : concatenated shard matrices {'equal' if same else 'DIFFER FROM'} numpy, bit for bit")
sys.exit(0 if same else 1)
PY

# a replica fed by the primary's deltas, when sharedmatrix has them
if gst-inspect-1.0 sharedmatrix | grep -q "application/x-matrix-update"; then
  REP="$OUT_DIR/replica.npy"
  gst-launch-1.0 -q jetstreamsrc server="$SERVERS" stream=DELTAS subject=DELTAS.d durable=replica \
      idle-timeout=$IDLE ! sharedmatrix rows="$ROWS" cols="$COLS" op=set \
      ! application/x-npy ! filesink location="$REP" > "$OUT_DIR/replica.log" 2>&1 &
  rp=$!
  r0=$($PY -c 'import time; print(time.time())')
  gst-launch-1.0 -q $SRC ! sharedmatrix rows="$ROWS" cols="$COLS" snapshot-every=100 \
    ! application/x-matrix-update,index-type=int64 \
    ! jetstreamsink server="$SERVERS" stream=DELTAS subject=DELTAS.d replicas="$REPLICAS" \
    > "$OUT_DIR/primary.log" 2>&1
  r1=$($PY -c 'import time; print(time.time())')
  wait "$rp"
  r2=$($PY -c 'import time; print(time.time())')
  $PY - "$OUT_DIR" "$REP" "$r0" "$r1" "$r2" "$IDLE" <<'PY'
import sys
import numpy as np
out, rep = sys.argv[1], sys.argv[2]
r0, r1, r2 = map(float, sys.argv[3:6])
lag = max(r2 - float(sys.argv[6]) / 1e9 - r1, 0)
print(f"replica    : last delta applied {lag * 1000:.0f} ms after the primary finished")
PY
  $PY - "$OUT_DIR" "$ROWS" "$COLS" "$BATCH" "$UPDATES" "$REP" <<'PY'
import sys
import numpy as np
out, rows, cols, batch, n, rep = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
record = 4 + cols * 4
raw = np.fromfile(f"{out}/updates.bin", np.uint8).reshape(n, batch * record)
want = np.zeros((rows, cols), np.float32)
for chunk in raw:
    np.add.at(want, chunk[:batch * 4].view("<i4"), chunk[batch * 4:].view("<f4").reshape(batch, cols))
same = (np.load(rep).view(np.uint32) == want.view(np.uint32)).all()
print(f"replica    : {'equals' if same else 'DIFFERS FROM'} numpy at the final version")
sys.exit(0 if same else 1)
PY
else
  echo "replica    : skipped (delta snapshots not built)"
fi

#!/usr/bin/env bash
# Scale-out on one machine: a local three-server NATS JetStream cluster, a
# producer splitting an updatetestsrc stream into 2 partitions
# (updatepartition), 2 shard processes (one per partition, with
# checkpoints), shard 0 publishing a delta every DELTA_EVERY versions, and a
# replica process of shard 0 applying them. Prints throughput, replica lag
# (from the sharedmatrix-stats messages of shard 0 and the replica) and a
# final equality check (shards vs numpy, replica vs shard 0), bit for bit;
# stops the servers and removes what it made (unless OUTPUT_DIR was given).
#
#   examples/scale-out.sh [OUTPUT_DIR]
#
# Sizes from the environment: ROWS (70000), COLS (100), BATCH (200),
# UPDATES (2000), SEED (1), REPLICAS (3), DELTA_EVERY (5). See
# docs/scale-out.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS="${ROWS:-70000}" COLS="${COLS:-100}" BATCH="${BATCH:-200}"
UPDATES="${UPDATES:-2000}" SEED="${SEED:-1}" REPLICAS="${REPLICAS:-3}"
DELTA_EVERY="${DELTA_EVERY:-5}"
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

for e in jetstreamsrc updatepartition; do
  if ! gst-inspect-1.0 "$e" >/dev/null 2>&1; then
    echo "$e is not built (jetstream*: install libnats-dev and rebuild)" >&2
    exit 1
  fi
done

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
SINK="jetstreamsink server=$SERVERS replicas=$REPLICAS max-pending=256"
B=$(( (ROWS + 1) / 2 ))
SHARD_ROWS=("$B" "$((ROWS - B))")
MS=1000000
# gst-launch-1.0 -m output with a wall-clock time in front of each line
stamp () {
  $PY -u -c 'import sys, time
for line in sys.stdin:
    sys.stdout.write(f"{time.time():.6f} {line}")'
}

# the streams exist before the readers start
gst-launch-1.0 -q updatetestsrc num-buffers=0 ! $SINK stream=UPDATES subject=UPDATES.warmup
gst-launch-1.0 -q updatetestsrc num-buffers=0 ! $SINK stream=DELTAS subject=DELTAS.warmup
t0=$($PY -c 'import time; print(time.time())')
# shard 0, also the primary of the replica: a delta every DELTA_EVERY versions
( gst-launch-1.0 -m jetstreamsrc server="$SERVERS" stream=UPDATES subject=UPDATES.p0 \
      durable=shard0 num-buffers="$UPDATES" \
    ! sharedmatrix name=shard0 rows="${SHARD_ROWS[0]}" cols="$COLS" \
      checkpoint-location="$OUT_DIR/shard0.npy" checkpoint-every=500 \
      snapshot-every="$DELTA_EVERY" post-messages=true message-interval=$((10 * MS)) \
    ! application/x-matrix-update,index-type=int64 \
    ! $SINK stream=DELTAS subject=DELTAS.shard0 2>&1 | stamp > "$OUT_DIR/shard0.log" ) &
shard_pids=($!)
( gst-launch-1.0 -q jetstreamsrc server="$SERVERS" stream=UPDATES subject=UPDATES.p1 \
      durable=shard1 num-buffers="$UPDATES" \
    ! sharedmatrix rows="${SHARD_ROWS[1]}" cols="$COLS" \
      checkpoint-location="$OUT_DIR/shard1.npy" checkpoint-every=500 ! fakesink \
    > "$OUT_DIR/shard1.log" 2>&1 ) &
shard_pids+=($!)
# the replica of shard 0: ends 2 s after the last delta
( gst-launch-1.0 -m jetstreamsrc server="$SERVERS" stream=DELTAS subject=DELTAS.shard0 \
      durable=replica0 idle-timeout=$((2000 * MS)) \
    ! sharedmatrix name=replica0 rows="${SHARD_ROWS[0]}" cols="$COLS" op=set \
      checkpoint-location="$OUT_DIR/replica0.npy" checkpoint-every=100 \
      post-messages=true message-interval=$((10 * MS)) ! fakesink \
    2>&1 | stamp > "$OUT_DIR/replica0.log" ) &
replica_pid=$!
# the producer: every update split in 2 partitions, each published to its
# subject; timestamped (the stats messages' interval is counted in PTS)
gst-launch-1.0 -q $SRC do-timestamp=true ! updatepartition partitions=2 rows="$ROWS" name=p \
  p.src_0 ! queue ! $SINK stream=UPDATES subject=UPDATES.p0 \
  p.src_1 ! queue ! $SINK stream=UPDATES subject=UPDATES.p1 > "$OUT_DIR/producer.log" 2>&1
t1=$($PY -c 'import time; print(time.time())')
for p in "${shard_pids[@]}"; do wait "$p"; done
t2=$($PY -c 'import time; print(time.time())')
wait "$replica_pid"

# the reference: the same bytes, applied once each by numpy
gst-launch-1.0 -q $SRC ! filesink location="$OUT_DIR/updates.bin"
$PY - "$OUT_DIR" "$ROWS" "$COLS" "$BATCH" "$UPDATES" "$t0" "$t1" "$t2" "$DELTA_EVERY" <<'PY'
import re
import sys
import numpy as np
out, rows, cols, batch, n = sys.argv[1], *map(int, sys.argv[2:6])
t0, t1, t2 = map(float, sys.argv[6:9])
record = 4 + cols * 4
raw = np.fromfile(f"{out}/updates.bin", np.uint8).reshape(n, batch * record)
want = np.zeros((rows, cols), np.float32)
for chunk in raw:
    np.add.at(want, chunk[:batch * 4].view("<i4"), chunk[batch * 4:].view("<f4").reshape(batch, cols))
shards = [np.load(f"{out}/shard{i}.npy") for i in range(2)]
replica = np.load(f"{out}/replica0.npy")


def same(a, b):
    return a.shape == b.shape and (a.view(np.uint32) == b.view(np.uint32)).all()


def stats(log, field):
    """(wall-clock time, value of @field) of each sharedmatrix-stats message"""
    pat = re.compile(r"^(\S+) .*sharedmatrix-stats, .*" + field + r"=\(guint64\)(\d+)")
    with open(log) as f:
        return [(float(m[1]), int(m[2])) for m in map(pat.match, f) if m]


mb = n * batch * record / 1e6
secs = t2 - t0
print(f"producer   : {n} updates of {batch} x {cols} float32 in 2 partitions, {t1 - t0:.2f} s")
print(f"shards     : 2, every update applied after {secs:.2f} s: "
      f"{n / secs:,.0f} updates/s, {mb / secs:,.1f} MB/s end to end")
primary = stats(f"{out}/shard0.log", "version")
mirrored = [(t, v) for t, v in stats(f"{out}/replica0.log", "last-offset") if v < 2 ** 64 - 1]
# each mirrored version once, when it first showed (the EOS message repeats it)
firsts = []
for t, v in mirrored:
    if not firsts or v > firsts[-1][1]:
        firsts.append((t, v))
lag_ms, lag_v = [], []
for t, v in firsts:
    reached = next((tp for tp, pv in primary if pv >= v), None)
    if reached is not None:
        lag_ms.append((t - reached) * 1000)
    before = [pv for tp, pv in primary if tp <= t]
    if before and before[-1] < n:
        lag_v.append(before[-1] - v)
if len(lag_ms) >= 3:
    lag_ms.sort()
    print(f"replica    : of shard 0, a delta every {sys.argv[9]} versions; lag median "
          f"{lag_ms[len(lag_ms) // 2]:.0f} ms, max {lag_ms[-1]:.0f} ms" +
          (f"; {sorted(lag_v)[len(lag_v) // 2]} versions behind (median) while the "
           "stream ran" if lag_v else ""))
else:
    print("replica    : lag not measured (too few 10 ms stats samples in so short a run)")
ok_shards = same(np.concatenate(shards), want)
ok_replica = same(replica, shards[0])
print(f"equality   : concatenated shard matrices {'equal' if ok_shards else 'DIFFER FROM'} "
      "numpy, bit for bit")
print(f"equality   : replica {'equals' if ok_replica else 'DIFFERS FROM'} shard 0, bit for bit")
sys.exit(0 if ok_shards and ok_replica else 1)
PY

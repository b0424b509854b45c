#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Throughput of an update stream from a producer to a shard through a
local three-server NATS JetStream cluster, against the same pipeline
without the network, and the lag of a replica fed by the shard's deltas.
Figures only: nothing here fails on time (docs/scale-out.md, "Throughput").

    tests/bench/bench_jetstream.py [--updates N] [--rows R] [--cols C]
                                   [--batch B] [--max-pending P] [--csv FILE]

Run it in the environment tests/setup.sh makes (tests/bench/run.sh does).

Cases, each with N updates of B rows x C float32 (updatetestsrc, int32
indices, op add, CPU backend):
- direct: `updatetestsrc ! sharedmatrix ! fakesink`, one process;
- R1/R3 sync and async: `updatetestsrc ! jetstreamsink replicas=1|3
  [max-pending=P]` and `jetstreamsrc num-buffers=N ! sharedmatrix !
  fakesink` running at once; the time is from the producer's start to the
  shard's EOS (every update applied), so it is end to end;
- replica: the R3 async case again, the shard now a primary that pushes a
  delta every K versions (`snapshot-every=K !
  application/x-matrix-update ! jetstreamsink`) and a replica
  `jetstreamsrc ! sharedmatrix op=set` applying them. Every 2 ms the
  primary's `version` and the replica's `last-offset` (the primary version
  its last delta carried) are sampled: the lag in versions is their
  difference at each sample, the lag in ms is, for each delta, the time
  from the primary reaching its version to the replica having applied it
  (so it includes the up to K-1 versions a delta waits for its batch).

Every pipeline runs in this process (no process start-up in the figures),
each element with its own matrix; the servers are separate processes on
the same machine, so the network is loopback and the disks are local.
"""

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

from nats_cluster import NATS_SERVER, Cluster  # noqa: E402

os.environ.setdefault("GST_SHARED_MATRIX_FORCE_CPU", "1")


def run_until_eos(pipelines, done, timeout=600, sample=None):
    """Sets @pipelines PLAYING in order, then waits until the pipeline @done
    posts EOS; an ERROR from any is fatal. Calls @sample () every 2 ms
    while waiting when given. Returns (start, end) monotonic seconds."""
    buses = [p.get_bus() for p in pipelines]
    t0 = time.monotonic()
    for p in pipelines:
        p.set_state(Gst.State.PLAYING)
    deadline = t0 + timeout
    while True:
        for p, bus in zip(pipelines, buses):
            msg = bus.pop_filtered(Gst.MessageType.EOS | Gst.MessageType.ERROR)
            if msg is None:
                continue
            if msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                raise RuntimeError(f"{msg.src.get_name()}: {err.message} ({dbg})")
            if p is done:
                return t0, time.monotonic()
        if sample:
            sample()
        if time.monotonic() > deadline:
            raise RuntimeError(f"no EOS after {timeout} s")
        time.sleep(0.002 if sample else 0.001)


def stop(*pipelines):
    for p in pipelines:
        p.set_state(Gst.State.NULL)


class Bench:
    def __init__(self, args, cluster):
        self.a = args
        self.cluster = cluster
        self.count = 0
        self.mb = args.updates * args.batch * (4 + args.cols * 4) / 1e6

    def src(self):
        a = self.a
        return (f"updatetestsrc rows={a.rows} cols={a.cols} batch={a.batch} seed=1 "
                f"num-buffers={a.updates}")

    def matrix(self, extra=""):
        return f"sharedmatrix rows={self.a.rows} cols={self.a.cols} {extra}"

    def new_stream(self, replicas, max_pending):
        """A fresh stream (created now, so not timed) and its sink."""
        self.count += 1
        name = f"BENCH{self.count}"
        sink = (f"jetstreamsink server={self.cluster.servers} stream={name} "
                f"replicas={replicas} max-pending={max_pending}")
        p = Gst.parse_launch(f"updatetestsrc num-buffers=0 ! {sink} subject={name}.warmup")
        run_until_eos([p], p)
        stop(p)
        return name, sink

    def consumer(self, stream, subject, durable, extra=""):
        return (f"jetstreamsrc server={self.cluster.servers} stream={stream} "
                f"subject={stream}.{subject} durable={durable} {extra}")

    def direct(self, queue):
        q = "queue ! " if queue else ""
        p = Gst.parse_launch(f"{self.src()} ! {q}{self.matrix()} ! fakesink")
        t0, t1 = run_until_eos([p], p)
        stop(p)
        return dict(case="direct" + (" (with a queue)" if queue else ""), seconds=t1 - t0)

    def network(self, replicas, max_pending):
        stream, sink = self.new_stream(replicas, max_pending)
        shard = Gst.parse_launch(
            f"{self.consumer(stream, 'u', 'shard', f'num-buffers={self.a.updates}')} ! "
            f"{self.matrix()} name=m ! fakesink")
        producer = Gst.parse_launch(f"{self.src()} ! queue ! {sink} subject={stream}.u")
        shard.set_state(Gst.State.PLAYING)
        t0, t1 = run_until_eos([producer, shard], shard)
        applied = shard.get_by_name("m").props.updates_applied
        stop(producer, shard)
        assert applied == self.a.updates, f"the shard applied {applied} updates"
        mode = "sync" if max_pending == 0 else f"async (max-pending={max_pending})"
        return dict(case=f"R{replicas} {mode}", seconds=t1 - t0)

    def replica(self, replicas, max_pending, every):
        stream, sink = self.new_stream(replicas, max_pending)
        deltas, dsink = self.new_stream(replicas, max_pending)
        primary = Gst.parse_launch(
            f"{self.consumer(stream, 'u', 'primary', f'num-buffers={self.a.updates}')} ! "
            f"{self.matrix(f'snapshot-every={every}')} name=m ! "
            f"application/x-matrix-update,index-type=int64 ! {dsink} subject={deltas}.d")
        replica = Gst.parse_launch(
            f"{self.consumer(deltas, 'd', 'replica')} ! {self.matrix('op=set')} name=m ! "
            "fakesink")
        producer = Gst.parse_launch(f"{self.src()} ! queue ! {sink} subject={stream}.u")
        pm, rm = primary.get_by_name("m"), replica.get_by_name("m")
        samples = []

        def sample():
            # the replica first: its last-offset never runs ahead of the
            # primary's version read after it
            r = rm.props.last_offset
            v = pm.props.version
            samples.append((time.monotonic(), v, 0 if r == Gst.BUFFER_OFFSET_NONE else r))

        replica.set_state(Gst.State.PLAYING)
        primary.set_state(Gst.State.PLAYING)
        t0, t1 = run_until_eos([producer, primary], primary, sample=sample)
        deadline = time.monotonic() + 60
        while samples[-1][2] < self.a.updates and time.monotonic() < deadline:
            time.sleep(0.002)
            sample()
        stop(producer, primary, replica)
        if samples[-1][2] != self.a.updates:
            raise RuntimeError(f"the replica reached version {samples[-1][2]} only")

        behind = [v - r for _, v, r in samples if v > 0]
        lag_ms = []
        seen = 0
        for t, _, r in samples:
            if r > seen:
                seen = r
                reached = next(ts for ts, v, _ in samples if v >= r)
                lag_ms.append((t - reached) * 1000)
        return dict(case=f"R{replicas} async + replica (delta every {every})",
                    seconds=t1 - t0,
                    lag_versions_median=statistics.median(behind),
                    lag_versions_max=max(behind),
                    lag_ms_median=statistics.median(lag_ms),
                    lag_ms_p95=sorted(lag_ms)[int(0.95 * (len(lag_ms) - 1))],
                    lag_ms_max=max(lag_ms))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=3000)
    ap.add_argument("--rows", type=int, default=70000)
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--max-pending", type=int, default=256)
    ap.add_argument("--delta-every", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each case, the best one reported")
    ap.add_argument("--csv")
    args = ap.parse_args()

    Gst.init(None)
    missing = [e for e in ("updatetestsrc", "sharedmatrix", "jetstreamsink", "jetstreamsrc")
               if Gst.ElementFactory.find(e) is None]
    if NATS_SERVER is None or missing:
        print(f"bench_jetstream: skipped ({'nats-server not found' if NATS_SERVER is None else 'missing elements ' + ', '.join(missing)})")
        return 0

    root = tempfile.mkdtemp(prefix="sm-bench-nats-")
    cluster = Cluster(root)
    rows = []
    try:
        cluster.wait_ready()
        b = Bench(args, cluster)
        plan = [lambda: b.direct(False), lambda: b.direct(True), lambda: b.network(1, 0), lambda: b.network(1, args.max_pending),
                lambda: b.network(3, 0), lambda: b.network(3, args.max_pending),
                lambda: b.replica(3, args.max_pending, args.delta_every)]
        for case in plan:
            runs = [case() for _ in range(args.repeat)]
            rows.append(min(runs, key=lambda r: r["seconds"]))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    print(f"JetStream throughput: {args.updates} updates of {args.batch} x {args.cols} float32 "
          f"({b.mb / args.updates * 1000:.0f} KB each), matrix {args.rows} x {args.cols}, "
          f"3 local nats-server, {os.cpu_count()} CPUs")
    direct = min(rows[0]["seconds"], rows[1]["seconds"])
    print(f"{'case':44} {'updates/s':>10} {'MB/s':>8} {'vs direct':>9}  replica lag")
    for r in rows:
        r["updates_per_s"] = args.updates / r["seconds"]
        r["mb_per_s"] = b.mb / r["seconds"]
        r["ratio"] = direct / r["seconds"]
        lag = ""
        if "lag_ms_median" in r:
            lag = (f"versions median {r['lag_versions_median']:.0f} max {r['lag_versions_max']}; "
                   f"ms median {r['lag_ms_median']:.1f} p95 {r['lag_ms_p95']:.1f} "
                   f"max {r['lag_ms_max']:.1f}")
        print(f"{r['case']:44} {r['updates_per_s']:10.0f} {r['mb_per_s']:8.1f} "
              f"{r['ratio']:8.0%}  {lag}")
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

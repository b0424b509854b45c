#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Concurrency stress: readers, several writers, property changes and state
changes while updates stream at full speed. Every check is exact.

- readers-see-whole-updates: an appsrc stream where every update adds the
  same delta row to ALL rows of the matrix (rows in a shuffled order; delta
  k is (k % 7 + 1) * (1, 2, ..., cols), small integers, exact in float32).
  Any consistent copy therefore has all rows equal to T(V) * (1, ..., cols)
  with T(V) = sum_{k<V} (k % 7 + 1) for the version V it shows. While the
  stream runs, an application thread loops over get_value, gather_bytes
  and the `snapshot` action signal, and pulls the snapshots the element
  pushes (snapshot-every) from an appsink: each copy must satisfy the
  invariant, snapshots for exactly their OFFSET (= version), get_value and
  gather for a version between the ones read before and after the call.
  The update size (4096 x 16) takes the CPU backend's multi-threaded path.
- two-writers-one-name: two pipelines with the same matrix-name, each
  streaming its own file of random updates (small integer deltas, duplicate
  rows) through filesrc at C speed, concurrently. The final matrix must
  equal numpy's np.add.at of both streams exactly (integer sums commute).
- op-toggled-while-playing: a thread flips `op` between set and add while
  updates stream (every update again writes one delta row to all rows).
  Whatever the interleaving, each update is applied whole with one op, so
  every copy shows all rows equal, with a value that is the sum of the
  deltas from some "last set" update s up to its version: checked on
  snapshots during the run and on the final matrix.
- state-changes-under-load: 200 state changes (PLAYING<->PAUSED and
  PLAYING<->NULL, alternating) of updatetestsrc ! sharedmatrix ! fakesink
  with data flowing in between: every change completes, no ERROR message,
  the version never decreases and grows after every return to PLAYING, and
  at the end updates-applied equals the matrix version.

One pytest test per check, each printing its figures (updates applied,
copies checked; `pytest -rP` shows them); the module skips without numpy,
PyGObject/Gst, the typelib or the plugin.
"""

import os
import threading
import time

from checks import (CheckFailed, expect, note, require_elements,
                    require_gst_sharedmatrix, require_numpy)

np = require_numpy()
Gst, GLib, SM = require_gst_sharedmatrix()
require_elements(Gst, ("sharedmatrix", "updatetestsrc", "appsrc", "appsink",
                       "filesrc", "fakesink"))

TIMEOUT = 30 * Gst.SECOND


def bus_error(pipeline):
    msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    if msg is None:
        return None
    err, debug = msg.parse_error()
    return f"{msg.src.get_name()}: {err.message} ({debug})"


def wait_eos(pipeline, what):
    msg = pipeline.get_bus().timed_pop_filtered(
        TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    expect(msg is not None, f"{what}: no EOS within {TIMEOUT // Gst.SECOND} s")
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        raise CheckFailed(f"{what}: ERROR {err.message} ({debug})")


def update_caps(cols, dtype="float32", index_type="int32"):
    return Gst.Caps.from_string(
        f"application/x-matrix-update, dtype=(string){dtype}, "
        f"index-type=(string){index_type}, cols=(int){cols}")


def all_rows_update(rows, cols, value, rng):
    """One update naming every row once, in a shuffled order, with the
    delta row value * (1, 2, ..., cols)."""
    idx = np.arange(rows, dtype="<i4")
    rng.shuffle(idx)
    delta = np.tile(value * np.arange(1, cols + 1, dtype="<f4"), (rows, 1))
    return GLib.Bytes.new(idx.tobytes() + delta.astype("<f4").tobytes())


class Pusher(threading.Thread):
    """Pushes buffers made from a cycle of GLib.Bytes into an appsrc until
    told to stop (or n updates), then sends EOS."""

    def __init__(self, appsrc, payloads, n=None, seconds=None):
        super().__init__(daemon=True)
        self.appsrc, self.payloads = appsrc, payloads
        self.n, self.seconds = n, seconds
        self.pushed = 0
        self.stop = threading.Event()
        self.error = None

    def run(self):
        deadline = time.monotonic() + self.seconds if self.seconds else None
        try:
            k = 0
            while not self.stop.is_set():
                if self.n is not None and k >= self.n:
                    break
                if deadline and (k & 63) == 0 and time.monotonic() > deadline:
                    break
                buf = Gst.Buffer.new_wrapped_bytes(
                    self.payloads[k % len(self.payloads)])
                buf.offset = k
                ret = self.appsrc.emit("push-buffer", buf)
                if ret != Gst.FlowReturn.OK:
                    self.error = f"push-buffer returned {ret} after {k}"
                    break
                k += 1
            self.pushed = k
        finally:
            self.appsrc.emit("end-of-stream")


def make_appsrc_pipeline(desc, cols):
    pipeline = Gst.parse_launch(desc)
    src = pipeline.get_by_name("src")
    src.set_property("caps", update_caps(cols))
    src.set_property("format", Gst.Format.BYTES)
    src.set_property("block", True)
    src.set_property("max-bytes", 8 << 20)
    return pipeline, src


# ---- readers see whole updates -------------------------------------------------

def test_readers_see_whole_updates(tmp):
    rows, cols = 4096, 16          # 65536 delta elements: the threaded path
    period, seconds = 7, 4.0
    rng = np.random.default_rng(1)
    payloads = [all_rows_update(rows, cols, p + 1, rng) for p in range(period)]
    # T(V) for every V the stream can reach: T(V) = sum_{k<V} (k % 7 + 1)
    max_updates = 200000
    steps = np.tile(np.arange(1, period + 1, dtype=np.int64),
                    max_updates // period + 1)[:max_updates]
    totals = np.concatenate([[0], np.cumsum(steps)])
    expect(totals[-1] * cols < 2 ** 24, "sums would not be exact in float32")
    colmul = np.arange(1, cols + 1, dtype=np.float64)

    pipeline, src = make_appsrc_pipeline(
        f"appsrc name=src ! sharedmatrix name=sm rows={rows} cols={cols} "
        f"snapshot-every=25 ! appsink name=sink sync=false drop=true "
        f"max-buffers=2 emit-signals=false", cols)
    sm, sink = pipeline.get_by_name("sm"), pipeline.get_by_name("sink")
    gather_idx = np.array([0, rows - 1, 17, 0, rows // 2, 1234], "<i4")
    gather_bytes = GLib.Bytes.new(gather_idx.tobytes())
    counts = {"get_value": 0, "gather": 0, "signal": 0, "pushed": 0}
    problems = []

    def check_copy(data, n_rows, what, vmin, vmax):
        a = np.frombuffer(data, "<f4").reshape(n_rows, cols)
        row = a[0].astype(np.float64)
        if not np.array_equal(a, np.broadcast_to(a[0], a.shape)):
            bad = int(np.argwhere((a != a[0]).any(axis=1))[0][0])
            problems.append(f"{what}: torn copy, row {bad} = {a[bad][:3]}... "
                            f"but row 0 = {a[0][:3]}...")
            return
        if not np.array_equal(row, row[0] * colmul):
            problems.append(f"{what}: row {row[:4]} is not a multiple of "
                            f"(1, 2, 3, ...)")
            return
        v = int(np.searchsorted(totals, row[0]))
        if v >= len(totals) or totals[v] != row[0]:
            problems.append(f"{what}: value {row[0]} is no prefix sum")
            return
        if not vmin <= v <= vmax:
            problems.append(f"{what}: shows version {v}, outside the "
                            f"[{vmin}, {vmax}] read around the call")

    def reader(matrix, stop):
        k = 0
        while not stop.is_set() and len(problems) < 5:
            what = k % 4
            k += 1
            if what == 0:
                v0 = matrix.props.version
                data = matrix.get_value().get_data()
                check_copy(data, rows, "get_value", v0, matrix.props.version)
                counts["get_value"] += 1
            elif what == 1:
                v0 = matrix.props.version
                data = matrix.gather_bytes(
                    gather_bytes, SM.IndexType.INT32).get_data()
                check_copy(data, len(gather_idx), "gather_bytes", v0,
                           matrix.props.version)
                counts["gather"] += 1
            elif what == 2:
                sample = sm.emit("snapshot")
                buf = sample.get_buffer()
                v = buf.offset
                check_copy(buf.extract_dup(0, buf.get_size()), rows,
                           f"snapshot signal (OFFSET {v})", v, v)
                counts["signal"] += 1
            else:
                sample = sink.emit("try-pull-sample", 0)
                if sample is not None:
                    buf = sample.get_buffer()
                    v = buf.offset
                    check_copy(buf.extract_dup(0, buf.get_size()), rows,
                               f"pushed snapshot (OFFSET {v})", v, v)
                    counts["pushed"] += 1

    stop = threading.Event()
    try:
        expect(pipeline.set_state(Gst.State.PLAYING) !=
               Gst.StateChangeReturn.FAILURE, "set_state PLAYING")
        matrix = None
        deadline = time.monotonic() + 10
        while matrix is None and time.monotonic() < deadline:
            matrix = sm.props.matrix
            time.sleep(0.005)
        expect(matrix is not None, "the element made no matrix")
        pusher = Pusher(src, payloads, n=max_updates, seconds=seconds)
        readers = [threading.Thread(target=reader, args=(matrix, stop),
                                    daemon=True)]
        t0 = time.monotonic()
        pusher.start()
        for r in readers:
            r.start()
        pusher.join(seconds + 30)
        expect(not pusher.is_alive(), "the pusher is stuck")
        wait_eos(pipeline, "reader stress pipeline")
        stop.set()
        for r in readers:
            r.join(30)
        elapsed = time.monotonic() - t0
        expect(pusher.error is None, f"pusher: {pusher.error}")
        expect(not problems, "; ".join(problems[:3]))
        version = sm.props.version
        expect(version == pusher.pushed, f"version {version} after "
               f"{pusher.pushed} updates")
        final = np.frombuffer(matrix.get_value().get_data(),
                              "<f4").reshape(rows, cols)
        expect(np.array_equal(final, np.broadcast_to(
            (totals[version] * colmul).astype("<f4"), final.shape)),
            "final matrix is not T(version) * (1, ..., cols) everywhere")
        expect(counts["get_value"] >= 5 and counts["gather"] >= 5 and
               counts["signal"] >= 5, f"too few reads: {counts}")
    finally:
        stop.set()
        pipeline.set_state(Gst.State.NULL)
    note(f"{version} updates of {rows}x{cols} in {elapsed:.1f} s "
         f"({version / elapsed:.0f}/s); whole in {counts['get_value']} "
         f"get_value, {counts['gather']} gather, {counts['signal']} "
         f"signal and {counts['pushed']} pushed snapshots")


# ---- two writers, one matrix-name ---------------------------------------------

def test_two_writers_one_name(tmp):
    rows, cols, batch, n = 3000, 8, 256, 3000
    record = batch * (4 + 4 * cols)
    rng = np.random.default_rng(2)
    name = f"stress-two-writers-{os.getpid()}"
    want = np.zeros((rows, cols), np.float64)
    files = []
    for w in range(2):
        path = os.path.join(tmp, f"writer{w}.bin")
        # rows drawn with repetition: duplicates inside an update
        idx = rng.integers(0, rows, (n, batch)).astype("<i4")
        d = rng.integers(-8, 9, (n, batch, cols)).astype("<f4")
        np.add.at(want, idx.ravel(), d.reshape(-1, cols).astype(np.float64))
        with open(path, "wb") as f:
            for k in range(n):
                f.write(idx[k].tobytes() + d[k].tobytes())
        files.append(path)
    expect(np.abs(want).max() < 2 ** 24, "sums would not be exact")
    caps = (f"application/x-matrix-update,dtype=float32,index-type=int32,"
            f"cols={cols}")
    pipes = [Gst.parse_launch(
        f"filesrc location={path} blocksize={record} ! {caps} ! "
        f"sharedmatrix name=sm matrix-name={name} rows={rows} cols={cols}")
        for path in files]
    try:
        t0 = time.monotonic()
        for p in pipes:
            expect(p.set_state(Gst.State.PLAYING) !=
                   Gst.StateChangeReturn.FAILURE, "set_state PLAYING")
        for i, p in enumerate(pipes):
            wait_eos(p, f"writer {i}")
        elapsed = time.monotonic() - t0
        sms = [p.get_by_name("sm") for p in pipes]
        m = sms[0].props.matrix
        expect(m is not None and m == sms[1].props.matrix,
               "the two elements do not share one matrix")
        expect(m.props.version == 2 * n, f"version {m.props.version}, "
               f"expected {2 * n}")
        expect(all(s.props.updates_applied == n for s in sms),
               f"updates-applied {[s.props.updates_applied for s in sms]}")
        got = np.frombuffer(m.get_value().get_data(), "<f4").reshape(rows,
                                                                     cols)
    finally:
        for p in pipes:
            p.set_state(Gst.State.NULL)
    diff = np.argwhere(got != want.astype("<f4"))
    expect(len(diff) == 0, f"{len(diff)} elements differ from np.add.at, "
           f"first {tuple(diff[0])}: {got[tuple(diff[0])]} != "
           f"{want[tuple(diff[0])]}" if len(diff) else "")
    note(f"2 x {n} updates of {batch} rows into one {rows}x{cols} matrix "
         f"in {elapsed:.2f} s: equals np.add.at of both streams exactly")


# ---- op toggled while playing ---------------------------------------------------

def test_op_toggled_while_playing(tmp):
    rows, cols, period, n = 256, 8, 5, 20000
    rng = np.random.default_rng(3)
    payloads = [all_rows_update(rows, cols, p + 1, rng) for p in range(period)]
    d = np.tile(np.arange(1, period + 1, dtype=np.int64),
                n // period + 1)[:n]             # delta of update k (x colmul)
    # S[s, V] = sum_{s <= k < V} d_k = prefix[V] - prefix[s]
    prefix = np.concatenate([[0], np.cumsum(d)])
    colmul = np.arange(1, cols + 1, dtype=np.float64)
    pipeline, src = make_appsrc_pipeline(
        f"appsrc name=src ! sharedmatrix name=sm rows={rows} cols={cols} "
        f"op=add ! fakesink sync=false", cols)
    sm = pipeline.get_by_name("sm")
    toggles, snaps, problems = [0], [0], []

    def consistent(a, version, what):
        """All rows equal to (prefix[V] - prefix[s]) * colmul for some
        s < V (s: the last update applied with set; s = 0 also covers
        "never set": the matrix starts at zero)."""
        if not np.array_equal(a, np.broadcast_to(a[0], a.shape)):
            problems.append(f"{what}: rows differ (torn update)")
            return None
        row = a[0].astype(np.float64)
        if not np.array_equal(row, row[0] * colmul):
            problems.append(f"{what}: row {row[:4]} mixes updates")
            return None
        if version == 0:
            if row[0] != 0:
                problems.append(f"{what}: non-zero at version 0")
            return 0
        cands = prefix[version] - prefix[:version]
        hit = np.nonzero(cands == row[0])[0]
        if len(hit) != 1:
            problems.append(f"{what}: value {row[0]} at version {version} "
                            f"is not the sum of updates s..{version - 1}")
            return None
        return int(hit[0])

    def toggler(stop):
        ops = [SM.Op.SET, SM.Op.ADD]
        while not stop.is_set():
            sm.set_property("op", ops[toggles[0] % 2])
            toggles[0] += 1
            time.sleep(0.0005)

    def snapshotter(stop):
        while not stop.is_set() and len(problems) < 3:
            s = sm.emit("snapshot")
            if s is None:
                continue
            b = s.get_buffer()
            a = np.frombuffer(b.extract_dup(0, b.get_size()),
                              "<f4").reshape(rows, cols)
            consistent(a, b.offset, f"snapshot at version {b.offset}")
            snaps[0] += 1

    stop = threading.Event()
    try:
        expect(pipeline.set_state(Gst.State.PLAYING) !=
               Gst.StateChangeReturn.FAILURE, "set_state PLAYING")
        while sm.props.matrix is None:
            time.sleep(0.005)
        pusher = Pusher(src, payloads, n=n)
        threads = [threading.Thread(target=f, args=(stop,), daemon=True)
                   for f in (toggler, snapshotter)]
        for t in threads:
            t.start()
        pusher.start()
        pusher.join(60)
        expect(not pusher.is_alive(), "the pusher is stuck")
        wait_eos(pipeline, "op toggle pipeline")
        stop.set()
        for t in threads:
            t.join(30)
        expect(pusher.error is None, f"pusher: {pusher.error}")
        version = sm.props.version
        expect(version == n, f"version {version}, expected {n}")
        final = np.frombuffer(sm.props.matrix.get_value().get_data(),
                              "<f4").reshape(rows, cols)
        s = consistent(final, version, "final matrix")
        expect(not problems, "; ".join(problems[:3]))
        expect(toggles[0] >= 20, f"only {toggles[0]} op changes")
    finally:
        stop.set()
        pipeline.set_state(Gst.State.NULL)
    note(f"{n} updates, {toggles[0]} op changes, {snaps[0]} snapshots: "
         f"every copy whole; final = sum of updates {s}..{n - 1} "
         f"(last set at update {s})")


# ---- state changes under load -------------------------------------------------

def test_state_changes_under_load(tmp):
    rows, cols = 2000, 16
    pipeline = Gst.parse_launch(
        f"updatetestsrc rows={rows} cols={cols} batch=64 seed=5 ! "
        f"sharedmatrix name=sm rows={rows} cols={cols} snapshot-every=16 ! "
        f"fakesink sync=false")
    sm = pipeline.get_by_name("sm")
    last = 0
    changes = 0
    t0 = time.monotonic()

    def settle(state, what):
        ret = pipeline.set_state(state)
        expect(ret != Gst.StateChangeReturn.FAILURE, f"{what}: FAILURE")
        ret, cur, _ = pipeline.get_state(10 * Gst.SECOND)
        expect(ret in (Gst.StateChangeReturn.SUCCESS,
                       Gst.StateChangeReturn.NO_PREROLL),
               f"{what}: get_state returned {ret.value_nick}")
        expect(cur == state, f"{what}: in {cur.value_nick}")
        err = bus_error(pipeline)
        expect(err is None, f"{what}: {err}")

    def progress(what):
        """Data flows: the version grows past the last one seen."""
        nonlocal last
        deadline = time.monotonic() + 10
        while True:
            v = sm.props.version
            expect(v >= last, f"{what}: version went back from {last} to {v}")
            if v > last:
                last = v
                return
            expect(time.monotonic() < deadline,
                   f"{what}: no update applied within 10 s (version {v})")
            time.sleep(0.001)

    try:
        settle(Gst.State.PLAYING, "start")
        progress("start")
        for i in range(100):
            low = Gst.State.PAUSED if i % 2 == 0 else Gst.State.NULL
            settle(low, f"cycle {i}: PLAYING -> {low.value_nick}")
            v = sm.props.version
            expect(v >= last, f"cycle {i}: version went back from {last} to "
                   f"{v} in {low.value_nick}")
            last = v
            settle(Gst.State.PLAYING, f"cycle {i}: {low.value_nick} -> "
                   f"PLAYING")
            changes += 2
            progress(f"cycle {i} ({low.value_nick})")
        settle(Gst.State.NULL, "stop")
        version = sm.props.version
        applied = sm.props.updates_applied
        expect(applied == version, f"updates-applied {applied} != matrix "
               f"version {version}")
    finally:
        pipeline.set_state(Gst.State.NULL)
    note(f"{changes} state changes in {time.monotonic() - t0:.1f} s, "
         f"{version} updates applied, versions monotonic, no ERROR")

#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The sharedmatrix element in real pipelines, checked against numpy.

Each check runs gst_parse_launch pipelines fed by updatetestsrc, keeps the
update stream (through a tee into a file, or by re-running the
deterministic source), replays it with numpy and compares the matrix the
element produced: as a .npy file, as other/tensors snapshots through appsink,
through the snapshot action signal and through a GstSharedMatrix shared with
the application.

Run with the plugin on GST_PLUGIN_PATH(_1_0) and the GstSharedMatrix typelib
on GI_TYPELIB_PATH (meson test does both). One pytest test per check; the
module skips without numpy, PyGObject/Gst or the plugin.
"""

import io
import os
import time

from checks import (CheckFailed, expect, note, optional_sharedmatrix,
                    require_elements, require_gst, require_numpy, skip)

np = require_numpy()
Gst = require_gst()
SM, SM_MISSING = optional_sharedmatrix()
require_elements(Gst, ("sharedmatrix", "updatetestsrc"))

INDEX_DTYPES = {"int32": np.dtype("<i4"), "int64": np.dtype("<i8")}
DELTA_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"),
                "float16": np.dtype("<f2")}
TIMEOUT = 30 * Gst.SECOND


# ---- pipelines --------------------------------------------------------------

def run(desc, keep=False):
    """Runs a pipeline to EOS or ERROR. Returns (pipeline, error) where error
    is None or (GError, debug); the pipeline is left PLAYING when keep."""
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    # a failing start posts an ERROR too, which is what callers look at
    pipeline.set_state(Gst.State.PLAYING)
    msg = bus.timed_pop_filtered(TIMEOUT, Gst.MessageType.EOS |
                                 Gst.MessageType.ERROR)
    error = None
    if msg is None:
        pipeline.set_state(Gst.State.NULL)
        raise CheckFailed(f"pipeline timed out: {desc}")
    if msg.type == Gst.MessageType.ERROR:
        error = msg.parse_error()
    if not keep:
        pipeline.set_state(Gst.State.NULL)
    return pipeline, error


def read_updates(path, n_buffers, batch, cols, index_type="int32",
                 dtype="float32"):
    """Splits a file of concatenated update buffers into (indices, deltas)."""
    itype, dtyp = INDEX_DTYPES[index_type], DELTA_DTYPES[dtype]
    record = batch * (itype.itemsize + cols * dtyp.itemsize)
    raw = open(path, "rb").read()
    expect(len(raw) == n_buffers * record,
           f"{path}: {len(raw)} bytes, expected {n_buffers} x {record}")
    out = []
    for b in range(n_buffers):
        chunk = raw[b * record:(b + 1) * record]
        idx = np.frombuffer(chunk, itype, batch)
        d = np.frombuffer(chunk, dtyp, batch * cols,
                          batch * itype.itemsize).reshape(batch, cols)
        out.append((idx, d))
    return out


def reference_add(rows, cols, updates, dtype=np.float32):
    """np.add.at buffer by buffer in the matrix dtype: float32 adds in
    buffer order (what the CPU backend promises, bit for bit)."""
    c = np.zeros((rows, cols), dtype)
    for idx, d in updates:
        np.add.at(c, idx, d.astype(dtype))
    return c


def f32_to_bf16_bits(v):
    """float32 -> bfloat16 bits, round to nearest even (finite values)."""
    u = np.ascontiguousarray(v, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def reference_add_bf16(rows, cols, updates):
    """bfloat16 storage: each occurrence computes in float32 and rounds the
    result to bfloat16 (RNE) before the next occurrence of that row."""
    c = np.zeros((rows, cols), np.uint16)
    for idx, d in updates:
        d = d.astype(np.float32)
        for i, r in enumerate(idx):
            c[r] = f32_to_bf16_bits(bf16_bits_to_f32(c[r]) + d[i])
    return c


def same_bits(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and \
        a.tobytes() == b.tobytes()


def describe_diff(got, want):
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"got {got.dtype}{got.shape}, want {want.dtype}{want.shape}"
    diff = np.argwhere(got.view(np.uint8).reshape(got.shape[0], -1) !=
                       want.view(np.uint8).reshape(want.shape[0], -1))
    r = diff[0][0]
    return f"{len(np.unique(diff[:, 0]))} rows differ, first row {r}: " \
        f"got {got[r][:4]}..., want {want[r][:4]}..."


def expect_same(got, want, what):
    if not same_bits(got, want):
        raise CheckFailed(f"{what}: {describe_diff(got, want)}")


def get_value(matrix, dtype, rows, cols):
    data = matrix.get_value()
    data = data.get_data() if hasattr(data, "get_data") else data
    return np.frombuffer(bytes(data), dtype).reshape(rows, cols)


# ---- the checks -------------------------------------------------------------

def test_acceptance(tmp):
    """THE acceptance pipeline: 50 updates of 200 rows into 70000 x 100."""
    upd, npy = os.path.join(tmp, "updates.bin"), os.path.join(tmp, "C.npy")
    _, err = run(f"updatetestsrc seed=7 num-buffers=50 ! tee name=t "
                 f"t. ! queue ! filesink location={upd} "
                 f"t. ! queue ! sharedmatrix rows=70000 cols=100 "
                 f"! application/x-npy ! filesink location={npy}")
    expect(err is None, f"pipeline error: {err and err[0].message}")
    updates = read_updates(upd, 50, 200, 100)
    got = np.load(npy)
    expect(got.dtype == np.float32 and got.shape == (70000, 100),
           f"C.npy is {got.dtype}{got.shape}")
    want = reference_add(70000, 100, updates)
    expect(np.count_nonzero(want) > 900000, "reference suspiciously empty")
    expect_same(got, want, "C.npy vs np.add.at")
    note("C.npy (70000x100 float32) equals np.add.at over 50 updates, bit-exact")


def test_float16_into_float64(tmp):
    upd, npy = os.path.join(tmp, "u16.bin"), os.path.join(tmp, "C64.npy")
    _, err = run(f"updatetestsrc seed=11 num-buffers=20 dtype=float16 "
                 f"index-type=int64 ! tee name=t "
                 f"t. ! queue ! filesink location={upd} "
                 f"t. ! queue ! sharedmatrix rows=70000 cols=100 dtype=float64 "
                 f"! application/x-npy ! filesink location={npy}")
    expect(err is None, f"pipeline error: {err and err[0].message}")
    updates = read_updates(upd, 20, 200, 100, "int64", "float16")
    got = np.load(npy)
    expect(got.dtype == np.float64, f"dtype {got.dtype}")
    expect_same(got, reference_add(70000, 100, updates, np.float64),
                "float64 matrix vs np.add.at")
    note("float16 deltas + int64 indices into float64 matrix, bit-exact")


def test_bfloat16_matrix(tmp):
    upd, npy = os.path.join(tmp, "ubf.bin"), os.path.join(tmp, "Cbf.npy")
    rows, cols = 2000, 100      # small enough for a per-row Python reference
    _, err = run(f"updatetestsrc seed=13 num-buffers=20 rows={rows} "
                 f"cols={cols} ! tee name=t "
                 f"t. ! queue ! filesink location={upd} "
                 f"t. ! queue ! sharedmatrix rows={rows} cols={cols} "
                 f"dtype=bfloat16 ! application/x-npy "
                 f"! filesink location={npy}")
    expect(err is None, f"pipeline error: {err and err[0].message}")
    updates = read_updates(upd, 20, 200, cols)
    got = np.load(npy)
    expect(got.dtype == np.dtype([("bfloat16", "<u2")]),
           f"bfloat16 snapshot dtype is {got.dtype}")
    bits = got["bfloat16"]
    want = reference_add_bf16(rows, cols, updates)
    # sanity: duplicates exist in the stream, so the per-occurrence rounding
    # is actually exercised
    expect(any(len(np.unique(i)) < len(i) for i, _ in updates),
           "no duplicate rows in the stream")
    expect_same(bits, want, "bfloat16 bits")
    note("bfloat16 matrix: bits equal per-occurrence float32->bf16 RNE")


def test_tensors_appsink(tmp):
    """other/tensors snapshots through appsink: caps and bytes."""
    upd = os.path.join(tmp, "ut.bin")
    npy = os.path.join(tmp, "Ct.npy")
    rows, cols = 1000, 16
    src = f"updatetestsrc seed=3 num-buffers=10 rows={rows} cols={cols}"
    pipeline = Gst.parse_launch(
        f"{src} ! tee name=t t. ! queue ! filesink location={upd} "
        f"t. ! queue ! sharedmatrix rows={rows} cols={cols} snapshot-every=5 "
        f"! appsink name=sink sync=false")
    # appsink holds EOS back until its samples are pulled: pull first
    sink = pipeline.get_by_name("sink")
    samples = []
    try:
        pipeline.set_state(Gst.State.PLAYING)
        deadline = time.monotonic() + 30
        while not sink.props.eos and time.monotonic() < deadline:
            s = sink.emit("try-pull-sample", 100 * Gst.MSECOND)
            if s is not None:
                samples.append(s)
        msg = pipeline.get_bus().timed_pop_filtered(
            TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        expect(msg is not None and msg.type == Gst.MessageType.EOS,
               "appsink pipeline did not reach EOS")
    finally:
        pipeline.set_state(Gst.State.NULL)
    # the same stream as .npy, for the byte comparison
    _, err = run(f"{src} ! sharedmatrix rows={rows} cols={cols} "
                 f"! application/x-npy ! filesink location={npy}")
    expect(err is None, f"npy pipeline error: {err and err[0].message}")

    # none at EOS: the one after update 10 already shows version 10
    expect(len(samples) == 2, f"{len(samples)} snapshots, expected 2 "
           "(after update 5 and 10; EOS would repeat version 10)")
    updates = read_updates(upd, 10, 200, cols)
    for s, version in zip(samples, (5, 10)):
        caps = s.get_caps().to_string()
        want_caps = ("other/tensors, format=(string)static, "
                     "num_tensors=(int)1, types=(string)float32, "
                     f"dimensions=(string){cols}:{rows}, "
                     "framerate=(fraction)0/1")
        expect(caps == want_caps, f"caps {caps}")
        buf = s.get_buffer()
        expect(buf.offset == version, f"OFFSET {buf.offset} != {version}")
        data = buf.extract_dup(0, buf.get_size())
        got = np.frombuffer(data, np.float32).reshape(rows, cols)
        expect_same(got, reference_add(rows, cols, updates[:version]),
                    f"snapshot of version {version}")
    last = samples[-1].get_buffer()
    expect(last.extract_dup(0, last.get_size()) == np.load(npy).tobytes(),
           "final tensor snapshot bytes differ from the .npy data")
    note("3 other/tensors snapshots: caps, OFFSET, bytes = reference = npy data")


def test_share_by_name(tmp):
    rows, cols = 5000, 8
    files = [os.path.join(tmp, f"share{i}.bin") for i in range(2)]
    pipes = []
    for i, seed in enumerate((21, 22)):
        pipes.append(Gst.parse_launch(
            f"updatetestsrc seed={seed} num-buffers=30 rows={rows} cols={cols} "
            f"! tee name=t t. ! queue ! filesink location={files[i]} "
            f"t. ! queue ! sharedmatrix name=sm matrix-name=py-shared-{os.getpid()} "
            f"rows={rows} cols={cols} ! fakesink"))
    try:
        for p in pipes:
            expect(p.set_state(Gst.State.PLAYING) !=
                   Gst.StateChangeReturn.FAILURE, "set_state PLAYING")
        for p in pipes:
            msg = p.get_bus().timed_pop_filtered(
                TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
            expect(msg is not None and msg.type == Gst.MessageType.EOS,
                   f"pipeline did not reach EOS: "
                   f"{msg and msg.type == Gst.MessageType.ERROR and msg.parse_error()[0].message}")
        sms = [p.get_by_name("sm") for p in pipes]
        m0, m1 = sms[0].props.matrix, sms[1].props.matrix
        expect(m0 is not None and m1 is not None, "no matrix")
        expect(m0 == m1, "the elements hold different matrices")
        expect(sms[0].props.version == 60, f"version {sms[0].props.version}")
        expect(sms[0].props.updates_applied == 30 and
               sms[1].props.updates_applied == 30, "updates-applied")
        if SM is not None:
            got = get_value(m0, np.float32, rows, cols)
        else:
            s = sms[0].emit("snapshot")
            b = s.get_buffer()
            got = np.frombuffer(b.extract_dup(0, b.get_size()),
                                np.float32).reshape(rows, cols)
    finally:
        for p in pipes:
            p.set_state(Gst.State.NULL)
    upd = read_updates(files[0], 30, 200, cols) + \
        read_updates(files[1], 30, 200, cols)
    # the two streams interleave in no fixed order: float32 sums of one row
    # from both streams may round differently, so compare with a tolerance
    want = reference_add(rows, cols, upd, np.float64)
    expect(np.allclose(got, want, rtol=1e-5, atol=1e-5),
           f"max |diff| {np.max(np.abs(got - want))}")
    one = reference_add(rows, cols, upd[:30], np.float64)
    expect(not np.allclose(got, one, atol=1e-3), "only one stream landed")
    note("two pipelines, one matrix-name: same object, both streams landed")


def test_share_by_object(tmp):
    if SM is None:
        skip(f"GstSharedMatrix typelib not found: {SM_MISSING}")
    rows, cols = 3000, 12
    upd = os.path.join(tmp, "obj.bin")
    m = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.AUTO)
    pipeline = Gst.parse_launch(
        f"updatetestsrc seed=31 num-buffers=15 rows={rows} cols={cols} "
        f"! tee name=t t. ! queue ! filesink location={upd} "
        f"t. ! queue ! sharedmatrix name=sm ! fakesink")
    sm = pipeline.get_by_name("sm")
    sm.props.matrix = m
    try:
        pipeline.set_state(Gst.State.PLAYING)
        msg = pipeline.get_bus().timed_pop_filtered(
            TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        expect(msg is not None and msg.type == Gst.MessageType.EOS,
               "pipeline did not reach EOS")
        expect(sm.props.matrix == m, "element does not use the given matrix")
    finally:
        pipeline.set_state(Gst.State.NULL)
    del pipeline, sm
    expect(m.props.version == 15, f"version {m.props.version}")
    got = get_value(m, np.float32, rows, cols)
    expect_same(got, reference_add(rows, cols,
                                   read_updates(upd, 15, 200, cols)),
                "application matrix")
    note("element.props.matrix = SharedMatrix.new(...): get_value() = reference")


def test_snapshot_signal(tmp):
    npy = os.path.join(tmp, "sig.npy")
    rows, cols = 4000, 20
    pipeline, err = run(f"updatetestsrc seed=41 num-buffers=12 rows={rows} "
                        f"cols={cols} ! sharedmatrix name=sm rows={rows} "
                        f"cols={cols} ! application/x-npy "
                        f"! filesink location={npy}", keep=True)
    try:
        expect(err is None, f"pipeline error: {err and err[0].message}")
        sm = pipeline.get_by_name("sm")
        # still PLAYING after EOS: the negotiated format, a .npy file
        sample = sm.emit("snapshot")
        expect(sample is not None, "snapshot returned None")
        expect(sample.get_caps().get_structure(0).get_name() ==
               "application/x-npy", f"caps {sample.get_caps().to_string()}")
        b = sample.get_buffer()
        expect(b.offset == 12, f"OFFSET {b.offset}")
        from_signal = np.load(io.BytesIO(b.extract_dup(0, b.get_size())))
    finally:
        pipeline.set_state(Gst.State.NULL)
    from_file = np.load(npy)
    expect_same(from_signal, from_file, "signal snapshot vs C.npy")
    # stopped: nothing negotiated any more, raw tensors of the same matrix
    sample = sm.emit("snapshot")
    expect(sample is not None, "snapshot after stop returned None")
    expect(sample.get_caps().get_structure(0).get_name() == "other/tensors",
           f"caps after stop {sample.get_caps().to_string()}")
    b = sample.get_buffer()
    raw = np.frombuffer(b.extract_dup(0, b.get_size()),
                        np.float32).reshape(rows, cols)
    expect_same(raw, from_file, "raw signal snapshot vs C.npy")
    note("emit('snapshot') after EOS (npy) and after stop (raw) = C.npy")


def test_invalid_index_error(tmp):
    """updatetestsrc draws rows from [0, 80000) into a 70000-row matrix: the
    first buffer holding an index >= 70000 stops the pipeline with an error
    naming it, and leaves the matrix as the buffers before it made it."""
    rows, cols, batch, n = 70000, 8, 4, 20
    for seed in range(50, 80):
        src = (f"updatetestsrc seed={seed} num-buffers={n} rows=80000 "
               f"cols={cols} batch={batch}")
        upd = os.path.join(tmp, f"bad{seed}.bin")
        _, err = run(f"{src} ! filesink location={upd}")
        expect(err is None, "reference stream failed")
        updates = read_updates(upd, n, batch, cols)
        bad = [k for k, (idx, _) in enumerate(updates) if np.any(idx >= rows)]
        if bad and bad[0] >= 2:
            break
    else:
        raise CheckFailed("no seed gives a stream with good buffers first")
    k = bad[0]
    bad_index = int(updates[k][0][updates[k][0] >= rows][0])
    pipeline, err = run(f"{src} ! sharedmatrix name=sm rows={rows} "
                        f"cols={cols} invalid-index=error ! fakesink",
                        keep=True)
    try:
        expect(err is not None, "no ERROR message")
        text = err[0].message
        expect(str(bad_index) in text, f"error does not name {bad_index}: "
               f"{text}")
        sm = pipeline.get_by_name("sm")
        expect(sm.props.version == k, f"version {sm.props.version}, "
               f"expected {k} (the buffers before the bad one)")
        sample = sm.emit("snapshot")
        b = sample.get_buffer()
        got = np.frombuffer(b.extract_dup(0, b.get_size()),
                            np.float32).reshape(rows, cols)
    finally:
        pipeline.set_state(Gst.State.NULL)
    expect_same(got, reference_add(rows, cols, updates[:k]),
                "matrix after the rejected buffer")
    note(f"seed {seed}: buffer {k} has index {bad_index}: ERROR "
         f"'{text[:60]}...', matrix = first {k} updates")


def test_invalid_index_drop(tmp):
    rows, cols, batch, n = 70000, 8, 50, 10
    src = (f"updatetestsrc seed=61 num-buffers={n} rows=80000 cols={cols} "
           f"batch={batch}")
    upd = os.path.join(tmp, "drop.bin")
    pipeline, err = run(f"{src} ! tee name=t t. ! queue ! filesink "
                        f"location={upd} t. ! queue ! sharedmatrix name=sm "
                        f"rows={rows} cols={cols} invalid-index=drop "
                        f"! fakesink", keep=True)
    try:
        expect(err is None, f"pipeline error: {err and err[0].message}")
        sm = pipeline.get_by_name("sm")
        updates = read_updates(upd, n, batch, cols)
        n_bad = sum(int(np.count_nonzero(i >= rows)) for i, _ in updates)
        expect(n_bad > 0, "no invalid index in the stream")
        expect(sm.props.rows_dropped == n_bad,
               f"rows-dropped {sm.props.rows_dropped} != {n_bad}")
        expect(sm.props.rows_applied == n * batch - n_bad,
               f"rows-applied {sm.props.rows_applied}")
        b = sm.emit("snapshot").get_buffer()
        got = np.frombuffer(b.extract_dup(0, b.get_size()),
                            np.float32).reshape(rows, cols)
    finally:
        pipeline.set_state(Gst.State.NULL)
    valid = [(i[i < rows], d[i < rows]) for i, d in updates]
    expect_same(got, reference_add(rows, cols, valid), "matrix after drops")
    note(f"invalid-index=drop: {n_bad} rows dropped and counted, rest applied")


def test_unlinked_src_ends_stream(tmp):
    """`src ! sharedmatrix` with nothing downstream is a complete pipeline:
    updates are applied and EOS reaches the application."""
    rows, cols, batch, n = 1000, 4, 30, 20
    src = f"updatetestsrc seed=5 num-buffers={n} rows={rows} cols={cols} batch={batch}"
    upd = os.path.join(tmp, "unlinked.bin")
    _, err = run(f"{src} ! filesink location={upd}")
    expect(err is None, f"capture error: {err and err[0].message}")
    pipeline, err = run(f"{src} ! sharedmatrix name=sm rows={rows} cols={cols}",
                        keep=True)
    try:
        expect(err is None, f"pipeline error: {err and err[0].message}")
        sm = pipeline.get_by_name("sm")
        expect(sm.props.updates_applied == n,
               f"updates-applied {sm.props.updates_applied} != {n}")
        got = get_value(sm.props.matrix, np.float32, rows, cols)
    finally:
        pipeline.set_state(Gst.State.NULL)
    expect_same(got, reference_add(rows, cols, read_updates(upd, n, batch, cols)),
                "matrix of the unlinked element")
    note(f"EOS reached with the src pad unlinked, {n} updates applied")

#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The updatepartition element, checked against numpy.

Random update streams (duplicate rows, both index types) go through an
appsrc into `updatepartition`; each src_p ends in an appsink. numpy computes
what every partition must receive (its records in buffer order, indices
rebased by p·B, B = ceil(rows/partitions)); every output buffer must carry
the input's PTS and OFFSET, also when empty. Also: shards `sharedmatrix`
fed by the partitions, concatenated, equal the unpartitioned result;
invalid-index error/drop; request pad release; bad properties.
"""

import os

from checks import (CheckFailed, expect, note, require_elements,
                    require_gst_sharedmatrix, require_numpy)

np = require_numpy()
Gst, GLib, SM = require_gst_sharedmatrix()
require_elements(Gst, ("updatepartition", "sharedmatrix", "updatetestsrc",
                       "appsrc", "appsink", "queue", "tee"))

TIMEOUT = 60 * Gst.SECOND
INDEX = {"int32": np.dtype("<i4"), "int64": np.dtype("<i8")}


def caps(cols, index_type, dtype="float32"):
    return Gst.Caps.from_string(
        f"application/x-matrix-update, dtype=(string){dtype}, "
        f"index-type=(string){index_type}, cols=(int){cols}")


def make(rows, partitions, cols, index_type, policy="error", n_pads=None):
    n_pads = partitions if n_pads is None else n_pads
    desc = (f"appsrc name=src format=time ! updatepartition name=p "
            f"partitions={partitions} rows={rows} invalid-index={policy} ")
    for p in range(n_pads):
        desc += (f"p.src_{p} ! queue ! appsink name=s{p} sync=false "
                 f"wait-on-eos=false ")
    pipeline = Gst.parse_launch(desc)
    src = pipeline.get_by_name("src")
    src.set_property("caps", caps(cols, index_type))
    pipeline.set_state(Gst.State.PLAYING)
    return pipeline, src


def push(src, idx, d, index_type, offset, pts):
    data = idx.astype(INDEX[index_type]).tobytes() + d.tobytes()
    buf = Gst.Buffer.new_wrapped_bytes(GLib.Bytes.new(data)) if data \
        else Gst.Buffer.new()
    buf.offset = offset
    buf.pts = pts
    src.emit("push-buffer", buf)


def wait(pipeline):
    msg = pipeline.get_bus().timed_pop_filtered(
        TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is None:
        pipeline.set_state(Gst.State.NULL)
        raise CheckFailed("timed out")
    return msg.parse_error() if msg.type == Gst.MessageType.ERROR else None


def pull_all(sink):
    out = []
    while True:
        sample = sink.emit("try-pull-sample", 0)
        if sample is None:
            return out
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        out.append((bytes(info.data), buf.offset, buf.pts, sample.get_caps()))
        buf.unmap(info)


def random_stream(rng, rows, cols, n_buffers, batch, bad=False):
    out = []
    for _ in range(n_buffers):
        n = int(rng.integers(0, batch + 1))
        idx = rng.integers(0, rows, n)
        idx[rng.random(n) < 0.3] = idx[0] if n else 0      # duplicates
        if bad and n:
            idx[rng.integers(0, n)] = rng.choice([-1, rows, rows + 7])
        out.append((idx, rng.standard_normal((n, cols)).astype(np.float32)))
    return out


def expected(idx, d, rows, partitions, p):
    block = -(-rows // partitions)
    keep = (idx >= p * block) & (idx < min((p + 1) * block, rows))
    return idx[keep] - p * block, d[keep]


def run_and_check(rows, partitions, cols, index_type, stream, policy="error"):
    pipeline, src = make(rows, partitions, cols, index_type, policy)
    for k, (idx, d) in enumerate(stream):
        push(src, idx, d, index_type, 100 + k, k * Gst.SECOND)
    src.emit("end-of-stream")
    err = wait(pipeline)
    outs = [pull_all(pipeline.get_by_name(f"s{p}"))
            for p in range(partitions)]
    dropped = pipeline.get_by_name("p").get_property("rows-dropped")
    pipeline.set_state(Gst.State.NULL)
    expect(err is None, f"error: {err}")
    itype = INDEX[index_type]
    for p, out in enumerate(outs):
        expect(len(out) == len(stream), f"partition {p}: {len(out)} buffers "
               f"for {len(stream)} inputs")
        for k, ((idx, d), (data, offset, pts, c)) in enumerate(zip(stream,
                                                                  out)):
            valid = (idx >= 0) & (idx < rows)
            wi, wd = expected(idx[valid], d[valid], rows, partitions, p)
            n = len(wi)
            expect(len(data) == n * (itype.itemsize + cols * 4),
                   f"partition {p} buffer {k}: {len(data)} bytes for {n} "
                   f"records")
            gi = np.frombuffer(data, itype, n)
            gd = np.frombuffer(data, np.float32, n * cols,
                               n * itype.itemsize).reshape(n, cols)
            expect(np.array_equal(gi, wi) and gd.tobytes() == wd.tobytes(),
                   f"partition {p} buffer {k}: records differ")
            expect(offset == 100 + k and pts == k * Gst.SECOND,
                   f"partition {p} buffer {k}: OFFSET {offset} PTS {pts}")
            expect(c.is_equal(caps(cols, index_type)), f"caps {c}")
    return outs, dropped


def test_partitions_vs_numpy():
    rng = np.random.default_rng(3)
    for rows, partitions, index_type in ((1000, 3, "int32"),
                                         (1000, 4, "int64"),
                                         (17, 1, "int32"),
                                         (10, 4, "int64"),   # 3,3,3,1
                                         (5, 8, "int32")):   # empty ones
        stream = random_stream(rng, rows, 3, 12, 30)
        run_and_check(rows, partitions, 3, index_type, stream)
        note(f"rows={rows} partitions={partitions} {index_type}: ok")


def test_empty_input_reaches_every_partition():
    pipeline, src = make(100, 4, 2, "int32")
    push(src, np.array([], np.int32), np.zeros((0, 2), np.float32), "int32",
         42, 5 * Gst.SECOND)
    push(src, np.array([99]), np.ones((1, 2), np.float32), "int32", 43,
         6 * Gst.SECOND)
    src.emit("end-of-stream")
    expect(wait(pipeline) is None, "error")
    for p in range(4):
        out = pull_all(pipeline.get_by_name(f"s{p}"))
        expect([(len(o[0]) > 0, o[1], o[2]) for o in out] ==
               [(False, 42, 5 * Gst.SECOND), (p == 3, 43, 6 * Gst.SECOND)],
               f"partition {p}: {[(len(o[0]), o[1], o[2]) for o in out]}")
    pipeline.set_state(Gst.State.NULL)


def test_invalid_index_drop_and_error():
    rng = np.random.default_rng(9)
    stream = random_stream(rng, 50, 2, 6, 10, bad=True)
    n_bad = sum(int(np.count_nonzero((i < 0) | (i >= 50))) for i, _ in stream)
    _, dropped = run_and_check(50, 3, 2, "int64", stream, policy="drop")
    expect(dropped == n_bad, f"rows-dropped {dropped}, expected {n_bad}")
    pipeline, src = make(50, 3, 2, "int64")
    push(src, np.array([1, 50, 2]), np.ones((3, 2), np.float32), "int64", 0,
         0)
    err = wait(pipeline)
    got = [len(pull_all(pipeline.get_by_name(f"s{p}"))) for p in range(3)]
    pipeline.set_state(Gst.State.NULL)
    expect(err is not None and "50" in err[0].message and
           "0 to 49" in err[0].message, f"error {err}")
    expect(got == [0, 0, 0], f"buffers pushed for a rejected update: {got}")


def test_shards_equal_unpartitioned(tmp):
    """updatetestsrc -> full matrix, and -> updatepartition -> shards."""
    rows, cols, parts = 1001, 4, 3
    full = os.path.join(tmp, "full.npy")
    desc = (f"updatetestsrc num-buffers=60 rows={rows} cols={cols} batch=50 "
            f"index-type=int64 ! tee name=t ! queue ! sharedmatrix "
            f"rows={rows} cols={cols} ! application/x-npy ! filesink "
            f"location={full} t. ! queue ! updatepartition name=p "
            f"partitions={parts} rows={rows} ")
    block = -(-rows // parts)
    for p in range(parts):
        n = min((p + 1) * block, rows) - p * block
        desc += (f"p.src_{p} ! queue ! sharedmatrix rows={n} cols={cols} ! "
                 f"application/x-npy ! filesink "
                 f"location={os.path.join(tmp, f's{p}.npy')} ")
    pipeline = Gst.parse_launch(desc)
    pipeline.set_state(Gst.State.PLAYING)
    err = wait(pipeline)
    pipeline.set_state(Gst.State.NULL)
    expect(err is None, f"error {err}")
    whole = np.load(full)
    shards = np.concatenate([np.load(os.path.join(tmp, f"s{p}.npy"))
                             for p in range(parts)])
    expect(whole.tobytes() == shards.tobytes(),
           "concatenated shards differ from the unpartitioned matrix")


def test_request_and_release_pads():
    e = Gst.ElementFactory.make("updatepartition")
    e.set_property("partitions", 3)
    p1 = e.request_pad_simple("src_1")
    p0 = e.request_pad_simple("src_%u")
    expect(p1 is not None and p1.get_name() == "src_1", "src_1")
    expect(p0 is not None and p0.get_name().startswith("src_"), "src_%u")
    expect(e.request_pad_simple("src_3") is None, "src_3 of 3 partitions")
    e.release_request_pad(p1)
    expect([p.get_name() for p in e.srcpads] == [p0.get_name()],
           f"pads after release: {[p.get_name() for p in e.srcpads]}")
    # released while streaming: the others go on
    pipeline, src = make(100, 2, 2, "int32")
    push(src, np.array([1, 99]), np.ones((2, 2), np.float32), "int32", 0, 0)
    part = pipeline.get_by_name("p")
    pad = part.get_static_pad("src_1")
    peer = pad.get_peer()
    pad.unlink(peer)
    part.release_request_pad(pad)
    # the branch it fed leaves the pipeline (its sink would wait for EOS)
    for elem in (peer.get_parent(), pipeline.get_by_name("s1")):
        elem.set_state(Gst.State.NULL)
        pipeline.remove(elem)
    push(src, np.array([2, 98]), np.ones((2, 2), np.float32), "int32", 1, 0)
    src.emit("end-of-stream")
    err = wait(pipeline)
    out0 = pull_all(pipeline.get_by_name("s0"))
    pipeline.set_state(Gst.State.NULL)
    expect(err is None, f"error after releasing a pad: {err}")
    expect([o[1] for o in out0] == [0, 1], f"src_0 got {len(out0)} buffers")


def test_bad_properties():
    e = Gst.ElementFactory.make("updatepartition")
    try:
        e.set_property("partitions", 0)
    except (TypeError, ValueError):
        pass
    expect(e.get_property("partitions") == 1, "partitions=0 was accepted")
    pipeline = Gst.parse_launch("updatetestsrc num-buffers=1 ! "
                                "updatepartition name=p partitions=2 "
                                "p.src_0 ! fakesink")
    pipeline.set_state(Gst.State.PLAYING)
    err = wait(pipeline)
    pipeline.set_state(Gst.State.NULL)
    expect(err is not None and "rows is 0" in err[0].message,
           f"rows=0: {err}")

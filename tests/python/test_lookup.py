#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The matrixlookup element in real pipelines, checked against numpy.

appsrc pushes row-id requests, matrixlookup answers them, appsink collects
the answers; each answer is split into its ids and rows and compared with
numpy indexing of the matrix's get_value () copy (M[ids]). The matrix is
shared by the `matrix` property or by `matrix-name`; a writer thread checks
that a read never shows half an update, and a `sharedmatrix op=set` replica
fed by the lookup gets the same rows.
"""

import threading

from checks import (expect, note, require_elements, require_gst_sharedmatrix,
                    require_numpy)

np = require_numpy()
Gst, GLib, SM = require_gst_sharedmatrix()
require_elements(Gst, ("matrixlookup", "sharedmatrix", "appsrc", "appsink",
                       "updatetestsrc"))

# numpy's view of each dtype's bytes (bfloat16: the raw bits)
DTYPES = {"float32": "<f4", "float64": "<f8", "float16": "<f2",
          "bfloat16": "<u2"}
INDEX = {"int32": "<i4", "int64": "<i8"}
TIMEOUT = 30 * Gst.SECOND


def new_matrix(rows, cols, dtype="float32", seed=1):
    """A CPU matrix holding random values (bfloat16: random finite bits)."""
    rng = np.random.default_rng(seed)
    m = SM.SharedMatrix.new(rows, cols, getattr(SM.DType, dtype.upper()),
                            SM.Backend.CPU)
    if dtype == "bfloat16":
        data = (rng.standard_normal((rows, cols), np.float32)
                .view("<u4") >> 16).astype("<u2")
    else:
        data = rng.standard_normal((rows, cols)).astype(DTYPES[dtype])
    m.set_value(GLib.Bytes.new(data.tobytes()))
    return m


def value(m, dtype):
    data = m.get_value().get_data()
    return np.frombuffer(data, DTYPES[dtype]).reshape(
        m.props.rows, m.props.cols)


def split(buf_bytes, n_ids_dtype, row_dtype, cols):
    """An answer's bytes -> (ids, rows)."""
    isize = np.dtype(n_ids_dtype).itemsize
    rsize = np.dtype(row_dtype).itemsize * cols
    n = len(buf_bytes) // (isize + rsize)
    expect(n * (isize + rsize) == len(buf_bytes),
           f"{len(buf_bytes)} bytes are not whole records of {isize + rsize}")
    ids = np.frombuffer(buf_bytes, n_ids_dtype, n)
    rows = np.frombuffer(buf_bytes, row_dtype, n * cols,
                         n * isize).reshape(n, cols)
    return ids, rows


def ids_buffer(ids, index_type):
    data = np.asarray(ids, INDEX[index_type]).tobytes()
    # new_wrapped () of no bytes makes no buffer
    return Gst.Buffer.new_wrapped(data) if data else Gst.Buffer.new()


def lookup(requests, index_type="int32", as_list=False, matrix=None,
           name=None, invalid_index=None, sink_desc="appsink name=sink "
           "sync=false wait-on-eos=false", writer=None):
    """Pushes @requests (lists of ids) through appsrc ! matrixlookup !
    @sink_desc; returns (answers, error, element) where answers are
    (bytes, pts, offset) per output buffer."""
    props = f" matrix-name={name}" if name else ""
    if invalid_index:
        props += f" invalid-index={invalid_index}"
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time caps=application/x-matrix-ids,"
        f"index-type={index_type} ! matrixlookup name=l{props} ! {sink_desc}")
    src, el = pipeline.get_by_name("src"), pipeline.get_by_name("l")
    sink = pipeline.get_by_name("sink")
    if matrix is not None:
        el.set_property("matrix", matrix)
    pipeline.set_state(Gst.State.PLAYING)
    bufs = []
    for k, ids in enumerate(requests):
        b = ids_buffer(ids, index_type)
        b.pts = k * Gst.MSECOND
        b.offset = 1000 + k
        bufs.append(b)
    if writer:
        writer.start()
    if as_list:
        blist = Gst.BufferList.new()
        for b in bufs:
            blist.insert(-1, b)
        src.emit("push-buffer-list", blist)
    else:
        for b in bufs:
            src.emit("push-buffer", b)
    src.emit("end-of-stream")
    bus = pipeline.get_bus()
    msg = bus.timed_pop_filtered(TIMEOUT, Gst.MessageType.EOS |
                                 Gst.MessageType.ERROR)
    expect(msg is not None, "pipeline timed out")
    error = msg.parse_error()[0] if msg.type == Gst.MessageType.ERROR else None
    answers = []
    while sink is not None:
        sample = sink.emit("try-pull-sample", 0)
        if sample is None:
            break
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        answers.append((bytes(info.data), buf.pts, buf.offset))
        buf.unmap(info)
    pipeline.set_state(Gst.State.NULL)
    return answers, error, el


def test_lookup_matches_numpy():
    """Every dtype and index type: ids (duplicates, first and last rows,
    an empty request) come back with M[ids]; PTS kept, OFFSET = version."""
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        for index_type in INDEX:
            m = new_matrix(97, 13, dtype)
            ref = value(m, dtype)
            requests = [rng.integers(0, 97, 200), [0, 96, 0, 96], [],
                        rng.integers(0, 97, 1)]
            answers, error, el = lookup(requests, index_type, matrix=m)
            expect(error is None, f"{dtype}/{index_type}: {error}")
            expect(len(answers) == len(requests), f"{len(answers)} answers")
            for k, (data, pts, offset) in enumerate(answers):
                ids, rows = split(data, INDEX[index_type], DTYPES[dtype], 13)
                expect(np.array_equal(ids, np.asarray(requests[k])),
                       f"{dtype}/{index_type} request {k}: ids differ")
                expect(np.array_equal(rows.view(np.uint8),
                                      ref[ids].view(np.uint8)),
                       f"{dtype}/{index_type} request {k}: rows differ")
                expect(pts == k * Gst.MSECOND, f"pts {pts}")
                expect(offset == 1, f"offset {offset} != version 1")
            expect(el.props.requests == 4 and el.props.rows_read == 205,
                   f"counters {el.props.requests} {el.props.rows_read}")
    note("4 dtypes x 2 index types match numpy indexing")


def test_invalid_ids_error_and_zero():
    m = new_matrix(20, 5)
    ref = value(m, "float32")
    ids = [3, -1, 20, 7, 2**62]
    answers, error, _ = lookup([ids], "int64", matrix=m)
    expect(error is not None and "Row index -1" in error.message,
           f"error policy: {error and error.message}")
    expect(answers == [], "an answer was pushed despite the error")

    answers, error, el = lookup([ids], "int64", matrix=m,
                                invalid_index="zero")
    expect(error is None, f"zero policy: {error}")
    _, rows = split(answers[0][0], "<i8", "<f4", 5)
    want = np.zeros((5, 5), np.float32)
    want[[0, 3]] = ref[[3, 7]]
    expect(np.array_equal(rows, want), "zero rows differ")
    expect((el.props.rows_read, el.props.rows_zeroed) == (2, 3),
           f"rows-read {el.props.rows_read} rows-zeroed "
           f"{el.props.rows_zeroed}")


def test_matrix_by_name_and_missing():
    """A sharedmatrix element's matrix found by name (the element applied
    updatetestsrc's stream first); an unknown name is an error naming it."""
    p = Gst.parse_launch("updatetestsrc num-buffers=20 rows=300 cols=8 "
                         "batch=50 ! sharedmatrix rows=300 cols=8 "
                         "matrix-name=py-lookup-shared ! fakesink")
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(TIMEOUT, Gst.MessageType.EOS |
                                         Gst.MessageType.ERROR)
    expect(msg and msg.type == Gst.MessageType.EOS, "writer pipeline failed")
    m = SM.SharedMatrix.lookup("py-lookup-shared")
    expect(m is not None and m.props.version == 20, "shared matrix")
    ref = value(m, "float32")
    ids = np.arange(300)[::-7]
    answers, error, _ = lookup([ids], name="py-lookup-shared")
    expect(error is None, f"{error}")
    got_ids, rows = split(answers[0][0], "<i4", "<f4", 8)
    expect(np.array_equal(rows, ref[ids]) and answers[0][2] == 20,
           "rows by name differ")
    p.set_state(Gst.State.NULL)

    answers, error, _ = lookup([[1]], name="py-lookup-nobody")
    expect(error is not None and "'py-lookup-nobody'" in error.message,
           f"missing matrix: {error and error.message}")


def test_wrong_index_type_caps():
    m = new_matrix(10, 2)
    pipeline = Gst.parse_launch(
        "appsrc name=src caps=application/x-matrix-ids,index-type=int16 "
        "! matrixlookup name=l ! fakesink")
    pipeline.get_by_name("l").set_property("matrix", m)
    pipeline.set_state(Gst.State.PLAYING)
    pipeline.get_by_name("src").emit(
        "push-buffer", Gst.Buffer.new_wrapped(b"\0\0"))
    msg = pipeline.get_bus().timed_pop_filtered(TIMEOUT,
                                                Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    expect(msg is not None, "int16 ids were accepted")
    note(f"int16 ids: {msg.parse_error()[0].message}")


def test_concurrent_writer_never_torn():
    """A writer sets every row to k in update k while lookups run: each
    answer shows one update completely (all values equal) and that value
    is its OFFSET (the version)."""
    rows, cols = 64, 256
    m = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.CPU)
    all_rows = GLib.Bytes.new(np.arange(rows, dtype="<i4").tobytes())
    stop = threading.Event()

    def write():
        k = 0
        while not stop.is_set() and k < 3000:
            k += 1
            d = np.full((rows, cols), k, np.float32)
            m.update_bytes(SM.Op.SET, all_rows, SM.IndexType.INT32,
                           GLib.Bytes.new(d.tobytes()), SM.DType.FLOAT32)

    writer = threading.Thread(target=write)
    rng = np.random.default_rng(5)
    requests = [rng.integers(0, rows, 32) for _ in range(4000)]
    try:
        answers, error, _ = lookup(requests, as_list=False, matrix=m,
                                   writer=writer)
    finally:
        stop.set()
        writer.join()
    expect(error is None, f"{error}")
    versions = set()
    for data, _, offset in answers:
        _, got = split(data, "<i4", "<f4", cols)
        expect(np.all(got == got.flat[0]), f"torn read at version {offset}")
        expect(got.flat[0] == offset, f"value {got.flat[0]} at version "
               f"{offset}")
        versions.add(offset)
    expect(len(answers) == len(requests), f"{len(answers)} answers")
    expect(len(versions) > 1, "the writer never ran during the reads")
    note(f"{len(answers)} reads saw {len(versions)} versions, none torn")


def test_feeds_a_replica():
    """matrixlookup ! sharedmatrix op=set: the replica holds the primary's
    rows at the ids read, zeros elsewhere."""
    primary = new_matrix(50, 6)
    replica = SM.SharedMatrix.new(50, 6, SM.DType.FLOAT32, SM.Backend.CPU)
    requests = [[1, 2, 3], [40, 2], [49]]
    pipeline = Gst.parse_launch(
        "appsrc name=src format=time caps=application/x-matrix-ids,"
        "index-type=int64 ! matrixlookup name=l ! sharedmatrix name=r op=set")
    pipeline.get_by_name("l").set_property("matrix", primary)
    pipeline.get_by_name("r").set_property("matrix", replica)
    pipeline.set_state(Gst.State.PLAYING)
    src = pipeline.get_by_name("src")
    for ids in requests:
        src.emit("push-buffer", ids_buffer(ids, "int64"))
    src.emit("end-of-stream")
    msg = pipeline.get_bus().timed_pop_filtered(
        TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    expect(msg and msg.type == Gst.MessageType.EOS,
           f"replica pipeline: {msg and msg.type}")
    want = np.zeros((50, 6), np.float32)
    read = [1, 2, 3, 40, 49]
    want[read] = value(primary, "float32")[read]
    expect(np.array_equal(value(replica, "float32"), want), "replica differs")
    expect(replica.props.version == 3, f"replica version "
           f"{replica.props.version}")


def test_buffer_list_equals_singles():
    m = new_matrix(30, 4, "float16")
    rng = np.random.default_rng(8)
    requests = [rng.integers(-2, 32, 9) for _ in range(12)] + [[]]
    singles, e1, a = lookup(requests, matrix=m, invalid_index="zero")
    listed, e2, b = lookup(requests, as_list=True, matrix=m,
                           invalid_index="zero")
    expect(e1 is None and e2 is None, f"{e1} {e2}")
    expect(singles == listed, "a list answers differently from singles")
    expect((a.props.requests, a.props.rows_read, a.props.rows_zeroed) ==
           (b.props.requests, b.props.rows_read, b.props.rows_zeroed),
           "counters differ")
    expect(a.props.rows_zeroed > 0, "no invalid id drawn")

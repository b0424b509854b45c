#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Delta snapshots and replicas, checked against numpy.

A primary `sharedmatrix` fed random update streams (duplicate rows, both
index types, all four dtypes) through an appsrc pushes delta snapshots
(`application/x-matrix-update`, snapshot-every=k) into an appsink and into a
replica `sharedmatrix op=set`. numpy replays the same updates
independently: every delta must hold exactly the rows written since the
previous one (ascending, once each) with the values the reference has at the
delta's version, OFFSET = that version, OFFSET_END = the previous delta's
OFFSET (0 first); the replica's copy after each delta must equal the
reference at that version bit for bit. Also: the first delta after start
holds every row written since creation or `location=` loading; two elements
sharing a matrix each get a complete chain; a dropped delta is an error that
says so; ordinary update streams (no delta=true) are never checked; the
library call gst_shared_matrix_get_delta() directly.
"""

import os

from checks import (CheckFailed, expect, note, require_elements,
                    require_gst_sharedmatrix, require_numpy)

np = require_numpy()
Gst, GLib, SM = require_gst_sharedmatrix()
require_elements(Gst, ("sharedmatrix", "updatetestsrc", "appsrc", "appsink",
                       "tee", "queue"))

TIMEOUT = 60 * Gst.SECOND
INDEX = {"int32": np.dtype("<i4"), "int64": np.dtype("<i8")}
# numpy view of each matrix dtype; bfloat16 travels as its raw bits
DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"),
          "float16": np.dtype("<f2"), "bfloat16": np.dtype("<u2")}
OFFSET_NONE = Gst.BUFFER_OFFSET_NONE


def update_caps(cols, dtype, index_type, delta=False):
    extra = ", delta=(boolean)true" if delta else ""
    return Gst.Caps.from_string(
        f"application/x-matrix-update, dtype=(string){dtype}, "
        f"index-type=(string){index_type}, cols=(int){cols}{extra}")


def random_values(rng, shape, dtype):
    v = rng.standard_normal(shape).astype(np.float32)
    if dtype == "bfloat16":
        u = v.view(np.uint32).astype(np.uint64)
        return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return v.astype(DTYPES[dtype])


def random_updates(rng, rows, cols, dtype, n_updates, batch):
    """Updates with many duplicate rows: half the draws from a few rows."""
    out = []
    hot = rng.integers(0, rows, 8)
    for _ in range(n_updates):
        n = int(rng.integers(0, batch + 1))
        idx = np.where(rng.random(n) < 0.5, rng.choice(hot, n),
                       rng.integers(0, rows, n))
        out.append((idx, random_values(rng, (n, cols), dtype)))
    return out


def reference_apply(c, op, idx, d):
    """add (float32/float64: np.add.at in buffer order, what the backends
    compute bit for bit) or set (last occurrence wins, exact copy)."""
    if op == "add":
        np.add.at(c, idx, d)
    else:
        for i, r in enumerate(idx):
            c[r] = d[i]


def payload(idx, d, index_type):
    return idx.astype(INDEX[index_type]).tobytes() + \
        np.ascontiguousarray(d).tobytes()


def push(src, data, offset=None, offset_end=None):
    buf = Gst.Buffer.new_wrapped_bytes(GLib.Bytes.new(data)) if data \
        else Gst.Buffer.new()
    if offset is not None:
        buf.offset = offset
    if offset_end is not None:
        buf.offset_end = offset_end
    ret = src.emit("push-buffer", buf)
    return ret


def wait(pipeline, what):
    msg = pipeline.get_bus().timed_pop_filtered(
        TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is None:
        pipeline.set_state(Gst.State.NULL)
        raise CheckFailed(f"{what}: timed out")
    if msg.type == Gst.MessageType.ERROR:
        return msg.parse_error()
    return None


def pull_all(sink):
    out = []
    while True:
        sample = sink.emit("try-pull-sample", 0)
        if sample is None:
            return out
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        out.append((bytes(info.data), buf.offset, buf.offset_end,
                    sample.get_caps()))
        buf.unmap(info)


def parse_delta(data, cols, dtype, index_type):
    isz, dsz = INDEX[index_type].itemsize, DTYPES[dtype].itemsize
    n = len(data) // (isz + cols * dsz)
    expect(n * (isz + cols * dsz) == len(data),
           f"delta of {len(data)} bytes is not whole records")
    idx = np.frombuffer(data, INDEX[index_type], n)
    rows = np.frombuffer(data, DTYPES[dtype], n * cols,
                         n * isz).reshape(n, cols)
    return idx, rows


def run_chain(rows, cols, dtype, index_type, op, updates, every,
              initial=None, tmp=None):
    """Primary -> deltas -> (appsink, replica op=set with a raw copy after
    each delta). Returns (deltas, replica copies)."""
    where = ""
    if initial is not None:
        path = os.path.join(tmp, "initial.npy")
        np.save(path, initial)
        where = f"location={path}"
    shape = f"rows={rows} cols={cols} dtype={dtype}" if initial is None \
        else where
    desc = (f"appsrc name=src format=bytes ! sharedmatrix name=p {shape} "
            f"op={op} snapshot-every={every} ! "
            f"application/x-matrix-update, index-type={index_type} ! "
            f"tee name=t ! queue ! appsink name=deltas sync=false "
            f"wait-on-eos=false "
            f"t. ! queue ! sharedmatrix name=r {shape} op=set "
            f"snapshot-every=1 snapshot-on-eos=false ! other/tensors ! "
            f"appsink name=copies sync=false wait-on-eos=false")
    pipeline = Gst.parse_launch(desc)
    src = pipeline.get_by_name("src")
    src.set_property("caps", update_caps(cols, dtype, "int64"))
    pipeline.set_state(Gst.State.PLAYING)
    for k, (idx, d) in enumerate(updates):
        push(src, payload(idx, d, "int64"), offset=k)
    src.emit("end-of-stream")
    err = wait(pipeline, "delta chain")
    deltas = pull_all(pipeline.get_by_name("deltas"))
    copies = pull_all(pipeline.get_by_name("copies"))
    pipeline.set_state(Gst.State.NULL)
    expect(err is None, f"pipeline error: {err}")
    return deltas, copies


def check_chain(rows, cols, dtype, index_type, op, updates, every, deltas,
                copies, initial, start_version=0):
    """Every delta against the numpy replay of the updates."""
    c = initial.copy()
    written = set()
    version = start_version
    prev = 0
    applied = 0
    # the versions at which deltas are due: every k updates, then EOS
    # unless the last one already shows the final version (no repeat)
    due = [start_version + k for k in range(every, len(updates) + 1, every)]
    if not due or due[-1] != start_version + len(updates):
        due.append(start_version + len(updates))
    expect(len(deltas) == len(due),
           f"{len(deltas)} deltas, expected {len(due)} (every {every} of "
           f"{len(updates)} updates, plus EOS unless that repeats the last)")
    expect(len(copies) == len(deltas),
           f"replica made {len(copies)} copies for {len(deltas)} deltas")
    for i, (data, offset, offset_end, caps) in enumerate(deltas):
        s = caps.get_structure(0)
        expect(s.get_name() == "application/x-matrix-update" and
               s.get_string("dtype") == dtype and
               s.get_string("index-type") == index_type and
               s.get_int("cols")[1] == cols and
               s.get_boolean("delta")[1], f"delta caps {caps.to_string()}")
        while version < due[i]:
            idx, d = updates[applied]
            reference_apply(c, op, idx, d)
            written.update(int(r) for r in idx)
            applied += 1
            version += 1
        expect(offset == version, f"delta {i}: OFFSET {offset}, expected "
               f"the version {version}")
        expect(offset_end == prev, f"delta {i}: OFFSET_END {offset_end}, "
               f"expected the previous delta's OFFSET {prev}")
        idx, vals = parse_delta(data, cols, dtype, index_type)
        want = np.array(sorted(written), np.int64)
        expect(np.array_equal(idx.astype(np.int64), want),
               f"delta {i}: rows {idx[:8]}... ({len(idx)}), expected "
               f"{want[:8]}... ({len(want)})")
        expect(vals.tobytes() == c[want].tobytes(),
               f"delta {i}: values differ from the reference at version "
               f"{version}")
        rep = np.frombuffer(copies[i][0], c.dtype).reshape(rows, cols)
        expect(rep.tobytes() == c.tobytes(),
               f"replica after delta {i} (version {version}) differs from "
               f"the primary: {np.count_nonzero((rep != c).any(axis=1))} rows")
        written = set()
        prev = offset


CASES = [("float32", "int64", "add", 3), ("float64", "int32", "add", 4),
         ("float16", "int64", "set", 2), ("bfloat16", "int32", "set", 5),
         ("float32", "int32", "set", 1)]


def test_delta_chain_replica_bit_exact():
    rows, cols = 300, 7
    for n, (dtype, index_type, op, every) in enumerate(CASES):
        rng = np.random.default_rng(100 + n)
        updates = random_updates(rng, rows, cols, dtype, 23, 40)
        deltas, copies = run_chain(rows, cols, dtype, index_type, op,
                                   updates, every)
        check_chain(rows, cols, dtype, index_type, op, updates, every,
                    deltas, copies, np.zeros((rows, cols), DTYPES[dtype]))
        note(f"{dtype}/{index_type} op={op} every={every}: {len(deltas)} "
             f"deltas, replica equal at each")


def test_first_delta_after_location_load(tmp):
    """location=: the initial matrix is the file; the first delta holds the
    rows written since loading, not the file's other rows."""
    rows, cols = 120, 5
    rng = np.random.default_rng(7)
    initial = rng.standard_normal((rows, cols)).astype(np.float32)
    updates = random_updates(rng, rows, cols, "float32", 9, 12)
    deltas, copies = run_chain(rows, cols, "float32", "int64", "add",
                               updates, 4, initial=initial, tmp=tmp)
    check_chain(rows, cols, "float32", "int64", "add", updates, 4, deltas,
                copies, initial)


def test_index_type_preference():
    """Downstream that takes any index type gets int64."""
    pipeline = Gst.parse_launch(
        "updatetestsrc num-buffers=3 rows=50 cols=2 batch=4 ! sharedmatrix "
        "rows=50 cols=2 ! application/x-matrix-update ! appsink name=s "
        "wait-on-eos=false sync=false")
    pipeline.set_state(Gst.State.PLAYING)
    err = wait(pipeline, "index type")
    out = pull_all(pipeline.get_by_name("s"))
    pipeline.set_state(Gst.State.NULL)
    expect(err is None, f"error {err}")
    expect(len(out) == 1, f"{len(out)} buffers")
    s = out[0][3].get_structure(0)
    expect(s.get_string("index-type") == "int64",
           f"caps {out[0][3].to_string()}")
    idx, vals = parse_delta(out[0][0], 2, "float32", "int64")
    expect(out[0][1] == 3 and out[0][2] == 0,
           f"OFFSET/OFFSET_END {out[0][1]}/{out[0][2]}")
    expect(np.all(np.diff(idx) > 0), "indices ascending, once each")


def test_two_elements_sharing_a_matrix():
    """Elements sharing a matrix by name each get their own complete chain:
    each covers every row written by anyone since its previous delta."""
    rows, cols = 80, 3
    rng = np.random.default_rng(11)
    name = "delta-shared-matrix"
    ups = [random_updates(rng, rows, cols, "float32", 6, 10)
           for _ in range(2)]

    def run(k, every):
        p = Gst.parse_launch(
            f"appsrc name=src format=bytes ! sharedmatrix name=m "
            f"matrix-name={name} rows={rows} cols={cols} "
            f"snapshot-every={every} ! application/x-matrix-update ! "
            f"appsink name=s sync=false wait-on-eos=false")
        src = p.get_by_name("src")
        src.set_property("caps", update_caps(cols, "float32", "int32"))
        return p, src

    pa, srca = run(0, 2)
    pb, srcb = run(1, 3)
    for p in (pa, pb):
        p.set_state(Gst.State.PLAYING)
    c = np.zeros((rows, cols), np.float32)
    at = {0: c.copy()}                    # version -> reference copy
    version = 0
    # interleaved a, b, a, b, ...; each update is waited for (the shared
    # version moves) so the reference knows the order
    for k in range(6):
        for src, up, p in ((srca, ups[0][k], pa), (srcb, ups[1][k], pb)):
            push(src, payload(up[0], up[1], "int32"), offset=k)
            version += 1
            reference_apply(c, "add", up[0], up[1])
            at[version] = c.copy()
            elem = p.get_by_name("m")
            for _ in range(5000):
                mat = elem.get_property("matrix")
                if mat is not None and mat.get_property("version") >= version:
                    break
                GLib.usleep(1000)
    srca.emit("end-of-stream")
    expect(wait(pa, "a") is None, "pipeline a failed")
    srcb.emit("end-of-stream")
    expect(wait(pb, "b") is None, "pipeline b failed")
    for which, p in (("a", pa), ("b", pb)):
        chain = pull_all(p.get_by_name("s"))
        p.set_state(Gst.State.NULL)
        replica = np.zeros((rows, cols), np.float32)
        prev = 0
        for data, offset, offset_end, caps in chain:
            expect(offset_end == prev, f"{which}: OFFSET_END {offset_end}, "
                   f"previous OFFSET {prev}")
            idx, vals = parse_delta(data, cols, "float32", "int64")
            expect(np.all(np.diff(idx) > 0), f"{which}: indices ascending")
            replica[idx] = vals
            expect(replica.tobytes() == at[offset].tobytes(),
                   f"{which}: replica differs from the matrix at version "
                   f"{offset}")
            prev = offset
        expect(prev == 12, f"{which}: chain ends at {prev}, not 12")
        note(f"element {which}: {len(chain)} deltas, replica equal at each")


def replica_pipeline(rows, cols, caps, properties=""):
    p = Gst.parse_launch(
        f"appsrc name=src format=bytes ! sharedmatrix name=r rows={rows} "
        f"cols={cols} op=set {properties}")
    src = p.get_by_name("src")
    src.set_property("caps", caps)
    p.set_state(Gst.State.PLAYING)
    return p, src, p.get_by_name("r")


def test_dropped_delta_is_detected():
    rows, cols = 40, 2
    p, src, r = replica_pipeline(rows, cols,
                                 update_caps(cols, "float32", "int64", True))
    one = payload(np.array([3]), np.ones((1, cols), np.float32), "int64")
    push(src, one, offset=5, offset_end=0)
    push(src, one, offset=9, offset_end=5)
    # the delta 9 -> 14 is lost; 14 -> 20 arrives
    push(src, one, offset=20, offset_end=14)
    src.emit("end-of-stream")
    err = wait(p, "dropped delta")
    version = r.get_property("version")
    p.set_state(Gst.State.NULL)
    expect(err is not None, "no error for a missed delta")
    msg = err[0].message
    expect("missed a delta" in msg.lower() and "version 9" in msg and
           "from 14" in msg and "restart" in msg,
           f"error message does not say what happened: {msg}")
    expect(version == 2, f"the out-of-chain delta was applied ({version})")
    note(msg)


def test_restored_replica_continues_the_chain(tmp):
    """A replica restarted from its checkpoint checks the first delta it
    gets against the last one the checkpoint holds: a delta lost across the
    restart is detected; a replayed one is skipped and the next applies."""
    rows, cols = 40, 2
    ckpt = os.path.join(tmp, "replica.npy")
    caps = update_caps(cols, "float32", "int64", True)

    def run_replica(what, deltas):
        """one run of the replica on (row, value, OFFSET, OFFSET_END)
        deltas of one row each; the error it ended with, or None"""
        p, src, _ = replica_pipeline(rows, cols, caps,
                                     f"checkpoint-location={ckpt}")
        for i, v, offset, offset_end in deltas:
            push(src, payload(np.array([i]), np.full((1, cols), v, np.float32),
                              "int64"), offset=offset, offset_end=offset_end)
        src.emit("end-of-stream")
        err = wait(p, what)
        p.set_state(Gst.State.NULL)
        return err

    expect(run_replica("first run", [(3, 1.0, 5, 0), (4, 2.0, 9, 5)]) is None,
           "first run failed")

    # restarted, fed from after what it made durable (as jetstreamsrc
    # resumes): 9 -> 14 is lost, 14 -> 20 is the first delta it gets
    err = run_replica("lost across the restart", [(5, 3.0, 20, 14)])
    expect(err is not None, "no error for a delta lost across the restart")
    msg = err[0].message
    expect("missed a delta" in msg.lower() and "version 9" in msg and
           "from 14" in msg, f"error message does not say what happened: {msg}")
    got = np.load(ckpt)
    expect(got[5].tolist() == [0.0, 0.0], "the out-of-chain delta was applied")

    # restarted again, with a producer replaying: 9 is skipped, the delta
    # that continues the chain applies
    expect(run_replica("continued", [(4, 9.0, 9, 5), (6, 4.0, 14, 9)]) is None,
           "the continuing delta was refused")
    want = np.zeros((rows, cols), np.float32)
    want[3], want[4], want[6] = 1.0, 2.0, 4.0
    expect(np.load(ckpt).tobytes() == want.tobytes(),
           "replica after the restarts differs from the chain's rows")
    note(msg)


def test_ordinary_streams_unaffected():
    """Without delta=true, OFFSET_END is never checked (updatetestsrc sets
    OFFSET + 1; other producers anything)."""
    rows, cols = 40, 2
    p, src, r = replica_pipeline(rows, cols,
                                 update_caps(cols, "float32", "int64"))
    one = payload(np.array([3]), np.ones((1, cols), np.float32), "int64")
    for k, end in enumerate([7, 0, 123, OFFSET_NONE, 2]):
        push(src, one, offset=k, offset_end=end)
    src.emit("end-of-stream")
    err = wait(p, "ordinary")
    version = r.get_property("version")
    p.set_state(Gst.State.NULL)
    expect(err is None, f"ordinary stream failed: {err}")
    expect(version == 5, f"version {version}")
    # and updatetestsrc straight into sharedmatrix
    p = Gst.parse_launch("updatetestsrc num-buffers=20 rows=100 cols=3 "
                         "batch=5 ! sharedmatrix name=m rows=100 cols=3")
    p.set_state(Gst.State.PLAYING)
    err = wait(p, "updatetestsrc")
    v = p.get_by_name("m").get_property("version")
    p.set_state(Gst.State.NULL)
    expect(err is None and v == 20, f"updatetestsrc stream: {err}, {v}")


def test_delta_with_wrong_cols_is_refused():
    p, src, r = replica_pipeline(40, 3, update_caps(5, "float32", "int64",
                                                    True))
    push(src, payload(np.array([1]), np.ones((1, 5), np.float32), "int64"),
         offset=1, offset_end=0)
    src.emit("end-of-stream")
    err = wait(p, "wrong cols")
    p.set_state(Gst.State.NULL)
    expect(err is not None and "cols=5" in err[0].message and
           "3 columns" in err[0].message, f"error: {err}")


def test_library_get_delta(tmp):
    rows, cols = 3000, 4
    rng = np.random.default_rng(5)
    initial = rng.standard_normal((rows, cols)).astype(np.float32)
    path = os.path.join(tmp, "m.npy")
    np.save(path, initial)
    m = SM.SharedMatrix.new_from_npy(path, SM.Backend.CPU)
    data, version, n = m.get_delta(0, SM.IndexType.INT64)
    expect(n == 0 and version == 0 and len(data.get_data()) == 0,
           f"a loaded matrix has written nothing: {n} rows at {version}")
    c = initial.copy()
    marks = []
    for k in range(5):
        idx = rng.integers(0, rows, 50).astype(np.int32)
        d = rng.standard_normal((50, cols)).astype(np.float32)
        m.update_bytes(SM.Op.ADD, GLib.Bytes.new(idx.tobytes()),
                       SM.IndexType.INT32, GLib.Bytes.new(d.tobytes()),
                       SM.DType.FLOAT32)
        np.add.at(c, idx, d)
        marks.append(set(int(r) for r in idx))
    for since in range(6):
        for it in ("INT32", "INT64"):
            data, version, n = m.get_delta(since, getattr(SM.IndexType, it))
            idx, vals = parse_delta(bytes(data.get_data()), cols, "float32",
                                    it.lower())
            want = sorted(set().union(*marks[since:]))
            expect(version == 5 and n == len(want) and
                   list(idx) == want, f"since {since}: rows {list(idx)[:5]}")
            expect(vals.tobytes() == c[want].tobytes(), "values")
    # set_value writes every row
    m.set_value(GLib.Bytes.new(np.zeros((rows, cols), np.float32).tobytes()))
    data, version, n = m.get_delta(5, SM.IndexType.INT64)
    expect(n == rows and version == 6, f"set_value: {n} rows at {version}")


def test_library_get_delta_since_any_version():
    """Deltas since every earlier version, while the matrix keeps being
    written: recent ones come from the journal of written rows, older ones
    (past what the journal holds, or before a whole-matrix write) from the
    per-row versions; both must give exactly the rows whose last write came
    after the version, ascending, with their current values. Reference: the
    last version that wrote each row, kept here."""
    rows, cols = 2000, 3               # a journal of 500 occurrences
    rng = np.random.default_rng(23)
    m = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.CPU)
    c = np.zeros((rows, cols), np.float32)
    last = np.zeros(rows, np.int64)    # version that last wrote each row
    policies = SM.Policies()
    policies.invalid_index = SM.InvalidIndexPolicy.DROP
    version = 0
    for k in range(40):
        if k == 25:                    # writes every row
            c = rng.standard_normal((rows, cols)).astype(np.float32)
            m.set_value(GLib.Bytes.new(c.tobytes()))
            version += 1
            last[:] = version
            continue
        n = int(rng.integers(0, 150))
        idx = rng.integers(0, rows, n).astype(np.int64)
        if n:                          # a row of the journal's oldest, again
            idx[0] = rng.integers(0, 20)
        idx[n // 2:n // 2 + 1] = rows + 3      # dropped: not written
        d = rng.standard_normal((n, cols)).astype(np.float32)
        ok, res = m.update_bytes_full(
            SM.Op.ADD, GLib.Bytes.new(idx.tobytes()), SM.IndexType.INT64,
            GLib.Bytes.new(d.tobytes()), SM.DType.FLOAT32, policies)
        expect(ok, f"update {k}")
        version += 1
        kept = idx < rows
        np.add.at(c, idx[kept], d[kept])
        last[idx[kept]] = version
        for since in sorted({0, version - 1, version - 2, version - 5,
                             max(version - 12, 0), version}):
            if since < 0:
                continue
            it = ("INT32", "INT64")[since % 2]
            data, got_version, n_rows = m.get_delta(
                since, getattr(SM.IndexType, it))
            got, vals = parse_delta(bytes(data.get_data()), cols, "float32",
                                    it.lower())
            want = np.flatnonzero(last > since)
            expect(got_version == version and n_rows == len(want) and
                   np.array_equal(got, want),
                   f"after version {version}, since {since}: {n_rows} rows "
                   f"{list(got)[:6]}…, expected {len(want)} {list(want)[:6]}…")
            expect(vals.tobytes() == c[want].tobytes(),
                   f"values after version {version}, since {since}")


def test_optimizer_steps_are_in_deltas():
    """Gradient steps write rows like updates do: a delta after them holds
    exactly the rows they stepped (a dropped row is not written), with the
    values the matrix has."""
    rows, cols = 500, 3
    rng = np.random.default_rng(11)
    m = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.CPU)
    m.set_optimizer(SM.Optimizer.ADAGRAD)
    policies = SM.Policies()
    policies.invalid_index = SM.InvalidIndexPolicy.DROP
    stepped = set()
    for _ in range(3):
        idx = rng.integers(0, rows, 20).astype(np.int32)
        idx[0] = rows + 7               # dropped: never written
        g = rng.standard_normal((20, cols)).astype(np.float32)
        ok, res = m.apply_gradients_bytes(
            GLib.Bytes.new(idx.tobytes()), SM.IndexType.INT32,
            GLib.Bytes.new(g.tobytes()), SM.DType.FLOAT32, None, policies)
        expect(ok and res.rows_dropped_invalid == 1, f"step: {ok}")
        stepped |= set(int(r) for r in idx[1:])
    data, version, n = m.get_delta(0, SM.IndexType.INT64)
    idx, vals = parse_delta(bytes(data.get_data()), cols, "float32", "int64")
    want = sorted(stepped)
    expect(version == 3 and list(idx) == want,
           f"delta rows {list(idx)[:5]}…, expected {want[:5]}…")
    c = np.frombuffer(m.get_value().get_data(), "<f4").reshape(rows, cols)
    expect(vals.tobytes() == c[want].tobytes(), "delta values")

#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python overrides (plugin/python/gi/overrides/GstSharedMatrix.py):
numpy in and out, dtypes inferred, policies by nick, library errors raised
as SharedMatrixError, and the import-order trap (a matrix read from an
element before `from gi.repository import GstSharedMatrix`) repaired.

Runs with the overrides from the source tree on PYTHONPATH (meson's test
env), through /usr/bin/python3 -m pytest."""

import os
import subprocess
import sys
import textwrap

from checks import expect, note, require_gst_sharedmatrix, require_numpy, skip

np = require_numpy()
Gst, GLib, SM = require_gst_sharedmatrix()
if not hasattr(SM, "SharedMatrixError"):
    skip("the GstSharedMatrix overrides are not on PYTHONPATH "
         "(plugin/python from the source tree)")
Gst.init(None)

F32 = SM.DType.FLOAT32


def new(rows=50, cols=8, dtype=F32):
    return SM.SharedMatrix.new(rows, cols, dtype, SM.Backend.CPU)


def test_overrides_are_loaded_from_the_build_tree():
    expect(SM.SharedMatrix.__module__ == "gi.overrides.GstSharedMatrix",
           f"SharedMatrix comes from {SM.SharedMatrix.__module__}")
    expect(os.path.realpath(sys.modules["gi.overrides.GstSharedMatrix"].__file__)
           .startswith(os.path.realpath(os.environ.get("SHAREDMATRIX_SOURCE_ROOT", "/"))),
           "overrides not taken from the source tree")
    m = new()
    expect(type(m) is SM.SharedMatrix, f"new() gives {type(m)}")


def test_update_numpy_like_add_at():
    rng = np.random.default_rng(1)
    m = new()
    ref = np.zeros((50, 8), np.float32)
    for itype in (np.int32, np.int64, np.uint16):
        rows = rng.integers(0, 50, 30).astype(itype)
        deltas = rng.standard_normal((30, 8)).astype(np.float32)
        result = m.update("add", rows, deltas)
        np.add.at(ref, rows.astype(np.int64), deltas)
        expect(result.rows_applied == 30, f"rows_applied {result.rows_applied}")
    expect(np.array_equal(m.numpy(), ref), "add differs from numpy.add.at")
    expect(m.get_version() == 3, f"version {m.get_version()}")
    # sequences, an enum op, one row given as a flat list
    m.update(SM.Op.SET, [4], [1.0] * 8)
    ref[4] = 1.0
    m.update("sub", (5, 6), [[1] * 8, [2] * 8])
    ref[5] -= 1
    ref[6] -= 2
    expect(np.array_equal(np.asarray(m), ref), "set/sub from sequences differ")


def test_delta_dtypes_are_inferred():
    for dtype in (np.float64, np.float16, np.dtype(">f4")):
        m = new()
        deltas = np.full((2, 8), 0.5, dtype)
        m.update("add", np.array([1, 2]), deltas)
        expect(np.all(m.gather([1, 2]) == 0.5), f"{dtype} deltas not applied")
    m = new()
    try:
        m.update("add", [1], np.ones(8, np.int32))
        expect(False, "int32 deltas accepted")
    except TypeError as e:
        note(f"int deltas: {e}")
    try:
        m.update("add", [1, 2], np.ones(8, np.float32))
        expect(False, "8 deltas for 2 rows accepted")
    except ValueError as e:
        note(f"wrong count: {e}")


def test_policies_and_errors():
    m = new()
    before = m.numpy()
    try:
        m.update("add", [1, 50], np.ones((2, 8), np.float32))
        expect(False, "an invalid index was accepted")
    except SM.SharedMatrixError as e:
        expect(isinstance(e, GLib.Error), "not a GLib.Error")
        expect(e.code == SM.Error.INVALID_INDEX and e.error == SM.Error.INVALID_INDEX,
               f"code {e.code}")
        expect(e.domain == "gst-shared-matrix-error-quark", e.domain)
        note(f"invalid index: {e.message}")
    expect(np.array_equal(m.numpy(), before), "matrix changed by a rejected update")
    result = m.update("add", [1, 50], np.ones((2, 8), np.float32), invalid_index="drop")
    expect((result.rows_applied, result.rows_dropped_invalid) == (1, 1),
           f"drop: {result.rows_applied} applied {result.rows_dropped_invalid} dropped")
    bad = np.ones((2, 8), np.float32)
    bad[0, 3] = np.nan
    result = m.update("add", [2, 3], bad, non_finite="drop")
    expect(result.rows_dropped_non_finite == 1, "non-finite row not dropped")
    try:
        m.update("add", [2], bad[:1], non_finite=SM.NonFinitePolicy.ERROR)
        expect(False, "a NaN row was accepted with non_finite=error")
    except SM.SharedMatrixError as e:
        expect(e.code == SM.Error.NON_FINITE, f"code {e.code}")
    try:
        m.update("nope", [1], np.ones(8, np.float32))
        expect(False, "op 'nope' accepted")
    except ValueError:
        pass


def test_gather_numpy_shape_dtype():
    m = new(20, 3)
    vals = np.arange(60, dtype=np.float32).reshape(20, 3)
    m.set_value(vals)
    expect(m.shape == (20, 3) and len(m) == 20, f"shape {m.shape}")
    expect(m.dtype == np.float32, f"dtype {m.dtype}")
    g = m.gather(np.array([19, 0, 19], np.int64))
    expect(g.shape == (3, 3) and np.array_equal(g, vals[[19, 0, 19]]), "gather")
    expect(g.flags.writeable, "gather result read-only")
    c = m.numpy()
    expect(np.array_equal(c, vals) and c.flags.writeable, "numpy()")
    c[0, 0] = 99      # a copy: the matrix is untouched
    expect(m.gather([0])[0, 0] == 0, "numpy() is not a copy")
    expect(np.asarray(m, dtype=np.float64).dtype == np.float64, "__array__ dtype")
    # the raw calls take arrays where they took GLib.Bytes
    m.update_bytes(SM.Op.SET, np.array([1], "<i4"), SM.IndexType.INT32,
                   np.full(3, 7, "<f4"), F32)
    data = m.gather_bytes(np.array([1], "<i8"), SM.IndexType.INT64).get_data()
    expect(np.frombuffer(data, "<f4").tolist() == [7, 7, 7], "update_bytes(ndarray)")


def test_half_and_bfloat16_dtypes():
    m = new(4, 2, SM.DType.FLOAT16)
    expect(m.dtype == np.float16, f"float16 dtype {m.dtype}")
    m.update("add", [1], [0.5, 0.25])
    expect(m.numpy()[1].tolist() == [0.5, 0.25], "float16 numpy()")
    b = new(4, 2, SM.DType.BFLOAT16)
    b.update("add", [2], np.array([[1.0, -2.0]], np.float32))
    c = b.numpy()
    try:
        import ml_dtypes
        expect(c.dtype == ml_dtypes.bfloat16, f"bfloat16 dtype {c.dtype}")
        values = c.astype(np.float32)[2]
    except ImportError:
        expect(c.dtype == np.dtype(SM.BFLOAT16_STRUCT), f"bfloat16 dtype {c.dtype}")
        values = (c["bfloat16"].astype(np.uint32) << 16).view(np.float32)[2]
    expect(values.tolist() == [1.0, -2.0], f"bfloat16 values {values}")
    # raw bfloat16 bits in, as the structured dtype
    bits = np.zeros((1, 2), SM.BFLOAT16_STRUCT) if b.dtype.names else None
    if bits is not None:
        bits["bfloat16"] = 0x3F80          # 1.0
        b.update("add", [2], bits)
        c = b.numpy()
        values = (c["bfloat16"].astype(np.uint32) << 16).view(np.float32)[2]
        expect(values.tolist() == [2.0, -1.0], f"bfloat16 raw bits in {values}")


TRAP = textwrap.dedent("""
    import sys, gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstSharedMatrix", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    if sys.argv[1] == "import-first":
        from gi.repository import GstSharedMatrix
    e = Gst.ElementFactory.make("sharedmatrix")
    e.set_property("rows", 10)
    e.set_property("cols", 4)
    p = Gst.Pipeline()
    p.add(e)
    p.set_state(Gst.State.PAUSED)
    first = e.get_property("matrix")
    from gi.repository import GstSharedMatrix
    again = e.get_property("matrix")
    print(type(first).__name__, type(again).__name__,
          hasattr(GstSharedMatrix.SharedMatrix, "new"), again.shape,
          again.numpy().shape)
    p.set_state(Gst.State.NULL)
""")


def test_import_order_trap_repaired():
    for order in ("property-first", "import-first"):
        out = subprocess.run([sys.executable, "-c", TRAP, order],
                             capture_output=True, text=True, timeout=120)
        expect(out.returncode == 0, f"{order}: {out.stderr}")
        expect(out.stdout.split() == ["SharedMatrix", "SharedMatrix", "True",
                                      "(10,", "4)", "(10,", "4)"],
               f"{order}: {out.stdout!r} {out.stderr}")
        note(f"{order}: {out.stdout.strip()}")


def test_optimizer_calls():
    """set_optimizer/apply_gradients/optimizer_state with numpy, against a
    numpy adagrad written from the SPEC (duplicates summed, then one step);
    a second optimizer on the same matrix is a SharedMatrixError."""
    rng = np.random.default_rng(3)
    m = new(rows=20, cols=4)
    w = rng.standard_normal((20, 4)).astype(np.float32)
    m.set_value(w)
    m.set_optimizer("adagrad")
    G = np.zeros((20, 4), np.float32)
    lr, eps = np.float32(0.1), np.float32(1e-8)
    for _ in range(3):
        rows = rng.integers(0, 20, 6).astype(np.int32)
        grads = rng.standard_normal((6, 4)).astype(np.float32)
        res = m.apply_gradients(rows, grads, learning_rate=0.1)
        expect(res.rows_applied == 6, f"rows_applied {res.rows_applied}")
        g = np.zeros_like(G)
        np.add.at(g, rows, grads)
        touched = np.unique(rows)
        G[touched] += g[touched] * g[touched]
        w[touched] -= lr * (g[touched] / (np.sqrt(G[touched]) + eps))
    expect(np.allclose(m.numpy(), w, rtol=1e-6, atol=1e-6), "adagrad differs from numpy")
    expect(np.allclose(m.optimizer_state(0), G, rtol=1e-6), "state G differs")
    expect(m.get_optimizer_step() == 3, f"step {m.get_optimizer_step()}")
    try:
        m.set_optimizer("adam")
    except SM.SharedMatrixError as e:
        expect(e.code == SM.Error.INVALID_ARGUMENT, f"code {e.code}")
    else:
        expect(False, "changing the optimizer with state present did not raise")

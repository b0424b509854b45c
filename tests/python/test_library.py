#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The GstSharedMatrix library through GObject introspection, against numpy.

Every result is compared with an independent reference written here in
numpy: updates are replayed one occurrence at a time (vectorised across the
columns), in the compute dtype of the specification (float64 when the matrix
or the delta dtype is float64, float32 otherwise), and rounded to nearest
even to the matrix dtype after each occurrence. bfloat16 is encoded by a
generic round-to-nearest-even on float64 values written here, which is
itself checked against numpy's float64 -> float16/float32 conversions.

Bit-for-bit comparisons use the CPU backend; NaNs compare equal to any NaN
(payload and sign are not specified), and +0.0 equals -0.0 only for min/max
(which zero np.minimum/np.maximum pick is not specified either).

Run under pytest with GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the
build's plugin/lib directory (meson test sets both). Each check group is one
pytest test (test_<group>) that runs all its checks and then fails listing
every failed one; the module skips without PyGObject, numpy or the
GstSharedMatrix typelib.

`test_library.py --thread-helper` is used by the thread-count group: it
applies a fixed set of big updates and prints the sha256 of each result.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading

import pytest

from checks import require_numpy, require_sharedmatrix

np = require_numpy()
GLib, SM = require_sharedmatrix()


# ---- dtypes, encoding and the reference rounding ----------------------------

DTYPES = ["float32", "float64", "float16", "bfloat16"]
SM_DTYPE = {
    "float32": SM.DType.FLOAT32,
    "float64": SM.DType.FLOAT64,
    "float16": SM.DType.FLOAT16,
    "bfloat16": SM.DType.BFLOAT16,
}
# how the raw (little-endian) storage of each dtype is held in numpy
STORAGE = {
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<u2"),
}
BITS = {"float32": np.dtype("<u4"), "float64": np.dtype("<u8"),
        "float16": np.dtype("<u2"), "bfloat16": np.dtype("<u2")}
# (exponent bits, explicit mantissa bits)
FORMAT = {"float32": (8, 23), "float64": (11, 52), "float16": (5, 10),
          "bfloat16": (8, 7)}

OPS = ["set", "add", "sub", "mul", "min", "max"]
SM_OP = {
    "set": SM.Op.SET, "add": SM.Op.ADD, "sub": SM.Op.SUB,
    "mul": SM.Op.MUL, "min": SM.Op.MIN, "max": SM.Op.MAX,
}
INDEX_TYPES = {"int32": (SM.IndexType.INT32, np.dtype("<i4")),
               "int64": (SM.IndexType.INT64, np.dtype("<i8"))}

CPU = SM.Backend.CPU
INV = {"error": SM.InvalidIndexPolicy.ERROR, "drop": SM.InvalidIndexPolicy.DROP}
NF = {"apply": SM.NonFinitePolicy.APPLY, "drop": SM.NonFinitePolicy.DROP,
      "error": SM.NonFinitePolicy.ERROR}


def rne(x, exp_bits, man_bits):
    """Round float64 values to nearest even in a binary format with the given
    exponent and mantissa widths (IEEE-style: subnormals, overflow to inf).
    Returns float64 values that are exactly representable in that format.
    Every step is exact in float64 except np.round, which rounds half to
    even on values below 2**(man_bits+1)."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    fin = np.isfinite(x)
    xf = x[fin]
    emax = (1 << (exp_bits - 1)) - 1
    emin = 1 - emax
    _, e = np.frexp(xf)                  # |xf| = m * 2**e, 0.5 <= m < 1
    lead = np.maximum(e - 1, emin)       # exponent of the leading bit
    q = lead - man_bits                  # exponent of the last mantissa bit
    y = np.ldexp(np.round(np.ldexp(xf, -q)), q)
    maxfin = (2.0 - 2.0 ** -man_bits) * 2.0 ** emax
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.where(np.abs(y) > maxfin, np.copysign(np.inf, xf), y)
    out[fin] = y
    return out


def bf16_bits_to_f32(u):
    return (np.asarray(u, dtype=np.uint16).astype(np.uint32) << 16).view(
        np.float32)


def f64_to_bf16_bits(x):
    """float64 -> bfloat16 bits, round to nearest even from float64 exactly;
    NaN -> quiet NaN 0x7fc0 carrying the sign."""
    x = np.asarray(x, dtype=np.float64)
    r = rne(x, 8, 7)
    nan = np.isnan(x)
    r = np.where(nan, 0.0, r)
    bits = (r.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    sign = (np.signbit(x).astype(np.uint16) << 15)
    return np.where(nan, np.uint16(0x7FC0) | sign, bits).astype(np.uint16)


def decode(st, dt):
    """storage array -> float64 values (exact)"""
    with np.errstate(invalid="ignore"):   # casting signalling NaNs
        if dt == "bfloat16":
            return bf16_bits_to_f32(st).astype(np.float64)
        return np.asarray(st).astype(np.float64)


def encode(x, dt):
    """float64 values -> storage array of dtype dt, round to nearest even"""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if dt == "bfloat16":
            return f64_to_bf16_bits(x)
        # numpy converts float64 directly to these (checked in the
        # reference self-check group against rne())
        return x.astype(STORAGE[dt])


def compute_dtype(mdt, ddt):
    return np.float64 if "float64" in (mdt, ddt) else np.float32


def valid_row(r, rows):
    return 0 <= int(r) < rows


def ref_update(m_st, mdt, op, idx, d_st, ddt, invalid="error",
               non_finite="apply"):
    """The reference: returns (new storage, rows_applied, rows_dropped).
    One occurrence at a time, in buffer order, in the compute dtype, rounded
    to the matrix dtype after each occurrence. Policies are assumed not to
    reject (callers check rejection separately)."""
    rows = m_st.shape[0]
    ct = compute_dtype(mdt, ddt)
    out = np.array(m_st, copy=True)
    applied = dropped = 0
    with np.errstate(all="ignore"):
        d = decode(d_st, ddt).astype(ct)    # exact
        for i, r in enumerate(np.asarray(idx).tolist()):
            if not valid_row(r, rows):
                assert invalid == "drop"
                dropped += 1
                continue
            if non_finite == "drop" and not np.all(np.isfinite(d[i])):
                dropped += 1
                continue
            a = decode(out[r], mdt).astype(ct)
            b = d[i]
            if op == "set":
                v = b
            elif op == "add":
                v = a + b
            elif op == "sub":
                v = a - b
            elif op == "mul":
                v = a * b
            elif op == "min":
                v = np.minimum(a, b)
            elif op == "max":
                v = np.maximum(a, b)
            else:
                raise ValueError(op)
            assert v.dtype == ct
            out[r] = encode(v.astype(np.float64), mdt)
            applied += 1
    return out, applied, dropped


def compare(st_ref, st_got, dt, zero_sign_matters=True):
    """Bit comparison of two storage arrays. Returns None or a description
    of the first mismatches."""
    a = np.ascontiguousarray(st_ref).reshape(-1)
    b = np.ascontiguousarray(st_got).reshape(-1)
    if a.shape != b.shape:
        return f"shape {b.shape} != expected {a.shape}"
    ab = a.view(BITS[dt])
    bb = b.view(BITS[dt])
    va = decode(a, dt)
    vb = decode(b, dt)
    bad = ab != bb
    bad &= ~(np.isnan(va) & np.isnan(vb))
    if not zero_sign_matters:
        bad &= ~((va == 0) & (vb == 0))
    if not bad.any():
        return None
    pos = np.flatnonzero(bad)
    shown = ", ".join(
        f"[{p}] expected 0x{int(ab[p]):x} ({va[p]!r}) got 0x{int(bb[p]):x} "
        f"({vb[p]!r})" for p in pos[:4])
    return f"{len(pos)} of {a.size} elements differ: {shown}"


# ---- thin wrappers around the library ----------------------------------------

def gbytes(data):
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).tobytes()
    return GLib.Bytes.new(data)


def raw(gb):
    d = gb.get_data()
    return b"" if d is None else bytes(d)


def new_matrix(rows, cols, dt, backend=CPU):
    return SM.SharedMatrix.new(rows, cols, SM_DTYPE[dt], backend)


def value(m, dt):
    """the matrix as a (rows, cols) storage array"""
    return np.frombuffer(raw(m.get_value()), dtype=STORAGE[dt]).reshape(
        m.props.rows, m.props.cols).copy()


def set_value(m, st):
    m.set_value(gbytes(st))


def update(m, op, idx, itype, d_st, ddt, invalid=None, non_finite=None):
    """update_bytes, or update_bytes_full when a policy is given; returns
    (rows_applied, rows_dropped) for the latter, None for the former"""
    it, inp = INDEX_TYPES[itype]
    ib = gbytes(np.asarray(idx, dtype=inp))
    db = gbytes(np.asarray(d_st, dtype=STORAGE[ddt]))
    if invalid is None and non_finite is None:
        ok = m.update_bytes(SM_OP[op], ib, it, db, SM_DTYPE[ddt])
        assert ok is True
        return None
    ok, res = m.update_bytes_full(SM_OP[op], ib, it, db, SM_DTYPE[ddt],
                                  policies(invalid or "error",
                                           non_finite or "apply"))
    assert ok is True
    assert res.version == m.props.version
    return res.rows_applied, res.rows_dropped_invalid + res.rows_dropped_non_finite


def policies(invalid, non_finite):
    """A GstSharedMatrix.Policies of the two policy nicks."""
    p = SM.Policies()
    p.invalid_index = INV[invalid]
    p.non_finite = NF[non_finite]
    return p


# ---- the tiny runner ---------------------------------------------------------

class Checks:
    def __init__(self, group):
        self.group = group
        self.n = 0
        self.failures = []
        self.notes = []

    def ok(self, cond, msg):
        self.n += 1
        if not cond:
            self.failures.append(msg)
        return bool(cond)

    def fail(self, msg):
        self.ok(False, msg)

    def same(self, ref, got, dt, what, zero_sign_matters=True):
        diff = compare(ref, got, dt, zero_sign_matters)
        return self.ok(diff is None, f"{what}: {diff}")

    def error(self, what, fn, code=None, contains=()):
        """fn() must raise a GLib.Error in the library's domain"""
        try:
            fn()
        except GLib.Error as e:
            self.ok(e.domain == ERROR_DOMAIN,
                    f"{what}: error domain {e.domain!r}, expected "
                    f"{ERROR_DOMAIN!r} ({e.message})")
            if code is not None:
                self.ok(e.code == int(code),
                        f"{what}: error code {e.code}, expected {int(code)} "
                        f"({code.value_nick}): {e.message}")
            for s in contains:
                self.ok(str(s) in e.message,
                        f"{what}: message {e.message!r} does not mention "
                        f"{str(s)!r}")
            return e
        except Exception as e:  # noqa: BLE001 - anything else is a failure
            self.fail(f"{what}: raised {type(e).__name__}: {e}, expected "
                      f"GLib.Error")
            return None
        self.fail(f"{what}: no error raised")
        return None


def group(fn):
    """Makes check group @fn(ck) the pytest test of the same name: it runs
    every check of the group with a fresh Checks, going on after a failed
    one, then fails listing each failed check."""
    def test():
        ck = Checks(fn.__name__)
        try:
            fn(ck)
        finally:
            extra = f"; {'; '.join(ck.notes)}" if ck.notes else ""
            print(f"{fn.__name__}: {ck.n} checks, {len(ck.failures)} "
                  f"failed{extra}")
            for f in ck.failures[:200]:
                print(f"  - {f}")
            if len(ck.failures) > 200:
                print(f"  ... and {len(ck.failures) - 200} more")
        if ck.failures:
            pytest.fail(f"{len(ck.failures)} of {ck.n} checks failed, the "
                        f"first: {ck.failures[0]}", pytrace=False)
    test.__name__ = test.__qualname__ = fn.__name__
    test.__doc__ = fn.__doc__
    return test


def find_error_domain():
    try:
        SM.SharedMatrix.new(0, 1, SM.DType.FLOAT32, CPU)
    except GLib.Error as e:
        return e.domain
    return "gst-shared-matrix-error-quark"


ERROR_DOMAIN = find_error_domain()


def cuda_usable():
    try:
        SM.SharedMatrix.new(1, 1, SM.DType.FLOAT32, SM.Backend.CUDA)
    except GLib.Error:
        return False
    return True


CUDA = cuda_usable()


def random_storage(rng, shape, dt, scale=1.0):
    return encode(rng.normal(0.0, scale, size=shape), dt)


def nonzero_storage(rng, shape, dt):
    """random normal values, none of them zero after rounding"""
    x = rng.normal(0.0, 1.0, size=shape)
    x = np.where(np.abs(x) < 0.05, np.copysign(0.5, x), x)
    return encode(x, dt)


# ---- check groups --------------------------------------------------------------

@group
def test_reference_selfcheck(ck):
    """The reference's own rounding against numpy's independent
    implementations, and the hand-computed bfloat16 encodings."""
    rng = np.random.default_rng(1)
    parts = [rng.normal(0, 1, 20000),
             np.ldexp(rng.uniform(0.5, 1.0, 20000), rng.integers(-160, 140, 20000)),
             -np.ldexp(rng.uniform(0.5, 1.0, 5000), rng.integers(-1080, 1024, 5000))]
    # exact midpoints and their neighbours in float16 and float32
    for man in (10, 23):
        k = rng.integers(1 << man, 1 << (man + 1), 3000).astype(np.float64)
        e = rng.integers(-30, 20, 3000)
        mid = np.ldexp(k + 0.5, e - man)
        parts += [mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf)]
    parts.append(np.array([0.0, -0.0, np.inf, -np.inf, 65504.0, 65520.0,
                           65519.99, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26,
                           2.0 ** -26, 1e-320, 3.4028235e38, 3.4028236e38,
                           2.0 ** 128, 1e300, 2.0 ** -149, 2.0 ** -150,
                           3 * 2.0 ** -151]))
    x = np.concatenate(parts)
    with np.errstate(over="ignore"):
        for dt in ("float16", "float32"):
            ours = rne(x, *FORMAT[dt]).astype(STORAGE[dt])
            ck.same(x.astype(STORAGE[dt]), ours, dt,
                    f"rne() vs numpy float64->{dt}")
    # bfloat16 against hand-computed bit patterns
    cases = [
        (1.0, 0x3F80), (-2.0, 0xC000), (0.0, 0x0000), (-0.0, 0x8000),
        (1 + 2.0 ** -8, 0x3F80),                  # tie -> even (down)
        (1 + 3 * 2.0 ** -8, 0x3F82),              # tie -> even (up)
        (1 + 2.0 ** -8 + 2.0 ** -30, 0x3F81),     # just above a tie
        (1 + 2.0 ** -8 - 2.0 ** -30, 0x3F80),     # just below a tie
        (3.4028234663852886e38, 0x7F80),         # float32 max overflows
        ((2 - 2.0 ** -7) * 2.0 ** 127, 0x7F7F),   # bfloat16 max
        ((2 - 2.0 ** -8) * 2.0 ** 127, 0x7F80),   # tie above max -> inf
        (1e300, 0x7F80), (-1e300, 0xFF80),
        (np.inf, 0x7F80), (-np.inf, 0xFF80),
        (2.0 ** -126, 0x0080),                    # min normal
        (2.0 ** -133, 0x0001),                    # min subnormal
        (1.5 * 2.0 ** -133, 0x0002),              # tie -> even
        (2.5 * 2.0 ** -133, 0x0002),              # tie -> even
        (2.0 ** -134, 0x0000),                    # tie -> even (zero)
        (-2.0 ** -134 * 1.0000001, 0x8001),
        (1e-320, 0x0000),
        (np.nan, 0x7FC0), (-np.nan, 0xFFC0),
    ]
    xs = np.array([c[0] for c in cases])
    got = f64_to_bf16_bits(xs)
    for (v, w), g in zip(cases, got):
        ck.ok(int(g) == w, f"bfloat16 encoding of {v!r}: 0x{int(g):04x}, "
              f"expected 0x{w:04x}")
    ck.ok(np.all(bf16_bits_to_f32(np.array([0x3F80, 0xC040], np.uint16)) ==
                 np.array([1.0, -3.0], np.float32)), "bfloat16 decoding")
    # the loop reference agrees with numpy's ufunc.at where numpy can do the
    # same thing (no bfloat16; ufunc.at on an array of the matrix dtype with
    # deltas in the compute dtype computes in that dtype and rounds per
    # occurrence)
    ufuncs = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
              "min": np.minimum, "max": np.maximum}
    rows, cols, n = 20, 5, 200
    for mdt in ("float32", "float64", "float16"):
        for ddt in ("float32", "float64", "float16"):
            ct = compute_dtype(mdt, ddt)
            m0 = nonzero_storage(rng, (rows, cols), mdt)
            d = random_storage(rng, (n, cols), ddt)
            idx = rng.integers(0, rows, n)
            for op, uf in ufuncs.items():
                ref, _, _ = ref_update(m0, mdt, op, idx, d, ddt)
                arr = m0.copy()
                with np.errstate(all="ignore"):
                    uf.at(arr, idx, d.astype(ct))
                ck.same(ref, arr, mdt, f"loop reference vs np.{uf.__name__}"
                        f".at, matrix {mdt}, deltas {ddt}",
                        zero_sign_matters=op not in ("min", "max"))


@group
def test_ops_dtypes(ck):
    """Every op x matrix dtype x delta dtype, heavy duplicates, bit-exact."""
    rng = np.random.default_rng(2)
    rows, cols, n = 50, 7, 300
    k = 0
    for op in OPS:
        for mdt in DTYPES:
            for ddt in DTYPES:
                itype = ("int32", "int64")[k % 2]
                k += 1
                m0 = nonzero_storage(rng, (rows, cols), mdt)
                d = random_storage(rng, (n, cols), ddt)
                idx = rng.integers(0, rows, n)
                m = new_matrix(rows, cols, mdt)
                set_value(m, m0)
                v0 = m.props.version
                update(m, op, idx, itype, d, ddt)
                ref, _, _ = ref_update(m0, mdt, op, idx, d, ddt)
                what = f"{op} matrix {mdt} deltas {ddt} {itype}"
                ck.same(ref, value(m, mdt), mdt, what,
                        zero_sign_matters=op not in ("min", "max"))
                ck.ok(m.props.version == v0 + 1,
                      f"{what}: version {m.props.version}, expected {v0 + 1}")
                # the other index type gives the same bytes
                if k % 4 == 0:
                    other = "int64" if itype == "int32" else "int32"
                    m2 = new_matrix(rows, cols, mdt)
                    set_value(m2, m0)
                    update(m2, op, idx, other, d, ddt)
                    ck.ok(raw(m2.get_value()) == raw(m.get_value()),
                          f"{what}: {other} indices give other bytes")


# values that stress rounding, overflow, subnormals and NaN/inf handling
SPECIAL_VALUES = np.array([
    np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e300, -1e300,
    65504.0, 65520.0, 70000.0, 3.4028235e38, 2.0 ** -24, 3 * 2.0 ** -26,
    1e-7, 1e-40, -1e-40, 2.0 ** -133, 1e-310, 1.0 + 2.0 ** -8 + 2.0 ** -30,
    1.0 + 2.0 ** -11 + 2.0 ** -40, 2049.0, 257.0, 1.0, -1.0, 0.5, 3.0,
])


@group
def test_special_values(ck):
    """NaN, inf, overflow, subnormal and tie values with non-finite=apply,
    every op x matrix dtype x delta dtype."""
    rng = np.random.default_rng(3)
    rows, cols, n = 8, 5, 40
    for op in OPS:
        for mdt in DTYPES:
            for ddt in DTYPES:
                m0 = encode(rng.choice(SPECIAL_VALUES, (rows, cols)) *
                            rng.choice([1.0, 1.0, 1.0, -1.0], (rows, cols)), mdt)
                d = encode(np.where(rng.random((n, cols)) < 0.6,
                                    rng.choice(SPECIAL_VALUES, (n, cols)),
                                    rng.normal(0, 100, (n, cols))), ddt)
                idx = rng.integers(0, rows, n)
                m = new_matrix(rows, cols, mdt)
                set_value(m, m0)
                res = update(m, op, idx, "int64", d, ddt, "error", "apply")
                ref, _, _ = ref_update(m0, mdt, op, idx, d, ddt)
                what = f"special values: {op} matrix {mdt} deltas {ddt}"
                ck.ok(res == (n, 0), f"{what}: rows applied/dropped {res}, "
                      f"expected ({n}, 0)")
                ck.same(ref, value(m, mdt), mdt, what,
                        zero_sign_matters=op not in ("min", "max"))


@group
def test_rounding_edges(ck):
    """set/add of values next to rounding ties: the result must be rounded
    once, to nearest even, from the exact compute-dtype value (a float64
    delta rounded to a bfloat16 matrix via float32 would round twice)."""
    cases = [
        # (matrix dtype, delta dtype, op, initial, delta, expected result)
        ("bfloat16", "float64", "set", 0.0, 1 + 2.0 ** -8 + 2.0 ** -30, 1 + 2.0 ** -7),
        ("bfloat16", "float64", "add", 1.0, 2.0 ** -8 + 2.0 ** -30, 1 + 2.0 ** -7),
        ("bfloat16", "float64", "set", 0.0, 1 + 2.0 ** -8, 1.0),
        ("bfloat16", "float32", "set", 0.0, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -6),
        ("bfloat16", "float32", "add", 256.0, 1.0, 256.0),
        ("bfloat16", "float32", "add", 258.0, 1.0, 260.0),
        ("bfloat16", "float32", "set", 0.0, 3.4028234663852886e38, np.inf),
        ("bfloat16", "float64", "set", 0.0, 1.5 * 2.0 ** -133, 2.0 ** -132),
        ("float16", "float64", "set", 0.0, 1 + 2.0 ** -11 + 2.0 ** -40, 1 + 2.0 ** -10),
        ("float16", "float64", "add", 1.0, 2.0 ** -11 + 2.0 ** -40, 1 + 2.0 ** -10),
        ("float16", "float16", "add", 2048.0, 1.0, 2048.0),
        ("float16", "float16", "add", 2050.0, 1.0, 2052.0),
        ("float16", "float32", "set", 0.0, 65520.0, np.inf),
        ("float16", "float32", "set", 0.0, 65519.996, 65504.0),
        ("float16", "float32", "mul", 2.0 ** -14, 2.0 ** -10, 2.0 ** -24),
        ("float16", "float32", "mul", 2.0 ** -14, 2.0 ** -11, 0.0),
        ("float16", "float32", "mul", 2.0 ** -14, 3 * 2.0 ** -12, 2.0 ** -24),
        ("float32", "float64", "set", 0.0, 1 + 2.0 ** -24 + 2.0 ** -50, 1 + 2.0 ** -23),
        ("float32", "float64", "add", 1.0, 2.0 ** -24, 1.0),
        ("float32", "float64", "add", 1.0, 1e300, np.inf),
        ("float32", "float64", "set", 0.0, 1e-50, 0.0),
        ("float32", "float64", "set", 0.0, 2.0 ** -149, 2.0 ** -149),
        ("float64", "bfloat16", "add", 1.0, 2.0 ** -100, 1.0),
        ("float64", "float16", "add", 2.0 ** 60, 1.0, 2.0 ** 60),
        ("float64", "float32", "mul", 1e300, 1e10, np.inf),
    ]
    for mdt, ddt, op, init, delta, expected in cases:
        m = new_matrix(1, 1, mdt)
        set_value(m, encode([[init]], mdt))
        update(m, op, [0], "int32", encode([[delta]], ddt), ddt)
        what = f"{op} {init!r} ({mdt}) with {delta!r} ({ddt})"
        ck.same(encode([[expected]], mdt), value(m, mdt), mdt, what)
        ref, _, _ = ref_update(encode([[init]], mdt), mdt, op, [0],
                               encode([[delta]], ddt), ddt)
        ck.same(encode([[expected]], mdt), ref, mdt,
                f"reference for {what}")


@group
def test_duplicates(ck):
    """Hand-computed duplicate cases: set keeps the last occurrence, the
    other ops apply every occurrence in buffer order."""
    def run(op, init, idx, deltas, expected, dt="float32", ddt="float32",
            itype="int32"):
        init = np.asarray(init, dtype=np.float64)
        m = new_matrix(init.shape[0], init.shape[1], dt)
        set_value(m, encode(init, dt))
        update(m, op, idx, itype, encode(np.asarray(deltas, np.float64), ddt),
               ddt)
        ck.same(encode(np.asarray(expected, np.float64), dt), value(m, dt), dt,
                f"{op} {dt} indices {list(idx)} deltas {deltas}")

    z = [[0, 0], [0, 0], [0, 0]]
    run("add", z, [1, 1, 1], [[1, 1], [2, 2], [4, 4]], [[0, 0], [7, 7], [0, 0]])
    run("add", z, [1, 1, 1], [[1, 10], [2, 20], [4, 40]],
        [[0, 0], [7, 70], [0, 0]], itype="int64")
    run("set", z, [1, 1, 1], [[1, 1], [2, 2], [4, 4]], [[0, 0], [4, 4], [0, 0]])
    run("set", z, [0, 2, 0, 1, 2], [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]],
        [[3, 3], [4, 4], [5, 5]])
    run("sub", [[10, 10], [10, 10], [10, 10]], [2, 0, 2], [[1, 2], [5, 5], [3, 4]],
        [[5, 5], [10, 10], [6, 4]])
    run("mul", [[1, 1], [3, 3], [1, 1]], [1, 1, 1], [[2, 1], [3, 1], [0.5, -1]],
        [[1, 1], [9, -3], [1, 1]])
    run("min", [[5, 5], [5, 5], [5, 5]], [0, 0, 0], [[3, 9], [4, 1], [7, 2]],
        [[3, 1], [5, 5], [5, 5]])
    run("max", [[5, 5], [5, 5], [5, 5]], [0, 0, 2], [[3, 9], [8, 1], [7, 2]],
        [[8, 9], [5, 5], [7, 5]])
    # NaN propagates through min/max like np.minimum/np.maximum
    run("min", [[5, np.nan], [5, 5], [5, 5]], [0, 0], [[np.nan, 1], [1, 1]],
        [[np.nan, np.nan], [5, 5], [5, 5]])
    run("max", [[5, 5], [5, 5], [5, 5]], [1, 1], [[np.nan, 1], [9, 9]],
        [[5, 5], [np.nan, 9], [5, 5]])
    # duplicates are rounded after each occurrence, not summed first:
    # float16 2048 + 1 = 2049 is a tie -> 2048, twice; summed first it
    # would be 2050. bfloat16: 256 + 1 -> 256, twice.
    run("add", [[2048, 0]], [0, 0], [[1, 1], [1, 1]], [[2048, 2]],
        dt="float16", ddt="float16")
    run("add", [[256, 0]], [0, 0], [[1, 1], [1, 1]], [[256, 2]],
        dt="bfloat16", ddt="bfloat16")
    run("add", [[256, 0]], [0, 0, 0], [[1, 1], [1, 1], [2, 0]], [[258, 2]],
        dt="bfloat16", ddt="float64", itype="int64")
    # float32 matrix: 1 + 2**-24 rounds back to 1 each time
    run("add", [[1, 0]], [0, 0, 0, 0], [[2.0 ** -24, 0]] * 4, [[1, 0]])
    # a float64 matrix keeps them all
    run("add", [[1, 0]], [0, 0, 0, 0], [[2.0 ** -24, 0]] * 4,
        [[1 + 2.0 ** -22, 0]], dt="float64")


def thread_workload():
    """The big updates used by the thread-count checks: returns
    [(name, matrix dtype, initial storage, op, idx, delta storage, ddt)]"""
    rng = np.random.default_rng(1234)
    rows, cols, n = 1000, 64, 20000
    out = []
    for name, mdt, op, ddt in (("add-f32", "float32", "add", "float32"),
                               ("sub-f16-bf16", "float16", "sub", "bfloat16"),
                               ("mul-bf16-f32", "bfloat16", "mul", "float32"),
                               ("max-f64-f16", "float64", "max", "float16"),
                               ("set-f32-f64", "float32", "set", "float64")):
        m0 = nonzero_storage(rng, (rows, cols), mdt)
        scale = 0.05 if op == "mul" else 1.0
        d = random_storage(rng, (n, cols), ddt, scale)
        if op == "mul":
            d = encode(1.0 + decode(d, ddt), ddt)
        # zipf-like skew: a few rows get hundreds of occurrences
        idx = np.minimum(rng.zipf(1.3, n) - 1, rows - 1)
        idx = rng.permutation(rows)[idx]
        out.append((name, mdt, m0, op, idx, d, ddt))
    return out


def run_thread_workload():
    hashes = {}
    results = {}
    for name, mdt, m0, op, idx, d, ddt in thread_workload():
        m = new_matrix(m0.shape[0], m0.shape[1], mdt)
        set_value(m, m0)
        update(m, op, idx, "int64" if "f16" in name else "int32", d, ddt)
        b = raw(m.get_value())
        hashes[name] = hashlib.sha256(b).hexdigest()
        results[name] = b
    return hashes, results


@group
def test_determinism_and_threads(ck):
    """Same sequence -> same bytes; big (multi-threaded) updates equal the
    reference and row-by-row application; any GST_SHARED_MATRIX_THREADS
    gives the same bytes."""
    rng = np.random.default_rng(4)
    rows, cols = 64, 9
    seq = []
    for _ in range(24):
        op = OPS[rng.integers(len(OPS))]
        ddt = DTYPES[rng.integers(len(DTYPES))]
        n = int(rng.integers(0, 200))
        seq.append((op, rng.integers(0, rows, n),
                    random_storage(rng, (n, cols), ddt), ddt))
    for mdt in DTYPES:
        outs = []
        for _ in range(2):
            m = new_matrix(rows, cols, mdt)
            for op, idx, d, ddt in seq:
                update(m, op, idx, "int32", d, ddt)
            outs.append(raw(m.get_value()))
            ck.ok(m.props.version == len(seq),
                  f"sequence on {mdt}: version {m.props.version}, "
                  f"expected {len(seq)}")
        ck.ok(outs[0] == outs[1], f"sequence on {mdt}: two fresh matrices "
              f"differ")
        ref = encode(np.zeros((rows, cols)), mdt)
        for op, idx, d, ddt in seq:
            ref, _, _ = ref_update(ref, mdt, op, idx, d, ddt)
        ck.same(ref, np.frombuffer(outs[0], STORAGE[mdt]), mdt,
                f"sequence of {len(seq)} mixed updates on {mdt}")

    hashes, results = run_thread_workload()
    for name, mdt, m0, op, idx, d, ddt in thread_workload():
        got = np.frombuffer(results[name], STORAGE[mdt])
        if name == "add-f32":
            # np.add.at on float32 is the sequential float32 reference
            ref = m0.copy()
            np.add.at(ref, idx, d)
            # and one row per update, 20000 updates
            m = new_matrix(m0.shape[0], m0.shape[1], mdt)
            set_value(m, m0)
            for i in range(len(idx)):
                update(m, op, idx[i:i + 1], "int32", d[i:i + 1], ddt)
            ck.ok(raw(m.get_value()) == results[name],
                  f"{name}: one big update != {len(idx)} one-row updates")
            ck.ok(m.props.version == len(idx) + 1,
                  f"{name}: version after row-by-row {m.props.version}")
        else:
            ref, _, _ = ref_update(m0, mdt, op, idx, d, ddt)
        ck.same(ref, got, mdt, f"big update {name} vs reference",
                zero_sign_matters=op not in ("min", "max"))

    for threads in ("1", "2", "7"):
        env = dict(os.environ, GST_SHARED_MATRIX_THREADS=threads)
        try:
            p = subprocess.run([sys.executable, os.path.abspath(__file__),
                                "--thread-helper"], env=env,
                               capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            ck.fail(f"GST_SHARED_MATRIX_THREADS={threads}: helper timed out")
            continue
        if not ck.ok(p.returncode == 0,
                     f"GST_SHARED_MATRIX_THREADS={threads}: helper exited "
                     f"{p.returncode}: {p.stderr[-2000:]}"):
            continue
        try:
            sub = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            ck.fail(f"GST_SHARED_MATRIX_THREADS={threads}: helper printed "
                    f"{p.stdout[-500:]!r}")
            continue
        for name, h in hashes.items():
            ck.ok(sub.get(name) == h,
                  f"{name}: sha256 with GST_SHARED_MATRIX_THREADS={threads} "
                  f"{sub.get(name)} != in-process {h}")


@group
def test_policies(ck):
    """invalid-index error/drop, non-finite apply/drop/error for every delta
    dtype, versions."""
    rng = np.random.default_rng(5)
    rows, cols = 50, 7
    dt = "float32"
    m0 = nonzero_storage(rng, (rows, cols), dt)

    def fresh(mdt=dt, init=None):
        m = new_matrix(rows, cols, mdt)
        set_value(m, m0 if init is None else init)
        return m

    # -- invalid indices, rejected: the invalid index is last, so a library
    # that wrote rows before validating would change the matrix
    bad_indices = [("int32", -1), ("int32", rows), ("int32", 2 ** 31 - 1),
                   ("int32", -2 ** 31), ("int64", rows), ("int64", -1),
                   ("int64", 2 ** 62), ("int64", -2 ** 63),
                   ("int64", 2 ** 63 - 1), ("int64", 2 ** 32)]
    for itype, bad in bad_indices:
        for op in ("add", "set"):
            m = fresh()
            before = raw(m.get_value())
            v0 = m.props.version
            idx = np.array([3, 7, 3, 49, 0, bad])
            d = random_storage(rng, (len(idx), cols), dt)
            what = f"{op} with {itype} index {bad} on {rows} rows"
            ck.error(what, lambda: update(m, op, idx, itype, d, dt),
                     SM.Error.INVALID_INDEX, contains=(bad, rows))
            ck.error(what + " (full, error)",
                     lambda: update(m, op, idx, itype, d, dt, "error", "apply"),
                     SM.Error.INVALID_INDEX, contains=(bad, rows))
            ck.ok(raw(m.get_value()) == before, f"{what}: matrix changed")
            ck.ok(m.props.version == v0,
                  f"{what}: version {m.props.version}, expected {v0}")
            # drop: the valid rows are applied
            res = update(m, op, idx, itype, d, dt, "drop", "apply")
            ref, a, dr = ref_update(m0, dt, op, idx, d, dt, "drop")
            ck.ok(res == (5, 1) == (a, dr), f"{what}, drop: applied/dropped "
                  f"{res}, expected (5, 1), reference {(a, dr)}")
            ck.same(ref, value(m, dt), dt, f"{what}, drop")
            ck.ok(m.props.version == v0 + 1, f"{what}, drop: version "
                  f"{m.props.version}, expected {v0 + 1}")

    # -- invalid index rejected on a big (multi-threaded) update
    big = new_matrix(1000, 64, dt)
    before = raw(big.get_value())
    idx = rng.integers(0, 1000, 20000)
    idx[-1] = 1000
    d = random_storage(rng, (len(idx), 64), dt)
    ck.error("big update with index 1000 on 1000 rows",
             lambda: update(big, "add", idx, "int64", d, dt),
             SM.Error.INVALID_INDEX, contains=(1000,))
    ck.ok(raw(big.get_value()) == before and big.props.version == 0,
          "big rejected update changed the matrix or its version")
    res = update(big, "add", idx, "int64", d, dt, "drop", "apply")
    ck.ok(res == (19999, 1), f"big update, drop: {res}")
    ref, _, _ = ref_update(np.zeros((1000, 64), np.float32), dt, "add", idx,
                           d, dt, "drop")
    ck.same(ref, value(big, dt), dt, "big update, drop")

    # -- many invalid rows mixed in, drop counts them all
    m = fresh()
    idx = rng.integers(-20, rows + 20, 200)
    d = random_storage(rng, (200, cols), dt)
    n_bad = int(np.sum((idx < 0) | (idx >= rows)))
    res = update(m, "add", idx, "int64", d, dt, "drop", "apply")
    ck.ok(res == (200 - n_bad, n_bad), f"mixed invalid rows, drop: {res}, "
          f"expected {(200 - n_bad, n_bad)}")
    ref, _, _ = ref_update(m0, dt, "add", idx, d, dt, "drop")
    ck.same(ref, value(m, dt), dt, "mixed invalid rows, drop")

    # -- non-finite deltas, as each delta dtype spells them
    nonfinite_bits = {
        "float32": [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7F800000, 0xFF800000],
        "float64": [0x7FF8000000000000, 0xFFF8000000000001,
                    0x7FF0000000000001, 0x7FF0000000000000, 0xFFF0000000000000],
        "float16": [0x7E00, 0xFE00, 0x7C01, 0x7C00, 0xFC00],
        "bfloat16": [0x7FC0, 0xFFC0, 0x7F81, 0x7F80, 0xFF80],
    }
    # the largest finite values must not be mistaken for non-finite ones
    maxfinite_bits = {"float32": 0x7F7FFFFF, "float64": 0x7FEFFFFFFFFFFFFF,
                      "float16": 0x7BFF, "bfloat16": 0x7F7F}
    for mdt in ("float32", "bfloat16"):
        init = nonzero_storage(rng, (rows, cols), mdt)
        for ddt in DTYPES:
            for bits in nonfinite_bits[ddt]:
                n = 6
                idx = np.array([1, 2, 1, 5, 9, 2])
                d = random_storage(rng, (n, cols), ddt)
                dbits = d.view(BITS[ddt])
                dbits[3, 4] = bits                       # bad row 3 (row 5)
                dbits[5, 0] = bits                       # bad row 5 (row 2)
                dbits[0, 2] = maxfinite_bits[ddt]        # finite
                what = (f"delta {ddt} bits 0x{bits:x} into {mdt}")
                m = fresh(mdt, init)
                v0 = m.props.version
                before = raw(m.get_value())
                ck.error(what + ", non-finite=error",
                         lambda: update(m, "add", idx, "int32", d, ddt,
                                        "error", "error"),
                         SM.Error.NON_FINITE)
                ck.ok(raw(m.get_value()) == before and m.props.version == v0,
                      f"{what}, non-finite=error: matrix or version changed")
                res = update(m, "add", idx, "int32", d, ddt, "error", "drop")
                ref, a, dr = ref_update(init, mdt, "add", idx, d, ddt,
                                        non_finite="drop")
                ck.ok(res == (4, 2) == (a, dr), f"{what}, drop: {res}, "
                      f"expected (4, 2), reference {(a, dr)}")
                ck.same(ref, value(m, mdt), mdt, f"{what}, drop")
                ck.ok(m.props.version == v0 + 1, f"{what}, drop: version")
                m = fresh(mdt, init)
                res = update(m, "add", idx, "int32", d, ddt, "error", "apply")
                ref, _, _ = ref_update(init, mdt, "add", idx, d, ddt)
                ck.ok(res == (6, 0), f"{what}, apply: {res}, expected (6, 0)")
                ck.same(ref, value(m, mdt), mdt, f"{what}, apply")
                # update_bytes applies non-finite values
                m = fresh(mdt, init)
                update(m, "add", idx, "int32", d, ddt)
                ck.same(ref, value(m, mdt), mdt, f"{what}, update_bytes")

    # a finite float64 delta that overflows the matrix dtype is finite: kept
    m = fresh()
    d = np.zeros((1, cols))
    d[0, 0] = 1e300
    res = update(m, "set", [4], "int32", d, "float64", "error", "drop")
    ck.ok(res == (1, 0), f"finite float64 1e300 delta, drop: {res}, "
          f"expected (1, 0)")
    ck.ok(np.isposinf(value(m, dt)[4, 0]), "1e300 set into float32 is not inf")

    # invalid index and non-finite both dropped: counted once per row
    m = fresh()
    idx = np.array([0, rows, 1, -5, 2])
    d = random_storage(rng, (5, cols), dt)
    d[1, 0] = np.nan          # invalid index and NaN
    d[2, 1] = np.inf
    res = update(m, "add", idx, "int64", d, dt, "drop", "drop")
    ck.ok(res == (2, 3), f"invalid + non-finite rows, drop/drop: {res}, "
          f"expected (2, 3)")
    ref, _, _ = ref_update(m0, dt, "add", idx, d, dt, "drop", "drop")
    ck.same(ref, value(m, dt), dt, "invalid + non-finite rows, drop/drop")

    # -- versions
    m = new_matrix(rows, cols, dt)
    ck.ok(m.props.version == 0, f"fresh matrix version {m.props.version}")
    v = m.props.version
    empty_i = GLib.Bytes.new(b"")
    empty_d = GLib.Bytes.new(b"")
    ok = m.update_bytes(SM.Op.ADD, empty_i, SM.IndexType.INT32, empty_d,
                        SM.DType.FLOAT32)
    ck.ok(ok is True, "empty update_bytes did not return True")
    ck.ok(m.props.version == v + 1, f"empty update: version "
          f"{m.props.version}, expected {v + 1}")
    ok, r = m.update_bytes_full(SM.Op.SET, empty_i, SM.IndexType.INT64,
                                empty_d, SM.DType.BFLOAT16,
                                policies("drop", "drop"))
    counts = (r.rows_applied, r.rows_dropped_invalid, r.rows_dropped_non_finite)
    ck.ok(ok is True and counts == (0, 0, 0),
          f"empty update_bytes_full: {ok}, {counts}")
    ck.ok(m.props.version == v + 2, "empty update_bytes_full: version")
    ck.ok(raw(m.get_value()) == bytes(rows * cols * 4),
          "empty updates changed the matrix")
    res = update(m, "add", [-1, rows, 10 ** 6], "int64",
                 np.ones((3, cols), np.float32), dt, "drop", "apply")
    ck.ok(res == (0, 3), f"all-dropped update: {res}")
    ck.ok(m.props.version == v + 3, "all-dropped update: version")
    d = np.ones((2, cols), np.float32)
    d[:, 0] = np.nan
    res = update(m, "add", [1, 2], "int32", d, dt, "error", "drop")
    ck.ok(res == (0, 2), f"all-non-finite update, drop: {res}")
    ck.ok(m.props.version == v + 4, "all-non-finite update: version")
    ck.ok(raw(m.get_value()) == bytes(rows * cols * 4),
          "all-dropped updates changed the matrix")
    ck.error("rejected update", lambda: update(m, "add", [rows], "int32",
                                               np.ones((1, cols)), "float64"))
    ck.error("rejected non-finite update",
             lambda: update(m, "add", [1, 2], "int32", d, dt, "error", "error"))
    ck.ok(m.props.version == v + 4, "rejected updates changed the version")
    for i in range(10):
        update(m, "add", [i], "int32", np.ones((1, cols)), "float64")
    ck.ok(m.props.version == v + 14, f"10 more updates: version "
          f"{m.props.version}, expected {v + 14}")


@group
def test_size_errors(ck):
    """Wrong byte sizes are GLib.Errors naming the sizes; nothing changes."""
    rng = np.random.default_rng(6)
    rows, cols = 10, 7
    m = new_matrix(rows, cols, "float32")
    init = nonzero_storage(rng, (rows, cols), "float32")
    set_value(m, init)
    v0 = m.props.version
    idx3 = gbytes(np.array([1, 2, 3], np.int32))

    def upd(ib, itype, db, ddt):
        return m.update_bytes(SM.Op.ADD, ib, itype, db, ddt)

    cases = [
        ("deltas 80 bytes for 3 x 7 float32", idx3, SM.IndexType.INT32,
         gbytes(bytes(80)), SM.DType.FLOAT32, (80, 12)),
        ("deltas 88 bytes for 3 x 7 float32", idx3, SM.IndexType.INT32,
         gbytes(bytes(88)), SM.DType.FLOAT32, (88, 12)),
        ("deltas 84 bytes, bfloat16 needs 42", idx3, SM.IndexType.INT32,
         gbytes(bytes(84)), SM.DType.BFLOAT16, (84, 12)),
        ("12 index bytes read as int64", idx3, SM.IndexType.INT64,
         gbytes(bytes(84)), SM.DType.FLOAT32, (12,)),
        ("10 index bytes as int32", gbytes(bytes(10)), SM.IndexType.INT32,
         gbytes(bytes(56)), SM.DType.FLOAT32, (10,)),
        ("deltas without indices", gbytes(b""), SM.IndexType.INT32,
         gbytes(bytes(28)), SM.DType.FLOAT32, (28,)),
        ("indices without deltas", idx3, SM.IndexType.INT32,
         gbytes(b""), SM.DType.FLOAT32, (12,)),
    ]
    for what, ib, it, db, ddt, sizes in cases:
        ck.error(what, lambda: upd(ib, it, db, ddt), SM.Error.SIZE,
                 contains=sizes)
        ck.error(what + " (full)", lambda: m.update_bytes_full(
            SM.Op.SET, ib, it, db, ddt, policies("drop", "drop")),
            SM.Error.SIZE, contains=sizes)
    ck.ok(raw(m.get_value()) == init.tobytes(), "size errors changed the matrix")
    ck.ok(m.props.version == v0, "size errors changed the version")

    for size in (0, 4, rows * cols * 4 - 1, rows * cols * 4 + 4,
                 rows * cols * 2, rows * cols * 8):
        ck.error(f"set_value with {size} bytes",
                 lambda: m.set_value(gbytes(bytes(size))), SM.Error.SIZE,
                 contains=(size, rows * cols * 4))
    ck.ok(raw(m.get_value()) == init.tobytes(),
          "set_value errors changed the matrix")
    ck.ok(m.props.version == v0, "set_value errors changed the version")

    # set_value round trip for every dtype
    for dt in DTYPES:
        mm = new_matrix(rows, cols, dt)
        st = nonzero_storage(rng, (rows, cols), dt)
        ok = mm.set_value(gbytes(st))
        ck.ok(ok is True, f"set_value {dt} did not return True")
        ck.ok(raw(mm.get_value()) == st.tobytes(), f"set_value/get_value {dt}")


@group
def test_gather(ck):
    """gather_bytes against numpy fancy indexing."""
    rng = np.random.default_rng(7)
    rows, cols = 50, 7
    for k, dt in enumerate(DTYPES):
        m = new_matrix(rows, cols, dt)
        st = nonzero_storage(rng, (rows, cols), dt)
        set_value(m, st)
        for itype in ("int32", "int64"):
            it, inp = INDEX_TYPES[itype]
            for idx in (rng.integers(0, rows, 200), np.array([0, rows - 1]),
                        np.array([5, 5, 5]), np.array([], dtype=np.int64)):
                got = raw(m.gather_bytes(gbytes(idx.astype(inp)), it))
                want = st[idx].tobytes()
                ck.ok(got == want, f"gather {dt} {itype} {len(idx)} rows: "
                      f"{len(got)} bytes, differs from numpy")
            for bad in (-1, rows, 2 ** 31 - 1):
                idx = np.array([1, bad, 2], dtype=inp)
                ck.error(f"gather {dt} {itype} index {bad}",
                         lambda: m.gather_bytes(gbytes(idx), it),
                         SM.Error.INVALID_INDEX, contains=(bad, rows))
        ck.error(f"gather {dt} int64 index 2**40",
                 lambda: m.gather_bytes(gbytes(np.array([2 ** 40], np.int64)),
                                        SM.IndexType.INT64),
                 SM.Error.INVALID_INDEX, contains=(2 ** 40,))
        ck.error(f"gather {dt} 6 bytes of int32",
                 lambda: m.gather_bytes(gbytes(bytes(6)), SM.IndexType.INT32),
                 SM.Error.SIZE, contains=(6,))
        ck.ok(m.props.version == 1, f"gather changed the version of {dt}")


def load_npy(data):
    return np.load(io.BytesIO(data), allow_pickle=False)


@group
def test_npy(ck):
    """get_value_full(NPY) / save_npy read back by numpy; new_from_npy of files
    written by numpy; errors name the path."""
    rng = np.random.default_rng(8)
    tmp = tempfile.mkdtemp(prefix="sm-test-library-")
    try:
        _npy(ck, rng, tmp)
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


def _npy(ck, rng, tmp):
    rows, cols = 13, 6
    for dt in DTYPES:
        m = new_matrix(rows, cols, dt)
        st = nonzero_storage(rng, (rows, cols), dt)
        set_value(m, st)
        path = os.path.join(tmp, f"saved-{dt}.npy")
        ok = m.save_npy(path)
        ck.ok(ok is True, f"save_npy {dt} did not return True")
        for how, data in (("get_value_full(NPY)", raw(m.get_value_full(SM.Format.NPY))),
                          ("save_npy", open(path, "rb").read())):
            try:
                a = load_npy(data)
            except Exception as e:  # noqa: BLE001
                ck.fail(f"{how} {dt}: numpy.load failed: {e}")
                continue
            ck.ok(a.shape == (rows, cols), f"{how} {dt}: shape {a.shape}")
            if dt == "bfloat16":
                ck.ok(a.dtype.names == ("bfloat16",) and
                      a.dtype["bfloat16"] == np.dtype("<u2"),
                      f"{how} bfloat16: dtype {a.dtype}")
                if a.dtype.names == ("bfloat16",):
                    a = a["bfloat16"]
            else:
                ck.ok(a.dtype == STORAGE[dt], f"{how} {dt}: dtype {a.dtype}")
            ck.ok(a.tobytes() == st.tobytes(), f"{how} {dt}: values differ")
        # and back in
        try:
            m2 = SM.SharedMatrix.new_from_npy(path, CPU)
        except GLib.Error as e:
            ck.fail(f"new_from_npy of save_npy {dt}: {e.message}")
            continue
        ck.ok((m2.props.rows, m2.props.cols, m2.props.dtype) ==
              (rows, cols, SM_DTYPE[dt]),
              f"new_from_npy of save_npy {dt}: shape/dtype "
              f"{(m2.props.rows, m2.props.cols, m2.props.dtype)}")
        ck.ok(raw(m2.get_value()) == st.tobytes(),
              f"new_from_npy of save_npy {dt}: values differ")

    # files written by numpy
    base = rng.normal(0, 1, (9, 5))
    variants = [
        ("float32", np.float32, base.astype("<f4"), "float32"),
        ("float64", np.float64, base.astype("<f8"), "float64"),
        ("float16", np.float16, base.astype("<f2"), "float16"),
        ("fortran float32", None, np.asfortranarray(base.astype("<f4")), "float32"),
        ("fortran float64", None, np.asfortranarray(base.astype("<f8")), "float64"),
        ("big-endian >f4", None, base.astype(">f4"), "float32"),
        ("big-endian >f8", None, base.astype(">f8"), "float64"),
        ("big-endian >f2", None, base.astype(">f2"), "float16"),
        ("fortran big-endian >f4", None, np.asfortranarray(base.astype(">f4")),
         "float32"),
        ("bfloat16 structured", None,
         f64_to_bf16_bits(base).view([("bfloat16", "<u2")]).reshape(9, 5),
         "bfloat16"),
        ("one row", None, base[:1].astype("<f4"), "float32"),
        ("one column", None, np.ascontiguousarray(base[:, :1]).astype("<f4"),
         "float32"),
    ]
    for what, _, arr, dt in variants:
        path = os.path.join(tmp, what.replace(" ", "_").replace(">", "be") +
                            ".npy")
        np.save(path, arr)
        try:
            m = SM.SharedMatrix.new_from_npy(path, CPU)
        except GLib.Error as e:
            ck.fail(f"new_from_npy {what}: {e.message}")
            continue
        ck.ok((m.props.rows, m.props.cols, m.props.dtype) ==
              (arr.shape[0], arr.shape[1], SM_DTYPE[dt]),
              f"new_from_npy {what}: shape/dtype {(m.props.rows, m.props.cols, m.props.dtype)}")
        if arr.dtype.names:
            want = np.ascontiguousarray(arr["bfloat16"]).tobytes()
        else:
            want = np.ascontiguousarray(arr).astype(
                arr.dtype.newbyteorder("<")).tobytes()
        ck.ok(raw(m.get_value()) == want, f"new_from_npy {what}: values differ")
        # the matrix works after loading
        update(m, "add", [0], "int32", np.ones((1, arr.shape[1])), "float64")
        got0 = decode(value(m, dt)[0], dt)
        src0 = decode(np.ascontiguousarray(arr["bfloat16"] if arr.dtype.names
                                           else arr.astype(arr.dtype.newbyteorder("<")))[0], dt)
        ck.same(encode(np.asarray(src0, np.float64) + 1.0, dt),
                encode(got0, dt), dt, f"new_from_npy {what}: add after load")
    # the backend argument is honoured by new_from_npy too
    path = os.path.join(tmp, "float32.npy")
    if not CUDA:
        ck.error("new_from_npy with backend cuda",
                 lambda: SM.SharedMatrix.new_from_npy(path, SM.Backend.CUDA),
                 SM.Error.BACKEND, contains=("CUDA",))

    # errors name the path
    missing = os.path.join(tmp, "does-not-exist.npy")
    ck.error("new_from_npy of a missing file",
             lambda: SM.SharedMatrix.new_from_npy(missing, CPU),
             contains=(missing,))
    bad_files = {
        "garbage": b"this is not an npy file at all, just some text\n" * 4,
        "empty": b"",
        "truncated data": None,
        "truncated header": None,
        "int32": None,
        "3-d": None,
        "zero rows": None,
        "object": None,
    }
    good = io.BytesIO()
    np.save(good, base.astype("<f4"))
    good = good.getvalue()
    bad_files["truncated data"] = good[:-7]
    bad_files["truncated header"] = good[:40]
    for name, arr in (("int32", np.arange(12, dtype="<i4").reshape(3, 4)),
                      ("3-d", np.zeros((2, 3, 4), "<f4")),
                      ("zero rows", np.zeros((0, 4), "<f4"))):
        b = io.BytesIO()
        np.save(b, arr)
        bad_files[name] = b.getvalue()
    b = io.BytesIO()
    np.save(b, np.array([[None, 1]], dtype=object), allow_pickle=True)
    bad_files["object"] = b.getvalue()
    for name, data in bad_files.items():
        path = os.path.join(tmp, f"bad-{name.replace(' ', '-')}.npy")
        with open(path, "wb") as f:
            f.write(data)
        ck.error(f"new_from_npy of a {name} file",
                 lambda: SM.SharedMatrix.new_from_npy(path, CPU),
                 contains=(path,))
    # save_npy into a missing directory
    m = new_matrix(2, 2, "float32")
    path = os.path.join(tmp, "no-such-dir", "x.npy")
    ck.error("save_npy into a missing directory", lambda: m.save_npy(path),
             contains=(path,))
    # save_npy replaces an existing file
    path = os.path.join(tmp, "replace.npy")
    with open(path, "wb") as f:
        f.write(b"old contents" * 1000)
    set_value(m, np.array([[1, 2], [3, 4]], np.float32))
    m.save_npy(path)
    a = np.load(path)
    ck.ok(a.dtype == np.float32 and a.tolist() == [[1, 2], [3, 4]],
          f"save_npy over an existing file: {a!r}")
    leftovers = [f for f in os.listdir(tmp) if "replace" in f and f != "replace.npy"]
    ck.ok(not leftovers, f"save_npy left temporary files: {leftovers}")


@group
def test_construction(ck):
    """Shapes, dtypes and backends at construction."""
    for rows, cols in ((0, 5), (5, 0), (0, 0)):
        ck.error(f"new {rows} x {cols}",
                 lambda: SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, CPU),
                 SM.Error.INVALID_ARGUMENT, contains=(rows, cols))
        ck.error(f"new_full {rows} x {cols}",
                 lambda: SM.SharedMatrix.new_full(rows, cols, SM.DType.FLOAT32,
                                                  CPU, -1),
                 SM.Error.INVALID_ARGUMENT)
    ck.error("new 2**62 x 2**20 float64 (does not fit)",
             lambda: SM.SharedMatrix.new(2 ** 62, 2 ** 20, SM.DType.FLOAT64, CPU))
    for dt in DTYPES:
        for backend in (CPU, SM.Backend.AUTO):
            m = SM.SharedMatrix.new(3, 4, SM_DTYPE[dt], backend)
            ck.ok((m.props.rows, m.props.cols, m.props.dtype, m.props.version) ==
                  (3, 4, SM_DTYPE[dt], 0), f"new 3 x 4 {dt}: props")
            ck.ok(raw(m.get_value()) == bytes(12 * STORAGE[dt].itemsize),
                  f"new 3 x 4 {dt} is not zero-filled")
        m = SM.SharedMatrix.new(3, 4, SM_DTYPE[dt], CPU)
        ck.ok(m.props.backend == CPU, f"backend cpu: props.backend "
              f"{m.props.backend}")
    m = SM.SharedMatrix.new_full(7, 3, SM.DType.FLOAT16, CPU, -1)
    ck.ok((m.props.rows, m.props.cols) == (7, 3), "new_full props")

    if not CUDA:
        e = ck.error("new with backend cuda",
                     lambda: SM.SharedMatrix.new(3, 4, SM.DType.FLOAT32,
                                                 SM.Backend.CUDA),
                     SM.Error.BACKEND, contains=("CUDA",))
        ck.error("new_full with backend cuda, device 0",
                 lambda: SM.SharedMatrix.new_full(3, 4, SM.DType.FLOAT32,
                                                  SM.Backend.CUDA, 0),
                 SM.Error.BACKEND, contains=("CUDA",))
        if e is not None:
            m = SM.SharedMatrix.new(3, 4, SM.DType.FLOAT32, SM.Backend.AUTO)
            ck.ok(m.props.backend == CPU, f"backend auto without CUDA: "
                  f"props.backend {m.props.backend}")
    else:
        m = SM.SharedMatrix.new(3, 4, SM.DType.FLOAT32, SM.Backend.CUDA)
        ck.ok(m.props.backend == SM.Backend.CUDA, f"backend cuda: "
              f"props.backend {m.props.backend}")
        m = SM.SharedMatrix.new(3, 4, SM.DType.FLOAT32, SM.Backend.AUTO)
        ck.ok(m.props.backend in (CPU, SM.Backend.CUDA),
              f"backend auto: props.backend {m.props.backend}")
        ck.error("new_full with backend cuda, device 999",
                 lambda: SM.SharedMatrix.new_full(3, 4, SM.DType.FLOAT32,
                                                  SM.Backend.CUDA, 999),
                 SM.Error.BACKEND, contains=("999",))


@group
def test_concurrency(ck):
    """Readers never observe half an update."""
    rows, cols, n_updates = 4096, 32, 150
    m = new_matrix(rows, cols, "float32")
    idx = gbytes(np.arange(rows, dtype=np.int32))
    ones = gbytes(np.ones((rows, cols), np.float32))
    stop = threading.Event()
    seen = {"get_value": [], "gather": [], "npy": []}
    torn = []
    errors = []

    def reader(kind):
        try:
            gidx = gbytes(np.array([0, rows // 2, rows - 1, 1], np.int64))
            while not stop.is_set():
                if kind == "get_value":
                    a = np.frombuffer(raw(m.get_value()), np.float32)
                elif kind == "gather":
                    a = np.frombuffer(raw(m.gather_bytes(gidx,
                                                         SM.IndexType.INT64)),
                                      np.float32)
                else:
                    a = load_npy(raw(m.get_value_full(SM.Format.NPY))).reshape(-1)
                lo, hi = float(a.min()), float(a.max())
                if lo != hi:
                    torn.append((kind, lo, hi))
                seen[kind].append(lo)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{kind}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=reader, args=(k,)) for k in seen]
    for t in threads:
        t.start()
    try:
        for _ in range(n_updates):
            m.update_bytes(SM.Op.ADD, idx, SM.IndexType.INT32, ones,
                           SM.DType.FLOAT32)
    finally:
        stop.set()
        for t in threads:
            t.join()
    ck.ok(not errors, f"reader errors: {errors}")
    ck.ok(not torn, f"{len(torn)} snapshots saw half an update, e.g. "
          f"{torn[:3]}")
    for kind, vals in seen.items():
        ck.ok(len(vals) > 0, f"{kind} reader never ran")
        ck.ok(all(a <= b for a, b in zip(vals, vals[1:])),
              f"{kind} reader saw the matrix go back in time")
    final = np.frombuffer(raw(m.get_value()), np.float32)
    ck.ok(np.all(final == n_updates), f"final value {final.min()}..{final.max()}"
          f", expected {n_updates}")
    ck.ok(m.props.version == n_updates, f"version {m.props.version}")
    mid = sum(1 for v in seen["get_value"] if 0 < v < n_updates)
    ck.notes.append(f"{len(seen['get_value'])} get_value / "
                    f"{len(seen['gather'])} gather / {len(seen['npy'])} npy "
                    f"snapshots, {mid} taken mid-stream")

    # two writers on one matrix: every update is applied exactly once
    m = new_matrix(64, 4, "float64")
    idx = gbytes(np.arange(64, dtype=np.int64))

    def writer(val, count):
        d = gbytes(np.full((64, 4), val, np.float64))
        for _ in range(count):
            m.update_bytes(SM.Op.ADD, idx, SM.IndexType.INT64, d,
                           SM.DType.FLOAT64)

    ws = [threading.Thread(target=writer, args=(v, 300)) for v in (1.0, 1000.0)]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    final = np.frombuffer(raw(m.get_value()), np.float64)
    ck.ok(np.all(final == 300 * 1001.0), f"two writers: {final.min()}..."
          f"{final.max()}, expected {300 * 1001.0}")
    ck.ok(m.props.version == 600, f"two writers: version {m.props.version}")


@group
def test_cuda_backend(ck):
    """Only where a GPU is usable: the CUDA backend agrees with the CPU one
    (exactly without duplicates and for set/min/max; within rounding of
    reassociation for add/sub/mul with duplicates)."""
    if not CUDA:
        pytest.skip("no usable CUDA backend")
    rng = np.random.default_rng(9)
    rows, cols = 300, 33
    for op in OPS:
        for mdt in DTYPES:
            for ddt in DTYPES:
                m0 = nonzero_storage(rng, (rows, cols), mdt)
                for dups in (False, True):
                    n = 250 if dups else rows
                    idx = (rng.integers(0, 40, n) if dups
                           else rng.permutation(rows))
                    scale = 0.1 if op == "mul" else 1.0
                    d = random_storage(rng, (n, cols), ddt, scale)
                    if op == "mul":
                        d = encode(1.0 + decode(d, ddt), ddt)
                    out = []
                    for backend in (CPU, SM.Backend.CUDA):
                        m = new_matrix(rows, cols, mdt, backend)
                        set_value(m, m0)
                        update(m, op, idx, "int64", d, ddt)
                        out.append(value(m, mdt))
                    what = (f"cuda vs cpu: {op} {mdt} deltas {ddt}"
                            f"{' duplicates' if dups else ''}")
                    if not dups or op in ("set", "min", "max"):
                        ck.same(out[0], out[1], mdt, what,
                                zero_sign_matters=op not in ("min", "max"))
                    else:
                        a, b = decode(out[0], mdt), decode(out[1], mdt)
                        eps = 2.0 ** -FORMAT[mdt][1]
                        tol = 64 * eps * (np.abs(a) + 4.0)
                        ck.ok(np.all(np.abs(a - b) <= tol),
                              f"{what}: max difference {np.max(np.abs(a - b))}")
    # big update on the GPU equals the CPU for order-independent ops
    for name, mdt, m0, op, idx, d, ddt in thread_workload():
        if op not in ("max", "set"):
            continue
        out = []
        for backend in (CPU, SM.Backend.CUDA):
            m = new_matrix(m0.shape[0], m0.shape[1], mdt, backend)
            set_value(m, m0)
            update(m, op, idx, "int64", d, ddt)
            out.append(value(m, mdt))
        ck.same(out[0], out[1], mdt, f"cuda vs cpu big update {name}")


# ---- main ----------------------------------------------------------------------

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--thread-helper":
        hashes, _ = run_thread_workload()
        print(json.dumps(hashes))
        return 0
    print(f"usage: {sys.argv[0]} --thread-helper (the checks run under "
          f"pytest: python3 -m pytest {sys.argv[0]})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus-update/,
tests/fuzz/corpus-npy/). Deterministic: running it again gives the same
files. Run from anywhere:

    /usr/bin/python3 tests/fuzz/make_corpus.py

corpus-npy: real .npy files written by numpy (every dtype and byte order
we read, C and Fortran order, format versions 1.0/2.0/3.0) plus files we
must reject (1-D, 3-D, 0-D, integer and complex dtypes, empty shape,
truncated header or data, bad magic, Python 2 "3L" dimensions).

corpus-update: the fuzz_update input layout (see fuzz_update.c): a 5-byte
header choosing matrix dtype, delta dtype, index type, policies, op, cols,
rows and flags, then an update buffer exactly as on the sink pad (N indices,
then N x cols deltas), for every dtype/index-type combination and for the
interesting cases (duplicates, out-of-range and negative indices, NaN/Inf,
empty, ragged size, every op, misaligned, big enough for the threaded path).
"""

import io
import os
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

DTYPES = ["float32", "float64", "float16", "bfloat16"]     # enum order


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def fresh(directory):
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory)


# ---- .npy -------------------------------------------------------------------

def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version,
                                  allow_pickle=False)
    return buf.getvalue()


def npy_corpus(d):
    fresh(d)
    a34 = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 4
    good = {
        "f4-3x4": a34.astype("<f4"),
        "f8-3x4": a34.astype("<f8"),
        "f2-3x4": a34.astype("<f2"),
        "f4-big-endian": a34.astype(">f4"),
        "f8-big-endian": a34.astype(">f8"),
        "f2-big-endian": a34.astype(">f2"),
        "f4-fortran": np.asfortranarray(a34.astype("<f4")),
        "f8-fortran-big-endian": np.asfortranarray(a34.astype(">f8")),
        "f2-fortran": np.asfortranarray(a34.astype("<f2")),
        "f4-1x1": np.array([[1.5]], "<f4"),
        "f4-1x7": np.arange(7, dtype="<f4").reshape(1, 7),
        "f4-7x1": np.arange(7, dtype="<f4").reshape(7, 1),
        "f4-specials": np.array([[0.0, -0.0, np.inf], [-np.inf, np.nan, 3e38]],
                                "<f4"),
    }
    bits = (a34.astype("<f4").view("<u4") >> 16).astype("<u2")
    good["bf16-3x4"] = bits.view([("bfloat16", "<u2")])
    good["bf16-big-endian"] = bits.astype(">u2").view([("bfloat16", ">u2")])
    good["bf16-fortran"] = np.asfortranarray(bits).view(
        [("bfloat16", "<u2")])
    for name, arr in good.items():
        write(d, name + ".npy", npy_bytes(arr))
    write(d, "f4-v2.npy", npy_bytes(a34.astype("<f4"), (2, 0)))
    write(d, "f8-v3.npy", npy_bytes(a34.astype("<f8"), (3, 0)))

    bad = {
        "1d": np.arange(5, dtype="<f4"),
        "3d": np.zeros((2, 2, 2), "<f4"),
        "0d": np.array(1.0, "<f4"),
        "int32": np.zeros((2, 2), "<i4"),
        "complex": np.zeros((2, 2), "<c8"),
        "uint16": np.zeros((2, 2), "<u2"),
        "empty-rows": np.zeros((0, 3), "<f4"),
        "empty-cols": np.zeros((3, 0), "<f4"),
        "two-fields": np.zeros((2, 2), [("a", "<f4"), ("b", "<f4")]),
    }
    for name, arr in bad.items():
        write(d, "bad-" + name + ".npy", npy_bytes(arr))
    whole = npy_bytes(a34.astype("<f4"))
    write(d, "bad-truncated-data.npy", whole[:-5])
    write(d, "bad-truncated-header.npy", whole[:40])
    write(d, "bad-magic.npy", b"\x93NUMPZ" + whole[6:])
    write(d, "bad-version.npy", whole[:6] + b"\x04\x00" + whole[8:])
    # a header written by Python 2 numpy: "(3L, 4L)"
    write(d, "py2-long-dims.npy",
          whole.replace(b"(3, 4), }  ", b"(3L, 4L), }", 1))


# ---- updates ----------------------------------------------------------------

def encode(values, dtype):
    v = np.asarray(values, np.float64)
    if dtype == "bfloat16":
        u = v.astype("<f4").view("<u4").astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16        # RNE
        return u.astype("<u2").tobytes()
    with np.errstate(over="ignore"):        # 70000 -> float16 inf, on purpose
        return v.astype({"float32": "<f4", "float64": "<f8",
                         "float16": "<f2"}[dtype]).tobytes()


def header(mdtype, ddtype, itype, cols, rows, op=1, inv=0, nf=0, flags=0,
           b1_high=0, threaded=False):
    b0 = DTYPES.index(mdtype) | DTYPES.index(ddtype) << 2 | \
        (itype == "int64") << 4 | inv << 5 | nf << 6
    b1 = op | b1_high << 3
    b3 = rows - 1 | (0xe0 if threaded else 0)
    if threaded:
        flags |= 0xf8
    return bytes([b0, b1, cols - 1, b3, flags])


def update(indices, deltas, itype, ddtype):
    fmt = "<%d%s" % (len(indices), "q" if itype == "int64" else "i")
    return struct.pack(fmt, *indices) + encode(np.ravel(deltas), ddtype)


def update_corpus(d):
    fresh(d)
    cols, rows = 4, 8
    idx = [1, 5, 1]
    deltas = [[0.5, -1.25, 3.0, 0.0], [2.0, -0.0, 1e-3, 7.5],
              [-4.0, 0.25, 65504.0, -2.0]]
    for m in DTYPES:
        for dd in DTYPES:
            for it in ("int32", "int64"):
                write(d, f"add-{m}-{dd}-{it}",
                      header(m, dd, it, cols, rows) +
                      update(idx, deltas, it, dd))
    f = "float32"
    for op, name in enumerate(["set", "add", "sub", "mul", "min", "max"]):
        write(d, f"op-{name}", header(f, f, "int32", cols, rows, op=op) +
              update([7, 0, 7, 3], deltas + [[1, 2, 3, 4]], "int32", f))
    bad_idx = update([2, 8, -1, 2**31 - 1], deltas + [[1, 1, 1, 1]], "int32",
                     f)
    write(d, "invalid-index-error", header(f, f, "int32", cols, rows) +
          bad_idx)
    write(d, "invalid-index-drop", header(f, f, "int32", cols, rows, inv=1) +
          bad_idx)
    write(d, "invalid-index-int64-drop",
          header(f, f, "int64", cols, rows, inv=1) +
          update([2, -2**63, 2**63 - 1, 2**32 + 1], deltas + [[1, 1, 1, 1]],
                 "int64", f))
    nonfin = update([0, 1, 2], [[1, np.nan, 0, 0], [np.inf, 0, 0, 0],
                                [1, 2, 3, 4]], "int32", f)
    for nf, name in enumerate(["apply", "drop", "error"]):
        write(d, f"non-finite-{name}",
              header(f, f, "int32", cols, rows, nf=nf) + nonfin)
        write(d, f"non-finite-{name}-f16",
              header("float16", "float16", "int32", cols, rows, nf=nf) +
              update([0, 1, 2], [[1, np.nan, 0, 0], [70000, 0, 0, 0],
                                 [1, 2, 3, 4]], "int32", "float16"))
    write(d, "empty", header(f, f, "int32", cols, rows))
    write(d, "ragged", header(f, f, "int32", cols, rows) +
          update(idx, deltas, "int32", f)[:-3])
    write(d, "misaligned-3", header("float64", "float64", "int64", cols,
                                    rows, flags=3) +
          update(idx, deltas, "int64", "float64"))
    write(d, "special-start-mul", header(f, "float64", "int32", cols, rows,
                                          op=3, flags=8) +
          update(idx, deltas, "int32", "float64"))
    write(d, "bytes-api", header(f, f, "int32", cols, rows, flags=16) +
          update(idx, deltas, "int32", f))
    # repeated until the threaded CPU path takes it
    write(d, "threaded-add", header(f, f, "int32", 16, 32, threaded=True) +
          update(list(range(0, 32, 3)) + [5, 5],
                 np.arange(13 * 16).reshape(13, 16) / 8, "int32", f))
    write(d, "threaded-set", header("bfloat16", f, "int32", 16, 32, op=0,
                                    threaded=True) +
          update([31, 0, 31], np.arange(3 * 16).reshape(3, 16), "int32", f))
    write(d, "threaded-int64-drop", header(f, f, "int64", 16, 32, inv=1,
                                           nf=1, threaded=True) +
          update([3, 40, -1, 3, 31, 0], [[1] * 16, [2] * 16, [3] * 16,
                                         [np.nan] + [4] * 15, [5] * 16,
                                         [6] * 16], "int64", f))
    write(d, "bad-op", header(f, f, "int32", cols, rows, op=6) +
          update(idx, deltas, "int32", f))
    write(d, "bad-policy", header(f, f, "int32", cols, rows, nf=3) +
          update(idx, deltas, "int32", f))
    write(d, "bad-delta-dtype", header(f, f, "int32", cols, rows,
                                       b1_high=31) + b"\0" * 20)
    write(d, "bad-index-type", header(f, f, "int32", cols, rows,
                                      b1_high=30) + b"\0" * 20)


def main():
    npy_corpus(os.path.join(HERE, "corpus-npy"))
    update_corpus(os.path.join(HERE, "corpus-update"))
    for sub in ("corpus-npy", "corpus-update"):
        files = os.listdir(os.path.join(HERE, sub))
        size = sum(os.path.getsize(os.path.join(HERE, sub, f)) for f in files)
        print(f"{sub}: {len(files)} files, {size} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The seed scenario: update 200 rows of a 70,000 x 100 float32 shared
matrix, the Theano get_value/set_value way and in place.

The copy path copies the whole matrix to the host (get_value), changes the
200 rows in numpy (np.add.at) and copies it all back (set_value). The
in-place path hands the 200 rows to the matrix (update_bytes, op add), which
applies them where the matrix lives. Both matrices receive the same updates
and must end equal to a plain numpy replay. Prints the median time of one
update each way and the ratio.

    examples/python.sh theano_classic.py [--rounds 50] [--rows 70000] [--cols 100] [--batch 200]
"""
import argparse
import sys
import time
from collections import namedtuple

import numpy as np

import gi

gi.require_version("GLib", "2.0")
gi.require_version("GstSharedMatrix", "1.0")
from gi.repository import GLib, GstSharedMatrix as SM  # noqa: E402

ROWS, COLS, BATCH = 70000, 100, 200

UpdatePaths = namedtuple("UpdatePaths", "inplace_s copy_s equal backend")


def matrix_as_array(matrix, rows, cols):
    """A writable numpy copy of the whole matrix (Theano's get_value)."""
    return np.frombuffer(matrix.get_value().get_data(), "<f4").reshape(rows, cols).copy()


def equals_replay(matrix, reference):
    got = matrix_as_array(matrix, *reference.shape)
    if matrix.props.backend == SM.Backend.CPU:
        return np.array_equal(got, reference)      # the CPU backend is bit-exact
    # a GPU adds the duplicate rows of one update in another order
    return np.allclose(got, reference, rtol=1e-5, atol=1e-5)


def measure_update_paths(rounds, rows=ROWS, cols=COLS, batch=BATCH, seed=1):
    """Applies the same @rounds random updates of @batch rows (op add) to two
    fresh matrices, one the copy way and one in place, and to a numpy array.
    Returns the median seconds per update of each path, whether both
    matrices equal the numpy replay, and the backend in use. Both timings
    start from the update as numpy arrays and include the binding's cost."""
    rng = np.random.default_rng(seed)
    updates = [(rng.integers(0, rows, batch, dtype="<i4"),
                rng.normal(size=(batch, cols)).astype("<f4")) for _ in range(rounds)]
    reference = np.zeros((rows, cols), np.float32)
    for idx, delta in updates:
        np.add.at(reference, idx, delta)

    # one path after the other: interleaved, the copy path's 28 MB copies
    # would evict the caches the in-place path runs from
    inplace = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.AUTO)
    inplace_times = []
    for idx, delta in updates:
        start = time.perf_counter()
        inplace.update_bytes(SM.Op.ADD, GLib.Bytes.new(idx.tobytes()), SM.IndexType.INT32,
                             GLib.Bytes.new(delta.tobytes()), SM.DType.FLOAT32)
        inplace_times.append(time.perf_counter() - start)

    copied = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.AUTO)
    copy_times = []
    for idx, delta in updates:
        start = time.perf_counter()
        host = matrix_as_array(copied, rows, cols)
        np.add.at(host, idx, delta)
        copied.set_value(GLib.Bytes.new(host.tobytes()))
        copy_times.append(time.perf_counter() - start)

    equal = all(equals_replay(m, reference) for m in (copied, inplace))
    backend = inplace.props.backend.value_nick
    return UpdatePaths(float(np.median(inplace_times)), float(np.median(copy_times)),
                       equal, backend)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="updates timed each way")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--cols", type=int, default=COLS)
    parser.add_argument("--batch", type=int, default=BATCH, help="rows per update")
    args = parser.parse_args()

    result = measure_update_paths(args.rounds, args.rows, args.cols, args.batch)
    print(f"matrix          : {args.rows} x {args.cols} float32 on {result.backend}, "
          f"{args.rounds} updates of {args.batch} rows each way")
    print(f"get/set_value   : {result.copy_s * 1e6:,.1f} us per update (median)")
    print(f"in place        : {result.inplace_s * 1e6:,.1f} us per update (median)")
    print(f"ratio           : {result.copy_s / result.inplace_s:,.0f}x")
    print(f"check           : both matrices {'equal' if result.equal else 'DIFFER FROM'} "
          f"the numpy replay")
    return 0 if result.equal else 1


if __name__ == "__main__":
    sys.exit(main())

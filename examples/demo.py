#!/usr/bin/env python3
"""The classic case, streamed: a 70,000 x 100 float32 matrix receives updates
of 200 rows each from updatetestsrc; sharedmatrix applies them in place and
writes its final snapshot to a .npy file. Prints what was applied and how
fast, and, for comparison, the cost of the copy-everything path (Theano's
get_value/set_value) on the same matrix.

    examples/demo.sh [--updates N] [--output demo-C.npy]
"""
import argparse
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSharedMatrix", "1.0")
from gi.repository import Gst  # noqa: E402

import numpy as np  # noqa: E402

from theano_classic import measure_update_paths  # noqa: E402

ROWS, COLS, BATCH = 70000, 100, 200


def run_pipeline(description):
    pipeline = Gst.parse_launch(description)
    start = time.perf_counter()
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    elapsed = time.perf_counter() - start
    pipeline.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        sys.exit(f"demo: pipeline failed: {err.message} ({debug})")
    return pipeline, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10000)
    parser.add_argument("--output", default="demo-C.npy")
    args = parser.parse_args()

    Gst.init(None)
    source = (f"updatetestsrc rows={ROWS} cols={COLS} batch={BATCH} "
              f"num-buffers={args.updates} seed=1")
    pipeline, elapsed = run_pipeline(
        f"{source} ! sharedmatrix name=m rows={ROWS} cols={COLS} "
        f"! application/x-npy ! filesink location={args.output}")
    element = pipeline.get_by_name("m")
    matrix = element.props.matrix
    updates = element.props.updates_applied
    rows = element.props.rows_applied
    backend = element.props.active_backend.value_nick
    # the same stream into fakesink: what generating the test data costs
    _, generation = run_pipeline(f"{source} ! fakesink")

    print(f"matrix          : {ROWS} x {COLS} float32 on {backend}")
    print(f"updates applied : {updates} ({rows} rows, {BATCH} per update)")
    print(f"matrix version  : {element.props.version}")
    print(f"pipeline time   : {elapsed:.3f} s ({updates / elapsed:,.0f} updates/s); "
          f"generating the test stream alone takes {generation:.3f} s")
    # timed on scratch matrices of the same shape, keeping the result intact
    paths = measure_update_paths(rounds=20)
    print(f"in place        : {paths.inplace_s * 1e6:,.1f} us per {BATCH}-row update "
          f"(library call from Python; tests/bench measures the element itself)")
    print(f"full-copy path  : {paths.copy_s * 1e6:,.0f} us per update (get_value, "
          f"change the rows, set_value), {paths.copy_s / paths.inplace_s:,.0f}x slower")
    if not paths.equal:
        sys.exit("demo: the two update paths disagree with the numpy replay")
    print(f"final snapshot  : {args.output} (numpy.load reads it)")

    snapshot = np.load(args.output)
    current = np.frombuffer(matrix.get_value().get_data(), dtype="<f4").reshape(ROWS, COLS)
    same = np.array_equal(snapshot, current)
    print(f"snapshot check  : shape {snapshot.shape}, {snapshot.dtype}, "
          f"{np.count_nonzero(snapshot.any(axis=1))} rows touched, "
          f"{'equals' if same else 'DIFFERS FROM'} the live matrix")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()

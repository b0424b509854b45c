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
from gi.repository import GLib, Gst, GstSharedMatrix as SM  # noqa: E402

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


def full_copy_seconds(matrix, rounds=5):
    """One update the slow way: copy the whole matrix out and back in."""
    start = time.perf_counter()
    for _ in range(rounds):
        value = matrix.get_value()
        matrix.set_value(value)
    return (time.perf_counter() - start) / rounds


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
    # the same stream into fakesink: what generating the test data costs
    _, generation = run_pipeline(f"{source} ! fakesink")
    applying = max(elapsed - generation, 0.0)
    matrix = element.props.matrix
    updates = element.props.updates_applied
    rows = element.props.rows_applied
    backend = element.props.active_backend.value_nick

    print(f"matrix          : {ROWS} x {COLS} float32 on {backend}")
    print(f"updates applied : {updates} ({rows} rows, {BATCH} per update)")
    print(f"matrix version  : {element.props.version}")
    print(f"pipeline time   : {elapsed:.3f} s ({updates / elapsed:,.0f} updates/s), of which "
          f"generating the test stream alone takes {generation:.3f} s")
    print(f"applying        : ~{applying / updates * 1e6:.1f} us per update "
          f"(pipeline minus generation, so only a rough figure; tests/bench measures it properly)")
    copy_s = full_copy_seconds(matrix)
    ratio = f", {copy_s * updates / applying:,.0f}x that" if applying > 0 else ""
    print(f"full-copy path  : {copy_s * 1e6:,.0f} us per update (get_value + set_value){ratio}")
    print(f"final snapshot  : {args.output} (numpy.load reads it)")

    try:
        import numpy as np
        snapshot = np.load(args.output)
        current = np.frombuffer(matrix.get_value().get_data(), dtype="<f4").reshape(ROWS, COLS)
        same = np.array_equal(snapshot, current)
        print(f"snapshot check  : shape {snapshot.shape}, {snapshot.dtype}, "
              f"{np.count_nonzero(snapshot.any(axis=1))} rows touched, "
              f"{'equals' if same else 'DIFFERS FROM'} the live matrix")
        if not same:
            sys.exit(1)
    except ImportError:
        pass


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ways to read a whole matrix into numpy from Python, timed (ms, best
and median of N reads of a 70,000 x 100 float32 matrix by default). Figures,
never pass/fail; docs/user-guide.md, "Reading the matrix from Python",
quotes them. Run from a build tree: `source tests/setup.sh &&
/usr/bin/python3 tests/bench/bench_read.py [rows cols repeats]`."""

import statistics
import sys
import time

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstSharedMatrix", "1.0")
from gi.repository import Gst, GstSharedMatrix as SM  # noqa: E402

rows, cols, repeats = (int(a) for a in (sys.argv[1:] + ["70000", "100", "20"])[:3])
Gst.init(None)
m = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.CPU)
m.update("add", np.arange(rows), np.ones((rows, cols), np.float32))

element = Gst.ElementFactory.make("sharedmatrix")
element.set_property("matrix", m)
pipeline = Gst.Pipeline()
pipeline.add(element)
pipeline.set_state(Gst.State.PAUSED)


def get_value():
    return np.frombuffer(m.get_value().get_data(), np.float32).reshape(rows, cols)


def snapshot_sample():
    # zero-copy view of the snapshot buffer: valid while it is mapped
    buf = element.emit("snapshot").get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    a = np.frombuffer(info.data, np.float32).reshape(rows, cols)
    total = float(a[0, 0])
    buf.unmap(info)
    return total


def snapshot_sample_copy():
    buf = element.emit("snapshot").get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    a = np.frombuffer(info.data, np.float32).reshape(rows, cols).copy()
    buf.unmap(info)
    return a


def overrides_numpy():
    return m.numpy()


into = np.empty((rows, cols), np.float32)


def copy_to_reused():
    m.copy_to(SM.Format.RAW, into.ctypes.data, into.nbytes)
    return into


paths = [
    ("get_value().get_data() + np.frombuffer", get_value),
    ("snapshot sample, mapped buffer (view, no copy out)", snapshot_sample),
    ("snapshot sample, mapped buffer + .copy()", snapshot_sample_copy),
    ("m.numpy() (overrides: copy_to into a new array)", overrides_numpy),
    ("m.copy_to() into a reused array", copy_to_reused),
]
assert np.array_equal(get_value(), overrides_numpy())
print(f"{rows} x {cols} float32 ({rows * cols * 4 / 1e6:.0f} MB), {repeats} reads each")
for name, fn in paths:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    print(f"{min(times):7.1f} ms best {statistics.median(times):7.1f} ms median  {name}")
pipeline.set_state(Gst.State.NULL)

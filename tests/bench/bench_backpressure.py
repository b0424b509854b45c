#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Back-pressure from a slow snapshot consumer, measured (figures, never
pass/fail; docs/user-guide.md, "A slow consumer", quotes them).

`updatetestsrc ! sharedmatrix snapshot-every=K ! <consumer>` where the
consumer takes SLEEP ms per snapshot (identity sleep-time), with and
without `queue leaky=downstream max-size-buffers=1` in front of it. Prints
updates/s and the snapshots the consumer got. Run from a build tree:
`source tests/setup.sh && /usr/bin/python3 tests/bench/bench_backpressure.py
[updates rows cols every sleep_ms]`."""

import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

updates, rows, cols, every, sleep_ms = (int(a) for a in (sys.argv[1:] + [
    "2000", "70000", "100", "10", "50"])[:5])
Gst.init(None)

CONSUMER = f"identity sleep-time={sleep_ms * 1000} ! fakesink name=out sync=false"
LINES = [
    ("no snapshots consumed (src pad unlinked)", ""),
    ("fast consumer (fakesink)", "! fakesink name=out sync=false"),
    (f"slow consumer ({sleep_ms} ms per snapshot), linked directly", "! " + CONSUMER),
    (f"slow consumer behind queue leaky=downstream max-size-buffers=1",
     "! queue leaky=downstream max-size-buffers=1 ! " + CONSUMER),
]

print(f"{updates} updates of 200 rows into {rows} x {cols} float32, "
      f"snapshot-every={every} ({updates // every} snapshots made)")
for name, tail in LINES:
    p = Gst.parse_launch(f"updatetestsrc num-buffers={updates} rows={rows} cols={cols} "
                         f"! sharedmatrix rows={rows} cols={cols} snapshot-every={every} "
                         f"backend=cpu {tail}")
    got = [0]
    out = p.get_by_name("out")
    if out is not None:
        out.get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER, lambda pad, info: (got.__setitem__(0, got[0] + 1),
                                                         Gst.PadProbeReturn.OK)[1])
    t = time.perf_counter()
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE,
                                         Gst.MessageType.EOS | Gst.MessageType.ERROR)
    dt = time.perf_counter() - t
    p.set_state(Gst.State.NULL)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    print(f"{updates / dt:9.0f} updates/s  {got[0]:4d} snapshots consumed  {name}")

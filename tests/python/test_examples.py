#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Smoke tests of examples/: every example runs the documented way, with
small sizes, and its results are checked, not just its exit status.

The update streams are replayed with the independent updatetestsrc
reimplementation of test_updatetestsrc.py and numpy. The example scripts
find the build under test through the environment meson test sets (see
examples/common.sh). One pytest test per check; the module skips without
numpy, PyGObject/Gst or the plugin.
"""

import os
import re
import subprocess

from checks import expect, note, require_elements, require_gst, require_numpy

np = require_numpy()
Gst = require_gst()
require_elements(Gst, ("sharedmatrix", "updatetestsrc", "multifilesink"))

import test_updatetestsrc as updatetestsrc  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


def run_example(args, env=None):
    """Runs examples/ARGS[0] with ARGS[1:] and the environment plus @env;
    returns its stdout, failing the check on a non-zero exit."""
    proc = subprocess.run([os.path.join(EXAMPLES, args[0])] + args[1:],
                          env=dict(os.environ, **(env or {})),
                          capture_output=True, text=True, timeout=300)
    expect(proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n"
           f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def updatetestsrc_stream(rows, cols, batch, seed, n_buffers):
    """The updates `updatetestsrc rows cols batch seed num-buffers` makes
    (float32 deltas, int32 indices), as a list of (indices, deltas)."""
    cfg = dict(updatetestsrc.DEFAULTS, rows=rows, cols=cols, batch=batch, seed=seed)
    return [(np.frombuffer(raw, "<i4", batch),
             np.frombuffer(raw, "<f4", batch * cols, batch * 4).reshape(batch, cols))
            for raw in updatetestsrc.reference(cfg, n_buffers)]


def replay(rows, cols, updates):
    """op add, buffer after buffer, in float32: what the CPU backend does."""
    matrix = np.zeros((rows, cols), np.float32)
    for idx, deltas in updates:
        np.add.at(matrix, idx, deltas)
    return matrix


def written_files(stdout):
    """(file, version) for each "FILE  matrix version N" line."""
    return [(f, int(v)) for f, v in re.findall(r"(\S+\.npy)  matrix version (\d+)", stdout)]


# ---- the checks -------------------------------------------------------------

def test_snapshots(tmp):
    rows, cols, batch, updates, every, seed = 300, 4, 20, 50, 15, 5
    out_dir = os.path.join(tmp, "snapshots")
    # the CPU backend is the bit-exact one
    stdout = run_example(["snapshots.sh", out_dir], env=dict(
        ROWS=str(rows), COLS=str(cols), BATCH=str(batch), UPDATES=str(updates),
        EVERY=str(every), SEED=str(seed), GST_SHARED_MATRIX_FORCE_CPU="1"))
    files = written_files(stdout)
    expect([v for _, v in files] == [15, 30, 45, 50],
           f"snapshot versions {[v for _, v in files]}, expected 15, 30, 45 and 50 at EOS")
    expect([os.path.basename(f) for f, _ in files] ==
           [f"snap-{i:05d}.npy" for i in range(4)], f"snapshot files {files}")
    stream = updatetestsrc_stream(rows, cols, batch, seed, updates)
    for path, version in files:
        got = np.load(path)
        expect(got.dtype == np.float32 and got.shape == (rows, cols),
               f"{path} is {got.dtype}{got.shape}")
        expect(np.array_equal(got, replay(rows, cols, stream[:version])),
               f"{path} differs from the numpy replay of the first {version} updates")
    note("4 numbered snapshots, versions 15/30/45/50, each equal to the numpy replay")


def test_shared_by_name(tmp):
    rows, cols, batch, updates, seed_a, seed_b = 200, 4, 20, 40, 3, 4
    out_dir = os.path.join(tmp, "shared")
    stdout = run_example(["shared-by-name.sh", out_dir], env=dict(
        ROWS=str(rows), COLS=str(cols), BATCH=str(batch), UPDATES=str(updates),
        SEED_A=str(seed_a), SEED_B=str(seed_b)))
    versions = sorted(v for _, v in written_files(stdout))
    expect(len(versions) == 2 and versions[0] >= updates and versions[1] == 2 * updates,
           f"EOS snapshot versions {versions}: expected one per chain, the last {2 * updates}")
    got = np.load(os.path.join(out_dir, "shared.npy"))
    stream_a = updatetestsrc_stream(rows, cols, batch, seed_a, updates)
    stream_b = updatetestsrc_stream(rows, cols, batch, seed_b, updates)
    both = replay(rows, cols, stream_a + stream_b)
    expect(not np.allclose(both, replay(rows, cols, stream_a)), "stream b changes nothing")
    # the chains interleave their updates in any order: float32 sums may
    # differ in the last bits from the replay's order
    expect(got.shape == both.shape and np.allclose(got, both, rtol=1e-5, atol=1e-5),
           "shared.npy differs from np.add.at of both streams")
    note(f"shared.npy equals np.add.at of both streams; chains ended at versions {versions}")


def test_stats_messages(tmp):
    rows, cols, batch, updates = 1000, 16, 50, 2000
    stdout = run_example(["stats-messages.sh", os.path.join(tmp, "stats")], env=dict(
        ROWS=str(rows), COLS=str(cols), BATCH=str(batch), UPDATES=str(updates),
        INTERVAL=str(Gst.MSECOND)))
    stats = []
    # gst-launch -m prints: Got message #N from element "NAME" (element): STRUCTURE;
    for text in re.findall(r"^Got message .*\(element\): (sharedmatrix-stats, .*)$",
                           stdout, re.M):
        s = Gst.Structure.from_string(text)[0]
        expect(s is not None, f"cannot parse: {text}")
        stats.append({f: s.get_value(f) for f in (
            "version", "updates-applied", "rows-applied", "rows-dropped",
            "rows-per-second", "last-offset", "backend")})
    expect(len(stats) >= 3, f"{len(stats)} sharedmatrix-stats messages:\n{stdout}")
    expect(f"{len(stats)} sharedmatrix-stats messages" in stdout, "no message count line")
    for s in stats:
        expect(None not in s.values(), f"fields missing: {s}")
        expect(s["rows-applied"] == s["updates-applied"] * batch and s["rows-dropped"] == 0
               and s["version"] == s["updates-applied"], f"inconsistent: {s}")
    expect([s["version"] for s in stats] == sorted(s["version"] for s in stats),
           "versions go backwards")
    expect(stats[-1]["updates-applied"] == updates, f"last message at EOS: {stats[-1]}")
    # updatetestsrc's OFFSETs are 0, 1, 2, …
    expect(stats[-1]["last-offset"] == updates - 1, f"last-offset at EOS: {stats[-1]}")
    expect(any(s["rows-per-second"] > 0 for s in stats), "rows-per-second always 0")
    expect(stats[-1]["backend"] in ("cpu", "cuda"), f"backend {stats[-1]['backend']}")
    note(f"{len(stats)} messages, the last at EOS with {updates} updates applied")


ONLINE_LEARNING_ARGS = ["--users", "200", "--items", "100", "--rank", "4", "--steps", "800",
                        "--batch", "100", "--eval-every", "100", "--seed", "1"]


def check_online_learning(extra_args=()):
    stdout = run_example(["python.sh", "online_learning.py"] + ONLINE_LEARNING_ARGS +
                         list(extra_args))
    # "  updates  <sgd RMSE>  <adaptive RMSE>", one row per evaluation
    table = [(int(u), float(a), float(b)) for u, a, b in
             re.findall(r"^ +(\d+) +([0-9.]+) +([0-9.]+)$", stdout, re.M)]
    expect([u for u, _, _ in table] == list(range(0, 801, 100)),
           f"table rows (updates): {[u for u, _, _ in table]}\n{stdout}")
    mean_rmse = float(re.search(r"predicting the mean rating: ([0-9.]+)", stdout)[1])
    final = dict(re.findall(r"final held-out RMSE ([a-z-]+): ([0-9.]+)", stdout))
    expect(list(final) == ["sgd", "rowwise-adagrad"], f"final lines for {list(final)}")
    final = {opt: float(v) for opt, v in final.items()}
    stale = int(re.search(r"missed at most (\d+) updates", stdout)[1])
    initial = table[0][1]
    # Ratings have unit variance plus noise of std 0.1: predicting the mean
    # scores ~1, the small random start too. With these arguments both
    # optimizers end at ~0.106-0.109 (sgd 0.1059, rowwise-adagrad 0.1086,
    # deterministic); sgd is still at 0.31 after 400 updates. 0.15 fails if
    # updates are lost, misapplied, read stale or converge half as fast.
    # The threshold is far below where an optimizer that does nothing
    # stays: with --lr-sgd 0 --lr-adaptive 0 both columns stay at the
    # initial 0.9954 and this check fails (run once by hand).
    threshold = 0.15
    expect(table[0][2] == initial, "the two runs start from different factors")
    expect(threshold < 0.3 * min(mean_rmse, initial),
           f"threshold {threshold} too close to the initial RMSE {initial} or "
           f"the mean predictor's {mean_rmse}")
    expect(final["sgd"] == table[-1][1] and final["rowwise-adagrad"] == table[-1][2],
           "final RMSEs are not the last row's")
    for opt, rmse in final.items():
        expect(rmse < threshold, f"final {opt} RMSE {rmse} not below {threshold}:\n{stdout}")
    expect([a for _, a, _ in table] != [b for _, _, b in table],
           "sgd and rowwise-adagrad learn identically")
    expect(stale <= 3, f"gradients {stale} updates stale, more than a buffer list of 4")
    note(f"held-out RMSE {initial} -> sgd {final['sgd']}, rowwise-adagrad "
         f"{final['rowwise-adagrad']} (mean predictor {mean_rmse}, threshold {threshold})")


def test_online_learning(tmp):
    check_online_learning()


def test_theano_classic(tmp):
    stdout = run_example(["python.sh", "theano_classic.py", "--rounds", "3"])
    copy_us = re.search(r"get/set_value +: ([0-9,.]+) us per update", stdout)
    inplace_us = re.search(r"in place +: ([0-9,.]+) us per update", stdout)
    expect(copy_us and inplace_us and re.search(r"ratio +: [0-9,]+x", stdout),
           f"timings missing:\n{stdout}")
    expect("both matrices equal the numpy replay" in stdout, f"check failed:\n{stdout}")
    note(f"both paths equal numpy; {copy_us[1]} us vs {inplace_us[1]} us per update")


def test_demo(tmp):
    """demo.py takes its timing from theano_classic.py."""
    npy = os.path.join(tmp, "demo-C.npy")
    stdout = run_example(["python.sh", "demo.py", "--updates", "20", "--output", npy])
    expect("updates applied : 20" in stdout and "equals the live matrix" in stdout
           and "full-copy path" in stdout, f"unexpected output:\n{stdout}")
    note("20 updates, snapshot equals the live matrix, timings printed")


def _offsets_pts(pipeline_desc, probe_on):
    """Runs a pipeline; returns [(OFFSET, PTS, size)] of the buffers that
    leave element @probe_on's src pad."""
    seen = []
    p = Gst.parse_launch(pipeline_desc)

    def probe(pad, info):
        b = info.get_buffer()
        seen.append((b.offset, b.pts, b.get_size()))
        return Gst.PadProbeReturn.OK

    p.get_by_name(probe_on).get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND,
                                         Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    expect(msg is not None and msg.type == Gst.MessageType.EOS,
           f"{pipeline_desc}: {msg.parse_error() if msg else 'timeout'}")
    return seen


def test_record_replay(tmp):
    if Gst.ElementFactory.find("gdppay") is None:
        skip_reason = "gdppay not found (gstreamer1.0-plugins-bad)"
        import pytest
        pytest.skip(skip_reason)
    out = run_example(["record-replay.sh", tmp])
    expect("equal: True" in out, out)
    first = updatetestsrc_stream(1000, 16, 50, 1, 30)
    second = updatetestsrc_stream(1000, 16, 7, 2, 30)
    want = replay(1000, 16, first + second)
    for name in ("replayed.npy", "resumed.npy"):
        got = np.load(os.path.join(tmp, name))
        expect(np.array_equal(got, want), f"{name} differs from the numpy replay")
    # the recording keeps every buffer: its OFFSET and its varying size
    rec = os.path.join(tmp, "updates.gdp")
    seen = _offsets_pts(f"filesrc location={rec} ! gdpdepay name=d ! fakesink", "d")
    expect([o for o, _, _ in seen] == list(range(60)), f"offsets {[o for o, _, _ in seen]}")
    expect([n for _, _, n in seen] == [50 * 68] * 30 + [7 * 68] * 30, "buffer sizes")
    note(f"replayed {len(seen)} updates of two sizes, offsets 0..59")


def test_gdp_keeps_offsets_and_live_pts(tmp):
    """updatetestsrc is-live=true stamps running time; a gdppay recording
    replays the same OFFSETs and PTS."""
    if Gst.ElementFactory.find("gdppay") is None:
        import pytest
        pytest.skip("gdppay not found (gstreamer1.0-plugins-bad)")
    rec = os.path.join(tmp, "live.gdp")
    live = _offsets_pts("updatetestsrc is-live=true rows=100 cols=4 batch=3 num-buffers=8 "
                        f"name=s ! gdppay ! filesink location={rec}", "s")
    replayed = _offsets_pts(f"filesrc location={rec} ! gdpdepay name=d ! fakesink", "d")
    expect(replayed == live, f"replayed {replayed} != recorded {live}")
    pts = [p for _, p, _ in live]
    expect(all(p != Gst.CLOCK_TIME_NONE for p in pts) and pts == sorted(pts),
           f"live PTS {pts}")
    note(f"live PTS {pts[0]}..{pts[-1]} ns kept by gdppay/gdpdepay")


def test_scale_out(tmp):
    """examples/scale-out.sh at small sizes: a 3-server cluster, 2 shards
    fed while the producer publishes, a replica of shard 0; the example's
    own equality check must pass, and the shard and replica matrices it
    leaves must equal the numpy replay of updatetestsrc's stream."""
    import pytest
    import shutil
    from nats_cluster import NATS_SERVER
    if NATS_SERVER is None or not shutil.which("nats-server"):
        pytest.skip("nats-server not on PATH (Debian: nats-server)")
    for e in ("jetstreamsrc", "jetstreamsink", "updatepartition"):
        if Gst.ElementFactory.find(e) is None:
            pytest.skip(f"{e} not built (libnats-dev)")
    rows, cols, batch, updates, seed, every = 3000, 8, 40, 150, 3, 5
    out_dir = os.path.join(tmp, "scale-out")
    stdout = run_example(["scale-out.sh", out_dir], env=dict(
        ROWS=str(rows), COLS=str(cols), BATCH=str(batch), UPDATES=str(updates),
        SEED=str(seed), DELTA_EVERY=str(every), GST_SHARED_MATRIX_FORCE_CPU="1"))
    expect("shard matrices equal numpy, bit for bit" in stdout, stdout)
    expect("replica equals shard 0, bit for bit" in stdout, stdout)
    want = replay(rows, cols, updatetestsrc_stream(rows, cols, batch, seed, updates))
    b = (rows + 1) // 2
    shards = [np.load(os.path.join(out_dir, f"shard{i}.npy")) for i in range(2)]
    expect(shards[0].shape == (b, cols) and shards[1].shape == (rows - b, cols),
           f"shard shapes {[s.shape for s in shards]}")
    expect(np.array_equal(np.concatenate(shards).view(np.uint32), want.view(np.uint32)),
           "the shards differ from the numpy replay")
    replica = np.load(os.path.join(out_dir, "replica0.npy"))
    expect(np.array_equal(replica.view(np.uint32), shards[0].view(np.uint32)),
           "the replica differs from shard 0")
    note(stdout.strip().splitlines()[-3])

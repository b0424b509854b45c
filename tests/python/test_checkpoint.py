#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checkpoints and exactly-once replay, with real gst-launch-1.0 processes.

The crash test streams a deterministic update stream into sharedmatrix with
checkpoints, SIGKILLs the process mid-stream (several times), restarts it
with the producer replaying from offset 0, and checks that the final matrix
equals numpy applying every update exactly once, bit for bit.

One pytest test per check; the module skips without numpy or
gst-launch-1.0.
"""

import os
import shutil
import signal
import struct
import subprocess
import time

import pytest

from checks import CheckFailed, expect, note, require_numpy, skip

np = require_numpy()

GST_LAUNCH = shutil.which("gst-launch-1.0")
if GST_LAUNCH is None:
    skip("gst-launch-1.0 not found")
ROWS, COLS, BATCH, N = 5000, 16, 64, 400
SOURCE = f"updatetestsrc seed=11 rows={ROWS} cols={COLS} batch={BATCH} num-buffers={N}"
TRAILER = 24


def launch(description, **kwargs):
    return subprocess.Popen([GST_LAUNCH, "-q"] + description.split(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


def run(description, timeout=120):
    proc = launch(description)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def read_trailer(path):
    with open(path, "rb") as f:
        f.seek(-TRAILER, os.SEEK_END)
        raw = f.read(TRAILER)
    expect(raw[:8] == b"GSTSMCK1", f"{path}: no checkpoint trailer: {raw[:8]!r}")
    return struct.unpack("<QQ", raw[8:])     # version, last offset


def capture(tmp):
    """The update stream, captured once to a file."""
    path = os.path.join(tmp, "updates.bin")
    rc, out = run(f"{SOURCE} ! filesink location={path}")
    expect(rc == 0, f"capture failed: {out}")
    expect(os.path.getsize(path) == N * BATCH * (4 + COLS * 4),
           f"captured {os.path.getsize(path)} bytes")


_prefix_cache = {}


def reference_prefix(tmp, count):
    """numpy applying the first @count captured updates, buffer by buffer."""
    if count not in _prefix_cache:
        record = 4 + COLS * 4
        raw = np.fromfile(os.path.join(tmp, "updates.bin"), np.uint8)
        matrix = np.zeros((ROWS, COLS), np.float32)
        for b in range(count):
            chunk = raw[b * BATCH * record:(b + 1) * BATCH * record]
            np.add.at(matrix, chunk[:BATCH * 4].view("<i4"),
                      chunk[BATCH * 4:].view("<f4").reshape(BATCH, COLS))
        _prefix_cache[count] = matrix
    return _prefix_cache[count]


def element(ck, extra=""):
    return (f"sharedmatrix rows={ROWS} cols={COLS} checkpoint-location={ck} "
            f"checkpoint-every=5 {extra}").strip()


def test_crash_and_replay(tmp):
    capture(tmp)
    want = reference_prefix(tmp, N)
    ck = os.path.join(tmp, "ck.npy")
    kills = []
    # identity slows the stream so the kills land mid-stream
    slow = f"{SOURCE} ! identity sleep-time=3000 ! {element(ck)} ! fakesink"
    for target in (N // 5, N // 2, 3 * N // 4):
        proc = launch(slow)
        deadline = time.monotonic() + 60
        offset = -1
        while time.monotonic() < deadline:
            if os.path.exists(ck):
                try:
                    _, offset = read_trailer(ck)
                except (CheckFailed, OSError):
                    pass            # being replaced: rename is atomic, retry
                if offset != 2**64 - 1 and offset >= target:
                    break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        expect(proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}")
        version, offset = read_trailer(ck)
        expect(offset < N - 1, f"killed too late (offset {offset})")
        # the matrix in the checkpoint is exactly updates 0..offset
        expect(version == offset + 1, f"version {version} for offset {offset}")
        got = np.load(ck)
        kills.append(offset)
        expect(np.array_equal(got, reference_prefix(tmp, offset + 1)),
               f"checkpoint after kill at offset {offset} is not updates 0..{offset}")

    # restart: the producer replays from offset 0; the element skips what
    # the checkpoint holds and applies the rest once
    rc, out = run(f"{SOURCE} ! {element(ck)} ! fakesink")
    expect(rc == 0, f"final run failed: {out}")
    version, offset = read_trailer(ck)
    expect(offset == N - 1, f"final last-offset {offset}")
    expect(version == N, f"final version {version}: some update applied twice or lost")
    got = np.load(ck)
    expect(got.dtype == np.float32 and got.shape == (ROWS, COLS), f"{got.dtype} {got.shape}")
    expect(np.array_equal(got, want), "final matrix differs from every update applied once: "
           f"max |diff| {np.max(np.abs(got - want))}")
    note(f"SIGKILLed at offsets {kills}, replayed from 0, final = numpy reference bit for bit")


def test_restart_skips_everything(tmp):
    ck = os.path.join(tmp, "again.npy")
    rc, out = run(f"{SOURCE} ! {element(ck)} ! fakesink")
    expect(rc == 0, out)
    first = np.load(ck)
    v1, o1 = read_trailer(ck)
    rc, out = run(f"{SOURCE} ! {element(ck)} ! fakesink")
    expect(rc == 0, out)
    v2, o2 = read_trailer(ck)
    expect((v1, o1) == (v2, o2) == (N, N - 1), f"{(v1, o1)} then {(v2, o2)}")
    expect(np.array_equal(first, np.load(ck)), "a full replay changed the matrix")
    note(f"second full replay skipped all {N} updates (version stays {v2})")


def test_failed_write_is_a_warning(tmp):
    ck = os.path.join(tmp, "no-such-dir", "ck.npy")
    proc = subprocess.run([GST_LAUNCH, "-m"] + f"{SOURCE} ! {element(ck)} ! fakesink".split(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)
    expect(proc.returncode == 0, f"pipeline failed (exit {proc.returncode}): {proc.stdout[-500:]}")
    expect("WARNING" in proc.stdout and "Checkpoint not written" in proc.stdout,
           "no warning about the failed checkpoint")
    expect("Got EOS" in proc.stdout, "stream did not reach EOS")
    note("unwritable checkpoint-location: warnings, stream completes")


def test_corrupt_checkpoint_is_an_error(tmp):
    ck = os.path.join(tmp, "corrupt.npy")
    with open(ck, "wb") as f:
        f.write(b"\x93NUMPY garbage")
    rc, out = run(f"{SOURCE} ! {element(ck)} ! fakesink")
    expect(rc != 0, "a corrupt checkpoint was silently ignored")
    expect("corrupt.npy" in out and "checkpoint" in out, f"unclear error: {out[-400:]}")
    # a plain .npy (no trailer) is not a checkpoint either
    np.save(ck, np.zeros((ROWS, COLS), np.float32))
    rc, out = run(f"{SOURCE} ! {element(ck)} ! fakesink")
    expect(rc != 0 and "not a checkpoint" in out, f"plain .npy accepted: {out[-400:]}")
    # a checkpoint of another shape
    ok = os.path.join(tmp, "small.npy")
    rc, out = run(f"updatetestsrc rows=10 cols={COLS} num-buffers=2 ! "
                  f"sharedmatrix rows=10 cols={COLS} checkpoint-location={ok} ! fakesink")
    expect(rc == 0, out)
    rc, out = run(f"{SOURCE} ! {element(ok)} ! fakesink")
    expect(rc != 0 and "10 x 16" in out, f"shape mismatch not reported: {out[-400:]}")
    note("corrupt, plain-npy and wrong-shape checkpoints fail start with the file named")


def read_trailer_any(path):
    """(version, last offset) of a version 1 or 2 (optimizer) checkpoint."""
    with open(path, "rb") as f:
        f.seek(-48, os.SEEK_END)
        raw = f.read(48)
    if raw[:8] == b"GSTSMCK2":
        return struct.unpack("<QQ", raw[8:24])
    return read_trailer(path)


@pytest.mark.parametrize("opt", ["sgd", "adagrad", "rowwise-adagrad", "adam"])
def test_optimizer_crash_and_replay(tmp, opt):
    """SIGKILL mid-stream with an optimizer, resume from the checkpoint with
    the producer replaying from 0: the final checkpoint (matrix, optimizer
    state, step count, version, offset) equals an uninterrupted run's, byte
    for byte."""
    extra = f"optimizer={opt} learning-rate=0.05 weight-decay=0.001"
    ref = os.path.join(tmp, "ref.ck")
    rc, out = run(f"{SOURCE} scale=0.1 ! {element(ref, extra)} ! fakesink")
    expect(rc == 0, f"reference run failed: {out}")
    ck = os.path.join(tmp, "ck.ck")
    proc = launch(f"{SOURCE} scale=0.1 ! identity sleep-time=3000 ! {element(ck, extra)} ! fakesink")
    deadline = time.monotonic() + 60
    offset = -1
    while time.monotonic() < deadline:
        if os.path.exists(ck):
            try:
                _, offset = read_trailer_any(ck)
            except (CheckFailed, OSError):
                pass
            if offset != 2**64 - 1 and offset >= N // 2:
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    expect(proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}")
    version, offset = read_trailer_any(ck)
    expect(offset < N - 1 and version == offset + 1, f"killed at {offset}, version {version}")
    expect(np.load(ck).shape == (ROWS, COLS), "numpy.load reads the matrix of a v2 checkpoint")
    rc, out = run(f"{SOURCE} scale=0.1 ! {element(ck, extra)} ! fakesink")
    expect(rc == 0, f"resumed run failed: {out}")
    with open(ref, "rb") as a, open(ck, "rb") as b:
        same = a.read() == b.read()
    expect(same, f"{opt}: resumed checkpoint differs from the uninterrupted run's")
    note(f"{opt}: killed at offset {offset}, resumed: matrix + state = uninterrupted run, byte for byte")

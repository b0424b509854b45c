#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The matrixheatmap element in real pipelines, checked against numpy.

Matrices go in through appsrc, or come from sharedmatrix snapshots (a tee
keeps the raw snapshot beside its picture), and the frames from appsink are
compared with a numpy reference of the documented rules: block means along
each axis with np.add.reduceat (which also gives the repeated cells of an
upscale), the linear map to 0 … 255 rounded half up. The viridis colours are
compared with matplotlib's own colour map when matplotlib is there, and with
published anchor colours always. The last check runs examples/heatmap.sh and
reads the PNG files it writes.

Run with the plugin on GST_PLUGIN_PATH(_1_0) (meson test does it). One
pytest test per check; the module skips without numpy, PyGObject/Gst or the
plugin.
"""

import os
import struct
import subprocess
import time
import zlib
from pathlib import Path

from checks import (CheckFailed, expect, note, require_elements, require_gst,
                    require_numpy)

np = require_numpy()
Gst = require_gst()
require_elements(Gst, ("matrixheatmap", "sharedmatrix", "updatetestsrc",
                       "appsrc", "appsink"))

SOURCE_ROOT = Path(os.environ.get("SHAREDMATRIX_SOURCE_ROOT",
                                  Path(__file__).resolve().parents[2]))
TIMEOUT_S = 30

# viridis (0), (0.5), (1) as published (matplotlib, R's viridisLite)
ANCHORS = {0: (0x44, 0x01, 0x54), 128: (0x21, 0x91, 0x8C),
           255: (0xFD, 0xE7, 0x25)}


# ---- the reference ----------------------------------------------------------

def block_means(m, height, width):
    """Mean of the cells each pixel covers: pixel i of N along an axis of n
    cells starts at i * n // N; np.add.reduceat sums up to the next start,
    or takes the single cell where the next start is not larger (upscale)."""
    rows, cols = m.shape
    rs = np.arange(height, dtype=np.int64) * rows // height
    cs = np.arange(width, dtype=np.int64) * cols // width
    sums = np.add.reduceat(np.add.reduceat(m, rs, axis=0), cs, axis=1)
    nr = np.diff(np.append(rs, rows))
    nc = np.diff(np.append(cs, cols))
    nr[nr <= 0] = 1
    nc[nc <= 0] = 1
    return sums / np.outer(nr, nc)


def reference_t(m, height, width, lo=None, hi=None):
    """Unrounded levels (mean - lo) * 255 / (hi - lo); NaN where the pixel
    must be 0 whatever (NaN mean, or lo = hi). lo/hi None: auto range."""
    m = m.astype(np.float64)
    if lo is None:
        finite = m[np.isfinite(m)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    means = block_means(m, height, width)
    if not lo < hi:
        return np.full(means.shape, np.nan)
    with np.errstate(invalid="ignore"):
        return (means - lo) * 255.0 / (hi - lo)


def levels_of(t):
    with np.errstate(invalid="ignore"):
        lv = np.clip(np.floor(t + 0.5), 0, 255)
    return np.where(np.isnan(t), 0, lv).astype(np.int64)


def expect_frame(sample, t, lut, what):
    """The frame shows the rounded reference levels (as viridis colours
    when RGB), or a neighbouring level where the reference lies within 1e-9
    of a rounding tie (the element sums in another order)."""
    got = frame_array(sample).astype(np.int64)
    want = levels_of(t)
    with np.errstate(invalid="ignore"):
        tie = np.abs(t - np.floor(t) - 0.5) < 1e-9

    def shows(level):
        level = np.clip(level, 0, 255)
        return (got == lut[level]).all(-1) if got.ndim == 3 else got == level

    bad = ~(shows(want) | (tie & (shows(want - 1) | shows(want + 1))))
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise CheckFailed(f"{what}: {bad.sum()} pixels differ, first "
                          f"({x}, {y}) is {got[y, x]}, expected level "
                          f"{want[y, x]} (t = {t[y, x]!r})")


def to_dtype_bytes(m, dtype):
    """Raw little-endian bytes; values must be exact in bfloat16."""
    if dtype == "bfloat16":
        bits = m.astype("<f4").view("<u4")
        expect(not (bits & 0xFFFF).any(), "value not exact in bfloat16")
        return (bits >> 16).astype("<u2").tobytes()
    return m.astype({"float32": "<f4", "float64": "<f8",
                     "float16": "<f2"}[dtype]).tobytes()


def frame_array(sample):
    """(height, width) or (height, width, 3) uint8 array of a video frame,
    without the row padding."""
    s = sample.get_caps().get_structure(0)
    w, h = s.get_value("width"), s.get_value("height")
    bpp = 3 if s.get_value("format") == "RGB" else 1
    stride = (w * bpp + 3) & ~3
    buf = sample.get_buffer()
    data = np.frombuffer(buf.extract_dup(0, buf.get_size()), np.uint8)
    expect(data.size == stride * h, f"frame of {data.size} bytes, "
           f"expected {stride} x {h}")
    rows = data.reshape(h, stride)[:, :w * bpp]
    return rows.reshape(h, w, 3) if bpp == 3 else rows


# ---- pipelines --------------------------------------------------------------

def pull_all(pipeline, sinks):
    """Plays @pipeline and pulls every sample of each appsink in @sinks
    (appsink holds EOS back until its samples are pulled)."""
    out = {name: [] for name in sinks}
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            expect(msg is None, f"pipeline error: "
                   f"{msg and msg.parse_error()[0].message}")
            busy = False
            for name in sinks:
                sink = pipeline.get_by_name(name)
                s = sink.emit("try-pull-sample", 20 * Gst.MSECOND)
                if s is not None:
                    out[name].append(s)
                busy |= s is not None or not sink.props.eos
            if not busy:
                return out
        raise CheckFailed("pipeline did not reach EOS")
    finally:
        pipeline.set_state(Gst.State.NULL)


def render(matrices, dtype, props="", out_caps="video/x-raw"):
    """Pushes each (rows, cols) matrix through appsrc ! matrixheatmap and
    returns the samples."""
    rows, cols = matrices[0].shape
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time ! matrixheatmap {props} ! {out_caps} "
        f"! appsink name=sink sync=false")
    src = pipeline.get_by_name("src")
    src.props.caps = Gst.Caps.from_string(
        f"other/tensors, format=static, num_tensors=1, types={dtype}, "
        f'dimensions=(string)"{cols}:{rows}", framerate=0/1')
    for i, m in enumerate(matrices):
        buf = Gst.Buffer.new_wrapped(to_dtype_bytes(m, dtype))
        buf.pts = i * Gst.SECOND
        src.emit("push-buffer", buf)
    src.emit("end-of-stream")
    samples = pull_all(pipeline, ["sink"])["sink"]
    expect(len(samples) == len(matrices),
           f"{len(samples)} frames for {len(matrices)} matrices")
    for i, s in enumerate(samples):
        expect(s.get_buffer().pts == i * Gst.SECOND, f"frame {i}: PTS "
               f"{s.get_buffer().pts} != {i * Gst.SECOND}")
    return samples


def element_lut():
    """The element's 256 colours, from a 1 x 256 ramp on a fixed range."""
    ramp = np.arange(256, dtype=np.float64).reshape(1, 256)
    (s,) = render([ramp], "float64", "range=fixed min=0 max=255",
                  "video/x-raw,format=RGB,width=256,height=1")
    return frame_array(s)[0].astype(np.int64)


def all_viridis(rgb, lut):
    """Is every pixel of an (h, w, 3) array one of the element's colours?"""
    codes = (lut[:, 0] << 16) | (lut[:, 1] << 8) | lut[:, 2]
    px = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return np.isin(px, codes).all()


# ---- checks -----------------------------------------------------------------

def test_viridis(tmp):
    """The RGB colours: published anchors, and matplotlib's viridis."""
    lut = element_lut()
    for level, rgb in ANCHORS.items():
        expect(tuple(lut[level]) == rgb, f"level {level} is "
               f"#{'%02x%02x%02x' % tuple(lut[level])}")
    try:
        import matplotlib
        viridis = matplotlib.colormaps["viridis"]
    except (ImportError, AttributeError):
        note("3 anchors (no matplotlib 3.5 or newer for the rest)")
        return
    expect(viridis.N == 256, f"matplotlib's viridis has {viridis.N} colours")
    want = np.rint(viridis(np.arange(256))[:, :3] * 255)
    diff = np.abs(lut - want.astype(np.int64))
    expect(diff.max() == 0, f"{np.count_nonzero(diff.max(axis=1))} colours "
           f"differ from matplotlib's, first at level "
           f"{np.argmax(diff.max(axis=1))}")
    note("3 anchors and all 256 colours equal matplotlib's viridis")


def random_matrix(rng, rows, cols):
    """Values k / 64, exact in every dtype including bfloat16."""
    return rng.integers(-255, 256, size=(rows, cols)) / 64.0


def test_appsrc_reference(tmp):
    """Every dtype, GRAY8 and RGB, auto and fixed range; uneven downscale,
    uneven upscale and mixed, several frames per stream."""
    rng = np.random.default_rng(7)
    lut = element_lut()
    shapes = [((37, 23), (5, 7)), ((3, 2), (10, 7)), ((4, 30), (9, 8)),
              ((1000, 13), (77, 13))]
    ranges = [("range=auto", None, None),
              ("range=fixed min=-2.5 max=1.75", -2.5, 1.75)]
    frames = 0
    for dtype in ("float32", "float64", "float16", "bfloat16"):
        for (rows, cols), (h, w) in shapes:
            ms = [random_matrix(rng, rows, cols) for _ in range(2)]
            for fmt in ("GRAY8", "RGB"):
                for props, lo, hi in ranges:
                    samples = render(ms, dtype, props, f"video/x-raw,format="
                                     f"{fmt},width={w},height={h}")
                    for m, s in zip(ms, samples):
                        expect_frame(s, reference_t(m, h, w, lo, hi), lut,
                                     f"{dtype} {rows}x{cols} -> {w}x{h} "
                                     f"{fmt} {props}")
                        frames += 1
    note(f"{frames} frames equal the numpy reference")


def test_special_values(tmp):
    """NaN, infinities, a constant matrix and clamping."""
    rng = np.random.default_rng(8)
    m = random_matrix(rng, 8, 6)
    m[0, 0] = np.nan
    m[2, 3] = np.inf
    m[5, 5] = -np.inf
    m[7, 0], m[7, 1] = np.inf, -np.inf
    const = np.full((6, 5), 3.25)
    cases = [(m, "range=auto", None, None, (4, 3)),
             (m, "range=auto", None, None, (8, 6)),
             (m, "range=fixed min=-1 max=1", -1.0, 1.0, (4, 3)),
             (const, "range=auto", None, None, (6, 5)),
             (const, "range=fixed min=3 max=4", 3.0, 4.0, (6, 5))]
    for mat, props, lo, hi, (h, w) in cases:
        (s,) = render([mat], "float32", props,
                      f"video/x-raw,format=GRAY8,width={w},height={h}")
        expect_frame(s, reference_t(mat, h, w, lo, hi), None, props)
    (s,) = render([const], "float32", "", "video/x-raw,format=GRAY8")
    expect(not frame_array(s).any(), "a constant matrix is not all 0")
    note(f"{len(cases) + 1} frames")


def test_sharedmatrix_pipeline(tmp):
    """sharedmatrix snapshots drawn at the default size: each picture
    against the raw snapshot beside it."""
    rows, cols = 3000, 40
    pipeline = Gst.parse_launch(
        f"updatetestsrc seed=3 num-buffers=30 distribution=zipf rows={rows} "
        f"cols={cols} ! sharedmatrix rows={rows} cols={cols} "
        f"snapshot-every=10 ! tee name=t ! queue ! matrixheatmap "
        f"! appsink name=heat sync=false t. ! queue ! appsink name=raw "
        f"sync=false")
    out = pull_all(pipeline, ["heat", "raw"])
    lut = element_lut()
    # none at EOS: the snapshot after update 30 already shows version 30
    expect(len(out["heat"]) == len(out["raw"]) == 3,
           f"{len(out['heat'])} pictures, {len(out['raw'])} snapshots, "
           f"expected 3 each (after 10, 20 and 30 updates)")
    for heat, raw in zip(out["heat"], out["raw"]):
        s = heat.get_caps().get_structure(0)
        size = (s.get_value("format"), s.get_value("width"),
                s.get_value("height"))
        expect(size == ("RGB", cols, 1024), f"default caps {size}, "
               f"expected RGB {cols} x 1024")
        hb, rb = heat.get_buffer(), raw.get_buffer()
        expect(hb.pts == rb.pts and hb.offset == rb.offset,
               f"PTS/OFFSET {hb.pts}/{hb.offset} != {rb.pts}/{rb.offset}")
        m = np.frombuffer(rb.extract_dup(0, rb.get_size()),
                          np.float32).reshape(rows, cols)
        expect_frame(heat, reference_t(m, 1024, cols), lut,
                     f"version {rb.offset}")
    note("3 pictures of 40 x 1024 equal the reference of their snapshots")


def png_info(path):
    """(width, height, bit depth, colour type) from a PNG's IHDR, after
    checking the signature and every chunk's CRC."""
    data = Path(path).read_bytes()
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG")
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        expect(zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind}")
        chunks.append((kind, body))
        pos += 12 + length
    expect(chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND",
           f"{path}: chunks {[k for k, _ in chunks]}")
    return struct.unpack(">IIBB", chunks[0][1][:10])


def test_example_script(tmp):
    """examples/heatmap.sh with tiny sizes: the PNG files it promises."""
    # (the script uses the plugin this test runs with: examples/common.sh
    # keeps GST_PLUGIN_PATH_1_0 when it is set)
    out = Path(tmp) / "heat"
    env = dict(os.environ, ROWS="60", COLS="8", UPDATES="30", EVERY="10",
               BATCH="16", WIDTH="16", HEIGHT="30", RANGE="auto")
    r = subprocess.run(["bash", str(SOURCE_ROOT / "examples" / "heatmap.sh"),
                        str(out)], env=env, capture_output=True, text=True,
                       timeout=300)
    expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr[-500:]}")
    files = sorted(p.name for p in out.iterdir())
    expect(files == [f"heat-{i:05d}.png" for i in range(3)], f"files {files}")
    for name in files:
        info = png_info(out / name)
        expect(info == (16, 30, 8, 2), f"{name}: width, height, depth, "
               f"colour type {info}, expected 16 x 30 8-bit RGB (2)")
    try:
        from matplotlib import image
    except ImportError:
        note("3 PNG files of 16 x 30 RGB (matplotlib not there to decode)")
        return
    px = np.rint(image.imread(out / files[-1])[..., :3] * 255).astype(int)
    expect(all_viridis(px, element_lut()), "a pixel that is no viridis "
           "colour")
    expect(len(np.unique(px.reshape(-1, 3), axis=0)) > 10,
           "the last picture has hardly any colours")
    note("3 PNG files of 16 x 30 RGB, all pixels viridis colours")

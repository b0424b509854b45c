#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""updatetestsrc against an independent reference implementation.

The element documents its random stream exactly (SplitMix64-seeded
xoshiro256**, Lemire's bounded integers, Marsaglia's polar method,
Hörmann-Derflinger rejection-inversion for zipf, round to nearest even to
the dtype). This script re-implements that description in plain Python
(+ numpy for float16/float32 rounding), runs the element through a real
pipeline for a set of configurations and compares every byte, plus caps and
buffer offsets.

Run with the plugin on GST_PLUGIN_PATH(_1_0). One pytest test per case
(test_stream_matches_reference[caseN-...]); the module skips without numpy
or PyGObject/Gst.
"""

import math
import struct
from fractions import Fraction

import pytest

from checks import require_gst, require_numpy

np = require_numpy()
Gst = require_gst()

M64 = (1 << 64) - 1


# ---- the reference generator ------------------------------------------------

class Rng:
    """xoshiro256** seeded by SplitMix64, plus the polar method's spare."""

    def __init__(self, seed):
        x = seed
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))
        self.spare = None

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self._rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def bounded(self, n):
        """Lemire's unbiased integer in [0, n)."""
        m = self.next() * n
        if (m & M64) < n:
            threshold = ((1 << 64) - n) % n
            while (m & M64) < threshold:
                m = self.next() * n
        return m >> 64

    def double01(self):
        return (self.next() >> 11) * 2.0 ** -53

    def normal(self):
        """Marsaglia's polar method; the second output is kept."""
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        while True:
            u = 2 * (self.next() >> 11) * 2.0 ** -53 - 1
            v = 2 * (self.next() >> 11) * 2.0 ** -53 - 1
            w = u * u + v * v
            if 0.0 < w < 1.0:
                break
        f = math.sqrt(-2.0 * math.log(w) / w)
        self.spare = v * f
        return u * f


class Zipf:
    """Rejection-inversion (Hörmann & Derflinger 1996) as in Apache Commons
    RNG's RejectionInversionZipfSampler; returns ranks 1..n."""

    def __init__(self, n, s):
        self.n = n
        self.s = s
        self.h_x1 = self.H(1.5) - 1.0
        self.h_n = self.H(float(n) + 0.5)
        self.squeeze = 2.0 - self.H_inv(self.H(2.5) - self.h(2.0))

    @staticmethod
    def helper1(x):  # log1p(x) / x
        if abs(x) > 1e-8:
            return math.log1p(x) / x
        return 1.0 - x * (0.5 - x * (1.0 / 3 - 0.25 * x))

    @staticmethod
    def helper2(x):  # expm1(x) / x
        if abs(x) > 1e-8:
            return math.expm1(x) / x
        return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3) * (1.0 + 0.25 * x))

    def H(self, x):
        log_x = math.log(x)
        return self.helper2((1.0 - self.s) * log_x) * log_x

    def h(self, x):
        return math.exp(-self.s * math.log(x))

    def H_inv(self, x):
        t = x * (1.0 - self.s)
        if t < -1.0:
            t = -1.0
        return math.exp(self.helper1(t) * x)

    def sample(self, rng):
        while True:
            u = self.h_n + rng.double01() * (self.h_x1 - self.h_n)
            x = self.H_inv(u)
            kd = x + 0.5
            if not kd >= 1.0:
                k = 1
            elif kd >= 2.0 ** 64:
                k = self.n
            else:
                k = min(int(kd), self.n)
            if (float(k) - x <= self.squeeze
                    or u >= self.H(float(k) + 0.5) - self.h(float(k))):
                return k


# ---- rounding to the narrow dtypes --------------------------------------------

def round_narrow(v, mbits, ebits):
    """Round a double to nearest even on the grid of a binary float with
    @mbits mantissa and @ebits exponent bits (subnormals included), with
    exact rational arithmetic. Returns a Python float holding the exact
    rounded value, or ±inf on overflow."""
    if math.isnan(v) or math.isinf(v) or v == 0.0:
        return v
    bias = (1 << (ebits - 1)) - 1
    emin = 1 - bias
    a = abs(v)
    e = math.frexp(a)[1] - 1          # 2^e <= a < 2^(e+1)
    if e > bias:
        r = math.inf
    else:
        quantum = Fraction(2) ** (max(e, emin) - mbits)
        n = round(Fraction(a) / quantum)   # Fraction rounds half to even
        exact = n * quantum
        r = math.inf if exact >= Fraction(2) ** (bias + 1) else float(exact)
    return math.copysign(r, v)


def bfloat16_bits(values):
    # a bfloat16 value is a float32 whose low 16 bits are zero
    out = []
    for v in values:
        r = round_narrow(v, 7, 8)
        (bits,) = struct.unpack("<I", struct.pack("<f", r))
        assert bits & 0xFFFF == 0
        out.append(bits >> 16)
    return np.array(out, dtype="<u2").tobytes()


def float16_bytes(values):
    arr = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        direct = arr.astype("<f2")      # numpy rounds float64 -> float16 directly
    # cross-check the reference itself: numpy and the rational rounding agree
    mine = np.array([struct.unpack("<H", struct.pack("<e", round_narrow(v, 10, 5)))[0]
                     for v in values], dtype="<u2")
    if not np.array_equal(direct.view("<u2"), mine):
        raise AssertionError("reference self-check: numpy float16 rounding "
                             "disagrees with the rational rounding")
    return direct.tobytes()


def encode_deltas(values, dtype):
    if dtype == "float64":
        return np.array(values, dtype="<f8").tobytes()
    if dtype == "float32":
        with np.errstate(over="ignore"):
            return np.array(values, dtype=np.float64).astype("<f4").tobytes()
    if dtype == "float16":
        return float16_bytes(values)
    if dtype == "bfloat16":
        return bfloat16_bits(values)
    raise ValueError(dtype)


def reference(cfg, n_buffers):
    rng = Rng(cfg["seed"])
    zipf = Zipf(cfg["rows"], cfg["zipf-exponent"]) \
        if cfg["distribution"] == "zipf" else None
    itype = "<i4" if cfg["index-type"] == "int32" else "<i8"
    buffers = []
    for _ in range(n_buffers):
        if zipf:
            rows = [zipf.sample(rng) - 1 for _ in range(cfg["batch"])]
        else:
            rows = [rng.bounded(cfg["rows"]) for _ in range(cfg["batch"])]
        values = [cfg["scale"] * rng.normal()
                  for _ in range(cfg["batch"] * cfg["cols"])]
        buffers.append(np.array(rows, dtype=itype).tobytes()
                       + encode_deltas(values, cfg["dtype"]))
    return buffers


# ---- the element ----------------------------------------------------------------

DEFAULTS = {
    "rows": 70000, "cols": 100, "batch": 200, "dtype": "float32",
    "index-type": "int32", "distribution": "uniform", "zipf-exponent": 1.1,
    "seed": 0, "scale": 1.0,
}


def run_element(cfg, n_buffers):
    props = " ".join(f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in cfg.items())
    desc = (f"updatetestsrc {props} num-buffers={n_buffers} "
            "! appsink name=sink sync=false")
    pipeline = Gst.parse_launch(desc)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    buffers, offsets, caps = [], [], None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        caps = sample.get_caps()
        ok, info = buf.map(Gst.MapFlags.READ)
        assert ok
        buffers.append(bytes(info.data))
        buf.unmap(info)
        offsets.append((buf.offset, buf.offset_end))
    bus = pipeline.get_bus()
    msg = bus.pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg:
        err, dbg = msg.parse_error()
        raise RuntimeError(f"pipeline error: {err.message} ({dbg})")
    return buffers, offsets, caps


CASES = [
    dict(),                                                   # the defaults
    dict(seed=1, rows=70000, batch=5, cols=3),
    dict(seed=2, dtype="float64", **{"index-type": "int64"},
         rows=3 << 61, batch=7, cols=5),                      # Lemire rejects 1/4
    dict(seed=3, dtype="float16", rows=7, batch=9, cols=3, scale=1e-5),
    dict(seed=4, dtype="bfloat16", **{"index-type": "int64"}, rows=1000,
         batch=6, cols=5, scale=1e-39),                       # bf16 subnormals
    dict(seed=5, distribution="zipf", rows=7, batch=11, cols=3),
    dict(seed=6, distribution="zipf", dtype="float16",
         **{"index-type": "int64", "zipf-exponent": 1.0}, rows=70000,
         batch=8, cols=5, scale=3e4),                         # s = 1, f16 overflow
    dict(seed=7, distribution="zipf", dtype="bfloat16",
         **{"zipf-exponent": 0.5}, rows=1 << 31, batch=8, cols=3,
         scale=2e38),                                         # s < 1, bf16 overflow
    dict(seed=(1 << 64) - 1, distribution="zipf", dtype="float64",
         **{"index-type": "int64", "zipf-exponent": 2.5}, rows=1 << 63,
         batch=9, cols=2),
    dict(seed=9, distribution="zipf", **{"zipf-exponent": 1.0 + 1e-12},
         rows=100, batch=10, cols=3),                         # Taylor branch
    dict(seed=10, distribution="zipf", dtype="float32",
         **{"zipf-exponent": 100.0}, rows=50, batch=10, cols=1, scale=3e38),
    dict(seed=11, rows=1, batch=4, cols=3, scale=0.0),       # one row, zeros
    dict(seed=12, distribution="zipf", rows=1, batch=4, cols=1),
    dict(seed=13, batch=0, cols=4),                          # empty updates
    dict(seed=14, dtype="float16", rows=2147483648, batch=7, cols=7,
         scale=1e-7),                                         # f16 subnormals
]


def case_id(case):
    cfg = dict(DEFAULTS, **case)
    return (f"{cfg['distribution']}-{cfg['dtype']}-{cfg['index-type']}-"
            f"rows{cfg['rows']}-batch{cfg['batch']}-cols{cfg['cols']}-"
            f"seed{cfg['seed']}")


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}-{case_id(c)}"
                                             for i, c in enumerate(CASES)])
def test_stream_matches_reference(case):
    """Every byte of the element's stream, its caps and buffer offsets
    against the reference generator."""
    Gst.init(None)
    assert Gst.ElementFactory.find("updatetestsrc") is not None, \
        "element updatetestsrc not found (GST_PLUGIN_PATH?)"
    n_buffers = 3
    cfg = dict(DEFAULTS, **case)
    got, offsets, caps = run_element(case, n_buffers)
    want = reference(cfg, n_buffers)
    problems = []
    if len(got) != n_buffers:
        problems.append(f"{len(got)} buffers, expected {n_buffers}")
    if offsets != [(j, j + 1) for j in range(len(got))]:
        problems.append(f"offsets {offsets}")
    s = caps.get_structure(0) if caps else None
    if (s is None or s.get_name() != "application/x-matrix-update"
            or s.get_value("dtype") != cfg["dtype"]
            or s.get_value("index-type") != cfg["index-type"]
            or s.get_value("cols") != cfg["cols"]):
        problems.append(f"caps {caps.to_string() if caps else None}")
    for j, (g, w) in enumerate(zip(got, want)):
        if g != w:
            first = next((k for k in range(min(len(g), len(w)))
                          if g[k] != w[k]), min(len(g), len(w)))
            problems.append(f"buffer {j}: {len(g)} bytes vs {len(w)} "
                            f"expected, first difference at byte {first}")
    assert not problems, "; ".join(problems)
    print(f"{sum(len(b) for b in got)} bytes identical")

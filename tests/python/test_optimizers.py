#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Optimizers (training at update time) against an independent numpy
reference written from the SPEC's formulas, bit for bit: every optimizer x
matrix dtype x gradient dtype, duplicates, weight decay, several steps
(adam's t), both policies, empty updates, bad input; the element's
properties; and torch's own optimizers when torch is importable.

The reference does every operation in the compute type T (float32, or
float64 when the matrix or the gradients are float64), in the order the
library documents (torch's: `w - lr * (g / (sqrt(G) + eps))`,
`m + (1 - b1) * (g - m)`), keeps the state in float32 and rounds the new
weights to the matrix dtype, round to nearest even.
"""

import io
import math
import os
import shutil
import subprocess

import pytest

from checks import expect, note, require_numpy, require_sharedmatrix

np = require_numpy()
GLib, SM = require_sharedmatrix()

OPTS = ["sgd", "adagrad", "rowwise-adagrad", "adam"]
DTYPES = ["float32", "float64", "float16", "bfloat16"]
OPT_ENUM = {"none": SM.Optimizer.NONE, "sgd": SM.Optimizer.SGD,
            "adagrad": SM.Optimizer.ADAGRAD,
            "rowwise-adagrad": SM.Optimizer.ROWWISE_ADAGRAD,
            "adam": SM.Optimizer.ADAM}
DT_ENUM = {"float32": SM.DType.FLOAT32, "float64": SM.DType.FLOAT64,
           "float16": SM.DType.FLOAT16, "bfloat16": SM.DType.BFLOAT16}
STORE = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
         "bfloat16": np.uint16}


# ---- dtype helpers (bfloat16 = raw uint16 bits) ----------------------------

def to_bf16_bits(x):
    """float64 array -> bfloat16 bits, round to nearest even (normal range
    and zero; the tests stay there)."""
    x = np.asarray(x, np.float64)
    b = x.view(np.uint64)
    sign = ((b >> 63) << 15).astype(np.uint64)
    e = ((b >> 52) & 0x7ff).astype(np.int64)
    mant = (b & ((1 << 52) - 1)) | (1 << 52)
    small = e < 1023 - 126
    # normal: keep 8 mantissa bits (implicit one included) of 53
    q = mant >> 45
    rem = mant & ((1 << 45) - 1)
    half = 1 << 44
    q = q + ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    val = (((e - 1023 + 127 - 1).astype(np.uint64)) << 7) + q
    val = np.where(small | (x == 0), 0, val)
    return (sign | val).astype(np.uint16)


def bf16_to_f64(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def values(raw, dtype):
    """stored values -> float64 (exact)"""
    if dtype == "bfloat16":
        return bf16_to_f64(raw)
    return np.asarray(raw).astype(np.float64)


def store(x, dtype):
    """float64 values (already in T) -> stored representation, RNE"""
    if dtype == "bfloat16":
        return to_bf16_bits(x)
    return np.asarray(x, np.float64).astype(STORE[dtype])


# ---- the reference (from the SPEC) -----------------------------------------

def reference_step(W, state, t, idx, grads, mdtype, gdtype, opt, p,
                   invalid="error", non_finite="apply"):
    """One update buffer. W: stored matrix (modified), state: dict of float32
    arrays (modified), grads: stored gradient rows. Returns (applied,
    dropped_invalid, dropped_nonfinite) or raises ValueError."""
    rows, cols = W.shape
    T = np.float64 if "float64" in (mdtype, gdtype) else np.float32
    gv = values(grads, gdtype).reshape(len(idx), cols)
    keep, d_inv, d_nf = [], 0, 0
    for i, r in enumerate(idx):
        if r < 0 or r >= rows:
            if invalid == "error":
                raise ValueError("index")
            d_inv += 1
            continue
        if non_finite != "apply" and not np.all(np.isfinite(gv[i])):
            if non_finite == "error":
                raise ValueError("nonfinite")
            d_nf += 1
            continue
        keep.append(i)
    lr, eps, wd = T(p["lr"]), T(p["eps"]), T(p["wd"])
    for r in sorted(set(int(idx[i]) for i in keep)):
        g = np.zeros(cols, T)
        for i in keep:
            if idx[i] == r:
                g = (g + gv[i].astype(T)).astype(T)
        w = values(W[r], mdtype).astype(T)
        if p["wd"] != 0:
            g = (g + (wd * w).astype(T)).astype(T)
        if opt == "sgd":
            w = (w - (lr * g).astype(T)).astype(T)
        elif opt == "adagrad":
            G = (state["G"][r].astype(T) + (g * g).astype(T)).astype(np.float32)
            state["G"][r] = G
            d = (np.sqrt(G.astype(T)).astype(T) + eps).astype(T)
            w = (w - (lr * (g / d).astype(T)).astype(T)).astype(T)
        elif opt == "rowwise-adagrad":
            s = rowwise_sum_sq(g, T)
            mean = T(np.float64(s) / cols)
            G = np.float32(T(T(state["G"][r, 0]) + mean))
            state["G"][r, 0] = G
            mult = T(lr / T(T(np.sqrt(T(G))) + eps))
            w = (w - (mult * g).astype(T)).astype(T)
        else:   # adam, as torch.optim.SparseAdam
            c1, c2 = T(1.0 - p["b1"]), T(1.0 - p["b2"])
            m0, v0 = state["m"][r].astype(T), state["v"][r].astype(T)
            m = (m0 + (c1 * (g - m0).astype(T)).astype(T)).astype(np.float32)
            v = (v0 + (c2 * ((g * g).astype(T) - v0).astype(T)).astype(T)).astype(np.float32)
            state["m"][r], state["v"][r] = m, v
            step = p["lr"] * math.sqrt(1 - p["b2"] ** t) / (1 - p["b1"] ** t)
            d = (np.sqrt(v.astype(T)).astype(T) + eps).astype(T)
            w = (w - (T(step) * (m.astype(T) / d).astype(T)).astype(T)).astype(T)
        W[r] = store(w.astype(np.float64), mdtype)
    return len(keep), d_inv, d_nf


def rowwise_sum_sq(g, T):
    """sum_j g_j^2 in the order the library defines (kernels/
    optimizer-kernels.h): eight partial sums over the whole blocks of eight
    columns (lane k: columns k, k + 8, ...), combined as
    ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)), then the remaining columns
    in order; every operation rounded to T."""
    cols = len(g)
    blocks = cols // 8 * 8
    p = [T(0)] * 8
    for j in range(blocks):
        p[j % 8] = T(p[j % 8] + T(g[j] * g[j]))
    s = T(T(T(p[0] + p[4]) + T(p[2] + p[6])) + T(T(p[1] + p[5]) + T(p[3] + p[7])))
    for j in range(blocks, cols):
        s = T(s + T(g[j] * g[j]))
    return s


def new_state(opt, rows, cols):
    if opt == "adagrad":
        return {"G": np.zeros((rows, cols), np.float32)}
    if opt == "rowwise-adagrad":
        return {"G": np.zeros((rows, 1), np.float32)}
    if opt == "adam":
        return {"m": np.zeros((rows, cols), np.float32),
                "v": np.zeros((rows, cols), np.float32)}
    return {}


# ---- the library -------------------------------------------------------------

def make_matrix(rows, cols, mdtype, opt, W0=None):
    m = SM.SharedMatrix.new(rows, cols, DT_ENUM[mdtype], SM.Backend.CPU)
    if W0 is not None:
        m.set_value(GLib.Bytes(np.ascontiguousarray(W0).tobytes()))
    m.set_optimizer(OPT_ENUM[opt])
    return m


def params(p):
    q = SM.OptimizerParams.new()
    q.learning_rate, q.epsilon, q.beta1, q.beta2, q.weight_decay = (
        p["lr"], p["eps"], p["b1"], p["b2"], p["wd"])
    return q


def apply(m, idx, grads, gdtype, p, invalid="error", non_finite="apply"):
    pol = SM.Policies()
    pol.invalid_index = {"error": SM.InvalidIndexPolicy.ERROR,
                         "drop": SM.InvalidIndexPolicy.DROP}[invalid]
    pol.non_finite = {"apply": SM.NonFinitePolicy.APPLY, "drop": SM.NonFinitePolicy.DROP,
                      "error": SM.NonFinitePolicy.ERROR}[non_finite]
    ok, res = m.apply_gradients_bytes(
        GLib.Bytes(np.asarray(idx, np.int64).tobytes()), SM.IndexType.INT64,
        GLib.Bytes(np.ascontiguousarray(grads).tobytes()), DT_ENUM[gdtype],
        params(p), pol)
    return res


def matrix_of(m, mdtype, rows, cols):
    return np.frombuffer(m.get_value().get_data(), STORE[mdtype]).reshape(rows, cols).copy()


def state_of(m, opt):
    out = {}
    names = {"adagrad": ["G"], "rowwise-adagrad": ["G"], "adam": ["m", "v"]}.get(opt, [])
    for slot, name in enumerate(names):
        data, step = m.get_optimizer_state(slot, SM.Format.NPY)
        out[name] = np.load(io.BytesIO(data.get_data()))
    return out


def random_rows(rng, n, cols, dtype, scale=1.0):
    x = rng.normal(0, scale, (n, cols))
    return store(x if dtype == "float64" else x.astype(np.float32).astype(np.float64), dtype)


def same_bits(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


P = {"lr": 0.05, "eps": 1e-8, "b1": 0.9, "b2": 0.999, "wd": 0.0}


@pytest.mark.parametrize("opt", OPTS)
def test_every_dtype_pair_matches_reference(opt):
    rows, cols = 40, 19             # two whole blocks of 8 and a tail
    rng = np.random.default_rng(hash(opt) % 1000)
    checked = 0
    for mdtype in DTYPES:
        for gdtype in DTYPES:
            W = random_rows(rng, rows, cols, mdtype, 0.5)
            m = make_matrix(rows, cols, mdtype, opt, W)
            st = new_state(opt, rows, cols)
            for t in range(1, 5):
                n = 25
                idx = rng.integers(0, rows // 2, n)      # many duplicates
                grads = random_rows(rng, n, cols, gdtype)
                p = dict(P, wd=0.01 if t == 3 else 0.0, lr=0.05 / t)
                reference_step(W, st, t, idx, grads, mdtype, gdtype, opt, p)
                res = apply(m, idx, grads, gdtype, p)
                expect(res.rows_applied == n, f"rows_applied {res.rows_applied}")
                got = matrix_of(m, mdtype, rows, cols)
                expect(same_bits(got, W), f"{opt} {mdtype}<-{gdtype} step {t}: matrix "
                       f"differs at {np.argwhere(got != W)[:5].tolist()}: "
                       f"{values(got, mdtype)[got != W][:3]} vs {values(W, mdtype)[got != W][:3]}")
                gs = state_of(m, opt)
                for k in st:
                    expect(same_bits(gs[k], st[k]), f"{opt} {mdtype}<-{gdtype} step {t}: state {k} "
                           f"differs by {np.max(np.abs(gs[k] - st[k]))}")
                expect(m.get_optimizer_step() == t, f"step {m.get_optimizer_step()} != {t}")
                checked += 1
    note(f"{opt}: {checked} steps over 16 dtype pairs equal the numpy reference bit for bit")


@pytest.mark.parametrize("opt", OPTS)
def test_policies(opt):
    rows, cols = 10, 4
    rng = np.random.default_rng(5)
    W = random_rows(rng, rows, cols, "float32")
    m = make_matrix(rows, cols, "float32", opt, W)
    st = new_state(opt, rows, cols)
    # invalid index, error: rejected, nothing changes (matrix, state, step, version)
    idx = np.array([1, 12, 2])
    g = random_rows(rng, 3, cols, "float32")
    v0 = m.get_version()
    with pytest.raises(GLib.Error) as e:
        apply(m, idx, g, "float32", P)
    expect("12" in e.value.message and "out of range" in e.value.message, e.value.message)
    expect(same_bits(matrix_of(m, "float32", rows, cols), W) and m.get_version() == v0
           and m.get_optimizer_step() == 0, "rejected update changed the matrix")
    # drop: the valid rows step, the invalid one is counted
    res = apply(m, idx, g, "float32", P, invalid="drop")
    reference_step(W, st, 1, idx, g, "float32", "float32", opt, P, invalid="drop")
    expect(res.rows_dropped_invalid == 1 and res.rows_applied == 2, "drop counts")
    expect(same_bits(matrix_of(m, "float32", rows, cols), W), "drop: matrix != reference")
    # non-finite: error rejects, drop skips that occurrence only (before summing)
    idx = np.array([3, 3, 4])
    g = random_rows(rng, 3, cols, "float32")
    g[1, 2] = np.nan
    before = (matrix_of(m, "float32", rows, cols), state_of(m, opt))
    with pytest.raises(GLib.Error):
        apply(m, idx, g, "float32", P, non_finite="error")
    expect(same_bits(matrix_of(m, "float32", rows, cols), before[0]), "error changed matrix")
    for k in before[1]:
        expect(same_bits(state_of(m, opt)[k], before[1][k]), "error changed state")
    res = apply(m, idx, g, "float32", P, non_finite="drop")
    reference_step(W, st, 2, idx, g, "float32", "float32", opt, P, non_finite="drop")
    expect(res.rows_dropped_non_finite == 1 and res.rows_applied == 2, "nf drop counts")
    expect(same_bits(matrix_of(m, "float32", rows, cols), W), "nf drop: matrix != reference")
    for k in st:
        expect(same_bits(state_of(m, opt)[k], st[k]), f"nf drop: state {k}")
    # apply: NaN flows into row 3 (and its state)
    apply(m, idx, g, "float32", P, non_finite="apply")
    got = matrix_of(m, "float32", rows, cols)
    expect(np.isnan(got[3, 2]) and np.all(np.isfinite(got[4])), "apply: NaN not applied")


@pytest.mark.parametrize("opt", OPTS)
def test_empty_update_is_a_step(opt):
    m = make_matrix(5, 3, "float32", opt)
    before = matrix_of(m, "float32", 5, 3)
    res = apply(m, [], np.zeros((0, 3), np.float32), "float32", P)
    expect(res.version == 1 and res.rows_applied == 0 and m.get_optimizer_step() == 1,
           f"version {res.version} step {m.get_optimizer_step()}")
    expect(same_bits(before, matrix_of(m, "float32", 5, 3)), "empty update changed the matrix")


def test_state_shapes_and_slots():
    m = make_matrix(6, 5, "float32", "rowwise-adagrad")
    data, step = m.get_optimizer_state(0, SM.Format.NPY)
    a = np.load(io.BytesIO(data.get_data()))
    expect(a.shape == (6, 1) and a.dtype == np.float32 and step == 0, f"{a.shape} {a.dtype}")
    expect(m.get_optimizer_n_slots() == 1, "slots")
    with pytest.raises(GLib.Error) as e:
        m.get_optimizer_state(1, SM.Format.NPY)
    expect("slot 1" in e.value.message, e.value.message)
    m2 = make_matrix(6, 5, "float16", "adam")
    expect(m2.get_optimizer_n_slots() == 2, "adam slots")
    raw, _ = m2.get_optimizer_state(1, SM.Format.RAW)
    expect(len(raw.get_data()) == 6 * 5 * 4, "raw size")


def test_bad_input():
    rows, cols = 8, 4
    m = SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.CPU)
    g = np.ones((2, cols), np.float32)
    # no optimizer chosen
    with pytest.raises(GLib.Error) as e:
        apply(m, [1, 2], g, "float32", P)
    expect("no optimizer" in e.value.message, e.value.message)
    m.set_optimizer(SM.Optimizer.ADAM)
    m.set_optimizer(SM.Optimizer.ADAM)             # same again: fine
    apply(m, [1, 2], g, "float32", P)
    # another optimizer while state is present
    with pytest.raises(GLib.Error) as e:
        m.set_optimizer(SM.Optimizer.ADAGRAD)
    expect("adam" in e.value.message and "adagrad" in e.value.message, e.value.message)
    before = matrix_of(m, "float32", rows, cols)
    st = state_of(m, "adam")
    # bad learning rates, beta
    for bad, name in [(dict(P, lr=-0.1), "learning rate -0.1"), (dict(P, lr=float("nan")), "learning rate nan"),
                      (dict(P, b1=1.0), "beta1 1"), (dict(P, wd=float("inf")), "weight decay inf")]:
        with pytest.raises(GLib.Error) as e:
            apply(m, [1, 2], g, "float32", bad)
        expect(name in e.value.message and "allowed" in e.value.message, e.value.message)
    # wrong gradient size (cols 3 instead of 4), wrong dtype size
    for grads, gd in [(np.ones((2, 3), np.float32), "float32"), (np.ones((2, 4), np.float32), "float64")]:
        with pytest.raises(GLib.Error) as e:
            apply(m, [1, 2], grads, gd, P)
        expect("columns" in e.value.message, e.value.message)
    # unknown optimizer value
    with pytest.raises((GLib.Error, TypeError, ValueError)):
        m.set_optimizer(17)
    expect(same_bits(before, matrix_of(m, "float32", rows, cols)), "matrix changed")
    for k, v in state_of(m, "adam").items():
        expect(same_bits(v, st[k]), "state changed")
    expect(m.get_optimizer_step() == 1, "step changed")


def test_big_update_threads_deterministic():
    """An update big enough for the worker pool gives the reference's bytes."""
    rows, cols, n = 3000, 64, 4096
    rng = np.random.default_rng(9)
    for opt in OPTS:
        W = random_rows(rng, rows, cols, "float32", 0.1)
        m = make_matrix(rows, cols, "float32", opt, W)
        st = new_state(opt, rows, cols)
        for t in (1, 2):
            idx = rng.integers(0, rows, n)
            g = random_rows(rng, n, cols, "float32")
            apply(m, idx, g, "float32", P)
            reference_step(W, st, t, idx, g, "float32", "float32", opt, P)
        expect(same_bits(matrix_of(m, "float32", rows, cols), W), f"{opt}: big update differs")


# ---- the element -------------------------------------------------------------

GST_LAUNCH = shutil.which("gst-launch-1.0")


@pytest.mark.parametrize("opt", ["sgd", "rowwise-adagrad", "adam"])
def test_element_matches_reference(tmp, opt):
    if GST_LAUNCH is None:
        pytest.skip("gst-launch-1.0 not found")
    rows, cols, batch, nbuf = 500, 8, 32, 20
    src = f"updatetestsrc seed=3 rows={rows} cols={cols} batch={batch} num-buffers={nbuf} scale=0.5"
    cap = os.path.join(tmp, "u.bin")
    out = os.path.join(tmp, "C.npy")
    subprocess.run([GST_LAUNCH, "-q"] + f"{src} ! filesink location={cap}".split(), check=True)
    r = subprocess.run([GST_LAUNCH, "-q"] + (
        f"{src} ! sharedmatrix rows={rows} cols={cols} optimizer={opt} learning-rate=0.1 "
        f"weight-decay=0.001 ! application/x-npy ! filesink location={out}").split(),
        capture_output=True, text=True)
    expect(r.returncode == 0, r.stdout + r.stderr)
    raw = np.fromfile(cap, np.uint8)
    rec = 4 + cols * 4
    W = np.zeros((rows, cols), np.float32)
    st = new_state(opt, rows, cols)
    p = dict(P, lr=0.1, wd=0.001)
    for b in range(nbuf):
        chunk = raw[b * batch * rec:(b + 1) * batch * rec]
        reference_step(W, st, b + 1, chunk[:batch * 4].view("<i4"),
                       chunk[batch * 4:].view("<f4").reshape(batch, cols),
                       "float32", "float32", opt, p)
    got = np.load(out)
    expect(same_bits(got, W), f"element {opt}: max diff {np.max(np.abs(got - W))}")


# ---- torch, when importable ---------------------------------------------------

def test_against_torch():
    torch = pytest.importorskip("torch")
    rows, cols, n = 50, 6, 30
    rng = np.random.default_rng(1)
    W0 = rng.normal(0, 0.5, (rows, cols)).astype(np.float32)
    for opt in OPTS:
        if opt == "rowwise-adagrad":
            continue        # torch has no row-wise Adagrad
        emb = torch.nn.Embedding(rows, cols, sparse=True)
        with torch.no_grad():
            emb.weight.copy_(torch.from_numpy(W0))
        o = {"sgd": lambda ps: torch.optim.SGD(ps, lr=0.05),
             "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=0.05, eps=1e-8),
             "adam": lambda ps: torch.optim.SparseAdam(ps, lr=0.05)}[opt](emb.parameters())
        m = make_matrix(rows, cols, "float32", opt, W0)
        for t in range(5):
            idx = rng.integers(0, rows // 2, n)
            g = rng.normal(0, 1, (n, cols)).astype(np.float32)
            o.zero_grad()
            out = emb(torch.from_numpy(idx))
            out.backward(torch.from_numpy(g))
            o.step()
            apply(m, idx, g, "float32", dict(P, lr=0.05))
        got = matrix_of(m, "float32", rows, cols)
        want = emb.weight.detach().numpy()
        expect(np.allclose(got, want, rtol=1e-5, atol=1e-6),
               f"{opt}: max diff to torch {np.max(np.abs(got - want))}")


# ---- FBGEMM, when importable ------------------------------------------------

def test_against_fbgemm():
    """FBGEMM's CPU table-batched embedding applies the same fused steps:
    the one outside reference for row-wise Adagrad (EXACT_ROWWISE_ADAGRAD,
    which the SPEC names)"""
    pytest.importorskip("torch")
    tbe_ops = pytest.importorskip(
        "fbgemm_gpu.split_table_batched_embeddings_ops_training")
    import torch
    from fbgemm_gpu.split_embedding_configs import EmbOptimType
    from fbgemm_gpu.split_table_batched_embeddings_ops_common import (
        EmbeddingLocation, PoolingMode)
    rows, cols, n = 50, 8, 30
    rng = np.random.default_rng(2)
    W0 = rng.normal(0, 0.5, (rows, cols)).astype(np.float32)
    for opt, name in (("sgd", "EXACT_SGD"), ("adagrad", "EXACT_ADAGRAD"),
                      ("rowwise-adagrad", "EXACT_ROWWISE_ADAGRAD")):
        tbe = tbe_ops.SplitTableBatchedEmbeddingBagsCodegen(
            [(rows, cols, EmbeddingLocation.HOST, tbe_ops.ComputeDevice.CPU)],
            optimizer=getattr(EmbOptimType, name), learning_rate=0.05,
            eps=1e-8, pooling_mode=PoolingMode.NONE)
        with torch.no_grad():
            tbe.split_embedding_weights()[0].copy_(torch.from_numpy(W0))
        m = make_matrix(rows, cols, "float32", opt, W0)
        for t in range(5):
            idx = rng.integers(0, rows // 2, n)     # duplicates on purpose
            g = rng.normal(0, 1, (n, cols)).astype(np.float32)
            out = tbe(torch.from_numpy(idx),
                      torch.arange(n + 1, dtype=torch.int64))
            out.backward(torch.from_numpy(g))
            apply(m, idx, g, "float32", dict(P, lr=0.05))
        got = matrix_of(m, "float32", rows, cols)
        want = tbe.split_embedding_weights()[0].detach().numpy()
        expect(np.allclose(got, want, rtol=1e-5, atol=1e-6),
               f"{opt}: max diff to FBGEMM {np.max(np.abs(got - want))}")

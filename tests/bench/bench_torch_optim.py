#!/usr/bin/python3
# gst-sharedmatrix: torch's and FBGEMM's sparse optimizer steps on the cases
# of bench-optimizers
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Times one sparse optimizer step in torch and, when fbgemm_gpu imports,
FBGEMM's CPU table-batched embedding, on the cases of bench-optimizers
(70,000 x 100 float32 with 200 rows per update, 1,000,000 x 128 with
4,096; int32-range row indices uniform over the rows, duplicates allowed;
float32 gradients uniform in [-1, 1)). With --c-csv (bench-optimizers'
CSV of the same run) it prints how many times faster the library's step is
than each, against torch's best thread count.

What is timed, per update:
- torch: `weight.grad` set to the update's sparse COO gradient (what
  nn.Embedding(sparse=True)'s backward produces: one row per occurrence,
  uncoalesced), then `optimizer.step ()`: SGD, Adagrad, SparseAdam on the
  embedding's weight; `add` is `index_add_`. torch has no row-wise Adagrad.
- FBGEMM: SplitTableBatchedEmbeddingBagsCodegen on the host (one table,
  pooling NONE) with EXACT_SGD, EXACT_ADAGRAD, EXACT_ROWWISE_ADAGRAD (its
  CPU mode has no Adam):
  forward over the update's rows, then backward of the gradient rows, which
  applies the fused step; the forward alone is timed too and subtracted
  (column "step"), so the figure is the backward + optimizer.

Methods alternate sample by sample (as in the C benchmarks) and figures
are medians. torch and FBGEMM are not packaged in Debian: run it with
BENCH_PYTHON naming a private virtual environment that has them
(`tests/bench/run.sh --with-torch` makes one). Prints figures only, never
fails on time.
"""
import argparse
import csv
import os
import sys
import warnings

import numpy as np

from bench_numpy import time_alternating

try:
    import torch
except Exception:
    torch = None
# torch's sparse optimizers build tensors without invariant checks and say so
warnings.filterwarnings("ignore", message="Sparse invariant checks")
try:
    import fbgemm_gpu  # noqa: F401  (registers torch.ops.fbgemm)
    from fbgemm_gpu.split_embedding_configs import EmbOptimType
    from fbgemm_gpu.split_table_batched_embeddings_ops_common import (
        EmbeddingLocation, PoolingMode)
    from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
        ComputeDevice, SplitTableBatchedEmbeddingBagsCodegen)
    FBGEMM_ERROR = None
except Exception as e:  # optional, and not always installable
    fbgemm_gpu = None
    FBGEMM_ERROR = "%s: %s" % (type(e).__name__, e)

CASES = [
    ("70,000x100, 200 rows", 70000, 100, 200),
    ("1,000,000x128, 4,096", 1000000, 128, 4096),
]
STEPS = ["add", "sgd", "adagrad", "rowwise-adagrad", "adam"]
LR, EPS = 0.01, 1e-8


def make_updates(rows, cols, n, seed):
    """As bench-optimizers: 64 MB of pre-built updates, at least 2"""
    rng = np.random.default_rng(seed)
    n_bufs = max(2, min(256, (64 << 20) // (n * (4 + 4 * cols))))
    idx = [rng.integers(0, rows, n).astype(np.int64) for _ in range(n_bufs)]
    grads = [rng.uniform(-1, 1, (n, cols)).astype(np.float32)
             for _ in range(n_bufs)]
    return idx, grads


def cycler(n):
    state = {"k": 0}

    def nxt():
        state["k"] = (state["k"] + 1) % n
        return state["k"]
    return nxt


def torch_methods(rows, cols, idx, grads):
    """(label, step name, fn) for torch's steps; each has its own table"""
    tidx = [torch.from_numpy(i) for i in idx]
    tgrad = [torch.from_numpy(g) for g in grads]
    sparse = [torch.sparse_coo_tensor(i.unsqueeze(0), g, (rows, cols),
                                      check_invariants=False)
              for i, g in zip(tidx, tgrad)]
    out = []

    table = torch.zeros((rows, cols), dtype=torch.float32)
    nxt = cycler(len(tidx))

    def index_add():
        k = nxt()
        table.index_add_(0, tidx[k], tgrad[k])
    out.append(("add", index_add))

    for step, make in (
            ("sgd", lambda p: torch.optim.SGD(p, lr=LR)),
            ("adagrad", lambda p: torch.optim.Adagrad(p, lr=LR, eps=EPS)),
            ("adam", lambda p: torch.optim.SparseAdam(p, lr=LR, eps=EPS))):
        emb = torch.nn.Embedding(rows, cols, sparse=True)
        with torch.no_grad():
            emb.weight.zero_()
        opt = make(list(emb.parameters()))
        nxt_s = cycler(len(sparse))

        def fn(emb=emb, opt=opt, nxt_s=nxt_s):
            emb.weight.grad = sparse[nxt_s()]
            opt.step()
        fn()  # creates the state (dense, allocated on the first step)
        out.append((step, fn))
    return out


FBGEMM_OPTIM = {
    "sgd": "EXACT_SGD",
    "adagrad": "EXACT_ADAGRAD",
    "rowwise-adagrad": "EXACT_ROWWISE_ADAGRAD",
}


def fbgemm_methods(rows, cols, idx, grads):
    """(step, fwd+bwd fn, fwd fn) for FBGEMM's fused host steps"""
    tidx = [torch.from_numpy(i) for i in idx]
    tgrad = [torch.from_numpy(g) for g in grads]
    offsets = [torch.arange(len(i) + 1, dtype=torch.int64) for i in idx]
    out = []
    for step, name in FBGEMM_OPTIM.items():
        tbe = SplitTableBatchedEmbeddingBagsCodegen(
            [(rows, cols, EmbeddingLocation.HOST, ComputeDevice.CPU)],
            optimizer=getattr(EmbOptimType, name), learning_rate=LR,
            eps=EPS, pooling_mode=PoolingMode.NONE)
        nxt = cycler(len(tidx))
        nxt_f = cycler(len(tidx))

        def step_fn(tbe=tbe, nxt=nxt):
            k = nxt()
            tbe(tidx[k], offsets[k]).backward(tgrad[k])

        def fwd_fn(tbe=tbe, nxt_f=nxt_f):
            k = nxt_f()
            with torch.no_grad():
                tbe(tidx[k], offsets[k])
        step_fn()
        out.append((step, step_fn, fwd_fn))
    return out


def read_c_csv(path):
    """{(case label, step): (µs, bound µs)} from bench-optimizers --csv
    (its labels are CASES' labels)"""
    out = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for row in csv.DictReader(f):
                out[(row["case"], row["step"])] = (float(row["us"]),
                                                   float(row["bound_us"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=9)
    # as the C benchmarks' samples: both sides pay the same start of a
    # sample (threads to wake, caches other methods' samples flushed)
    ap.add_argument("--sample-ms", type=float, default=2.0)
    ap.add_argument("-q", "--quick", action="store_true")
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--no-sweep", action="store_true",
                    help="accepted as run.sh passes it; there is no sweep")
    ap.add_argument("--csv", help="write the medians here")
    ap.add_argument("--c-csv", help="bench-optimizers' CSV of the same run")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.sample_ms = 3, 1.0

    if torch is None:
        print("torch optimizers: not available (import torch failed; torch "
              "is not packaged in Debian: tests/bench/run.sh --with-torch)")
        return 0
    threads = torch.get_num_threads()
    print("torch %s (%d threads by default), FBGEMM %s; us per optimizer "
          "step, median of %d; x: how many times faster the library's step "
          "(bench-optimizers, same run) is than torch's best thread count "
          "and than FBGEMM; bound: the bytes the step must move at the "
          "memory bandwidth bench-optimizers measured" % (
              torch.__version__, threads,
              getattr(fbgemm_gpu, "__version__", "?") if fbgemm_gpu
              else "not available", args.reps))
    if fbgemm_gpu is None:
        print("  (FBGEMM: %s)" % FBGEMM_ERROR)
    c = read_c_csv(args.c_csv)
    print("%-26s %-16s %9s %9s %9s %9s %9s %9s | %9s %9s %11s" % (
        "case", "step", "ours", "bound", "torch", "torch 1t", "FBGEMM",
        "fbgemm fw", "torch/us", "FBGEMM/us", "torch/bound"))
    out_rows = []
    for i, (label, rows, cols, n) in enumerate(CASES):
        if args.no_big and rows > 100000:
            continue
        idx, grads = make_updates(rows, cols, n, 1 + i)
        methods = []
        set_default = lambda: torch.set_num_threads(threads)
        set_one = lambda: torch.set_num_threads(1)
        for step, fn in torch_methods(rows, cols, idx, grads):
            methods.append(("torch " + step, fn, set_default))
            if threads > 1:
                methods.append(("torch1 " + step, fn, set_one))
        if fbgemm_gpu is not None:
            for step, fn, fwd in fbgemm_methods(rows, cols, idx, grads):
                methods.append(("fbgemm " + step, fn, set_default))
                methods.append(("fbgemm-fwd " + step, fwd, set_default))
        res = {k: v[0] for k, v in time_alternating(
            methods, args.reps, args.sample_ms).items()}
        torch.set_num_threads(threads)
        for step in STEPS:
            ours, bound = c.get((label, step), (None, None))
            t_all = [res[k] for k in ("torch " + step, "torch1 " + step)
                     if k in res]
            t_best = min(t_all) if t_all else None
            fb = res.get("fbgemm " + step)
            fb_fwd = res.get("fbgemm-fwd " + step)
            fb_step = fb - fb_fwd if fb is not None else None

            def fig(v):
                return "%9.1f" % v if v is not None else "%9s" % "-"

            def ratio(v, base, width=9):
                return ("%*.1fx" % (width - 1, v / base) if v and base
                        else "%*s" % (width, "-"))
            # torch/bound: the most any code could be faster than torch here
            print("%-26s %-16s %s %s %s %s %s %s | %s %s %s" % (
                label, step, fig(ours), fig(bound),
                fig(res.get("torch " + step)),
                fig(res.get("torch1 " + step)), fig(fb_step), fig(fb_fwd),
                ratio(t_best, ours), ratio(fb_step, ours),
                ratio(t_best, bound, 11)))
            out_rows.append((label, step, ours, bound,
                             res.get("torch " + step),
                             res.get("torch1 " + step), fb_step, fb_fwd))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case", "step", "ours_us", "bound_us", "torch_us",
                        "torch1_us",
                        "fbgemm_step_us", "fbgemm_fwd_us"])
            for r in out_rows:
                w.writerow(r[:2] + tuple("" if x is None else "%.3f" % x
                                         for x in r[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# gst-sharedmatrix: the same sparse updates with numpy and torch
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Times np.add.at and torch's index_add_ (when `import torch` works) on the
cases of bench-sharedmatrix: a float32 matrix, N random int32 row indices,
N x cols float32 deltas, op add, duplicates combined. Methods are
interleaved sample by sample and the figures are medians, as in the C
benchmark. With --c-csv (the C benchmark's CSV from the same run) it prints
the element's speed-up over each. Prints figures only, never fails on time.
"""
import argparse
import csv
import os
import statistics
import sys
import time

import numpy as np

try:
    import torch
except Exception:  # not in Debian: reported, not required
    torch = None

CASES = [
    ("70,000x100, 200 rows", 70000, 100, 200),
    ("1,000,000x128, 4,096 rows", 1000000, 128, 4096),
    ("70,000x100, 1 row", 70000, 100, 1),
]
SWEEP = [2 ** k for k in range(17)]


def make_updates(rows, cols, n, seed):
    rng = np.random.default_rng(seed)
    size = n * (4 + 4 * cols)
    n_bufs = max(2, min(256, (64 << 20) // max(size, 1)))
    idx = [rng.integers(0, rows, n, dtype=np.int32) for _ in range(n_bufs)]
    deltas = [rng.uniform(-1, 1, (n, cols)).astype(np.float32)
              for _ in range(n_bufs)]
    return idx, deltas


TORCH_THREADS = torch.get_num_threads() if torch is not None else 0


def methods_for(rows, cols, n, seed):
    """(name, callable doing one update, callable run before each sample)
    for every available method"""
    idx, deltas = make_updates(rows, cols, n, seed)
    m = np.zeros((rows, cols), dtype=np.float32)
    state = {"k": 0}

    def np_add_at():
        k = state["k"] = (state["k"] + 1) % len(idx)
        np.add.at(m, idx[k], deltas[k])

    nothing = lambda: None
    out = [("numpy add.at", np_add_at, nothing)]
    if torch is not None:
        tm = torch.zeros((rows, cols), dtype=torch.float32)
        tidx = [torch.from_numpy(i.astype(np.int64)) for i in idx]
        tdel = [torch.from_numpy(d) for d in deltas]
        tstate = {"k": 0}

        def torch_index_add():
            k = tstate["k"] = (tstate["k"] + 1) % len(tidx)
            tm.index_add_(0, tidx[k], tdel[k])

        # torch's default (one thread per core) and one thread: on a small
        # machine shared with other work the thread handoff can dominate
        out.append(("torch index_add_", torch_index_add,
                    lambda: torch.set_num_threads(TORCH_THREADS)))
        if TORCH_THREADS > 1:
            out.append(("torch index_add_ 1 thread", torch_index_add,
                        lambda: torch.set_num_threads(1)))
    return out


def time_alternating(methods, reps, sample_ms):
    """{name: (median, p25, p75) µs per call} for methods = [(name, fn,
    before)]: every sample times about sample_ms of consecutive calls, and
    the methods alternate sample by sample so background load hits all of
    them alike (bench_torch_optim.py uses it too)"""
    iters = {}
    for name, fn, before in methods:
        before()
        fn()  # warm up
        t0 = time.perf_counter()
        for _ in range(3):
            fn()
        t = (time.perf_counter() - t0) / 3
        iters[name] = max(1, min(100000, int(sample_ms * 1e-3 / max(t, 1e-7))))
    samples = {name: [] for name, _, _ in methods}
    for _ in range(reps):
        for name, fn, before in methods:
            before()
            k = iters[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            samples[name].append((time.perf_counter() - t0) / k * 1e6)
    result = {}
    for name, v in samples.items():
        v.sort()
        result[name] = (statistics.median(v), v[len(v) // 4],
                        v[(3 * len(v)) // 4])
    return result


def run(rows, cols, n, reps, sample_ms, seed):
    return time_alternating(methods_for(rows, cols, n, seed), reps,
                            sample_ms)


def read_c_csv(path):
    """{(group, rows, cols, n, method): median µs}"""
    out = {}
    if not path or not os.path.exists(path):
        return out
    with open(path) as f:
        for row in csv.DictReader(f):
            out[(row["group"], int(row["rows"]), int(row["cols"]),
                 int(row["n"]), row["method"])] = float(row["median_us"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--sweep-reps", type=int, default=5)
    # as the C benchmarks' samples: both sides pay the same start of a
    # sample (threads to wake, caches other methods' samples flushed)
    ap.add_argument("--sample-ms", type=float, default=2.0)
    ap.add_argument("-q", "--quick", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--csv", help="write the medians here (for plot.py)")
    ap.add_argument("--c-csv", help="the C benchmark's CSV of the same run")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.sweep_reps, args.sample_ms = 3, 2, 1.0

    c = read_c_csv(args.c_csv)
    rows_out = []
    print("numpy %s, torch %s; us per update, median of %d; x/elem: "
          "how many times the element (GstHarness, from the C benchmark's "
          "CSV) is faster" % (
              np.__version__, "%s (%d threads by default)" % (
                  torch.__version__, TORCH_THREADS) if torch
              else "not available", args.reps))
    hdr = "%-26s %13s %17s %17s | %13s %13s %13s %15s" % (
        "case", "numpy add.at", "torch index_add_", "torch 1 thread",
        "numpy/elem", "torch/elem", "torch1/elem", "torch best/elem")
    print(hdr)

    def line(label, group, rows, cols, n, res):
        elem = c.get((group, rows, cols, n, "harness"))

        def fig(name):
            return "%17.3f" % res[name][0] if name in res else \
                "%17s" % "not available"

        def ratio(us, width=13):
            if us is not None and elem:
                return "%*.1fx" % (width - 1, us / elem)
            return "%*s" % (width, "-")

        def med(name):
            return res[name][0] if name in res else None

        # torch at its best thread count for this case
        torch_us = [med(k) for k in ("torch index_add_",
                                     "torch index_add_ 1 thread") if k in res]
        print("%-26s %13.3f %s %s | %s %s %s %s" % (
            label, res["numpy add.at"][0], fig("torch index_add_"),
            fig("torch index_add_ 1 thread"), ratio(med("numpy add.at")),
            ratio(med("torch index_add_")),
            ratio(med("torch index_add_ 1 thread")),
            ratio(min(torch_us) if torch_us else None, 15)))
        for name, (med, p25, p75) in res.items():
            rows_out.append((group, rows, cols, n, name, med, p25, p75))

    for i, (label, rows, cols, n) in enumerate(CASES):
        if args.no_big and rows > 100000:
            continue
        line(label, "case", rows, cols, n,
             run(rows, cols, n, args.reps, args.sample_ms, 1 + i))
    if not args.no_sweep:
        print("\nSweep over N, 70,000 x 100 float32 (median of %d):" %
              args.sweep_reps)
        print(hdr)
        for n in SWEEP:
            line("N = %d" % n, "sweep", 70000, 100, n,
                 run(70000, 100, n, args.sweep_reps, args.sample_ms, 100 + n))
    if torch is None:
        print("\ntorch: not available (import torch failed; it is not "
              "packaged in Debian)")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["group", "rows", "cols", "n", "method", "median_us",
                        "p25_us", "p75_us"])
            for r in rows_out:
                w.writerow(r[:5] + tuple("%.4f" % x for x in r[5:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# gst-sharedmatrix: plot the benchmark sweep (µs per update against N)
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads the CSV files of bench-sharedmatrix and bench_numpy.py and draws
µs per update against N (70,000 x 100 float32) for every method, log-log.
Needs Debian's python3-matplotlib (tests/bench/run.sh installs it)."""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "library": "library call (gst_shared_matrix_update)",
    "harness": "element (GstHarness)",
    "pipeline": "element in a pipeline (appsrc ! sharedmatrix ! fakesink)",
    "plain": "plain C loop",
    "prefetch": "C loop + prefetch",
    "copy": "full copy (get_value / set_value)",
    "bound": "bandwidth bound (2 threads, STREAM)",
    "numpy add.at": "numpy add.at",
    "torch index_add_": "torch index_add_ (default threads)",
    "torch index_add_ 1 thread": "torch index_add_ (1 thread)",
}
STYLE = {
    "harness": dict(color="C3", lw=2.5, marker="o"),
    "library": dict(color="C1", marker="."),
    "pipeline": dict(color="C5", marker="s", ms=4),
    "plain": dict(color="C0", ls="--", marker="."),
    "prefetch": dict(color="C9", ls="--", marker="."),
    "copy": dict(color="C7", marker="x"),
    "bound": dict(color="k", ls=":", lw=1.5),
    "numpy add.at": dict(color="C2", marker="^", ms=4),
    "torch index_add_": dict(color="C4", marker="v", ms=4),
    "torch index_add_ 1 thread": dict(color="C4", ls="--", marker="v", ms=4),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title", default="")
    args = ap.parse_args()

    series = {}
    for path in args.csv:
        try:
            f = open(path)
        except FileNotFoundError:
            continue
        with f:
            for row in csv.DictReader(f):
                if row["group"] != "sweep":
                    continue
                series.setdefault(row["method"], []).append(
                    (int(row["n"]), float(row["median_us"])))

    if not series:
        print("plot: no sweep in %s (run without --no-sweep)" %
              ", ".join(args.csv))
        return
    fig, ax = plt.subplots(figsize=(12, 6.5))
    for method in LABELS:
        if method not in series:
            continue
        pts = sorted(series[method])
        ax.plot([p[0] for p in pts], [p[1] for p in pts],
                label=LABELS[method], **STYLE.get(method, {}))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("N, rows per update (70,000 x 100 float32 matrix, op add)")
    ax.set_ylabel("µs per update (median)")
    ax.set_title(args.title or "gst-sharedmatrix: time per sparse update")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print("plot written to %s" % args.output)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Online learning through a pipeline: a matrix factorisation recommender
trained by SGD on a stream of ratings while sharedmatrix applies the updates
and a consumer evaluates the snapshots it emits.

    examples/python.sh online_learning.py [--users 1000] [--items 500] [--rank 8]
        [--steps 2000] [--batch 256] [--lr 0.05] [--seed 0] [--snapshot-every 200]

The ratings come from a hidden low-rank model plus noise (numpy, fixed seed):
rating(u, i) = <p_u, q_i> + N(0, 0.1^2). One shared matrix holds the learnt
factors: rows [0, users) are the user factors, rows [users, users + items)
the item factors, cols = rank.

    appsrc (updates) -> sharedmatrix op=add snapshot-every=N -> appsink (other/tensors)

The producer (main thread) samples a minibatch of ratings, reads the current
factor rows with gather_bytes from the GstSharedMatrix the element uses,
computes the gradient of the squared error (+ a little L2) and pushes
-lr * gradient as an update buffer. A row that appears twice in one
minibatch gets both gradients (the optimizer sums duplicates first),
which is exactly the SGD sum. The consumer (a thread) pulls the periodic
snapshots and prints the held-out RMSE as it falls.
"""
import argparse
import sys
import threading
import time

import numpy as np

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gst", "1.0")
gi.require_version("GstSharedMatrix", "1.0")
from gi.repository import GLib, Gst, GstSharedMatrix as SM  # noqa: E402

NOISE = 0.1          # std of the rating noise: the best RMSE reachable
L2 = 0.01            # weight decay on the factor rows a minibatch touches
INIT_SCALE = 0.1     # std of the initial factors (zero would be a saddle point)
HELD_OUT = 5000      # ratings kept aside to evaluate on
# The producer reads the factors while earlier updates may still wait in
# appsrc's queue: its gradients are computed on parameters that miss those
# updates. appsrc blocks push-buffer once MAX_QUEUED buffers wait, so a
# gradient is never more than MAX_QUEUED + 1 updates stale (the +1 being
# applied). Bounded staleness keeps SGD converging like the sequential
# version, while the element still applies one update as the producer
# computes the next.
MAX_QUEUED = 2


class RatingsStream:
    """Ratings of a hidden rank-@rank model, drawn uniformly over the
    (user, item) pairs; the true factors are scaled so ratings have unit
    variance before the noise."""

    def __init__(self, users, items, rank, rng):
        self.rng = rng
        self.user_factors = rng.normal(0, rank ** -0.25, (users, rank))
        self.item_factors = rng.normal(0, rank ** -0.25, (items, rank))

    def sample(self, n):
        users = self.rng.integers(0, len(self.user_factors), n)
        items = self.rng.integers(0, len(self.item_factors), n)
        ratings = np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[items])
        return users, items, ratings + self.rng.normal(0, NOISE, n)


def rmse(factors, n_users, ratings):
    users, items, values = ratings
    predicted = np.einsum("ij,ij->i", factors[users], factors[n_users + items])
    return float(np.sqrt(np.mean((predicted - values) ** 2)))


def gradient_update(matrix, n_users, ratings):
    """The update for one minibatch: (row indices, gradients) of
    1/2 (rating - <p_u, q_i>)^2 + L2/2 (|p_u|^2 + |q_i|^2). The element's
    optimizer turns them into a step (sums duplicate rows first)."""
    users, items, values = ratings
    rows = np.concatenate([users, n_users + items]).astype("<i4")
    current = np.frombuffer(matrix.gather_bytes(GLib.Bytes.new(rows.tobytes()),
                                                SM.IndexType.INT32).get_data(), "<f4")
    p, q = np.split(current.reshape(len(rows), -1), 2)
    error = values - np.einsum("ij,ij->i", p, q)
    grad_p = -error[:, None] * q + L2 * p
    grad_q = -error[:, None] * p + L2 * q
    return rows, np.concatenate([grad_p, grad_q]).astype("<f4")


def report(table, updates, version, error, elapsed):
    table.append((updates, version, error, elapsed))
    print(f"{updates:>9}  {version:>8}  {error:>13.4f}  {elapsed:>7.2f} s", flush=True)


def evaluate_snapshots(sink, shape, n_users, held_out, init_version, start, table):
    """Consumer: pulls snapshots until EOS and reports each one. A snapshot's
    OFFSET is the matrix version it shows."""
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:          # EOS, or the pipeline stopped
            return
        buf = sample.get_buffer()
        if buf.offset == table[-1][1]:
            continue    # the EOS snapshot repeats the last periodic one
        factors = np.frombuffer(buf.extract_dup(0, buf.get_size()), "<f4").reshape(shape)
        report(table, buf.offset - init_version, buf.offset,
               rmse(factors, n_users, held_out), time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000, help="minibatches (updates)")
    parser.add_argument("--batch", type=int, default=256, help="ratings per minibatch")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate")
    parser.add_argument("--optimizer", default="sgd",
                        choices=["sgd", "adagrad", "rowwise-adagrad", "adam"],
                        help="the sharedmatrix optimizer applying the gradients")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--snapshot-every", type=int, default=200,
                        help="updates between evaluated snapshots")
    args = parser.parse_args()

    Gst.init(None)
    rng = np.random.default_rng(args.seed)
    stream = RatingsStream(args.users, args.items, args.rank, rng)
    held_out = stream.sample(HELD_OUT)
    shape = (args.users + args.items, args.rank)

    matrix = SM.SharedMatrix.new(shape[0], shape[1], SM.DType.FLOAT32, SM.Backend.AUTO)
    initial = rng.normal(0, INIT_SCALE, shape).astype("<f4")
    matrix.set_value(GLib.Bytes.new(initial.tobytes()))
    init_version = matrix.props.version

    pipeline = Gst.parse_launch(
        f"appsrc name=updates block=true max-buffers={MAX_QUEUED} max-bytes=0 "
        f"caps=application/x-matrix-update,dtype=float32,index-type=int32,cols={args.rank} "
        f"! sharedmatrix name=model optimizer={args.optimizer} learning-rate={args.lr} "
        f"snapshot-every={args.snapshot_every} "
        f"! other/tensors ! appsink name=snapshots sync=false")
    pipeline.get_by_name("model").props.matrix = matrix   # the producer's matrix
    source = pipeline.get_by_name("updates")
    sink = pipeline.get_by_name("snapshots")

    print(f"{args.users} users x {args.items} items, rank {args.rank}, {args.steps} minibatches "
          f"of {args.batch} ratings, {args.optimizer} lr {args.lr}, on {matrix.props.backend.value_nick}")
    print(f"held-out RMSE of predicting the mean rating: {held_out[2].std():.4f}, "
          f"noise floor: {NOISE:.4f}")
    print("  updates   version  held-out RMSE  elapsed")
    table = []
    start = time.perf_counter()
    report(table, 0, init_version, rmse(initial, args.users, held_out), 0.0)
    consumer = threading.Thread(target=evaluate_snapshots, args=(
        sink, shape, args.users, held_out, init_version, start, table))
    pipeline.set_state(Gst.State.PLAYING)
    consumer.start()    # after appsink started: before, pull-sample returns None

    most_stale = 0
    for step in range(args.steps):
        # updates pushed but not applied yet: this gradient cannot see them
        most_stale = max(most_stale, step - (matrix.props.version - init_version))
        rows, deltas = gradient_update(matrix, args.users, stream.sample(args.batch))
        buf = Gst.Buffer.new_wrapped(rows.tobytes() + deltas.tobytes())
        buf.offset = step      # the producer's sequence number
        if source.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            break              # the pipeline failed: the bus says why
    source.emit("end-of-stream")

    msg = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    # appsink posts EOS once its last snapshot was pulled; stopping the
    # pipeline ends the consumer's wait either way
    pipeline.set_state(Gst.State.NULL)
    consumer.join()
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        sys.exit(f"online_learning: pipeline failed: {err.message} ({debug})")
    final = table[-1]
    print(f"final held-out RMSE: {final[2]:.4f} after {final[0]} updates "
          f"(initial {table[0][2]:.4f}) in {time.perf_counter() - start:.2f} s")
    print(f"staleness: each gradient missed at most {most_stale} pushed updates "
          f"(bound: {MAX_QUEUED + 1})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

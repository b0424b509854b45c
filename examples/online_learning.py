#!/usr/bin/env python3
"""Online learning through a pipeline: a matrix factorisation recommender
trained on a stream of ratings, reading its rows through matrixlookup and
sending raw gradients to sharedmatrix, which applies an optimizer step in
place. Trains with sgd and with an adaptive optimizer and prints both
held-out error curves side by side.

    examples/python.sh online_learning.py [--users 1000] [--items 500] [--rank 8]
        [--steps 2000] [--batch 256] [--group 4] [--lr-sgd 0.05]
        [--adaptive rowwise-adagrad] [--lr-adaptive 0.3] [--seed 0] [--eval-every 200]

The ratings come from a hidden low-rank model plus noise (numpy, fixed seed):
rating(u, i) = <p_u, q_i> + N(0, 0.1^2). One shared matrix holds the learnt
factors: rows [0, users) are the user factors, rows [users, users + items)
the item factors, cols = rank. One pipeline per optimizer, two branches on
the matrix named mf-<optimizer>:

    appsrc (row ids) ! matrixlookup matrix-name=mf-<opt> ! appsink (ids + rows)
    appsrc (gradients) ! sharedmatrix matrix-name=mf-<opt> optimizer=<opt>

The producer (the main thread) works in groups of --group minibatches: it
pushes the row ids of the group's minibatches as one GstBufferList of
requests, pulls the one list of answers (each: the ids, then their rows as
they are now), computes the gradient of the squared error of each minibatch
with numpy and pushes the group's gradients as one GstBufferList; the
element sums each buffer's duplicate rows and takes one optimizer step per
buffer (weight decay included). A marker event behind the list tells the
producer when the group has been applied, so the next group reads the
updated rows: minibatch k of a group misses the k earlier updates of its
group, never more, and every run of the same arguments prints the same
numbers.
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
WEIGHT_DECAY = 0.01  # sharedmatrix weight-decay: L2 on the rows a minibatch touches
INIT_SCALE = 0.1     # std of the initial factors (zero would be a saddle point)
HELD_OUT = 5000      # ratings kept aside to evaluate on


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


def gradients(answer, rank, values):
    """The update buffer for one minibatch from matrixlookup's answer to its
    request (the 2n ids: users, then users + items; then their 2n rows): the
    same ids and the gradients of 1/2 (rating - <p_u, q_i>)^2. A row twice
    in the minibatch gets both gradients; sharedmatrix sums them."""
    n = len(values)
    data = answer.extract_dup(0, answer.get_size())
    current = np.frombuffer(data, "<f4", 2 * n * rank, 2 * n * 4).reshape(2 * n, rank)
    p, q = current[:n], current[n:]
    error = (values - np.einsum("ij,ij->i", p, q))[:, None]
    grad = np.concatenate([-error * q, -error * p]).astype("<f4")
    return Gst.Buffer.new_wrapped(data[:2 * n * 4] + grad.tobytes())


class Applied:
    """Counts the marker events that reach sharedmatrix's sink pad: the
    streaming thread handles a pad's buffers and events in order, so when a
    marker arrives everything pushed before it has been applied."""

    def __init__(self, pad):
        self.count = 0
        self.cond = threading.Condition()
        pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._probe)

    def _probe(self, pad, info):
        event = info.get_event()
        if event.type == Gst.EventType.CUSTOM_DOWNSTREAM and \
                event.get_structure().has_name("applied-marker"):
            with self.cond:
                self.count += 1
                self.cond.notify()
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    def wait(self, count, bus):
        with self.cond:
            while self.count < count:
                if not self.cond.wait(1.0):
                    fail_on_error(bus)


def fail_on_error(bus):
    msg = bus.pop_filtered(Gst.MessageType.ERROR)
    if msg:
        err, debug = msg.parse_error()
        sys.exit(f"online_learning: pipeline failed: {err.message} ({debug})")


def train(args, optimizer, lr):
    """Trains one model with @optimizer at learning rate @lr; returns the
    curve [(updates, held-out RMSE)] every --eval-every updates, the seconds
    it took, the most updates a gradient missed, and the backend."""
    rng = np.random.default_rng(args.seed)       # the same stream for every optimizer
    stream = RatingsStream(args.users, args.items, args.rank, rng)
    held_out = stream.sample(HELD_OUT)
    shape = (args.users + args.items, args.rank)

    # the application makes the matrix (random factors: zero is a saddle
    # point) and hands it to sharedmatrix, which registers it under the name
    matrix = SM.SharedMatrix.new(shape[0], shape[1], SM.DType.FLOAT32, SM.Backend.AUTO)
    initial = rng.normal(0, INIT_SCALE, shape).astype("<f4")
    matrix.set_value(GLib.Bytes.new(initial.tobytes()))
    version = matrix.props.version                # set_value counts as one

    name = f"mf-{optimizer}"
    pipeline = Gst.parse_launch(
        f"appsrc name=requests format=bytes caps=application/x-matrix-ids,index-type=int32 "
        f"! matrixlookup matrix-name={name} ! appsink name=rows sync=false async=false buffer-list=true "
        f"appsrc name=gradients format=bytes "
        f"caps=application/x-matrix-update,dtype=float32,index-type=int32,cols={args.rank} "
        f"! sharedmatrix name=model matrix-name={name} optimizer={optimizer} "
        f"learning-rate={lr} weight-decay={WEIGHT_DECAY} snapshot-on-eos=false")
    model = pipeline.get_by_name("model")
    model.props.matrix = matrix
    requests, rows_sink = pipeline.get_by_name("requests"), pipeline.get_by_name("rows")
    grad_src, bus = pipeline.get_by_name("gradients"), pipeline.get_bus()
    applied = Applied(model.get_static_pad("sink"))
    # async=false: the pipeline plays at once, without prerolling an answer
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE or \
            pipeline.get_state(Gst.CLOCK_TIME_NONE)[0] != Gst.StateChangeReturn.SUCCESS:
        fail_on_error(bus)
        sys.exit("online_learning: the pipeline does not start")

    def evaluate(updates):
        raw = model.emit("snapshot").get_buffer()   # a consistent copy, other/tensors
        factors = np.frombuffer(raw.extract_dup(0, raw.get_size()), "<f4").reshape(shape)
        curve.append((updates, rmse(factors, args.users, held_out)))

    curve, step, groups, most_stale = [], 0, 0, 0
    start = time.perf_counter()
    evaluate(0)
    while step < args.steps:
        group = [stream.sample(args.batch) for _ in range(min(args.group, args.steps - step))]
        ids = Gst.BufferList.new()
        for users, items, _ in group:
            ids.insert(-1, Gst.Buffer.new_wrapped(
                np.concatenate([users, args.users + items]).astype("<i4").tobytes()))
        if requests.emit("push-buffer-list", ids) != Gst.FlowReturn.OK:
            break
        sample = rows_sink.emit("pull-sample")     # one list of answers per list of requests
        if sample is None:
            break
        answers = sample.get_buffer_list()
        grads = Gst.BufferList.new()
        for k, (_, _, values) in enumerate(group):
            answer = answers.get(k)
            # OFFSET: the version the rows show; every earlier group is in
            if answer.offset != version:
                sys.exit(f"online_learning: rows of version {answer.offset}, expected {version}")
            buf = gradients(answer, args.rank, values)
            buf.offset = step + k      # the producer's sequence number
            grads.insert(-1, buf)
            most_stale = max(most_stale, k)   # updates of its group it cannot see
        if grad_src.emit("push-buffer-list", grads) != Gst.FlowReturn.OK:
            break
        grad_src.send_event(Gst.Event.new_custom(
            Gst.EventType.CUSTOM_DOWNSTREAM, Gst.Structure.new_empty("applied-marker")))
        groups += 1
        step += len(group)
        version += len(group)
        applied.wait(groups, bus)
        if step % args.eval_every == 0 or step == args.steps:
            evaluate(step)
    elapsed = time.perf_counter() - start

    requests.emit("end-of-stream")
    grad_src.emit("end-of-stream")
    bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    fail_on_error(bus)
    pipeline.set_state(Gst.State.NULL)
    if step < args.steps:
        sys.exit("online_learning: the pipeline stopped early")
    return curve, elapsed, most_stale, matrix.props.backend.value_nick


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000, help="minibatches (updates)")
    parser.add_argument("--batch", type=int, default=256, help="ratings per minibatch")
    parser.add_argument("--group", type=int, default=4,
                        help="minibatches read and pushed as one buffer list")
    parser.add_argument("--lr-sgd", type=float, default=0.05, help="sgd learning rate")
    parser.add_argument("--adaptive", default="rowwise-adagrad", choices=["rowwise-adagrad", "adam"],
                        help="the adaptive optimizer compared with sgd")
    parser.add_argument("--lr-adaptive", type=float, default=0.3,
                        help="the adaptive optimizer's learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=200,
                        help="updates between held-out evaluations (a multiple of --group)")
    args = parser.parse_args()
    if args.group < 1 or args.eval_every % args.group:
        parser.error("--eval-every must be a multiple of --group")

    Gst.init(None)
    held_out = RatingsStream(args.users, args.items, args.rank,
                             np.random.default_rng(args.seed)).sample(HELD_OUT)
    runs = [("sgd", args.lr_sgd), (args.adaptive, args.lr_adaptive)]
    results = [train(args, opt, lr) for opt, lr in runs]
    print(f"{args.users} users x {args.items} items, rank {args.rank}, {args.steps} minibatches "
          f"of {args.batch} ratings in buffer lists of {args.group}, on {results[0][3]}")
    print(f"held-out RMSE of predicting the mean rating: {held_out[2].std():.4f}, "
          f"noise floor: {NOISE:.4f}")
    heads = [f"{opt} lr {lr:g}" for opt, lr in runs]
    print(f"  updates  {heads[0]:>16}  {heads[1]:>24}")
    for (updates, a), (_, b) in zip(results[0][0], results[1][0]):
        print(f"{updates:>9}  {a:>16.4f}  {b:>24.4f}")
    for (opt, lr), (curve, _, _, _) in zip(runs, results):
        print(f"final held-out RMSE {opt}: {curve[-1][1]:.4f} after {curve[-1][0]} updates "
              f"(initial {curve[0][1]:.4f}, noise floor {NOISE:.4f})")
    print(f"staleness: each gradient missed at most {max(r[2] for r in results)} updates "
          f"(the earlier ones of its buffer list)")
    print(f"time: {' + '.join(f'{r[1]:.2f} s' for r in results)} "
          f"(the first run includes the pipeline's warm-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

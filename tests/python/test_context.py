#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Sharing a matrix through GstContext ("gst.sharedmatrix.matrix"): each
way an element finds one (a context set on the pipeline, a neighbour's
answer to its NEED_CONTEXT query downstream or upstream, the answer to its
NEED_CONTEXT message), HAVE_CONTEXT and query answers from an element that
has one, and the precedence matrix property > context > matrix-name >
create."""

from checks import expect, note, require_elements, require_gst_sharedmatrix, require_numpy

np = require_numpy()
Gst, GLib, SM = require_gst_sharedmatrix()
require_elements(Gst, ["sharedmatrix", "updatetestsrc"])

TYPE = "gst.sharedmatrix.matrix"


def new(rows=100, cols=8):
    return SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32, SM.Backend.CPU)


def run(pipeline):
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    expect(msg is not None, "pipeline timed out")
    return msg


def feed(sm_props, n=5):
    return Gst.parse_launch(f"updatetestsrc rows=100 cols=8 batch=10 num-buffers={n} "
                            f"! sharedmatrix name=sm {sm_props}")


def test_context_format():
    m = new()
    ctx = m.make_context("emb")
    expect(ctx.get_context_type() == TYPE and ctx.is_persistent(), "type/persistence")
    ok, got, name = SM.SharedMatrix.context_get_matrix(ctx)
    expect(ok and got == m and name == "emb", f"parsed {ok} {got} {name}")
    ok, _, _ = SM.SharedMatrix.context_get_matrix(Gst.Context.new("other", True))
    expect(not ok, "another context type parsed")


def test_application_sets_context_on_pipeline():
    m = new()
    p = feed("")                      # no shape, no name: looks for a context
    p.set_context(m.make_context(None))
    msg = run(p)
    expect(msg.type == Gst.MessageType.EOS, f"{msg.type}")
    expect(p.get_by_name("sm").get_property("matrix") == m, "not the context's matrix")
    expect(m.get_version() == 5, f"version {m.get_version()}")
    # a named element takes only a context of its name
    p = feed("matrix-name=ctx-other rows=100 cols=8")
    p.set_context(m.make_context(None))
    run(p)
    expect(p.get_by_name("sm").get_property("matrix") != m, "unnamed context taken by a named element")
    expect(m.get_version() == 5, "context matrix updated by a named element")


def test_need_context_message_answered():
    m = new()
    p = feed("matrix-name=ctx-msg")
    asked = []

    def on_sync(bus, msg):
        if msg.type == Gst.MessageType.NEED_CONTEXT:
            ok, ctype = msg.parse_context_type()
            if ctype == TYPE:
                asked.append(msg.src.get_name())
                msg.src.set_context(m.make_context("ctx-msg"))
        return Gst.BusSyncReply.PASS

    p.get_bus().set_sync_handler(on_sync)
    msg = run(p)
    expect(msg.type == Gst.MessageType.EOS, f"{msg.type}")
    expect(asked == ["sm"], f"NEED_CONTEXT from {asked}")
    expect(m.get_version() == 5, f"version {m.get_version()}")


def test_have_context_posted_and_queries_answered():
    p = feed("rows=100 cols=8", n=3)
    seen = []

    def on_sync(bus, msg):
        if msg.type == Gst.MessageType.HAVE_CONTEXT:
            seen.append(msg.parse_have_context())
        return Gst.BusSyncReply.PASS

    p.get_bus().set_sync_handler(on_sync)
    p.set_state(Gst.State.PAUSED)
    p.get_state(Gst.CLOCK_TIME_NONE)
    sm = p.get_by_name("sm")
    m = sm.get_property("matrix")
    expect(len(seen) == 1, f"{len(seen)} HAVE_CONTEXT messages")
    ok, got, name = SM.SharedMatrix.context_get_matrix(seen[0])
    expect(ok and got == m and name is None, "HAVE_CONTEXT does not carry the matrix")
    for pad in ("sink", "src"):
        q = Gst.Query.new_context(TYPE)
        expect(sm.get_static_pad(pad).query(q), f"{pad} pad did not answer")
        ok, got, _ = SM.SharedMatrix.context_get_matrix(q.parse_context())
        expect(ok and got == m, f"{pad} answer")
    p.set_state(Gst.State.NULL)


def _answering_pad(direction, context):
    pad = Gst.Pad.new(f"peer-{direction.value_nick}", direction)

    def on_query(pad, parent, query):
        if query.type == Gst.QueryType.CONTEXT and query.parse_context_type()[1] == TYPE:
            query.set_context(context)
            return True
        return False

    pad.set_query_function_full(on_query)
    return pad


def test_found_by_query_downstream_and_upstream():
    for direction, our_pad in ((Gst.PadDirection.SINK, "src"),
                               (Gst.PadDirection.SRC, "sink")):
        m = new()
        sm = Gst.ElementFactory.make("sharedmatrix")
        peer = _answering_pad(direction, m.make_context(None))
        pad = sm.get_static_pad(our_pad)
        linked = pad.link(peer) if our_pad == "src" else peer.link(pad)
        expect(linked == Gst.PadLinkReturn.OK, f"link {linked}")
        expect(sm.set_state(Gst.State.PAUSED) != Gst.StateChangeReturn.FAILURE,
               f"no matrix found through the {our_pad} pad")
        expect(sm.get_property("matrix") == m, f"query via {our_pad}: another matrix")
        sm.set_state(Gst.State.NULL)
        note(f"found through the peer of the {our_pad} pad")


def test_precedence():
    a, b = new(), new()
    # matrix property > context
    p = feed("")
    p.get_by_name("sm").set_property("matrix", a)
    p.set_context(b.make_context(None))
    run(p)
    expect((a.get_version(), b.get_version()) == (5, 0), "property did not win over context")
    # context > matrix-name (registry)
    named = new()
    named.register("ctx-prec")
    p = feed("matrix-name=ctx-prec")
    p.set_context(b.make_context("ctx-prec"))
    run(p)
    expect((b.get_version(), named.get_version()) == (5, 0), "context did not win over matrix-name")
    # matrix-name > create, across pipelines
    p1, p2 = feed("matrix-name=ctx-across rows=100 cols=8"), feed("matrix-name=ctx-across")
    run(p1)
    run(p2)
    m1 = p1.get_by_name("sm").get_property("matrix")
    expect(m1 == p2.get_by_name("sm").get_property("matrix") and m1.get_version() == 10,
           "matrix-name across pipelines")
    # a context's shape must match the element's
    p = feed("matrix-name=ctx-shape rows=50 cols=8")
    p.set_context(new().make_context("ctx-shape"))
    msg = run(p)
    expect(msg.type == Gst.MessageType.ERROR and "rows=50" in msg.parse_error()[0].message,
           "shape mismatch not reported")


def test_matrixlookup_finds_the_context_matrix():
    """matrixlookup with neither matrix nor matrix-name reads the matrix of
    the pipeline's context; without one it says what is missing."""
    require_elements(Gst, ["matrixlookup", "appsrc", "appsink"])
    m = new(rows=50, cols=4)
    rows = np.arange(50 * 4, dtype="<f4").reshape(50, 4)
    m.set_value(GLib.Bytes.new(rows.tobytes()))
    ids = np.array([3, 0, 49, 3], dtype="<i4")

    def lookup(context):
        p = Gst.parse_launch(
            "appsrc name=src caps=application/x-matrix-ids,index-type=int32 "
            "format=time ! matrixlookup name=l ! appsink name=out sync=false")
        if context is not None:
            p.set_context(context)
        p.set_state(Gst.State.PLAYING)
        src = p.get_by_name("src")
        src.emit("push-buffer", Gst.Buffer.new_wrapped(ids.tobytes()))
        src.emit("end-of-stream")
        sample = p.get_by_name("out").emit("try-pull-sample", 10 * Gst.SECOND)
        msg = p.get_bus().timed_pop_filtered(
            10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        p.set_state(Gst.State.NULL)
        return sample, msg

    sample, msg = lookup(m.make_context(None))
    expect(sample is not None and msg.type == Gst.MessageType.EOS, f"{msg.type if msg else None}")
    buf = sample.get_buffer()
    data = buf.extract_dup(0, buf.get_size())
    got_ids = np.frombuffer(data[:16], "<i4")
    got = np.frombuffer(data[16:], "<f4").reshape(4, 4)
    expect((got_ids == ids).all() and (got == rows[ids]).all(), "rows read through the context")

    sample, msg = lookup(None)
    expect(msg is not None and msg.type == Gst.MessageType.ERROR, "no matrix, no error")
    err, _ = msg.parse_error()
    expect("context" in err.message and "matrix-name" in err.message, err.message)

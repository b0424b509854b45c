#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad files and impossible sizes, through the library and the element.

Every bad .npy file below is given
  - to GstSharedMatrix.SharedMatrix.new_from_npy: it must raise a GLib.Error
    in the library's domain whose message names the file and says what is
    wrong (a keyword per case);
  - as `location` to a sharedmatrix element in a pipeline: going to PLAYING
    must fail (FAILURE, no crash, no hang), the bus must carry one ERROR
    from the element (RESOURCE domain) naming the file and the reason, the
    pipeline must go back to NULL cleanly, and the same element must then
    start and run with a good file.
The files: truncated data, truncated header, bad magic, garbage in the
header dictionary, unsupported format version, wrong dtypes (int32,
complex64, a two-field record, unicode), wrong shapes (0-D, 1-D, 3-D,
empty), a header length field claiming 2 GiB, a real 2 MiB header, a
shape whose byte size overflows, a 10^12 x 1000 shape in a small file, an
empty file, a directory and a missing file.

Impossible sizes: rows=10^12 cols=1000 (4 PB) and rows=2^64-1 cols=2^31-1
through SharedMatrix.new and through the element's rows/cols: a clear
error naming the size, no crash.

Bad streams into the element through a real pipeline (appsrc): a buffer
that is not a whole number of records, data without caps, caps with other
cols than the matrix, caps with a dtype the element does not take, an
out-of-range index, and a matrix-name that already names another matrix
than the matrix property: one ERROR each, nothing of the bad data applied.

One pytest test per check; the module skips without numpy, PyGObject/Gst,
the typelib or the plugin.
"""

import io
import os
import struct
import time

from checks import (CheckFailed, expect, note, require_elements,
                    require_gst_sharedmatrix, require_numpy)

np = require_numpy()
Gst, GLib, SM = require_gst_sharedmatrix()
require_elements(Gst, ("sharedmatrix", "updatetestsrc"))

ERROR_DOMAIN = "gst-shared-matrix-error-quark"
TIMEOUT = 20 * Gst.SECOND


def npy(arr, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


def raw_npy(header_dict, data=b"", version=1, header_len=None):
    """A .npy file with exactly this header text (padded as numpy pads)."""
    text = header_dict.encode("latin1")
    prefix = 10 if version == 1 else 12
    total = (prefix + len(text) + 1 + 63) // 64 * 64
    text = text + b" " * (total - prefix - len(text) - 1) + b"\n"
    n = len(text) if header_len is None else header_len
    size = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + data


GOOD = np.arange(12, dtype="<f4").reshape(3, 4)


def bad_files():
    """(name, contents or None for a directory/missing file, keywords one
    of which the message must contain)"""
    whole = npy(GOOD)
    dict_start = 10
    return [
        ("truncated-data", whole[:-7], ["truncated"]),
        ("truncated-header", whole[:dict_start + 20], ["truncated"]),
        ("bad-magic", b"PK\x03\x04" + whole[4:], ["not a .npy file"]),
        ("garbage-dict", whole[:dict_start] + b"\x00\xff<>" +
         whole[dict_start + 4:], ["header"]),
        ("version-9", whole[:6] + b"\x09\x00" + whole[8:], ["version"]),
        ("dtype-int32", npy(GOOD.astype("<i4")), ["dtype", "<i4"]),
        ("dtype-complex64", npy(GOOD.astype("<c8")), ["dtype", "<c8"]),
        ("dtype-record", npy(np.zeros((3, 4), [("a", "<f4"), ("b", "<f4")])),
         ["dtype"]),
        ("dtype-unicode", npy(np.array([["ab", "c"]], "<U2")), ["dtype"]),
        ("shape-0d", npy(np.array(1.5, "<f4")), ["dimension", "2-D"]),
        ("shape-1d", npy(np.arange(5, dtype="<f4")), ["1 dimension", "2-D"]),
        ("shape-3d", npy(np.zeros((2, 3, 4), "<f4")),
         ["3 dimensions", "2-D"]),
        ("shape-empty", npy(np.zeros((0, 4), "<f4")), ["rows must be"]),
        ("header-len-2GiB", raw_npy("{'descr': '<f4', 'fortran_order': "
                                    "False, 'shape': (3, 4), }",
                                    GOOD.tobytes(), version=2,
                                    header_len=2 ** 31),
         ["header length", "limit"]),
        ("header-2MiB", raw_npy("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (3, 4), }" + " " * (2 << 20),
                                GOOD.tobytes(), version=2),
         ["header length", "limit"]),
        ("shape-overflow", raw_npy("{'descr': '<f8', 'fortran_order': False,"
                                   " 'shape': (4611686018427387904, 8), }",
                                   b"\0" * 64), ["too large"]),
        ("shape-1e12x1000", raw_npy("{'descr': '<f4', 'fortran_order': "
                                    "False, 'shape': (1000000000000, 1000), }",
                                    b"\0" * 64),
         ["1000000000000 x 1000", "truncated"]),
        ("empty-file", b"", ["empty"]),
        ("a-directory", None, ["directory"]),
        ("missing-file", None, ["No such file"]),
    ]


def make_file(tmp, name, contents):
    path = os.path.join(tmp, name + ".npy")
    if name == "a-directory":
        os.makedirs(path, exist_ok=True)
    elif contents is not None:
        with open(path, "wb") as f:
            f.write(contents)
    return path


def test_library_bad_files(tmp):
    n = 0
    for name, contents, words in bad_files():
        path = make_file(tmp, name, contents)
        try:
            SM.SharedMatrix.new_from_npy(path, SM.Backend.AUTO)
        except GLib.Error as e:
            expect(e.domain == ERROR_DOMAIN, f"{name}: domain {e.domain}")
            expect(path in e.message, f"{name}: message does not name the "
                   f"file: {e.message}")
            expect(any(w in e.message for w in words), f"{name}: message "
                   f"lacks {words}: {e.message}")
            expect(len(e.message) < 1000, f"{name}: {len(e.message)}-char "
                   f"message")
            n += 1
            continue
        raise CheckFailed(f"{name}: new_from_npy accepted it")
    note(f"{n} bad files: GLib.Error naming the file and the problem")


def run_element(location, rows=0, cols=0, extra=""):
    """updatetestsrc ! sharedmatrix location=... ; returns (state change
    result, list of ERROR messages, pipeline, element)."""
    src = "updatetestsrc num-buffers=5 rows=3 cols=4 batch=2 seed=1"
    desc = f"{src} ! sharedmatrix name=sm {extra}"
    pipeline = Gst.parse_launch(desc)
    sm = pipeline.get_by_name("sm")
    if location is not None:
        sm.set_property("location", location)
    if rows:
        sm.set_property("rows", rows)
    if cols:
        sm.set_property("cols", cols)
    ret = pipeline.set_state(Gst.State.PLAYING)
    if ret == Gst.StateChangeReturn.ASYNC:
        ret, _, _ = pipeline.get_state(TIMEOUT)
    errors = []
    while True:
        msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if msg is None:
            break
        err, debug = msg.parse_error()
        errors.append((msg.src, err, debug))
    return ret, errors, pipeline, sm


def expect_clean_failure(what, ret, errors, pipeline, sm, words):
    expect(ret == Gst.StateChangeReturn.FAILURE, f"{what}: PLAYING returned "
           f"{ret.value_nick}, expected failure")
    expect(len(errors) >= 1, f"{what}: no ERROR message")
    src, err, _ = errors[0]
    expect(src == sm, f"{what}: ERROR from {src.get_name()}, not the element")
    expect(err.domain == "gst-resource-error-quark", f"{what}: ERROR domain "
           f"{err.domain}")
    expect(any(w in err.message for w in words), f"{what}: ERROR lacks "
           f"{words}: {err.message}")
    _, state, _ = sm.get_state(0)
    expect(state <= Gst.State.READY, f"{what}: element left in "
           f"{state.value_nick}")
    expect(pipeline.set_state(Gst.State.NULL) ==
           Gst.StateChangeReturn.SUCCESS, f"{what}: set_state NULL failed")
    return err.message


def test_element_bad_files(tmp):
    good = os.path.join(tmp, "good.npy")
    np.save(good, GOOD)
    n = 0
    for name, contents, words in bad_files():
        path = make_file(tmp, name, contents)
        ret, errors, pipeline, sm = run_element(path)
        try:
            msg = expect_clean_failure(name, ret, errors, pipeline, sm,
                                       words)
            expect(path in msg, f"{name}: ERROR does not name the file: "
                   f"{msg}")
            # the same element recovers once the location is fixed
            sm.set_property("location", good)
            expect(pipeline.set_state(Gst.State.PLAYING) !=
                   Gst.StateChangeReturn.FAILURE, f"{name}: PLAYING with "
                   f"a good file failed afterwards")
            msg2 = pipeline.get_bus().timed_pop_filtered(
                TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
            expect(msg2 is not None and msg2.type == Gst.MessageType.EOS,
                   f"{name}: the good file did not reach EOS afterwards")
            expect(sm.props.updates_applied == 5, f"{name}: updates-applied "
                   f"{sm.props.updates_applied} after recovery")
        finally:
            pipeline.set_state(Gst.State.NULL)
        n += 1
    note(f"{n} bad files as location: PLAYING fails, one RESOURCE ERROR "
         f"naming the file, back to NULL, then the good file runs")


def test_library_impossible_sizes(tmp):
    cases = [
        (10 ** 12, 1000, ["1000000000000 x 1000"]),
        (2 ** 64 - 1, 2 ** 31 - 1, ["18446744073709551615 x 2147483647",
                                    "address space"]),
        (2 ** 40, 2 ** 31 - 1, ["1099511627776 x 2147483647"]),
    ]
    for rows, cols, words in cases:
        t0 = time.monotonic()
        try:
            SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32,
                                SM.Backend.AUTO)
        except GLib.Error as e:
            expect(e.domain == ERROR_DOMAIN, f"{rows}x{cols}: domain "
                   f"{e.domain}")
            expect(any(w in e.message for w in words), f"{rows}x{cols}: "
                   f"message lacks the size: {e.message}")
            expect(time.monotonic() - t0 < 5, f"{rows}x{cols}: took "
                   f"{time.monotonic() - t0:.1f} s to fail")
            continue
        raise CheckFailed(f"SharedMatrix.new ({rows}, {cols}) succeeded")
    for rows, cols in ((0, 4), (4, 0), (4, 2 ** 31)):
        try:
            SM.SharedMatrix.new(rows, cols, SM.DType.FLOAT32,
                                SM.Backend.AUTO)
        except (GLib.Error, OverflowError, TypeError) as e:
            continue
        raise CheckFailed(f"SharedMatrix.new ({rows}, {cols}) succeeded")
    note("10^12 x 1000, 2^64-1 x 2^31-1, 2^40 x 2^31-1: GLib.Error naming "
         "the size; zero and out-of-range shapes refused")


def test_element_impossible_sizes(tmp):
    notes = []
    for rows, cols, words in ((10 ** 12, 1000, ["1000000000000 x 1000"]),
                              (2 ** 64 - 1, 2 ** 31 - 1,
                               ["18446744073709551615 x 2147483647"])):
        ret, errors, pipeline, sm = run_element(None, rows, cols)
        try:
            msg = expect_clean_failure(f"rows={rows} cols={cols}", ret,
                                       errors, pipeline, sm, words)
        finally:
            pipeline.set_state(Gst.State.NULL)
        notes.append(msg)
    note(f"PLAYING fails with '{notes[0][:70]}...'")


def stream_into_element(caps, payloads, extra="", name_prefix=""):
    """appsrc (caps or none) ! sharedmatrix rows=8 cols=4; pushes the byte
    strings, then EOS. Returns (first ERROR or None, element version)."""
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=bytes ! sharedmatrix name=sm rows=8 cols=4 "
        f"{extra}")
    src, sm = pipeline.get_by_name("src"), pipeline.get_by_name("sm")
    if caps:
        src.set_property("caps", Gst.Caps.from_string(caps))
    try:
        expect(pipeline.set_state(Gst.State.PLAYING) !=
               Gst.StateChangeReturn.FAILURE, "set_state PLAYING")
        for p in payloads:
            src.emit("push-buffer", Gst.Buffer.new_wrapped(p))
        src.emit("end-of-stream")
        msg = pipeline.get_bus().timed_pop_filtered(
            TIMEOUT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        expect(msg is not None, "no EOS or ERROR")
        err = None
        if msg.type == Gst.MessageType.ERROR:
            e, debug = msg.parse_error()
            err = (msg.src.get_name(), e, debug)
        return err, sm.props.version
    finally:
        pipeline.set_state(Gst.State.NULL)


def test_element_bad_streams(tmp):
    caps4 = ("application/x-matrix-update, dtype=(string)float32, "
             "index-type=(string)int32, cols=(int)4")
    good = struct.pack("<2i", 1, 7) + np.ones(8, "<f4").tobytes()   # 2 x 20 B
    # a buffer that is not a whole number of 20-byte records: 43 bytes
    err, v = stream_into_element(caps4, [good, good + b"xyz", good])
    expect(err is not None and err[0] == "sm", "ragged buffer: no ERROR "
           "from the element")
    expect("43" in err[1].message and "20" in err[1].message,
           f"ragged buffer: sizes not named: {err[1].message}")
    expect(v == 1, f"ragged buffer: version {v}, expected 1 (only the "
           f"update before it)")
    # data with no caps at all
    err, v = stream_into_element(None, [good])
    expect(err is not None, "no caps: no ERROR")
    expect(v == 0, f"no caps: version {v}")
    # update caps with other cols than the matrix
    err, v = stream_into_element(caps4.replace("cols=(int)4", "cols=(int)5"),
                                 [struct.pack("<i", 0) + bytes(20)])
    expect(err is not None and "cols=5" in err[1].message and
           "4 columns" in err[1].message, f"cols mismatch: "
           f"{err and err[1].message}")
    expect(v == 0, f"cols mismatch: version {v}")
    # a dtype the element does not take: refused at negotiation
    err, v = stream_into_element(caps4.replace("float32", "int8"), [good])
    expect(err is not None, "dtype int8: no ERROR")
    expect(v == 0, f"dtype int8: version {v}")
    # index 8 of an 8-row matrix (invalid-index=error): rejected whole
    bad = struct.pack("<2i", 3, 8) + np.ones(8, "<f4").tobytes()
    err, v = stream_into_element(caps4, [good, bad])
    expect(err is not None and "8" in err[1].message and
           "0 to 7" in err[1].message, f"index 8: {err and err[1].message}")
    expect(v == 1, f"index 8: version {v}")
    # matrix-name already naming another matrix than the matrix property
    name = f"badinput-{os.getpid()}"
    holder = Gst.parse_launch(f"appsrc ! sharedmatrix name=sm rows=8 cols=4 "
                              f"matrix-name={name}")
    try:
        expect(holder.set_state(Gst.State.PAUSED) !=
               Gst.StateChangeReturn.FAILURE, "holder PAUSED")
        other = SM.SharedMatrix.new(8, 4, SM.DType.FLOAT32, SM.Backend.AUTO)
        pipeline = Gst.parse_launch(f"appsrc ! sharedmatrix name=sm "
                                    f"matrix-name={name}")
        sm = pipeline.get_by_name("sm")
        sm.props.matrix = other
        ret = pipeline.set_state(Gst.State.PLAYING)
        msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        pipeline.set_state(Gst.State.NULL)
        expect(ret == Gst.StateChangeReturn.FAILURE and msg is not None and
               name in msg.parse_error()[0].message, "matrix-name conflict: "
               f"{ret.value_nick}, {msg and msg.parse_error()[0].message}")
    finally:
        holder.set_state(Gst.State.NULL)
    note("ragged buffer, no caps, cols mismatch, int8 caps, index out of "
         "range, matrix-name conflict: one ERROR each, nothing applied")

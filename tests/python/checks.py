# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The runner the Python test scripts share: named checks, one line each,
a closing "N passed, N failed" line, exit status 0 (all passed), 1 (any
failed) or 77 (skip: something the checks need is missing).

Also the imports they need, each behind one function that prints a SKIP
line and exits 77 when it is missing: require_numpy(), require_gst(),
require_sharedmatrix(), require_gst_sharedmatrix(); optional_sharedmatrix()
returns None and the reason instead of skipping."""

import importlib
import sys
import tempfile
import time
import traceback

SKIP = 77


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def skip(reason):
    """Prints "SKIP: @reason" and exits with SKIP."""
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def require_numpy():
    """numpy, or a skip without it."""
    try:
        import numpy
    except ImportError as e:
        skip(f"numpy is not available ({e})")
    return numpy


def _gi_import(*namespaces):
    """Requires each (namespace, version) of @namespaces, in order, then
    imports them from gi.repository; raises ImportError or ValueError."""
    import gi
    for name, version in namespaces:
        gi.require_version(name, version)
    modules = tuple(importlib.import_module(f"gi.repository.{name}")
                    for name, _ in namespaces)
    return modules[0] if len(modules) == 1 else modules


def _require_gi(what, *namespaces):
    try:
        return _gi_import(*namespaces)
    except (ImportError, ValueError) as e:
        skip(f"{what} is not available ({e})")


def require_gst():
    """Gst, or a skip without PyGObject and Gst 1.0."""
    return _require_gi("PyGObject with Gst 1.0", ("Gst", "1.0"))


def require_sharedmatrix():
    """(GLib, GstSharedMatrix), or a skip without PyGObject or the typelib."""
    return _require_gi("PyGObject or the GstSharedMatrix 1.0 typelib",
                       ("GLib", "2.0"), ("GstSharedMatrix", "1.0"))


def require_gst_sharedmatrix():
    """(Gst, GLib, GstSharedMatrix), or a skip without any of them."""
    return _require_gi("PyGObject with Gst 1.0 and GstSharedMatrix 1.0",
                       ("Gst", "1.0"), ("GLib", "2.0"),
                       ("GstSharedMatrix", "1.0"))


def optional_sharedmatrix():
    """(GstSharedMatrix, None), or (None, why) when its typelib is missing:
    for scripts whose other checks run without it."""
    try:
        return _gi_import(("GstSharedMatrix", "1.0")), None
    except (ImportError, ValueError) as e:
        return None, str(e)


def missing_elements(Gst, names):
    """Prints a SKIP line and returns SKIP when an element is missing."""
    for name in names:
        if Gst.ElementFactory.find(name) is None:
            print(f"SKIP: element {name} not found (GST_PLUGIN_PATH?)")
            return SKIP
    return None


def run_checks(checks, prefix, only=()):
    """Runs each (name, fn) of @checks (those named in @only, if any) with a
    fresh temporary directory shared by all; fn returns a one-line note."""
    selected = [(n, f) for n, f in checks if not only or n in only]
    failures = 0
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        for name, fn in selected:
            t0 = time.monotonic()
            try:
                note = fn(tmp)
                print(f"ok   {name}: {note} ({time.monotonic() - t0:.1f} s)")
            except CheckFailed as e:
                failures += 1
                print(f"FAIL {name}: {e}")
            except Exception:
                failures += 1
                print(f"FAIL {name}: exception")
                traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
    print(f"{len(selected) - failures} passed, {failures} failed "
          f"({time.monotonic() - start:.1f} s)")
    return 1 if failures else 0

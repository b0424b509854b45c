# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The runner the Python test scripts share: named checks, one line each,
a closing "N passed, N failed" line, exit status 0 (all passed), 1 (any
failed) or 77 (skip: something the checks need is missing)."""

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

# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers the Python tests share; they run under pytest (conftest.py holds
the fixtures and maps an all-skipped run to meson's exit status 77).

The imports the tests need, each behind one function that skips the whole
module with a clear reason when it is missing: require_numpy(),
require_gst(), require_sharedmatrix(), require_gst_sharedmatrix(),
require_elements(); optional_sharedmatrix() returns None and the reason
instead of skipping. expect() is an assertion with a message; note() prints
what a check measured (shown with `pytest -rP`, and on failure)."""

import importlib

import pytest


class CheckFailed(AssertionError):
    """A failed check: pytest reports it as a failure with its message."""


def expect(cond, what):
    __tracebackhide__ = True
    if not cond:
        raise CheckFailed(what)


def note(text):
    """What a passing check found, one line."""
    print(text)


def skip(reason):
    """Skips the calling module (at import) or check (inside a test)."""
    pytest.skip(reason, allow_module_level=True)


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
    for modules whose other checks run without it."""
    try:
        return _gi_import(("GstSharedMatrix", "1.0")), None
    except (ImportError, ValueError) as e:
        return None, str(e)


def require_elements(Gst, names):
    """Initialises Gst; skips the module when an element is missing."""
    Gst.init(None)
    for name in names:
        if Gst.ElementFactory.find(name) is None:
            skip(f"element {name} not found (GST_PLUGIN_PATH?)")

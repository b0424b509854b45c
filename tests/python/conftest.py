# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pytest configuration of the Python tests (see checks.py for the helpers).

meson runs each test_*.py as one test (`python3 -m pytest <file>`, see
meson.build) and reads exit status 77 as "skipped". pytest itself exits 0
when every check was skipped and 5 when a module skipped itself at import
(nothing collected), so pytest_sessionfinish turns a run in which something
was skipped and nothing passed or failed into 77."""

import collections
import tempfile

import pytest

_outcomes = collections.Counter()


@pytest.fixture
def tmp(request):
    """A fresh temporary directory (a str path) for one check."""
    prefix = f"sm-{request.module.__name__.replace('_', '-')}-"
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield path


def pytest_collectreport(report):
    if report.outcome != "passed":      # a module skipped, or broken
        _outcomes[report.outcome] += 1


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _outcomes[report.outcome] += 1


def pytest_sessionfinish(session, exitstatus):
    if (exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
            and _outcomes["skipped"] and not _outcomes["passed"]
            and not _outcomes["failed"]):
        session.exitstatus = 77

#!/usr/bin/env bash
# Installs what is missing, builds, runs the whole test suite and ends with
# one line "N passed, N failed, N skipped". Extra arguments go to meson test
# (e.g. --setup valgrind, or a test name).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

status=0
# meson names the log after the test setup (testlog-valgrind.json for
# --setup valgrind): clear old logs, then read the one this run wrote
rm -f "$BUILD_DIR"/meson-logs/testlog*.json
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 "$@" || status=$?
logs=("$BUILD_DIR"/meson-logs/testlog*.json)

/usr/bin/python3 - "${logs[0]}" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
with open(sys.argv[1]) as f:
    for line in f:
        result = json.loads(line)["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            counts["passed"] += 1
        elif result == "SKIP":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $status

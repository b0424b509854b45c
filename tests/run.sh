#!/usr/bin/env bash
# Installs what is missing, builds, runs the whole test suite — every test,
# then the gst-check tests again under valgrind and under GStreamer's leaks
# tracer — and ends with one line "N passed, N failed, N skipped" counting
# all passes.
# Arguments replace that plan with one `meson test` run of your own
# (e.g. `tests/run.sh --suite check`, `tests/run.sh --setup leaks`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

# meson names each log after its test setup (testlog.json,
# testlog-valgrind.json, …): clear old ones, then count what this run wrote
rm -f "$BUILD_DIR"/meson-logs/testlog*.json

status=0
if [ $# -gt 0 ]; then
  meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 "$@" || status=$?
else
  meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 || status=$?
  if command -v valgrind >/dev/null; then
    meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 --no-rebuild \
      --setup valgrind --suite check || status=$?
  fi
  meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 --no-rebuild \
    --setup leaks --suite check || status=$?
fi

/usr/bin/python3 - "$BUILD_DIR"/meson-logs/testlog*.json <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    with open(path) as f:
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

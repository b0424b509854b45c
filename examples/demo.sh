#!/usr/bin/env bash
# Installs what is missing, builds, and runs the classic case: 70,000 x 100
# float32 matrix, updates of 200 rows from updatetestsrc, applied in place by
# sharedmatrix, final snapshot written as a .npy file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/setup.sh"
exec /usr/bin/python3 "$SHAREDMATRIX_ROOT/examples/demo.py" "$@"

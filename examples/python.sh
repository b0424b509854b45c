#!/usr/bin/env bash
# Runs one of the Python examples with the sharedmatrix plugin, library and
# typelib from the build tree (see common.sh), under Debian's python3, the
# one with the gi module:
#
#   examples/python.sh online_learning.py [options]
#   examples/python.sh theano_classic.py [options]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

example="$(basename "${1:?usage: examples/python.sh EXAMPLE.py [options]}")"
shift
exec /usr/bin/python3 "$SHAREDMATRIX_ROOT/examples/$example" "$@"

# shellcheck shell=bash
# Sourced by the example scripts (bash). Makes the sharedmatrix plugin, its
# library and typelib usable and sets SHAREDMATRIX_ROOT:
# - under the test suite (meson test sets GST_PLUGIN_PATH_1_0, LD_LIBRARY_PATH
#   and GI_TYPELIB_PATH to the build under test) that environment is used
#   as it is;
# - otherwise tests/setup.sh installs what is missing, builds ./build and
#   points GST_PLUGIN_PATH, LD_LIBRARY_PATH and GI_TYPELIB_PATH at it.

if [ -n "${GST_PLUGIN_PATH_1_0:-}" ]; then
  SHAREDMATRIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
else
  source "$(dirname "${BASH_SOURCE[0]}")/../tests/setup.sh"
fi

# make_output_dir NAME [DIR]: creates DIR, or a fresh temporary directory
# when DIR is empty, and prints its path.
make_output_dir () {
  local dir="${2:-}"
  if [ -z "$dir" ]; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/sharedmatrix-$1.XXXXXX")"
  fi
  mkdir -p "$dir"
  echo "$dir"
}

# launch ARGS...: prints the gst-launch-1.0 command line, then runs it.
launch () {
  echo "+ gst-launch-1.0 $*"
  gst-launch-1.0 "$@"
}

# launch_logged LOG ARGS...: like launch, with -m (print every bus message)
# and all the output in LOG; on failure shows the end of LOG.
launch_logged () {
  local log="$1"
  shift
  echo "+ gst-launch-1.0 -m $* > $log"
  if ! gst-launch-1.0 -m "$@" > "$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "gst-launch-1.0 failed; its output is in $log" >&2
    return 1
  fi
}

# written_snapshots LOG: one line "VERSION FILE" for each file that a
# `multifilesink post-messages=true` wrote, read from launch_logged's LOG:
# the message carries the buffer OFFSET, which sharedmatrix sets to the
# matrix version of the snapshot.
written_snapshots () {
  sed -n 's/.*GstMultiFileSink, filename=(string)\([^,]*\), .* offset=(guint64)\([0-9]*\),.*/\2 \1/p' "$1"
}

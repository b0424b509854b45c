#!/bin/sh
# gst-sharedmatrix: the system GStreamer plugins the tests may load.
#
#   tests/system-plugins.sh OUT_DIR SYSTEM_PLUGIN_DIR STAMP NAME...
#
# Makes OUT_DIR hold a symbolic link to SYSTEM_PLUGIN_DIR/libgstNAME.so for
# each NAME that exists there, and nothing else, then touches STAMP.
# tests/meson.build points GST_PLUGIN_SYSTEM_PATH_1_0 at OUT_DIR, so a
# registry scan in a test sees exactly these plugins (and ours, through
# GST_PLUGIN_PATH_1_0) whatever else the machine has installed: the
# sanitizer, valgrind and leaks passes then measure the same code on every
# machine (e.g. not the Python plugin loader of
# gstreamer1.0-python3-plugin-loader, whose interpreter LeakSanitizer
# reports while the registry is scanned). A missing plugin is left out:
# the tests needing its elements skip as before.
set -eu
out="$1"
src="$2"
stamp="$3"
shift 3
# updated in place (it runs at every build, maybe while a test runs)
mkdir -p "$out"
for link in "$out"/*; do
  [ -e "$link" ] || [ -L "$link" ] || continue
  keep=no
  for name in "$@"; do
    [ "$link" = "$out/libgst$name.so" ] && [ -e "$src/libgst$name.so" ] && keep=yes
  done
  [ $keep = yes ] || rm -f "$link"
done
for name in "$@"; do
  if [ -e "$src/libgst$name.so" ]; then
    ln -sfn "$src/libgst$name.so" "$out/libgst$name.so"
  fi
done
touch "$stamp"

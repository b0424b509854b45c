#!/usr/bin/env bash
# gst-sharedmatrix: the installed tree works on its own (meson test
# 'install', suite install).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `meson install --destdir` into a temporary directory, then, with only the
# installed paths in the environment (no build or source tree):
# 1. the user guide's C example (examples/update-from-c.c, which the guide
#    must show verbatim) compiled with `pkg-config --cflags --libs
#    gstreamer-sharedmatrix-1.0` and run;
# 2. `gst-inspect-1.0 sharedmatrix`;
# 3. a Python example through the installed typelib and overrides.
# The installed .pc file is read through PKG_CONFIG_PATH, with its prefix
# moved under DESTDIR (what DESTDIR staging means; PKG_CONFIG_SYSROOT_DIR
# would move GStreamer's own -I paths too). LD_LIBRARY_PATH stands in for
# `ldconfig`, GST_PLUGIN_PATH, GI_TYPELIB_PATH and PYTHONPATH are what the
# README's "Installing" tells a user with a prefix other than /usr to set.
set -euo pipefail
BUILD_DIR="$1"
SOURCE_DIR="$2"

DESTDIR="$(mktemp -d "${TMPDIR:-/tmp}/sm-install-XXXXXX")"
trap 'rm -rf "$DESTDIR"' EXIT

meson install -C "$BUILD_DIR" --no-rebuild --destdir "$DESTDIR" --quiet >/dev/null
read -r PREFIX LIBDIR < <(meson introspect "$BUILD_DIR" --buildoptions | /usr/bin/python3 -c '
import json, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(opts["prefix"], opts["libdir"])')
ROOT="$DESTDIR$PREFIX"
LIB="$ROOT/$LIBDIR"
case "$LIB" in /*) ;; *) echo "libdir not relative" >&2; exit 1 ;; esac
echo "installed into $ROOT"

fail() { echo "FAIL: $*" >&2; exit 1; }

# every installed binary is free of build-tree run paths
for so in "$LIB/libgstsharedmatrix-1.0.so.0" "$LIB/gstreamer-1.0/libgstsharedmatrix.so"; do
  [ -f "$so" ] || fail "$so not installed"
  if readelf -d "$so" | grep -E 'R(UN)?PATH' | grep -q "$BUILD_DIR"; then
    fail "$so keeps a run path into the build tree"
  fi
done

# --- 1. the C example through pkg-config ----------------------------------
/usr/bin/python3 - "$SOURCE_DIR/examples/update-from-c.c" "$SOURCE_DIR/docs/user-guide.md" <<'PY' || exit 1
import sys
code, guide = (open(p).read() for p in sys.argv[1:])
if "```c\n" + code + "```" not in guide:
    sys.exit("FAIL: docs/user-guide.md does not show examples/update-from-c.c verbatim")
PY
PCDIR="$DESTDIR/pkgconfig"
mkdir -p "$PCDIR"
sed "s|^prefix=.*|prefix=$ROOT|" "$LIB/pkgconfig/gstreamer-sharedmatrix-1.0.pc" \
    > "$PCDIR/gstreamer-sharedmatrix-1.0.pc"
CFLAGS_LIBS="$(env -i PATH=/usr/bin:/bin PKG_CONFIG_PATH="$PCDIR" \
    pkg-config --cflags --libs gstreamer-sharedmatrix-1.0)"
echo "pkg-config: $CFLAGS_LIBS"
case "$CFLAGS_LIBS" in *"$BUILD_DIR"*|*"$SOURCE_DIR/"*) fail "pkg-config names the build or source tree";; esac
# shellcheck disable=SC2086
cc -Wall -Werror -o "$DESTDIR/update-from-c" "$SOURCE_DIR/examples/update-from-c.c" $CFLAGS_LIBS
CLEAN_ENV=(env -i PATH=/usr/bin:/bin HOME="$DESTDIR" LD_LIBRARY_PATH="$LIB"
  GST_PLUGIN_PATH="$LIB/gstreamer-1.0" GST_PLUGIN_SYSTEM_PATH_1_0="$DESTDIR/none"
  GST_REGISTRY_1_0="$DESTDIR/registry.bin" GI_TYPELIB_PATH="$LIB/girepository-1.0"
  GST_SHARED_MATRIX_FORCE_CPU=1)
out="$("${CLEAN_ENV[@]}" "$DESTDIR/update-from-c")"
echo "C example: $out"
[ "$out" = "version 1: 3 rows applied, 1 dropped; C[3][0] = 2, C[17][0] = 1" ] ||
  fail "C example printed '$out'"

# --- 2. gst-inspect-1.0 ----------------------------------------------------
inspect="$("${CLEAN_ENV[@]}" gst-inspect-1.0 sharedmatrix)"
grep -q "Filename .*$LIB/gstreamer-1.0/libgstsharedmatrix.so" <<<"$inspect" ||
  fail "gst-inspect-1.0 sharedmatrix did not find the installed plugin"
grep -q "Long-name *Shared matrix" <<<"$inspect" || fail "no sharedmatrix element details"
"${CLEAN_ENV[@]}" gst-inspect-1.0 updatetestsrc >/dev/null || fail "updatetestsrc not found"
echo "gst-inspect-1.0 sharedmatrix: $(grep -m1 Filename <<<"$inspect" | tr -s ' ')"

# --- 3. Python with the installed typelib and overrides ------------------
PYDIR="$(find "$ROOT" -path '*/gi/overrides/GstSharedMatrix.py' -printf '%h\n' | head -1)"
[ -n "$PYDIR" ] || fail "the Python overrides were not installed under $ROOT"
SITE="${PYDIR%/gi/overrides}"
"${CLEAN_ENV[@]}" PYTHONPATH="$SITE" INSTALL_ROOT="$ROOT" /usr/bin/python3 - <<'PY'
import os, sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstSharedMatrix", "1.0")
from gi.repository import Gst
Gst.init(None)
pipeline = Gst.parse_launch(
    "updatetestsrc num-buffers=20 rows=1000 cols=8 batch=50 ! sharedmatrix name=sm rows=1000 cols=8")
pipeline.set_state(Gst.State.PLAYING)
msg = pipeline.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE,
                                            Gst.MessageType.EOS | Gst.MessageType.ERROR)
assert msg.type == Gst.MessageType.EOS, msg.parse_error()
m = pipeline.get_by_name("sm").get_property("matrix")   # before the import
from gi.repository import GstSharedMatrix as SM
import numpy as np
pipeline.set_state(Gst.State.NULL)
root = os.environ["INSTALL_ROOT"]
for mod in ("gi.overrides.GstSharedMatrix",):
    assert sys.modules[mod].__file__.startswith(root), sys.modules[mod].__file__
assert type(m) is SM.SharedMatrix, type(m)
before = m.numpy()
m.update("add", [0, 999], np.ones((2, 8), np.float32))
after = np.asarray(m)
assert m.shape == (1000, 8) and m.get_version() == 21
assert np.array_equal(after[[0, 999]], before[[0, 999]] + 1)
print(f"Python: {m!r} from {SM.SharedMatrix.__module__}")
PY
echo "installed tree OK"

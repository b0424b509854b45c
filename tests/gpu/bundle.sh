#!/usr/bin/env bash
# Packs everything the GPU verification needs into one folder that runs on a
# bare GPU machine (an NVIDIA driver and glibc; no GStreamer, no GLib, no
# Debian packages, no network):
#
#   tests/gpu/bundle.sh                  # builds ./build with CUDA, writes .gpu-bundle/
#   .gpu-bundle/run.sh                   # on the GPU machine, from the repository root
#
# Options: --build-dir DIR  use this configured build instead of running
#                           tests/setup.sh (no packages installed; the
#                           programs are rebuilt with ninja if stale)
#          --out DIR        where the bundle goes (default .gpu-bundle)
#
# The bundle holds the GPU test and benchmark programs (found by their meson
# test and target names, wherever the build puts them), the GStreamer plugins
# they load (sharedmatrix, coreelements, app), and every shared library these
# load that is not glibc's own (libc, libm, the dynamic loader, ...) nor the
# NVIDIA driver's (libcuda): GLib, GObject, GStreamer core/base/check/app/
# video, ORC, libstdc++, ... as ldd resolves them here. run.sh (from
# tests/gpu/run.sh) points the dynamic loader and GStreamer at them.
# See docs/cuda.md, "Running the GPU check".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="$ROOT/.gpu-bundle"
BUILD=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$(cd "$2" && pwd)"; shift 2 ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bundle.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$BUILD" ]; then
  # installs the build dependencies, configures with CUDA when nvcc exists
  # and builds ./build
  source "$ROOT/tests/setup.sh"
  BUILD="$BUILD_DIR"
fi
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"

# The programs, by meson test name (tests) or target name (benchmarks), and
# whether the build has the CUDA backend (a target compiled from CUDA).
mapfile -t found < <(meson introspect "$BUILD" --tests --targets | /usr/bin/python3 -c '
import json, sys
dec = json.JSONDecoder()
text = sys.stdin.read()
docs, i = [], 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    docs.append(obj)
if len(docs) == 1:          # one JSON object keyed by section
    tests, targets = docs[0]["tests"], docs[0]["targets"]
else:
    tests, targets = docs
want_tests = {"cuda": "test-cuda", "kernel-emulation": "test-kernel-emulation",
              "cpu-kernels": "check-cpu-kernels"}
want_targets = {"bench-cuda": "bench-cuda", "bench-sharedmatrix": "bench-sharedmatrix",
                "bench-optimizers": "bench-optimizers", "bench-lookup": "bench-lookup"}
out = {}
for t in tests:
    if t["name"] in want_tests:
        out[want_tests[t["name"]]] = t["cmd"][0]
for t in targets:
    if t["name"] in want_targets:
        out[want_targets[t["name"]]] = t["filename"][0]
    # the sharedmatrix plugin: the library whose file is libgstsharedmatrix.so
    for f in t["filename"]:
        if f.endswith("/libgstsharedmatrix.so"):
            out["plugin"] = f
cuda = any(s.get("language") == "cuda" for t in targets
           for s in t.get("target_sources", []))
print("cuda=%d" % cuda)
for k, v in sorted(out.items()):
    print("%s=%s" % (k, v))
')

declare -A path=()
has_cuda=0
for line in "${found[@]}"; do
  case "$line" in
    cuda=*) has_cuda="${line#cuda=}" ;;
    *) path["${line%%=*}"]="${line#*=}" ;;
  esac
done
if [ "$has_cuda" != 1 ]; then
  echo "bundle.sh: the build in $BUILD has no CUDA backend (nvcc was not found" \
       "when it was configured); install the CUDA toolkit (nvcc in" \
       "/usr/local/cuda/bin) and reconfigure" >&2
  exit 1
fi
programs=(test-cuda test-kernel-emulation check-cpu-kernels bench-cuda bench-sharedmatrix
          bench-optimizers bench-lookup)
for p in "${programs[@]}" plugin; do
  if [ -z "${path[$p]:-}" ]; then
    echo "bundle.sh: meson in $BUILD knows no '$p' (tests/targets renamed?)" >&2
    exit 1
  fi
done

# bring them up to date (a no-op after setup.sh)
targets=()
for p in "${programs[@]}" plugin; do
  targets+=("$(realpath --relative-to="$BUILD" "${path[$p]}")")
done
ninja -C "$BUILD" "${targets[@]}" >/dev/null

gst_plugins_dir="$(pkg-config --variable=pluginsdir gstreamer-1.0)"
system_plugins=(libgstcoreelements.so libgstapp.so)

rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR/bin" "$OUT_DIR/lib" "$OUT_DIR/lib-fallback" "$OUT_DIR/gst-plugins"
for p in "${programs[@]}"; do
  cp "${path[$p]}" "$OUT_DIR/bin/$p"
done
cp "${path[plugin]}" "$OUT_DIR/gst-plugins/"
for p in "${system_plugins[@]}"; do
  cp "$gst_plugins_dir/$p" "$OUT_DIR/gst-plugins/"
done

# Every library ldd resolves for these, except glibc's and the driver's,
# which the GPU machine has (and must not be mixed with other versions).
is_system_lib() {
  case "$1" in
    ld-linux*|libc.so.*|libm.so.*|libmvec.so.*|libpthread.so.*|libdl.so.*| \
    librt.so.*|libresolv.so.*|libutil.so.*|libanl.so.*|libnsl.so.*| \
    libBrokenLocale.so.*|libcuda.so*|libnvidia*|linux-vdso*) return 0 ;;
  esac
  return 1
}
bundled=()
for f in "$OUT_DIR"/bin/* "$OUT_DIR"/gst-plugins/*.so; do
  # LD_LIBRARY_PATH: the build's own library, for a program whose RUNPATH
  # does not reach it from its bundled copy
  while read -r name arrow lib _; do
    [ "$arrow" = "=>" ] || continue
    is_system_lib "$name" && continue
    if [ "$lib" = "not" ]; then
      echo "bundle.sh: $f needs $name, which ldd cannot find" >&2
      exit 1
    fi
    # GCC's runtime needs this glibc's newest symbols (arc4random, 2.36),
    # and every GPU machine has its own: run.sh takes the machine's copy
    # when its glibc is older than this one
    dest="$OUT_DIR/lib"
    case "$name" in libstdc++.so.*|libgcc_s.so.*) dest="$OUT_DIR/lib-fallback" ;; esac
    if [ ! -e "$dest/$name" ]; then
      cp -L "$lib" "$dest/$name"
      bundled+=("${dest#"$OUT_DIR"/}/$name <- $(readlink -f "$lib")")
    fi
  done < <(LD_LIBRARY_PATH="$BUILD/plugin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$f")
done
strip --strip-debug "$OUT_DIR"/bin/* "$OUT_DIR"/lib*/* "$OUT_DIR"/gst-plugins/* 2>/dev/null || true

cp "$ROOT/tests/gpu/run.sh" "$OUT_DIR/run.sh"
chmod +x "$OUT_DIR/run.sh"

# The newest glibc symbol version anything in the bundle needs: run.sh
# compares it with the GPU machine's glibc.
newest_glibc() {
  objdump -T "$@" 2>/dev/null | sed -n 's/.*GLIBC_\([0-9][0-9.]*\).*/\1/p' |
    sort -t. -k1,1n -k2,2n -k3,3n -u | tail -1
}
glibc_needed="$(newest_glibc "$OUT_DIR"/bin/* "$OUT_DIR"/lib/*.so* "$OUT_DIR"/gst-plugins/*)"
glibc_needed_fallback="$(newest_glibc "$OUT_DIR"/lib-fallback/*)"
{
  echo "built=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "build_host=$(uname -srm), $( . /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "glibc_here=$(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
  echo "glibc_needed=$glibc_needed"
  echo "glibc_needed_fallback=$glibc_needed_fallback"
  echo "nvcc=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  echo "gpu_archs=$(meson introspect "$BUILD" --buildoptions | /usr/bin/python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o["name"] == "gpu_archs":
        v = o["value"]
        print(" ".join(map(str, v)) if isinstance(v, list) else v)')"
  echo "programs=${programs[*]}"
  echo "plugins=$(cd "$OUT_DIR/gst-plugins" && echo *.so)"
} > "$OUT_DIR/BUNDLE-INFO"
printf '%s\n' "${bundled[@]}" > "$OUT_DIR/LIBRARY-SOURCES"

size_kib="$(du -sk "$OUT_DIR" | cut -f1)"
echo "bundle: $OUT_DIR, $((size_kib / 1024)) MiB: ${#programs[@]} programs," \
     "$(ls "$OUT_DIR/gst-plugins" | wc -l) plugins, ${#bundled[@]} libraries;" \
     "needs glibc >= $glibc_needed"
if [ "$size_kib" -gt $((64 * 1024)) ]; then
  echo "bundle.sh: the bundle is over 64 MiB, the most the GPU machine takes" >&2
  exit 1
fi
echo "bundle: on the GPU machine, from the repository root: $(realpath --relative-to="$PWD" "$OUT_DIR")/run.sh"

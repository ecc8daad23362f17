#!/usr/bin/env bash
# The vendor's path, end to end: install busway to a fresh prefix, scaffold a plugin with
# the installed program, build it out of tree with ONLY that prefix on CMAKE_PREFIX_PATH,
# and run the scaffold's own tests.
#
#   sdk_install_test.sh BUILD_DIR [CMAKE] [CXX_COMPILER]
#
# Every step must succeed; the first failure stops the test with the step's name and its
# output. KEEP_TMP=1 keeps the temporary folder for a look afterwards.
set -euo pipefail

build_dir=${1:?usage: sdk_install_test.sh BUILD_DIR [CMAKE] [CXX_COMPILER]}
cmake=${2:-cmake}
cxx=${3:-}
ctest="$(dirname "$(command -v "$cmake")")/ctest"
[[ -x $ctest ]] || ctest=ctest

tmp=$(mktemp -d "${TMPDIR:-/tmp}/busway-sdk-install.XXXXXX")
cleanup() {
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

step() {
  local name=$1
  shift
  echo "=== $name: $*"
  if ! "$@" >"$tmp/step.log" 2>&1; then
    cat "$tmp/step.log"
    echo "FAILED: $name" >&2
    exit 1
  fi
  tail -n 5 "$tmp/step.log"
}

prefix=$tmp/prefix
project=$tmp/work/acme-demo

step install "$cmake" --install "$build_dir" --prefix "$prefix"
for f in bin/busway include/busway/plugin.h include/busway/plugin.hpp; do
  [[ -e $prefix/$f ]] || { echo "FAILED: install: $prefix/$f is missing" >&2; exit 1; }
done
config=$(find "$prefix" -name BuswayConfig.cmake -print -quit)
[[ -n $config ]] || { echo "FAILED: install: no BuswayConfig.cmake under $prefix" >&2; exit 1; }

step scaffold "$prefix/bin/busway" plugins new acme-demo --dir "$project"
[[ -f $project/CMakeLists.txt && -f $project/plugin.json && -f $project/src/acme-demo.cpp ]] ||
  { echo "FAILED: scaffold: expected files are missing in $project" >&2; ls -R "$project" >&2; exit 1; }

# Only the fresh prefix: no user or system package registry, no busway from elsewhere.
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
compiler=()
[[ -n $cxx ]] && compiler=(-DCMAKE_CXX_COMPILER="$cxx")
step configure "$cmake" -S "$project" -B "$project/build" "${generator[@]}" "${compiler[@]}" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  -DCMAKE_COMPILE_WARNING_AS_ERROR=ON
busway_dir=$(sed -n 's/^Busway_DIR:PATH=//p' "$project/build/CMakeCache.txt")
case $busway_dir in
  "$prefix"/*) ;;
  *) echo "FAILED: configure: found Busway in '$busway_dir', not under $prefix" >&2; exit 1 ;;
esac

step build "$cmake" --build "$project/build"
[[ -f $project/build/acme-demo.so ]] || { echo "FAILED: build: acme-demo.so was not built" >&2; exit 1; }

step test "$ctest" --test-dir "$project/build" --output-on-failure
echo "sdk install test passed: busway installed to a prefix, acme-demo scaffolded, built and tested"

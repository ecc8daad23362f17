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
grep -q "conformance" "$tmp/step.log" || { cat "$tmp/step.log"; echo "FAILED: test: the scaffold's conformance test did not run" >&2; exit 1; }

# Ship it the way a vendor would: sign it, drop it into a bus's plugin folder, and run a
# bus that only loads signed plugins. Messages must go through it both ways.
busway=$prefix/bin/busway
mkdir -p "$tmp/keys" "$tmp/trust" "$tmp/plugins"
step keygen "$busway" plugins keygen --out "$tmp/keys/acme"
cp "$tmp/keys/acme.pub" "$tmp/trust/acme.pub"
cp "$project/build/acme-demo.so" "$tmp/plugins/acme-demo.so"
step sign "$busway" plugins sign --key "$tmp/keys/acme.key" "$tmp/plugins/acme-demo.so"
step verify "$busway" plugins verify --trust "$tmp/trust" "$tmp/plugins/acme-demo.so"

cat >"$tmp/routes.xml" <<'XML'
<routes xmlns="urn:busway:routes:1">
  <route id="to-plugin">
    <from uri="timer:orders?period=100ms&amp;count=3"/>
    <set-body media-type="text/plain">order ${header.timer.count}</set-body>
    <to uri="acme-demo:orders" pattern="in-out"/>
    <log category="reply" message="reply ${body}"/>
  </route>
  <route id="from-plugin">
    <from uri="acme-demo:ticks?period=100ms"/>
    <log category="ticks" message="from plugin ${body}"/>
  </route>
</routes>
XML
step validate "$busway" validate --plugin-path "$tmp/plugins" "$tmp/routes.xml"

run_bus() {
  "$busway" run --plugin-path "$tmp/plugins" --require-signatures --trust "$tmp/trust" --for 4s "$tmp/routes.xml"
}
step run-signed run_bus
expect() {
  grep -qF -- "$1" "$tmp/step.log" || { cat "$tmp/step.log"; echo "FAILED: $2: expected '$1' in the bus output" >&2; exit 1; }
}
expect "(signed by acme.pub)" run-signed
expect '[reply] reply {"echo":"order 1"' run-signed
expect '[reply] reply {"echo":"order 3"' run-signed
expect "[ticks] from plugin" run-signed
expect "stopped cleanly" run-signed

# The same file changed after signing is refused; the bus still runs what it can.
printf '\0' >>"$tmp/plugins/acme-demo.so"
step run-tampered run_bus
expect "refused by the signature policy" run-tampered
expect "signature does not match the file" run-tampered
expect "route 'to-plugin' is unavailable" run-tampered
expect "stopped cleanly" run-tampered

echo "sdk install test passed: installed to a prefix, scaffolded, built out of tree, signed, loaded under a signature policy, routed both ways; a tampered copy was refused"

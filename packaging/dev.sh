#!/usr/bin/env bash
# The one entry point for building busway: the README and .ci/run call this and nothing else.
#
#   packaging/dev.sh example       install deps, release build, run the bundled example
#   packaging/dev.sh test          install deps, dev build, run the whole test suite (= CI)
#   packaging/dev.sh asan          the same with AddressSanitizer + UBSan (preset asan)
#   packaging/dev.sh bench         release build, then run the benchmarks (target `bench`)
#   packaging/dev.sh format        clang-format -i every C/C++ source
#   packaging/dev.sh format-check  fail if any source is not formatted
#   packaging/dev.sh tidy          clang-tidy over the dev build (advisory, not in CI)
#
# Environment: JOBS (build parallelism, default nproc), TEST_JOBS (ctest -j, default 2),
# CLANG_FORMAT / CLANG_TIDY (default the pinned clang-format-14 / clang-tidy-14).
set -euo pipefail

# What `example` runs, from the repository root, once the release build is done.
EXAMPLE_COMMAND=(bash docs/examples/retail/run.sh --busway build/release/bin/busway)

# Where sources live, for format / format-check / tidy.
SOURCE_DIRS=(core plugins sdk tests)
SOURCE_REGEX='\.(c|cc|cpp|cxx|h|hh|hpp|hxx|ipp)$'
# Not formatted: the frozen copies of old ABI headers the ABI tests compile against (kept
# exactly as released), and the plugin template, whose @PLACEHOLDERS@ are not C++ yet.
SOURCE_EXCLUDE='^(tests/abi/plugin-abi-[0-9.]+\.h|sdk/template/.*)$'

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO_ROOT"

JOBS=${JOBS:-$(nproc)}
TEST_JOBS=${TEST_JOBS:-2}
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy-14}

# --- progress and timing -----------------------------------------------------------------
# EPOCHREALTIME is "seconds.micros" (the separator follows the locale): keep the digits.
now_ms() { local t=${EPOCHREALTIME//[^0-9]/}; printf '%s' $((10#$t / 1000)); }
fmt_ms() {
  local ms=$1
  if ((ms >= 60000)); then
    printf '%dm%02ds' $((ms / 60000)) $((ms % 60000 / 1000))
  else
    printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
  fi
}

SCRIPT_START=$(now_ms)
STEP=''
STEP_START=0

step() {
  step_done
  STEP=$1
  STEP_START=$(now_ms)
  printf '==> %s\n' "$STEP"
}

step_done() {
  if [[ -n $STEP ]]; then
    printf '    (%s: %s)\n' "$STEP" "$(fmt_ms $(($(now_ms) - STEP_START)))"
  fi
  STEP=''
}

on_exit() {
  local rc=$?
  if ((rc != 0)); then
    printf '==> FAILED%s (exit %d) after %s\n' "${STEP:+ while $STEP}" "$rc" \
      "$(fmt_ms $(($(now_ms) - SCRIPT_START)))" >&2
  fi
}
trap on_exit EXIT

finish() {
  step_done
  printf '==> %s: done in %s\n' "$1" "$(fmt_ms $(($(now_ms) - SCRIPT_START)))"
}

die() { printf 'dev.sh: error: %s\n' "$*" >&2; exit 1; }

# --- building blocks ---------------------------------------------------------------------
install_deps() {
  step "installing dependencies${1:+ ($*)}"
  bash packaging/install-deps.sh "$@"
  step_done
}

configure() {
  step "configuring (preset $1)"
  cmake --preset "$1"
  step_done
}

# build PRESET [TARGET...]
build() {
  local preset=$1
  shift
  local args=(--build --preset "$preset" -j "$JOBS")
  if (($# > 0)); then args+=(--target "$@"); fi
  local targets="$*"
  step "building (preset $preset${targets:+, targets $targets}, $JOBS jobs)"
  cmake "${args[@]}"
  step_done
}

# Runs ctest for a preset and prints one summary line; returns ctest's status.
run_tests() {
  local preset=$1 log rc=0 summary
  log="build/$preset/ctest.log"
  step "testing (preset $preset, $TEST_JOBS in parallel)"
  ctest --preset "$preset" -j "$TEST_JOBS" --output-on-failure --no-tests=error 2>&1 \
    | tee "$log" || rc=$?
  step_done
  summary=$(grep -E 'tests passed, .* tests failed out of|No tests were found' "$log" | tail -n 1 || true)
  if ((rc == 0)); then
    printf '==> SUMMARY (preset %s): PASSED - %s\n' "$preset" "${summary:-ctest reported success}"
  else
    printf '==> SUMMARY (preset %s): FAILED - %s (full output: %s)\n' "$preset" \
      "${summary:-ctest exited with $rc}" "$log" >&2
  fi
  return "$rc"
}

# Every C/C++ source under SOURCE_DIRS, NUL-separated; ignores what .gitignore ignores.
source_files() {
  local dirs=() d
  for d in "${SOURCE_DIRS[@]}"; do
    if [[ -d $d ]]; then dirs+=("$d"); fi
  done
  if ((${#dirs[@]} == 0)); then return 0; fi
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard -- "${dirs[@]}"
  else
    find "${dirs[@]}" -type f -print0
  fi | while IFS= read -r -d '' f; do
    if [[ -f $f && $f =~ $SOURCE_REGEX && ! $f =~ $SOURCE_EXCLUDE ]]; then printf '%s\0' "$f"; fi
  done
}

# need_tool TOOL: dies if TOOL is missing, warns if it is not the pinned major version 14.
need_tool() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found (packaging/install-deps.sh --group lint installs it)"
  TOOL_VERSION=$("$1" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
  if [[ ${TOOL_VERSION%%.*} != 14 ]]; then
    printf 'dev.sh: warning: %s is version %s, the project pins 14; results may differ from CI\n' \
      "$1" "${TOOL_VERSION:-unknown}" >&2
  fi
}

# --- commands ----------------------------------------------------------------------------
cmd_example() {
  install_deps
  configure release
  # The bus and its plugins; the tests and benchmarks are not needed to run the example.
  build release busway busway_plugins
  step "running the example"
  printf '    $ %s\n' "${EXAMPLE_COMMAND[*]}"
  "${EXAMPLE_COMMAND[@]}"
  step_done
  finish example
}

cmd_test() {
  install_deps
  configure dev
  build dev
  run_tests dev
  finish test
}

cmd_asan() {
  install_deps
  configure asan
  build asan
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  run_tests asan
  finish asan
}

cmd_bench() {
  install_deps
  configure release
  build release
  # One at a time: benchmarks running side by side would measure each other.
  step "running the benchmarks (target bench)"
  cmake --build --preset release -j 1 --target bench
  step_done
  finish bench
}

cmd_format() {
  install_deps --group lint
  need_tool "$CLANG_FORMAT"
  local count
  count=$(source_files | tr -cd '\0' | wc -c)
  if ((count == 0)); then die "no C/C++ sources found under ${SOURCE_DIRS[*]}"; fi
  step "formatting $count files (clang-format $TOOL_VERSION)"
  source_files | xargs -0 -r -n 20 -P "$JOBS" "$CLANG_FORMAT" -i --style=file
  step_done
  finish format
}

cmd_format_check() {
  install_deps --group lint
  need_tool "$CLANG_FORMAT"
  local count output rc=0 bad
  count=$(source_files | tr -cd '\0' | wc -c)
  step "checking the format of $count files (clang-format $TOOL_VERSION)"
  # One process at a time so that the diagnostics of two files never interleave.
  output=$(source_files | xargs -0 -r -n 50 "$CLANG_FORMAT" --dry-run --Werror --style=file 2>&1) \
    || rc=$?
  step_done
  # Each offending line is "FILE:LINE:COL: error: code should be clang-formatted"; keep FILE.
  bad=$(sed -nE 's/^(.+):[0-9]+:[0-9]+: (warning|error): code should be clang-formatted.*/\1/p' \
    <<<"$output" | sort -u)
  if [[ -n $bad ]]; then
    printf '%s\n' "$bad" | sed 's/^/    not formatted: /' >&2
    printf '==> format-check: %d of %d files need formatting; run: packaging/dev.sh format\n' \
      "$(wc -l <<<"$bad")" "$count" >&2
    exit 1
  fi
  if ((rc != 0)); then
    printf '%s\n' "$output" >&2
    die "$CLANG_FORMAT failed (exit $rc) without naming a badly formatted file; see above"
  fi
  printf '==> format-check: all %d files are formatted\n' "$count"
  finish format-check
}

cmd_tidy() {
  install_deps --group default --group lint
  need_tool "$CLANG_TIDY"
  configure dev
  build dev  # generated headers and moc files must exist before clang-tidy reads the sources
  local files=()
  mapfile -d '' -t files < <(source_files | while IFS= read -r -d '' f; do
    if [[ $f =~ \.(c|cc|cpp|cxx)$ ]]; then printf '%s\0' "$f"; fi
  done)
  step "clang-tidy $TOOL_VERSION on ${#files[@]} files"
  # Drop clang-tidy's "N warnings generated." chatter (warnings in system headers it hid).
  printf '%s\0' "${files[@]}" \
    | xargs -0 -r -n 4 -P "$JOBS" "$CLANG_TIDY" -p build/dev --quiet 2>&1 \
    | { grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' || true; }
  step_done
  finish tidy
}

# The comment block at the top of this file.
usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

case ${1:-} in
  example) cmd_example ;;
  test) cmd_test ;;
  asan) cmd_asan ;;
  bench) cmd_bench ;;
  format) cmd_format ;;
  format-check) cmd_format_check ;;
  tidy) cmd_tidy ;;
  -h | --help | help) usage ;;
  '') trap - EXIT; usage >&2; exit 2 ;;
  *) trap - EXIT; usage >&2; die "unknown command '$1'" ;;
esac

#!/usr/bin/env bash
# Installs the Debian packages busway needs, and only those that are missing.
#
#   packaging/install-deps.sh                    every default group
#   packaging/install-deps.sh --group build      one group (repeat --group for several)
#   packaging/install-deps.sh --check            report what is missing, install nothing
#   packaging/install-deps.sh --list             print the groups and their packages
#
# This script is the only way dependencies get onto a machine (README, CI, developers).
# It is idempotent: when everything is installed it touches nothing, not even `apt-get
# update`. Package names are Debian 12 (bookworm); see /work/shared/notes/debian-deps.md
# and docs/ for why each library is there.
set -euo pipefail

# One package per line: GROUP PACKAGE  # who needs it
# To add an adapter's dependencies, add lines with a new group name (e.g. `amqp`); the
# group is installed by default unless it is listed in OPTIONAL_GROUPS below.
PACKAGES='
build      build-essential        # g++ 12, make, libc headers: compiles everything
build      cmake                  # CMakeLists.txt, CMakePresets.json (needs >= 3.25)
build      ninja-build            # the generator every preset uses
build      ccache                 # compiler launcher picked up by CMakeLists.txt
build      pkg-config             # finds libraries that ship only a .pc file
build      git                    # version stamp, packaging/dev.sh format (file list)

libraries  libboost-dev           # core: Asio executors, strands, timers (Boost::headers)
libraries  libboost-system-dev    # core: Boost.System error codes used by Asio
libraries  libboost-thread-dev    # core: Boost.Thread where Asio needs it
libraries  libpoco-dev            # plugins: HTTP(S), TCP, SMTP, FTP, Data connectors, Crypto
libraries  libpugixml-dev         # core: routing tables, XML bodies, XPath predicates
libraries  nlohmann-json3-dev     # core: JSON bodies, admin API payloads, plugin manifests
libraries  qt6-base-dev           # core: control plane (file watching, atomic saves, metadata)
libraries  libsimdjson-dev        # core: JSON parsing on the hot path
libraries  libssl-dev             # POCO NetSSL/Crypto, TLS endpoints
libraries  libsqlite3-dev         # core: dead letters and idempotency keys of the store (SQLite WAL)

tests      libgtest-dev           # tests/: every test (GTest::gtest_main)
tests      libgmock-dev           # tests/: GTest::gmock
tests      libbenchmark-dev       # tests/bench: google benchmark
tests      libxml2-utils          # tests/: xmllint validates docs examples against the XSD
tests      curl                   # tests/integration: drives the admin API and HTTP endpoints
tests      python3                # tests/: helper scripts and fake servers

adapters   libsqlite3-dev         # plugins/sql: SQLite through POCO Data (the embedded default)
adapters   libpq-dev              # plugins/sql: PostgreSQL through POCO Data (libpq)
adapters   librabbitmq-dev        # plugins/amqp: AMQP 0-9-1 client (rabbitmq-c)
adapters   libmosquitto-dev       # plugins/mqtt: MQTT 3.1.1 and 5 client (libmosquitto)

transforms libxml2-dev            # core transform steps: XSD validation (libxml2)
transforms libxslt1-dev           # core transform steps: XSLT 1.0 with EXSLT (libxslt)
transforms libjq-dev              # core transform steps: jq programs over JSON bodies (libjq)
transforms liblua5.4-dev          # core transform steps: sandboxed Lua scripts

servers    postgresql             # tests/: a real PostgreSQL server per test (initdb on a free port)
servers    rabbitmq-server        # tests/: a real RabbitMQ broker, bench/: the durable-queue comparison
servers    mosquitto              # tests/: a real MQTT broker
servers    nats-server            # tests/: a real NATS server (JetStream)
servers    nginx-light            # tests/bench: the HTTP reference the http adapter is measured against
servers    wrk                    # tests/bench: HTTP load generator
servers    python3-aiosmtpd       # tests/: a real SMTP server that receives the mail (/usr/bin/python3)
servers    openssl                # tests/: throwaway CAs and certificates for the TLS tests
servers    sqlite3                # tests/, docs/examples/retail: look into the inventory database

lint       clang-format-14        # packaging/dev.sh format, format-check (pinned to 14)
lint       clang-tidy-14          # packaging/dev.sh tidy, .clang-tidy (pinned to 14)
'

# Groups that are installed only when asked for with --group (not needed to build or test).
OPTIONAL_GROUPS=(lint)

me=$(basename "$0")
die() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$me" "$*"; }

usage() {
  cat <<EOF
usage: $me [--group NAME]... [--check] [--list]

Installs the missing Debian packages of the given groups (default: $(default_groups | paste -sd ' ' -)).
  --group NAME   install only this group; repeat for several; 'default' means the
                 default groups, 'all' every group (optional ones too)
  --check        print what is missing and exit 1 if anything is, install nothing
  --list         print every group with its packages and exit
  -h, --help     this text
EOF
}

# The table parsed once, into two parallel arrays (a malformed line stops the script here).
PKG_GROUP=()
PKG_NAME=()
while IFS= read -r line; do
  line=${line%%#*}
  read -r group pkg extra <<<"$line" || true
  [[ -z ${group:-} ]] && continue
  [[ -n ${pkg:-} && -z ${extra:-} ]] || die "malformed line in PACKAGES: '$line'"
  PKG_GROUP+=("$group")
  PKG_NAME+=("$pkg")
done <<<"$PACKAGES"

# Group names in the order they first appear, one per line; group_list joins them.
all_groups() { printf '%s\n' "${PKG_GROUP[@]}" | awk '!seen[$0]++'; }
group_list() { all_groups | paste -sd ' ' -; }

is_optional() {
  local group=$1 optional
  for optional in "${OPTIONAL_GROUPS[@]}"; do
    [[ $group == "$optional" ]] && return 0
  done
  return 1
}

default_groups() {
  local group
  while IFS= read -r group; do
    is_optional "$group" || printf '%s\n' "$group"
  done < <(all_groups)
}

packages_of() {
  local i
  for i in "${!PKG_NAME[@]}"; do
    [[ ${PKG_GROUP[$i]} == "$1" ]] && printf '%s\n' "${PKG_NAME[$i]}"
  done
  return 0
}

# True if the package is installed for the native architecture (or is Architecture: all).
is_installed() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null) || return 1
  grep -qx installed <<<"$status"
}

# --- arguments ---------------------------------------------------------------------------
groups=()
check_only=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --group)
      [[ $# -ge 2 ]] || die "--group needs a name (one of: $(group_list), default, all)"
      groups+=("$2")
      shift 2
      ;;
    --group=*) groups+=("${1#--group=}"); shift ;;
    --check) check_only=true; shift ;;
    --list)
      while IFS= read -r g; do
        suffix=''
        is_optional "$g" && suffix=' (optional)'
        printf '%s%s:\n' "$g" "$suffix"
        grep -E "^[[:space:]]*${g}[[:space:]]" <<<"$PACKAGES" | sed -E 's/^[[:space:]]*[^[:space:]]+[[:space:]]+/  /'
      done < <(all_groups)
      exit 0
      ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

# Expand the keywords 'default' and 'all'; no --group at all means 'default'.
[[ ${#groups[@]} -eq 0 ]] && groups=(default)
expanded=()
for g in "${groups[@]}"; do
  case $g in
    default) mapfile -t -O "${#expanded[@]}" expanded < <(default_groups) ;;
    all) mapfile -t -O "${#expanded[@]}" expanded < <(all_groups) ;;
    *) expanded+=("$g") ;;
  esac
done
# Each group once, in the order given.
mapfile -t groups < <(printf '%s\n' "${expanded[@]}" | awk '!seen[$0]++')

known=" $(group_list) "
for g in "${groups[@]}"; do
  [[ $known == *" $g "* ]] || die "unknown group '$g' (known groups: $(group_list), default, all)"
done

# --- platform ----------------------------------------------------------------------------
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  die "this script needs Debian (dpkg-query and apt-get were not found).
busway is built and tested on Debian 12 (bookworm); on another system install the
equivalents of these packages by hand: $(for g in "${groups[@]}"; do packages_of "$g"; done | tr '\n' ' ')"
fi
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  os_id=$(. /etc/os-release && printf '%s %s' "${ID:-}" "${VERSION_ID:-}")
  if [[ $os_id != "debian 12" ]]; then
    say "warning: package names are tested on Debian 12, this is '$os_id'; continuing" >&2
  fi
fi

# --- what is missing ---------------------------------------------------------------------
missing=()
for g in "${groups[@]}"; do
  while IFS= read -r pkg; do
    if ! is_installed "$pkg" && [[ " ${missing[*]} " != *" $pkg "* ]]; then
      missing+=("$pkg")
    fi
  done < <(packages_of "$g")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  say "all packages of ${groups[*]} are installed; nothing to do"
  exit 0
fi

if $check_only; then
  say "missing (${#missing[@]}): ${missing[*]}"
  exit 1
fi

# --- install -----------------------------------------------------------------------------
as_root=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 \
    || die "not root and sudo is not installed; run as root: apt-get install ${missing[*]}"
  as_root=(sudo)
  # No terminal to type a password into (CI, pipes): fail instead of hanging.
  if [[ ! -t 0 || ${CI:-} == true ]]; then
    as_root+=(-n)
  fi
fi

apt_env=(env DEBIAN_FRONTEND=noninteractive)
say "installing ${#missing[@]} package(s): ${missing[*]}"
start=$(date +%s)

"${as_root[@]}" "${apt_env[@]}" apt-get update -q \
  || die "apt-get update failed (network or sources.list?)"
"${as_root[@]}" "${apt_env[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
  || die "apt-get install failed for: ${missing[*]}"

still_missing=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still_missing+=("$pkg")
done
[[ ${#still_missing[@]} -eq 0 ]] || die "still not installed after apt-get: ${still_missing[*]}"

say "installed ${missing[*]} in $(($(date +%s) - start))s"

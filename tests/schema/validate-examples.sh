#!/usr/bin/env bash
# Checks schemas/routes-1.xsd against the routing tables that people will copy.
#
#   tests/schema/validate-examples.sh XMLLINT SOURCE_DIR
#
# 1. Every routing table under docs/examples/ (and any routing table shipped under
#    schemas/ or plugins/*/examples/) must be valid. Files under a folder named
#    `invalid` are skipped there; XML files that are not routing tables (root element
#    other than <routes>) are listed and skipped.
# 2. Where a table names the schema with xsi:schemaLocation, the path must lead to
#    schemas/routes-1.xsd, so that an editor opening the file finds the schema.
# 3. Every table under tests/schema/invalid/ must be REJECTED by the schema (xmllint exit
#    code 3). A table that is not well-formed, or a schema that does not compile, does not
#    count as a rejection: the test must be able to fail.
#
# Prints one line per file and exits non-zero if anything is wrong.
set -uo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 XMLLINT SOURCE_DIR" >&2
  exit 2
fi
XMLLINT=$1
SOURCE_DIR=$(cd -- "$2" && pwd -P) || exit 2
SCHEMA=$SOURCE_DIR/schemas/routes-1.xsd
NAMESPACE=urn:busway:routes:1

if [[ ! -f $SCHEMA ]]; then
  echo "error: schema not found: $SCHEMA" >&2
  exit 1
fi

failures=0
valid_count=0
invalid_count=0

relative() { printf '%s' "${1#"$SOURCE_DIR"/}"; }

# Indents xmllint's messages under the file they belong to.
indent() { sed -e 's/^/        /'; }

# The local name of the root element, or nothing if the file is not well-formed.
root_name() { "$XMLLINT" --xpath 'local-name(/*)' "$1" 2>/dev/null; }

check_schema_location() {
  local file=$1 location path target i
  location=$("$XMLLINT" --xpath \
    "string(/*/@*[local-name()='schemaLocation' and namespace-uri()='http://www.w3.org/2001/XMLSchema-instance'])" \
    "$file" 2>/dev/null) || return 0
  [[ -n $location ]] || return 0
  # Pairs of "namespace location"; find ours.
  local -a words
  read -r -d '' -a words <<<"$location" || true
  for ((i = 0; i + 1 < ${#words[@]}; i += 2)); do
    [[ ${words[i]} == "$NAMESPACE" ]] || continue
    path=${words[i + 1]}
    case $path in
      http://* | https://*) return 0 ;;  # a published location: not checked offline
      /*) target=$path ;;
      *) target=$(dirname -- "$file")/$path ;;
    esac
    if [[ ! -f $target ]] || [[ $(cd -- "$(dirname -- "$target")" && pwd -P)/$(basename -- "$target") != "$SCHEMA" ]]; then
      echo "FAIL    $(relative "$file")"
      echo "xsi:schemaLocation names '$path', which is not schemas/routes-1.xsd" | indent
      return 1
    fi
  done
  return 0
}

validate_valid() {
  local file=$1 output rc name
  name=$(root_name "$file")
  if [[ -n $name && $name != routes ]]; then
    echo "skip    $(relative "$file") (root <$name>, not a routing table)"
    return
  fi
  output=$("$XMLLINT" --noout --schema "$SCHEMA" "$file" 2>&1)
  rc=$?
  if [[ $rc -eq 0 ]]; then
    if check_schema_location "$file"; then
      echo "ok      $(relative "$file")"
      valid_count=$((valid_count + 1))
    else
      failures=$((failures + 1))
    fi
  else
    echo "FAIL    $(relative "$file") (xmllint exit $rc)"
    printf '%s\n' "$output" | grep -v -e ' validates$' -e ' fails to validate$' | indent
    failures=$((failures + 1))
  fi
}

validate_invalid() {
  local file=$1 output rc
  output=$("$XMLLINT" --noout --schema "$SCHEMA" "$file" 2>&1)
  rc=$?
  case $rc in
    3)
      echo "ok      $(relative "$file") (rejected, as it must be)"
      printf '%s\n' "$output" | grep -v ' fails to validate$' | head -n 3 | indent
      invalid_count=$((invalid_count + 1))
      ;;
    0)
      echo "FAIL    $(relative "$file") was ACCEPTED by the schema; it must be rejected"
      failures=$((failures + 1))
      ;;
    *)
      echo "FAIL    $(relative "$file") (xmllint exit $rc: not well-formed or schema error, not a schema rejection)"
      printf '%s\n' "$output" | indent
      failures=$((failures + 1))
      ;;
  esac
}

# Files found under DIR (sorted, NUL-separated), leaving out folders named `invalid`.
list_xml() {
  local dir=$1
  [[ -d $dir ]] || return 0
  find "$dir" -type d -name invalid -prune -o -type f -name '*.xml' -print0 | sort -z
}

echo "schema: $(relative "$SCHEMA")"

# Editors show xs:documentation on autocomplete: every element and attribute has one.
undocumented=$("$XMLLINT" --xpath \
  '//*[(local-name()="element" or local-name()="attribute") and not(*[local-name()="annotation"]/*[local-name()="documentation"])]/@name' \
  "$SCHEMA" 2>/dev/null)
if [[ -n $undocumented ]]; then
  echo "FAIL    $(relative "$SCHEMA"): declarations without xs:annotation/xs:documentation:"
  printf '%s\n' "$undocumented" | indent
  failures=$((failures + 1))
fi

echo "-- example tables (must be valid)"
while IFS= read -r -d '' file; do
  validate_valid "$file"
done < <(list_xml "$SOURCE_DIR/docs/examples")

# Routing tables kept next to the schemas or shipped as plugin examples: only files that
# are in the routes namespace (other XML lives there too).
while IFS= read -r -d '' file; do
  grep -q "$NAMESPACE" "$file" || continue
  validate_valid "$file"
done < <(list_xml "$SOURCE_DIR/schemas"; for d in "$SOURCE_DIR"/plugins/*/examples; do list_xml "$d"; done)

echo "-- deliberately invalid tables (must be rejected)"
while IFS= read -r -d '' file; do
  validate_invalid "$file"
done < <(find "$SOURCE_DIR/tests/schema/invalid" -type f -name '*.xml' -print0 2>/dev/null | sort -z)

if [[ $valid_count -eq 0 ]]; then
  echo "FAIL    no example table under docs/examples validated"
  failures=$((failures + 1))
fi
if [[ $invalid_count -eq 0 && $failures -eq 0 ]]; then
  echo "FAIL    no rejected tables under tests/schema/invalid: the schema test could not fail"
  failures=$((failures + 1))
fi

echo "-- $valid_count valid, $invalid_count rejected, $failures failure(s)"
[[ $failures -eq 0 ]]

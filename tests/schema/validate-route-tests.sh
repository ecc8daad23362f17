#!/usr/bin/env bash
# Every route test (*.test.xml) under docs/ and tests/data/route-tests/ (but its invalid/
# folder) must be valid against schemas/route-test-1.xsd, and the invalid one must not be.
#
#   tests/schema/validate-route-tests.sh XMLLINT SOURCE_DIR
set -uo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 XMLLINT SOURCE_DIR" >&2; exit 2; }
XMLLINT=$1
SOURCE_DIR=$(cd -- "$2" && pwd -P) || exit 2
SCHEMA=$SOURCE_DIR/schemas/route-test-1.xsd
failures=0 count=0
while IFS= read -r -d '' file; do
  count=$((count + 1))
  if [[ $file == */invalid/* ]]; then
    if "$XMLLINT" --noout --schema "$SCHEMA" "$file" >/dev/null 2>&1; then
      echo "FAIL ${file#"$SOURCE_DIR"/}: accepted by the schema, but it is meant to be invalid"
      failures=$((failures + 1))
    fi
  elif ! out=$("$XMLLINT" --noout --schema "$SCHEMA" "$file" 2>&1); then
    echo "FAIL ${file#"$SOURCE_DIR"/}:"; printf '%s\n' "$out" | sed 's/^/        /'
    failures=$((failures + 1))
  fi
done < <(find "$SOURCE_DIR/docs" "$SOURCE_DIR/tests/data/route-tests" -name '*.test.xml' -print0)
echo "$count route test files checked, $failures wrong"
((count > 0 && failures == 0))

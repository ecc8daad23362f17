#!/usr/bin/env bash
# The retail integration example, end to end: a web shop, an inventory database, a shipping
# system that reads CSV drops, accounting that wants XML invoices and a CRM that takes
# webhooks, joined by one bus (routes.xml). `packaging/dev.sh example` runs this.
#
#   docs/examples/retail/run.sh [--busway PATH] [--dir DIR] [--orders N]
#
#   --busway PATH  the busway binary (default: build/release/bin/busway)
#   --dir DIR      where the systems keep their files (default: build/retail-example);
#                  emptied first
#   --orders N     how many orders the shop sends (default 20)
#
# Exit 0 when every order was answered (201 accepted or 409 out of stock) and every
# accepted order reached shipping, accounting (an invoice valid against the canonical
# XSD) and the CRM; 1 otherwise, with what is missing.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$HERE/../../.." && pwd -P)
BUSWAY=$ROOT/build/release/bin/busway
DIR=$ROOT/build/retail-example
ORDERS=20
while [[ $# -gt 0 ]]; do
  case $1 in
    --busway) BUSWAY=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --orders) ORDERS=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $BUSWAY ]] || { echo "run.sh: no busway binary at $BUSWAY (build it: cmake --preset release && cmake --build --preset release)" >&2; exit 1; }
for tool in sqlite3 xmllint python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (packaging/install-deps.sh installs it)" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
count() { find "$1" -maxdepth 1 -type f -name "$2" 2>/dev/null | wc -l; }

rm -rf "$DIR"
mkdir -p "$DIR"/{shipping,accounting,crm,backorders,store}
sqlite3 "$DIR/inventory.db" < "$HERE/inventory.sql"
SHOP_PORT=$(free_port)
CRM_PORT=$(free_port)
export RETAIL_DIR=$DIR SHOP_PORT CRM_PORT

echo "==> starting the bus (log: $DIR/bus.log)"
"$BUSWAY" run "$HERE/routes.xml" --data-dir "$DIR/store" --no-watch --drain 30s >"$DIR/bus.log" 2>&1 &
BUS_PID=$!
stop_bus() {
  if kill -0 "$BUS_PID" 2>/dev/null; then
    kill -TERM "$BUS_PID"
    wait "$BUS_PID" || true
  fi
}
trap stop_bus EXIT
for _ in $(seq 1 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$SHOP_PORT") 2>/dev/null; then break; fi
  kill -0 "$BUS_PID" 2>/dev/null || { echo "run.sh: the bus stopped at start:" >&2; cat "$DIR/bus.log" >&2; exit 1; }
  sleep 0.05
done

echo "==> the web shop sends $ORDERS orders to http://127.0.0.1:$SHOP_PORT/orders"
shop_ok=0
python3 "$HERE/send-orders.py" "http://127.0.0.1:$SHOP_PORT/orders" "$ORDERS" "$DIR" || shop_ok=1
accepted=$(grep -l '"status": 201' "$DIR"/replies/*.json 2>/dev/null | wc -l)
refused=$(grep -l '"status": 409' "$DIR"/replies/*.json 2>/dev/null | wc -l)

echo "==> waiting for shipping, accounting and the CRM"
for _ in $(seq 1 300); do
  s=$(count "$DIR/shipping" '*.csv') a=$(count "$DIR/accounting" '*.xml') c=$(count "$DIR/crm" '*.json')
  printf '\r  shipping %d/%d  accounting %d/%d  crm %d/%d ' "$s" "$accepted" "$a" "$accepted" "$c" "$accepted"
  if ((s >= accepted && a >= accepted && c >= accepted)); then break; fi
  sleep 0.1
done
echo
stop_bus
trap - EXIT

valid=0
for invoice in "$DIR"/accounting/*.xml; do
  [[ -e $invoice ]] || continue
  if xmllint --noout --schema "$ROOT/schemas/canonical/invoice-1.xsd" "$invoice" 2>/dev/null; then valid=$((valid + 1)); fi
done
shipping=$(count "$DIR/shipping" '*.csv') crm=$(count "$DIR/crm" '*.json') backorders=$(count "$DIR/backorders" '*.json')

cat <<SUMMARY

retail example: $ORDERS orders from the web shop
  accepted (201)              $accepted   the shop got the order number back ($DIR/replies/)
  out of stock (409)          $refused   parked as backorders: $backorders in $DIR/backorders/
  stock after the run         sqlite3 $DIR/inventory.db 'SELECT * FROM stock'
$(sqlite3 -column "$DIR/inventory.db" 'SELECT sku, qty FROM stock ORDER BY sku' | sed 's/^/                                /')
  shipping CSV drops          $shipping   $DIR/shipping/
  invoices (valid XSD)        $valid   $DIR/accounting/ (schemas/canonical/invoice-1.xsd)
  CRM webhooks received       $crm   $DIR/crm/
  the bus's log               $DIR/bus.log
SUMMARY

problems=()
((shop_ok == 0)) || problems+=("some orders got neither 201 nor 409 (see $DIR/replies/)")
((accepted > 0)) || problems+=("no order was accepted")
((shipping == accepted)) || problems+=("$shipping shipping drops for $accepted accepted orders")
((valid == accepted)) || problems+=("$valid valid invoices for $accepted accepted orders")
((crm == accepted)) || problems+=("$crm CRM webhooks for $accepted accepted orders")
((backorders == refused)) || problems+=("$backorders backorders for $refused refused orders")
if ((${#problems[@]})); then
  printf 'run.sh: %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "every order is where it belongs."

#!/usr/bin/env python3
"""The web shop: POSTs a batch of orders to the bus and reports what came back.

usage: send-orders.py URL COUNT OUT_DIR

Orders are made deterministically (the same COUNT gives the same orders), so a run can be
checked: every fifth order asks for three desk lamps (LMP-100, only 3 in stock), so the
first such order takes the last lamps and the later ones are answered 409 (out of stock).
Each order is kept as OUT_DIR/orders/ORDER.json and its reply as OUT_DIR/replies/ORDER.json
with its status; a progress line shows how far it is. Exit 0 when every order got 201 or 409, 1 otherwise.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

CATALOGUE = [
    ("MUG-001", "Coffee mug", "8.50"),
    ("TEA-042", "Green tea 100g", "6.20"),
    ("PEN-007", "Fountain pen", "24.00"),
    ("INK-007", "Ink cartridges (6)", "4.80"),
    ("NBK-A5", "Notebook A5", "3.90"),
]
LAMP = ("LMP-100", "Desk lamp", "39.00")
BUYERS = [
    ("C-101", "Anna", "Berg", "anna.berg@example.com", "Hauptstr. 5", "10115", "Berlin", "Deutschland"),
    ("C-102", "Luca", "Meier", "luca.meier@example.ch", "Seestrasse 12", "8002", "Zürich", "Schweiz"),
    ("C-103", "Eva", "Huber", "eva.huber@example.at", "Ringstraße 1", "1010", "Wien", "Österreich"),
]


def cents(text):
    return int(round(float(text) * 100))


def money(value):
    return "%d.%02d" % (value // 100, value % 100)


def order(n):
    buyer = BUYERS[n % len(BUYERS)]
    items = []
    picks = [CATALOGUE[n % len(CATALOGUE)], CATALOGUE[(n + 2) % len(CATALOGUE)]]
    if n % 5 == 0:
        picks.append(LAMP)
    for pos, (sku, title, price) in enumerate(picks, start=1):
        qty = 3 if sku == LAMP[0] else 1 + (n + pos) % 2
        items.append({"pos": pos, "sku": sku, "title": title, "qty": str(qty), "price": price,
                      "total": money(cents(price) * qty)})
    net = sum(cents(i["total"]) for i in items)
    tax = net * 19 // 100
    shipping = 490
    return {
        "shop": "WS", "id": 10000 + n,
        "created": "01.03.2026 %02d:%02d" % (9 + n // 60 % 10, n % 60),
        "currency": "eur" if buyer[7] != "Schweiz" else "chf",
        "buyer": {"id": buyer[0], "first": buyer[1], "last": buyer[2], "mail": buyer[3]},
        "shipping": {"street": buyer[4], "zip": buyer[5], "town": buyer[6], "country": buyer[7],
                     "cost": money(shipping).replace(".", ",")},
        "items": items,
        "sum": {"net": money(net), "tax": money(tax), "gross": money(net + tax + shipping)},
        "payment": ["PP", "CC", "IV"][n % 3],
    }


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, count, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    replies = os.path.join(out_dir, "replies")
    sent = os.path.join(out_dir, "orders")
    os.makedirs(replies, exist_ok=True)
    os.makedirs(sent, exist_ok=True)
    statuses = {}
    for n in range(1, count + 1):
        body = json.dumps(order(n)).encode()
        with open(os.path.join(sent, "WS-%d.json" % (10000 + n)), "wb") as f:
            f.write(body)
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "X-Channel": "web-shop"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        except OSError as error:
            status, text = 0, str(error)
        statuses[status] = statuses.get(status, 0) + 1
        with open(os.path.join(replies, "WS-%d.json" % (10000 + n)), "w") as f:
            json.dump({"status": status, "body": text}, f)
        summary = ", ".join("%s: %d" % (s if s else "no answer", c) for s, c in sorted(statuses.items()))
        print("\r  [%d/%d] order WS-%d -> %s   (%s)" % (n, count, 10000 + n, status or "no answer", summary),
              end="", flush=True)
        time.sleep(0.02)
    print()
    return 0 if set(statuses) <= {201, 409} else 1


if __name__ == "__main__":
    sys.exit(main())

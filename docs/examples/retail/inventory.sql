-- The inventory system's database (SQLite). The bus decrements `qty` for every accepted
-- order, in one transaction per order; an order the stock cannot cover changes nothing.
CREATE TABLE stock (
  sku         TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  qty         INTEGER NOT NULL CHECK (qty >= 0)
);
INSERT INTO stock (sku, description, qty) VALUES
  ('MUG-001', 'Coffee mug',          40),
  ('TEA-042', 'Green tea 100g',      25),
  ('PEN-007', 'Fountain pen',        12),
  ('INK-007', 'Ink cartridges (6)',  30),
  ('LMP-100', 'Desk lamp',            3),
  ('NBK-A5',  'Notebook A5',         50);

"""Writes this example's data: a retailer's sales export, one CSV line per
sale, every attribute in the line (denormalised, as most exports are).

    python examples/retail/generate.py

sales.csv beside this script is its output (committed). Deterministic.
"""

import csv
import datetime
import pathlib
import random

HERE = pathlib.Path(__file__).parent
rng = random.Random(7)

# Region > district > store. The web shop has no district: its line leaves
# the district empty (a ragged hierarchy: the store hangs from its region).
STORES = [
    ("00011", "Harbour Street", "North", "Harbour"),
    ("00012", "Quay Side", "North", "Harbour"),
    ("00021", "Market Square", "North", "Old Town"),
    ("00031", "Hilltop", "South", "Hills"),
    ("00032", "Valley Mall", "South", "Hills"),
    ("00041", "Lakeside", "South", "Lakes"),
    ("00099", "Web shop", "Online", ""),
]
CATEGORIES = {
    "Coffee": ["Espresso beans", "Filter coffee", "Decaf"],
    "Tea": ["Green tea", "Black tea", "Herbal tea", "Chai"],
    "Bakery": ["Croissant", "Sourdough", "Muffin"],
    "Equipment": ["Grinder", "French press", "Kettle"],
}
PRICES = {}
products = []
code = 100
for category, names in CATEGORIES.items():
    for name in names:
        products.append((f"{code:05d}", name, category))
        PRICES[name] = rng.randint(150, 4500)
        code += 1

rows = []
day = datetime.date(2025, 1, 1)
while day < datetime.date(2026, 1, 1):
    for store_code, store, region, district in STORES:
        for _ in range(rng.randint(0, 2)):
            product_code, product, category = rng.choice(products)
            units = rng.randint(1, 6)
            cents = units * PRICES[product] * rng.randint(90, 100) // 100
            rows.append({
                "date": day.isoformat(),
                "channel": "Online" if region == "Online" else "Stores",
                "region": region,
                "district": district,
                "store_code": store_code,
                "store": store,
                "category": category,
                "product_code": product_code,
                "product": product,
                "units": units,
                "revenue": f"{cents // 100}.{cents % 100:02d}",
            })
    day += datetime.timedelta(days=3)

with open(HERE / "sales.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
print("wrote", len(rows), "sales")

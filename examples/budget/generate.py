"""Writes this example's data: a cost-centre budget for 2025-2026.

    pip install duckdb && python examples/budget/generate.py

The Parquet files beside this script are its output (committed, so the
example runs without Python). Deterministic: the same files every time.
"""

import pathlib

import duckdb

HERE = pathlib.Path(__file__).parent

GROUPS = {
    "Revenue": ["Product sales", "Services", "Licences", "Other income"],
    "Cost of sales": ["Materials", "Freight", "Subcontractors"],
    "Personnel": ["Salaries", "Social charges", "Training", "Recruiting"],
    "Operating costs": ["Rent", "Energy", "IT services", "Travel", "Marketing", "Insurance"],
    "Depreciation": ["Buildings", "Equipment", "Software"],
}
DIVISIONS = {
    "Commercial": {"Sales": ["Sales North", "Sales South", "Key accounts"], "Marketing": ["Brand", "Digital"]},
    "Operations": {"Production": ["Plant A", "Plant B"], "Logistics": ["Warehouse", "Transport"]},
    "Corporate": {"Finance": ["Accounting", "Controlling"], "IT": ["Infrastructure", "Applications"], "HR": ["People"]},
}

con = duckdb.connect()
con.execute(
    "CREATE TABLE accounts (account_code VARCHAR, account VARCHAR, account_group VARCHAR, group_order INTEGER)"
)
code = 4000
for order, (group, accounts) in enumerate(GROUPS.items()):
    for account in accounts:
        con.execute("INSERT INTO accounts VALUES (?, ?, ?, ?)", [f"{code:05d}", account, group, order])
        code += 10
con.execute(
    "CREATE TABLE cost_centres (cc_code VARCHAR, cost_centre VARCHAR, department VARCHAR, division VARCHAR)"
)
n = 100
for division, departments in DIVISIONS.items():
    for department, centres in departments.items():
        for centre in centres:
            con.execute("INSERT INTO cost_centres VALUES (?, ?, ?, ?)", [f"CC{n}", centre, department, division])
            n += 1
# Revenue is positive, costs negative; amounts in cents, headcount in tenths
# of a full-time equivalent on the salary lines only.
con.execute(
    """
    CREATE TABLE budget AS
    SELECT m::DATE AS month, a.account_code, c.cc_code,
           CAST(CASE WHEN a.account_group = 'Revenue' THEN 1 ELSE -1 END
                * (1000 + hash(a.account_code || c.cc_code || m::VARCHAR) % 90000) / 100.0 AS DECIMAL(18, 2)) AS amount,
           CAST(CASE WHEN a.account = 'Salaries' THEN (5 + hash(c.cc_code) % 120) / 10.0 ELSE 0 END AS DECIMAL(18, 1)) AS headcount
    FROM accounts a, cost_centres c, range(DATE '2025-01-01', DATE '2027-01-01', INTERVAL 1 MONTH) t(m)
    WHERE (a.account_group = 'Revenue') = (c.division = 'Commercial')
       OR a.account_group IN ('Personnel', 'Operating costs')
    ORDER BY month, account_code, cc_code
    """
)
for table in ["accounts", "cost_centres", "budget"]:
    con.execute(f"COPY {table} TO '{HERE / (table + '.parquet')}' (FORMAT PARQUET)")
print("wrote", [p.name for p in sorted(HERE.glob("*.parquet"))])

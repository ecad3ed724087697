"""Query anonproxy from Python with psycopg 3, exactly as you would query PostgreSQL.

    python examples/clients/psycopg_example.py [DSN]
"""
import sys

import psycopg

DSN = sys.argv[1] if len(sys.argv) > 1 else "postgresql://admin:admin@127.0.0.1:6432/demo"

with psycopg.connect(DSN) as conn:
    rows = conn.execute(
        "SELECT region, count(*) AS customers FROM customers WHERE signup_date >= %s "
        "GROUP BY region ORDER BY customers DESC",
        ("2020-01-01",),
    ).fetchall()
    for region, customers in rows:
        print(f"{region:10s} {customers:6d}")

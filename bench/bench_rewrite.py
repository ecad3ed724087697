"""Rewrite time of a typical BI query, uncached and on a plan-cache hit.

    python bench/bench_rewrite.py [--runs N]

Goal (issue 4): under 5 ms uncached, under 0.1 ms on a cache hit. "Uncached"
is a plan-cache miss on a running server, whose policy views (the same for
every statement of a role) are already built; the first statement's cost,
views included, is printed too.
The query has 3 joins, 2 aggregates, GROUP BY, ORDER BY and LIMIT, planned
for the demo's masked analyst (policy views with tokens and k-anonymity).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxy.config import load_config  # noqa: E402
from proxy.rewrite.context import RewriteContext  # noqa: E402
from proxy.rewrite.pipeline import PlanCache, plan  # noqa: E402
from proxy.server import open_backend  # noqa: E402

BI_QUERY = """
SELECT c.region, t.city, count(*) AS calls, avg(k.duration_s) AS avg_duration
FROM calls k
JOIN customers c ON c.customer_id = k.customer_id
JOIN cell_towers t ON t.cell_id = k.cell_id
JOIN customers c2 ON c2.customer_id = c.customer_id
WHERE k.started_at >= DATE '2024-06-01'
GROUP BY c.region, t.city
ORDER BY calls DESC
LIMIT 20
"""


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--config", default=str(ROOT / "policies" / "demo.yaml"))
    args = parser.parse_args()
    config = load_config(args.config)
    backend = open_backend(config)
    ctx = RewriteContext(role=config.roles["analyst"], user="analyst", database=config.database,
                         tables=backend.table_columns(), dialect=backend.name, setting=lambda n: "",
                         token_key=config.token_key)
    cold = timed(lambda: plan(BI_QUERY, replace(ctx, views={})), max(args.runs // 10, 10))
    uncached = timed(lambda: plan(BI_QUERY, ctx), args.runs)
    cache = PlanCache()
    cache.plan(BI_QUERY, ctx)
    cached = timed(lambda: cache.plan(BI_QUERY, ctx), args.runs * 100)
    backend.close()
    print(f"first statement of a server (policy views built too): median {statistics.median(cold) * 1e3:.1f} ms")
    for name, values, goal in (("uncached", uncached, 5.0), ("cache hit", cached, 0.1)):
        med = statistics.median(values) * 1e3
        p99 = sorted(values)[int(0.99 * len(values))] * 1e3
        print(f"{name:10s} median {med:8.4f} ms  p99 {p99:8.4f} ms  goal < {goal} ms: "
              f"{'met' if med < goal else 'NOT met'}")
    print(f"ratio uncached / cached: {statistics.median(uncached) / statistics.median(cached):,.0f}")


if __name__ == "__main__":
    main()

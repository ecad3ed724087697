"""What the proxy adds to a query, measured side by side in one run.

1. Latency of a small query through the proxy (psycopg, extended protocol and
   simple protocol) against the same query on DuckDB in-process.
2. Rows per second streaming a 1,000,000-row result through the proxy to
   psycopg (text and binary) against DuckDB's own fetch of the same rows.
3. The small query while another session's 1 MB statement is being planned
   (seconds of pure Python in a worker thread): what one client's heavy
   statement costs everyone else.

Usage: python bench/bench_proxy.py [--db examples/data/demo.duckdb] [--runs 2000]
Prints a table and the ratios; it is not a test and fails on no number.
"""
from __future__ import annotations

import argparse
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import psycopg
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from proxy.wire.scram import make_verifier  # noqa: E402

SMALL = "SELECT city, region FROM cell_towers WHERE cell_id = 7"
MILLION = ("SELECT c.call_id, c.customer_id, c.started_at, c.duration_s, c.cost "
           "FROM calls c CROSS JOIN (VALUES (1), (2), (3), (4), (5), (6)) AS v(k) LIMIT 1000000")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def timed(fn, runs: int) -> list[float]:
    for _ in range(min(50, runs)):  # warm caches, prepared statements, plan cache
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def start_proxy(db: Path, workdir: Path, password: str) -> tuple[subprocess.Popen, int]:
    config = workdir / "bench.yaml"
    config.write_text(yaml.safe_dump({
        "database": "bench",
        "backend": {"type": "duckdb", "path": str(db)},
        "users": {"bench": {"role": "admin", "password": str(make_verifier(password))}},
        "roles": {"admin": {"mode": "raw", "tables": "*"}},
    }))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve", "--config", str(config),
                             "--listen", f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("proxy did not start")


def beside_heavy_planning(dsn: str, conn: psycopg.Connection, runs: int = 40) -> list[float]:
    """The small query's latency while another session plans a 1 MB statement."""
    heavy = psycopg.connect(dsn, autocommit=True)
    sql = "SELECT count(*) FROM cell_towers WHERE cell_id IN (" + ",".join(["1"] * 500_000) + ")"
    worker = threading.Thread(target=lambda: heavy.execute(sql).fetchall())
    worker.start()
    time.sleep(0.3)  # its planning under way
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        conn.execute(SMALL, prepare=True).fetchall()
        out.append(time.perf_counter() - t)
    busy = worker.is_alive()
    worker.join()
    heavy.close()
    if not busy:
        raise SystemExit("the heavy statement finished before the small queries: not measured beside it")
    return out


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident memory (Linux), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stream_rows(conn: psycopg.Connection, binary: bool) -> int:
    n = 0
    with conn.cursor(binary=binary) as cur:
        cur.execute(MILLION)
        while rows := cur.fetchmany(10000):
            n += len(rows)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=ROOT / "examples" / "data" / "demo.duckdb")
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db} not found: run `make demo-data` first")

    direct = duckdb.connect(str(args.db), read_only=True)
    with tempfile.TemporaryDirectory() as tmp:
        password = secrets.token_urlsafe(24)  # a throwaway login, new each run, never written down
        proc, port = start_proxy(args.db.resolve(), Path(tmp), password)
        try:
            dsn = f"postgresql://bench:{password}@127.0.0.1:{port}/bench"
            conn = psycopg.connect(dsn, autocommit=True)
            results = {
                "duckdb in-process": timed(lambda: direct.execute(SMALL).fetchall(), args.runs),
                "proxy, psycopg extended (prepared)": timed(
                    lambda: conn.execute(SMALL, prepare=True).fetchall(), args.runs),
                "proxy, psycopg simple query protocol": timed(
                    lambda: psycopg.ClientCursor(conn).execute(SMALL).fetchall(), args.runs),
            }
            t = time.perf_counter()
            direct_rows = 0
            cur = direct.execute(MILLION)
            while rows := cur.fetchmany(10000):
                direct_rows += len(rows)
            direct_s = time.perf_counter() - t
            streams = {}
            rss_before = peak_rss_mb(proc.pid)
            for binary in (False, True):
                t = time.perf_counter()
                n = stream_rows(conn, binary)
                streams["binary" if binary else "text"] = (n, time.perf_counter() - t)
            rss_after = peak_rss_mb(proc.pid)
            contended = beside_heavy_planning(dsn, conn)
            conn.close()
        finally:
            proc.terminate()
            proc.wait(10)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"duckdb {duckdb.__version__}, psycopg {psycopg.__version__}")
    print(f"\nsmall query ({args.runs} runs): {SMALL}")
    base = statistics.median(results["duckdb in-process"])
    for name, values in results.items():
        med, p99 = statistics.median(values), percentile(values, 99)
        print(f"  {name:38s} median {med * 1e3:7.3f} ms  p99 {p99 * 1e3:7.3f} ms  "
              f"x{med / base:6.1f} vs in-process  (+{(med - base) * 1e3:.3f} ms)")
    print(f"\nstreaming {direct_rows:,} rows (5 columns)")
    print(f"  {'duckdb fetchmany in-process':38s} {direct_rows / direct_s:12,.0f} rows/s")
    for name, (n, secs) in streams.items():
        assert n == direct_rows, (n, direct_rows)
        rate = n / secs
        print(f"  {'proxy -> psycopg ' + name:38s} {rate:12,.0f} rows/s  "
              f"ratio {rate / (direct_rows / direct_s):.2f} of in-process")
    print(f"  proxy peak RSS {rss_before:.0f} MiB before streaming, {rss_after:.0f} MiB after")
    idle = statistics.median(results["proxy, psycopg extended (prepared)"])
    print(f"\nsmall query ({len(contended)} runs) while another session's 1 MB statement is being planned")
    print(f"  proxy, psycopg extended (prepared)     median {statistics.median(contended) * 1e3:7.3f} ms  "
          f"max {max(contended) * 1e3:7.3f} ms  x{statistics.median(contended) / idle:6.1f} vs the same query idle")


if __name__ == "__main__":
    main()
